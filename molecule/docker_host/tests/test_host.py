"""testinfra checks of role docker_host (stack `mol-host`)."""
import json

import pytest

STACK = "mol-host"
STATE = f"/var/lib/webstack/{STACK}"


@pytest.mark.parametrize("path, mode, uid", [
    (STATE, 0o755, 0),
    (f"{STATE}/secrets", 0o700, 0),
    (f"{STATE}/nginx/conf.d", 0o755, 0),
    (f"{STATE}/backups", 0o700, 100),
])
def test_state_dir_layout(host, path, mode, uid):
    d = host.file(path)
    assert d.is_directory and d.mode == mode and d.uid == uid


@pytest.mark.parametrize("name, uid", [
    ("postgres_password", 100), ("redis_password", 100),
    ("app_postgres_password", 10001), ("app_redis_password", 10001),
])
def test_one_private_file_per_secret(host, name, uid):
    f = host.file(f"{STATE}/secrets/{name}")
    assert f.is_file and f.mode == 0o600 and f.uid == uid
    value = f.content_string
    assert len(value) >= 16 and not value.endswith("\n")


def test_app_and_service_copies_of_the_redis_password_agree(host):
    a = host.file(f"{STATE}/secrets/redis_password").content_string
    b = host.file(f"{STATE}/secrets/app_redis_password").content_string
    assert a == b


def test_network_and_volumes_labelled(host):
    net = json.loads(host.check_output(f"docker network inspect {STACK}"))[0]
    assert net["Labels"]["webstack.stack"] == STACK and net["Driver"] == "bridge"
    for vol in (f"{STACK}-pgdata", f"{STACK}-redisdata"):
        info = json.loads(host.check_output(f"docker volume inspect {vol}"))[0]
        assert info["Labels"]["webstack.stack"] == STACK


def test_python_libraries_for_the_modules(host):
    assert host.run(f"{host.ansible.get_variables().get('ansible_playbook_python', 'python3')} -c 'import docker, psycopg2'").rc == 0
