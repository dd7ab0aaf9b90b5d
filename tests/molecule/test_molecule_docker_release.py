"""Molecule scenarios of the docker platform's release roles (real Docker engine, delegated driver)."""
from scenarios import scenario_test

test_scenario = scenario_test(["docker_release", "docker_backup"], "docker")
