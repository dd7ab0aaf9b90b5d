"""Molecule scenarios of the aws platform's storage, network and data roles (against the moto server each scenario starts).

A test file is one unit of work for the pytest-xdist workers (--dist loadfile), so the scenarios are
split over a few files to spread them over the workers."""
import pytest

from scenarios import run_scenario, scenarios

SCENARIOS = scenarios(["aws_storage", "vpc", "security_groups", "rds"])


@pytest.mark.slow
@pytest.mark.aws
@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario(name):
    run_scenario(name)
