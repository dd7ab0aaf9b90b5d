"""Molecule scenarios of the aws platform's roles (against the moto server each scenario starts)."""
import pytest

from scenarios import run_scenario, scenarios

AWS_SCENARIOS = scenarios(["vpc", "security_groups", "rds", "elasticache", "aws_storage",
                           "ecs_service", "alb", "alarms"])


@pytest.mark.slow
@pytest.mark.aws
@pytest.mark.parametrize("name", AWS_SCENARIOS)
def test_scenario(name):
    run_scenario(name)
