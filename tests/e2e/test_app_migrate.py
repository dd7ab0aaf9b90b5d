"""`python3 -m webstack_app migrate` against a REAL PostgreSQL (the project's webstack/postgres:15 image),
and its agreement with the Ansible role `migrations`: a database migrated by either runner is up to date
for the other, and a changed checksum is refused by both.

The command also runs inside a real app image built from images/app/Dockerfile with the working tree's
app/ (what the aws platform's one-off ECS migration task runs), sharing the database container's network.
Everything started here is named `appmig-<id>` and removed at the end.
"""
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from support.pgcontainer import PgContainer  # tests/support/pgcontainer.py

psycopg2 = pytest.importorskip("psycopg2")

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"
SHIPPED_DIR = APP / "migrations"
BASE_IMAGE = "webstack/base:bookworm"
PREFIX = "appmig-"

sys.dont_write_bytecode = True  # keep app/ free of __pycache__ (it is an image build context)
from webstack_app import migrate, migrations  # noqa: E402  (after sys.dont_write_bytecode)


def docker(*args, check=True, timeout=300):
    res = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and res.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {res.stderr.strip()}")
    return res


@pytest.fixture(scope="module")
def pg(docker_images):  # docker_images: webstack/postgres:15 built when missing
    """A webstack/postgres:15 container (tests/support/pgcontainer.py): user `postgres` with a password of its own, on a free
    127.0.0.1 port below 32768; named `appmig-pg-<id>`, removed with its volume at the end."""
    container = PgContainer(prefix=PREFIX).start(timeout=90)
    yield container
    container.stop()


@pytest.fixture
def database(pg, request):
    """A fresh database per test, dropped afterwards."""
    name = "t_" + "".join(ch if ch.isalnum() else "_" for ch in request.node.name.lower())[:50]
    conn = pg.connect()  # autocommit
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    yield name
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def query(pg, dbname, sql, params=None):
    return pg.query(sql, params, database=dbname)


def recorded(pg, dbname):
    return dict(query(pg, dbname, "SELECT version, checksum FROM public.schema_migrations ORDER BY version"))


def app_env(pg, dbname, **extra):
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(APP), "PYTHONDONTWRITEBYTECODE": "1",
           "APP_DATABASE_HOST": "127.0.0.1", "APP_DATABASE_PORT": str(pg.port), "APP_DATABASE_NAME": dbname,
           "APP_DATABASE_USER": "postgres", "APP_DATABASE_PASSWORD_FILE": str(pg.password_file),
           "APP_DATABASE_SSLMODE": "disable", "WEBSTACK_APP_MIGRATIONS_DIR": str(SHIPPED_DIR)}
    env.update(extra)
    return env


def app_migrate(pg, dbname, directory=SHIPPED_DIR, **extra):
    """Run the command on the controller (venv python + psycopg2-binary); (exit code, summary, stderr)."""
    env = app_env(pg, dbname, WEBSTACK_APP_MIGRATIONS_DIR=str(directory), **extra)
    res = subprocess.run([sys.executable, "-m", "webstack_app", "migrate"], env=env, capture_output=True,
                         text=True, timeout=120, check=False)
    lines = res.stdout.splitlines()
    assert len(lines) == 1, (res.stdout, res.stderr)
    return res.returncode, json.loads(lines[0]), res.stderr


