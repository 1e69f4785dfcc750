#!/usr/bin/env bash
# Build the real engine and a real control plane for the end-to-end tests (`make e2e`, tests/e2e/).
#
#   scripts/e2e-tools.sh                 build what is missing or stale (Go from PATH or /usr/local/go/bin)
#   scripts/e2e-tools.sh --versions      print what is built, and the declared skews, as JSON
#
# Into .tools/bin (ignored by git): pulumi, kubectl, etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kwok; the Kubernetes provider is installed as a Pulumi plugin in the default plugin
# directory (<PULUMI_HOME or ~/.pulumi>/plugins), where any Automation API program finds it.
# .tools/stamps/e2e-* record what each group was built from: a run rebuilds only what changed.
# Everything comes from the Go module proxy; nothing else is fetched.
#
# What is built, and where it differs from what the program pins (the one place such skews are
# declared; tests/e2e/test_tools.py holds the built binaries to this table):
#   Pulumi CLI          github.com/pulumi/pulumi/pkg/v3 cmd/pulumi at PULUMI_BUILT. The program pins the
#                       SDK pulumi==PULUMI_PINNED (requirements.txt), whose CLI module version the proxy
#                       refuses (403 "This module version is not available"); PULUMI_BUILT is the nearest
#                       later release it serves. The Python language host
#                       (sdk/python/cmd/pulumi-language-python/v3) is refused at every version, so the tests
#                       drive the engine through the Automation API's inline program, which needs none.
#   Kubernetes provider github.com/pulumi/pulumi-kubernetes/provider/v4 at PROVIDER_BUILT, a commit between
#                       the 4.24.0 and 4.25.0 releases: the only version of that module the proxy serves.
#                       The program pins pulumi-kubernetes==PROVIDER_PINNED; the binary is installed under
#                       that version, so the engine loads it for the pinned SDK. Every provider behaviour
#                       the program relies on (server-side apply with upsert, enableConfigMapMutable,
#                       enableSecretMutable, skipAwait, the await rules) exists at this commit.
#                       Its main.go embeds schema-embed.json and terraform-mapping-embed.json, which
#                       upstream's generate step writes and the module zip lacks: a wrapper main re-creates
#                       them from the zip's schema.json and terraform-mapping.json.
#   Control plane       k8s.io/kubernetes KUBERNETES (kube-apiserver, kube-controller-manager, kube-scheduler,
#                       kubectl), with each of its staging modules (required at v0.0.0 and replaced by
#                       ./staging upstream) replaced by the published k8s.io/<name> v0.<minor>.<patch>;
#                       etcd ETCD (go.etcd.io/etcd/server/v3); kwok KWOK (sigs.k8s.io/kwok, simulated nodes
#                       and its "fast" pod and node stages). Not pinned by the program: the cluster the
#                       tests run against.
# The CLI and the control plane are one wrapper module, so the dependencies they share compile once.
# kwok needs newer Kubernetes libraries than KUBERNETES' own (v0.36 at 0.8.0): a build of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PULUMI_PINNED=3.272.0
PULUMI_BUILT=3.274.0
PROVIDER_PINNED=4.34.2
PROVIDER_BUILT=v4.0.0-20260115033456-f47bc2d6f199
KUBERNETES=1.34.4
ETCD=3.6.16
KWOK=0.8.0

if [ "${1:-}" = "--versions" ]; then
  printf '{"pulumi": {"pinned": "%s", "built": "%s"}, "pulumi-kubernetes": {"pinned": "%s", "built": "%s"},' \
    "$PULUMI_PINNED" "$PULUMI_BUILT" "$PROVIDER_PINNED" "$PROVIDER_BUILT"
  printf ' "kubernetes": "%s", "etcd": "%s", "kwok": "%s"}\n' "$KUBERNETES" "$ETCD" "$KWOK"
  exit 0
fi

