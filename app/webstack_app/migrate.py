"""`python3 -m webstack_app migrate`: apply the migrations shipped in this image to PostgreSQL.

This is what the aws platform's one-off ECS migration task runs. It follows the same rules as the
Ansible role `migrations` (the docker platform's runner and the aws controller-side option), so either
runner sees a database migrated by the other as up to date:

- bookkeeping table public.schema_migrations(version text primary key, checksum text not null = sha256
  hex of the SQL text exactly as shipped, applied_at timestamptz not null default now()), created when
  missing;
- refuses to run, before applying anything, when an applied migration's checksum differs from the
  shipped SQL's (exit 2, the message names it);
- applies the pending migrations in name order, each in its own transaction together with its row,
  with SET LOCAL lock_timeout / statement_timeout (APP_MIGRATE_LOCK_TIMEOUT, default 5s;
  APP_MIGRATE_STATEMENT_TIMEOUT, default 5min);
- stops at the first failing migration, naming it (exit 1); that transaction leaves nothing behind.

Beyond the role: a session advisory lock serialises concurrent runners (a second task started by a
retried deploy waits for the first, then finds nothing pending instead of failing on the primary key).

The connection comes from the settings the server uses (config.from_env: APP_DATABASE_HOST/PORT/NAME/
USER/SSLMODE, APP_DATABASE_PASSWORD_FILE or APP_DATABASE_PASSWORD injected by ECS `valueFrom`).
Output: progress on stderr, one JSON summary line on stdout. Exit codes: 0 done (or nothing to do),
1 a migration or the database failed, 2 refused (changed checksum) or bad configuration.
"""
import hashlib
import json
import re
import sys
import time
from pathlib import Path

from . import config, migrations

DURATION_RE = re.compile(r"^[0-9]+ ?(ms|s|min|h)?$")
TABLE_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
DEFAULT_LOCK_TIMEOUT = "5s"
DEFAULT_STATEMENT_TIMEOUT = "5min"
DEFAULT_TABLE = "schema_migrations"
DEFAULT_CONNECT_TIMEOUT = 10  # seconds, as the role's migrations_db_connect_timeout
ADVISORY_LOCK_KEY = "webstack:schema_migrations"

EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2


class Settings:
    """Runner settings from the environment; ConfigError names the variable."""

    def __init__(self, env):
        self.lock_timeout = env.get("APP_MIGRATE_LOCK_TIMEOUT", "") or DEFAULT_LOCK_TIMEOUT
        self.statement_timeout = env.get("APP_MIGRATE_STATEMENT_TIMEOUT", "") or DEFAULT_STATEMENT_TIMEOUT
        self.table = env.get("APP_MIGRATE_TABLE", "") or DEFAULT_TABLE
        for name, value in (("APP_MIGRATE_LOCK_TIMEOUT", self.lock_timeout),
                            ("APP_MIGRATE_STATEMENT_TIMEOUT", self.statement_timeout)):
            if not DURATION_RE.match(value):
                raise config.ConfigError(f"{name} must be a PostgreSQL duration like 5s or 2min, got {value!r}")
        if not TABLE_RE.match(self.table):
            raise config.ConfigError(f"APP_MIGRATE_TABLE must be a plain lowercase identifier, got {self.table!r}")
        # The server's 1 s default suits a health check, not a task that may start while RDS fails over.
        self.connect_timeout = (round(float(env["APP_CONNECT_TIMEOUT"])) or 1) if env.get("APP_CONNECT_TIMEOUT") \
            else DEFAULT_CONNECT_TIMEOUT


def checksum(sql):
    """sha256 hex of the SQL text exactly as shipped (the role: `sql | hash('sha256')`)."""
    return hashlib.sha256(sql.encode("utf-8")).hexdigest()


def plan(shipped, applied):
    """(pending names in order, changed names) from shipped [{name, sql}] and applied {version: checksum}."""
    changed = [m["name"] for m in shipped if m["name"] in applied and applied[m["name"]] != checksum(m["sql"])]
    pending = sorted(m["name"] for m in shipped if m["name"] not in applied)
    return pending, changed


def _log(message):
    print(f"migrate: {message}", file=sys.stderr, flush=True)


def _one_line(exc):
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


