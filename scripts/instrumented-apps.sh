#!/usr/bin/env bash
# Install the dependencies of the small instrumented services that tests/live/test_live_instrumentation.py
# runs, one per runtime of the `instrumentation` output, exactly as each ecosystem's lock pins them:
#
#   scripts/instrumented-apps.sh        (needs python3, npm, mvn and a JDK, Go; .ci/run runs it)
#
#   python  tests/live/instrumented/python/.venv         pip install -r requirements.lock (pip freeze after
#                                                         `opentelemetry-bootstrap -a install`, see requirements.txt)
#   node    tests/live/instrumented/node/node_modules    npm ci: package-lock.json, Node.js 24 from the npm registry
#   java    tests/live/instrumented/java/target/{lib,agent}  Maven: the Spring Boot jars and the OpenTelemetry agent
#   go      the module cache and build cache             go mod download and a build (the test builds again, cached)
#
# Everything it writes is ignored by git. A runtime whose lock did not change since the last run is skipped
# (.stamp files beside what it installed).
set -euo pipefail
cd "$(dirname "$0")/.."
APPS=tests/live/instrumented
PYTHON="${PYTHON:-python3}"
GO="$(command -v go || true)"
[ -n "$GO" ] || GO=/usr/local/go/bin/go

# fresh STAMP_FILE INPUTS... -> true when STAMP_FILE records the checksum of INPUTS
fresh() {
  local stamp=$1
  shift
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(cat "$@" | sha256sum)" ]
}
stamp() {
  local stamp=$1
  shift
  cat "$@" | sha256sum > "$stamp"
}

started=$SECONDS
if fresh "$APPS/python/.venv/.stamp" "$APPS/python/requirements.lock"; then
  echo "python app: up to date"
else
  rm -rf "$APPS/python/.venv"
  "$PYTHON" -m venv "$APPS/python/.venv"
  "$APPS/python/.venv/bin/pip" install -q --disable-pip-version-check -r "$APPS/python/requirements.lock"
  stamp "$APPS/python/.venv/.stamp" "$APPS/python/requirements.lock"
  echo "python app: installed ($((SECONDS - started)) s)"
fi

started=$SECONDS
if fresh "$APPS/node/node_modules/.stamp" "$APPS/node/package-lock.json"; then
  echo "node app: up to date"
else
  npm ci --prefix "$APPS/node" --no-audit --no-fund --loglevel=error
  stamp "$APPS/node/node_modules/.stamp" "$APPS/node/package-lock.json"
  echo "node app: installed ($((SECONDS - started)) s)"
fi

started=$SECONDS
if fresh "$APPS/java/target/.stamp" "$APPS/java/pom.xml"; then
  echo "java app: up to date"
else
  rm -rf "$APPS/java/target"
  mvn -B -q -Dstyle.color=never -f "$APPS/java/pom.xml" dependency:copy-dependencies@lib dependency:copy@agent
  stamp "$APPS/java/target/.stamp" "$APPS/java/pom.xml"
  echo "java app: installed ($((SECONDS - started)) s)"
fi

started=$SECONDS
# The Go build cache decides what is up to date; at most 2 compile jobs, so the build fits a 2-core CI runner.
(cd "$APPS/go" && CGO_ENABLED=0 GOFLAGS=-trimpath "$GO" build -p 2 -mod=readonly -o /dev/null .)
echo "go app: built ($((SECONDS - started)) s)"
