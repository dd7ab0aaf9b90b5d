"""The lifecycle of examples/propflow on the docker platform (tests/e2e/examples_lifecycle.py)."""
from __future__ import annotations

import json

from examples_harness import hostnames, request, wait_for
from examples_lifecycle import MARKS, ExampleE2E

pytestmark = MARKS


class TestPropFlow(ExampleE2E):
    KEY = "propflow"
    test_status = None  # covered by Meal planner
    test_backup_migrate_restore = None

    def _enqueue_and_wait(self, ex, version):
        probe = ex.probes["api"]
        status, body = request(ex.proxy_port, probe, "POST", "/api/v1/valuations", {"address": f"{version} Main St"})
        assert status == 202, body
        valuation = json.loads(body)["id"]

        def done():
            code, text = request(ex.proxy_port, probe, path=f"/api/v1/valuations/{valuation}")
            row = json.loads(text) if code == 200 else {}
            return row if row.get("status") == "done" else None
        row = wait_for(done, timeout=30)
        assert row, f"the Celery worker never processed valuation {valuation}"
        assert row["worker_version"] == version, row
        assert row["processed_by"] in hostnames(ex, "worker"), f"processed by {row['processed_by']}, not a running worker"
