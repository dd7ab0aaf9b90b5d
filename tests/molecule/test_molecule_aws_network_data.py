"""Molecule scenarios of the aws platform's storage, network and data roles (each scenario starts its own moto server)."""
from scenarios import scenario_test

test_scenario = scenario_test(["aws_storage", "vpc", "security_groups", "rds"], "aws")
