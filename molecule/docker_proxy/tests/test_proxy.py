"""testinfra checks of role docker_proxy (stack `mol-proxy`, published on 127.0.0.1:28080).
Helper containers are named mol-proxy-* with label webstack.stack=mol-proxy and removed here (and by the
scenario's cleanup, which removes every container with that label)."""
import http.client
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import support  # tests/support (pytest.ini pythonpath): the one roles path

STACK = "mol-proxy"
STATE = f"/var/lib/webstack/{STACK}"
PORT = 28080
CONTAINER = f"{STACK}-proxy"
ROOT = Path(__file__).resolve().parents[3]
SCENARIO = Path(__file__).resolve().parents[1]


def _get(path, port=PORT):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def _switch(servers):
    """Run the role's `upstream` entry point (what a deploy does) for `servers`."""
    inventory = SCENARIO / ".switch-inventory.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {"docker-host": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    env = dict(os.environ, ANSIBLE_ROLES_PATH=support.ROLES_PATH, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_NOCOLOR="1")
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), str(SCENARIO / "switch_upstream.yml"),
           "-i", str(inventory), "-e", json.dumps({"servers": servers})]
    try:
        return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    finally:
        inventory.unlink()


@pytest.fixture(scope="module")
def inspect(host):
    return json.loads(host.check_output(f"docker inspect {CONTAINER}"))[0]


def test_container_healthy_labelled_non_root(inspect):
    assert inspect["State"]["Health"]["Status"] == "healthy"
    assert inspect["Config"]["Labels"]["webstack.stack"] == STACK
    assert inspect["Config"]["User"] not in ("", "root", "0")


def test_port_published_on_loopback_only(host, inspect):
    bindings = [b for v in inspect["HostConfig"]["PortBindings"].values() for b in v]
    assert bindings == [{"HostIp": "127.0.0.1", "HostPort": str(PORT)}]
    assert host.socket(f"tcp://127.0.0.1:{PORT}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{PORT}").is_listening


def test_config_dir_is_bind_mounted_read_only(inspect):
    mounts = {m["Destination"]: m for m in inspect["Mounts"]}
    conf = mounts["/etc/nginx/conf.d"]
    assert conf["Type"] == "bind" and conf["Source"] == f"{STATE}/nginx/conf.d" and conf["RW"] is False


def test_nginx_config_is_valid(host):
    res = host.run(f"docker exec {CONTAINER} nginx -t")
    assert res.rc == 0, res.stderr


def test_health_and_no_release_answer():
    assert _get("/nginx-health") == (200, "ok\n")
    status, body = _get("/anything")
    assert status == 503 and json.loads(body)["reason"] == "no release deployed"


def test_proxy_settings(host):
    conf = host.file(f"{STATE}/nginx/conf.d/webstack.conf").content_string
    for directive in ("proxy_http_version 1.1;", 'proxy_set_header Connection "";',
                      "proxy_next_upstream error timeout http_502 http_503;", "proxy_next_upstream_tries 3;",
                      "proxy_connect_timeout 2s;", "location = /nginx-health"):
        assert directive in conf
    assert "keepalive " in host.file(f"{STATE}/nginx/conf.d/upstream.conf").content_string


@pytest.fixture
def backends(host):
    """Two containers on the stack network: `good` serves HTTP on 8000, `dead` refuses connections."""
    base = json.loads(host.check_output("docker image inspect webstack/base:bookworm"))[0]["Id"]
    common = f"--network {STACK} --label webstack.stack={STACK}"
    host.check_output(f"docker run -d --name {STACK}-good {common} -w /tmp {base} python3 -m http.server 8000")
    host.check_output(f"docker run -d --name {STACK}-dead {common} {base} sleep 600")
    host.check_output(f"docker exec {STACK}-good python3 -c \"open('/tmp/version','w').write('good')\"")
    yield
    host.run(f"docker rm -f {STACK}-good {STACK}-dead")


def test_switch_retry_and_failed_switch(host, backends):
    res = _switch([f"{STACK}-dead:8000", f"{STACK}-good:8000"])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    # every request succeeds although one of the two servers refuses connections (next upstream)
    answers = [_get("/version") for _ in range(20)]
    assert answers == [(200, "good")] * 20
    assert host.run(f"docker exec {CONTAINER} nginx -t").rc == 0

    # a switch nginx rejects (unknown host) fails, puts the previous file back, traffic unchanged
    before = host.file(f"{STATE}/nginx/conf.d/upstream.conf").content_string
    res = _switch([f"{STACK}-no-such-container:8000"])
    assert res.returncode != 0 and "host not found in upstream" in res.stdout
    assert host.file(f"{STATE}/nginx/conf.d/upstream.conf").content_string == before
    assert _get("/version") == (200, "good")

    # back to "no release"
    assert _switch([]).returncode == 0
    assert _get("/version")[0] == 503
