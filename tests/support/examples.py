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
The docker and load pieces are support.docker's, the playbook runner support.playbook's, given the examples' probes
and timeouts.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

from support import ROOT
from support.docker import LoadLoop, docker, http_request, named, stack_containers
from support.docker import remove_stack as _remove_stack
from support.playbook import run_playbook

ARTIFACTS = ROOT / "artifacts"
BUILD_LABEL = "wsx.build-hash"
BASE_IMAGE = "webstack/base:bookworm"


@dataclass
class Probe:
    """A request through the proxy: path, Host header ("" = none), JSON field holding the version ("" = none)."""
    path: str
    host: str = ""
    version_field: str = ""


@dataclass
class WorkerProbe:
    """How a test sees a worker process what the api enqueued: POST `enqueue` with `body(version)` answers 202 and
    the job's `id`; GET `fetch` (`{id}` filled in) answers the job, whose `done` (field, value) says it was
    processed, `version_field` by which version and `host_field` by which host (a running `process` container)."""
    process: str
    enqueue: str
    body: Callable
    fetch: str
    done: tuple
    version_field: str
    host_field: str


@dataclass
class Example:
    key: str
    n: int
    probes: dict  # process name -> Probe (routed processes)
    load: str  # process whose probe the load loop uses
    workers: tuple = ()  # processes without a port
    singletons: tuple = ()
    worker_probe: WorkerProbe = None  # how the worker's work is seen through the api (examples with a worker)

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
            load="api", workers=("jobs",),
            worker_probe=WorkerProbe("jobs", "/api/invites", lambda v: {"email": f"member-{v}@household.test"},
                                     "/api/invites/{id}", ("status", "sent"), "sent_by_version", "sent_by")),
    Example("sports-nutrition", 3, probes={"api": Probe("/api/foods")}, load="api"),
    Example("propflow", 4,
            probes={"api": Probe("/api/v1/status"), "dashboard": Probe("/")},
            load="api", workers=("worker", "beat"), singletons=("beat",),
            worker_probe=WorkerProbe("worker", "/api/v1/valuations", lambda v: {"address": f"{v} Main St"},
                                     "/api/v1/valuations/{id}", ("status", "done"), "worker_version", "processed_by")),
    Example("meal-planner", 5, probes={"api": Probe("/api/v1/recipes")}, load="api"),
)}


# ----------------------------------------------------------------------------------------------- docker


def _context_files(context: Path) -> list:
    """The files of a build context, links followed (the stand-ins link to examples/standin/), sorted."""
    return sorted(p for p in context.rglob("*") if p.is_file())


def _context_hash(context: Path, version: str, base_id: str) -> str:
    digest = hashlib.sha256()
    for path in _context_files(context):
        digest.update(str(path.relative_to(context)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
        digest.update(b"x" if os.access(path, os.X_OK) else b"-")
    digest.update(f"{version}|{base_id}".encode())
    return digest.hexdigest()


def _context_tar(context: Path) -> bytes:
    """The build context as the platform copies it to the docker host: a tar with the links followed."""
    buf = io.BytesIO()
    # GNU format: the docker CLI (20.10) does not take a tar that starts with a PAX header for a tar at all
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.dereference = True
        tar.add(context, arcname=".")
    return buf.getvalue()


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
                                  "-t", name, "-"], input=_context_tar(context), capture_output=True, timeout=900)
            assert res.returncode == 0, \
                f"building {name} failed:\n{res.stdout.decode()[-3000:]}\n{res.stderr.decode()[-3000:]}"
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


def hostnames(example: Example, process: str) -> set:
    """Host names of the running containers of a process (what a stand-in records as the worker)."""
    names = running(example, process)
    if not names:
        return set()
    return {c["Config"]["Hostname"] for c in json.loads(docker("inspect", *names))}


def remove_stack(example: Example):
    """Safety net: every container, network and volume of the stack, and its state directory."""
    _remove_stack(example.stack, example.state_dir)


def stack_resources(stack: str) -> dict:
    """What a 'no change' promise covers: containers (id, state, start), networks, volumes, state dir files."""
    state_dir = Path(f"/var/lib/webstack/{stack}")
    files = {}
    if state_dir.is_dir():
        for p in sorted(state_dir.rglob("*")):
            if p.is_file() and "backups" not in p.parts:
                files[str(p.relative_to(state_dir))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return {"containers": stack_containers(stack, by_name=True),
            "networks": named("network", stack),
            "volumes": named("volume", stack),
            "files": files}


# ----------------------------------------------------------------------------------------------- playbooks


def run(example: Example, playbook: str, platform="docker", extra_vars=None, env=None, timeout=900, verbose=True):
    """ansible-playbook playbooks/<playbook>.yml -i examples/<key>/<platform> -vvv -e ..."""
    return run_playbook(playbook, inventory=example.inventory(platform), extra_vars=extra_vars, json_output=False,
                        verbosity=3 if verbose else 0, env=env, log=ARTIFACTS / f"examples-{example.key}.log",
                        timeout=timeout)


def leaked(output: str, secrets: dict) -> list:
    """Names of the secrets whose value appears in the output."""
    return sorted(name for name, value in secrets.items() if len(value) >= 8 and value in output)


# ----------------------------------------------------------------------------------------------- HTTP


# Client timeout: a request slower than this counts as failed. 10 s, not 5: on the shared 2-core machine (load
# average up to 117 measured) a keep-alive request once took more than 5 s during a failed deploy, with nothing
# failing on the server side; a real failure (refused, reset, 5xx) is reported at once anyway.
CLIENT_TIMEOUT = 10


def request(port, probe: Probe, method="GET", path=None, body=None, timeout=CLIENT_TIMEOUT):
    """One request on a fresh connection to 127.0.0.1:port (the probe's Host header); returns (status, body text)."""
    return http_request(port, method, path or probe.path, body=body, timeout=timeout, host=probe.host)


def served_version(port, probe: Probe):
    status, body = request(port, probe)
    assert status == 200, f"GET {probe.path} (Host {probe.host or '-'}): {status} {body[:300]}"
    return json.loads(body)[probe.version_field] if probe.version_field else None


class Load(LoadLoop):
    """harness.LoadLoop on a probe through the proxy: `workers` fresh-connection clients and one keep-alive client,
    each pausing `pause` s between requests (bounded CPU: the deploy shares the 2 cores), the versions seen by
    both kinds of client. Stops once stop() was called and `min_requests` were made, or at `max_requests` /
    `max_seconds`."""

    def __init__(self, port, probe: Probe, min_requests=300, max_requests=40000, max_seconds=300, workers=2, pause=0.005):
        super().__init__(port, min_requests, max_requests, max_seconds, workers, path=probe.path, host=probe.host,
                         version_field=probe.version_field, timeout=CLIENT_TIMEOUT, pause=pause,
                         keepalive_versions=True)
        self.probe = probe


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
