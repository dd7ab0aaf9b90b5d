"""Unit tests of `python3 -m webstack_app migrate` (app/webstack_app/migrate.py) without a database:
settings, the checksum rule shared with the Ansible role `migrations`, the plan, and the runner's
transaction handling through a recording stand-in for the psycopg2 connection. The real database
behaviour (and agreement with the role) is tested in tests/e2e/test_app_migrate.py."""
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.dont_write_bytecode = True  # keep app/ free of __pycache__ (it is an image build context)
ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"

from webstack_app import config, migrate, migrations  # noqa: E402  (after sys.dont_write_bytecode)


# --- the checksum is the role's `sql | hash('sha256')` -------------------------------------------
def test_checksum_equals_the_roles_jinja_hash_filter():
    from ansible.plugins.filter.core import get_hash  # the function behind Jinja's `hash` filter

    for m in migrations.load(APP / "migrations"):
        assert migrate.checksum(m["sql"]) == get_hash(m["sql"], "sha256"), m["name"]
    odd = "-- non-ASCII and CRLF survive as shipped: é\r\nSELECT 1;\n"
    assert migrate.checksum(odd) == get_hash(odd, "sha256")


def test_checksum_is_of_the_text_exactly_as_shipped():
    assert migrate.checksum("SELECT 1;\n") != migrate.checksum("SELECT 1;")
    assert migrate.checksum("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


# --- plan ----------------------------------------------------------------------------------------
SHIPPED = [{"name": "0002_b.sql", "sql": "SELECT 2;"}, {"name": "0001_a.sql", "sql": "SELECT 1;"},
           {"name": "0003_c.sql", "sql": "SELECT 3;"}]


def test_plan_lists_pending_in_name_order_and_changed_checksums():
    applied = {"0001_a.sql": migrate.checksum("SELECT 1;")}
    assert migrate.plan(SHIPPED, applied) == (["0002_b.sql", "0003_c.sql"], [])
    assert migrate.plan(SHIPPED, {}) == (["0001_a.sql", "0002_b.sql", "0003_c.sql"], [])
    tampered = {"0001_a.sql": migrate.checksum("SELECT 1; -- edited"), "0002_b.sql": migrate.checksum("SELECT 2;")}
    assert migrate.plan(SHIPPED, tampered) == (["0003_c.sql"], ["0001_a.sql"])


# --- settings ------------------------------------------------------------------------------------
def test_settings_defaults_match_the_role_defaults():
    import yaml

    defaults = yaml.safe_load((ROOT / "roles" / "shared" / "migrations" / "defaults" / "main.yml").read_text())
    s = migrate.Settings({})
    assert s.lock_timeout == defaults["migrations_lock_timeout"] == "5s"
    assert s.statement_timeout == defaults["migrations_statement_timeout"] == "5min"
    assert s.table == defaults["migrations_table"]
    assert s.connect_timeout == defaults["migrations_db_connect_timeout"]
    assert migrate.Settings({"APP_CONNECT_TIMEOUT": "3"}).connect_timeout == 3


@pytest.mark.parametrize("env, name", [
    ({"APP_MIGRATE_LOCK_TIMEOUT": "5 seconds"}, "APP_MIGRATE_LOCK_TIMEOUT"),
    ({"APP_MIGRATE_STATEMENT_TIMEOUT": "1'; DROP TABLE items; --"}, "APP_MIGRATE_STATEMENT_TIMEOUT"),
    ({"APP_MIGRATE_TABLE": "Schema-Migrations"}, "APP_MIGRATE_TABLE"),
])
def test_bad_settings_name_the_variable(env, name):
    with pytest.raises(config.ConfigError, match=name):
        migrate.Settings(env)


def test_bad_configuration_exits_2_with_a_json_line_and_never_connects(tmp_path):
    def connect(*_a):
        raise AssertionError("must not connect")

    out = io.StringIO()
    code = migrate.main({"APP_MIGRATE_LOCK_TIMEOUT": "soon"}, directory=APP / "migrations", connect=connect, out=out)
    assert code == 2
    summary = json.loads(out.getvalue())
    assert summary["status"] == "error" and "APP_MIGRATE_LOCK_TIMEOUT" in summary["error"]
    out = io.StringIO()
    assert migrate.main({}, directory=tmp_path / "missing", connect=connect, out=out) == 2
    (tmp_path / "0001_x.sql").write_text("BEGIN; SELECT 1; COMMIT;")
    out = io.StringIO()
    assert migrate.main({}, directory=tmp_path, connect=connect, out=out) == 2
    assert "transaction control" in json.loads(out.getvalue())["error"]


# --- runner, through a recording stand-in for the DB-API connection -----------------------------
class FakeError(Exception):
    pass


class FakeDB:
    """Enough of PostgreSQL's observable behaviour for the runner's control flow: a bookkeeping table
    whose rows become visible on commit, statements logged per transaction, errors on chosen SQL."""

    def __init__(self, rows=None, table=False, fail_on=(), connect_error=None):
        self.rows = dict(rows or {})
        self.table = table or bool(rows)
        self.fail_on = fail_on
        self.connect_error = connect_error
        self.log = []          # every statement in order, with "COMMIT"/"ROLLBACK" markers
        self.pending_rows = {}
        self.closed = False

    def connect(self, cfg, settings):
        if self.connect_error:
            raise FakeError(self.connect_error)
        self.cfg, self.settings = cfg, settings
        return FakeConn(self)


class FakeConn:
    def __init__(self, db):
        self.db = db
        self.autocommit = False

    def cursor(self):
        return FakeCursor(self.db, self)

    def commit(self):
        self.db.log.append("COMMIT")
        self.db.rows.update(self.db.pending_rows)
        self.db.pending_rows = {}

    def rollback(self):
        self.db.log.append("ROLLBACK")
        self.db.pending_rows = {}

    def close(self):
        self.db.closed = True


class FakeCursor:
    def __init__(self, db, conn):
        self.db, self.conn, self._result = db, conn, []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, params=None):
        db = self.db
        db.log.append((sql, params, self.conn.autocommit))
        if any(bad in sql for bad in db.fail_on):
            raise FakeError(f'relation "nope" does not exist\nLINE 1: {sql}')
        if sql.startswith("SELECT to_regclass"):
            self._result = [(db.table,)]
        elif sql.startswith("SELECT version, checksum"):
            self._result = sorted(db.rows.items())
        elif sql.startswith("CREATE TABLE IF NOT EXISTS public."):
            db.table = True
        elif sql.startswith("INSERT INTO public."):
            db.pending_rows[params[0]] = params[1]

    def fetchone(self):
        return self._result[0]

    def fetchall(self):
        return list(self._result)


