"""The project as an AWX/AAP job sees it: the controller sets ANSIBLE_COLLECTIONS_PATH (its requirements directory
first, then the default paths), which replaces the `collections_path` of the project's ansible.cfg; the job's
inventory is an executable script; the release ledger names the controller's user and job."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import ROLES_PATH

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "playbooks").glob("*.yml"))
UNRESOLVED = "could not resolve the module_defaults group webstack.platform.aws"
# ... or, the first the parser meets, a module of the in-repo collection (status.yml's docker play uses
# webstack.platform.http_checks before its aws play names the group): the same cause, the collection not found
UNRESOLVED_MODULE = "couldn't resolve module/action 'webstack.platform."


def controller_env(tmp_path: Path) -> dict:
    """The job environment of a controller: its requirements directory, then the default collection paths."""
    req = tmp_path / "requirements_collections"
    req.mkdir(exist_ok=True)
    env = dict(os.environ)
    env["ANSIBLE_COLLECTIONS_PATH"] = f"{req}:{Path.home()}/.ansible/collections:/usr/share/ansible/collections"
    env.pop("ANSIBLE_COLLECTIONS_PATHS", None)
    return env


def syntax_check(project: Path, env: dict, playbooks=tuple(PLAYBOOKS)) -> subprocess.CompletedProcess:
    env = dict(env, ANSIBLE_CONFIG=str(project / "ansible.cfg"))
    return subprocess.run(["ansible-playbook", "--syntax-check", "-i", "inventories/sandbox", *playbooks],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_aws_plays_resolve_the_in_repo_collection_under_a_controllers_collections_path(tmp_path):
    res = syntax_check(ROOT, controller_env(tmp_path))
    assert res.returncode == 0 and UNRESOLVED not in res.stdout + res.stderr, res.stdout[-3000:] + res.stderr[-3000:]


def test_without_the_playbook_adjacent_collections_the_controller_job_fails(tmp_path):
    """The failure the layout fixes, reproduced on a copy of the project without playbooks/collections."""
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("ansible.cfg", "playbooks", "roles", "inventories", "collections", "secrets"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, copy / name, symlinks=True, ignore=shutil.ignore_patterns("tests", "__pycache__"))
        else:
            shutil.copy2(src, copy / name)
    (copy / "playbooks" / "collections").unlink()
    res = syntax_check(copy, controller_env(tmp_path), ["playbooks/status.yml"])
    out = res.stdout + res.stderr
    assert res.returncode != 0 and (UNRESOLVED in out or UNRESOLVED_MODULE in out), out[-4000:]
    assert "No module named 'ansible_collections.webstack'" in out or UNRESOLVED in out, out[-4000:]
    # ... and the project's own configuration alone still finds it (plain ansible-playbook from a checkout)
    env = dict(os.environ)
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    assert syntax_check(copy, env).returncode == 0


def test_the_inventory_of_a_controller_job_is_an_executable_script(tmp_path):
    """A controller hands the job `-i <private data dir>/inventory/hosts`, a script printing JSON; the project's
    ansible.cfg (enable_plugins, unparsed_is_failed) must accept it."""
    script = tmp_path / "hosts"
    data = {"all": {"children": ["aws"]}, "aws": {"hosts": ["sandbox"]},
            "_meta": {"hostvars": {"sandbox": {"ansible_connection": "local", "webstack_env": "sandbox"}}}}
    script.write_text(f"#!{sys.executable}\nimport json\nprint(json.dumps({data!r}))\n", encoding="utf-8")
    script.chmod(0o755)
    res = subprocess.run(["ansible-inventory", "-i", str(script), "--list"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, check=False)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert json.loads(res.stdout)["_meta"]["hostvars"]["sandbox"]["webstack_env"] == "sandbox"


def test_an_encrypted_secrets_file_is_read_with_the_vault_password(tmp_path):
    """What a controller's Vault credential does: the encrypted secrets file of an environment decrypts with the
    vault password given to the job, and preflight then finds every vault variable."""
    password = tmp_path / "vault-pass"
    password.write_text("correct horse battery staple\n", encoding="utf-8")
    plain = tmp_path / "dev.yml"
    plain.write_text("vault_rds_master_password: " + "p" * 24 + "\nvault_elasticache_auth_token: " + "t" * 32 + "\n",
                     encoding="utf-8")
    subprocess.run(["ansible-vault", "encrypt", "--vault-password-file", str(password), str(plain)], check=True,
                   capture_output=True, timeout=60)
    assert plain.read_text().startswith("$ANSIBLE_VAULT;")
    cmd = ["ansible-playbook", "-i", "inventories/dev", "playbooks/preflight.yml", "-e", f"webstack_secrets_file={plain}",
           "-e", "alb_certificate_arn=arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d"]
    without = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert without.returncode != 0 and "webstack_secrets_file" in without.stdout + without.stderr, without.stdout[-2000:]
    res = subprocess.run(cmd + ["--vault-password-file", str(password)], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "p" * 24 not in res.stdout + res.stderr


LEDGER_PLAY = """
- name: Record a release
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Record
      ansible.builtin.include_role:
        name: release_ledger
        tasks_from: record
      vars:
        webstack_name: webstack-test
        release_ledger_backend: file
        release_ledger_file_path: "{{ ledger_path }}"
        release_ledger_entry: {version: "1.0.0", image: "webstack/app:1.0.0"}
"""


@pytest.mark.parametrize("extra, expected", [
    ({"awx_job_id": 4711, "awx_user_name": "alice"}, "alice (awx job 4711)"),
    ({"awx_job_id": 4712, "awx_user_name": "", "awx_schedule_name": "nightly backup"}, "nightly backup (awx job 4712)"),
    ({}, None),
], ids=["awx-user", "awx-schedule", "cli"])
def test_ledger_deployed_by_names_the_controller_user_and_job(tmp_path, extra, expected):
    play = tmp_path / "record.yml"
    play.write_text(LEDGER_PLAY, encoding="utf-8")
    ledger = tmp_path / "ledger.json"
    (tmp_path / "hosts.yml").write_text(
        f"all:\n  hosts:\n    localhost:\n      ansible_connection: local\n      ansible_python_interpreter: {sys.executable}\n",
        encoding="utf-8")
    res = subprocess.run(["ansible-playbook", "-i", str(tmp_path / "hosts.yml"), str(play), "-e", json.dumps({"ledger_path": str(ledger), **extra})],
                         cwd=ROOT, env=dict(os.environ, ANSIBLE_ROLES_PATH=ROLES_PATH, USER="cli-user"),
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    current = json.loads(ledger.read_text())["releases"][-1]
    assert current["deployed_by"] == (expected or os.environ.get("SUDO_USER") or "cli-user")
