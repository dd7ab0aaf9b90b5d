#!/bin/sh
# Build step of every stand-in image (examples/*/image*/standin-build.sh is a link to this file):
#   standin-build.sh VERSION MIGRATIONS_DIR|- USER
# creates the image's user USER (uid/gid 10001, no home, no shell), bakes the version into /app/VERSION and
# keeps a migration (a file, or a directory holding migration.sql) marked `-- since: N` only from major
# version N on ("-": the image ships no migrations). Two test-hook versions:
#   *never-ready*    the process answers 503 to every request (it never becomes ready)
#   *bad-migration*  ships /app/testing/* as its last migration, which fails on purpose
set -eu
version="$1"; dir="$2"; user="$3"
useradd --uid 10001 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
printf '%s\n' "$version" > /app/VERSION
major="${version%%.*}"
if [ "$dir" != - ]; then
  for f in "$dir"/*; do
    src="$f"; [ -d "$f" ] && src="$f/migration.sql"
    since=$(sed -n 's/^-- since: //p' "$src" | head -n 1)
    if [ -n "$since" ] && [ "$major" -eq "$major" ] 2>/dev/null && [ "$major" -lt "$since" ]; then rm -rf "$f"; fi
  done
  case "$version" in *bad-migration*) cp -R /app/testing/. "$dir"/ ;; esac
fi
rm -rf /app/testing
chmod -R a+rX,go-w /app
