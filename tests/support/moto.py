"""THE moto server wrapper of the tests, the collection's tests and the benchmarks: a real moto server on a free port of
127.0.0.1, its reset and its API-call recorder, and the one list of mutating action names.

    server = MotoServer(ecs_service_running=1).start()     # MOTO_IAM_LOAD_MANAGED_POLICIES=true
    server.recorder_start(); ...; calls = server.recorder_stop()     # [ApiCall]; mutating(calls)
    server.client("ecs")                                   # boto3, region `server.region`
    server.stop()

The collection's integration tests use the same server through `start_recording()` / `recorded_actions()` (action
names) and `mutating_actions(actions)`.
"""
from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from support import VENV_BIN

REGION = "eu-west-1"

# Action-name prefixes of the query/JSON protocols that change state. Everything else (Describe*, List*,
# Get*, Head*) only reads.
MUTATING_PREFIXES = (
    "Create", "Modify", "Put", "Delete", "Update", "Attach", "Detach", "Authorize", "Revoke", "Register",
    "Deregister", "Associate", "Disassociate", "Add", "Remove", "Tag", "Untag", "Allocate", "Release",
    "Set", "Enable", "Disable", "Reboot", "Restore", "Start", "Stop", "Run", "Import", "Replace", "Apply",
    "Change", "Reset", "Subscribe", "Unsubscribe", "Publish", "Rotate", "Copy", "Upload", "Increase",
    "Decrease", "Failover", "Test", "Batch", "Accept", "Reject", "Cancel", "Purge", "Promote",
)



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

    def __init__(self, port: int | None = None, ecs_service_running: int | None = None, region: str = REGION,
                 env: dict | None = None):
        self.port = port or free_port()
        self.region = region
        self.extra_env = dict(env or {})
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
            AWS_DEFAULT_REGION=self.region,
        )
        env.update(self.extra_env)
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
        return dict(endpoint_url=self.url, region_name=self.region,
                    aws_access_key_id="testing", aws_secret_access_key="testing")

    def client(self, service: str):
        import boto3  # imported lazily: the benchmark script needs no boto3 for parsing

        return boto3.client(service, **self.boto3_kwargs())

    # -- the collection's integration tests: action names ---------------------------------------------
    def start_recording(self) -> None:
        self.recorder_start()

    def recorded_actions(self) -> list[str]:
        """Stop recording; the API actions (e.g. 'CreateFlowLogs') recorded since the start; a REST call (S3, ...) as
        '<METHOD> <url>'."""
        return [f"{c.method} {c.url}" if c.action.startswith("REST:") else c.action for c in self.recorder_stop()]

    @staticmethod
    def mutating_actions(actions: list[str]) -> list[str]:
        """The actions among `actions` that change state: by name (MUTATING_PREFIXES), and the REST writes (S3),
        recorded as `PUT|POST|DELETE <url>`."""
        return [a for a in actions if a.startswith(MUTATING_PREFIXES) or a.startswith(("PUT ", "POST ", "DELETE "))]

    # the name the collection's integration tests call it by: `moto.mutating(moto.recorded_actions())`
    mutating = mutating_actions


def mutating(calls: list[ApiCall], except_lock: bool = False) -> list[ApiCall]:
    """The calls that change something. `except_lock=True` leaves out the writes of the run's own deploy lock
    (s3 PUT/DELETE of a lock/<stack>.json object, role release backend s3): bookkeeping of the run, not a change of
    the stack."""
    return [c for c in calls if c.mutating and not (except_lock and is_lock_call(c))]


def is_lock_call(call: ApiCall) -> bool:
    """A call on the deploy lock object of a stack (release_lock_s3_key's default: lock/<webstack_name>.json)."""
    return call.service == "s3" and re.search(r"/lock/[^/]+\.json$", urlparse(call.url).path) is not None
