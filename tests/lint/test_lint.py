"""Static checks: yamllint, ansible-lint (production profile), and a syntax check of every playbook
against every inventory."""
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = sorted(p for p in (ROOT / "playbooks").glob("*.yml"))
INVENTORIES = sorted(p for p in (ROOT / "inventories").iterdir() if p.is_dir())


def _run(cmd, **kw):
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900, **kw)


def test_yamllint():
    res = _run(["yamllint", "-s", "."])
    assert res.returncode == 0, res.stdout + res.stderr


def test_ansible_lint_production_profile():
    res = _run(["ansible-lint", "--profile", "production", "--offline", "-q"])
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-3000:]


@pytest.mark.parametrize("inventory", INVENTORIES, ids=lambda p: p.name)
def test_syntax_check_every_playbook(inventory):
    res = _run(["ansible-playbook", "--syntax-check", "-i", str(inventory)] + [str(p) for p in PLAYBOOKS])
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]


def test_every_playbook_imports_preflight_first():
    for pb in PLAYBOOKS:
        if pb.name == "preflight.yml":
            continue
        import yaml

        plays = yaml.safe_load(pb.read_text())
        assert plays[0].get("ansible.builtin.import_playbook") == "preflight.yml", f"{pb.name} must import preflight.yml first"
