#!/usr/bin/env bash
# Build the upstream Go programs the tests drive, at exactly the versions the stack deploys.
#
#   scripts/upstream-tools.sh [GROUP...]   (needs ./venv: `make venv`; Go from PATH or /usr/local/go/bin)
#
# GROUP: prometheus, alertmanager, jaeger, config-reloader, actionlint, exporters, sloth; none: all of them
# (`make check` asks only for prometheus and alertmanager, the two it runs).
#
# The versions are not written here: they are read from the one version table, the image defaults
# (`Images` in components/settings/workloads.py), so a version bump there rebuilds the tools here.
# Binaries go to .tools/bin (ignored by git); .tools/stamps/<tool> records what each was built from,
# so a run rebuilds a tool only when its pinned version (or this recipe) changed.
#
# Built (all from the Go module proxy, nothing else is fetched). Each needs a step beyond
# `go install MODULE@VERSION`; the upstream facts behind each step, with their sources, are in
# docs/UPSTREAM-FACTS.md ("Go-built upstream tools", "Exporters built for the tests"):
#   prometheus, promtool   the module version is v0.3XX.Y for v3.XX.Y; built without the
#                          `builtinassets` tag (the module has no compiled UI): the HTTP API, all the
#                          tests use, is the same, the web UI's pages are not served. With upstream's
#                          service discovery tags (PROMETHEUS_SD_TAGS): only the discovery the
#                          rendered configs use is compiled in (the image keeps them all).
#   alertmanager, amtool   the module zip lacks the generated UI that ui/web.go embeds: built from a
#                          writable copy with a one-page placeholder there (the API is unchanged).
#   jaeger (v2)            v2 tags lack the /v2 module suffix: v2.X.0 up to 2.13.0 is built as its v1 twin
#                          tag v1.(63+X).0; later ones exist only as pseudo-versions, which the proxy refuses,
#                          so 2.13.0 is built instead and says so (the declared skew of
#                          tests/test_upstream_tools.py). Its go.mod's replace directives are repeated
#                          in a throwaway wrapper module.
#   prometheus-config-     the image tag is the module version; its go.mod replaces two nested modules
#   reloader               with its own directories, so a wrapper module requires both at the same tag.
#   actionlint             not deployed: pinned here (ACTIONLINT_VERSION, tracked by Renovate);
#                          tests/test_workflows.py lints .github/workflows with it (and Debian's ShellCheck).
#   node_exporter, redis_exporter, postgres_exporter, nginx-prometheus-exporter
#                          run by tests/live/test_live_rules_can_fire.py with the flags the stack renders.
#                          `go build` in the downloaded module (see build_exporter); where the proxy refuses
#                          the deployed tag, the tag tests/tools.py PROXY_SKEW declares is built instead.
#   sloth                  not deployed: the oracle tests/test_slo_sloth.py compares the rendered SLO
#                          alerts with (`sloth generate`); pinned here (SLOTH_VERSION).
# Not built, on purpose:
#   loki, promtail         github.com/grafana/loki/v3 is AGPL-3.0-only (its LICENSING.md). Promtail's own
#                          clients/ is Apache-2.0, but the binary links AGPL packages of the same module
#                          (pkg/logql/log, pkg/tracing), so neither is built or linked here: the stack runs
#                          the upstream images unmodified, and the tests check Loki's and Promtail's
#                          configs without their binaries (docs/TESTING.md). Grafana (AGPL-3.0-only) is
#                          not built either.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS="${UPSTREAM_TOOLS_DIR:-$ROOT/.tools}"
BIN="$TOOLS/bin"
STAMPS="$TOOLS/stamps"
PYTHON="${PYTHON:-$ROOT/venv/bin/python}"
# Bump when the recipe below changes in a way that changes the binaries.
RECIPE=1
# Upstream's build tags for service discovery (its README, "Service discovery plugins"): every
# optional discovery out but Kubernetes', the one the rendered prometheus.yml uses (file, static and
# http discovery are always in). The others' cloud SDKs are half of a cold build's compile time; a
# rendered config that named one would fail `promtool check config` ("field …_sd_configs not found"),
# and tests/test_upstream_tools.py holds the rendered configs to this list.
PROMETHEUS_SD_TAGS="remove_all_sd,enable_kubernetes_sd"
# Jaeger v2.X.0 up to this X has a v1 twin tag (v1.(63+X).0) that the Go module proxy serves.
JAEGER_PROXY_NEWEST_MINOR=13
# The workflow linter (not a deployed image: pinned here, tracked by Renovate through the comment).
# renovate: datasource=go depName=github.com/rhysd/actionlint
ACTIONLINT_VERSION="v1.7.12"

