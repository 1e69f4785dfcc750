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
PULUMI_VERSION="$(bash "$(dirname "$0")/pulumi-cli-version.sh")"  # the pulumi== pin of requirements.txt
cd "$(dirname "$0")/.."

case "$ACTION" in up|preview|destroy|refresh) ;; *) echo "unknown action '$ACTION' (allowed: up, preview, destroy, refresh)" >&2; exit 2 ;; esac
if [ ! -f "Pulumi.$STACK.yaml" ]; then
  allowed=""
  for file in Pulumi.*.yaml; do allowed="$allowed ${file#Pulumi.}"; done
  echo "no stack file Pulumi.$STACK.yaml (allowed:${allowed//.yaml/})" >&2
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
for package in docker kubernetes; do
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
