"""testinfra checks of role docker_backup (stack `mol-backup`, proxy on 127.0.0.1:29280): the dump and
its manifest, retention by count, a restore round trip verified against the manifest, and the
confirm_restore guard. Backups and restores run through the role (../lifecycle.yml)."""
import http.client
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import support  # tests/support (pytest.ini pythonpath): the one roles path

STACK = "mol-backup"
STATE = f"/var/lib/webstack/{STACK}"
BACKUPS = f"{STATE}/backups"
PORT = 29280
ROOT = Path(__file__).resolve().parents[3]
SCENARIO = Path(__file__).resolve().parents[1]


def _request(method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
    try:
        conn.request(method, path, body=json.dumps(body) if body else None,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def _item_names():
    status, body = _request("GET", "/items")
    assert status == 200, body
    return sorted(i["name"] for i in json.loads(body)["items"])


def _run(**extra):
    env = dict(os.environ, ANSIBLE_ROLES_PATH=support.ROLES_PATH, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_NOCOLOR="1")
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), str(SCENARIO / "lifecycle.yml"),
           "-i", os.environ["MOLECULE_INVENTORY_FILE"], "-e", json.dumps(extra)]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def _dumps(host):
    out = host.check_output(f"ls -1 {BACKUPS}")
    return sorted(n for n in out.split() if n.startswith(f"{STACK}-") and n.endswith(".dump"))


def test_dump_and_manifest(host):
    dumps = _dumps(host)
    assert dumps, "converge must leave a backup"
    name = dumps[-1][:-len(".dump")]
    manifest = json.loads(host.file(f"{BACKUPS}/{name}.json").content_string)
    assert manifest["name"] == name and manifest["stack"] == STACK
    dump = host.file(f"{BACKUPS}/{name}.dump")
    assert manifest["size_bytes"] == dump.size > 0
    assert manifest["sha256"] == host.check_output(f"sha256sum {BACKUPS}/{name}.dump").split()[0]
    assert manifest["duration_seconds"] >= 0
    # converge's deploy of 1.0.0 backed up the empty database before applying 0001
    assert manifest["reason"] == "pre-deploy"
    assert manifest["row_counts"] == {} and manifest["schema_version"] is None
    # a custom-format archive pg_restore can read
    assert dump.content[:5] == b"PGDMP"


def test_backup_restore_round_trip(host):
    for i in range(5):
        assert _request("POST", "/items", {"name": f"before-{i}"})[0] in (200, 201)
    backup = _run(mol_action="backup", docker_backup_reason="molecule")
    assert backup.returncode == 0, backup.stdout[-4000:]
    name = [d for d in _dumps(host) if d.endswith("-molecule.dump")][-1][:-len(".dump")]
    manifest = json.loads(host.file(f"{BACKUPS}/{name}.json").content_string)
    at_backup = _item_names()
    assert manifest["row_counts"]["items"] == len(at_backup)
    assert manifest["schema_version"] == "0001_create_items.sql"
    for i in range(3):
        assert _request("POST", "/items", {"name": f"after-{i}"})[0] in (200, 201)
    assert len(_item_names()) == len(at_backup) + 3

    restore = _run(mol_action="restore", confirm_restore=STACK, docker_backup_restore_name=name)
    assert restore.returncode == 0, restore.stdout[-4000:]
    assert "Check the restored data matches the manifest" in restore.stdout
    assert _item_names() == at_backup
    assert _request("GET", "/health/ready")[0] == 200


@pytest.mark.parametrize("extra,needle", [
    ({}, "confirm_restore"),
    ({"confirm_restore": "another-stack"}, "confirm_restore"),
    ({"confirm_restore": STACK, "docker_backup_restore_name": f"{STACK}-19990101T000000Z-none"}, "restore_backup"),
])
def test_restore_refuses_before_any_change(host, extra, needle):
    before = _item_names()
    run = _run(mol_action="restore", **extra)
    assert run.returncode != 0
    assert needle in run.stdout, run.stdout[-3000:]
    assert "changed=0" in run.stdout
    assert _item_names() == before


def test_retention_keeps_the_newest(host):
    for _ in range(3):
        run = _run(mol_action="backup", docker_backup_retention_count=2, docker_backup_reason="retention")
        assert run.returncode == 0, run.stdout[-3000:]
    dumps = _dumps(host)
    assert len(dumps) == 2, dumps
    manifests = sorted(n for n in host.check_output(f"ls -1 {BACKUPS}").split() if n.endswith(".json"))
    assert [m[:-5] for m in manifests] == [d[:-5] for d in dumps]
