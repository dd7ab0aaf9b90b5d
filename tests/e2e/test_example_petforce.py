"""The lifecycle of examples/petforce on the docker platform (tests/e2e/examples_lifecycle.py)."""
from __future__ import annotations

from examples_lifecycle import MARKS, ExampleE2E

pytestmark = MARKS


class TestPetForce(ExampleE2E):
    KEY = "petforce"
    # no worker in the guide (web + api only); the failing migration is covered by PropFlow and Sports nutrition
    test_worker_processes_what_the_api_enqueued = None
    test_new_worker_processes_after_the_deploy = None
    test_failing_migration_stops_before_traffic_moves = None
    test_provision_again_changes_nothing = None
    test_status = None
    test_backup_migrate_restore = None
