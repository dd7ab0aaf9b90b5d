"""webstack.platform.docker_release against an in-memory Docker API (the Docker SDK's APIClient calls the module
makes), with REAL HTTP readiness probes against servers on 127.0.0.1 and real files for secrets and the proxy."""

from __future__ import annotations

import http.server
import io
import json
import os
import tarfile
import threading

import pytest

from ansible.module_utils.testing import patch_module_args
from ansible_collections.webstack.platform.plugins.modules import docker_release as mod

STACK = "ut"


class NotFound(mod.docker_errors.NotFound):
    def __init__(self, what):
        Exception.__init__(self, what)


class FakeDocker:
    """What the module uses of docker.APIClient, backed by dicts. Containers 'run' as 127.0.0.1 (probes are real)."""

    def __init__(self, images=None):
        self.images = images or {}
        self.containers_by_name = {}
        self.calls = []
        self.exec_results = {}   # argv tuple -> (rc, output)
        self.on_start = {}       # container name -> callable(container) run at start (e.g. make it exit)
        self.logs_text = {}
        self.logs_errors = 0     # the next N logs() calls fail like a loaded engine (409 "dead or marked for removal")
        self.wait_code = 0
        self._n = 0

    # images
    def inspect_image(self, ref):
        self.calls.append(("inspect_image", ref))
        if ref not in self.images:
            raise mod.docker_errors.ImageNotFound(ref)
        return self.images[ref]

    # containers
    def containers(self, all=False, filters=None):  # noqa: A002 - the SDK's name
        labels = dict(x.split("=", 1) for x in (filters or {}).get("label", []))
        out = []
        for c in self.containers_by_name.values():
            if not [k for k, v in labels.items() if c["Labels"].get(k) != v]:
                out.append({"Id": c["Id"], "Names": ["/" + c["Name"]], "Labels": dict(c["Labels"]),
                            "State": c["State"]["Status"], "Status": c["State"]["Status"]})
        return out

    def add(self, name, labels, status="running", port=None):
        self._n += 1
        cid = f"id{self._n:04d}"
        self.containers_by_name[name] = {
            "Id": cid, "Name": name, "Labels": labels, "RestartCount": 0, "Image": labels.get("image", ""),
            "State": {"Status": status, "Running": status == "running", "Restarting": False, "ExitCode": 0},
            "NetworkSettings": {"Networks": {STACK: {"IPAddress": "127.0.0.1"}}}, "port": port,
            "Config": {}, "HostConfig": {}}
        return cid

    def _get(self, ref):
        for c in self.containers_by_name.values():
            if ref in (c["Id"], c["Name"]):
                return c
        raise NotFound(ref)

    def inspect_container(self, ref):
        return self._get(ref)

    def create_host_config(self, **kwargs):
        return kwargs

    def create_networking_config(self, cfg):
        return cfg

    def create_endpoint_config(self, **kwargs):
        return kwargs

    def create_container(self, image, command=None, name=None, labels=None, environment=None, host_config=None,
                         networking_config=None, stop_timeout=None, detach=True, entrypoint=None):
        self.calls.append(("create", name, image))
        name = name or f"anon{self._n}"
        cid = self.add(name, dict(labels or {}), status="created")
        c = self.containers_by_name[name]
        c["Config"] = {"Image": image, "Cmd": command, "Env": environment, "StopTimeout": stop_timeout}
        c["HostConfig"] = host_config or {}
        return {"Id": cid}

    def start(self, ref):
        c = self._get(ref)
        self.calls.append(("start", c["Name"]))
        c["State"].update(Status="running", Running=True)
        if c["Name"] in self.on_start:
            self.on_start[c["Name"]](c)

    def stop(self, ref, timeout=None):
        c = self._get(ref)
        self.calls.append(("stop", c["Name"], timeout))
        c["State"].update(Status="exited", Running=False)

    def kill(self, ref):
        self.calls.append(("kill", self._get(ref)["Name"]))

    def remove_container(self, ref, force=False):
        c = self._get(ref)
        self.calls.append(("remove", c["Name"]))
        del self.containers_by_name[c["Name"]]

    def logs(self, ref, tail=None, stdout=True, stderr=True):
        if self.logs_errors:
            self.logs_errors -= 1
            raise mod.docker_errors.APIError("409 Client Error: can not get logs from container which is dead or "
                                             "marked for removal")
        return self.logs_text.get(self._get(ref)["Name"], "").encode()

    def wait(self, ref, timeout=None):
        return {"StatusCode": self.wait_code}

    def get_archive(self, ref, path):
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w") as tar:
            content = b"root:x:0:0::/root:/bin/sh\napp:x:10001:10002::/nonexistent:/usr/sbin/nologin\n"
            info = tarfile.TarInfo("passwd")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        return [data.getvalue()], {}

    # exec (nginx -t / reload)
    def exec_create(self, container, cmd, stdout=True, stderr=True):
        self.calls.append(("exec", container, tuple(cmd)))
        return {"Id": tuple(cmd)}

    def exec_start(self, exec_id):
        return self.exec_results.get(exec_id["Id"], (0, ""))[1].encode()

    def exec_inspect(self, exec_id):
        return {"ExitCode": self.exec_results.get(exec_id["Id"], (0, ""))[0]}


