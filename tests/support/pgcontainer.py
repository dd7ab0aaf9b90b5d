"""A real PostgreSQL server in a container (the project's webstack/postgres:15 image) for tests and benchmarks.

Used by the aws tests and `scripts/benchmark-aws-lifecycle` as the sandbox's "reachable database address" (through
`support.aws.sandbox_pg()`, which sets the sandbox's master user, password and database) and by
tests/e2e/test_app_migrate.py (user `postgres`, a password of its own).

    from support.pgcontainer import PgContainer
    with PgContainer(prefix="appmig-") as pg:     # or pg = PgContainer(...).start(); ...; pg.stop()
        pg.address, pg.port, pg.password, pg.password_file
        with pg.connect() as conn: ...

Container and volume are named `<prefix>pg-<random>` (label `webstack.test=<label>`), published on a free
127.0.0.1 port below 32768 (clear of the kernel's ephemeral range), and both are removed by `stop()`.
The password reaches initdb as a file (POSTGRES_PASSWORD_FILE), never on a command line or in the environment.
The image must exist locally (the `docker_images` fixture / role docker_images builds it; nothing is pulled).
`support` is importable under pytest (pytest.ini pythonpath) and from the scripts (PYTHONPATH).
"""
from __future__ import annotations

import os
import random
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

IMAGE = "webstack/postgres:15"
PORT_RANGE = (20000, 32767)


def _docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()[-1500:]}")
    return proc


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class PgContainer:
    """Start/stop one PostgreSQL container; `address` is "127.0.0.1:<port>"."""

    def __init__(self, *, prefix: str, label: str | None = None, user: str = "postgres",
                 password: str | None = None, database: str = "postgres", image: str = IMAGE):
        if not prefix.endswith("-"):
            raise ValueError(f"prefix must end with '-': {prefix!r}")
        self.user = user
        self.password = password if password is not None else secrets.token_hex(16)
        self.database = database
        self.image = image
        self.name = f"{prefix}pg-{secrets.token_hex(4)}"
        self.label = f"webstack.test={label or prefix.rstrip('-')}"
        self.volume = f"{self.name}-data"
        self.host = "127.0.0.1"
        self.port: int | None = None
        self._secret_dir: str | None = None
        self.password_file: Path | None = None  # the password as a file on the controller (while started)
        self.started_seconds: float | None = None

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self, timeout: float = 120) -> "PgContainer":
        if _docker("image", "inspect", self.image, check=False).returncode != 0:
            raise RuntimeError(f"image {self.image} does not exist locally (build it with role docker_images)")
        began = time.monotonic()
        # The password reaches initdb through POSTGRES_PASSWORD_FILE: a world-readable copy inside a
        # 0700 directory of the controller, bind-mounted as a single file (the container's postgres user
        # reads it; nobody else on the host can reach it). Removed in stop().
        self._secret_dir = tempfile.mkdtemp(prefix=f"{self.name}-")
        os.chmod(self._secret_dir, 0o700)
        secret_file = self.password_file = Path(self._secret_dir) / "password"
        secret_file.write_text(self.password + "\n")
        secret_file.chmod(0o444)
        try:
            _docker("volume", "create", "--label", self.label, self.volume)
            last_error = ""
            for _attempt in range(20):
                port = random.randint(*PORT_RANGE)  # noqa: S311  a port number, not a secret
                if not _port_is_free(port):
                    continue
                proc = _docker(
                    "run", "-d", "--name", self.name, "--label", self.label,
                    "-p", f"127.0.0.1:{port}:5432",
                    "-v", f"{self.volume}:/var/lib/postgresql/data",
                    "-v", f"{secret_file}:/run/secrets/postgres_password:ro",
                    "-e", "POSTGRES_PASSWORD_FILE=/run/secrets/postgres_password",
                    "-e", f"POSTGRES_USER={self.user}",
                    "-e", f"POSTGRES_DB={self.database}",
                    self.image, check=False,
                )
                if proc.returncode == 0:
                    self.port = port
                    break
                last_error = proc.stderr.strip()
                _docker("rm", "-f", self.name, check=False)
                if "port is already allocated" not in last_error and "address already in use" not in last_error:
                    raise RuntimeError(f"docker run {self.name} failed: {last_error[-1500:]}")
            else:
                raise RuntimeError(f"no free 127.0.0.1 port for {self.name}: {last_error[-500:]}")
            self._wait_ready(began + timeout)
        except BaseException:
            self.stop()
            raise
        self.started_seconds = time.monotonic() - began
        return self

    def _wait_ready(self, deadline: float) -> None:
        import psycopg2  # the venv has psycopg2-binary

        last = ""
        while time.monotonic() < deadline:
            state = _docker("inspect", "-f", "{{.State.Status}}", self.name, check=False).stdout.strip()
            if state in ("exited", "dead"):
                logs = _docker("logs", "--tail", "30", self.name, check=False)
                raise RuntimeError(f"{self.name} exited during start: {(logs.stdout + logs.stderr)[-2000:]}")
            try:
                # TCP answers only once initdb is done (the first-start server listens on the socket only).
                conn = psycopg2.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                                        dbname=self.database, connect_timeout=2)
            except psycopg2.OperationalError as exc:
                last = str(exc).strip()
                time.sleep(0.5)
                continue
            conn.close()
            return
        raise RuntimeError(f"{self.name} did not accept connections on {self.address}: {last}")

    def stop(self) -> None:
        """Remove the container and its volume (idempotent)."""
        _docker("rm", "-f", "-v", self.name, check=False)
        _docker("volume", "rm", "-f", self.volume, check=False)
        if self._secret_dir:
            shutil.rmtree(self._secret_dir, ignore_errors=True)
            self._secret_dir = None
            self.password_file = None

    def __enter__(self) -> "PgContainer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- access ---------------------------------------------------------------------------------------
    @property
    def address(self) -> str:
        """`webstack_aws_db_address` value: "127.0.0.1:<port>"."""
        return f"{self.host}:{self.port}"

    def connect(self, database: str | None = None, *, autocommit: bool = True):
        """A psycopg2 connection as the master user (autocommit unless told otherwise)."""
        import psycopg2

        conn = psycopg2.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                                dbname=database or self.database, connect_timeout=5)
        conn.autocommit = autocommit
        return conn

    def query(self, sql: str, params: tuple | None = None, database: str | None = None) -> list[tuple]:
        """Run one statement (autocommit); its rows, or [] for a statement that returns none."""
        conn = self.connect(database)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params or None)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()


if __name__ == "__main__":  # manual check: start, show the address, query, stop
    with PgContainer(prefix="pgcheck-") as pg:
        print(pg.name, pg.address, f"{pg.started_seconds:.1f}s", pg.query("select version()")[0][0])
