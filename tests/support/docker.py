"""The docker end-to-end pieces: run playbooks on inventories/local, the docker CLI, stack snapshots and clean-up,
bounded HTTP load loops (also the building blocks of the examples' harness, support.examples, and of
scripts/benchmark-docker)."""
import http.client
import json
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from support import ROOT, playbook
from support.playbook import RECAP, PlaybookResult  # noqa: F401  (re-exported: the recap of a text run)

INVENTORY = ROOT / "inventories" / "local"


def run_playbook(name, overrides, *extra, extra_vars=None, check=False, timeout=900):
    """ansible-playbook playbooks/<name>.yml -i inventories/local -e @overrides [...] (`check`: --check --diff): the
    docker platform's options of support.playbook.run_playbook (text output, logged to artifacts/e2e.log)."""
    return playbook.run_playbook(name, *extra, inventory=INVENTORY, extra_vars_files=[overrides], extra_vars=extra_vars,
                                 check=check, diff=check, json_output=False, log=ROOT / "artifacts" / "e2e.log",
                                 timeout=timeout)


def docker(*args, check=True, timeout=300):
    res = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {res.stderr}")
    return res.stdout.strip()


def stack_containers(stack, by_name=False):
    """{name: (id, state, start time)} of the stack's containers: those labelled for it (and, with by_name, those
    named `<stack>-...`)."""
    ids = docker("ps", "-aq", "--filter", f"label=webstack.stack={stack}").split()
    if by_name:
        ids += docker("ps", "-aq", "--filter", f"name=^{stack}-").split()
    containers = {}
    if ids:
        for c in json.loads(docker("inspect", *sorted(set(ids)))):
            containers[c["Name"]] = (c["Id"], c["State"]["Status"], c["State"]["StartedAt"])
    return containers


def named(kind, stack):
    """Networks or volumes whose name is the stack's name or starts with `<stack>-`."""
    names = docker(kind, "ls", "--format", "{{.Name}}", check=False).split()
    return sorted(n for n in names if n == stack or n.startswith(f"{stack}-"))


def stack_snapshot(stack, state_dir):
    """Everything a 'no change' promise covers: containers (id, state, start time), networks,
    volumes and the ledger and nginx config on disk."""
    containers = stack_containers(stack)
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


