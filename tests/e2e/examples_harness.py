"""Helpers of the examples' end-to-end tests (examples/<system>/, issue 8 section 6).

- `EXAMPLES`: what each example's stand-in answers where, through the stack's proxy.
- `build_images`: the example's stand-in images for the versions a test deploys, built with the legacy builder and
  cached by a hash label (context files + version + base image id), so a changed stand-in is rebuilt and an
  unchanged one costs one `docker image inspect`. The platform then finds them present (a version is immutable).
- `run`: one playbook against an example's docker or aws inventory, always with -vvv; each output is checked for
  the example's secret values by the tests.
- `Load`: a bounded fresh-connection + keep-alive GET loop on 127.0.0.1 through the proxy (Host header for host
  routes), recording the version served where the example has a version endpoint.
- `ContainerSampler`: samples the running containers of a process (the singleton never runs twice).
"""
from __future__ import annotations

import hashlib
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

import yaml

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
BUILD_LABEL = "wsx.build-hash"
BASE_IMAGE = "webstack/base:bookworm"


@dataclass
class Probe:
    """A request through the proxy: path, Host header ("" = none), JSON field holding the version ("" = none)."""
    path: str
    host: str = ""
    version_field: str = ""


@dataclass
class Example:
    key: str
    n: int
    probes: dict  # process name -> Probe (routed processes)
    load: str  # process whose probe the load loop uses
    workers: tuple = ()  # processes without a port
    singletons: tuple = ()

    @property
    def stack(self):
        return f"wsx-{self.key}"

    @property
    def dir(self):
        return ROOT / "examples" / self.key

    def inventory(self, platform="docker"):
        return self.dir / platform

    @property
    def proxy_port(self):
        return 18080 + self.n

    @property
    def postgres_port(self):
        return 15440 + self.n

    @property
    def redis_port(self):
        return 16380 + self.n

    @property
    def state_dir(self):
        return f"/var/lib/webstack/{self.stack}"

    @property
    def secrets_dir(self):
        return ROOT / ".secrets" / self.stack

    def description(self):
        return yaml.safe_load((self.dir / "app.yml").read_text())

    def images(self):
        """{repository: build context} of every process, from app.yml ({{ inventory_dir }} = the docker inventory)."""
        desc = self.description()
        out = {}
        for proc in desc["app_processes"]:
            repo = proc.get("image") or desc["app_image"]
            context = (proc.get("build") or desc.get("app_build") or {})["context"]
            context = context.replace("{{ inventory_dir }}", str(self.inventory("docker")))
            out[repo] = Path(os.path.normpath(context))
        return out

    def secret_values(self):
        """Every generated secret of the docker inventory (what must never appear in a playbook's output)."""
        if not self.secrets_dir.is_dir():
            return {}
        return {p.name: p.read_text().strip() for p in self.secrets_dir.iterdir() if p.is_file()}


EXAMPLES = {e.key: e for e in (
    Example("petforce", 1,
            probes={"web": Probe("/health", version_field="version"),
                    "api": Probe("/health", host="api.petforce.test", version_field="version")},
            load="api"),
    Example("household", 2,
            probes={"web": Probe("/health", version_field="version"),
                    "api": Probe("/api/health", version_field="version")},
            load="api", workers=("jobs",)),
    Example("sports-nutrition", 3, probes={"api": Probe("/api/foods")}, load="api"),
    Example("propflow", 4,
            probes={"api": Probe("/api/v1/status"), "dashboard": Probe("/")},
            load="api", workers=("worker", "beat"), singletons=("beat",)),
    Example("meal-planner", 5, probes={"api": Probe("/api/v1/recipes")}, load="api"),
)}


# ----------------------------------------------------------------------------------------------- docker


def docker(*args, check=True, timeout=300):
    res = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {res.stderr}")
    return res.stdout.strip()


def _context_hash(context: Path, version: str, base_id: str) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(context)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
        digest.update(b"x" if os.access(path, os.X_OK) else b"-")
    digest.update(f"{version}|{base_id}".encode())
    return digest.hexdigest()


