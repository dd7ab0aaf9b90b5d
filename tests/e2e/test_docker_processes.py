"""End to end on the docker platform: an application of several process kinds described in the inventory
(a routed web app, a path-routed and a host-routed HTTP process, two workers, a singleton), deployed blue/green
under load, and the deploy lock. Real Docker engine; the processes are the reference app's image run with
other commands (python3's http.server on other ports, a sleeping worker). Own stack `e2e-procs` (ports 2828x,
2853x, 2847x), removed at the end. The tests share the stack; each declares the release state it needs
(`@pytest.mark.state`, tests/e2e/conftest.py), set up only when the stack does not show it yet."""
import json
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from support.docker import ROOT, LoadLoop, docker, http_request, remove_stack, run_playbook, stack_snapshot

pytestmark = [pytest.mark.slow, pytest.mark.docker]

STACK = "e2e-procs"
STATE_DIR = f"/var/lib/webstack/{STACK}"
PORT = 28280
SERVE_OPT = ["python3", "-m", "http.server", "--directory", "/opt", "--bind", "0.0.0.0"]
SLEEP = ["python3", "-c", "import signal, time; signal.signal(signal.SIGTERM, lambda *a: exit(0)); time.sleep(10**6)"]
PROCESSES = [
    {"name": "web", "command": ["python3", "-m", "webstack_app", "serve"], "port": 8000, "count": 2,
     "route": {"path": "/"}, "health": {"readiness": "/health/ready", "grace": 90}, "memory": 256},
    {"name": "files", "command": SERVE_OPT + ["9000"], "port": 9000, "route": {"path": "/webstack"},
     "health": {"readiness": "/webstack/", "grace": 90}, "memory": 128},
    {"name": "admin", "command": SERVE_OPT + ["9001"], "port": 9001, "route": {"host": "admin.e2e.test"},
     "health": {"readiness": "/", "grace": 90}, "memory": 128},
    {"name": "worker", "command": SLEEP, "count": 2, "stop_timeout": 5, "memory": 64},
    {"name": "beat", "command": SLEEP, "singleton": True, "stop_timeout": 5, "memory": 64},
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, docker_images):
    remove_stack(STACK, STATE_DIR)
    overrides = tmp_path_factory.mktemp("procs") / "overrides.yml"
    overrides.write_text(yaml.safe_dump({
        "webstack_name": STACK, "docker_proxy_published_port": PORT,
        "docker_postgres_published_port": 28532, "docker_redis_published_port": 28479,
        "app_processes": PROCESSES,
        "app_smoke_checks": [],  # the default: each routed process's readiness path through the proxy
        "webstack_secrets_file": str(ROOT / "secrets" / "webstack-local.yml"),  # the local inventory's secrets
    }))
    run = run_playbook("provision", overrides)
    assert run.rc == 0, run.output[-5000:]
    yield {"name": STACK, "overrides": overrides, "state_dir": STATE_DIR, "port": PORT}
    remove_stack(STACK, STATE_DIR)


def _running(process=None):
    filters = ["--filter", f"label=webstack.stack={STACK}", "--filter", "label=webstack.component=app"]
    if process:
        filters += ["--filter", f"label=webstack.process={process}"]
    return sorted(docker("ps", *filters, "--format", "{{.Names}}").split())


def _get(path, host=None):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": host} if host else {})
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def _assert_ok(run, what):
    assert run.rc == 0, f"{what} failed:\n{run.output[-6000:]}"


