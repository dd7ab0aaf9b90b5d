"""End to end on the docker platform with `inventories/local`: real Docker engine, PostgreSQL,
Redis and nginx. The tests share one stack (see conftest.py); each declares the state it needs
(`@pytest.mark.state(...)`: provisioned, the current and previous release, a backup), which is set up when the
stack does not show it yet: in file order every test finds it left by the one before, alone it is deployed first."""
import json
import re
from pathlib import Path

import psycopg2
import pytest

from support.docker import LoadLoop, docker, http_get, http_request, run_playbook, stack_snapshot

pytestmark = [pytest.mark.slow, pytest.mark.docker]

FIGURES = {}


def _admin_password():
    from pathlib import Path

    return (Path(__file__).resolve().parents[2] / ".secrets" / "local" / "postgres_password").read_text().strip()


def _db(stack):
    return psycopg2.connect(host="127.0.0.1", port=stack["ports"]["postgres"], dbname="webstack",
                            user="postgres", password=_admin_password(), connect_timeout=5)


def _query(stack, sql):
    with _db(stack) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall() if cur.description else None


def _version(stack):
    status, body = http_get(stack["ports"]["proxy"], "/version")
    assert status == 200, body
    return json.loads(body)["version"]


def _assert_ok(run, what):
    assert run.rc == 0, f"{what} failed:\n{run.output[-6000:]}"


def test_provision_is_idempotent_and_check_mode_clean(stack):
    first = run_playbook("provision", stack["overrides"])
    _assert_ok(first, "provision (first run)")
    second = run_playbook("provision", stack["overrides"])
    _assert_ok(second, "provision (second run)")
    assert second.changed == 0, f"second provision reported changed={second.changed}:\n{second.output[-5000:]}"
    check = run_playbook("provision", stack["overrides"], check=True)
    _assert_ok(check, "provision --check --diff")
    assert check.changed == 0, check.output[-5000:]
    FIGURES["provision_first_s"], FIGURES["provision_noop_s"] = first.seconds, second.seconds


@pytest.mark.state()
def test_deploy_v1(stack):
    run = run_playbook("deploy", stack["overrides"], extra_vars={"app_version": "1.0.0"})
    _assert_ok(run, "deploy 1.0.0")
    assert _version(stack) == "1.0.0"
    again = run_playbook("deploy", stack["overrides"], extra_vars={"app_version": "1.0.0"})
    _assert_ok(again, "re-deploy of the live version")
    assert again.changed == 0, "deploying the live version again must change nothing"
    FIGURES["deploy_v1_s"] = run.seconds


@pytest.mark.state(release="1.0.0")
def test_deploy_v2_under_load_has_no_failed_requests(stack):
    with LoadLoop(stack["ports"]["proxy"]) as load:
        run = run_playbook("deploy", stack["overrides"], extra_vars={"app_version": "2.0.0"})
    _assert_ok(run, "deploy 2.0.0")
    r = load.result
    assert r.requests + r.keepalive_requests >= 2000
    assert r.failed == 0, f"{r.failed} of {r.requests} requests failed during deploy: {r.errors}"
    assert r.keepalive_failed == 0, f"keep-alive client: {r.errors}"
    assert _version(stack) == "2.0.0"
    switched = r.first_seen("2.0.0")
    assert switched is not None, "traffic never reached 2.0.0 during the deploy"
    FIGURES["deploy_v2"] = {"seconds": round(run.seconds, 1), "traffic_on_new_after_s": round(switched - run.started, 1),
                            "requests": r.requests, "failed": r.failed, "keepalive_requests": r.keepalive_requests,
                            "keepalive_raw_failures": r.keepalive_raw_failures, "keepalive_failed": r.keepalive_failed}
    # the ledger and the schema follow the release
    assert _query(stack, "SELECT count(*) FROM schema_migrations")[0][0] >= 2


