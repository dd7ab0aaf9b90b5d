"""testinfra checks of role docker_postgres (stack `mol-postgres`, published on 127.0.0.1:25432)."""
import json
import uuid

import psycopg2
import pytest

STACK = "mol-postgres"
STATE = f"/var/lib/webstack/{STACK}"
PORT = 25432
CONTAINER = f"{STACK}-postgres"


def _secret(host, name):
    return host.file(f"{STATE}/secrets/{name}").content_string.strip()


def _connect(host, user, secret, dbname="webstack"):
    return psycopg2.connect(host="127.0.0.1", port=PORT, dbname=dbname, user=user,
                            password=_secret(host, secret), connect_timeout=5)


@pytest.fixture(scope="module")
def inspect(host):
    return json.loads(host.check_output(f"docker inspect {CONTAINER}"))[0]


def test_container_healthy_and_labelled(inspect):
    assert inspect["State"]["Health"]["Status"] == "healthy"
    assert inspect["Config"]["Labels"]["webstack.stack"] == STACK
    assert inspect["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"


def test_port_published_on_loopback_only(host, inspect):
    bindings = [b for v in inspect["HostConfig"]["PortBindings"].values() for b in v]
    assert bindings == [{"HostIp": "127.0.0.1", "HostPort": str(PORT)}]
    assert host.socket(f"tcp://127.0.0.1:{PORT}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{PORT}").is_listening


def test_data_volume_and_read_only_secret(inspect):
    mounts = {m["Destination"]: m for m in inspect["Mounts"]}
    assert mounts["/var/lib/postgresql/data"]["Type"] == "volume"
    assert mounts["/var/lib/postgresql/data"]["Name"] == f"{STACK}-pgdata"
    secret = mounts["/run/secrets/postgres_password"]
    assert secret["Type"] == "bind" and secret["RW"] is False
    assert mounts["/backups"]["Source"] == f"{STATE}/backups"


def test_password_never_in_the_container_definition(host, inspect):
    password = _secret(host, "postgres_password")
    assert password not in json.dumps(inspect)
    assert "POSTGRES_PASSWORD_FILE=/run/secrets/postgres_password" in inspect["Config"]["Env"]


def test_secret_files_are_private(host):
    assert host.file(f"{STATE}/secrets").mode == 0o700
    for name in ("postgres_password", "app_postgres_password"):
        f = host.file(f"{STATE}/secrets/{name}")
        assert f.mode == 0o600 and len(f.content_string) >= 16


def test_app_role_has_no_elevated_attributes(host):
    with _connect(host, "postgres", "postgres_password") as conn, conn.cursor() as cur:
        cur.execute("SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolcanlogin "
                    "FROM pg_roles WHERE rolname = 'webstack_app'")
        assert cur.fetchone() == (False, False, False, False, False, True)
        cur.execute("SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'webstack'")
        assert cur.fetchone() == ("postgres",)


def test_app_role_gets_dml_on_tables_the_admin_creates_later(host):
    table = f"mol_{uuid.uuid4().hex[:8]}"
    admin = _connect(host, "postgres", "postgres_password")
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE TABLE {table} (id bigserial PRIMARY KEY, name text)")
        app = _connect(host, "webstack_app", "app_postgres_password")
        try:
            with app, app.cursor() as cur:
                cur.execute(f"INSERT INTO {table} (name) VALUES ('a') RETURNING id")
                row_id = cur.fetchone()[0]
                cur.execute(f"UPDATE {table} SET name = 'b' WHERE id = %s", (row_id,))
                cur.execute(f"SELECT name FROM {table}")
                assert cur.fetchall() == [("b",)]
                cur.execute(f"DELETE FROM {table}")
            for ddl in (f"CREATE TABLE {table}_x (id int)", f"DROP TABLE {table}", f"TRUNCATE {table}"):
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    with app, app.cursor() as cur:
                        cur.execute(ddl)
        finally:
            app.close()
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        admin.close()


def test_app_role_cannot_reach_other_databases(host):
    with pytest.raises(psycopg2.OperationalError, match="permission denied"):
        _connect(host, "webstack_app", "app_postgres_password", dbname="postgres")


def test_wrong_password_is_refused(host):
    with pytest.raises(psycopg2.OperationalError, match="authentication failed"):
        psycopg2.connect(host="127.0.0.1", port=PORT, dbname="webstack", user="webstack_app",
                         password="not-the-password-at-all", connect_timeout=5)
