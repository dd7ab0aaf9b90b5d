"""Molecule scenarios of the aws platform's cache, compute, edge and alarm roles (against the moto server each scenario starts).

A test file is one unit of work for the pytest-xdist workers (--dist loadfile), so the scenarios are
split over a few files to spread them over the workers."""
import pytest

from scenarios import run_scenario, scenarios

SCENARIOS = scenarios(["elasticache", "ecs_service", "alb", "alarms"])


@pytest.mark.slow
@pytest.mark.aws
@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario(name):
    run_scenario(name)
