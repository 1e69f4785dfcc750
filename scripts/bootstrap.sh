#!/usr/bin/env bash
# Bootstrap and run Pulumi for one stack with a local file backend (no Pulumi Cloud account).
#
#   scripts/bootstrap.sh [stack] [up|preview|destroy|refresh]      (default: dev up)
#
# 0. checks up front what the run needs from this machine and says what is missing and how to
#    get it, before creating anything: the Pulumi CLI (or get.pulumi.com to install it), the
#    provider plugins when offline, ./venv, a valid stack file, and the platform (a Docker
#    engine at docker.host, or a kubeconfig with kubernetes.context and a reachable API server),
# 1. installs the Pulumi CLI under ~/.pulumi if it is missing (pinned to the SDK's version),
# 2. creates ./venv with the pinned requirements (Pulumi.yaml points the CLI at it),
# 3. dev (a developer's own stack): logs in to a local file backend in ./.pulumi-state, creates
#    or selects the stack with a passphrase kept in ./.pulumi-state/passphrase (mode 600; set
#    PULUMI_CONFIG_PASSPHRASE[_FILE] to use your own), generates grafana.adminPassword, adopts
#    QuikApp-network when QuikApp already created it; all of it in a personal stack file under
#    ./.pulumi-state, never in the tracked Pulumi.dev.yaml (scripts/stack-setup.sh),
#    the shared stacks (staging, prod): refuses to run unless PULUMI_BACKEND_URL and the
#    passphrase are given, and selects the stack there (their secrets are set by hand: see the
#    stack files),
# 4. runs `pulumi <action>` on the stack.
set -euo pipefail

STACK="${1:-dev}"
ACTION="${2:-up}"
PULUMI_VERSION="$(bash "$(dirname "$0")/pulumi-cli-version.sh")"  # the pulumi== pin of requirements.txt
cd "$(dirname "$0")/.."

case "$ACTION" in up|preview|destroy|refresh) ;; *) echo "unknown action '$ACTION' (allowed: up, preview, destroy, refresh)" >&2; exit 2 ;; esac
if [ ! -f "Pulumi.$STACK.yaml" ]; then
  allowed=""
  for file in Pulumi.*.yaml; do allowed="$allowed ${file#Pulumi.}"; done
  echo "no stack file Pulumi.$STACK.yaml (allowed:${allowed//.yaml/})" >&2
  exit 2
fi

# The shared stacks (all but a developer's own dev) live in the team's backend, encrypted with the
# team's passphrase: against the empty local backend a preview would show every resource as new.
if [ "$STACK" != "dev" ] && { [ -z "${PULUMI_BACKEND_URL:-}" ] || \
     { [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; }; }; then
  echo "$STACK is a shared stack: set PULUMI_BACKEND_URL to its backend (e.g. s3://quikapp-pulumi-state)" \
    "and PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE to its passphrase, then run" \
    "\`make $ACTION STACK=$STACK\` again (docs/OPERATIONS.md#deploying)" >&2
  exit 2
fi

export PATH="$HOME/.pulumi/bin:$PATH"

# --- 0. preflight: nothing is created or installed until everything below is there -------------
# PULUMI_GET_URL: the installer's address (a mirror, or an unreachable one in the tests).
GET_PULUMI="${PULUMI_GET_URL:-https://get.pulumi.com}"
PLUGINS_DIR="${PULUMI_HOME:-$HOME/.pulumi}/plugins"
problems=0  # counted only to know whether any
missing() {  # what is missing, then how to get it (one indented line each)
  echo "missing: $1" >&2
  shift
  for line in "$@"; do echo "  $line" >&2; done
  problems=$((problems + 1))
}
# Release asset names: the CLI tarball says x64, plugin tarballs use Go's amd64
# (pulumi/get.pulumi.com@de7ce38 dist/install.sh, untagged repo; pulumi/pulumi@v3.259.0
# sdk/go/common/workspace/plugins.go standardAssetName).
case "$(uname -s)" in Darwin) os=darwin ;; *) os=linux ;; esac
case "$(uname -m)" in aarch64|arm64) cli_arch=arm64; plugin_arch=arm64 ;; *) cli_arch=x64; plugin_arch=amd64 ;; esac

