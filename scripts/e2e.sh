#!/usr/bin/env bash
# `make e2e`: the real-engine tests (tests/e2e/) inside a network namespace of their own whose only
# interface is loopback, so nothing they start can send a packet anywhere else: a connection to any
# other address fails at once with "network is unreachable".
#
#   scripts/e2e.sh [pytest arguments]
#
# Needs the tools of scripts/e2e-tools.sh, and `unshare` (util-linux) with the right to make a network
# namespace: root, or an unprivileged user namespace (--map-root-user).
set -euo pipefail
cd "$(dirname "$0")/.."
inner='ip link set lo up && exec "$@"'
if unshare --net true 2>/dev/null; then
  exec unshare --net -- sh -c "$inner" sh venv/bin/python -m pytest -o addopts="-ra --strict-markers" -p no:cacheprovider tests/e2e "$@"
elif unshare --net --map-root-user true 2>/dev/null; then
  exec unshare --net --map-root-user -- sh -c "$inner" sh venv/bin/python -m pytest -o addopts="-ra --strict-markers" -p no:cacheprovider tests/e2e "$@"
fi
echo "cannot make a network namespace for the end-to-end tests: unshare --net is refused" \
  "(run as root, or allow unprivileged user namespaces: sysctl kernel.unprivileged_userns_clone=1)" >&2
exit 1
