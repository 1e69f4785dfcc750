#!/usr/bin/env bash
# Bootstrap and run Pulumi for one stack with a local file backend (no Pulumi Cloud account).
#
#   scripts/bootstrap.sh [stack] [up|preview|destroy|refresh]      (default: dev up)
#
# 1. installs the Pulumi CLI under ~/.pulumi if it is missing (pinned to the SDK's version),
# 2. creates ./venv with the pinned requirements (Pulumi.yaml points the CLI at it),
# 3. logs in to a local file backend in ./.pulumi-state,
# 4. creates or selects the stack, encrypting secrets with a passphrase kept in
#    ./.pulumi-state/passphrase (mode 600; set PULUMI_CONFIG_PASSPHRASE[_FILE] to use your own),
# 5. on dev only, generates grafana.adminPassword if the stack has none (other stacks must set
#    their secrets explicitly: see the README), and adopts QuikApp-network when QuikApp already
#    created it on the Docker host,
# 6. runs `pulumi <action>` on the stack.
set -euo pipefail

STACK="${1:-dev}"
ACTION="${2:-up}"
PULUMI_VERSION="3.272.0"
cd "$(dirname "$0")/.."

case "$ACTION" in up|preview|destroy|refresh) ;; *) echo "unknown action '$ACTION' (allowed: up, preview, destroy, refresh)" >&2; exit 2 ;; esac
if [ ! -f "Pulumi.$STACK.yaml" ]; then
  allowed=""
  for file in Pulumi.*.yaml; do allowed="$allowed ${file#Pulumi.}"; done
  echo "no stack file Pulumi.$STACK.yaml (allowed:${allowed//.yaml/})" >&2
  exit 2
fi

export PATH="$HOME/.pulumi/bin:$PATH"
if ! command -v pulumi >/dev/null 2>&1; then
  echo "installing the Pulumi CLI $PULUMI_VERSION into ~/.pulumi"
  curl -fsSL https://get.pulumi.com | sh -s -- --version "$PULUMI_VERSION"
fi

make venv

mkdir -p .pulumi-state
chmod 700 .pulumi-state
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$PWD/.pulumi-state}"
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  if [ ! -f .pulumi-state/passphrase ]; then
    (umask 077 && openssl rand -base64 32 > .pulumi-state/passphrase)
  fi
  export PULUMI_CONFIG_PASSPHRASE_FILE="$PWD/.pulumi-state/passphrase"
fi
export PULUMI_SKIP_UPDATE_CHECK=true

pulumi stack select --create --secrets-provider passphrase "$STACK" >/dev/null

if [ "$STACK" = "dev" ] && ! pulumi config get --path grafana.adminPassword >/dev/null 2>&1; then
  echo "dev: generating grafana.adminPassword (read it with: pulumi config get --path grafana.adminPassword)"
  openssl rand -base64 24 | tr -d '\n' | pulumi config set --secret --path grafana.adminPassword
fi

# dev shares QuikApp-network with QuikApp's own containers. When QuikApp created it already,
# adopt it: creating it again fails, and destroying it later would cut QuikApp's containers off.
if [ "$STACK" = "dev" ] && command -v docker >/dev/null 2>&1; then
  network="$(pulumi config get --path docker.network.name 2>/dev/null || echo QuikApp-network)"
  external="$(pulumi config get --path docker.network.external 2>/dev/null || echo false)"
  if [ "$external" != "true" ] && docker network inspect "$network" >/dev/null 2>&1 \
     && ! pulumi stack export 2>/dev/null | grep -q '"type": "docker:index/network:Network"'; then
    echo "dev: network $network already exists (QuikApp's own): adopting it (docker.network.external=true)"
    pulumi config set --path docker.network.external true
  fi
fi

case "$ACTION" in
  up) pulumi up --yes --stack "$STACK" && pulumi stack output --stack "$STACK" ;;
  preview) pulumi preview --diff --stack "$STACK" ;;
  *) pulumi "$ACTION" --stack "$STACK" ;;
esac
