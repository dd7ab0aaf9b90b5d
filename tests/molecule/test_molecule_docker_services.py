"""Molecule scenarios of the docker platform's service roles (real Docker engine, delegated driver)."""
from scenarios import scenario_test

test_scenario = scenario_test(["docker_images", "docker_host", "docker_postgres", "docker_redis", "docker_proxy"], "docker")