@pytest.mark.state(release="2.0.0")
def test_broken_deploy_fails_and_keeps_serving(stack):
    before = set(_app_containers(stack))
    with LoadLoop(stack["ports"]["proxy"]) as load:
        run = run_playbook("deploy", stack["overrides"], extra_vars={"app_version": "2.1.0-broken"})
    assert run.rc != 0, "deploying a version that never becomes ready must fail"
    assert "ready" in run.output.lower(), "the failure must say the new version did not become ready"
    r = load.result
    assert r.failed == 0 and r.keepalive_failed == 0, r.errors
    assert set(r_v for _, r_v in r.versions) == {"2.0.0"}, f"versions served: {r.versions}"
    assert _version(stack) == "2.0.0"
    after = set(_app_containers(stack))
    assert after == before, f"the failed colour's containers must be removed: {sorted(after ^ before)}"
    FIGURES["failed_deploy"] = {"seconds": round(run.seconds, 1), "requests": r.requests, "failed": r.failed,
                                "keepalive_failed": r.keepalive_failed}


@pytest.mark.state(release="2.0.0", previous="1.0.0")
def test_rollback_to_previous_release(stack):
    with LoadLoop(stack["ports"]["proxy"]) as load:
        run = run_playbook("rollback", stack["overrides"])
    _assert_ok(run, "rollback")
    r = load.result
    assert r.failed == 0 and r.keepalive_failed == 0, r.errors
    assert _version(stack) == "1.0.0"
    back = r.first_seen("1.0.0")
    assert back is not None
    FIGURES["rollback"] = {"seconds": round(run.seconds, 1), "traffic_back_after_s": round(back - run.started, 1),
                           "requests": r.requests, "failed": r.failed, "keepalive_failed": r.keepalive_failed}


@pytest.mark.state(release="1.0.0", previous="2.0.0")
def test_rollback_to_named_release(stack):
    run = run_playbook("rollback", stack["overrides"], extra_vars={"rollback_to": "2.0.0"})
    _assert_ok(run, "rollback_to=2.0.0")
    assert _version(stack) == "2.0.0"


@pytest.mark.state(release="2.0.0", previous="1.0.0")
def test_status_reports_releases_schema_and_backup(stack):
    run = run_playbook("status", stack["overrides"])
    _assert_ok(run, "status")
    assert run.changed == 0
    out = run.output
    assert "2.0.0" in out and "1.0.0" in out, "status must show the current and previous release"


BAD_INPUT = [
    # (playbook, extra vars, variable the message must name)
    ("provision", {"vault_postgres_password": "short-pw"}, "vault_postgres_password"),
    ("provision", {"vault_postgres_app_password": ""}, "vault_postgres_app_password"),
    ("provision", {"vault_redis_password": "x" * 15}, "vault_redis_password"),
    ("provision", {"webstack_env": "Prod_1"}, "webstack_env"),
    ("provision", {"webstack_tier": "prodd"}, "webstack_tier"),
    ("provision", {"docker_proxy_bind_address": "not-an-address"}, "docker_proxy_bind_address"),
    ("deploy", {"app_version": "9.9.9-no-such-image"}, "app_version"),
    ("deploy", {"app_version": "2.0.0", "app_processes": [{"name": "web", "port": 8000, "count": 2, "singleton": True,
                                                           "route": {"path": "/"}}]}, "app_processes"),
    ("deploy", {}, "app_version"),
    ("restore", {}, "confirm_restore"),
    ("restore", {"confirm_restore": "some-other-stack"}, "confirm_restore"),
    ("rollback", {"rollback_to": "0.0.1-never-deployed"}, "rollback_to"),
    ("teardown", {}, "confirm_teardown"),
]


@pytest.mark.state(release="2.0.0")
@pytest.mark.parametrize("playbook,extra,variable", BAD_INPUT,
                         ids=[f"{p}-{v}-{i}" for i, (p, _, v) in enumerate(BAD_INPUT)])
def test_bad_input_fails_before_any_change(stack, playbook, extra, variable):
    before = stack_snapshot(stack["name"], stack["state_dir"])
    run = run_playbook(playbook, stack["overrides"], extra_vars=extra)
    assert run.rc != 0, f"{playbook} with {extra} must fail"
    assert variable in run.output, f"the failure must name {variable}:\n{run.output[-3000:]}"
    assert run.changed == 0, f"{playbook} changed something before failing:\n{run.output[-3000:]}"
    assert stack_snapshot(stack["name"], stack["state_dir"]) == before
    assert _version(stack) == "2.0.0"


