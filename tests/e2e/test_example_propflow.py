"""The lifecycle of examples/propflow on the docker platform (tests/e2e/examples_lifecycle.py)."""
from __future__ import annotations

from examples_lifecycle import MARKS, ExampleE2E

pytestmark = MARKS


class TestPropFlow(ExampleE2E):
    KEY = "propflow"
    test_status = None  # covered by Meal planner
    test_backup_migrate_restore = None
    # the worker tests: support.examples.EXAMPLES["propflow"].worker_probe (valuations done by the Celery worker)
