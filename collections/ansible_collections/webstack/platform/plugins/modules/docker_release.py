#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""webstack.platform.docker_release: the docker platform's release steps, each in one module run."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: docker_release
short_description: Blue/green release of an application's processes on one Docker host, behind nginx
version_added: 0.3.0
description:
  - The platform steps of the shared C(release) role on the docker platform, each in one module run (Ansible
    costs about a second per module run; a deploy is a handful of them).
  - Every process of the plan (the C(webstack.platform.app_plan) filter's C(processes)) runs as
    C(count) containers named C(<stack>-<process>-<colour>-<n>), labelled C(webstack.stack),
    C(webstack.component=app), C(webstack.process), C(webstack.colour), C(webstack.version) and C(webstack.config)
    (a digest of everything the container is created from, secrets included), on the stack network.
  - O(action=plan) reads the images and the containers, writes the processes' secrets as 0600 files under
    O(state_dir)C(/secrets/app/) (nothing in check mode), and returns the release plan (RV(release)) - the live
    and the new colour, per process the containers to start and to stop, whether the version is already live
    (RV(release.noop)), and the proxy configuration the switch writes (shown with C(--diff)).
  - O(action=switch) starts the new colour of every HTTP process (a process with a port) all at once, or starts
    its stopped containers again when they already hold this exact configuration (a rollback's fast path); a
    singleton's old container is stopped first (never two). Then it waits for all of them together - readiness
    is probed from the docker host (HTTP GET to the container's address on the stack network, nothing is run
    inside the image); a container that exits or restarts ends the wait at once, with its last log lines.
    A process without a readiness path is ready when it has been running for O(settle_seconds) (and, with a
    port, accepts TCP connections). Then it writes the nginx configuration (one upstream per routed process,
    a C(location) per path prefix in the default server, a C(server) per host), checks it with C(nginx -t)
    and reloads nginx (C(nginx -s reload) in O(proxy_container)); a configuration nginx rejects is replaced by
    the previous one. On any failure the containers it started go again and traffic has not moved.
  - O(action=finish) replaces the workers (processes without a port) after the switch - new ones started and
    waited for, then the old ones stopped with their stop timeout; a singleton worker's old container is stopped
    before its new one starts and is started again when the new one fails. Then, once O(drain_seconds) have passed
    since the switch, the old colour of the HTTP processes is stopped (kept for a fast rollback), and the
    containers of processes the plan no longer has are removed.
  - O(action=putback) puts the previous release back after a failure past the switch (smoke checks, workers) -
    its containers started again, the previous proxy configuration restored and nginx reloaded, the new
    colour removed (deploy) or stopped (rollback).
  - O(action=migrate) runs O(migration) as a one-off container of the new image on the stack network, with the
    process's environment and secrets; fails on a non-zero exit code or a timeout, with the command's output.
author:
  - webstack maintainers
options:
  action:
    description: The step to run.
    type: str
    required: true
    choices: [plan, switch, finish, putback, migrate]
  stack:
    description: Name of the stack (C(webstack_name)); prefix of the containers, value of the C(webstack.stack) label.
    type: str
    required: true
  network:
    description: Docker network of the stack; the containers join it and readiness is probed on it.
    type: str
    required: true
  state_dir:
    description: State directory of the stack on the docker host; the secrets go to C(secrets/app/) below it.
    type: path
    required: true
  proxy_container:
    description: The nginx container whose configuration the switch rewrites.
    type: str
    required: true
  proxy_conf_dir:
    description:
      - Directory on the docker host bind-mounted on C(/etc/nginx/conf.d) in O(proxy_container). The switch rewrites
        C(upstream.conf) (the upstreams and the per-host servers) and C(routes.inc) (the default server's
        locations, included by C(webstack.conf)), nothing else.
    type: path
    required: true
  proxy_keepalive:
    description: Idle keep-alive connections nginx keeps to each upstream.
    type: int
    default: 16
  mode:
    description: C(deploy) or C(rollback) (a rollback stops, rather than removes, the containers of a failed attempt).
    type: str
    default: deploy
    choices: [deploy, rollback]
  version:
    description: The version being released (the image tag); label C(webstack.version).
    type: str
    default: ""
  processes:
    description:
      - The plan's processes (C(webstack.platform.app_plan)), each with C(name), C(image) (repository:tag),
        C(command), C(port), C(count), C(singleton), C(route) (C(path), C(host)), C(health) (C(readiness), C(grace)),
        C(stop_timeout), C(memory), C(env) (plain values) and C(secrets) (C(name), C(file)). Never secret values.
    type: list
    elements: dict
    default: []
  secret_values:
    description:
      - O(action=plan) only. Values of the secrets by name; written to 0600 files on the docker host, never returned.
    type: dict
    default: {}
  live_colour:
    description: The colour serving now (the release ledger's), C(blue) or C(green); empty when nothing was deployed.
    type: str
    default: ""
  release:
    description: The RV(release) returned by O(action=plan), for the later actions.
    type: dict
    default: {}
  previous_proxy:
    description: O(action=putback) only. The RV(previous_proxy) returned by O(action=switch).
    type: dict
    default: {}
  switch:
    description:
      - O(action=plan) only. Also switch in the same module run (what O(action=switch) does) when the release is not a
        no-op and not in check mode; for releases with nothing to do between the plan and the switch (a rollback, a
        deploy without migrations). RV(release.switched) says whether it did.
    type: bool
    default: false
  switched_at:
    description: O(action=finish) only. RV(switched_at) of O(action=switch) (epoch seconds), the start of the drain.
    type: float
    default: 0
  drain_seconds:
    description: Seconds the old colour keeps running after the switch so that requests in flight finish.
    type: float
    default: 2
  settle_seconds:
    description: Seconds a container without a readiness path must stay up before it counts as ready.
    type: float
    default: 2
  poll_interval:
    description: Seconds between two readiness probes of all the new containers.
    type: float
    default: 0.25
  restart_policy:
    description: Restart policy of the containers.
    type: str
    default: unless-stopped
    choices: ["no", always, unless-stopped, on-failure]
  migration:
    description:
      - O(action=migrate) only. C(command) (argv), C(process) (whose image, environment and secrets it gets),
        C(timeout) (seconds).
    type: dict
    default: {}
  docker_host:
    description: Docker API endpoint; defaults to E(DOCKER_HOST), else the local socket.
    type: str
    default: ""
notes:
  - Runs on the docker host (the inventory host) with the Docker SDK for Python (C(docker)).
  - "Check mode: O(action=plan) reports the plan and writes nothing; the other actions are not run in check mode
    by the C(release) role (they report what they would do and change nothing)."
  - Secrets delivered as environment variables are read from C(secrets/app/<process>.env) (an env file, 0600)
    when a container is created; file secrets are mounted read-only from C(secrets/app/<process>/<NAME>) (0600,
    owned by the image's user) on C(/run/secrets/<NAME>), and C(<NAME>_FILE) names the path.
"""

EXAMPLES = r"""
- name: Plan the release (and write the secrets)
  webstack.platform.docker_release:
    action: plan
    stack: webstack-local
    network: webstack-local
    state_dir: /var/lib/webstack/webstack-local
    proxy_container: webstack-local-proxy
    proxy_conf_dir: /var/lib/webstack/webstack-local/nginx/conf.d
    version: 2.0.0
    processes: "{{ release_plan.processes }}"
    secret_values: "{{ release_plan.secret_values }}"
    live_colour: blue
  no_log: true
  register: planned

- name: Start the new colour, wait until it is ready, switch nginx
  webstack.platform.docker_release:
    action: switch
    stack: webstack-local
    network: webstack-local
    state_dir: /var/lib/webstack/webstack-local
    proxy_container: webstack-local-proxy
    proxy_conf_dir: /var/lib/webstack/webstack-local/nginx/conf.d
    release: "{{ planned.release }}"
  register: switched
"""

RETURN = r"""
release:
  description: The plan (O(action=plan)); passed to the later actions as O(release).
  returned: always
  type: dict
  contains:
    noop:
      description: The version is live with this exact configuration on every process; nothing to do.
      type: bool
    switched:
      description: O(switch) was set and the module switched traffic in this run.
      type: bool
    live_colour:
      description: Colour serving now ("" when nothing is deployed).
      type: str
    new_colour:
      description: Colour the release starts.
      type: str
    processes:
      description: Per process, its kind (http or worker), the containers to start (C(new)), the old ones, the config digest.
      type: list
    summary:
      description: What the release does, one line per process.
      type: list
    record:
      description: What the release ledger records for this platform (colour, images, image ids, counts).
      type: dict
switched_at:
  description: Epoch seconds at which nginx was reloaded onto the new colour (O(action=switch), or plan with O(switch)).
  returned: when action is switch
  type: float
previous_proxy:
  description: The proxy configuration files before the switch (O(action=switch)), for O(action=putback).
  returned: when action is switch
  type: dict
ready:
  description: Seconds each new container took to become ready, by name.
  returned: when action is switch or finish
  type: dict
output:
  description: Output of the migration command (O(action=migrate)), secrets masked.
  returned: when action is migrate
  type: str
timings:
  description: Seconds spent per step of the module run.
  returned: always
  type: dict
"""

import hashlib
import http.client
import json
import os
import re
import socket
import tarfile
import io
import threading

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.webstack.platform.plugins.module_utils.waiter import Waiter

try:
    import docker
    from docker import errors as docker_errors
    from requests.exceptions import ConnectionError as RequestsConnectionError
    from requests.exceptions import ReadTimeout

    HAS_DOCKER = True
except ImportError:  # pragma: no cover - reported by the module
    HAS_DOCKER = False

COLOURS = ("blue", "green")
ROUTE_PATH_RE = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")
HOST_RE = re.compile(r"^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
SECRET_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")
UPSTREAM_FILE = "upstream.conf"
ROUTES_FILE = "routes.inc"


class ReleaseError(Exception):
    """A step failed; the message says what and what was done about it."""


def other_colour(colour):
    return "green" if colour == "blue" else "blue"


def container_name(stack, process, colour, n):
    return f"{stack}-{process}-{colour}-{n}"


def upstream_name(process):
    return "app_" + re.sub(r"[^A-Za-z0-9_]", "_", process)


def normalise_path(path):
    path = (path or "").strip()
    if path in ("", "/"):
        return "/"
    return "/" + path.strip("/")


# ---------------------------------------------------------------------------------------------- nginx


def render_proxy(stack, routed, keepalive, label=""):
    """The two proxy files for `routed`: [{name, path, host, port, servers: [container names]}]."""
    header = (f"# Managed by webstack.platform.docker_release (stack {stack}{', ' + label if label else ''}).\n"
              "# Rewritten by every deploy and rollback, then `nginx -t` and `nginx -s reload`.\n")
    upstreams, by_host, default = [], {}, []
    for r in sorted(routed, key=lambda x: x["name"]):
        name = upstream_name(r["name"])
        lines = [f"upstream {name} {{"]
        lines += [f"    server {s}:{r['port']} max_fails=1 fail_timeout=5s;" for s in r["servers"]]
        if not r["servers"]:  # count 0: scaled to zero, the route answers 502
            lines.append("    server 127.0.0.1:9 down;")
        lines += [f"    keepalive {keepalive};", "}"]
        upstreams.append("\n".join(lines))
        target = by_host.setdefault(r["host"], []) if r.get("host") else default
        target.append((normalise_path(r.get("path")), name))

    def locations(routes, indent):
        out = []
        pad = " " * indent
        # longest prefix first only for readability: nginx picks the longest matching prefix itself
        for path, name in sorted(routes, key=lambda x: (-len(x[0]), x[0])):
            if path == "/":
                out.append(f"{pad}location / {{ proxy_pass http://{name}; }}")
            else:
                out.append(f"{pad}location = {path} {{ proxy_pass http://{name}; }}")
                out.append(f"{pad}location {path}/ {{ proxy_pass http://{name}; }}")
        if not any(path == "/" for path, _ in routes):
            out.append(f"{pad}location / {{ default_type application/json; "
                       "return 404 '{\"status\": \"not found\", \"reason\": \"no route\"}\\n'; }")
        return out

    servers = []
    for host in sorted(by_host):
        servers.append("\n".join(
            ["server {", "    listen 8080;", f"    server_name {host};"] + locations(by_host[host], 4) + ["}"]))
    upstream_conf = header + "\n".join(upstreams + servers) + "\n"
    routes_inc = header + "\n".join(locations(default, 0)) + "\n"
    return {UPSTREAM_FILE: upstream_conf, ROUTES_FILE: routes_inc}


# ---------------------------------------------------------------------------------------------- the release


class Release:
    def __init__(self, module, client=None):
        self.module = module
        self.p = module.params
        self.stack = self.p["stack"]
        self.network = self.p["network"]
        self.secrets_dir = os.path.join(self.p["state_dir"], "secrets", "app")
        self.changed = False
        self.timings = {}
        self.clock = Waiter.clock  # wall time: switched_at is handed from one module run to the next
        self._t0 = self.clock.time()
        self._client = client
        self._uid_cache = {}

    # -- docker access
    @property
    def api(self):
        if self._client is None:
            base_url = self.p["docker_host"] or os.environ.get("DOCKER_HOST", "") or "unix:///var/run/docker.sock"
            self._client = docker.APIClient(base_url=base_url, version="auto", timeout=120)
        return self._client

    def mark(self, step):
        t = self.clock.time()
        self.timings[step] = round(t - self._t0, 2)
        self._t0 = t

    def app_containers(self):
        return self.api.containers(all=True, filters={"label": [f"webstack.stack={self.stack}",
                                                                "webstack.component=app"]})

    @staticmethod
    def cname(summary):
        return summary["Names"][0].lstrip("/")

    # -- secrets
    def process_secret_paths(self, proc):
        env_file = os.path.join(self.secrets_dir, f"{proc['name']}.env")
        files = {s["name"]: os.path.join(self.secrets_dir, proc["name"], s["name"])
                 for s in proc.get("secrets") or [] if s.get("file")}
        return env_file, files

    def image_user_ids(self, image_ref, image_info):
        """(uid, gid) the image runs as, without running anything in it (reads /etc/passwd through the API)."""
        user = (image_info.get("Config") or {}).get("User") or ""
        if image_info["Id"] in self._uid_cache:
            return self._uid_cache[image_info["Id"]]
        name, _, group = user.partition(":")
        uid = gid = None
        if name == "" or name == "root":
            uid, gid = 0, 0
        elif name.isdigit():
            uid = int(name)
        if group.isdigit():
            gid = int(group)
        if uid is None or gid is None:
            passwd = self.read_image_file(image_ref, "/etc/passwd")
            for line in passwd.splitlines():
                fields = line.split(":")
                if len(fields) >= 4 and (fields[0] == name or (name.isdigit() and fields[2] == name)):
                    uid = int(fields[2]) if uid is None else uid
                    gid = int(fields[3]) if gid is None else gid
                    break
        if uid is None:
            raise ReleaseError(f"image {image_ref} runs as user {user!r}, which its /etc/passwd does not name: "
                               "set a numeric USER in the image (e.g. USER 10001:10001) for file secrets")
        result = (uid, uid if gid is None else gid)
        self._uid_cache[image_info["Id"]] = result
        return result

    def read_image_file(self, image_ref, path):
        created = self.api.create_container(image=image_ref, command=["true"], entrypoint=[], labels={
            "webstack.stack": self.stack, "webstack.component": "probe"})
        try:
            stream, _ = self.api.get_archive(created["Id"], path)
            data = b"".join(stream)
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                member = tar.next()
                handle = tar.extractfile(member) if member else None
                return handle.read().decode("utf-8", "replace") if handle else ""
        except docker_errors.NotFound:
            return ""
        finally:
            self.api.remove_container(created["Id"], force=True)

    def write_file(self, path, content, uid, gid, mode=0o600):
        """Write `content` (bytes) atomically when it differs; returns True when it was written."""
        try:
            st = os.stat(path)
            with open(path, "rb") as handle:
                same = handle.read() == content
            if same and st.st_uid == uid and st.st_gid == gid and (st.st_mode & 0o777) == mode:
                return False
        except FileNotFoundError:
            pass
        if self.module.check_mode:
            return True
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        tmp = f"{path}.tmp{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, content)
        finally:
            os.close(fd)
        os.chown(tmp, uid, gid)
        os.chmod(tmp, mode)
        os.rename(tmp, path)
        return True

    def write_secrets(self, proc, image_ref, image_info):
        """Writes the process's secret files; returns (digest of the values, names of the files written)."""
        values = self.p["secret_values"] or {}
        env_file, files = self.process_secret_paths(proc)
        digest = hashlib.sha256()
        written = []
        env_lines = []
        for s in sorted(proc.get("secrets") or [], key=lambda x: x["name"]):
            name = s["name"]
            if not SECRET_NAME_RE.match(name):
                raise ReleaseError(f"process {proc['name']}: secret name {name!r} is not an environment variable name")
            if name not in values:
                raise ReleaseError(f"process {proc['name']}: no value for secret {name} (app_secrets)")
            value = "" if values[name] is None else str(values[name])
            digest.update(f"{name}\0{int(bool(s.get('file')))}\0{value}\0".encode())
            if not s.get("file"):
                if "\n" in value or "\r" in value:
                    raise ReleaseError(f"secret {name} holds a line break: an env file cannot carry it; "
                                       "deliver it as a file (file: true)")
                env_lines.append(f"{name}={value}\n")
        if env_lines or os.path.exists(env_file):
            if self.write_file(env_file, "".join(env_lines).encode(), 0, 0):
                written.append(os.path.relpath(env_file, self.secrets_dir))
        if files:
            uid, gid = self.image_user_ids(image_ref, image_info)
            for name, path in sorted(files.items()):
                if self.write_file(path, str(values[name]).encode(), uid, gid):
                    written.append(os.path.relpath(path, self.secrets_dir))
        return digest.hexdigest(), written

    def read_env_secrets(self, proc):
        env_file, _ = self.process_secret_paths(proc)
        env = {}
        if not any(not s.get("file") for s in proc.get("secrets") or []):
            return env
        try:
            with open(env_file, encoding="utf-8") as handle:
                for line in handle:
                    key, sep, value = line.rstrip("\n").partition("=")
                    if sep:
                        env[key] = value
        except FileNotFoundError:
            raise ReleaseError(f"the secrets of process {proc['name']} were not written ({env_file} is missing): "
                               "run the plan step first") from None
        return env

    def secret_values_on_disk(self, proc):
        values = list(self.read_env_secrets(proc).values())
        for path in self.process_secret_paths(proc)[1].values():
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    values.append(handle.read())
            except OSError:
                pass
        return [v for v in values if len(v) >= 4]

    # -- plan
    def plan(self):
        procs = self.p["processes"]
        if not procs:
            raise ReleaseError("the plan has no processes (app_processes)")
        live = self.p["live_colour"] or ""
        containers = self.app_containers()
        self.mark("list")
        running_colours = {c["Labels"].get("webstack.colour") for c in containers if c["State"] == "running"}
        if live not in COLOURS:
            live = next((c for c in COLOURS if c in running_colours), "")
        new_colour = other_colour(live) if live else "blue"
        by_name = {self.cname(c): c for c in containers}
        images, out, written_all = {}, [], []
        for proc in procs:
            ref = proc["image"]
            if ref not in images:
                try:
                    images[ref] = self.api.inspect_image(ref)
                except docker_errors.ImageNotFound:
                    raise ReleaseError(
                        f"app_version {self.p['version']}: image {ref} (process {proc['name']}) is not on this docker "
                        "host; build, pull or copy it first (app_image_source)") from None
            info = images[ref]
            secrets_digest, written = self.write_secrets(proc, ref, info)
            written_all += written
            port = int(proc.get("port") or 0)
            health = proc.get("health") or {}
            route = proc.get("route") or {}
            for key, value in (("path", route.get("path")), ("host", route.get("host"))):
                if value and not (ROUTE_PATH_RE if key == "path" else HOST_RE).match(value):
                    raise ReleaseError(f"process {proc['name']}: route {key} {value!r} cannot be put in nginx")
            config = {
                "image_id": info["Id"], "command": proc.get("command") or [], "env": proc.get("env") or {},
                "port": port, "memory": int(proc.get("memory") or 0), "stop_timeout": int(proc.get("stop_timeout") or 20),
                "secrets": sorted((s["name"], bool(s.get("file"))) for s in proc.get("secrets") or []),
                "secrets_digest": secrets_digest, "network": self.network, "restart": self.p["restart_policy"],
            }
            digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
            count = 1 if proc.get("singleton") else max(0, int(proc.get("count") if proc.get("count") is not None else 1))
            mine = [c for c in containers if c["Labels"].get("webstack.process") == proc["name"]]
            live_names = [container_name(self.stack, proc["name"], live, n) for n in range(1, count + 1)] if live else []
            live_ok = bool(live) and all(
                n in by_name and by_name[n]["State"] == "running"
                and by_name[n]["Labels"].get("webstack.config") == digest
                and by_name[n]["Labels"].get("webstack.version") == self.p["version"] for n in live_names)
            new_names = [container_name(self.stack, proc["name"], new_colour, n) for n in range(1, count + 1)]
            reuse = all(n in by_name and by_name[n]["Labels"].get("webstack.config") == digest
                        and by_name[n]["Labels"].get("webstack.version") == self.p["version"] for n in new_names)
            out.append({
                "name": proc["name"], "kind": "http" if port else "worker", "singleton": bool(proc.get("singleton")),
                "image": ref, "image_id": info["Id"], "config": digest, "count": count, "port": port,
                "route": {"path": route.get("path") or "", "host": route.get("host") or ""},
                "routed": bool(port and (route.get("path") or route.get("host"))),
                "readiness": health.get("readiness") or "", "grace": int(health.get("grace") or 30),
                "stop_timeout": config["stop_timeout"], "memory": config["memory"],
                "command": config["command"], "env": config["env"],
                "secrets": [{"name": s["name"], "file": bool(s.get("file"))} for s in proc.get("secrets") or []],
                "new": new_names, "reuse": reuse, "live_ok": live_ok,
                "old_running": sorted(self.cname(c) for c in mine
                                      if c["State"] == "running" and self.cname(c) not in new_names),
                "old_all": sorted(self.cname(c) for c in mine if self.cname(c) not in new_names),
            })
        self.mark("inspect+secrets")
        names = {p["name"] for p in procs}
        orphans = sorted(self.cname(c) for c in containers if c["Labels"].get("webstack.process") not in names)
        orphans_running = sorted(self.cname(c) for c in containers
                                 if c["Labels"].get("webstack.process") not in names and c["State"] == "running")
        proxy_now = self.read_proxy()
        proxy_new = render_proxy(self.stack, [
            {"name": p["name"], "path": p["route"]["path"], "host": p["route"]["host"], "port": p["port"],
             "servers": p["new"]} for p in out if p["routed"]], self.p["proxy_keepalive"],
            f"release {self.p['version']} ({new_colour})")
        proxy_live = render_proxy(self.stack, [
            {"name": p["name"], "path": p["route"]["path"], "host": p["route"]["host"], "port": p["port"],
             "servers": [container_name(self.stack, p["name"], live, n) for n in range(1, p["count"] + 1)]}
            for p in out if p["routed"]], self.p["proxy_keepalive"], f"release {self.p['version']} ({live})") if live else {}
        noop = bool(live) and all(p["live_ok"] for p in out) and not orphans_running and proxy_now == proxy_live
        summary = []
        for p in out:
            what = ("restart the stopped" if p["reuse"] else "start") + f" {p['count']} x {p['image']}"
            if p["kind"] == "http":
                gate = f"ready on GET :{p['port']}{p['readiness']}" if p["readiness"] else f"up {self.p['settle_seconds']}s"
                route = " ".join(x for x in (p["route"]["host"], p["route"]["path"]) if x) or "not routed"
                summary.append(f"{p['name']}: {what} as {new_colour} ({gate}; route {route})"
                               f"{', singleton: old stopped first' if p['singleton'] else ''}; "
                               f"then stop {', '.join(p['old_running']) or 'nothing'}")
            else:
                summary.append(f"{p['name']}: after the switch, {'stop ' + (', '.join(p['old_running']) or 'nothing') + ' then ' if p['singleton'] else ''}"
                               f"{what} as {new_colour}{'' if p['singleton'] else ', then stop ' + (', '.join(p['old_running']) or 'nothing')}")
        if orphans:
            summary.append(f"remove containers of processes no longer described: {', '.join(orphans)}")
        record = {
            "colour": new_colour,
            "image": out[0]["image"], "image_id": out[0]["image_id"],
            "replicas": sum(p["count"] for p in out if p["kind"] == "http"),
            "processes": {p["name"]: {"image": p["image"], "image_id": p["image_id"], "count": p["count"],
                                      "config": p["config"]} for p in out},
        }
        release = {"stack": self.stack, "version": self.p["version"], "mode": self.p["mode"], "live_colour": live,
                   "new_colour": new_colour, "processes": out, "orphans": orphans, "noop": noop,
                   "proxy": proxy_new, "summary": summary, "record": record}
        self.changed = bool(written_all) or (self.module.check_mode and not noop)
        result = {"release": release, "secrets_written": written_all}
        if self.module._diff and not noop:
            before = [f"{self.cname(c)} {c['Labels'].get('webstack.version', '?')} {c['State']}" for c in containers]
            after_names = {n for p in out for n in p["new"]}
            after = sorted([f"{n} {self.p['version']} running" for n in after_names]
                           + [f"{n} stopped" for p in out for n in p["old_running"]])
            result["diff"] = [
                {"before_header": "containers", "after_header": "containers",
                 "before": "\n".join(sorted(before)) + "\n", "after": "\n".join(after) + "\n"},
                {"before_header": f"{self.p['proxy_conf_dir']}/{UPSTREAM_FILE}",
                 "after_header": f"{self.p['proxy_conf_dir']}/{UPSTREAM_FILE}",
                 "before": proxy_now.get(UPSTREAM_FILE) or "", "after": proxy_new[UPSTREAM_FILE]},
                {"before_header": f"{self.p['proxy_conf_dir']}/{ROUTES_FILE}",
                 "after_header": f"{self.p['proxy_conf_dir']}/{ROUTES_FILE}",
                 "before": proxy_now.get(ROUTES_FILE) or "", "after": proxy_new[ROUTES_FILE]},
            ]
        self.mark("render")
        release["switched"] = False
        if self.p["switch"] and not noop and not self.module.check_mode:
            self.p["release"] = release
            result.update(self.switch())
            release["switched"] = True
        return result

    # -- containers
    def create_and_start(self, proc, name, colour):
        env = dict(proc.get("env") or {})
        env.update(self.read_env_secrets(proc))
        binds = {}
        for secret, path in self.process_secret_paths(proc)[1].items():
            binds[path] = {"bind": f"/run/secrets/{secret}", "mode": "ro"}
            env[f"{secret}_FILE"] = f"/run/secrets/{secret}"
        labels = {"webstack.stack": self.stack, "webstack.component": "app", "webstack.process": proc["name"],
                  "webstack.colour": colour, "webstack.version": self.p["release"].get("version", self.p["version"]),
                  "webstack.config": proc["config"]}
        policy = self.p["restart_policy"]
        host_config = self.api.create_host_config(
            binds=binds or None, mem_limit=f"{proc['memory']}m" if proc.get("memory") else None,
            restart_policy={"Name": "" if policy == "no" else policy}, network_mode=self.network)
        networking = self.api.create_networking_config({self.network: self.api.create_endpoint_config(
            aliases=[f"{proc['name']}-{colour}"])})
        try:
            self.api.remove_container(name, force=True)
        except docker_errors.NotFound:
            pass
        created = self.api.create_container(
            image=proc["image"], command=proc.get("command") or None, name=name, labels=labels,
            environment=[f"{k}={v}" for k, v in sorted(env.items())], host_config=host_config,
            networking_config=networking, stop_timeout=int(proc.get("stop_timeout") or 20), detach=True)
        self.api.start(created["Id"])
        self.changed = True
        return created["Id"]

    def start_existing(self, name):
        self.api.start(name)
        self.changed = True
        return self.api.inspect_container(name)["Id"]

    def stop_many(self, names, timeouts):
        """Stops the containers in parallel, each with its own stop timeout."""
        errors = []

        def stop(name):
            try:
                info = self.api.inspect_container(name)
                if info["State"]["Running"] or info["State"]["Restarting"]:
                    self.api.stop(name, timeout=int(timeouts.get(name, 20)))
            except docker_errors.NotFound:
                pass
            except docker_errors.APIError as exc:  # pragma: no cover - engine errors
                errors.append(f"{name}: {exc}")

        threads = [threading.Thread(target=stop, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if names:
            self.changed = True
        if errors:
            raise ReleaseError("stopping containers failed: " + "; ".join(errors))

    def remove_many(self, names):
        for name in names:
            try:
                self.api.remove_container(name, force=True)
                self.changed = True
            except docker_errors.NotFound:
                pass

    def logs_tail(self, name, lines=30):
        try:
            text = self.api.logs(name, tail=lines).decode("utf-8", "replace")
        except docker_errors.APIError:
            return ""
        return text.strip()[-3000:]

    def probe(self, target):
        """None = not ready yet, True = ready; raises ReleaseError when the container is gone/exited."""
        info = self.api.inspect_container(target["id"])
        state = info["State"]
        if state["Status"] in ("exited", "dead") or state.get("Restarting") or info.get("RestartCount", 0) > 0:
            raise ReleaseError(
                f"{target['name']} {state['Status']} (exit code {state.get('ExitCode')}"
                f"{', restarted ' + str(info.get('RestartCount')) + ' times' if info.get('RestartCount') else ''})"
                f" before it became ready; its last output:\n{self.logs_tail(target['name'])}")
        if not state.get("Running"):
            return None
        net = (info["NetworkSettings"].get("Networks") or {}).get(self.network) or {}
        address = net.get("IPAddress") or ""
        if target["readiness"] and target["port"]:
            try:
                # a loaded host answers slowly: up to 3 s per probe, never past the grace period
                left = target["grace"] - (self.clock.time() - target["started"])
                conn = http.client.HTTPConnection(address, target["port"], timeout=max(0.5, min(3.0, left)))
                try:
                    conn.request("GET", target["readiness"], headers={"User-Agent": "webstack-readiness"})
                    resp = conn.getresponse()
                    resp.read(65536)
                    target["last"] = f"GET {target['readiness']} answered {resp.status}"
                    return True if 200 <= resp.status < 300 else None
                finally:
                    conn.close()
            except (OSError, http.client.HTTPException) as exc:
                target["last"] = f"GET {target['readiness']}: {exc.__class__.__name__} {exc}"
                return None
        up_for = self.clock.time() - target["started"]
        if up_for < self.p["settle_seconds"]:
            target["last"] = f"running for {up_for:.1f}s"
            return None
        if target["port"]:
            try:
                socket.create_connection((address, target["port"]), timeout=1).close()
            except OSError as exc:
                target["last"] = f"port {target['port']} refuses connections ({exc})"
                return None
        return True

    def gate(self, targets):
        """Waits on all targets together; returns {name: seconds to ready}."""
        ready, pending = {}, list(targets)
        for t in pending:
            t.setdefault("last", "not probed yet")
        while pending:
            for t in list(pending):
                if self.probe(t):
                    ready[t["name"]] = round(self.clock.time() - t["started"], 2)
                    pending.remove(t)
            if not pending:
                break
            late = [t for t in pending if self.clock.time() - t["started"] > t["grace"]]
            if late:
                raise ReleaseError("not ready within the grace period (health.grace): " + "; ".join(
                    f"{t['name']} after {t['grace']}s: {t['last']}" for t in late))
            self.clock.sleep(self.p["poll_interval"])
        return ready

    def start_processes(self, procs, colour):
        """Starts the new containers of `procs`, returns the gate targets."""
        targets = []
        existing = {self.cname(c): c for c in self.app_containers()}
        for proc in procs:
            for n, name in enumerate(proc["new"], start=1):
                c = existing.get(name)
                reuse = (c is not None and c["Labels"].get("webstack.config") == proc["config"]
                         and c["Labels"].get("webstack.version") == self.p["release"]["version"])
                if reuse and c["State"] == "running":
                    cid = c["Id"]
                    started = self.clock.time() - 3600
                elif reuse:
                    cid = self.start_existing(name)
                    started = self.clock.time()
                else:
                    cid = self.create_and_start(proc, name, colour)
                    started = self.clock.time()
                targets.append({"name": name, "id": cid, "port": proc["port"], "grace": proc["grace"],
                                "readiness": proc["readiness"] if proc["kind"] == "http" else "",
                                "started": started, "created": not reuse})
            # surplus containers of this colour (a lower count than before)
            prefix = f"{self.stack}-{proc['name']}-{colour}-"
            self.remove_many([n for n in existing if n.startswith(prefix) and n not in proc["new"]
                              and existing[n]["Labels"].get("webstack.process") == proc["name"]])
        return targets

    def undo_start(self, targets):
        created = [t["name"] for t in targets if t["created"]]
        self.remove_many(created)
        self.stop_many([t["name"] for t in targets if not t["created"]], {})

    # -- proxy
    def read_proxy(self):
        files = {}
        for name in (UPSTREAM_FILE, ROUTES_FILE):
            try:
                with open(os.path.join(self.p["proxy_conf_dir"], name), encoding="utf-8") as handle:
                    files[name] = handle.read()
            except FileNotFoundError:
                files[name] = None
        return files

    def write_proxy_files(self, files):
        for name, text in files.items():
            path = os.path.join(self.p["proxy_conf_dir"], name)
            if text is None:
                if os.path.exists(path):
                    os.unlink(path)
                continue
            tmp = f"{path}.tmp{os.getpid()}"
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(tmp, 0o644)
            os.rename(tmp, path)

    def nginx(self, *argv):
        exec_id = self.api.exec_create(self.p["proxy_container"], list(argv), stdout=True, stderr=True)
        output = self.api.exec_start(exec_id).decode("utf-8", "replace")
        return self.api.exec_inspect(exec_id)["ExitCode"], output.strip()

    def switch_proxy(self, files):
        """Writes `files`, nginx -t, reload; on failure the previous files are back. Returns the previous files."""
        previous = self.read_proxy()
        if all(previous.get(k) == v for k, v in files.items()):
            return previous, False
        self.write_proxy_files(files)
        rc, out = self.nginx("nginx", "-t", "-q")
        if rc != 0:
            self.write_proxy_files(previous)
            raise ReleaseError(f"nginx -t in {self.p['proxy_container']} refused the new configuration, the previous "
                               f"one was put back and traffic did not move: {out[-1500:]}")
        rc, out = self.nginx("nginx", "-s", "reload")
        if rc != 0:
            self.write_proxy_files(previous)
            self.nginx("nginx", "-s", "reload")
            raise ReleaseError(f"nginx -s reload in {self.p['proxy_container']} failed, the previous configuration "
                               f"was put back: {out[-1500:]}")
        self.changed = True
        return previous, True

    # -- actions
    def switch(self):
        rel = self.p["release"]
        http = [p for p in rel["processes"] if p["kind"] == "http"]
        colour = rel["new_colour"]
        singles = [p for p in http if p["singleton"]]
        single_old = [n for p in singles for n in p["old_running"]]
        targets = []
        try:
            # a singleton is never doubled: its old container stops before the new one starts
            self.stop_many(single_old, {n: p["stop_timeout"] for p in singles for n in p["old_running"]})
            targets = self.start_processes(http, colour)
            self.mark("start")
            ready = self.gate(targets)
            self.mark("gate")
            previous, _ = self.switch_proxy(rel["proxy"])
            switched_at = self.clock.time()
            self.mark("proxy")
        except Exception as exc:
            try:
                self.undo_start(targets)
                self.start_many(single_old)
            except Exception as undo_exc:  # noqa: BLE001 - reported with the original failure
                raise ReleaseError(f"{exc}; and cleaning up failed too: {undo_exc}") from exc
            if isinstance(exc, ReleaseError):
                raise ReleaseError(f"{exc}\nNothing switched: the new containers were "
                                   f"{'removed' if rel['mode'] == 'deploy' else 'stopped'}"
                                   f"{', the old singleton started again' if single_old else ''}.") from exc
            raise
        return {"switched_at": switched_at, "previous_proxy": previous, "ready": ready}

    def start_many(self, names):
        for name in names:
            try:
                self.api.start(name)
                self.changed = True
            except docker_errors.NotFound:
                pass

    def finish(self):
        rel = self.p["release"]
        colour = rel["new_colour"]
        workers = [p for p in rel["processes"] if p["kind"] == "worker"]
        ready = {}
        # workers that may overlap: start the new ones, wait, then stop the old ones
        plain = [p for p in workers if not p["singleton"]]
        singles = [p for p in workers if p["singleton"]]
        single_old = [n for p in singles for n in p["old_running"]]
        targets = []
        try:
            self.stop_many(single_old, {n: p["stop_timeout"] for p in singles for n in p["old_running"]})
            targets = self.start_processes(plain + singles, colour)
            self.mark("start workers")
            ready = self.gate(targets)
            self.mark("gate workers")
        except ReleaseError as exc:
            self.undo_start(targets)
            self.start_many(single_old)
            raise ReleaseError(f"{exc}\nThe new workers were removed, the old ones kept running.") from exc
        timeouts = {n: p["stop_timeout"] for p in rel["processes"] for n in p["old_running"]}
        self.stop_many([n for p in plain for n in p["old_running"]], timeouts)
        left = self.p["drain_seconds"] - (self.clock.time() - (self.p["switched_at"] or self.clock.time()))
        if left > 0:
            self.clock.sleep(left)
        self.mark("drain")
        self.stop_many([n for p in rel["processes"] if p["kind"] == "http" for n in p["old_running"]], timeouts)
        self.remove_many(rel["orphans"])
        self.mark("stop old")
        return {"ready": ready}

    def putback(self):
        rel = self.p["release"]
        old = sorted({n for p in rel["processes"] for n in p["old_running"]})
        new = [n for p in rel["processes"] for n in p["new"]]
        singles_new = [n for p in rel["processes"] if p["singleton"] for n in p["new"]]
        # a singleton's new container stops before its old one starts again
        self.stop_many(singles_new, {})
        self.start_many(old)
        targets = []
        for p in rel["processes"]:
            if p["kind"] == "http" and p["routed"]:
                for name in p["old_running"]:
                    info = self.api.inspect_container(name)
                    targets.append({"name": name, "id": info["Id"], "port": p["port"], "grace": p["grace"],
                                    "readiness": p["readiness"], "started": self.clock.time() - 3600, "created": False})
        self.gate(targets)
        previous = self.p["previous_proxy"]
        if previous:
            self.switch_proxy(previous)
        if rel["mode"] == "deploy":
            self.remove_many(new)
        else:
            self.stop_many(new, {})
        return {"restored": old}

    def one_off_output(self, cid, attempts=3):
        """The output of an exited one-off container. A loaded engine may answer 409 ("dead or marked for removal")
        for a moment after the exit: retried, then reported as unreadable (the exit code still decides)."""
        for attempt in range(attempts):
            try:
                return self.api.logs(cid, stdout=True, stderr=True).decode("utf-8", "replace")
            except docker_errors.APIError as exc:
                if attempt == attempts - 1:
                    return f"(the output could not be read from the engine: {exc})"
                self.clock.sleep(0.5)
        return ""

    def migrate(self):
        mig = self.p["migration"]
        rel = self.p["release"]
        procs = {p["name"]: p for p in rel["processes"]}
        proc = procs.get(mig.get("process") or rel["processes"][0]["name"])
        if proc is None:
            raise ReleaseError(f"app_migrations.process {mig.get('process')!r} is not a process of the plan")
        command = mig.get("command") or []
        if not command:
            raise ReleaseError("app_migrations.command is empty")
        timeout = int(mig.get("timeout") or 600)
        name = f"{self.stack}-migrate-{rel['new_colour']}"
        env = dict(proc.get("env") or {})
        env.update(self.read_env_secrets(proc))
        binds = {}
        for secret, path in self.process_secret_paths(proc)[1].items():
            binds[path] = {"bind": f"/run/secrets/{secret}", "mode": "ro"}
            env[f"{secret}_FILE"] = f"/run/secrets/{secret}"
        self.remove_many([name])
        host_config = self.api.create_host_config(
            binds=binds or None, network_mode=self.network,
            mem_limit=f"{proc['memory']}m" if proc.get("memory") else None)
        created = self.api.create_container(
            image=proc["image"], command=command, name=name, host_config=host_config,
            environment=[f"{k}={v}" for k, v in sorted(env.items())],
            labels={"webstack.stack": self.stack, "webstack.component": "migrate", "webstack.process": proc["name"],
                    "webstack.version": rel["version"]}, detach=True)
        self.changed = True
        started = self.clock.time()
        try:
            self.api.start(created["Id"])
            try:
                status = self.api.wait(created["Id"], timeout=timeout)
                code = status.get("StatusCode", 1)
                timed_out = False
            except (ReadTimeout, RequestsConnectionError):
                self.api.kill(created["Id"])
                code, timed_out = None, True
            output = self.one_off_output(created["Id"])
        finally:
            self.remove_many([created["Id"]])
        for value in self.secret_values_on_disk(proc):
            output = output.replace(value, "********")
        seconds = round(self.clock.time() - started, 1)
        shown = output.strip()[-4000:] or "(no output)"
        if timed_out:
            raise ReleaseError(f"the migration command {json.dumps(command)} ({rel['version']}, process {proc['name']}) "
                               f"did not finish within {timeout}s (app_migrations.timeout) and was killed; "
                               f"its output:\n{shown}")
        if code != 0:
            raise ReleaseError(f"the migration command {json.dumps(command)} ({rel['version']}, process {proc['name']}) "
                               f"exited with code {code} after {seconds}s; its output:\n{shown}")
        return {"output": output.strip()[-4000:], "seconds": seconds, "exit_code": code}


def main():
    module = AnsibleModule(
        argument_spec={
            "action": {"type": "str", "required": True, "choices": ["plan", "switch", "finish", "putback", "migrate"]},
            "stack": {"type": "str", "required": True},
            "network": {"type": "str", "required": True},
            "state_dir": {"type": "path", "required": True},
            "proxy_container": {"type": "str", "required": True},
            "proxy_conf_dir": {"type": "path", "required": True},
            "proxy_keepalive": {"type": "int", "default": 16},
            "mode": {"type": "str", "default": "deploy", "choices": ["deploy", "rollback"]},
            "version": {"type": "str", "default": ""},
            "processes": {"type": "list", "elements": "dict", "default": []},
            "secret_values": {"type": "dict", "default": {}, "no_log": True},
            "live_colour": {"type": "str", "default": ""},
            "release": {"type": "dict", "default": {}},
            "previous_proxy": {"type": "dict", "default": {}},
            "switch": {"type": "bool", "default": False},
            "switched_at": {"type": "float", "default": 0},
            "drain_seconds": {"type": "float", "default": 2},
            "settle_seconds": {"type": "float", "default": 2},
            "poll_interval": {"type": "float", "default": 0.25},
            "restart_policy": {"type": "str", "default": "unless-stopped",
                               "choices": ["no", "always", "unless-stopped", "on-failure"]},
            "migration": {"type": "dict", "default": {}},
            "docker_host": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    if not HAS_DOCKER:
        module.fail_json(msg=missing_required_lib("docker"))
    action = module.params["action"]
    release = Release(module)
    try:
        if action != "plan" and not module.params["release"]:
            raise ReleaseError(f"action={action} needs the release returned by action=plan")
        if module.check_mode and action != "plan":
            module.exit_json(changed=True, msg=f"check mode: would run {action}", timings={})
        result = getattr(release, action)()
    except ReleaseError as exc:
        module.fail_json(msg=str(exc), changed=release.changed, timings=release.timings)
    except docker_errors.DockerException as exc:
        module.fail_json(msg=f"Docker API error during {action}: {exc}", changed=release.changed,
                         timings=release.timings)
    module.exit_json(changed=release.changed, timings=release.timings, **result)


if __name__ == "__main__":
    main()
