#!/bin/bash
# Writes /run/webstack-redis/redis.conf (0600) with requirepass from REDIS_PASSWORD_FILE and starts
# redis-server on it. Extra arguments after `redis-server` are passed on (e.g. --maxmemory 256mb).
set -Eeuo pipefail

log() { echo "webstack-redis: $*" >&2; }

if [ "${1:-}" = redis-server ]; then
  shift
  if [ -z "${REDIS_PASSWORD_FILE:-}" ] || [ ! -r "$REDIS_PASSWORD_FILE" ]; then
    log "refusing to start: REDIS_PASSWORD_FILE must name a readable file holding the password."
    exit 1
  fi
  password="$(head -n1 "$REDIS_PASSWORD_FILE" | tr -d '\r\n')"
  if [ -z "$password" ]; then
    log "refusing to start: $REDIS_PASSWORD_FILE is empty."
    exit 1
  fi
  # Redis config strings: double-quoted, backslash and double quote escaped.
  escaped="${password//\\/\\\\}"
  escaped="${escaped//\"/\\\"}"
  conf=/run/webstack-redis/redis.conf
  umask 077
  cat >"$conf.tmp" <<CONF
# Written by docker-entrypoint.sh on every start; edits are lost.
bind * -::*
port 6379
protected-mode yes
daemonize no
logfile ""
dir /data
appendonly yes
appendfsync everysec
save 3600 1 300 100 60 10000
requirepass "$escaped"
CONF
  chmod 0600 "$conf.tmp"
  mv -f "$conf.tmp" "$conf"
  unset password escaped
  exec redis-server "$conf" "$@"
fi
exec "$@"