def role(pg, dbname, migrations_list, tmp_path):
    """Apply the Ansible role `migrations` (entry point main) as a playbook does; (rc, facts, output)."""
    result = tmp_path / f"role-result-{uuid.uuid4().hex[:6]}.json"
    playbook = tmp_path / "role.yml"
    playbook.write_text(json.dumps([{
        "name": "Apply the migrations role", "hosts": "localhost", "connection": "local", "gather_facts": False,
        "tasks": [
            {"name": "Migrate", "ansible.builtin.include_role": {"name": "migrations"}},
            {"name": "Save the facts", "ansible.builtin.copy": {
                "dest": str(result), "mode": "0600",
                "content": "{{ {'pending': migrations_pending, 'applied': migrations_applied, "
                           "'applied_before': migrations_applied_before} | to_json }}"}},
        ]}]))
    extra = tmp_path / "role-vars.json"
    extra.write_text(json.dumps({
        "migrations_list": migrations_list, "migrations_db_host": "127.0.0.1", "migrations_db_port": pg.port,
        "migrations_db_name": dbname, "migrations_db_user": "postgres", "migrations_db_password": pg.password,
        "migrations_db_ssl_mode": "disable", "ansible_python_interpreter": sys.executable}))
    extra.chmod(0o600)
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {"localhost": {"ansible_connection": "local"}}}}))
    res = subprocess.run(["ansible-playbook", "-i", str(inventory), str(playbook), "-e", f"@{extra}"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=300, check=False)
    facts = json.loads(result.read_text()) if res.returncode == 0 else None
    return res.returncode, facts, res.stdout + res.stderr


def shipped():
    return migrations.load(SHIPPED_DIR)


def copy_shipped(tmp_path, name="shipped"):
    target = tmp_path / name
    shutil.copytree(SHIPPED_DIR, target)
    return target


def expected_rows(items):
    return {m["name"]: migrate.checksum(m["sql"]) for m in items}


# --- the two runners agree ------------------------------------------------------------------------
def test_database_migrated_by_the_role_is_up_to_date_for_the_app(pg, database, tmp_path):
    rc, facts, output = role(pg, database, shipped(), tmp_path)
    assert rc == 0, output[-3000:]
    names = [m["name"] for m in shipped()]
    assert facts["applied"] == names and recorded(pg, database) == expected_rows(shipped())

    code, summary, err = app_migrate(pg, database)
    assert code == 0, err
    assert (summary["status"], summary["pending"], summary["applied"]) == ("ok", [], [])
    assert summary["applied_before"] == names and summary["schema_version"] == names[-1]


@pytest.fixture(scope="module")
def app_image(pg):
    """The app image built from images/app/Dockerfile with this working tree's app/ (removed afterwards)."""
    assert docker("image", "inspect", BASE_IMAGE, check=False).returncode == 0, f"{BASE_IMAGE} not built"
    tag = f"{PREFIX}app:{uuid.uuid4().hex[:8]}"
    docker("build", "-q", "-f", str(ROOT / "images" / "app" / "Dockerfile"), "--build-arg", f"BASE_IMAGE={BASE_IMAGE}",
           "--build-arg", "APP_VERSION=9.9.9-appmig", "-t", tag, str(APP), timeout=900)
    yield tag
    docker("rmi", "-f", tag, check=False)


def test_database_migrated_by_the_app_image_is_up_to_date_for_the_role(pg, database, app_image, tmp_path):
    # As the ECS task runs it: the image's own migrations, uid 10001, the password injected as APP_DATABASE_PASSWORD
    # (task definition `secrets` valueFrom; `-e NAME` takes the value from docker's environment, off the command line).
    res = subprocess.run(
        ["docker", "run", "--rm", "--name", f"{PREFIX}task-{uuid.uuid4().hex[:6]}", "--network", f"container:{pg.name}",
         "-e", "APP_DATABASE_HOST=127.0.0.1", "-e", "APP_DATABASE_PORT=5432", "-e", f"APP_DATABASE_NAME={database}",
         "-e", "APP_DATABASE_USER=postgres", "-e", "APP_DATABASE_PASSWORD", "-e", "APP_DATABASE_SSLMODE=prefer",
         app_image, "python3", "-m", "webstack_app", "migrate"],
        env=dict(os.environ, APP_DATABASE_PASSWORD=pg.password), capture_output=True, text=True, timeout=120,
        check=False)
    assert res.returncode == 0, res.stderr
    assert pg.password not in res.stdout + res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    names = [m["name"] for m in shipped()]
    assert summary["status"] == "ok" and summary["applied"] == names
    assert recorded(pg, database) == expected_rows(shipped())
    columns = query(pg, database, "SELECT column_name, data_type, is_nullable, column_default FROM "
                    "information_schema.columns WHERE table_name = 'schema_migrations' ORDER BY ordinal_position")
    assert [c[:3] for c in columns] == [("version", "text", "NO"), ("checksum", "text", "NO"),
                                        ("applied_at", "timestamp with time zone", "NO")]
    assert columns[2][3] == "now()"
    assert query(pg, database, "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                 "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'public.schema_migrations'::regclass "
                 "AND i.indisprimary") == [("version",)]
    assert query(pg, database, "SELECT count(*) FROM items") == [(0,)]  # the schema really exists

    rc, facts, output = role(pg, database, shipped(), tmp_path)
    assert rc == 0, output[-3000:]
    assert facts == {"pending": [], "applied": [], "applied_before": names}


def test_changed_checksum_is_refused_by_both_runners(pg, database, tmp_path):
    code, summary, err = app_migrate(pg, database)
    assert code == 0 and summary["applied"], err
    before = recorded(pg, database)
    edited = copy_shipped(tmp_path)
    first = sorted(edited.glob("*.sql"))[0]
    first.write_text(first.read_text() + "-- edited after it was applied\n")
    (edited / "0900_new_table.sql").write_text("CREATE TABLE appmig_new (id int);\n")

    code, summary, err = app_migrate(pg, database, directory=edited)
    assert code == 2 and summary["status"] == "refused"
    assert summary["changed"] == [first.name] and first.name in err and "nothing was applied" in err
    assert summary["applied"] == []

    rc, _facts, output = role(pg, database, migrations.load(edited), tmp_path)
    assert rc != 0 and f"migration(s) {first.name} changed after being applied" in output

    assert recorded(pg, database) == before  # neither runner applied the pending 0900
    assert query(pg, database, "SELECT to_regclass('public.appmig_new') IS NULL") == [(True,)]


# --- failures -------------------------------------------------------------------------------------
def test_first_failing_migration_is_named_and_leaves_nothing_behind(pg, database, tmp_path):
    directory = copy_shipped(tmp_path)
    (directory / "0901_broken.sql").write_text(
        "ALTER TABLE items ADD COLUMN half_done int;\nINSERT INTO no_such_table VALUES (1);\n")
    (directory / "0902_after.sql").write_text("CREATE TABLE appmig_after (id int);\n")
    code, summary, err = app_migrate(pg, database, directory=directory)
    assert code == 1 and summary["status"] == "failed" and summary["failed"] == "0901_broken.sql"
    assert "migration 0901_broken.sql failed and was rolled back" in err and "no_such_table" in err
    assert "Not attempted: 0902_after.sql" in summary["error"]
    names = [m["name"] for m in shipped()]
    assert summary["applied"] == names and sorted(recorded(pg, database)) == names
    assert query(pg, database, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' "
                 "AND column_name = 'half_done'") == [(0,)]
    assert query(pg, database, "SELECT to_regclass('public.appmig_after') IS NULL") == [(True,)]


def test_lock_timeout_is_set_per_migration(pg, database, tmp_path):
    assert app_migrate(pg, database)[0] == 0
    directory = copy_shipped(tmp_path)
    (directory / "0903_needs_lock.sql").write_text("ALTER TABLE items ADD COLUMN locked_out int;\n")
    blocker = pg.connect(database, autocommit=False)  # a transaction, held open below
    try:
        with blocker.cursor() as cur:
            cur.execute("SELECT count(*) FROM items")  # open transaction holds ACCESS SHARE on items
        started = time.monotonic()
        code, summary, err = app_migrate(pg, database, directory=directory, APP_MIGRATE_LOCK_TIMEOUT="1s")
        took = time.monotonic() - started
    finally:
        blocker.rollback()
        blocker.close()
    assert code == 1 and summary["failed"] == "0903_needs_lock.sql" and "lock timeout" in err, err
    assert took < 20, f"took {took:.1f}s: lock_timeout was not applied"
    code, summary, err = app_migrate(pg, database, directory=directory, APP_MIGRATE_LOCK_TIMEOUT="1s")
    assert code == 0 and summary["applied"] == ["0903_needs_lock.sql"], err


def test_statement_timeout_is_set_per_migration(pg, database, tmp_path):
    directory = tmp_path / "slow"
    directory.mkdir()
    (directory / "0001_slow.sql").write_text("SELECT pg_sleep(30);\n")
    started = time.monotonic()
    code, summary, err = app_migrate(pg, database, directory=directory, APP_MIGRATE_STATEMENT_TIMEOUT="1s")
    assert code == 1 and summary["failed"] == "0001_slow.sql" and "statement timeout" in err, err
    assert time.monotonic() - started < 20
    assert recorded(pg, database) == {}  # the table was created, the failed migration left no row


def test_concurrent_runners_apply_each_migration_once(pg, database):
    results = []

    def run():
        results.append(app_migrate(pg, database))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert [r[0] for r in results] == [0, 0], [r[2] for r in results]
    applied = sorted(name for r in results for name in r[1]["applied"])
    assert applied == [m["name"] for m in shipped()]  # each applied by exactly one runner
    assert recorded(pg, database) == expected_rows(shipped())


def test_unreachable_database_exits_1_naming_the_address(pg, database):
    code, summary, err = app_migrate(pg, database, APP_DATABASE_PORT="1", APP_CONNECT_TIMEOUT="2")
    assert code == 1 and "127.0.0.1:1/" in summary["error"] and "cannot connect" in err