def build_images(example: Example, versions) -> dict:
    """Builds the example's images for each version unless an image with the same hash label exists.
    Returns {image: seconds spent building (0.0 = cached)}."""
    base_id = docker("image", "inspect", "-f", "{{.Id}}", BASE_IMAGE)
    spent = {}
    for repo, context in example.images().items():
        for version in versions:
            name = f"{repo}:{version}"
            want = _context_hash(context, version, base_id)
            have = docker("image", "inspect", "-f", f'{{{{index .Config.Labels "{BUILD_LABEL}"}}}}', name, check=False)
            if have == want:
                spent[name] = 0.0
                continue
            started = time.time()
            res = subprocess.run(["docker", "build", "-q", "--label", f"{BUILD_LABEL}={want}",
                                  "--build-arg", f"APP_VERSION={version}", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}",
                                  "-t", name, str(context)], capture_output=True, text=True, timeout=900)
            assert res.returncode == 0, f"building {name} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
            spent[name] = round(time.time() - started, 1)
    return spent


def remove_images(example: Example, versions):
    for repo in example.images():
        docker("rmi", "-f", *[f"{repo}:{v}" for v in versions], check=False)


def running(example: Example, process: str = "") -> list:
    """Names of the stack's running containers (of one process when given)."""
    args = ["ps", "--filter", f"label=webstack.stack={example.stack}", "--filter", "status=running", "--format", "{{.Names}}"]
    names = docker(*args).split()
    return sorted(n for n in names if not process or n.startswith(f"{example.stack}-{process}-"))


def images_of(example: Example, process: str) -> set:
    """The image tags the running containers of a process run."""
    out = docker("ps", "--filter", f"label=webstack.stack={example.stack}", "--filter", "status=running",
                 "--format", "{{.Names}} {{.Image}}")
    return {line.split()[1].rsplit(":", 1)[-1] for line in out.splitlines()
            if line.split()[0].startswith(f"{example.stack}-{process}-")}


def named(kind: str, stack: str) -> list:
    """Networks or volumes whose name is the stack's name or starts with `<stack>-`."""
    names = docker(kind, "ls", "--format", "{{.Name}}", check=False).split()
    return sorted(n for n in names if n == stack or n.startswith(f"{stack}-"))


def hostnames(example: Example, process: str) -> set:
    """Host names of the running containers of a process (what a stand-in records as the worker)."""
    names = running(example, process)
    if not names:
        return set()
    return {c["Config"]["Hostname"] for c in json.loads(docker("inspect", *names))}


def remove_stack(example: Example):
    """Safety net: every container, network and volume of the stack, and its state directory."""
    stack = example.stack
    ids = docker("ps", "-aq", "--filter", f"label=webstack.stack={stack}", check=False).split()
    ids += docker("ps", "-aq", "--filter", f"name=^{stack}-", check=False).split()
    if ids:
        docker("rm", "-f", "-v", *sorted(set(ids)), check=False)
    for net in named("network", stack):
        docker("network", "rm", net, check=False)
    for vol in named("volume", stack):
        docker("volume", "rm", "-f", vol, check=False)
    shutil.rmtree(example.state_dir, ignore_errors=True)


