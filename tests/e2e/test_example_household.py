"""The lifecycle of examples/household on the docker platform (tests/e2e/examples_lifecycle.py)."""
from __future__ import annotations

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
    # the worker (jobs) tests: support.examples.EXAMPLES["household"].worker_probe (invites sent by jobs)
