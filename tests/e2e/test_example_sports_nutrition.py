"""The lifecycle of examples/sports-nutrition on the docker platform (tests/e2e/examples_lifecycle.py)."""
from __future__ import annotations

from examples_lifecycle import MARKS, ExampleE2E

pytestmark = MARKS


class TestSportsNutrition(ExampleE2E):
    KEY = "sports-nutrition"
    # one api, no worker; never-ready covered by PetForce and PropFlow
    test_worker_processes_what_the_api_enqueued = None
    test_new_worker_processes_after_the_deploy = None
    test_never_ready_fails_with_traffic_on_the_old_version = None
    test_provision_again_changes_nothing = None
    test_status = None
    test_backup_migrate_restore = None
