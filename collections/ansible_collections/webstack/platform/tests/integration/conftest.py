"""Runs the collection's modules for real, through ansible-playbook, against a moto server.

Each test module gets its own `moto_server` on a free 127.0.0.1 port, started here and stopped
at the end (no mock of Ansible or boto3 anywhere). `run_playbook` writes a one-play playbook
with the given tasks and returns the JSON callback's result.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import boto3
import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), *([os.pardir] * 6)))
# Action-name prefixes of the calls that change state (the same list as tests/aws/awsharness.py).
MUTATING_PREFIXES = ("Create", "Delete", "Modify", "Put", "Add", "Remove", "Increase", "Decrease", "Update",
                     "Attach", "Detach", "Tag", "Untag", "Reset", "Associate", "Disassociate", "Authorize",
                     "Revoke", "Register", "Deregister", "Restore", "Reboot", "Copy", "Start", "Stop", "Run",
                     "Allocate", "Release", "Set", "Enable", "Disable", "Import", "Replace", "Apply", "Change",
                     "Subscribe", "Unsubscribe", "Publish", "Rotate", "Upload", "Failover", "Batch", "Accept",
                     "Reject", "Cancel", "Purge", "Promote")


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Moto:
    def __init__(self, url):
        self.url = url

    def _post(self, path):
        urllib.request.urlopen(urllib.request.Request(self.url + path, method="POST"), timeout=10).read()

    def client(self, service):
        return boto3.client(service, region_name="us-east-1", endpoint_url=self.url,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def reset(self):
        self._post("/moto-api/reset")

    def start_recording(self):
        self._post("/moto-api/recorder/reset-recording")
        self._post("/moto-api/recorder/start-recording")

    def recorded_actions(self):
        """Stop recording; return the API actions (e.g. 'CreateFlowLogs') recorded since the start."""
        self._post("/moto-api/recorder/stop-recording")
        raw = urllib.request.urlopen(self.url + "/moto-api/recorder/download-recording", timeout=10).read()
        actions = []
        for line in raw.decode().splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            action = None
            body = entry.get("body") or ""
            if entry.get("body_encoded"):
                body = base64.b64decode(body).decode("utf-8", "replace")
            if isinstance(body, str) and "Action=" in body:
                action = body.split("Action=", 1)[1].split("&", 1)[0]
            target = (entry.get("headers") or {}).get("X-Amz-Target")
            if action is None and target:
                action = target.split(".")[-1]
            if action is None:
                action = f"{entry.get('method')} {entry.get('url')}"
            actions.append(action)
        return actions

    def mutating(self, actions):
        """Actions that change state: by name, and the REST writes (S3), recorded as `PUT|POST|DELETE <url>`."""
        return [a for a in actions if a.startswith(MUTATING_PREFIXES) or a.startswith(("PUT ", "POST ", "DELETE "))]


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    server = shutil.which("moto_server") or os.path.join(os.path.dirname(sys.executable), "moto_server")
    port = _free_port()
    workdir = tmp_path_factory.mktemp("moto")
    env = dict(os.environ, MOTO_IAM_LOAD_MANAGED_POLICIES="true",
               MOTO_RECORDER_FILEPATH=str(workdir / "moto_recording"))
    proc = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(port)], env=env, cwd=str(workdir),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=2).read()
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto_server did not start")
                time.sleep(0.2)
        yield Moto(url)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


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
                "region": "us-east-1", "endpoint_url": moto.url,
                "access_key": "testing", "secret_key": "testing"}},
            "tasks": tasks,
        }]
        playbook = tmp_path / "play.yml"
        playbook.write_text(yaml.safe_dump(play, sort_keys=False))
        cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(inventory), str(playbook)]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.junit",
                   JUNIT_OUTPUT_DIR=str(tmp_path / "junit"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
                   ANSIBLE_HOME=str(tmp_path / "ansible-home"))
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        start = proc.stdout.find("{")
        assert start >= 0, proc.stdout + proc.stderr
        doc, _ = json.JSONDecoder().raw_decode(proc.stdout[start:])
        results = [task["hosts"]["localhost"] for play_ in doc["plays"] for task in play_["tasks"]
                   if "localhost" in task["hosts"]]
        return doc["stats"]["localhost"], results

    return runner
