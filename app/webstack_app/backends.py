"""PostgreSQL and Redis access. psycopg2 and redis are imported lazily so that the HTTP layer and
its unit tests need neither."""
import threading

COUNTER_KEY = "webstack:items:created"


class BackendError(RuntimeError):
    """A dependency did not answer; the message names it."""


class Backends:
    """Connections to PostgreSQL (a small pool) and Redis (redis-py's own pool)."""

    def __init__(self, config, max_db_connections=8):
        self.config = config
        self._idle = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_db_connections)
        self._redis = None

    # -- PostgreSQL -----------------------------------------------------------------------------
    def _connect(self):
        import psycopg2  # noqa: PLC0415  (imported where used: optional for unit tests)

        c = self.config
        return psycopg2.connect(
            host=c.db_host, port=c.db_port, dbname=c.db_name, user=c.db_user, password=c.db_password,
            sslmode=c.db_sslmode, connect_timeout=max(1, round(c.connect_timeout)),
            application_name="webstack_app", options="-c statement_timeout=5000 -c lock_timeout=2000",
        )

    def _run(self, func):
        """Run func(cursor) in a transaction on a pooled connection; one retry on a fresh
        connection when a pooled one turns out to be dead (e.g. PostgreSQL restarted)."""
        import psycopg2  # noqa: PLC0415

        if not self._slots.acquire(timeout=5):
            raise BackendError("postgres: all connections busy")
        try:
            for attempt in (1, 2):
                with self._lock:
                    conn = self._idle.pop() if self._idle else None
                fresh = conn is None
                try:
                    if conn is None:
                        conn = self._connect()
                    with conn:  # commit on success, rollback on error
                        with conn.cursor() as cur:
                            result = func(cur)
                    with self._lock:
                        self._idle.append(conn)
                    return result
                except psycopg2.Error as exc:
                    if conn is not None:
                        conn.close()
                    broken = isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError))
                    if broken and not fresh and attempt == 1:
                        continue
                    if broken:
                        raise BackendError(f"postgres: {str(exc).strip() or type(exc).__name__}") from exc
                    raise
        finally:
            self._slots.release()
        raise BackendError("postgres: unreachable")  # pragma: no cover

    def check_postgres(self):
        self._run(lambda cur: cur.execute("SELECT 1"))

    def list_items(self):
        def query(cur):
            cur.execute("SELECT * FROM items ORDER BY id")
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]
        return self._run(query)

    def create_item(self, name):
        def insert(cur):
            cur.execute("INSERT INTO items (name) VALUES (%s) RETURNING *", (name,))
            names = [d[0] for d in cur.description]
            return dict(zip(names, cur.fetchone()))
        item = self._run(insert)
        try:
            item_count = self.redis().incr(COUNTER_KEY)
        except Exception as exc:  # noqa: BLE001  the row exists; report Redis separately
            raise BackendError(f"redis: {exc}") from exc
        return item, item_count

    # -- Redis ----------------------------------------------------------------------------------
    def redis(self):
        if self._redis is None:
            import redis  # noqa: PLC0415

            c = self.config
            self._redis = redis.Redis(
                host=c.redis_host, port=c.redis_port, password=c.redis_password or None, ssl=c.redis_ssl,
                socket_connect_timeout=c.connect_timeout, socket_timeout=2, health_check_interval=30,
            )
        return self._redis

    def check_redis(self):
        try:
            if not self.redis().ping():
                raise BackendError("redis: PING did not answer PONG")
        except BackendError:
            raise
        except Exception as exc:  # noqa: BLE001  any redis-py error means "not ready"
            raise BackendError(f"redis: {exc}") from exc

    def created_total(self):
        try:
            value = self.redis().get(COUNTER_KEY)
        except Exception as exc:  # noqa: BLE001
            raise BackendError(f"redis: {exc}") from exc
        return int(value or 0)

    def close(self):
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        if self._redis is not None:
            self._redis.close()