def _app_containers(stack):
    """The running containers of the app's processes (<stack>-<process>-<colour>-<n>)."""
    return docker("ps", "--filter", f"label=webstack.stack={stack['name']}", "--filter", "label=webstack.component=app",
                  "--format", "{{.Names}}").split()


@pytest.mark.state(release="2.0.0")
def test_app_runs_as_non_root(stack):
    import testinfra

    containers = _app_containers(stack)
    assert len(containers) == 2, containers
    for name in containers:
        host = testinfra.get_host(f"docker://{name}")
        assert host.check_output("id -u") != "0"
        assert host.user().name == "app"
        # the serving process itself (PID 1: no shell, no entrypoint wrapper) runs as uid 10001
        status = dict(line.split(":", 1) for line in host.file("/proc/1/status").content_string.splitlines())
        assert status["Uid"].split() == ["10001"] * 4, status["Uid"]
        assert "webstack_app" in host.file("/proc/1/cmdline").content_string
        assert host.socket("tcp://0.0.0.0:8000").is_listening


@pytest.mark.state()
def test_postgres_and_redis_reachable_only_from_stack_network_and_loopback(stack):
    import testinfra

    for service, port in (("postgres", 5432), ("redis", 6379)):
        info = json.loads(docker("inspect", f"{stack['name']}-{service}"))[0]
        bindings = [b for v in (info["HostConfig"]["PortBindings"] or {}).values() for b in v]
        assert bindings and all(b["HostIp"] == "127.0.0.1" for b in bindings), bindings
        host = testinfra.get_host(f"docker://{stack['name']}-{service}")
        assert host.socket(f"tcp://0.0.0.0:{port}").is_listening or host.socket(f"tcp://:::{port}").is_listening

    probe = ("import socket,sys\n"
             "try:\n socket.create_connection((sys.argv[1], int(sys.argv[2])), 3); print('open')\n"
             "except OSError as e:\n print('closed', e)\n")
    outsider = f"{stack['name']}-outsider"
    docker("network", "create", "--label", f"webstack.stack={stack['name']}", outsider)
    try:
        image = json.loads(docker("inspect", f"{stack['name']}-postgres"))[0]["Config"]["Image"]
        gateway = json.loads(docker("network", "inspect", outsider))[0]["IPAM"]["Config"][0]["Gateway"]
        for service, port in (("postgres", 5432), ("redis", 6379)):
            nets = json.loads(docker("inspect", f"{stack['name']}-{service}"))[0]["NetworkSettings"]["Networks"]
            ip = nets[stack["name"]]["IPAddress"]
            published = stack["ports"][service]
            inside = docker("run", "--rm", "--network", stack["name"], "--label", f"webstack.stack={stack['name']}",
                            "--entrypoint", "python3", image, "-c", probe, ip, str(port))
            assert inside == "open", f"{service} must be reachable on the stack network ({inside})"
            for target, tport in ((ip, port), (gateway, published)):
                out = docker("run", "--rm", "--network", outsider, "--label", f"webstack.stack={stack['name']}",
                             "--entrypoint", "python3", image, "-c", probe, target, str(tport))
                assert out.startswith("closed"), f"{service} reachable from another network at {target}:{tport}"
    finally:
        docker("network", "rm", outsider, check=False)


BAD_MIGRATION = """-- adds a column, then fails: the column must not survive
ALTER TABLE items ADD COLUMN must_not_exist integer;
INSERT INTO no_such_table VALUES (1);
"""


def _items(stack):
    return _query(stack, "SELECT * FROM items ORDER BY id")


def _schema_and_data(stack):
    columns = _query(stack, "SELECT table_name, column_name, data_type FROM information_schema.columns "
                            "WHERE table_schema = 'public' ORDER BY 1, 2")
    applied = _query(stack, "SELECT version, checksum FROM schema_migrations ORDER BY version")
    return columns, applied, _items(stack)