installer="$(mktemp)"
trap 'rm -f "$installer"' EXIT
online=unknown
reach_get_pulumi() {  # fetches the installer once; false (with $offline_reason) when it cannot
  if [ "$online" = unknown ]; then
    if ! command -v curl >/dev/null 2>&1; then
      online=no; offline_reason="curl is not installed (apt-get install curl)"
    elif offline_reason="$(curl -fsSL --max-time 20 "$GET_PULUMI" -o "$installer" 2>&1)"; then
      online=yes
    else
      online=no
    fi
  fi
  [ "$online" = yes ]
}

install_cli=false
if ! command -v pulumi >/dev/null 2>&1; then
  if reach_get_pulumi; then
    install_cli=true
  else
    tarball="pulumi-v$PULUMI_VERSION-$os-$cli_arch.tar.gz"
    missing "the Pulumi CLI $PULUMI_VERSION (not on PATH, not in ~/.pulumi/bin), and its installer at $GET_PULUMI cannot be fetched: $offline_reason" \
      "with internet: curl -fsSL https://get.pulumi.com | sh -s -- --version $PULUMI_VERSION" \
      "offline: fetch https://github.com/pulumi/pulumi/releases/download/v$PULUMI_VERSION/$tarball" \
      "  (or https://get.pulumi.com/releases/sdk/$tarball) elsewhere, copy it here, then:" \
      "  mkdir -p ~/.pulumi/bin && tar -xzf $tarball -C ~/.pulumi/bin --strip-components=1"
  fi
fi

# The CLI downloads the provider plugins of every Pulumi package in ./venv on first use; offline
# it cannot (plugin directories: <PULUMI_HOME>/plugins/resource-<name>-v<version>,
# pulumi/pulumi@v3.259.0 sdk/go/common/workspace/plugins.go PluginDescriptor.Dir).
# Only the stack's own target's provider: the engine loads a plugin when the program registers one
# of its resources, and a Kubernetes stack registers no Docker resource (nor the reverse).
target="$(sed -n 's/^ *quikapp-monitoring:target: *\([a-z]*\).*/\1/p' "Pulumi.$STACK.yaml")"
case "$target" in docker|kubernetes) packages=$target ;; *) packages="docker kubernetes" ;; esac
for package in $packages; do
  version="$(sed -n "s/^pulumi-$package==//p" requirements.txt)"
  if [ ! -d "$PLUGINS_DIR/resource-$package-v$version" ] && ! reach_get_pulumi; then
    asset="pulumi-resource-$package-v$version-$os-$plugin_arch.tar.gz"
    missing "the $package provider plugin $version (not in $PLUGINS_DIR; pulumi downloads it on first use, and cannot: $offline_reason)" \
      "offline: fetch https://get.pulumi.com/releases/plugins/$asset elsewhere, copy it here, then:" \
      "  pulumi plugin install resource $package $version --file $asset"
  fi
done

venv_log="$(mktemp)"
if ! make venv >"$venv_log" 2>&1; then
  missing "the Python requirements in ./venv (\`make venv\` failed: $(grep -v '^\s*$' "$venv_log" | tail -n 1))" \
    "pip installs requirements.txt and requirements-dev.txt from PyPI (or your pip index): get online, or point pip at a mirror (PIP_INDEX_URL)"
  rm -f "$venv_log"
else
  rm -f "$venv_log"
  # The stack file and its platform (Docker engine or Kubernetes cluster): scripts/preflight.py.
  if ! venv/bin/python scripts/preflight.py "$STACK"; then
    problems=$((problems + 1))
  fi
fi

if [ "$problems" -gt 0 ]; then
  echo "not running \`pulumi $ACTION\` on $STACK: fix what is listed above first" >&2
  exit 1
fi

if [ "$install_cli" = true ]; then
  echo "installing the Pulumi CLI $PULUMI_VERSION into ~/.pulumi"
  sh "$installer" --version "$PULUMI_VERSION"
fi

# The stack's backend, passphrase and settings (scripts/stack-setup.sh): dev's stay under
# ./.pulumi-state, the shared stacks' come from the environment. No tracked file is written.
# shellcheck source=scripts/stack-setup.sh
source scripts/stack-setup.sh "$STACK"

case "$ACTION" in
  up) pulumi up --yes --stack "$STACK" "${CONFIG_ARGS[@]}" && pulumi stack output --stack "$STACK" ;;
  preview) pulumi preview --diff --stack "$STACK" "${CONFIG_ARGS[@]}" ;;
  *) pulumi "$ACTION" --stack "$STACK" "${CONFIG_ARGS[@]}" ;;
esac
