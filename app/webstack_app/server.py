"""HTTP API of the reference application (ThreadingHTTPServer, port 8000).

GET /health         200 {"status": "ok"} while the process serves requests (liveness)
GET /health/ready   200 when PostgreSQL (SELECT 1) and Redis (PING) answer, else 503 naming the
                    failed dependencies; a build made with APP_BROKEN=1 never answers 200
GET /version        {"version": "<APP_VERSION baked at build>"}
GET /items          rows of table items, plus the Redis counter of created items
POST /items         JSON {"name": "..."} inserts a row and increments the Redis counter
"""
import json
import signal
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .backends import BackendError

MAX_BODY = 64 * 1024


class Handler(BaseHTTPRequestHandler):
    server_version = "webstack-app"
    sys_version = ""
    # HTTP/1.0: one request per connection, so a graceful stop never waits on idle keep-alives.
    protocol_version = "HTTP/1.0"
    timeout = 30  # seconds a client may take to send its request

    # -- plumbing -------------------------------------------------------------------------------
    def _send(self, status, payload):
        body = json.dumps(payload, default=str, sort_keys=True).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002  (signature of the base class)
        sys.stderr.write("%s %s %s\n" % (self.address_string(), self.log_date_time_string(), format % args))

    def log_request(self, code="-", size="-"):
        # Docker's health probe hits /health/ready every few seconds: log only its failures.
        if self.path.startswith("/health") and str(getattr(code, "value", code)) == "200":
            return
        super().log_request(code, size)

    @property
    def app(self):
        return self.server.app

    def _route(self, method):
        path = self.path.split("?", 1)[0]
        routes = {
            "/health": {"GET": self.get_health},
            "/health/ready": {"GET": self.get_ready},
            "/version": {"GET": self.get_version},
            "/items": {"GET": self.get_items, "POST": self.post_items},
        }
        if path not in routes:
            return self._send(HTTPStatus.NOT_FOUND, {"error": f"no such path: {path}"})
        handler = routes[path].get("GET" if method == "HEAD" else method)
        if handler is None:
            return self._send(HTTPStatus.METHOD_NOT_ALLOWED, {"error": f"{method} not allowed on {path}"})
        try:
            return handler()
        except BackendError as exc:
            return self._send(HTTPStatus.SERVICE_UNAVAILABLE, {"error": str(exc)})
        except Exception as exc:  # noqa: BLE001  answer 500 and keep serving
            self.log_error("internal error on %s %s: %r", method, path, exc)
            return self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error"})

    def do_GET(self):  # noqa: N802
        self._route("GET")

    def do_HEAD(self):  # noqa: N802
        self._route("HEAD")

    def do_POST(self):  # noqa: N802
        self._route("POST")

    def do_PUT(self):  # noqa: N802
        self._route("PUT")

    def do_DELETE(self):  # noqa: N802
        self._route("DELETE")

    # -- endpoints ------------------------------------------------------------------------------
    def get_health(self):
        self._send(HTTPStatus.OK, {"status": "ok"})

    def get_ready(self):
        checks, failed = {}, []
        if self.app.build["broken"]:
            checks["build"] = "broken build (APP_BROKEN=1): never ready"
            failed.append("build")
        for name, probe in (("postgres", self.app.backends.check_postgres),
                            ("redis", self.app.backends.check_redis)):
            try:
                probe()
                checks[name] = "ok"
            except BackendError as exc:
                checks[name] = str(exc)
                failed.append(name)
            except Exception as exc:  # noqa: BLE001
                checks[name] = f"{name}: {type(exc).__name__}: {exc}"
                failed.append(name)
        if failed:
            return self._send(HTTPStatus.SERVICE_UNAVAILABLE,
                              {"status": "unavailable", "failed": failed, "checks": checks})
        return self._send(HTTPStatus.OK, {"status": "ready", "checks": checks})

    def get_version(self):
        self._send(HTTPStatus.OK, {"version": self.app.build["version"]})

    def get_items(self):
        items = self.app.backends.list_items()
        self._send(HTTPStatus.OK, {"items": items, "count": len(items),
                                   "created_total": self.app.backends.created_total()})

    def post_items(self):
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return self._send(HTTPStatus.BAD_REQUEST, {"error": "invalid Content-Length"})
        if length > MAX_BODY:
            return self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": f"body over {MAX_BODY} bytes"})
        try:
            payload = json.loads(self.rfile.read(length) or b"null")
        except (ValueError, UnicodeDecodeError):
            return self._send(HTTPStatus.BAD_REQUEST, {"error": "body is not JSON"})
        name = payload.get("name") if isinstance(payload, dict) else None
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= 200:
            return self._send(HTTPStatus.BAD_REQUEST, {"error": 'expected JSON {"name": "<1-200 characters>"}'})
        item, created_total = self.app.backends.create_item(name.strip())
        return self._send(HTTPStatus.CREATED, {"item": item, "created_total": created_total})


class App:
    def __init__(self, config, backends, build):
        self.config, self.backends, self.build = config, backends, build


class Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for in-flight requests
    block_on_close = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, app):
        self.app = app
        super().__init__(address, Handler)


def make_server(config, backends, build):
    return Server((config.listen_address, config.port), App(config, backends, build))


def serve(server, log=sys.stderr):
    """Serve until SIGTERM/SIGINT, then stop accepting, finish in-flight requests and return."""
    stopping = threading.Event()

    def stop(signum, _frame):
        if not stopping.is_set():
            stopping.set()
            log.write(f"received signal {signum}: finishing in-flight requests\n")
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    started = time.monotonic()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()  # joins the request threads
        server.app.backends.close()
    log.write(f"stopped after {time.monotonic() - started:.1f}s\n")