def stack_resources(stack: str) -> dict:
    """What a 'no change' promise covers: containers (id, state, start), networks, volumes, state dir files."""
    ids = docker("ps", "-aq", "--filter", f"label=webstack.stack={stack}").split()
    ids += docker("ps", "-aq", "--filter", f"name=^{stack}-").split()
    containers = {}
    if ids:
        for c in json.loads(docker("inspect", *sorted(set(ids)))):
            containers[c["Name"]] = (c["Id"], c["State"]["Status"], c["State"]["StartedAt"])
    state_dir = Path(f"/var/lib/webstack/{stack}")
    files = {}
    if state_dir.is_dir():
        for p in sorted(state_dir.rglob("*")):
            if p.is_file() and "backups" not in p.parts:
                files[str(p.relative_to(state_dir))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return {"containers": containers,
            "networks": named("network", stack),
            "volumes": named("volume", stack),
            "files": files}


# ----------------------------------------------------------------------------------------------- playbooks


@dataclass
class PlaybookRun:
    cmd: list
    rc: int
    output: str
    seconds: float
    started: float

    @property
    def changed(self):
        return sum(int(m[2]) for m in RECAP.findall(self.output))

    def tail(self, n=6000):
        return self.output[-n:]

    def failures(self, limit=6000):
        """The failed tasks' messages (the `msg:` blocks after each `fatal:`/`failed:` line, without the -vvv
        invocation noise) and the recap: what a reader needs when a run fails."""
        lines, out, keep = self.output.splitlines(), [], 0
        for line in lines:
            if line.startswith(("fatal: [", "failed: [")) or line.startswith("TASK [") and keep:
                keep = 0
            if line.startswith(("fatal: [", "failed: [")):
                out.append(line)
                keep = 1
                continue
            if keep:
                if line.startswith("    msg:") or (keep == 2 and line.startswith("        ")):
                    keep = 2
                    out.append(line)
                elif keep == 2:
                    keep = 1
        recap = self.output[self.output.rfind("PLAY RECAP"):][:600] if "PLAY RECAP" in self.output else ""
        return ("\n".join(out)[-limit:] + "\n" + recap) if out else self.tail(limit)


def run(example: Example, playbook: str, platform="docker", extra_vars=None, env=None, timeout=900, verbose=True):
    """ansible-playbook playbooks/<playbook>.yml -i examples/<key>/<platform> -vvv -e ..."""
    cmd = ["ansible-playbook", str(ROOT / "playbooks" / f"{playbook}.yml"), "-i", str(example.inventory(platform))]
    if verbose:
        cmd.append("-vvv")
    for key, value in (extra_vars or {}).items():
        cmd += ["-e", json.dumps({key: value})]
    full_env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    full_env.update(env or {})
    started = time.time()
    res = subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout)
    result = PlaybookRun(cmd, res.returncode, res.stdout + res.stderr, time.time() - started, started)
    ARTIFACTS.mkdir(exist_ok=True)
    shown = [re.sub(r'("vault_[a-z0-9_]+": )"[^"]*"', r'\1"<redacted>"', part) for part in cmd[1:]]
    with (ARTIFACTS / f"examples-{example.key}.log").open("a", encoding="utf-8") as fh:
        fh.write(f"\n===== {' '.join(shown)} rc={result.rc} {result.seconds:.1f}s\n{result.output}\n")
    return result


def leaked(output: str, secrets: dict) -> list:
    """Names of the secrets whose value appears in the output."""
    return sorted(name for name, value in secrets.items() if len(value) >= 8 and value in output)


# ----------------------------------------------------------------------------------------------- HTTP


# Client timeout: a request slower than this counts as failed. 10 s, not 5: on the shared 2-core machine (load
# average up to 117 measured) a keep-alive request once took more than 5 s during a failed deploy, with nothing
# failing on the server side; a real failure (refused, reset, 5xx) is reported at once anyway.
CLIENT_TIMEOUT = 10


