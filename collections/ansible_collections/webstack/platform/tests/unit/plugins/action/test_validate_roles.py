"""Runs validate_roles_cases.py (the action plugin webstack.platform.validate_roles) in an interpreter of its own:
those cases install ansible's collection loader, like ansible-playbook, which the other tests of a session (bundled
collections imported beside this one, see conftest.py) must not inherit."""

from __future__ import annotations

import os
import subprocess
import sys

CASES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "validate_roles_cases.py")
REPO = os.path.abspath(os.path.join(os.path.dirname(CASES), *([os.pardir] * 8)))


def test_validate_roles_cases():
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"))
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", CASES],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stdout[-8000:] + res.stderr[-2000:]
    assert " passed" in res.stdout and "failed" not in res.stdout.splitlines()[-1], res.stdout[-2000:]
