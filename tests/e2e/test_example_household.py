"""The lifecycle of examples/household on the docker platform (tests/e2e/examples_lifecycle.py)."""
from __future__ import annotations

import json

from examples_harness import hostnames, request, wait_for
from examples_lifecycle import MARKS, ExampleE2E

pytestmark = MARKS


class TestHousehold(ExampleE2E):
    KEY = "household"
    # never-ready: covered by PetForce (host + path routes) and PropFlow; failing migration: PropFlow, Sports
    test_never_ready_fails_with_traffic_on_the_old_version = None
    test_failing_migration_stops_before_traffic_moves = None
    test_provision_again_changes_nothing = None
    test_status = None
    test_backup_migrate_restore = None

    def _enqueue_and_wait(self, ex, version):
        probe = ex.probes["api"]
        status, body = request(ex.proxy_port, probe, "POST", "/api/invites", {"email": f"member-{version}@household.test"})
        assert status == 202, body
        invite = json.loads(body)["id"]

        def sent():
            code, text = request(ex.proxy_port, probe, path=f"/api/invites/{invite}")
            row = json.loads(text) if code == 200 else {}
            return row if row.get("status") == "sent" else None
        row = wait_for(sent, timeout=30)
        assert row, f"the jobs process never sent invite {invite}"
        assert row["sent_by_version"] == version, row
        assert row["sent_by"] in hostnames(ex, "jobs"), f"sent by {row['sent_by']}, not a running jobs container"
