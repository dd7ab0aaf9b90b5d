"""Harness for the aws tests: a real moto server, its API-call recorder and an ansible-playbook runner.

Nothing here mocks Ansible or boto3: playbooks run as a user runs them, against the moto server
(`moto_server`) listening on a free port of 127.0.0.1, which the tests start and stop themselves.
Also used by `scripts/benchmark-aws` and `scripts/benchmark-aws-lifecycle`.

- `sandbox_pg()`: a real PostgreSQL container (tests/pgcontainer.py) standing in for the sandbox's RDS instance
  as the "reachable database address": the sandbox's master user, password and database name.
- `ecr_image_manifest(tag)`: a Docker v2 image manifest to put into the sandbox's ECR repository (PutImage).
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin" if (ROOT / ".venv" / "bin" / "ansible-playbook").exists() else Path(sys.executable).parent
REGION = "eu-west-1"
if str(ROOT / "tests") not in sys.path:  # tests/pgcontainer.py, when imported from a script
    sys.path.insert(0, str(ROOT / "tests"))

from pgcontainer import PgContainer  # noqa: E402

SANDBOX_SECRET = ROOT / ".secrets" / "sandbox" / "rds_master_password"
SANDBOX_DB_USER = "webstack_admin"  # inventories/sandbox/group_vars/all/rds.yml rds_master_username
SANDBOX_DB_NAME = "webstack"  # roles/aws/rds/defaults rds_database_name

# Action-name prefixes of the query/JSON protocols that change state. Everything else (Describe*, List*,
# Get*, Head*) only reads.
MUTATING_PREFIXES = (
    "Create", "Modify", "Put", "Delete", "Update", "Attach", "Detach", "Authorize", "Revoke", "Register",
    "Deregister", "Associate", "Disassociate", "Add", "Remove", "Tag", "Untag", "Allocate", "Release",
    "Set", "Enable", "Disable", "Reboot", "Restore", "Start", "Stop", "Run", "Import", "Replace", "Apply",
    "Change", "Reset", "Subscribe", "Unsubscribe", "Publish", "Rotate", "Copy", "Upload", "Increase",
    "Decrease", "Failover", "Test", "Batch", "Restore", "Accept", "Reject", "Cancel", "Purge", "Promote",
)


def sandbox_master_password() -> str:
    """The sandbox's RDS master password, created the way the inventory's password lookup creates it.

    ansible.builtin.password(length=32, chars=ascii_letters+digits) stores the bare password (plus a
    newline) and reads an existing file back as is, so a file written here is what the playbooks use.
    """
    if not SANDBOX_SECRET.exists():
        SANDBOX_SECRET.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        alphabet = string.ascii_letters + string.digits
        value = "".join(secrets.choice(alphabet) for _ in range(32))
        fd = os.open(SANDBOX_SECRET, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(value + "\n")
    return SANDBOX_SECRET.read_text().splitlines()[0].split(" salt=", 1)[0]


def sandbox_pg() -> PgContainer:
    """A PostgreSQL container (not started) as the sandbox's database: `webstack_aws_db_address=pg.address`.

    Same master user, password (`vault_rds_master_password` reads the file above) and database name as the
    sandbox's RDS instance, which lives in the emulator with no engine behind it. Named `awstest-pg-<random>`.
    """
    return PgContainer(prefix="awstest-", label="aws", user=SANDBOX_DB_USER, password=sandbox_master_password(),
                       database=SANDBOX_DB_NAME)


def ecr_image_manifest(tag: str) -> str:
    """A Docker v2 image manifest for `tag`, to put into ECR with PutImage (the emulator never pulls a layer)."""
    config = "sha256:" + hashlib.sha256(f"webstack-app-{tag}".encode()).hexdigest()
    layer = "sha256:" + hashlib.sha256(f"layer-{tag}".encode()).hexdigest()
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1024, "digest": config},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 4096, "digest": layer}],
    })


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ApiCall:
    service: str
    action: str
    method: str
    url: str
    params: dict = field(default_factory=dict)  # query-protocol parameters (first value of each)

    @property
    def mutating(self) -> bool:
        if self.service == "s3" or self.action.startswith(("s3:", "REST:")):
            return self.method in ("PUT", "POST", "DELETE")
        if self.service == "sts":
            return False
        return self.action.startswith(MUTATING_PREFIXES)

    def __str__(self) -> str:
        return f"{self.service}:{self.action}"


def _parse_entry(entry: dict) -> ApiCall:
    headers = {k.lower(): v for k, v in (entry.get("headers") or {}).items()}
    method = entry.get("method", "")
    url = entry.get("url", "")
    service = "unknown"
    match = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request", headers.get("authorization", ""))
    if match:
        service = match.group(1)
    action = ""
    params: dict = {}
    target = headers.get("x-amz-target")
    if target:
        action = target.rsplit(".", 1)[-1]
    else:
        body = entry.get("body") or ""
        if entry.get("body_encoded"):
            try:
                body = base64.b64decode(body).decode("utf-8", "replace")
            except ValueError:
                body = ""
        query = parse_qs(body) if "=" in body else {}
        query.update(parse_qs(urlparse(url).query))
        params = {k: v[0] for k, v in query.items()}
        if "Action" in params:
            action = params["Action"]
    if not action:
        # REST protocols (S3, Lambda, ...): the method and path are the operation.
        parsed = urlparse(url)
        sub = parsed.query.split("=", 1)[0].split("&", 1)[0]
        action = f"REST:{method} {parsed.path}" + (f"?{sub}" if sub else "")
    return ApiCall(service=service, action=action, method=method, url=url, params=params)


class MotoServer:
    """A moto server on a free port of 127.0.0.1 with reset and recorder helpers."""

    def __init__(self, port: int | None = None, ecs_service_running: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._tmp = tempfile.TemporaryDirectory(prefix="webstack-moto-")
        self.recording_path = Path(self._tmp.name) / "recording.jsonl"
        self.log_path = Path(self._tmp.name) / "moto.log"
        self.ecs_service_running = ecs_service_running
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> "MotoServer":
        env = dict(os.environ)
        env.update(
            MOTO_IAM_LOAD_MANAGED_POLICIES="true",
            MOTO_RECORDER_FILEPATH=str(self.recording_path),
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION=REGION,
        )
        if self.ecs_service_running is not None:
            env["MOTO_ECS_SERVICE_RUNNING"] = str(self.ecs_service_running)
        self._log = open(self.log_path, "wb")  # noqa: SIM115  closed in stop()
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"moto_server did not answer on {self.url} within {timeout}s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if getattr(self, "_log", None):
            self._log.close()
        self._tmp.cleanup()

    def _post(self, path: str) -> bytes:
        req = urllib.request.Request(f"{self.url}{path}", data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.read()

    def reset(self) -> None:
        """Forget every resource (and the recording)."""
        self._post("/moto-api/reset")
        self.recorder_reset()

    # -- recorder -------------------------------------------------------------------------------------
    def recorder_reset(self) -> None:
        self._post("/moto-api/recorder/reset-recording")

    def recorder_start(self) -> None:
        self._post("/moto-api/recorder/reset-recording")
        self._post("/moto-api/recorder/start-recording")

    def recorder_stop(self) -> list[ApiCall]:
        self._post("/moto-api/recorder/stop-recording")
        return self.recorded()

    def recorded(self) -> list[ApiCall]:
        with urllib.request.urlopen(f"{self.url}/moto-api/recorder/download-recording", timeout=30) as resp:
            text = resp.read().decode("utf-8")
        return [_parse_entry(json.loads(line)) for line in text.splitlines() if line.strip()]

    def boto3_kwargs(self) -> dict:
        return dict(endpoint_url=self.url, region_name=REGION,
                    aws_access_key_id="testing", aws_secret_access_key="testing")

    def client(self, service: str):
        import boto3  # imported lazily: the benchmark script needs no boto3 for parsing

        return boto3.client(service, **self.boto3_kwargs())


def mutating(calls: list[ApiCall], except_lock: bool = False) -> list[ApiCall]:
    """The calls that change something. `except_lock=True` leaves out the writes of the run's own deploy lock
    (s3 PUT/DELETE of a lock/<stack>.json object, role release backend s3): bookkeeping of the run, not a change of
    the stack."""
    return [c for c in calls if c.mutating and not (except_lock and is_lock_call(c))]


def is_lock_call(call: ApiCall) -> bool:
    """A call on the deploy lock object of a stack (release_lock_s3_key's default: lock/<webstack_name>.json)."""
    return call.service == "s3" and re.search(r"/lock/[^/]+\.json$", urlparse(call.url).path) is not None


@dataclass
class PlaybookResult:
    rc: int
    stdout: str
    stderr: str
    seconds: float
    data: dict = field(default_factory=dict)
    calls: list = field(default_factory=list)  # API calls recorded during the run (when recorded)

    @property
    def stats(self) -> dict:
        return self.data.get("stats", {})

    def stat(self, key: str) -> int:
        return sum(host.get(key, 0) for host in self.stats.values())

    @property
    def changed(self) -> int:
        return self.stat("changed")

    @property
    def failed(self) -> int:
        return self.stat("failures") + self.stat("unreachable")

    def tasks(self):
        for play in self.data.get("plays", []):
            for task in play.get("tasks", []):
                for host, res in task.get("hosts", {}).items():
                    yield task["task"]["name"], host, res

    def changed_tasks(self) -> list[str]:
        return [name for name, _h, res in self.tasks() if res.get("changed")]

    def failed_tasks(self) -> list[tuple[str, str]]:
        return [(name, str(res.get("msg", ""))) for name, _h, res in self.tasks()
                if res.get("failed") and not res.get("ignore_errors")]

    def result_of(self, task_name: str) -> dict:
        for name, _h, res in self.tasks():
            if name == task_name or name.endswith(f" : {task_name}"):
                return res
        raise KeyError(task_name)

    def summary(self) -> str:
        lines = [f"rc={self.rc} changed={self.changed} failed={self.failed} in {self.seconds:.1f}s"]
        lines += [f"CHANGED: {n}" for n in self.changed_tasks()]
        lines += [f"FAILED: {n}: {m[:1500]}" for n, m in self.failed_tasks()]
        if not self.data:
            lines += ["STDOUT:", self.stdout[-4000:], "STDERR:", self.stderr[-4000:]]
        elif self.stderr.strip():
            lines += ["STDERR:", self.stderr[-2000:]]
        return "\n".join(lines)


def assert_refused_in_preflight(result: PlaybookResult, words) -> str:
    """`result` (run with the recorder on: `result.calls`) failed in the play "Preflight", in one task whose
    message holds every one of `words`, before any API call. Returns that message."""
    assert result.rc != 0, result.summary()
    failed = result.failed_tasks()
    assert len(failed) == 1, result.summary()
    task, message = failed[0]
    assert all(word in message for word in words), f"{task}: {message}"
    failing_plays = [play["play"]["name"] for play in result.data["plays"]
                     for t in play["tasks"] for res in t["hosts"].values() if res.get("failed")]
    assert failing_plays == ["Preflight"], failing_plays
    assert [str(c) for c in result.calls] == [], "preflight must refuse before any API call"
    return message


def run_playbook(playbook: str, *, endpoint_url: str | None, inventory: str = "sandbox", check: bool = False,
                 diff: bool = False, extra_vars: dict | None = None, tags: str | None = None,
                 skip_tags: str | None = None, json_output: bool = True, timeout: int = 1200,
                 verbosity: int = 0) -> PlaybookResult:
    """Run `ansible-playbook` from the repository root the way a user does, against the emulator."""
    env = dict(os.environ)
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
    )
    env.pop("AWS_ENDPOINT_URL", None)  # only the inventory's setting may point at the emulator
    env.pop("AWS_PROFILE", None)
    if endpoint_url:
        env["WEBSTACK_AWS_ENDPOINT_URL"] = endpoint_url
    if json_output:
        env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", f"inventories/{inventory}", playbook]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if tags:
        cmd += ["--tags", tags]
    skip_tags = skip_tags or os.environ.get("WEBSTACK_TEST_SKIP_TAGS")  # e.g. work on one layer at a time
    if skip_tags:
        cmd += ["--skip-tags", skip_tags]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    seconds = time.monotonic() - start
    data: dict = {}
    if json_output:
        text = proc.stdout
        brace = text.find("{")
        if brace >= 0:
            try:
                data, _end = json.JSONDecoder().raw_decode(text[brace:])
            except json.JSONDecodeError:
                data = {}
    return PlaybookResult(rc=proc.returncode, stdout=proc.stdout, stderr=proc.stderr, seconds=seconds, data=data)