def test_deploy_every_process_kind(stack):
    run = run_playbook("deploy", stack["overrides"], extra_vars={"app_version": "1.0.0"})
    _assert_ok(run, "deploy 1.0.0")
    names = _running()
    assert names == sorted([f"{STACK}-web-blue-1", f"{STACK}-web-blue-2", f"{STACK}-files-blue-1",
                            f"{STACK}-admin-blue-1", f"{STACK}-worker-blue-1", f"{STACK}-worker-blue-2",
                            f"{STACK}-beat-blue-1"]), names
    status, body = http_request(PORT, "GET", "/version")
    assert status == 200 and json.loads(body)["version"] == "1.0.0"
    status, body = _get("/webstack/")  # path prefix -> files (not stripped)
    assert status == 200 and "webstack_app/" in body, body[:300]
    status, body = _get("/", host="admin.e2e.test")  # host -> admin
    assert status == 200 and "Directory listing for /" in body and "webstack/" in body, body[:300]
    status, body = _get("/", host="other.example")  # the default server -> web
    assert status in (200, 404) and "Directory listing" not in body
    labels = json.loads(docker("inspect", f"{STACK}-worker-blue-1"))[0]["Config"]["Labels"]
    assert {k: labels[k] for k in ("webstack.stack", "webstack.process", "webstack.colour", "webstack.version")} == {
        "webstack.stack": STACK, "webstack.process": "worker", "webstack.colour": "blue", "webstack.version": "1.0.0"}
    # secrets: files 0600 on the docker host, mounted read-only, never in the container's environment
    info = json.loads(docker("inspect", f"{STACK}-web-blue-1"))[0]
    env = dict(e.split("=", 1) for e in info["Config"]["Env"])
    assert env["APP_DATABASE_PASSWORD_FILE"] == "/run/secrets/APP_DATABASE_PASSWORD"
    assert not [k for k in env if k.endswith("PASSWORD")]
    secret = Path(STATE_DIR) / "secrets" / "app" / "web" / "APP_DATABASE_PASSWORD"
    assert oct(secret.stat().st_mode & 0o777) == "0o600" and secret.stat().st_uid == 10001
    mounts = {m["Destination"]: m for m in info["Mounts"]}
    assert mounts["/run/secrets/APP_DATABASE_PASSWORD"]["RW"] is False
    again = run_playbook("deploy", stack["overrides"], extra_vars={"app_version": "1.0.0"})
    _assert_ok(again, "re-deploy")
    assert again.changed == 0, again.output[-4000:]


class Sampler:
    """Counts the running containers of each process every 0.1 s while a playbook runs."""

    def __init__(self):
        self.max, self.samples, self._stop = {}, 0, threading.Event()

    def _run(self):
        while not self._stop.is_set():
            out = subprocess.run(["docker", "ps", "--filter", f"label=webstack.stack={STACK}", "--format",
                                  '{{.Label "webstack.process"}}'], capture_output=True, text=True).stdout.split()
            for proc in set(out) | set(self.max):
                self.max[proc] = max(self.max.get(proc, 0), out.count(proc))
            self.samples += 1
            time.sleep(0.1)

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


@pytest.mark.state(release="1.0.0")
def test_deploy_v2_under_load_never_doubles_the_singleton(stack):
    with Sampler() as sampled, LoadLoop(PORT) as load:
        run = run_playbook("deploy", stack["overrides"], extra_vars={"app_version": "2.0.0"})
    _assert_ok(run, "deploy 2.0.0")
    r = load.result
    assert r.failed == 0 and r.keepalive_failed == 0, r.errors
    assert sampled.samples > 20
    assert sampled.max.get("beat") == 1, f"the singleton ran {sampled.max.get('beat')} times at once"
    assert sampled.max.get("worker", 0) >= 2
    assert json.loads(http_request(PORT, "GET", "/version")[1])["version"] == "2.0.0"
    assert _running("beat") == [f"{STACK}-beat-green-1"] and _running("worker") == [
        f"{STACK}-worker-green-1", f"{STACK}-worker-green-2"]
    # the old colour is kept, stopped, for a fast rollback
    stopped = docker("ps", "-a", "--filter", f"label=webstack.stack={STACK}", "--filter", "label=webstack.colour=blue",
                     "--filter", "status=exited", "--format", "{{.Names}}").split()
    assert len(stopped) == 7, stopped
    assert _get("/webstack/")[0] == 200 and _get("/", host="admin.e2e.test")[0] == 200


def _write_lock(holder):
    Path(STATE_DIR, "release.lock").write_text(json.dumps(holder))


