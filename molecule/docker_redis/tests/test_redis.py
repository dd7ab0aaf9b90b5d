"""testinfra checks of role docker_redis (stack `mol-redis`, published on 127.0.0.1:26379)."""
import json
import socket

import pytest

STACK = "mol-redis"
STATE = f"/var/lib/webstack/{STACK}"
PORT = 26379
CONTAINER = f"{STACK}-redis"


def _password(host):
    return host.file(f"{STATE}/secrets/redis_password").content_string.strip()


def _resp(*commands):
    """Send RESP commands on one connection to 127.0.0.1:PORT, return the first line of each reply."""
    replies = []
    with socket.create_connection(("127.0.0.1", PORT), timeout=5) as sock:
        reader = sock.makefile("rb")
        for cmd in commands:
            parts = [p.encode() for p in cmd]
            sock.sendall(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
            replies.append(reader.readline().decode().strip())
    return replies


@pytest.fixture(scope="module")
def inspect(host):
    return json.loads(host.check_output(f"docker inspect {CONTAINER}"))[0]


def test_container_healthy_and_labelled(inspect):
    assert inspect["State"]["Health"]["Status"] == "healthy"
    assert inspect["Config"]["Labels"]["webstack.stack"] == STACK
    assert inspect["Config"]["User"] != "root" and inspect["Config"]["User"] != ""


def test_port_published_on_loopback_only(host, inspect):
    bindings = [b for v in inspect["HostConfig"]["PortBindings"].values() for b in v]
    assert bindings == [{"HostIp": "127.0.0.1", "HostPort": str(PORT)}]
    assert host.socket(f"tcp://127.0.0.1:{PORT}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{PORT}").is_listening


def test_unauthenticated_commands_are_refused():
    for reply in _resp(["PING"], ["SET", "mol-key", "x"], ["KEYS", "*"]):
        assert reply.startswith("-NOAUTH"), reply


def test_wrong_password_is_refused():
    assert _resp(["AUTH", "not-the-password-at-all"])[0].startswith("-WRONGPASS")


def test_password_authenticates(host):
    assert _resp(["AUTH", _password(host)], ["PING"], ["CONFIG", "GET", "maxmemory"]) [:2] == ["+OK", "+PONG"]


def test_password_never_on_a_command_line_or_in_the_definition(host, inspect):
    password = _password(host)
    assert password not in json.dumps(inspect)
    processes = host.check_output(f"docker exec {CONTAINER} ps -eo args")
    assert password not in processes and "redis-server" in processes


def test_data_volume_and_read_only_secret(inspect):
    mounts = {m["Destination"]: m for m in inspect["Mounts"]}
    assert mounts["/data"]["Type"] == "volume" and mounts["/data"]["Name"] == f"{STACK}-redisdata"
    secret = mounts["/run/secrets/redis_password"]
    assert secret["Type"] == "bind" and secret["RW"] is False


def test_secret_file_is_private(host):
    f = host.file(f"{STATE}/secrets/redis_password")
    assert f.mode == 0o600 and f.uid == 100
