"""The lifecycle of examples/meal-planner on the docker platform (tests/e2e/examples_lifecycle.py)."""
from __future__ import annotations

from examples_lifecycle import MARKS, ExampleE2E

pytestmark = MARKS


class TestMealPlanner(ExampleE2E):
    KEY = "meal-planner"
    # one api, no worker; never-ready and failing migration covered by the examples above
    test_worker_processes_what_the_api_enqueued = None
    test_new_worker_processes_after_the_deploy = None
    test_never_ready_fails_with_traffic_on_the_old_version = None
    test_failing_migration_stops_before_traffic_moves = None
    test_provision_again_changes_nothing = None
