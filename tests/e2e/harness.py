"""Helpers of the docker end-to-end suite: run playbooks, read the recap, bounded HTTP load loops."""
import http.client
import json
import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "inventories" / "local"
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


@dataclass
class PlaybookRun:
    rc: int
    output: str
    seconds: float
    started: float

    @property
    def changed(self):
        return sum(int(m[2]) for m in RECAP.findall(self.output))


def run_playbook(name, overrides, *extra, extra_vars=None, check=False, timeout=900):
    """ansible-playbook playbooks/<name>.yml -i inventories/local -e @overrides [...]"""
    cmd = ["ansible-playbook", str(ROOT / "playbooks" / f"{name}.yml"), "-i", str(INVENTORY),
           "-e", f"@{overrides}"]
    for key, value in (extra_vars or {}).items():
        cmd += ["-e", json.dumps({key: value})]
    if check:
        cmd += ["--check", "--diff"]
    cmd += list(extra)
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1",
               ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    started = time.time()
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    run = PlaybookRun(res.returncode, res.stdout + res.stderr, time.time() - started, started)
    log = ROOT / "artifacts" / "e2e.log"
    log.parent.mkdir(exist_ok=True)
    with log.open("a") as fh:
        fh.write(f"\n===== {' '.join(cmd[1:])} rc={run.rc} {run.seconds:.1f}s\n{run.output}\n")
    return run


def docker(*args, check=True):
    res = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300)
    if check and res.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {res.stderr}")
    return res.stdout.strip()


def stack_snapshot(stack, state_dir):
    """Everything a 'no change' promise covers: containers (id, state, start time), networks,
    volumes and the ledger and nginx config on disk."""
    ids = docker("ps", "-aq", "--filter", f"label=webstack.stack={stack}").split()
    containers = {}
    if ids:
        for c in json.loads(docker("inspect", *ids)):
            containers[c["Name"]] = (c["Id"], c["State"]["Status"], c["State"]["StartedAt"])
    files = {}
    for rel in ("ledger.json", "nginx/conf.d/upstream.conf"):
        p = Path(state_dir) / rel
        files[rel] = p.read_text() if p.exists() else None
    return {
        "containers": containers,
        "networks": sorted(docker("network", "ls", "-q", "--filter", f"name={stack}").split()),
        "volumes": sorted(docker("volume", "ls", "-q", "--filter", f"name={stack}").split()),
        "files": files,
    }


def remove_stack(stack, state_dir):
    """Safety net after the suite: remove every container, network and volume named for the stack."""
    ids = docker("ps", "-aq", "--filter", f"label=webstack.stack={stack}", check=False).split()
    ids += docker("ps", "-aq", "--filter", f"name=^{stack}-", check=False).split()
    if ids:
        docker("rm", "-f", "-v", *sorted(set(ids)), check=False)
    for net in docker("network", "ls", "-q", "--filter", f"name={stack}", check=False).split():
        docker("network", "rm", net, check=False)
    for vol in docker("volume", "ls", "-q", "--filter", f"name={stack}", check=False).split():
        docker("volume", "rm", "-f", vol, check=False)
    shutil.rmtree(state_dir, ignore_errors=True)


def http_request(port, method, path, body=None, timeout=5):
    """One request on a fresh connection to 127.0.0.1:port; returns (status, body text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def http_get(port, path, timeout=5):
    return http_request(port, "GET", path, timeout=timeout)


@dataclass
class LoadResult:
    requests: int = 0
    failed: int = 0
    errors: list = field(default_factory=list)
    # (time, version) of each change of version seen, in order
    versions: list = field(default_factory=list)
    # keep-alive client: failures before and after one retry of a request on a reused connection
    # that the server closed before answering (RFC 9110 9.2.2: GET is idempotent, clients may retry)
    keepalive_requests: int = 0
    keepalive_raw_failures: int = 0
    keepalive_failed: int = 0

    def first_seen(self, version):
        return next((t for t, v in self.versions if v == version), None)


class LoadLoop:
    """Bounded GET /version load against 127.0.0.1 while a playbook runs.

    Runs `workers` fresh-connection clients plus one keep-alive client. Stops by itself once
    `stop()` was called AND at least `min_requests` were made, or at `max_requests` / `max_seconds`
    whatever comes first."""

    def __init__(self, port, min_requests=2000, max_requests=60000, max_seconds=600, workers=4):
        self.port, self.min_requests = port, min_requests
        self.max_requests, self.max_seconds, self.workers = max_requests, max_seconds, workers
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self._deadline = None
        self._last_version = None

    def _done(self):
        r = self.result
        total = r.requests + r.keepalive_requests
        if total >= self.max_requests or time.time() > self._deadline:
            return True
        return self._stop.is_set() and total >= self.min_requests

    def _record(self, ok, body, err=None):
        with self._lock:
            self.result.requests += 1
            if not ok:
                self.result.failed += 1
                if len(self.result.errors) < 20:
                    self.result.errors.append(err)
                return
            version = json.loads(body).get("version")
            if version != self._last_version:
                self._last_version = version
                self.result.versions.append((time.time(), version))

    def _fresh_client(self):
        while not self._done():
            try:
                status, body = http_get(self.port, "/version")
                self._record(status == 200, body, f"HTTP {status}: {body[:120]}")
            except Exception as exc:  # noqa: BLE001 - every failure counts as a failed request
                self._record(False, "", repr(exc))

    def _keepalive_client(self):
        conn = None
        while not self._done():
            attempts, reused = 0, conn is not None
            while True:
                attempts += 1
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                    conn.request("GET", "/version")
                    resp = conn.getresponse()
                    body = resp.read()
                    ok = resp.status == 200
                    if resp.getheader("connection", "").lower() == "close":
                        conn.close()
                        conn = None
                    break
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                    conn.close()
                    conn = None
                    with self._lock:
                        self.result.keepalive_raw_failures += 1
                    if reused and attempts == 1:
                        continue  # retry once on a new connection, like urllib3/browsers
                    ok, body = False, repr(exc).encode()
                    break
                except Exception as exc:  # noqa: BLE001
                    if conn is not None:
                        conn.close()
                    conn, ok, body = None, False, repr(exc).encode()
                    break
            with self._lock:
                self.result.keepalive_requests += 1
                if not ok:
                    self.result.keepalive_failed += 1
                    if len(self.result.errors) < 20:
                        self.result.errors.append(f"keep-alive: {body[:120]!r}")
        if conn is not None:
            conn.close()

    def __enter__(self):
        self._deadline = time.time() + self.max_seconds
        self._threads = [threading.Thread(target=self._fresh_client, daemon=True) for _ in range(self.workers)]
        self._threads.append(threading.Thread(target=self._keepalive_client, daemon=True))
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=self.max_seconds)
        return False