def http_request(port, method, path, body=None, timeout=5, host=""):
    """One request on a fresh connection to 127.0.0.1:port (`host`: its Host header); returns (status, body text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Host": host} if host else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
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
    keepalive_retried: int = 0

    @property
    def total(self):
        return self.requests + self.keepalive_requests

    def first_seen(self, version):
        return next((t for t, v in self.versions if v == version), None)


class LoadLoop:
    """Bounded GET `path` load against 127.0.0.1:port while a playbook runs.

    Runs `workers` fresh-connection clients plus one keep-alive client, each pausing `pause` s between two
    requests; `host` is the Host header ("" = none), `timeout` the client timeout (a slower request fails).
    Records each change of the JSON field `version_field` ("" = none) in the answers of the fresh-connection
    clients (and of the keep-alive client with `keepalive_versions`). Stops by itself once `stop()` was called
    AND at least `min_requests` were made, or at `max_requests` / `max_seconds` whatever comes first."""

    def __init__(self, port, min_requests=2000, max_requests=60000, max_seconds=600, workers=4, *, path="/version",
                 host="", version_field="version", timeout=5, pause=0.0, keepalive_versions=False):
        self.port, self.min_requests = port, min_requests
        self.max_requests, self.max_seconds, self.workers = max_requests, max_seconds, workers
        self.path, self.host, self.version_field, self.timeout = path, host, version_field, timeout
        self.pause, self.keepalive_versions = pause, keepalive_versions
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self._deadline = None
        self._last_version = object()

    def _done(self):
        total = self.result.total
        if total >= self.max_requests or time.time() > self._deadline:
            return True
        return self._stop.is_set() and total >= self.min_requests

    def _note(self, ok, body, err, keep_version):
        """Under the lock: the error of a failed request, or the version a good answer served."""
        r = self.result
        if not ok:
            if len(r.errors) < 20:
                r.errors.append(err)
        elif self.version_field and keep_version:
            version = json.loads(body).get(self.version_field)
            if version != self._last_version:
                self._last_version = version
                r.versions.append((time.time(), version))

    def _record(self, ok, body, err=None):
        """One request of a fresh-connection client."""
        with self._lock:
            self.result.requests += 1
            self.result.failed += 0 if ok else 1
            self._note(ok, body, err, True)

    def _record_keepalive(self, ok, body, err):
        with self._lock:
            self.result.keepalive_requests += 1
            self.result.keepalive_failed += 0 if ok else 1
            self._note(ok, body, f"keep-alive: {err}", self.keepalive_versions)

    def _pause(self):
        if self.pause:
            time.sleep(self.pause)

    def _fresh_client(self):
        while not self._done():
            try:
                status, body = http_request(self.port, "GET", self.path, timeout=self.timeout, host=self.host)
                self._record(status == 200, body, f"HTTP {status}: {body[:120]}")
            except Exception as exc:  # noqa: BLE001 - every failure counts as a failed request
                self._record(False, "", repr(exc))
            self._pause()

    def _keepalive_client(self):
        conn = None
        headers = {"Host": self.host} if self.host else {}
        while not self._done():
            attempts, reused = 0, conn is not None
            while True:
                attempts += 1
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
                    conn.request("GET", self.path, headers=headers)
                    resp = conn.getresponse()
                    body = resp.read().decode()
                    ok, err = resp.status == 200, f"HTTP {resp.status}: {body[:120]}"
                    if resp.getheader("connection", "").lower() == "close":
                        conn.close()
                        conn = None
                    break
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                    conn.close()
                    conn = None
                    with self._lock:
                        self.result.keepalive_raw_failures += 1
                    if reused and attempts == 1:  # retry once on a new connection, like urllib3/browsers
                        with self._lock:
                            self.result.keepalive_retried += 1
                        continue
                    ok, body, err = False, "", repr(exc)
                    break
                except Exception as exc:  # noqa: BLE001
                    if conn is not None:
                        conn.close()
                    conn, ok, body, err = None, False, "", repr(exc)
                    break
            self._record_keepalive(ok, body, err)
            self._pause()
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


# ------------------------------------------------------------------------------------- state fixtures of a stack
def ledger(state_dir) -> dict:
    """The stack's release ledger (<state_dir>/ledger.json): `current` and `releases` (each with `version`,
    `previous`, `action`); empty when nothing was deployed."""
    path = Path(state_dir) / "ledger.json"
    return json.loads(path.read_text()) if path.exists() else {"current": "", "releases": []}


class StackState:
    """Brings a docker stack to the state a test needs, doing only what its containers and ledger do not already
    show: in file order every state is already there (no extra playbook run), and a test run alone
    (`-k rollback`) gets it from here. `run(playbook, extra_vars)` runs a playbook against the stack.

    - `provisioned()`: the stack's postgres, redis and proxy containers run (else provision.yml);
    - `release(current, previous=None)`: the ledger's current version is `current` and, when given, the current
      release's `previous` is `previous` (else deploy `previous`, then `current`);
    - `backed_up()`: at least one backup in <state_dir>/backups (else backup.yml).
    What it did is appended to artifacts/e2e-state.log (nothing, in file order)."""

    LOG = ROOT / "artifacts" / "e2e-state.log"

    def __init__(self, name, state_dir, run):
        self.name, self.state_dir, self._run = name, Path(state_dir), run

    def ensure(self, release=None, previous=None, backup=False, test=""):
        self.provisioned(test)
        if release:
            self.release(release, previous, test)
        if backup:
            self.backed_up(test)

    def _do(self, playbook, extra_vars, why, test):
        self.LOG.parent.mkdir(exist_ok=True)
        with self.LOG.open("a", encoding="utf-8") as fh:
            fh.write(f"{time.strftime('%H:%M:%S')} {self.name} {test}: {playbook} {json.dumps(extra_vars)} ({why})\n")
        run = self._run(playbook, extra_vars)
        assert run.rc == 0, f"state for {test}: {playbook} {extra_vars} failed:\n{run.failures()}"

    def provisioned(self, test=""):
        names = set(docker("ps", "--filter", "status=running", "--filter", f"name=^{self.name}-",
                           "--format", "{{.Names}}", check=False).split())
        missing = {f"{self.name}-{service}" for service in ("postgres", "redis", "proxy")} - names
        if missing:
            self._do("provision", {}, f"not running: {sorted(missing)}", test)

    def release(self, current, previous=None, test=""):
        book = ledger(self.state_dir)
        last = book["releases"][-1] if book.get("releases") else {}
        if book.get("current") == current and previous in (None, last.get("previous")):
            return
        why = f"ledger: current {book.get('current') or '-'}, previous {last.get('previous') or '-'}"
        if previous is not None and book.get("current") != previous:
            self._do("deploy", {"app_version": previous}, why, test)
        self._do("deploy", {"app_version": current}, why, test)

    def backed_up(self, test=""):
        backups = self.state_dir / "backups"
        if not (backups.is_dir() and any(backups.iterdir())):
            self._do("backup", {}, "no backup", test)
