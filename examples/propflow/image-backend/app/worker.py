"""PropFlow Celery stand-in: `worker()` takes the tasks the api (and beat) queue in Redis list `celery`;
`beat()` is the scheduler: every BEAT_INTERVAL seconds (default 5) it records a tick (host, version) and
queues `refresh_queue_metrics`. Run exactly one beat. SIGTERM: finish the task in hand, exit 0."""
import json
import os
import signal
import socket
import time

from app import settings

QUEUE = "celery"
HOST = socket.gethostname()
_running = True


def _stop(*_):
    global _running
    _running = False


def worker():
    settings.check_environment()
    signal.signal(signal.SIGTERM, _stop)
    queue = settings.redis_client(timeout=5)
    db = None
    print(f"[worker] ready (version {settings.VERSION})", flush=True)
    while _running:
        try:
            item = queue.brpop(QUEUE, timeout=1)
        except Exception as exc:  # noqa: BLE001 - Redis not there yet: retry
            print(f"[worker] redis: {exc}", flush=True)
            time.sleep(0.5)
            continue
        if not item:
            continue
        task = json.loads(item[1])
        try:
            if db is None or db.closed:
                db = settings.database()
                db.autocommit = True
            with db.cursor() as cur:
                if task["task"] == "valuate":
                    cur.execute("UPDATE valuations SET status = 'done', value_cents = 100000 + id, processed_by = %s, "
                                "worker_version = %s, processed_at = now() WHERE id = %s",
                                (HOST, settings.VERSION, task["id"]))
                elif task["task"] == "refresh_queue_metrics":
                    cur.execute("SELECT count(*) FROM valuations WHERE status = 'pending'")
                    queue.set("propflow:pending_valuations", cur.fetchone()[0])
            print(f"[worker] done {task['task']} {task.get('id', '')}", flush=True)
        except Exception as exc:  # noqa: BLE001 - put it back, try again later
            print(f"[worker] {task['task']} failed ({exc}); requeued", flush=True)
            db = None
            queue.rpush(QUEUE, item[1])
            time.sleep(0.5)
    return 0


def beat():
    settings.check_environment()
    signal.signal(signal.SIGTERM, _stop)
    interval = float(os.environ.get("BEAT_INTERVAL") or 5)
    print(f"[beat] scheduler started on {HOST} (version {settings.VERSION}, every {interval}s)", flush=True)
    db = None
    next_tick = time.monotonic()
    while _running:
        if time.monotonic() >= next_tick:
            next_tick += interval
            try:
                if db is None or db.closed:
                    db = settings.database()
                    db.autocommit = True
                with db.cursor() as cur:
                    cur.execute("INSERT INTO beat_ticks (host, version) VALUES (%s, %s)", (HOST, settings.VERSION))
                settings.redis_client().lpush(QUEUE, json.dumps({"task": "refresh_queue_metrics"}))
            except Exception as exc:  # noqa: BLE001
                print(f"[beat] tick failed: {exc}", flush=True)
                db = None
        time.sleep(0.2)
    return 0
