"""Shared pytest settings: the project root and the virtualenv's tools on PATH, the docker images built
once per machine, and how the suite is spread over pytest-xdist workers."""
import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
os.environ["PATH"] = f"{VENV_BIN}{os.pathsep}/usr/lib/postgresql/15/bin{os.pathsep}{os.environ.get('PATH', '')}"
os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))


def pytest_collection_modifyitems(config, items):
    """Worker groups for `--dist loadgroup` (scripts/test): a test file is one group, as with
    `--dist loadfile`, because files share module-scoped stacks; but each parametrized Molecule scenario is
    its own group, so the scenarios spread over the workers instead of queueing in one file."""
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        path = item.nodeid.split("::", 1)[0]
        group = path
        if path.startswith("tests/molecule/") and hasattr(item, "callspec"):
            group = f"molecule-{item.callspec.params.get('name', item.name)}"
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def docker_images():
    """The docker platform's images, built when missing (playbooks/build_images.yml; a no-op of a few
    seconds when cached). A file lock serialises the xdist workers: two concurrent first builds would share
    the debootstrap directory."""
    lock_path = ROOT / "artifacts" / ".docker-images.lock"
    lock_path.parent.mkdir(exist_ok=True)
    with open(lock_path, "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        res = subprocess.run(["ansible-playbook", "-i", "inventories/local", "playbooks/build_images.yml"],
                             cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False)
        log = ROOT / "artifacts" / "build-images.log"
        log.write_text(res.stdout + "\n--- stderr ---\n" + res.stderr, encoding="utf-8")
        assert res.returncode == 0, f"building the images failed (log: {log}):\n{res.stdout[-4000:]}\n{res.stderr[-2000:]}"
