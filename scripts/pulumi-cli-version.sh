#!/usr/bin/env bash
# Prints the Pulumi CLI version to install: the pulumi SDK's pin in requirements.txt (`pulumi==X.Y.Z`).
# The one source for scripts/bootstrap.sh (`make up`) and the workflows (.github/workflows/pulumi.yml,
# input `pulumi-version` of pulumi/actions), so CI runs the CLI a developer's `make up` installs and
# a Renovate bump of the SDK moves both.
set -euo pipefail
requirements="$(dirname "$0")/../requirements.txt"
versions=$(sed -n 's/^pulumi==\([0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\)[[:space:]]*$/\1/p' "$requirements")
if [ "$(printf '%s' "$versions" | grep -c .)" != 1 ]; then
  found=$(grep -E '^pulumi([^-_.a-z0-9]|$)' "$requirements" | paste -sd ' ' - || true)
  echo "requirements.txt: expected exactly one line pulumi==X.Y.Z (the Pulumi CLI follows the SDK pin), found:" \
    "${found:-no pulumi line}" >&2
  exit 1
fi
printf '%s\n' "$versions"
