#!/bin/bash
# First start: initdb from POSTGRES_PASSWORD_FILE / POSTGRES_USER / POSTGRES_DB, run
# /docker-entrypoint-initdb.d/*.sql|*.sh. Every start: rewrite pg_hba.conf so that password
# (scram-sha-256) connections are accepted from the container's own networks and loopback only.
set -Eeuo pipefail

log() { echo "webstack-postgres: $*" >&2; }

POSTGRES_USER="${POSTGRES_USER:-postgres}"
POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"

# Networks the container is attached to (IPv4 and IPv6 on-link routes), unless
# POSTGRES_HBA_CIDRS (space separated) names them explicitly.
hba_cidrs() {
  if [ -n "${POSTGRES_HBA_CIDRS:-}" ]; then
    tr ' ' '\n' <<<"$POSTGRES_HBA_CIDRS" | sed '/^$/d'
  else
    { ip -o -4 route show scope link proto kernel; ip -o -6 route show proto kernel 2>/dev/null | grep -v '^fe80'; } \
      | awk '{print $1}' | sort -u
  fi
}

write_access_config() {
  {
    echo "# Written by docker-entrypoint.sh on every start; edits are lost."
    echo "# TYPE  DATABASE  USER  ADDRESS  METHOD"
    echo "local   all       all            peer map=webstack"
    echo "host    all       all   127.0.0.1/32  scram-sha-256"
    echo "host    all       all   ::1/128  scram-sha-256"
    local cidr
    while read -r cidr; do
      [ -n "$cidr" ] && echo "host    all       all   $cidr  scram-sha-256"
    done < <(hba_cidrs)
  } >"$PGDATA/pg_hba.conf"
  {
    echo "# OS user postgres (docker exec) may connect as the administrator over the socket."
    echo "webstack  postgres  postgres"
    [ "$POSTGRES_USER" != postgres ] && echo "webstack  postgres  $POSTGRES_USER"
    true
  } >"$PGDATA/pg_ident.conf"
  chmod 0600 "$PGDATA/pg_hba.conf" "$PGDATA/pg_ident.conf"
}

init_cluster() {
  if [ -z "${POSTGRES_PASSWORD_FILE:-}" ] || [ ! -r "$POSTGRES_PASSWORD_FILE" ]; then
    log "POSTGRES_PASSWORD_FILE must name a readable file on first start (database is not initialised)."
    exit 1
  fi
  if [ ! -w "$PGDATA" ]; then
    log "$PGDATA is not writable by $(id -un) (uid $(id -u)); a bind mount must be owned by it."
    exit 1
  fi
  log "initialising $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
  local pwfile
  pwfile="$(mktemp)"
  # initdb takes the first line of the file; strip a trailing newline the file may carry.
  head -n1 "$POSTGRES_PASSWORD_FILE" | tr -d '\r\n' >"$pwfile"
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=peer --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA" >/dev/null
  rm -f "$pwfile"
  cat >>"$PGDATA/postgresql.conf" <<CONF

# webstack
listen_addresses = '*'
password_encryption = scram-sha-256
log_destination = 'stderr'
logging_collector = off
CONF
  write_access_config
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  local psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname postgres)
  if [ "$POSTGRES_DB" != postgres ]; then
    "${psql[@]}" --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";' >/dev/null
  fi
  local f
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sql) log "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" >/dev/null ;;
      *.sh) log "running $f"; bash "$f" ;;
      *) [ -e "$f" ] && log "ignoring $f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  log "initialisation complete"
}

if [ "${1:-}" = postgres ]; then
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    init_cluster
  else
    write_access_config
  fi
fi
exec "$@"
