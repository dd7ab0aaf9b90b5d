"""The peer tool, measured the way four of the five user guides deploy on a single server: Debian's
docker-compose (1.29) moving the same stack to the new image with `docker-compose up -d`, under the same
bounded load loop as scripts/benchmark_docker.py (not a test; prints JSON).

The compose file is the guides' shape (docker-compose.yml of 002, Sports nutrition API): the app service
publishes its port on the host, PostgreSQL and Redis beside it, `restart: always`, migrations with
`docker-compose run --rm`. Same images as the webstack stack (webstack/app:<version>, webstack/postgres:15,
webstack/redis:7). Project `bench-compose`, port 27280; everything is removed at the end."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from support.docker import LoadLoop, http_get  # noqa: E402

PROJECT = "bench-compose"
PORT = 27280
COMPOSE_FILE = """\
version: "3.8"
services:
  app:
    image: webstack/app:${APP_VERSION}
    command: [python3, -m, webstack_app, serve]
    ports:
      - "127.0.0.1:%(port)d:8000"
    environment:
      APP_DATABASE_HOST: postgres
      APP_DATABASE_PORT: "5432"
      APP_DATABASE_NAME: webstack
      APP_DATABASE_USER: postgres
      APP_DATABASE_PASSWORD_FILE: /run/secrets/pg
      APP_REDIS_HOST: redis
      APP_REDIS_PORT: "6379"
      APP_REDIS_PASSWORD_FILE: /run/secrets/redis
    volumes:
      - ./secrets/pg:/run/secrets/pg:ro
      - ./secrets/redis:/run/secrets/redis:ro
    depends_on: [postgres, redis]
    restart: always
  postgres:
    image: webstack/postgres:15
    environment:
      POSTGRES_PASSWORD_FILE: /run/secrets/pg
      POSTGRES_USER: postgres
      POSTGRES_DB: webstack
    volumes:
      - ./secrets/pg:/run/secrets/pg:ro
      - pgdata:/var/lib/postgresql/data
    restart: always
  redis:
    image: webstack/redis:7
    environment:
      REDIS_PASSWORD_FILE: /run/secrets/redis
    volumes:
      - ./secrets/redis:/run/secrets/redis:ro
    restart: always
volumes:
  pgdata: {}
"""


def _compose(workdir, version, *args, timeout=300):
    env = dict(os.environ, APP_VERSION=version)
    start = time.time()
    res = subprocess.run(["docker-compose", "-p", PROJECT, *args], cwd=workdir, env=env, capture_output=True,
                         text=True, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"docker-compose {' '.join(args)}: {res.stderr[-2000:]}")
    return round(time.time() - start, 1)


def _wait_ready(seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if http_get(PORT, "/health/ready")[0] == 200:
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.5)
    raise RuntimeError("the compose stack did not become ready")


class _TimedLoad(LoadLoop):
    """The same load loop, also noting when requests failed (the outage window)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.failed_at = []

    def _record(self, ok, body, err=None):
        if not ok:
            self.failed_at.append(time.time())
        super()._record(ok, body, err)


def _under_load(workdir, version):
    with _TimedLoad(PORT) as load:
        started = time.time()
        seconds = _compose(workdir, version, "up", "-d")
        _wait_ready()
    r = load.result
    return {
        "command_s": seconds,
        "versions_seen": [v for _, v in r.versions],
        "traffic_switched_after_s": round(r.versions[-1][0] - started, 1) if len(r.versions) > 1 else None,
        "outage_s": round(max(load.failed_at) - min(load.failed_at), 1) if load.failed_at else 0.0,
        "requests": r.requests, "failed": r.failed,
        "keepalive_requests": r.keepalive_requests, "keepalive_failed_after_one_retry": r.keepalive_failed,
        "errors": r.errors[:3],
    }


def compose_figures(old="1.0.0", new="2.0.0"):
    """Deploy `new` and roll back to `old` with docker-compose up -d under load."""
    if not shutil.which("docker-compose"):
        return {"skipped": "docker-compose is not installed (apt-get install docker-compose)"}
    figures = {"tool": subprocess.run(["docker-compose", "version", "--short"], capture_output=True, text=True).stdout.strip()}
    with tempfile.TemporaryDirectory(prefix="bench-compose-") as tmp:
        work = Path(tmp)
        (work / "docker-compose.yml").write_text(COMPOSE_FILE % {"port": PORT})
        (work / "secrets").mkdir()
        for name in ("pg", "redis"):
            (work / "secrets" / name).write_text(os.urandom(16).hex())
            os.chmod(work / "secrets" / name, 0o644)  # read by the containers' own users
        try:
            figures["first_up_s"] = _compose(work, old, "up", "-d", "postgres", "redis")
            for attempt in range(60):  # PostgreSQL initialises its cluster first; a user retries the same way
                try:
                    figures["migrate_s"] = _compose(work, old, "run", "--rm", "app", "python3", "-m", "webstack_app", "migrate")
                    break
                except RuntimeError:
                    if attempt == 59:
                        raise
                    time.sleep(1)
            _compose(work, old, "up", "-d")
            _wait_ready()
            figures["deploy_under_load"] = _under_load(work, new)
            figures["rollback_under_load"] = _under_load(work, old)
        finally:
            subprocess.run(["docker-compose", "-p", PROJECT, "down", "-v", "--remove-orphans"], cwd=work,
                           env=dict(os.environ, APP_VERSION=old), capture_output=True, text=True, timeout=300)
    return figures


if __name__ == "__main__":
    print(json.dumps(compose_figures(*sys.argv[1:3]), indent=2))
