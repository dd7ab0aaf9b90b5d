"""Molecule scenarios of the docker platform's roles (real Docker engine, delegated driver)."""
import pytest

from scenarios import run_scenario, scenarios

DOCKER_SCENARIOS = scenarios(["docker_images", "docker_host", "docker_postgres", "docker_redis",
                              "docker_proxy", "docker_app", "docker_backup"])


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.parametrize("name", DOCKER_SCENARIOS)
@pytest.mark.usefixtures("docker_images")
def test_scenario(name):
    run_scenario(name)