# The skews above hold only for these pins: a bump in requirements.txt must revisit them.
for pair in "pulumi=$PULUMI_PINNED" "pulumi-kubernetes=$PROVIDER_PINNED"; do
  package=${pair%%=*}
  declared=${pair#*=}
  pinned=$(sed -n "s/^$package==//p" requirements.txt)
  if [ "$pinned" != "$declared" ]; then
    echo "requirements.txt pins $package==$pinned, but scripts/e2e-tools.sh declares its build for" \
      "$package==$declared: see whether the proxy serves $pinned now, and update the table" >&2
    exit 1
  fi
done

TOOLS="${UPSTREAM_TOOLS_DIR:-$ROOT/.tools}"
BIN="$TOOLS/bin"
STAMPS="$TOOLS/stamps"
SRC="$TOOLS/src"
# Bump when the recipe below changes in a way that changes the binaries.
RECIPE=1
GO="$(command -v go || true)"
[ -n "$GO" ] || GO=/usr/local/go/bin/go
if [ ! -x "$GO" ]; then
  echo "no Go toolchain: neither 'go' on PATH nor /usr/local/go/bin/go" >&2
  exit 1
fi
export CGO_ENABLED=0 GOFLAGS=-trimpath
mkdir -p "$BIN" "$STAMPS" "$SRC" "$TOOLS/share"

# fresh GROUP STAMP BINARIES... -> true when every binary exists and the stamp matches
fresh() {
  local group=$1 stamp=$2 binary
  shift 2
  [ -f "$STAMPS/$group" ] && [ "$(cat "$STAMPS/$group")" = "$stamp" ] || return 1
  for binary in "$@"; do [ -x "$BIN/$binary" ] || return 1; done
}

# The version stamps `kubectl version` and /version need (k8s.io/component-base/version/base.go):
# without them gitVersion reads "v0.0.0-master+$Format:%H$" and kubectl cannot parse it.
kube_ldflags() {
  local p flags=""
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags="$flags -X $p.gitVersion=v$KUBERNETES -X $p.gitMajor=${KUBERNETES%%.*}"
    flags="$flags -X $p.gitMinor=$(echo "$KUBERNETES" | cut -d. -f2) -X $p.gitTreeState=clean"
    flags="$flags -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$flags"
}

build_engine_and_control_plane() {
  local stamp gomod minor dir
  stamp="pulumi@$PULUMI_BUILT kubernetes@$KUBERNETES etcd@$ETCD recipe=$RECIPE $("$GO" env GOVERSION)"
  if fresh e2e-control-plane "$stamp" pulumi kubectl etcd kube-apiserver kube-controller-manager kube-scheduler \
     && [ -s "$TOOLS/share/e2e-control-plane.go.mod" ]; then
    echo "pulumi $PULUMI_BUILT, kubernetes $KUBERNETES, etcd $ETCD: up to date"
    return 0
  fi
  echo "pulumi $PULUMI_BUILT, kubernetes $KUBERNETES, etcd $ETCD: building"
  dir="$SRC/e2e-control-plane"
  rm -rf "$dir"
  mkdir -p "$dir"
  gomod=$("$GO" mod download -json "k8s.io/kubernetes@v$KUBERNETES" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  minor=$(echo "$KUBERNETES" | cut -d. -f2-)
  {
    printf 'module e2e-tools/control-plane\n\ngo %s\n\n' "$("$GO" env GOVERSION | sed 's/^go//')"
    # pulumi/pkg's own replace: its go.mod points github.com/atotto/clipboard at this fork, and a
    # dependency's replace directives act only in the main module.
    printf 'replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e\n\n'
    printf 'require (\n\tgithub.com/pulumi/pulumi/pkg/v3 v%s\n\tgithub.com/pulumi/pulumi/sdk/v3 v%s\n' \
      "$PULUMI_BUILT" "$PULUMI_BUILT"
    printf '\tk8s.io/kubernetes v%s\n\tgo.etcd.io/etcd/server/v3 v%s\n)\n\nreplace (\n' "$KUBERNETES" "$ETCD"
    grep '=> ./staging' "$gomod" | awk -v v="0.$minor" '{print "\t"$1" => "$1" v"v}'
    echo ')'
  } > "$dir/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport (\n' > "$dir/tools.go"
  for pkg in $PACKAGES; do printf '\t_ "%s"\n' "$pkg" >> "$dir/tools.go"; done
  echo ')' >> "$dir/tools.go"
  (
    cd "$dir"
    "$GO" mod tidy
    # The provider's build takes the same versions of what both use (build_provider).
    cp go.mod "$TOOLS/share/e2e-control-plane.go.mod"
    # shellcheck disable=SC2086 # PACKAGES is a list
    "$GO" build -p 2 -o "$BIN/" \
      -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_BUILT $(kube_ldflags)" \
      $PACKAGES
  )
  # etcd's main package is its module root, go.etcd.io/etcd/server/v3: go build names the binary
  # after the last path element that is not a major version suffix.
  mv "$BIN/server" "$BIN/etcd"
  rm -rf "$dir"
  echo "$stamp" > "$STAMPS/e2e-control-plane"
}
PACKAGES="github.com/pulumi/pulumi/pkg/v3/cmd/pulumi go.etcd.io/etcd/server/v3 k8s.io/kubernetes/cmd/kube-apiserver
  k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl"

# kwok requires newer Kubernetes libraries (v0.36) than the control plane it simulates nodes for, so
# it is its own build; its go.mod has no replace directives, so `go install` takes it as released.
build_kwok() {
  local stamp kwok_dir f
  stamp="kwok@$KWOK recipe=$RECIPE $("$GO" env GOVERSION)"
  if fresh e2e-kwok "$stamp" kwok && [ -s "$TOOLS/share/kwok-stages.yaml" ]; then
    echo "kwok $KWOK: up to date"
    return 0
  fi
  echo "kwok $KWOK: building"
  GOBIN="$BIN" "$GO" install -p 2 -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@v$KWOK"
  # kwok's own "fast" node and pod lifecycles (pods become Running/Ready at once) and node leases.
  kwok_dir=$("$GO" mod download -json "sigs.k8s.io/kwok@v$KWOK" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    echo '---'
    cat "$kwok_dir/kustomize/stage/$f"
  done > "$TOOLS/share/kwok-stages.yaml"
  echo "$stamp" > "$STAMPS/e2e-kwok"
}

build_provider() {
  local stamp dir src plugins
  stamp="pulumi-kubernetes@$PROVIDER_BUILT as $PROVIDER_PINNED recipe=$RECIPE $("$GO" env GOVERSION)"
  plugins="${PULUMI_HOME:-$HOME/.pulumi}/plugins/resource-kubernetes-v$PROVIDER_PINNED"
  if [ -f "$STAMPS/e2e-provider" ] && [ "$(cat "$STAMPS/e2e-provider")" = "$stamp" ] \
     && [ -x "$plugins/pulumi-resource-kubernetes" ]; then
    echo "pulumi-kubernetes provider $PROVIDER_BUILT (as $PROVIDER_PINNED): up to date"
    return 0
  fi
  echo "pulumi-kubernetes provider $PROVIDER_BUILT (as $PROVIDER_PINNED): building"
  dir="$SRC/e2e-provider"
  rm -rf "$dir"
  mkdir -p "$dir/cmd/pulumi-resource-kubernetes"
  # The provider at the commit the proxy serves, with the Kubernetes libraries, gRPC, protobuf,
  # OpenTelemetry and golang.org/x at the versions the control plane's build resolved, so that
  # those packages compile once for both (its own pulumi/pkg stays at the version it requires:
  # its codegen does not build against 3.274's).
  python3 - "$TOOLS/share/e2e-control-plane.go.mod" "$PROVIDER_BUILT" "$("$GO" env GOVERSION | sed 's/^go//')" \
    > "$dir/go.mod" <<'EOF'
import re, sys
source, provider, go = sys.argv[1:]
text = open(source).read()
shared = ("k8s.io/", "google.golang.org/", "golang.org/x/", "go.opentelemetry.io/", "github.com/golang/protobuf",
          "github.com/google/")
requires = sorted(set(re.findall(r"^\t(\S+) (v\S+)(?: // indirect)?$", text, re.M)))
replaces = re.findall(r"^\t(k8s\.io/\S+) => (\S+) (v\S+)$", text, re.M)
print(f"module e2e-tools/provider\n\ngo {go}\n\nrequire (")
print(f"\tgithub.com/pulumi/pulumi-kubernetes/provider/v4 {provider}")
for path, version in requires:
    if path.startswith(shared) and path != "k8s.io/kubernetes":
        print(f"\t{path} {version} // indirect")
print(")\n\nreplace (")
for old, new, version in replaces:
    print(f"\t{old} => {new} {version}")
print(")")
EOF
  cat > "$dir/cmd/pulumi-resource-kubernetes/main.go" <<'EOF'
// The provider's own main (provider/cmd/pulumi-resource-kubernetes/main.go), with the two embedded
// files its generate step writes.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
EOF
  (
    cd "$dir"
    "$GO" mod download -json "github.com/pulumi/pulumi-kubernetes/provider/v4@$PROVIDER_BUILT" > download.json
    src=$(sed -n 's/.*"Dir": "\(.*\)",/\1/p' download.json)/cmd/pulumi-resource-kubernetes
    # Compacted like upstream's generate step; the schema carries the version it is installed under.
    python3 - "$src" "$PROVIDER_PINNED" <<'EOF'
import json, sys
src, version = sys.argv[1], sys.argv[2]
schema = json.load(open(f"{src}/schema.json"))
schema["version"] = version
json.dump(schema, open("cmd/pulumi-resource-kubernetes/schema-embed.json", "w"), separators=(",", ":"))
mapping = json.load(open(f"{src}/terraform-mapping.json"))
json.dump(mapping, open("cmd/pulumi-resource-kubernetes/terraform-mapping-embed.json", "w"), separators=(",", ":"))
EOF
    "$GO" mod tidy
    "$GO" build -p 2 -o "$dir/pulumi-resource-kubernetes" \
      -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=${PROVIDER_BUILT#v}" \
      ./cmd/pulumi-resource-kubernetes
  )
  # Installed, not put on PATH: a provider binary on PATH would be used instead of the plugin.
  "$BIN/pulumi" plugin rm resource kubernetes "$PROVIDER_PINNED" --yes >/dev/null 2>&1 || true
  PULUMI_SKIP_UPDATE_CHECK=true "$BIN/pulumi" plugin install resource kubernetes "$PROVIDER_PINNED" \
    --file "$dir/pulumi-resource-kubernetes"
  rm -rf "$dir"
  echo "$stamp" > "$STAMPS/e2e-provider"
}

build_engine_and_control_plane
build_kwok
build_provider
