#!/bin/sh
# Grafana entrypoint wrapper (QuikApp monitoring): make GF_SECURITY_ADMIN_PASSWORD authoritative.
#
# Grafana applies GF_SECURITY_ADMIN_PASSWORD only when it creates its database (first start).
# On every later start the stored password would win, so a rotated `grafana.adminPassword`
# would silently not take effect. When the database already exists, reset the admin user's
# password to the configured one before starting the server. The password goes over stdin
# (never argv, which any process in the container can read) and is never printed.
# A failed reset stops the container: better a visible restart loop than a stale password.
# `grafana cli admin reset-admin-password --password-from-stdin`: grafana/grafana@db64da7a
# pkg/cmd/grafana-cli/commands/commands.go (Grafana 12/13 era); /run.sh execs `grafana server`.
set -eu

data="${GF_PATHS_DATA:-/var/lib/grafana}"
if [ -f "$data/grafana.db" ]; then
  printf '%s' "$GF_SECURITY_ADMIN_PASSWORD" | grafana cli \
    --homepath "${GF_PATHS_HOME:-/usr/share/grafana}" \
    --config "${GF_PATHS_CONFIG:-/etc/grafana/grafana.ini}" \
    admin reset-admin-password --password-from-stdin
fi

# The image's own entrypoint: checks paths, then execs `grafana server`.
exec /run.sh "$@"
