"""Runs the collection's modules for real, through ansible-playbook, against a moto server.

Each test module gets its own `moto` server (support.moto.MotoServer, the tests' one emulator wrapper) on a free
127.0.0.1 port, started here and stopped at the end (no mock of Ansible or boto3 anywhere): `moto.client(service)`,
`moto.reset()`, `moto.start_recording()`, `moto.recorded_actions()`, `moto.mutating(actions)`. `run_playbook` writes a
one-play playbook with the given tasks, runs it with support.playbook.run_playbook and returns the JSON callback's
result.
"""

from __future__ import annotations

import sys

import pytest
import yaml

from support.moto import MotoServer
from support.playbook import run_playbook as _run_playbook

REGION = "us-east-1"


@pytest.fixture(scope="module")
def moto():
    server = MotoServer(region=REGION).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def run_playbook(moto, tmp_path):
    """run_playbook(tasks, check=False, diff=False) -> (stats for localhost, [task results])."""
    inventory = tmp_path / "inventory.ini"
    inventory.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")

    def runner(tasks, check=False, diff=False):
        play = [{
            "name": "webstack.platform module test",
            "hosts": "localhost",
            "gather_facts": False,
            "module_defaults": {"group/webstack.platform.aws": {
                "region": REGION, "endpoint_url": moto.url,
                "access_key": "testing", "secret_key": "testing"}},
            "tasks": tasks,
        }]
        playbook = tmp_path / "play.yml"
        playbook.write_text(yaml.safe_dump(play, sort_keys=False))
        result = _run_playbook(playbook, inventory=inventory, check=check, diff=diff, callback="ansible.builtin.json",
                               env={"ANSIBLE_CALLBACKS_ENABLED": "ansible.builtin.junit",
                                    "JUNIT_OUTPUT_DIR": str(tmp_path / "junit"),
                                    "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"),
                                    "ANSIBLE_HOME": str(tmp_path / "ansible-home")},
                               timeout=300)
        doc = result.data
        assert doc, result.stdout + result.stderr
        results = [task["hosts"]["localhost"] for play_ in doc["plays"] for task in play_["tasks"]
                   if "localhost" in task["hosts"]]
        return doc["stats"]["localhost"], results

    return runner