GO="$(command -v go || true)"
[ -n "$GO" ] || GO=/usr/local/go/bin/go
if [ ! -x "$GO" ]; then
  echo "no Go toolchain: neither 'go' on PATH nor /usr/local/go/bin/go" >&2
  exit 1
fi
if [ ! -x "$PYTHON" ]; then
  echo "no $PYTHON to read the version table: run 'make venv' first" >&2
  exit 1
fi

# Static, stripped, reproducible; at most 2 compile jobs, so the build fits a 2-core CI runner.
export CGO_ENABLED=0 GOFLAGS=-trimpath
JOBS=(-p 2)

# image_tag FIELD -> the tag of Images().FIELD, e.g. "v3.16.0"
image_tag() {
  "$PYTHON" -c 'import sys
from components.settings.model import Images
image = getattr(Images(), sys.argv[1])
if "@" in image:
    image = image.split("@", 1)[0]
print(image.rsplit(":", 1)[1])' "$1"
}

# ldflags VERSION -> the flags that make `--version` print VERSION.
# prometheus/common@v0.72.1 version/info.go: Version, Revision, Branch, BuildUser, BuildDate.
# The module zip carries no commit, so Revision stays empty.
ldflags() {
  echo "-s -w -X github.com/prometheus/common/version.Version=$1 -X github.com/prometheus/common/version.BuildUser=upstream-tools.sh"
}

# fresh TOOL STAMP BINARIES... -> true when every binary exists and the stamp matches
fresh() {
  local tool=$1 stamp=$2 binary
  shift 2
  [ -f "$STAMPS/$tool" ] && [ "$(cat "$STAMPS/$tool")" = "$stamp" ] || return 1
  for binary in "$@"; do [ -x "$BIN/$binary" ] || return 1; done
}

# needs_build TOOL VERSION MODULE BINARY... -> false, saying so, when the binaries exist and were
# built from MODULE with this recipe and Go; otherwise announces the build. Sets STAMP, which the
# caller writes to $STAMPS/TOOL once the build succeeded.
needs_build() {
  local tool=$1 version=$2 module=$3
  shift 3
  STAMP="$module recipe=$RECIPE $("$GO" env GOVERSION)"
  if fresh "$tool" "$STAMP" "$@"; then
    echo "$tool $version: up to date"
    return 1
  fi
  echo "$tool $version: building $module"
}