@pytest.mark.state(release="2.0.0", previous="1.0.0")
def test_a_held_lock_refuses_deploy_and_rollback_naming_the_holder(stack):
    now = time.time()
    _write_lock({"operation": "deploy", "version": "9.9.9", "user": "alice", "host": "build-7", "run_id": "other",
                 "taken_at": "2026-12-04T10:00:00Z", "taken_epoch": now - 30, "expires_at": "later",
                 "expires_epoch": now + 600})
    before = stack_snapshot(STACK, STATE_DIR)
    for playbook, extra in (("deploy", {"app_version": "1.0.0"}), ("rollback", {}), ("migrate", {}),
                            ("restore", {"confirm_restore": STACK})):
        run = run_playbook(playbook, stack["overrides"], extra_vars=extra)
        assert run.rc != 0, f"{playbook} must be refused while the stack is locked"
        for part in ("locked by deploy of 9.9.9", "alice", "build-7", "release_lock_break"):
            assert part in run.output, (playbook, part, run.output[-3000:])
        assert run.changed == 0
    assert stack_snapshot(STACK, STATE_DIR) == before
    assert json.loads(Path(STATE_DIR, "release.lock").read_text())["run_id"] == "other", "the holder's lock stays"
    # the holder is known to be dead: break it explicitly
    run = run_playbook("rollback", stack["overrides"], extra_vars={"release_lock_break": True})
    _assert_ok(run, "rollback with release_lock_break")
    assert "took over the lock" in run.output
    assert json.loads(http_request(PORT, "GET", "/version")[1])["version"] == "1.0.0"
    assert not Path(STATE_DIR, "release.lock").exists(), "the run releases the lock it took"


def test_an_expired_lock_is_taken_over(stack):
    now = time.time()
    _write_lock({"operation": "deploy", "user": "bob", "host": "gone", "run_id": "killed",
                 "taken_epoch": now - 4000, "expires_epoch": now - 2200})
    run = run_playbook("deploy", stack["overrides"], extra_vars={"app_version": "2.0.0"})
    _assert_ok(run, "deploy over an expired lock")
    assert "took over the lock of deploy by bob on gone" in run.output
    assert not Path(STATE_DIR, "release.lock").exists()


@pytest.mark.state(release="2.0.0", previous="1.0.0")
def test_two_runs_at_once_one_is_refused(stack):
    cmd = ["ansible-playbook", str(ROOT / "playbooks" / "rollback.yml"), "-i", str(ROOT / "inventories" / "local"),
           "-e", f"@{stack['overrides']}"]
    procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    rcs = [p.returncode for p in procs]
    assert sorted(rcs)[0] == 0 and sorted(rcs)[1] != 0, (rcs, [o[-2000:] for o in outs])
    refused = outs[rcs.index(max(rcs))]
    assert "locked by rollback" in refused, refused[-3000:]
    assert json.loads(http_request(PORT, "GET", "/version")[1])["version"] == "1.0.0"


@pytest.mark.state(release="1.0.0")
def test_sql_dir_migrations_are_applied_by_webstacks_runner(stack, tmp_path):
    """app_migrations.sql_dir: NNN_name.sql files on the controller, applied in order by role migrations (one
    transaction each, checksums in schema_migrations), after a backup; a second run applies nothing."""
    sql = tmp_path / "sql"
    sql.mkdir()
    (sql / "0101_create_notes.sql").write_text("CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL);\n")
    (sql / "0102_add_notes_author.sql").write_text("ALTER TABLE notes ADD COLUMN author text;\n")
    extra = {"app_migrations": {"sql_dir": str(sql)}}
    run = run_playbook("migrate", stack["overrides"], extra_vars=extra)
    _assert_ok(run, "migrate with sql_dir")
    assert "applied 0101_create_notes.sql, 0102_add_notes_author.sql" in run.output.replace("\n", " "), run.output[-3000:]
    assert "pre-migrate" in run.output  # the backup before them
    columns = docker("exec", "-u", "postgres", f"{STACK}-postgres", "psql", "-A", "-t", "-d", "webstack", "-c",
                     "SELECT column_name FROM information_schema.columns WHERE table_name = 'notes' ORDER BY 1")
    assert columns.split() == ["author", "body", "id"]
    again = run_playbook("migrate", stack["overrides"], extra_vars=extra)
    _assert_ok(again, "migrate again")
    assert "applied nothing" in again.output.replace("\n", " "), again.output[-3000:]
