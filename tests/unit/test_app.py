"""Unit tests of the reference application (app/webstack_app) for the parts that need no database:
configuration, migrations, build facts, the HTTP layer (with in-process fake backends) and the
graceful stop of the real server process."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

sys.dont_write_bytecode = True  # keep app/ free of __pycache__ (it is an image build context)
ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"

from webstack_app import build_info, config, migrations  # noqa: E402  (after sys.dont_write_bytecode)
from webstack_app.backends import BackendError  # noqa: E402  (after sys.dont_write_bytecode)
from webstack_app.server import make_server  # noqa: E402  (after sys.dont_write_bytecode)


# --- configuration -------------------------------------------------------------------------------
def test_config_defaults_follow_the_contract():
    cfg = config.from_env({})
    assert (cfg.port, cfg.db_port, cfg.redis_port) == (8000, 5432, 6379)
    assert (cfg.db_name, cfg.db_user) == ("webstack", "webstack_app")
    assert cfg.connect_timeout == 1.0


def test_secrets_come_from_files_and_never_show_in_repr(tmp_path):
    (tmp_path / "db").write_text("db-secret-value\n")
    (tmp_path / "redis").write_text("redis-secret-value")
    cfg = config.from_env({"APP_DATABASE_PASSWORD_FILE": str(tmp_path / "db"),
                           "APP_REDIS_PASSWORD_FILE": str(tmp_path / "redis"),
                           "APP_DATABASE_HOST": "pg", "APP_DATABASE_PORT": "15432"})
    assert cfg.db_password == "db-secret-value"  # trailing newline stripped
    assert cfg.redis_password == "redis-secret-value"
    assert (cfg.db_host, cfg.db_port) == ("pg", 15432)
    assert "secret" not in repr(cfg) and "secret" not in str(cfg)


def test_file_wins_over_env_value(tmp_path):
    (tmp_path / "db").write_text("from-file")
    cfg = config.from_env({"APP_DATABASE_PASSWORD_FILE": str(tmp_path / "db"), "APP_DATABASE_PASSWORD": "from-env"})
    assert cfg.db_password == "from-file"
    assert config.from_env({"APP_DATABASE_PASSWORD": "from-env"}).db_password == "from-env"


@pytest.mark.parametrize("env, message", [
    ({"APP_DATABASE_PASSWORD_FILE": "/nonexistent/secret"}, "APP_DATABASE_PASSWORD_FILE"),
    ({"APP_PORT": "eighty"}, "APP_PORT"),
    ({"APP_REDIS_PORT": "70000"}, "APP_REDIS_PORT"),
    ({"APP_CONNECT_TIMEOUT": "0"}, "APP_CONNECT_TIMEOUT"),
])
def test_bad_configuration_names_the_variable(env, message):
    with pytest.raises(config.ConfigError, match=message):
        config.from_env(env)


# --- migrations ----------------------------------------------------------------------------------
def test_repository_migrations_are_valid_sorted_and_transaction_free():
    shipped = migrations.load(APP / "migrations")
    names = [m["name"] for m in shipped]
    assert names == sorted(names) and names[:2] == ["0001_create_items.sql", "0002_add_items_category.sql"]
    for m in shipped:
        assert not migrations.TXN_RE.search(m["sql"]), m["name"]
    assert "CREATE TABLE" in shipped[0]["sql"] and "items" in shipped[0]["sql"]
    assert "DEFAULT" in shipped[1]["sql"]


def test_select_limits_to_upto():
    shipped = migrations.load(APP / "migrations")
    assert [m["name"] for m in migrations.select(shipped, "0001")] == ["0001_create_items.sql"]
    assert migrations.select(shipped, "") == shipped
    with pytest.raises(migrations.MigrationError, match="four digits"):
        migrations.select(shipped, "1")
    with pytest.raises(migrations.MigrationError, match="no migration"):
        migrations.select(shipped, "0999")


@pytest.mark.parametrize("name, sql, message", [
    ("0003_x.sql", "BEGIN;\nCREATE TABLE t (i int);\nCOMMIT;\n", "transaction control"),
    ("0003_x.sql", "create table t (i int);\n  commit;", "transaction control"),
    ("0003_x.sql", "   \n", "empty"),
    ("3_x.sql", "SELECT 1;", "NNNN"),
])
def test_bad_migrations_are_refused(tmp_path, name, sql, message):
    (tmp_path / name).write_text(sql)
    with pytest.raises(migrations.MigrationError, match=message):
        migrations.load(tmp_path)


def test_duplicate_numbers_are_refused(tmp_path):
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0001_b.sql").write_text("SELECT 2;")
    with pytest.raises(migrations.MigrationError, match="0001"):
        migrations.load(tmp_path)


def test_begin_inside_a_function_body_word_is_not_a_false_positive(tmp_path):
    (tmp_path / "0001_a.sql").write_text("ALTER TABLE items ADD COLUMN committed_at timestamptz;  -- begins here\n")
    assert migrations.load(tmp_path)[0]["name"] == "0001_a.sql"


def test_bake_ships_selected_migrations_and_build_facts(tmp_path):
    info = tmp_path / "build.json"
    shipped = build_info.bake(APP / "migrations", tmp_path / "out", "1.2.3", "1", "0001", info_path=info)
    assert shipped == ["0001_create_items.sql"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0001_create_items.sql"]
    assert build_info.load(info) == {"version": "1.2.3", "broken": True}
    build_info.bake(APP / "migrations", tmp_path / "out2", "2.0.0", "0", "", info_path=info)
    assert build_info.load(info) == {"version": "2.0.0", "broken": False}
    assert build_info.load(tmp_path / "missing.json")["version"] == "0.0.0-dev"


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "webstack_app", *args], cwd=APP, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1", **(env or {})), timeout=30, check=False)


def test_cli_migrations_prints_json(tmp_path):
    res = _cli("migrations", env={"WEBSTACK_APP_MIGRATIONS_DIR": str(APP / "migrations")})
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert [m["name"] for m in data] == sorted(m["name"] for m in data)
    assert set(data[0]) == {"name", "sql"}


def test_cli_version(tmp_path):
    (tmp_path / "build.json").write_text('{"version": "3.1.4", "broken": false}')
    res = _cli("version", env={"WEBSTACK_APP_BUILD_INFO": str(tmp_path / "build.json")})
    assert res.stdout.strip() == "3.1.4"


# --- HTTP layer with fake backends ---------------------------------------------------------------
class FakeBackends:
    def __init__(self):
        self.items, self.down, self.closed = [], set(), False

    def _check(self, name):
        if name in self.down:
            raise BackendError(f"{name}: connection refused")

    def check_postgres(self):
        self._check("postgres")

    def check_redis(self):
        self._check("redis")

    def list_items(self):
        self._check("postgres")
        return list(self.items)

    def create_item(self, name):
        self._check("postgres")
        item = {"id": len(self.items) + 1, "name": name}
        self.items.append(item)
        return item, len(self.items)

    def created_total(self):
        self._check("redis")
        return len(self.items)

    def close(self):
        self.closed = True


@pytest.fixture
def served():
    started = []

    def start(broken=False):
        backends = FakeBackends()
        cfg = config.Config(listen_address="127.0.0.1", port=0)
        server = make_server(cfg, backends, {"version": "9.8.7", "broken": broken})
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        started.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", backends

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def call(url, method="GET", body=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_health_version_and_ready(served):
    base, _ = served()
    assert call(base + "/health") == (200, {"status": "ok"})
    assert call(base + "/version") == (200, {"version": "9.8.7"})
    status, body = call(base + "/health/ready")
    assert status == 200 and body["checks"] == {"postgres": "ok", "redis": "ok"}


@pytest.mark.parametrize("down", [{"postgres"}, {"redis"}, {"postgres", "redis"}])
def test_ready_names_the_failed_dependency(served, down):
    base, backends = served()
    backends.down = set(down)
    status, body = call(base + "/health/ready")
    assert status == 503
    assert set(body["failed"]) == down
    assert call(base + "/health")[0] == 200  # alive although not ready


def test_broken_build_is_never_ready(served):
    base, _ = served(broken=True)
    status, body = call(base + "/health/ready")
    assert status == 503 and body["failed"] == ["build"]
    assert call(base + "/health")[0] == 200
    assert call(base + "/version")[0] == 200


def test_items_roundtrip_and_validation(served):
    base, backends = served()
    assert call(base + "/items") == (200, {"items": [], "count": 0, "created_total": 0})
    status, body = call(base + "/items", "POST", {"name": "  first  "})
    assert status == 201 and body["item"]["name"] == "first" and body["created_total"] == 1
    assert call(base + "/items")[1]["count"] == 1
    assert call(base + "/items", "POST", {"nam": "x"})[0] == 400
    assert call(base + "/items", "POST", {"name": ""})[0] == 400
    assert call(base + "/items", "POST", {"name": "x" * 201})[0] == 400
    assert call(base + "/items", "POST", raw=b"{not json")[0] == 400
    assert call(base + "/items", "POST", raw=b"x" * (64 * 1024 + 1))[0] == 413
    backends.down = {"postgres"}
    status, body = call(base + "/items")
    assert status == 503 and "postgres" in body["error"]


def test_unknown_path_and_method(served):
    base, _ = served()
    assert call(base + "/nope")[0] == 404
    assert call(base + "/version", "DELETE")[0] == 405


# --- graceful stop of the real process -----------------------------------------------------------
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port, deadline=10.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"port {port} never opened")


def test_sigterm_finishes_in_flight_request_and_exits_0(tmp_path):
    pytest.importorskip("psycopg2")
    # A "database" that accepts TCP connections but never answers: the request to /items is in
    # flight (APP_CONNECT_TIMEOUT=2 s) when SIGTERM arrives.
    silent_db = socket.socket()
    silent_db.bind(("127.0.0.1", 0))
    silent_db.listen(8)
    port = _free_port()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", APP_LISTEN_ADDRESS="127.0.0.1", APP_PORT=str(port),
               APP_DATABASE_HOST="127.0.0.1", APP_DATABASE_PORT=str(silent_db.getsockname()[1]), APP_CONNECT_TIMEOUT="2",
               WEBSTACK_APP_BUILD_INFO=str(tmp_path / "none.json"))
    proc = subprocess.Popen([sys.executable, "-m", "webstack_app", "serve"], cwd=APP, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_port(port)
        result = {}

        def request():
            started = time.monotonic()
            result["status"] = call(f"http://127.0.0.1:{port}/items")[0]
            result["seconds"] = time.monotonic() - started

        client = threading.Thread(target=request)
        client.start()
        time.sleep(0.5)  # the request is now waiting on the silent database
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        with pytest.raises(OSError):  # no longer accepting
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        client.join(10)
        assert result.get("status") == 503, result  # answered, not cut off
        assert result["seconds"] >= 1.5
        assert proc.wait(10) == 0
        assert "finishing in-flight requests" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        silent_db.close()