def request(port, probe: Probe, method="GET", path=None, body=None, timeout=CLIENT_TIMEOUT):
    """One request on a fresh connection to 127.0.0.1:port; returns (status, body text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Host": probe.host} if probe.host else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path or probe.path, body=None if body is None else json.dumps(body), headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def served_version(port, probe: Probe):
    status, body = request(port, probe)
    assert status == 200, f"GET {probe.path} (Host {probe.host or '-'}): {status} {body[:300]}"
    return json.loads(body)[probe.version_field] if probe.version_field else None


@dataclass
class LoadResult:
    requests: int = 0
    failed: int = 0
    keepalive_requests: int = 0
    keepalive_failed: int = 0
    keepalive_retried: int = 0
    errors: list = field(default_factory=list)
    versions: list = field(default_factory=list)  # (time, version) at each change of the version served

    @property
    def total(self):
        return self.requests + self.keepalive_requests

    def first_seen(self, version):
        return next((t for t, v in self.versions if v == version), None)


class Load:
    """Bounded GET load through the proxy: `workers` fresh-connection clients and one keep-alive client, each
    pausing `pause` s between requests. Stops once stop() was called and `min_requests` were made, or at
    `max_requests` / `max_seconds`."""

    def __init__(self, port, probe: Probe, min_requests=300, max_requests=40000, max_seconds=300, workers=2, pause=0.005):
        self.port, self.probe = port, probe
        self.min_requests, self.max_requests, self.max_seconds, self.workers = min_requests, max_requests, max_seconds, workers
        self.pause = pause  # between two requests of one client: bounded CPU, the deploy shares the 2 cores
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self._deadline = 0.0
        self._last = object()

    def _done(self):
        total = self.result.total
        return total >= self.max_requests or time.time() > self._deadline or (self._stop.is_set() and total >= self.min_requests)

    def _record(self, ok, body, err, keepalive=False):
        with self._lock:
            r = self.result
            if keepalive:
                r.keepalive_requests += 1
                r.keepalive_failed += 0 if ok else 1
            else:
                r.requests += 1
                r.failed += 0 if ok else 1
            if not ok:
                if len(r.errors) < 20:
                    r.errors.append(("keep-alive: " if keepalive else "") + err)
                return
            if self.probe.version_field:
                version = json.loads(body).get(self.probe.version_field)
                if version != self._last:
                    self._last = version
                    r.versions.append((time.time(), version))

    def _fresh(self):
        while not self._done():
            try:
                status, body = request(self.port, self.probe)
                self._record(status == 200, body, f"HTTP {status}: {body[:120]}")
            except Exception as exc:  # noqa: BLE001 - every failure counts
                self._record(False, "", repr(exc))
            time.sleep(self.pause)

    def _keepalive(self):
        conn = None
        headers = {"Host": self.probe.host} if self.probe.host else {}
        while not self._done():
            reused, attempt = conn is not None, 0
            while True:
                attempt += 1
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=CLIENT_TIMEOUT)
                    conn.request("GET", self.probe.path, headers=headers)
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
                    if reused and attempt == 1:  # idempotent GET on a connection the server closed: retry once
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
            self._record(ok, body, err, keepalive=True)
            time.sleep(self.pause)
        if conn is not None:
            conn.close()

    def __enter__(self):
        self._deadline = time.time() + self.max_seconds
        self._threads = [threading.Thread(target=self._fresh, daemon=True) for _ in range(self.workers)]
        self._threads.append(threading.Thread(target=self._keepalive, daemon=True))
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=self.max_seconds)
        return False


class ContainerSampler:
    """Samples, every `interval` seconds, how many containers of each process run (docker ps)."""

    def __init__(self, example: Example, processes, interval=0.3, max_seconds=600):
        self.example, self.processes, self.interval, self.max_seconds = example, tuple(processes), interval, max_seconds
        self.samples = 0
        self.max_running = {p: 0 for p in self.processes}
        self.over = []  # (time, names) of samples with more than one container of a process
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        deadline = time.time() + self.max_seconds
        while not self._stop.is_set() and time.time() < deadline:
            names = running(self.example)
            self.samples += 1
            for proc in self.processes:
                mine = [n for n in names if n.startswith(f"{self.example.stack}-{proc}-")]
                self.max_running[proc] = max(self.max_running[proc], len(mine))
                if len(mine) > 1:
                    self.over.append((time.time(), mine))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)
        return False


def wait_for(check, timeout=30.0, interval=0.5):
    """Polls check() until it returns a truthy value; returns it (or the last falsy value at the deadline)."""
    deadline = time.time() + timeout
    value = check()
    while not value and time.time() < deadline:
        time.sleep(interval)
        value = check()
    return value