class Ready(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def http_port():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), type("H", (Ready,), {"status": 200}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture
def env(tmp_path, monkeypatch, fake_clock):
    fake = FakeDocker(images={"app:2": {"Id": "sha256:two", "Config": {"User": "10001:10001"}},
                              "app:1": {"Id": "sha256:one", "Config": {"User": "app"}}})
    monkeypatch.setattr(mod.docker, "APIClient", lambda **_kw: fake)
    if os.geteuid() != 0:  # chown needs root; then owners are not compared either
        monkeypatch.setattr(mod.os, "chown", lambda *a: None)
        real_stat = os.stat
        monkeypatch.setattr(mod.os, "stat", lambda p: type("S", (), {"st_uid": 10001 if "/web/" in str(p) else 0,
                                                                      "st_gid": 10001 if "/web/" in str(p) else 0,
                                                                      "st_mode": real_stat(p).st_mode})())
    fake_clock(start=1_700_000_000.0)  # nothing sleeps; wall-clock-like times (switched_at)
    conf = tmp_path / "conf.d"
    conf.mkdir()
    (conf / "upstream.conf").write_text("upstream webstack_app { server 127.0.0.1:8081; }\n")
    (conf / "routes.inc").write_text("location / { proxy_pass http://webstack_app; }\n")
    return {"fake": fake, "state": tmp_path, "conf": conf}


def run(env, capsys, check_mode=False, diff=False, **args):
    base = {"stack": STACK, "network": STACK, "state_dir": str(env["state"]), "proxy_container": f"{STACK}-proxy",
            "proxy_conf_dir": str(env["conf"]), "_ansible_check_mode": check_mode, "_ansible_diff": diff}
    base.update(args)
    capsys.readouterr()
    with patch_module_args(base):
        with pytest.raises(SystemExit):
            mod.main()
    return json.loads(capsys.readouterr().out)


def procs(port, version="2", **over):
    web = {"name": "web", "image": f"app:{version}", "command": [], "port": port, "count": 2, "singleton": False,
           "route": {"path": "/", "host": ""}, "health": {"readiness": "/ready", "grace": 5}, "stop_timeout": 7,
           "memory": 256, "env": {"LOG": "info"}, "secrets": [{"name": "DB_URL", "file": False},
                                                              {"name": "KEY", "file": True}]}
    web.update(over)
    worker = {"name": "worker", "image": f"app:{version}", "command": ["work"], "port": 0, "count": 1,
              "singleton": False, "route": {}, "health": {"readiness": "", "grace": 5}, "stop_timeout": 30,
              "memory": 128, "env": {}, "secrets": []}
    beat = dict(worker, name="beat", singleton=True, command=["beat"])
    return [web, worker, beat]


SECRETS = {"DB_URL": "postgresql://u:s3cr3t-pw@db/x", "KEY": "k3y-value"}


def test_render_proxy_path_and_host_routes():
    files = mod.render_proxy("st", [
        {"name": "api", "path": "/api", "host": "", "port": 8000, "servers": ["st-api-blue-1", "st-api-blue-2"]},
        {"name": "web", "path": "/", "host": "", "port": 3000, "servers": ["st-web-blue-1"]},
        {"name": "admin", "path": "/", "host": "admin.example.com", "port": 4000, "servers": ["st-admin-blue-1"]},
    ], 16)
    up, routes = files["upstream.conf"], files["routes.inc"]
    assert "upstream app_api {\n    server st-api-blue-1:8000 max_fails=1 fail_timeout=5s;\n    server st-api-blue-2:8000" in up
    assert "server_name admin.example.com;" in up and "proxy_pass http://app_admin;" in up
    assert "location = /api { proxy_pass http://app_api; }" in routes
    assert "location /api/ { proxy_pass http://app_api; }" in routes
    assert "location / { proxy_pass http://app_web; }" in routes
    assert "return 404" not in routes  # "/" is routed
    only_api = mod.render_proxy("st", [{"name": "api", "path": "/api", "host": "", "port": 1, "servers": ["a"]}], 4)
    assert "return 404" in only_api["routes.inc"]


def test_plan_first_deploy_writes_secrets_and_returns_no_value(env, capsys, http_port):
    res = run(env, capsys, action="plan", version="2", processes=procs(http_port), secret_values=SECRETS)
    assert not res.get("failed"), res
    rel = res["release"]
    assert rel["new_colour"] == "blue" and rel["live_colour"] == "" and rel["noop"] is False
    web = rel["processes"][0]
    assert web["new"] == ["ut-web-blue-1", "ut-web-blue-2"] and web["kind"] == "http" and web["routed"]
    assert [p["kind"] for p in rel["processes"]] == ["http", "worker", "worker"]
    env_file = env["state"] / "secrets" / "app" / "web.env"
    key_file = env["state"] / "secrets" / "app" / "web" / "KEY"
    assert env_file.read_text() == "DB_URL=postgresql://u:s3cr3t-pw@db/x\n"
    assert key_file.read_text() == "k3y-value"
    assert oct(env_file.stat().st_mode & 0o777) == "0o600" and oct(key_file.stat().st_mode & 0o777) == "0o600"
    if os.geteuid() == 0:
        assert (key_file.stat().st_uid, key_file.stat().st_gid) == (10001, 10001), "owned by the image's user"
        assert env_file.stat().st_uid == 0
    assert res["changed"] is True
    text = json.dumps(res)
    assert "s3cr3t-pw" not in text and "k3y-value" not in text
    # the same again: nothing written, not changed
    again = run(env, capsys, action="plan", version="2", processes=procs(http_port), secret_values=SECRETS)
    assert again["changed"] is False and again["secrets_written"] == []
    assert again["release"]["processes"][0]["config"] == web["config"]


def test_plan_check_mode_writes_nothing_and_shows_the_proxy_diff(env, capsys, http_port):
    res = run(env, capsys, check_mode=True, diff=True, action="plan", version="2", processes=procs(http_port),
              secret_values=SECRETS)
    assert not (env["state"] / "secrets").exists()
    assert res["changed"] is True
    after = {d["after_header"].rsplit("/", 1)[-1]: d["after"] for d in res["diff"]}
    assert "server ut-web-blue-1:%d" % http_port in after["upstream.conf"]
    assert env["fake"].calls and not [c for c in env["fake"].calls if c[0] in ("create", "start", "stop", "exec")]


def test_plan_refuses_a_missing_image_naming_app_version(env, capsys, http_port):
    res = run(env, capsys, action="plan", version="9", processes=procs(http_port, version="9"), secret_values=SECRETS)
    assert res["failed"] and "app_version 9" in res["msg"] and "app:9" in res["msg"]


def test_plan_resolves_a_named_image_user_from_its_passwd(env, capsys, http_port):
    run(env, capsys, action="plan", version="1", processes=procs(http_port, version="1"), secret_values=SECRETS)
    # the probe container that read /etc/passwd is gone
    assert not [n for n in env["fake"].containers_by_name if not n.startswith("ut-")]


def deploy(env, capsys, port, version="2", live="", secrets=SECRETS):
    planned = run(env, capsys, action="plan", version=version, processes=procs(port, version=version),
                  secret_values=secrets, live_colour=live)
    assert not planned.get("failed"), planned
    switched = run(env, capsys, action="switch", release=planned["release"], settle_seconds=0)
    return planned, switched


def test_switch_starts_gates_and_switches_nginx(env, capsys, http_port):
    fake = env["fake"]
    planned, switched = deploy(env, capsys, http_port)
    assert not switched.get("failed"), switched
    assert set(switched["ready"]) == {"ut-web-blue-1", "ut-web-blue-2"}
    c = fake.containers_by_name["ut-web-blue-1"]
    assert c["Labels"]["webstack.process"] == "web" and c["Labels"]["webstack.colour"] == "blue"
    assert c["Labels"]["webstack.version"] == "2" and c["Labels"]["webstack.config"]
    assert "DB_URL=postgresql://u:s3cr3t-pw@db/x" in c["Config"]["Env"] and "KEY_FILE=/run/secrets/KEY" in c["Config"]["Env"]
    assert c["HostConfig"]["binds"] == {str(env["state"] / "secrets/app/web/KEY"): {"bind": "/run/secrets/KEY", "mode": "ro"}}
    assert c["Config"]["StopTimeout"] == 7 and c["HostConfig"]["mem_limit"] == "256m"
    # workers are not started by the switch
    assert "ut-worker-blue-1" not in fake.containers_by_name
    assert [x[2] for x in fake.calls if x[0] == "exec"] == [("nginx", "-t", "-q"), ("nginx", "-s", "reload")]
    assert "server ut-web-blue-2:%d" % http_port in (env["conf"] / "upstream.conf").read_text()
    assert switched["previous_proxy"]["upstream.conf"].startswith("upstream webstack_app")
    assert "s3cr3t" not in json.dumps(switched)


def test_a_container_that_exits_ends_the_gate_at_once(env, capsys, http_port):
    fake = env["fake"]

    def crash(c):
        c["State"].update(Status="exited", Running=False, ExitCode=3)

    fake.on_start["ut-web-blue-2"] = crash
    fake.logs_text["ut-web-blue-2"] = "Traceback: cannot bind"
    before = (env["conf"] / "upstream.conf").read_text()
    planned, switched = deploy(env, capsys, http_port)
    assert switched["failed"]
    assert "ut-web-blue-2 exited (exit code 3)" in switched["msg"] and "cannot bind" in switched["msg"]
    assert "Nothing switched" in switched["msg"]
    assert not [n for n in fake.containers_by_name if n.startswith("ut-web-")], "the new containers must be gone"
    assert (env["conf"] / "upstream.conf").read_text() == before
    assert not [x for x in fake.calls if x[0] == "exec"]


def test_a_never_ready_container_fails_after_its_grace(env, capsys):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), type("H", (Ready,), {"status": 503}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        planned, switched = deploy(env, capsys, server.server_address[1])
    finally:
        server.shutdown()
    assert switched["failed"] and "not ready within the grace period" in switched["msg"]
    assert "answered 503" in switched["msg"]


def test_nginx_refusing_the_configuration_puts_the_previous_files_back(env, capsys, http_port):
    env["fake"].exec_results[("nginx", "-t", "-q")] = (1, 'nginx: [emerg] host not found in upstream "x"')
    before = {f: (env["conf"] / f).read_text() for f in ("upstream.conf", "routes.inc")}
    planned, switched = deploy(env, capsys, http_port)
    assert switched["failed"] and "host not found" in switched["msg"]
    assert {f: (env["conf"] / f).read_text() for f in before} == before
    assert ("exec", "ut-proxy", ("nginx", "-s", "reload")) not in env["fake"].calls


def test_finish_replaces_workers_singleton_first_then_stops_the_old_colour(env, capsys, http_port):
    fake = env["fake"]
    planned, switched = deploy(env, capsys, http_port)
    run(env, capsys, action="finish", release=planned["release"], switched_at=switched["switched_at"], settle_seconds=0)
    # v3 next to it: blue live
    fake.images["app:3"] = {"Id": "sha256:three", "Config": {"User": ""}}
    fake.calls.clear()
    planned3, switched3 = deploy(env, capsys, http_port, version="3", live="blue")
    assert planned3["release"]["new_colour"] == "green"
    fin = run(env, capsys, action="finish", release=planned3["release"], switched_at=switched3["switched_at"],
              settle_seconds=0, drain_seconds=0)
    assert not fin.get("failed"), fin
    order = [(c[0], c[1]) for c in fake.calls if c[0] in ("start", "stop")]
    # the singleton: old stopped before the new one starts
    assert order.index(("stop", "ut-beat-blue-1")) < order.index(("start", "ut-beat-green-1"))
    # a plain worker: new started before the old one stops
    assert order.index(("start", "ut-worker-green-1")) < order.index(("stop", "ut-worker-blue-1"))
    # old http colour stopped (kept), with its stop timeout
    assert ("stop", "ut-web-blue-1", 7) in fake.calls
    states = {n: c["State"]["Status"] for n, c in fake.containers_by_name.items()}
    assert states["ut-web-blue-1"] == "exited" and states["ut-web-green-1"] == "running"
    assert states["ut-beat-green-1"] == "running" and states["ut-beat-blue-1"] == "exited"
    # the release is now live: planning it again is a no-op
    again = run(env, capsys, action="plan", version="3", processes=procs(http_port, version="3"),
                secret_values=SECRETS, live_colour="green")
    assert again["release"]["noop"] is True and again["changed"] is False


def test_rollback_fast_path_restarts_the_stopped_colour(env, capsys, http_port):
    fake = env["fake"]
    planned, switched = deploy(env, capsys, http_port)
    run(env, capsys, action="finish", release=planned["release"], switched_at=switched["switched_at"], settle_seconds=0)
    fake.images["app:3"] = {"Id": "sha256:three", "Config": {"User": ""}}
    p3, s3 = deploy(env, capsys, http_port, version="3", live="blue")
    run(env, capsys, action="finish", release=p3["release"], switched_at=s3["switched_at"], settle_seconds=0,
        drain_seconds=0)
    fake.calls.clear()
    back = run(env, capsys, action="plan", version="2", mode="rollback", processes=procs(http_port),
               secret_values=SECRETS, live_colour="green")
    assert back["release"]["new_colour"] == "blue" and back["release"]["processes"][0]["reuse"] is True
    sw = run(env, capsys, action="switch", release=back["release"], settle_seconds=0)
    assert not sw.get("failed"), sw
    assert not [c for c in fake.calls if c[0] == "create"], "the stopped containers are started, not recreated"


def test_putback_restores_the_previous_release(env, capsys, http_port):
    fake = env["fake"]
    planned, switched = deploy(env, capsys, http_port)
    run(env, capsys, action="finish", release=planned["release"], switched_at=switched["switched_at"], settle_seconds=0)
    live_conf = (env["conf"] / "upstream.conf").read_text()
    fake.images["app:3"] = {"Id": "sha256:three", "Config": {"User": ""}}
    p3, s3 = deploy(env, capsys, http_port, version="3", live="blue")
    assert "ut-web-green-1" in (env["conf"] / "upstream.conf").read_text()
    res = run(env, capsys, action="putback", release=p3["release"], previous_proxy=s3["previous_proxy"])
    assert not res.get("failed"), res
    assert (env["conf"] / "upstream.conf").read_text() == live_conf
    assert not [n for n in fake.containers_by_name if "-green-" in n]
    assert fake.containers_by_name["ut-web-blue-1"]["State"]["Status"] == "running"


def test_migrate_fails_with_the_output_and_masks_secrets(env, capsys, http_port):
    fake = env["fake"]
    planned = run(env, capsys, action="plan", version="2", processes=procs(http_port), secret_values=SECRETS)
    fake.wait_code = 1
    fake.logs_text["ut-migrate-blue"] = "applying 0003\nERROR: relation missing (url postgresql://u:s3cr3t-pw@db/x)\n"
    res = run(env, capsys, action="migrate", release=planned["release"],
              migration={"command": ["migrate", "up"], "process": "web", "timeout": 30})
    assert res["failed"] and "exited with code 1" in res["msg"] and "relation missing" in res["msg"]
    assert "s3cr3t-pw" not in res["msg"] and "********" in res["msg"]
    assert "ut-migrate-blue" not in fake.containers_by_name
    created = [c for c in fake.calls if c[0] == "create"][-1]
    assert created[2] == "app:2"
    fake.wait_code = 0
    ok = run(env, capsys, action="migrate", release=planned["release"],
             migration={"command": ["migrate", "up"], "process": "web", "timeout": 30})
    assert not ok.get("failed") and ok["exit_code"] == 0


def test_migrate_output_survives_an_engine_that_refuses_logs_for_a_moment(env, capsys, http_port):
    fake = env["fake"]
    planned = run(env, capsys, action="plan", version="2", processes=procs(http_port), secret_values=SECRETS)
    fake.wait_code, fake.logs_errors = 1, 2
    fake.logs_text["ut-migrate-blue"] = "ERROR: relation missing\n"
    res = run(env, capsys, action="migrate", release=planned["release"],
              migration={"command": ["migrate", "up"], "process": "web", "timeout": 30})
    assert res["failed"] and "exited with code 1" in res["msg"] and "relation missing" in res["msg"]
    fake.wait_code, fake.logs_errors = 0, 5  # never readable: the exit code still decides, the output says why
    ok = run(env, capsys, action="migrate", release=planned["release"],
             migration={"command": ["migrate", "up"], "process": "web", "timeout": 30})
    assert not ok.get("failed") and ok["exit_code"] == 0 and "could not be read" in ok["output"]


def test_plan_with_switch_switches_in_the_same_run_unless_check_mode_or_noop(env, capsys, http_port):
    checked = run(env, capsys, check_mode=True, action="plan", version="2", processes=procs(http_port),
                  secret_values=SECRETS, switch=True)
    assert checked["release"]["switched"] is False and not env["fake"].containers_by_name
    res = run(env, capsys, action="plan", version="2", processes=procs(http_port), secret_values=SECRETS,
              switch=True, settle_seconds=0)
    assert not res.get("failed"), res
    assert res["release"]["switched"] is True and res["switched_at"] > 0 and "previous_proxy" in res
    assert "server ut-web-blue-1:%d" % http_port in (env["conf"] / "upstream.conf").read_text()
    assert "s3cr3t-pw" not in json.dumps(res)
