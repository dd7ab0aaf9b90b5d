#!/bin/sh
# The team's migration script (guide: "Run migrations in order: psql -f database/migrations/NNN_name.sql"):
# applies each NNN_name.sql not applied yet, in order, each in one transaction, and records it.
set -eu
cd "$(dirname "$0")/migrations"
: "${DATABASE_URL:?DATABASE_URL is not set}"
export PGCONNECT_TIMEOUT=30
psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 \
  -c "CREATE TABLE IF NOT EXISTS applied_sql_files (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
for f in $(ls [0-9][0-9][0-9]_*.sql | sort); do
  done_already=$(psql "$DATABASE_URL" -X -At -v ON_ERROR_STOP=1 -v name="$f" \
    -c "SELECT count(*) FROM applied_sql_files WHERE name = '$f'")
  if [ "$done_already" = "1" ]; then continue; fi
  echo "applying $f"
  psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 --single-transaction \
    -f "$f" -c "INSERT INTO applied_sql_files (name) VALUES ('$f')"
done
echo "migrations up to date: $(ls [0-9][0-9][0-9]_*.sql | wc -l) files"
