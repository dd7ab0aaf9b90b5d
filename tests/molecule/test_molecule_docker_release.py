"""Molecule scenarios of the docker platform's release roles (real Docker engine, delegated driver).

A test file is one unit of work for the pytest-xdist workers (--dist loadfile), so the scenarios are
split over a few files to spread them over the workers."""
import pytest

from scenarios import run_scenario, scenarios

SCENARIOS = scenarios(["docker_app", "docker_backup"])


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.parametrize("name", SCENARIOS)
@pytest.mark.usefixtures("docker_images")
def test_scenario(name):
    run_scenario(name)