def run(db, directory, env=None):
    out = io.StringIO()
    code = migrate.main(dict(env or {}), directory=directory, connect=db.connect, out=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1, lines  # exactly one JSON summary line
    return code, json.loads(lines[0])


@pytest.fixture
def shipped_dir(tmp_path):
    for m in SHIPPED:
        (tmp_path / m["name"]).write_text(m["sql"])
    return tmp_path


def transactions(log):
    """Statements grouped by transaction (non-autocommit statements up to COMMIT/ROLLBACK)."""
    groups, current = [], []
    for entry in log:
        if entry in ("COMMIT", "ROLLBACK"):
            groups.append((current, entry))
            current = []
        elif not entry[2]:
            current.append(entry)
    return groups


def test_fresh_database_gets_table_then_each_migration_in_its_own_transaction(shipped_dir):
    db = FakeDB()
    code, summary = run(db, shipped_dir, {"APP_MIGRATE_LOCK_TIMEOUT": "2s", "APP_MIGRATE_STATEMENT_TIMEOUT": "90s"})
    assert code == 0 and summary["status"] == "ok"
    assert summary["applied"] == ["0001_a.sql", "0002_b.sql", "0003_c.sql"]
    assert summary["schema_version"] == "0003_c.sql" and summary["applied_before"] == []
    create = [e for e in db.log if e != "COMMIT" and e != "ROLLBACK" and e[0].startswith("CREATE TABLE")]
    assert len(create) == 1 and "version text PRIMARY KEY" in create[0][0] and "DEFAULT now()" in create[0][0]
    groups = transactions(db.log)
    assert [end for _s, end in groups] == ["COMMIT"] * 3
    for (statements, _end), m in zip(groups, sorted(SHIPPED, key=lambda m: m["name"])):
        sql = [s for s, _p, _a in statements]
        assert sql[0] == "SET LOCAL lock_timeout = %s" and statements[0][1] == ("2s",)
        assert sql[1] == "SET LOCAL statement_timeout = %s" and statements[1][1] == ("90s",)
        assert sql[2] == m["sql"] and statements[2][1] is None  # executed verbatim, no %-interpolation
        assert sql[3].startswith("INSERT INTO public.schema_migrations (version, checksum, applied_at)")
        assert statements[3][1] == (m["name"], migrate.checksum(m["sql"]))
    assert db.rows == {m["name"]: migrate.checksum(m["sql"]) for m in SHIPPED}
    # concurrent runners are serialised before anything is read
    assert db.log[1][0].startswith("SELECT pg_advisory_lock") and db.closed


def test_up_to_date_database_applies_nothing(shipped_dir):
    db = FakeDB(rows={m["name"]: migrate.checksum(m["sql"]) for m in SHIPPED})
    code, summary = run(db, shipped_dir)
    assert (code, summary["status"], summary["applied"], summary["pending"]) == (0, "ok", [], [])
    assert summary["schema_version"] == "0003_c.sql"
    assert not any(e != "COMMIT" and e[0].startswith(("CREATE", "INSERT", "SELECT 1")) for e in db.log)


def test_changed_checksum_is_refused_before_anything_is_applied(shipped_dir):
    db = FakeDB(rows={"0001_a.sql": migrate.checksum("SELECT 1; -- as first shipped")})
    code, summary = run(db, shipped_dir)
    assert code == 2 and summary["status"] == "refused"
    assert summary["changed"] == ["0001_a.sql"] and "0001_a.sql" in summary["error"]
    assert "nothing was applied" in summary["error"] and summary["applied"] == []
    assert transactions(db.log) == [] and not any(e[0] in ("SELECT 2;", "SELECT 3;") for e in db.log)


def test_first_failing_migration_stops_the_run_and_is_named(shipped_dir):
    db = FakeDB(rows={"0001_a.sql": migrate.checksum("SELECT 1;")}, fail_on=("SELECT 2;",))
    code, summary = run(db, shipped_dir)
    assert code == 1 and summary["status"] == "failed" and summary["failed"] == "0002_b.sql"
    assert "migration 0002_b.sql failed and was rolled back" in summary["error"]
    assert "Not attempted: 0003_c.sql" in summary["error"] and 'relation "nope"' in summary["error"]
    assert summary["applied"] == [] and "0002_b.sql" not in db.rows
    assert [end for _s, end in transactions(db.log)] == ["ROLLBACK"]
    assert not any(e != "ROLLBACK" and e[0] == "SELECT 3;" for e in db.log)


def test_failure_after_earlier_migrations_keeps_them_and_lists_them(shipped_dir):
    db = FakeDB(fail_on=("SELECT 3;",))
    code, summary = run(db, shipped_dir)
    assert code == 1 and summary["applied"] == ["0001_a.sql", "0002_b.sql"] and summary["failed"] == "0003_c.sql"
    assert "Applied by this run before it: 0001_a.sql, 0002_b.sql" in summary["error"]
    assert set(db.rows) == {"0001_a.sql", "0002_b.sql"}


def test_unreachable_database_exits_1_naming_it(shipped_dir):
    db = FakeDB(connect_error="could not connect to server: Connection refused")
    code, summary = run(db, shipped_dir, {"APP_DATABASE_HOST": "db.example", "APP_DATABASE_PORT": "6543"})
    assert code == 1 and "db.example:6543" in summary["error"] and "Connection refused" in summary["error"]


def test_rows_of_a_newer_release_are_reported_not_touched(shipped_dir):
    rows = {m["name"]: migrate.checksum(m["sql"]) for m in SHIPPED}
    rows["0004_newer.sql"] = "f" * 64
    code, summary = run(FakeDB(rows=rows), shipped_dir)
    assert code == 0 and summary["unknown"] == ["0004_newer.sql"] and summary["schema_version"] == "0004_newer.sql"


def test_password_never_appears_in_the_output(shipped_dir, tmp_path, capsys):
    secret = tmp_path / "pw"
    secret.write_text("s3cr3t-value\n")
    db = FakeDB(connect_error="password authentication failed for user \"webstack\"")
    code, summary = run(db, shipped_dir, {"APP_DATABASE_PASSWORD_FILE": str(secret)})
    assert code == 1 and "s3cr3t" not in json.dumps(summary) and "s3cr3t" not in capsys.readouterr().err


def test_cli_lists_the_command_and_reports_bad_configuration_as_json():
    env = {"PYTHONPATH": str(APP), "PYTHONDONTWRITEBYTECODE": "1", "APP_MIGRATE_STATEMENT_TIMEOUT": "forever",
           "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-m", "webstack_app", "migrate"], env=env, capture_output=True,
                         text=True, timeout=30, check=False)
    assert res.returncode == 2, res.stderr
    assert json.loads(res.stdout)["status"] == "error" and "APP_MIGRATE_STATEMENT_TIMEOUT" in res.stderr
    helptext = subprocess.run([sys.executable, "-m", "webstack_app", "--help"], env=env, capture_output=True,
                              text=True, timeout=30, check=False).stdout
    assert "migrate" in helptext
