"""webstack.platform.http_checks against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from ansible.module_utils.testing import patch_module_args
from ansible_collections.webstack.platform.plugins.modules import http_checks as mod


class Handler(http.server.BaseHTTPRequestHandler):
    hits = {}

    def do_GET(self):  # noqa: N802
        Handler.hits[self.path] = Handler.hits.get(self.path, 0) + 1
        if self.path == "/version":
            status, body = 200, json.dumps({"version": "2.0.0", "build": {"sha": "abc"}})
        elif self.path == "/warming":  # 503 twice, then 200
            status, body = (503, "starting") if Handler.hits[self.path] <= 2 else (200, "ok")
        elif self.path == "/host":
            status, body = 200, f"host={self.headers.get('Host')}"
        elif self.path == "/health":
            status, body = 200, "healthy"
        else:
            status, body = 404, "no"
        self.send_response(status)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def base():
    Handler.hits = {}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def run(capsys, **args):
    capsys.readouterr()
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            mod.main()
    return json.loads(capsys.readouterr().out)


def test_checks_pass_with_json_field_body_and_host(base, capsys, fake_clock):
    fake_clock()
    res = run(capsys, base_url=base, checks=[
        {"path": "/version", "json_field": "version", "json_equals": "2.0.0"},
        {"path": "/version", "json_field": "build.sha", "json_equals": "abc"},
        {"path": "/warming"},
        {"path": "/host", "host": "api.example.com", "body_contains": "host=api.example.com"},
        {"path": "/nope", "status": 404},
    ])
    assert not res.get("failed"), res
    assert [r["attempts"] for r in res["results"]] == [1, 1, 3, 1, 1]
    assert Handler.hits["/version"] == 2


def test_failing_checks_name_what_they_got(base, capsys):
    res = run(capsys, base_url=base, deadline=1, delay=0.2, checks=[
        {"path": "/version", "json_field": "version", "json_equals": "3.0.0", "process": "api"},
        {"path": "/health", "body_contains": "ready"},
        {"path": "/missing"},
    ])
    assert res["failed"]
    assert "GET /version [api]: version = '2.0.0' (expected '3.0.0')" in res["msg"]
    assert "does not contain 'ready'" in res["msg"] and "status 404 (expected 200)" in res["msg"]
    assert Handler.hits["/version"] >= 2  # retried until the deadline


def test_an_app_without_a_version_endpoint_passes_its_readiness_check(base, capsys):
    assert not run(capsys, base_url=base, checks=[{"path": "/health"}]).get("failed")
