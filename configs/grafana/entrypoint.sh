#!/bin/sh
# Grafana entrypoint wrapper (QuikApp monitoring): make GF_SECURITY_ADMIN_PASSWORD authoritative.
#
# Grafana applies GF_SECURITY_ADMIN_PASSWORD only when it creates the admin user, i.e. when its
# database has no user yet (grafana/grafana pkg/services/sqlstore/sqlstore.go
# ensureMainOrgAndAdminUser: `SELECT COUNT(id) FROM user`, nothing to do when > 0). On every later
# start the stored password would win, so a rotated `grafana.adminPassword` would silently not take
# effect. So, whenever there is a database to hold the admin user, reset its password to the
# configured one before starting the server:
# - SQLite (the default): when $GF_PATHS_DATA/grafana.db exists (on the first start Grafana creates
#   the file and the admin itself);
# - an external database (GF_DATABASE_TYPE postgres or mysql, `grafana.database`): always. The file
#   never exists there, and every replica shares the one database. The CLI reads the same
#   configuration and GF_* environment as the server, migrates the database and creates the admin
#   from GF_SECURITY_ADMIN_PASSWORD when it is empty (sqlstore ProvideService: Migrate, then Reset),
#   then sets the password (grafana/grafana pkg/cmd/grafana-cli/commands/commands.go
#   initializeRunner, reset_password_command.go).
# The password goes over stdin (never argv, which any process in the container can read) and is
# never printed. A failed reset stops the container: better a visible restart loop than a stale
# password. `grafana cli admin reset-admin-password --password-from-stdin`: grafana/grafana@db64da7a
# pkg/cmd/grafana-cli/commands/commands.go (Grafana 12/13 era); /run.sh execs `grafana server`.
set -eu

data="${GF_PATHS_DATA:-/var/lib/grafana}"
reset=no
case "${GF_DATABASE_TYPE:-sqlite3}" in
  sqlite3) if [ -f "$data/grafana.db" ]; then reset=yes; fi ;;
  *) reset=yes ;;
esac
if [ "$reset" = yes ]; then
  printf '%s' "$GF_SECURITY_ADMIN_PASSWORD" | grafana cli \
    --homepath "${GF_PATHS_HOME:-/usr/share/grafana}" \
    --config "${GF_PATHS_CONFIG:-/etc/grafana/grafana.ini}" \
    admin reset-admin-password --password-from-stdin
fi

# The image's own entrypoint: checks paths, then execs `grafana server`.
exec /run.sh "$@"
