"""Molecule scenarios of the aws platform's cache, compute, edge and alarm roles (each scenario starts its own moto server)."""
from scenarios import scenario_test

test_scenario = scenario_test(["elasticache", "ecs_service", "alb", "alarms"], "aws")