class Runner:
    def __init__(self, cfg, settings, shipped, connect=None):
        self.cfg = cfg
        self.settings = settings
        self.shipped = sorted(shipped, key=lambda m: m["name"])
        self._connect = connect
        self.summary = {
            "status": "error", "database": f"{cfg.db_user}@{cfg.db_host}:{cfg.db_port}/{cfg.db_name}",
            "table": f"public.{settings.table}", "shipped": [m["name"] for m in self.shipped],
            "applied_before": [], "pending": [], "applied": [], "failed": None, "changed": [],
            "unknown": [], "schema_version": None, "error": None, "elapsed": 0.0,
        }

    def connect(self):
        if self._connect is not None:
            return self._connect(self.cfg, self.settings)
        import psycopg2  # noqa: PLC0415  (imported where used: the image has python3-psycopg2)

        c = self.cfg
        return psycopg2.connect(
            host=c.db_host, port=c.db_port, dbname=c.db_name, user=c.db_user, password=c.db_password,
            sslmode=c.db_sslmode, connect_timeout=self.settings.connect_timeout,
            application_name="webstack_app migrate")

    def run(self):
        started = time.monotonic()
        try:
            code = self._run()
        finally:
            self.summary["elapsed"] = round(time.monotonic() - started, 3)
        return code

    def _run(self):
        s = self.summary
        table = self.settings.table
        try:
            conn = self.connect()
        except Exception as exc:  # noqa: BLE001  any driver error: report it, exit 1
            s["error"] = f"cannot connect to {s['database']}: {_one_line(exc)}"
            _log(s["error"])
            return EXIT_FAILED
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                # Serialise concurrent runners; waiting is bounded by the statement timeout.
                cur.execute("SET lock_timeout = %s", (self.settings.statement_timeout,))
                cur.execute("SELECT pg_advisory_lock(hashtext(%s))", (ADVISORY_LOCK_KEY,))
                cur.execute("RESET lock_timeout")
                cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"public.{table}",))
                present = cur.fetchone()[0]
                applied = {}
                if present:
                    cur.execute(f"SELECT version, checksum FROM public.{table} ORDER BY version")  # noqa: S608
                    applied = dict(cur.fetchall())
            s["applied_before"] = sorted(applied)
            s["schema_version"] = max(applied) if applied else None
            shipped_names = {m["name"] for m in self.shipped}
            s["unknown"] = sorted(v for v in applied if v not in shipped_names)
            pending, changed = plan(self.shipped, applied)
            s["pending"] = pending
            if changed:
                s["status"] = "refused"
                s["changed"] = changed
                s["error"] = (f"migration(s) {', '.join(changed)} changed after being applied: the sha256 of the "
                              f"shipped SQL differs from the checksum recorded in {table}. Refusing to run; nothing "
                              "was applied. Ship a new migration instead of editing an applied one.")
                _log(s["error"])
                return EXIT_REFUSED
            _log(f"database {s['database']}: schema version {s['schema_version'] or 'none'}, pending "
                 f"{len(pending)}: {', '.join(pending) or 'none'}")
            if s["unknown"]:
                _log(f"applied but not shipped by this image (a newer release's): {', '.join(s['unknown'])}")
            if not present:
                with conn.cursor() as cur:
                    cur.execute(f"CREATE TABLE IF NOT EXISTS public.{table} (version text PRIMARY KEY, "
                                "checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
            conn.autocommit = False
            by_name = {m["name"]: m for m in self.shipped}
            for name in pending:
                sql = by_name[name]["sql"]
                began = time.monotonic()
                try:
                    with conn.cursor() as cur:
                        cur.execute("SET LOCAL lock_timeout = %s", (self.settings.lock_timeout,))
                        cur.execute("SET LOCAL statement_timeout = %s", (self.settings.statement_timeout,))
                        cur.execute(sql)
                        cur.execute(f"INSERT INTO public.{table} (version, checksum, applied_at) "  # noqa: S608
                                    "VALUES (%s, %s, now())", (name, checksum(sql)))
                    conn.commit()
                except Exception as exc:  # noqa: BLE001  any error: roll back, stop, name the migration
                    conn.rollback()
                    s["status"] = "failed"
                    s["failed"] = name
                    not_attempted = [p for p in pending if p != name and p not in s["applied"]]
                    s["error"] = (f"migration {name} failed and was rolled back (its transaction left nothing "
                                  f"behind). Applied by this run before it: {', '.join(s['applied']) or 'none'}. "
                                  f"Not attempted: {', '.join(not_attempted) or 'none'}. Error: {_one_line(exc)}")
                    _log(s["error"])
                    return EXIT_FAILED
                s["applied"].append(name)
                s["schema_version"] = max(filter(None, [s["schema_version"], name]))
                _log(f"applied {name} in {time.monotonic() - began:.2f}s")
            s["status"] = "ok"
            _log(f"applied {', '.join(s['applied']) or 'nothing'}; schema version {s['schema_version'] or 'none'}")
            return EXIT_OK
        except Exception as exc:  # noqa: BLE001  database error outside a migration (lock, table read)
            s["error"] = f"{s['database']}: {_one_line(exc)}"
            _log(s["error"])
            return EXIT_FAILED
        finally:
            try:
                conn.close()  # ends the session: releases the advisory lock
            except Exception:  # noqa: BLE001,S110  closing a broken connection
                pass


def main(env, directory=None, connect=None, out=None):
    """Run the command; print the JSON summary line on `out` (stdout); return the exit code."""
    out = out or sys.stdout
    try:
        cfg = config.from_env(env)
        settings = Settings(env)
    except config.ConfigError as exc:
        _log(f"configuration error: {exc}")
        out.write(json.dumps({"status": "error", "error": f"configuration error: {exc}"}) + "\n")
        return EXIT_REFUSED
    directory = Path(directory or migrations.migrations_dir())
    try:
        if not directory.is_dir():
            raise OSError(f"{directory} is not a directory (WEBSTACK_APP_MIGRATIONS_DIR)")
        shipped = migrations.load(directory)
    except (OSError, migrations.MigrationError) as exc:
        _log(f"cannot read the shipped migrations: {exc}")
        out.write(json.dumps({"status": "error", "error": f"shipped migrations: {exc}"}) + "\n")
        return EXIT_REFUSED
    runner = Runner(cfg, settings, shipped, connect=connect)
    code = runner.run()
    out.write(json.dumps(runner.summary, sort_keys=True) + "\n")
    out.flush()
    return code