@pytest.mark.state(release="2.0.0")
def test_failing_migration_leaves_schema_and_data_unchanged(stack, tmp_path):
    tag = "2.0.1-badmigration"
    (tmp_path / "0003_break_things.sql").write_text(BAD_MIGRATION)
    (tmp_path / "Dockerfile").write_text(
        "FROM webstack/app:2.0.0\nCOPY 0003_break_things.sql /opt/webstack/migrations/\n")
    docker("build", "-q", "-t", f"webstack/app:{tag}", "--label", f"webstack.stack={stack['name']}", str(tmp_path))
    try:
        for i in range(3):
            _post_item(stack, f"before-bad-migration-{i}")
        before = _schema_and_data(stack)
        assert len(before[2]) >= 3
        run = run_playbook("migrate", stack["overrides"], extra_vars={"app_version": tag})
        assert run.rc != 0, "a failing migration must fail the run"
        assert "0003_break_things" in run.output, "the error must name the migration"
        assert _schema_and_data(stack) == before, "schema, migrations table or data changed"
        # and the same migration through deploy: it fails before any traffic moves (no container of the tag
        # was even started), shows the command's output and names the backup taken before it
        deploy = run_playbook("deploy", stack["overrides"], extra_vars={"app_version": tag})
        assert deploy.rc != 0 and "0003_break_things" in deploy.output
        assert "exited with code 1" in deploy.output and "its output:" in deploy.output, deploy.output[-3000:]
        backup = re.search(r"Backup taken before the migrations: (e2e-webstack-\S+-pre-deploy)", deploy.output)
        assert backup, deploy.output[-3000:]
        assert (Path(stack["state_dir"]) / "backups" / f"{backup[1]}.dump").exists()
        assert "Traffic did not move" in deploy.output
        assert not docker("ps", "-aq", "--filter", f"label=webstack.version={tag}",
                          "--filter", "label=webstack.component=app")
        assert _schema_and_data(stack) == before
        assert _version(stack) == "2.0.0"
    finally:
        docker("rmi", "-f", f"webstack/app:{tag}", check=False)


@pytest.mark.state(release="2.0.0")
def test_changed_applied_migration_is_refused(stack, tmp_path):
    tag = "2.0.2-edited"
    (tmp_path / "Dockerfile").write_text(
        "FROM webstack/app:2.0.0\nUSER root\n"
        "RUN sed -i '1i -- edited after it was applied' /opt/webstack/migrations/0001_*.sql\nUSER 10001:10001\n")
    docker("build", "-q", "-t", f"webstack/app:{tag}", str(tmp_path))
    try:
        before = _schema_and_data(stack)
        run = run_playbook("migrate", stack["overrides"], extra_vars={"app_version": tag})
        assert run.rc != 0 and "0001_" in run.output and "checksum" in run.output.lower(), run.output[-3000:]
        assert _schema_and_data(stack) == before
    finally:
        docker("rmi", "-f", f"webstack/app:{tag}", check=False)


def _post_item(stack, name):
    status, body = http_request(stack["ports"]["proxy"], "POST", "/items", body={"name": name})
    assert status in (200, 201), body


@pytest.mark.state(release="2.0.0")
def test_backup_then_restore_returns_to_the_backup_point(stack):
    for i in range(5):
        _post_item(stack, f"before-backup-{i}")
    backup = run_playbook("backup", stack["overrides"])
    _assert_ok(backup, "backup")
    at_backup = _items(stack)
    for i in range(7):
        _post_item(stack, f"after-backup-{i}")
    assert len(_items(stack)) == len(at_backup) + 7
    restore = run_playbook("restore", stack["overrides"], extra_vars={"confirm_restore": stack["name"]})
    _assert_ok(restore, "restore")
    assert _items(stack) == at_backup, "restored data differs from the backup point"
    status, _ = http_get(stack["ports"]["proxy"], "/health/ready")
    assert status == 200
    FIGURES["backup_s"], FIGURES["restore_s"] = round(backup.seconds, 1), round(restore.seconds, 1)


@pytest.mark.state(backup=True)
def test_teardown_keeps_backups(stack):
    from pathlib import Path

    backups = Path(stack["state_dir"]) / "backups"
    kept = sorted(p.name for p in backups.iterdir())
    assert kept
    run = run_playbook("teardown", stack["overrides"], extra_vars={"confirm_teardown": stack["name"]})
    _assert_ok(run, "teardown")
    assert not docker("ps", "-aq", "--filter", f"label=webstack.stack={stack['name']}")
    assert sorted(p.name for p in backups.iterdir()) == kept
    figures = Path(__file__).resolve().parents[2] / "artifacts" / "e2e-figures.json"
    figures.write_text(json.dumps(FIGURES, indent=2))
