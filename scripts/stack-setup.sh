# shellcheck shell=bash
# Sourced by scripts/bootstrap.sh once its preflight passed (pulumi on PATH, ./venv ready):
#   source scripts/stack-setup.sh <stack>
# selects the stack in its backend and sets CONFIG_ARGS, the flags every later `pulumi` command of
# the run takes. Nothing here writes a tracked file.
#
# dev is a developer's own stack: its state, passphrase, secrets and local choices stay under
# ./.pulumi-state (ignored by git). Its settings are the tracked Pulumi.dev.yaml plus a personal
# stack file .pulumi-state/dev/Pulumi.dev.yaml (the encryption salt, the generated Grafana password,
# QuikApp-network's adoption), merged into .pulumi-state/dev/merged.yaml for `--config-file`.
# `pulumi config set` on the tracked file would write the salt and secrets there (and rewrite
# `false` as "false"): committed, they would break the next developer's `make up`.
#
# The other stacks are shared: their backend and passphrase are the team's, given as
# PULUMI_BACKEND_URL and PULUMI_CONFIG_PASSPHRASE[_FILE] (bootstrap.sh refuses to run without),
# and their stack files are used as they are.

setup_stack="$1"
export PULUMI_SKIP_UPDATE_CHECK=true
CONFIG_ARGS=()

if [ "$setup_stack" != "dev" ]; then
  # A shared stack is never created by accident: `up` creates it, the other actions need it.
  if ! pulumi stack select "$setup_stack" >/dev/null 2>&1; then
    if [ "${ACTION:-up}" != "up" ]; then
      echo "no stack $setup_stack in $PULUMI_BACKEND_URL: nothing to ${ACTION}" \
        "(check PULUMI_BACKEND_URL, or create the stack with: make up STACK=$setup_stack)" >&2
      return 1
    fi
    pulumi stack init --secrets-provider passphrase "$setup_stack" >/dev/null
  fi
  return 0
fi

mkdir -p .pulumi-state
chmod 700 .pulumi-state
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$PWD/.pulumi-state}"
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  if [ ! -f .pulumi-state/passphrase ]; then
    (umask 077 && openssl rand -base64 32 > .pulumi-state/passphrase)
  fi
  export PULUMI_CONFIG_PASSPHRASE_FILE="$PWD/.pulumi-state/passphrase"
fi

# The personal stack file lives in a project directory of its own (the same Pulumi.yaml), where
# `pulumi stack init` and `pulumi config set` write it.
personal=.pulumi-state/dev
mkdir -p "$personal"
cp Pulumi.yaml "$personal/Pulumi.yaml"
merged="$personal/merged.yaml"
CONFIG_ARGS=(--config-file "$merged")
personal_pulumi() { (cd "$personal" && pulumi "$@"); }
merge() { venv/bin/python scripts/personal-stack.py Pulumi.dev.yaml "$personal/Pulumi.dev.yaml" "$merged"; }

# First: a salt or secrets that an earlier run left in the tracked file move to the personal one.
merge
personal_pulumi stack select --create --secrets-provider passphrase dev >/dev/null
if ! personal_pulumi config get --path grafana.adminPassword >/dev/null 2>&1; then
  echo "dev: generating grafana.adminPassword (read it with: pulumi config get --stack dev" \
    "--config-file $merged --path grafana.adminPassword)"
  openssl rand -base64 24 | tr -d '\n' | personal_pulumi config set --secret --path grafana.adminPassword
  merge
fi

# dev shares QuikApp-network with QuikApp's own containers. When QuikApp created it already,
# adopt it: creating it again fails, and destroying it later would cut QuikApp's containers off.
if command -v docker >/dev/null 2>&1; then
  network="$(pulumi config get --stack dev "${CONFIG_ARGS[@]}" --path docker.network.name 2>/dev/null \
    || echo QuikApp-network)"
  external="$(pulumi config get --stack dev "${CONFIG_ARGS[@]}" --path docker.network.external 2>/dev/null \
    || echo false)"
  if [ "$external" != "true" ] && docker network inspect "$network" >/dev/null 2>&1 \
     && ! pulumi stack export --stack dev 2>/dev/null | grep -q '"type": "docker:index/network:Network"'; then
    echo "dev: network $network already exists (QuikApp's own): adopting it (docker.network.external=true)"
    personal_pulumi config set --path docker.network.external true
    merge
  fi
fi
