"""testinfra checks of role docker_release (stack `mol-app`, proxy on 127.0.0.1:29180): replicas, non-root,
version served through the proxy, ledger; then a blue/green deploy of 2.0.0 and a rollback to 1.0.0
run through the role (tests/../lifecycle.py) while a bounded load loop checks no request fails."""
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import support  # tests/support (pytest.ini pythonpath): the one roles path

STACK = "mol-app"
STATE = f"/var/lib/webstack/{STACK}"
PORT = 29180
REPLICAS = 2
ROOT = Path(__file__).resolve().parents[3]
SCENARIO = Path(__file__).resolve().parents[1]


def _get(path):
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def _version():
    status, body = _get("/version")
    assert status == 200, body
    return json.loads(body)["version"]


def _running_app(host):
    out = host.check_output(
        f"docker ps --filter label=webstack.stack={STACK} --filter label=webstack.component=app --format '{{{{.Names}}}}'")
    return sorted(out.split())


def _lifecycle(**extra):
    env = dict(os.environ, ANSIBLE_ROLES_PATH=support.ROLES_PATH, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_NOCOLOR="1")
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), str(SCENARIO / "lifecycle.yml"),
           "-i", os.environ["MOLECULE_INVENTORY_FILE"], "-e", json.dumps(extra)]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


class Load:
    """Bounded GET /version loop on 127.0.0.1 (stops itself after `limit` seconds)."""

    def __init__(self, limit=240):
        self.limit, self.ok, self.failed, self.versions, self.stop = limit, 0, [], set(), False

    def _run(self):
        end = time.time() + self.limit
        while not self.stop and time.time() < end:
            try:
                self.versions.add(_version())
                self.ok += 1
            except Exception as exc:  # noqa: BLE001  any failure counts
                self.failed.append(repr(exc))
            time.sleep(0.02)

    def __enter__(self):
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop = True
        self.thread.join()


def test_replicas_run_healthy(host):
    names = _running_app(host)
    assert len(names) == REPLICAS, names
    colour = names[0].split("-")[-2]
    assert names == [f"{STACK}-web-{colour}-{n}" for n in range(1, REPLICAS + 1)]
    for name in names:
        assert host.check_output(f"docker inspect -f '{{{{.State.Health.Status}}}}' {name}") == "healthy"


def test_replicas_run_as_uid_10001(host):
    for name in _running_app(host):
        assert host.check_output(f"docker exec {name} id -u") == "10001"
        # every process of the container, not only exec'd ones
        rows = host.check_output(f"docker top {name} -o pid,uid").splitlines()[1:]
        users = {row.split()[1] for row in rows}
        assert users == {"10001"}, rows


def test_secrets_are_files_not_environment(host):
    for name in _running_app(host):
        env = json.loads(host.check_output(f"docker inspect -f '{{{{json .Config.Env}}}}' {name}"))
        assert not [e for e in env if "PASSWORD=" in e], env
        assert host.check_output(f"docker exec {name} stat -c %a /run/secrets/APP_DATABASE_PASSWORD") in ("600", "400")


def test_proxy_serves_the_version_and_ledger_agrees(host):
    assert _version() == "1.0.0"
    status, _ = _get("/health/ready")
    assert status == 200
    ledger = json.loads(host.file(f"{STATE}/ledger.json").content_string)
    assert ledger["current"] == "1.0.0"
    assert ledger["releases"][-1]["migrations_kind"] == "command"  # python3 -m webstack_app migrate, one-off
    schema = host.check_output(f"docker exec -u postgres {STACK}-postgres psql -U postgres -d webstack -A -t -c "
                               "'SELECT version FROM schema_migrations ORDER BY 1'")
    assert schema.split() == ["0001_create_items.sql"]
    upstream = host.file(f"{STATE}/nginx/conf.d/upstream.conf").content_string
    for name in _running_app(host):
        assert f"server {name}:8000" in upstream


def test_blue_green_deploy_then_rollback_without_failed_requests(host):
    before = _running_app(host)
    with Load() as load:
        deploy = _lifecycle(mol_action="deploy", mol_app_version="2.0.0")
    assert deploy.returncode == 0, deploy.stdout[-4000:]
    assert _version() == "2.0.0"
    assert not load.failed, load.failed[:5]
    assert load.versions == {"1.0.0", "2.0.0"}
    after = _running_app(host)
    assert len(after) == REPLICAS and not set(after) & set(before), (before, after)
    # the old colour is kept, stopped, for a fast rollback
    stopped = host.check_output(f"docker ps -a --filter status=exited --filter label=webstack.stack={STACK} "
                                "--format '{{.Names}}'").split()
    assert sorted(stopped) == before

    with Load() as load:
        rollback = _lifecycle(mol_action="rollback")
    assert rollback.returncode == 0, rollback.stdout[-4000:]
    assert _version() == "1.0.0"
    assert not load.failed, load.failed[:5]
    assert _running_app(host) == before
    ledger = json.loads(host.file(f"{STATE}/ledger.json").content_string)
    assert [r["action"] for r in ledger["releases"][-2:]] == ["deploy", "rollback"]
    assert ledger["releases"][-1]["previous"] == "2.0.0"


@pytest.mark.parametrize("extra,variable", [
    ({"mol_action": "deploy", "mol_app_version": "9.9.9-missing"}, "app_version"),
    ({"mol_action": "rollback", "docker_release_rollback_to": "0.0.1-never"}, "rollback_to"),
])
def test_bad_input_fails_naming_the_variable(host, extra, variable):
    ledger = host.file(f"{STATE}/ledger.json").content_string
    run = _lifecycle(**extra)
    assert run.returncode != 0
    assert variable in run.stdout, run.stdout[-3000:]
    assert host.file(f"{STATE}/ledger.json").content_string == ledger
