"""Shared pytest settings: the project root and the virtualenv's tools on PATH, and the docker images built
once per machine."""
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

