"""Settings from the environment (the guide's production checklist): DATABASE_URL, REDIS_HOST, S3_BUCKET,
SECRET_KEY; REDIS_PORT, REDIS_PASSWORD and REDIS_TLS for an AUTH/TLS Redis."""
import os
import sys
from pathlib import Path

import psycopg2
import redis

VERSION = Path("/app/VERSION").read_text().strip()
NEVER_READY = "never-ready" in VERSION
REQUIRED = ("DATABASE_URL", "REDIS_HOST", "SECRET_KEY")


def check_environment():
    missing = [name for name in REQUIRED if not os.environ.get(name)]
    if missing:
        sys.exit(f"refusing to start: missing environment {', '.join(missing)}")


def database():
    return psycopg2.connect(os.environ["DATABASE_URL"], connect_timeout=10)


def redis_client(timeout=5):
    return redis.Redis(host=os.environ["REDIS_HOST"], port=int(os.environ.get("REDIS_PORT") or 6379),
                       password=os.environ.get("REDIS_PASSWORD") or None,
                       ssl=os.environ.get("REDIS_TLS", "false").lower() == "true",
                       socket_timeout=timeout, socket_connect_timeout=timeout)
