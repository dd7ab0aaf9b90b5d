"""testinfra checks of the images built by role docker_images (molecule scenario docker_images).
Every container started here is named h1mol-* and removed (`docker run --rm`)."""
import json

import pytest

SERVICE_IMAGES = {
    "webstack/base:bookworm": None,
    "webstack/postgres:15": "postgres",
    "webstack/redis:7": "redis",
    "webstack/nginx:1.22": "www-data",
}
APP_VERSIONS = {"1.0.0": (["0001_create_items.sql"], False),
                "2.0.0": (["0001_create_items.sql", "0002_add_items_category.sql"], False),
                "2.1.0-broken": (["0001_create_items.sql", "0002_add_items_category.sql"], True)}


def docker_run(host, image, *cmd, user=None):
    user_opt = f"--user {user} " if user else ""
    return host.run(f"docker run --rm --network none {user_opt}--entrypoint '' {image} " + " ".join(cmd))


@pytest.mark.parametrize("image", list(SERVICE_IMAGES) + [f"webstack/app:{v}" for v in APP_VERSIONS])
def test_image_exists_and_has_ss(host, image):
    assert host.run(f"docker image inspect {image}").rc == 0, f"{image} missing"
    res = docker_run(host, image, "ss", "-V")
    assert res.rc == 0 and "iproute2" in res.stdout


@pytest.mark.parametrize("image", [i for i in SERVICE_IMAGES if i != "webstack/base:bookworm"]
                         + [f"webstack/app:{v}" for v in APP_VERSIONS])
def test_built_images_carry_the_build_hash_label(host, image):
    labels = json.loads(host.check_output(f"docker image inspect -f '{{{{json .Config.Labels}}}}' {image}"))
    assert len(labels.get("webstack.build-hash", "")) == 64


@pytest.mark.parametrize("image, user", [(i, u) for i, u in SERVICE_IMAGES.items() if u])
def test_services_run_as_non_root(host, image, user):
    configured = host.check_output(f"docker image inspect -f '{{{{.Config.User}}}}' {image}")
    assert configured == user
    assert host.check_output(f"docker run --rm --network none --entrypoint '' {image} id -un") == user


@pytest.mark.parametrize("version", list(APP_VERSIONS))
def test_app_prints_its_version_and_runs_as_10001(host, version):
    image = f"webstack/app:{version}"
    assert host.check_output(f"docker run --rm --network none {image} python3 -m webstack_app version") == version
    assert host.check_output(f"docker run --rm --network none {image} id -u") == "10001"
    assert host.check_output(f"docker run --rm --network none {image} id -g") == "10001"


@pytest.mark.parametrize("version", list(APP_VERSIONS))
def test_app_ships_the_selected_migrations(host, version):
    names, broken = APP_VERSIONS[version]
    image = f"webstack/app:{version}"
    shipped = json.loads(host.check_output(f"docker run --rm --network none {image} python3 -m webstack_app migrations"))
    assert [m["name"] for m in shipped] == names
    assert all(m["sql"].strip() for m in shipped)
    info = json.loads(host.check_output(f"docker run --rm --network none {image} cat /opt/webstack/build.json"))
    assert info == {"version": version, "broken": broken}


def test_postgres_image_has_no_packaged_cluster_and_client_tools(host):
    res = docker_run(host, "webstack/postgres:15", "sh", "-c",
                     "'cat /etc/postgresql-common/createcluster.d/*.conf; ls /etc/postgresql 2>/dev/null | wc -l; "
                     "for c in pg_dump pg_restore psql pg_isready initdb; do command -v $c; done'")
    assert res.rc == 0, res.stderr
    assert "create_main_cluster = false" in res.stdout
    assert res.stdout.splitlines()[1].strip() == "0"
    assert res.stdout.count("/usr/lib/postgresql/15/bin/") == 5


def test_redis_refuses_to_start_without_password_file(host):
    res = host.run("docker run --rm --network none --name h1mol-redis-nopw webstack/redis:7")
    assert res.rc != 0
    assert "REDIS_PASSWORD_FILE" in res.stderr


def test_nginx_config_is_valid_as_non_root(host):
    res = host.run("docker run --rm --network none --name h1mol-nginx-t webstack/nginx:1.22 nginx -t -e stderr")
    assert res.rc == 0, res.stderr
    assert "include /etc/nginx/conf.d/*.conf" in host.check_output(
        "docker run --rm --network none webstack/nginx:1.22 cat /etc/nginx/nginx.conf")


def test_app_serves_reports_missing_dependencies_and_stops_cleanly(host):
    """The app image serves on 8000 without its dependencies: alive, not ready (naming both), and
    exits 0 on `docker stop` (SIGTERM)."""
    name = "h1mol-app-serve"
    host.run(f"docker rm -f {name}")
    try:
        host.check_output(f"docker run -d --name {name} -p 127.0.0.1::8000 -e APP_DATABASE_HOST=127.0.0.1 "
                          f"-e APP_REDIS_HOST=127.0.0.1 webstack/app:2.0.0")
        port = host.check_output(f"docker port {name} 8000/tcp").splitlines()[0].rsplit(":", 1)[1]
        probe = ("python3 -c \"import sys, time, urllib.request as u, urllib.error as e\n"
                 "for _ in range(50):\n"
                 "    try:\n"
                 "        u.urlopen('http://127.0.0.1:{port}/health', timeout=1); break\n"
                 "    except Exception: time.sleep(0.2)\n"
                 "try:\n"
                 "    u.urlopen('http://127.0.0.1:{port}/health/ready', timeout=5); print(200)\n"
                 "except e.HTTPError as err: print(err.code, err.read().decode())\n"
                 "print(u.urlopen('http://127.0.0.1:{port}/version', timeout=5).read().decode())\"")
        out = host.check_output(probe.format(port=port))
        ready, version = out.splitlines()[0], out.splitlines()[-1]
        assert ready.startswith("503 ")
        assert json.loads(ready[4:])["failed"] == ["postgres", "redis"]
        assert json.loads(version) == {"version": "2.0.0"}
        host.check_output(f"docker stop -t 10 {name}")
        assert host.check_output(f"docker inspect -f '{{{{.State.ExitCode}}}}' {name}") == "0"
    finally:
        host.run(f"docker rm -f {name}")
