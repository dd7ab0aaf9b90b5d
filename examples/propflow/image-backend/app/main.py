"""PropFlow api stand-in (FastAPI-shaped, served by the `uvicorn` stand-in): GET /health (database + Redis),
GET /api/v1/status, POST /api/v1/valuations {address} (queued for the Celery worker), GET /api/v1/valuations/<id>."""
import json
import re
import threading
import time

from app import settings

QUEUE = "celery"
settings.check_environment()


class App:
    version = settings.VERSION

    def __init__(self):
        self._local = threading.local()
        # Database and Redis are checked every second in the background; /health answers from the last check
        # at once (a load balancer's health check has a short timeout).
        self.state = {"status": "unhealthy", "database": "unknown", "redis": "unknown"}
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self):
        conn = client = None
        while True:
            state = {"status": "healthy", "database": "connected", "redis": "connected"}
            try:
                if conn is None or conn.closed:
                    conn = settings.database()
                    conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute("SELECT 1")
            except Exception:  # noqa: BLE001
                conn = None
                state.update(status="unhealthy", database="disconnected")
            try:
                client = client or settings.redis_client(timeout=3)
                client.ping()
            except Exception:  # noqa: BLE001
                client = None
                state.update(status="unhealthy", redis="disconnected")
            self.state = state
            time.sleep(1)

    def _db(self):
        conn = getattr(self._local, "db", None)
        if conn is None or conn.closed:
            conn = self._local.db = settings.database()
            conn.autocommit = True
        return conn

    def _redis(self):
        client = getattr(self._local, "redis", None)
        if client is None:
            client = self._local.redis = settings.redis_client()
        return client

    def _query(self, sql, params=()):
        try:
            with self._db().cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else None
        except Exception:
            self._local.db = None
            raise

    def handle(self, method, path, body):
        if settings.NEVER_READY:
            return 503, {"status": "unavailable", "reason": "never-ready test build"}
        if method == "GET" and path == "/health":
            state = dict(self.state)
            return (200 if state["status"] == "healthy" else 503), state
        if method == "GET" and path == "/api/v1/status":
            return 200, {"status": "ok", "api": "v1"}
        if method == "POST" and path == "/api/v1/valuations":
            address = (json.loads(body or b"{}").get("address") or "").strip()
            if not address:
                return 422, {"detail": "address is required"}
            (prop,), = self._query("INSERT INTO properties (address) VALUES (%s) RETURNING id", (address,))
            (val,), = self._query("INSERT INTO valuations (property_id) VALUES (%s) RETURNING id", (prop,))
            self._redis().lpush(QUEUE, json.dumps({"task": "valuate", "id": val}))
            return 202, {"id": val, "status": "pending"}
        match = re.fullmatch(r"/api/v1/valuations/(\d+)", path)
        if method == "GET" and match:
            rows = self._query("SELECT id, status, value_cents, processed_by, worker_version FROM valuations "
                               "WHERE id = %s", (int(match[1]),))
            if not rows:
                return 404, {"detail": "not found"}
            keys = ("id", "status", "value_cents", "processed_by", "worker_version")
            return 200, dict(zip(keys, rows[0]))
        return 404, {"detail": "Not Found"}


app = App()