build_prometheus() {
  local tag version minor patch module
  tag=$(image_tag prometheus)
  version=${tag#v}
  if [[ ! $version =~ ^3\.([0-9]+)\.([0-9]+)$ ]]; then
    echo "images.prometheus tag '$tag': expected v3.X.Y (the Go module is published as v0.3XX.Y)" >&2
    return 1
  fi
  minor=${BASH_REMATCH[1]}
  patch=${BASH_REMATCH[2]}
  module="github.com/prometheus/prometheus@v0.$((300 + minor)).$patch"
  needs_build prometheus "$version" "$module tags=$PROMETHEUS_SD_TAGS" prometheus promtool || return 0
  GOBIN="$BIN" "$GO" install "${JOBS[@]}" -tags "$PROMETHEUS_SD_TAGS" -ldflags "$(ldflags "$version")" \
    "github.com/prometheus/prometheus/cmd/prometheus@${module#*@}" \
    "github.com/prometheus/prometheus/cmd/promtool@${module#*@}"
  echo "$STAMP" > "$STAMPS/prometheus"
}

build_alertmanager() {
  local tag version module dir src
  tag=$(image_tag alertmanager)
  version=${tag#v}
  module="github.com/prometheus/alertmanager@v$version"
  needs_build alertmanager "$version" "$module" alertmanager amtool || return 0
  dir=$("$GO" mod download -json "$module" | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
  src="$TOOLS/src/alertmanager"
  rm -rf "$src"
  mkdir -p "$TOOLS/src"
  cp -R "$dir" "$src"
  chmod -R u+w "$src"
  mkdir -p "$src/ui/app/dist"
  printf '<!doctype html><title>Alertmanager %s</title><p>UI not built (scripts/upstream-tools.sh); the API is at /api/v2/.\n' \
    "$version" > "$src/ui/app/dist/index.html"
  (cd "$src" && "$GO" build "${JOBS[@]}" -ldflags "$(ldflags "$version")" -o "$BIN/" ./cmd/alertmanager ./cmd/amtool)
  rm -rf "$src"
  echo "$STAMP" > "$STAMPS/alertmanager"
}

build_jaeger() {
  local tag version minor module gomod src replace
  tag=$(image_tag jaeger)
  version=${tag#v}
  if [[ ! $version =~ ^2\.([0-9]+)\.[0-9]+$ ]]; then
    echo "jaeger $version: not a Jaeger v2 release tag" >&2
    return 1
  fi
  minor=${BASH_REMATCH[1]}
  if (( minor > JAEGER_PROXY_NEWEST_MINOR )) || [[ $version != 2.$minor.0 ]]; then
    echo "jaeger $version: not served by the Go module proxy (a later v2 is reachable only as a pseudo-version" \
      "at its commit, which this proxy refuses with 403); building 2.$JAEGER_PROXY_NEWEST_MINOR.0, the newest it serves"
    minor=$JAEGER_PROXY_NEWEST_MINOR
    version=2.$minor.0
  fi
  module="github.com/jaegertracing/jaeger@v1.$((63 + minor)).0"
  needs_build jaeger "$version" "$module" jaeger || return 0
  gomod=$("$GO" mod download -json "$module" | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["GoMod"])')
  src="$TOOLS/src/jaeger"
  rm -rf "$src"
  mkdir -p "$src"
  (
    cd "$src"
    "$GO" mod init upstream-tools/jaeger >/dev/null 2>&1
    # The dependency's replace directives only act in the main module: repeat them here.
    while read -r replace; do
      "$GO" mod edit -replace "$replace"
    done < <("$GO" mod edit -json "$gomod" | "$PYTHON" -c 'import json, sys
for r in json.load(sys.stdin).get("Replace") or []:
    old, new = r["Old"], r["New"]
    at = lambda m: m["Path"] + ("@" + m["Version"] if m.get("Version") else "")
    print(at(old) + "=" + at(new))')
    "$GO" get "github.com/jaegertracing/jaeger/cmd/jaeger@${module#*@}"
    "$GO" build "${JOBS[@]}" -o "$BIN/jaeger" \
      -ldflags "-s -w -X github.com/jaegertracing/jaeger/internal/version.latestVersion=v$version" \
      github.com/jaegertracing/jaeger/cmd/jaeger
  )
  rm -rf "$src"
  echo "$STAMP" > "$STAMPS/jaeger"
}

build_config_reloader() {
  local tag version repo module src
  tag=$(image_tag config_reloader)
  version=${tag#v}
  repo=github.com/prometheus-operator/prometheus-operator
  module="$repo@v$version"
  needs_build prometheus-config-reloader "$version" "$module" prometheus-config-reloader || return 0
  src="$TOOLS/src/prometheus-config-reloader"
  rm -rf "$src"
  mkdir -p "$src"
  (
    cd "$src"
    "$GO" mod init upstream-tools/prometheus-config-reloader >/dev/null 2>&1
    "$GO" get "$repo/cmd/prometheus-config-reloader@v$version" \
      "$repo/pkg/apis/monitoring@v$version" "$repo/pkg/client@v$version"
    "$GO" build "${JOBS[@]}" -ldflags "$(ldflags "$version")" -o "$BIN/prometheus-config-reloader" \
      "$repo/cmd/prometheus-config-reloader"
  )
  rm -rf "$src"
  echo "$STAMP" > "$STAMPS/prometheus-config-reloader"
}

build_actionlint() {
  local module="github.com/rhysd/actionlint@$ACTIONLINT_VERSION"
  needs_build actionlint "$ACTIONLINT_VERSION" "$module" actionlint || return 0
  # `actionlint -version` prints the module version from the binary's build info (command.go
  # getCommandVersion at v1.7.12), which `go install module@version` records.
  GOBIN="$BIN" "$GO" install "${JOBS[@]}" -ldflags "-s -w" "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
  echo "$STAMP" > "$STAMPS/actionlint"
}

# --- the exporters (tests/live/test_live_rules_can_fire.py) -----------------------------------

# built_tag BINARY -> the Go module tag to build BINARY at: its image's tag (tests/tools.py GO_BUILT names
# the Images field), or the tag tests/tools.py PROXY_SKEW declares when the proxy refuses the deployed one.
built_tag() {
  "$PYTHON" -c 'import sys
sys.path.insert(0, "tests")
from tools import GO_BUILT, PROXY_SKEW
from components.settings.model import Images
deployed = getattr(Images(), GO_BUILT[sys.argv[1]]).split("@", 1)[0].rsplit(":", 1)[1].removeprefix("v")
declared, built = PROXY_SKEW.get(sys.argv[1], (deployed, deployed))
print("v" + (built if declared == deployed else deployed))' "$1"
}

# build_exporter BINARY MODULE PACKAGE_DIR VERSION_VAR: BINARY built from the module zip (`go mod download`,
# checked against the checksum database) in its own directory, as its release does, with the linker
# setting VERSION_VAR so that `BINARY --version` names the version built. Not `go install MODULE@TAG`:
# that also asks the proxy for the module's version list (deprecation check), which it refuses for
# some of these modules (403).
build_exporter() {
  local binary=$1 module=$2 dir=$3 var=$4 tag version src
  tag=$(built_tag "$binary")
  version=${tag#v}
  [ "$var" = main.BuildVersion ] && version=$tag  # redis_exporter prints its release tag, "v" and all
  needs_build "$binary" "$tag" "$module@$tag" "$binary" || return 0
  src=$("$GO" mod download -json "$module@$tag" | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
  (cd "$src" && "$GO" build "${JOBS[@]}" -mod=readonly -ldflags "-s -w -X $var=$version" -o "$BIN/$binary" "./$dir")
  echo "$STAMP" > "$STAMPS/$binary"
}

build_exporters() {
  local common=github.com/prometheus/common/version.Version
  build_exporter node_exporter github.com/prometheus/node_exporter . "$common"
  build_exporter redis_exporter github.com/oliver006/redis_exporter . main.BuildVersion
  build_exporter postgres_exporter github.com/prometheus-community/postgres_exporter cmd/postgres_exporter "$common"
  build_exporter nginx-prometheus-exporter github.com/nginx/nginx-prometheus-exporter . "$common"
}

# The SLO generator the rendered burn-rate alerts are checked against (components/render/slo.py);
# not deployed: pinned here, tracked by Renovate through the comment.
# renovate: datasource=go depName=github.com/slok/sloth
SLOTH_VERSION="v0.16.0"

build_sloth() {
  local module="github.com/slok/sloth@$SLOTH_VERSION"
  needs_build sloth "$SLOTH_VERSION" "$module" sloth || return 0
  GOBIN="$BIN" "$GO" install "${JOBS[@]}" \
    -ldflags "-s -w -X github.com/slok/sloth/internal/info.Version=$SLOTH_VERSION" \
    "github.com/slok/sloth/cmd/sloth@$SLOTH_VERSION"
  echo "$STAMP" > "$STAMPS/sloth"
}

TOOL_GROUPS=(prometheus alertmanager jaeger config-reloader actionlint exporters sloth)
wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=("${TOOL_GROUPS[@]}")
for group in "${wanted[@]}"; do
  if [[ " ${TOOL_GROUPS[*]} " != *" $group "* ]]; then
    echo "unknown tool group '$group' (allowed: ${TOOL_GROUPS[*]})" >&2
    exit 2
  fi
done
mkdir -p "$BIN" "$STAMPS"
for group in "${wanted[@]}"; do
  "build_${group//-/_}"
done
