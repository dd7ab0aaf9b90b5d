"""Bad input fails in preflight, naming the variable, before any API call (the emulator's recorder stays empty)."""
from __future__ import annotations

import secrets
import string

import pytest

from support.aws import assert_refused_in_preflight

# Test-only values generated per run (never stored): prod/dev inventories read them from a vault file.
VAULT = {
    "vault_rds_master_password": secrets.token_urlsafe(24),
    # ElastiCache AUTH tokens take letters, digits and !&#$^<>- only (token_urlsafe's '_' is refused)
    "vault_elasticache_auth_token": "".join(secrets.choice(string.ascii_letters + string.digits + "!&#$^<>-") for _ in range(40)),
}

CASES = {
    "malformed vpc cidr": ("sandbox", {"vpc_cidr": "10.40.0.0/33"}, ["vpc_cidr", "not an IPv4 network"]),
    "subnet outside the vpc": ("sandbox", {"vpc_database_subnet_cidrs": ["10.40.100.0/24", "10.99.1.0/24"]},
                               ["vpc_database_subnet_cidrs", "not inside vpc_cidr"]),
    "overlapping subnets": ("sandbox", {"vpc_private_subnet_cidrs": ["10.40.0.0/20", "10.40.32.0/20"]},
                            ["vpc_private_subnet_cidrs", "overlaps"]),
    "one subnet per zone": ("sandbox", {"vpc_public_subnet_cidrs": ["10.40.0.0/24"]},
                            ["vpc_public_subnet_cidrs", "one CIDR per availability zone"]),
    "password under 16 characters": ("sandbox", {"vault_rds_master_password": "Short1234567"},
                                     ["vault_rds_master_password", "at least 16"]),
    "auth token under 16 characters": ("sandbox", {"vault_elasticache_auth_token": "tiny"},
                                       ["vault_elasticache_auth_token", "16-128"]),
    "auth token with a character ElastiCache refuses": ("sandbox", {"vault_elasticache_auth_token": "a" * 20 + "_%"},
                                                        ["vault_elasticache_auth_token", "!&#$^<>-"]),
    "malformed environment name": ("sandbox", {"webstack_env": "Prod_1"}, ["webstack_env"]),
    "unknown environment tier": ("sandbox", {"webstack_tier": "prodd"}, ["webstack_tier"]),
    "unknown instance class": ("sandbox", {"rds_instance_class": "db.x9.huge"}, ["rds_instance_class"]),
    "unknown node type": ("sandbox", {"elasticache_node_type": "cache.q1.tiny"}, ["elasticache_node_type"]),
    "failover with one node": ("sandbox", {"elasticache_automatic_failover": True}, ["elasticache_num_cache_clusters"]),
    "sandbox without emulator": ("sandbox", {"webstack_aws_endpoint_url": ""}, ["webstack_aws_endpoint_url"]),
    "prod without deletion protection": ("prod", {"rds_deletion_protection": False},
                                         ["rds_deletion_protection", "webstack_aws_prod_safety_overrides"]),
    "prod without multi-az": ("prod", {"rds_multi_az": False}, ["rds_multi_az"]),
    "prod without encryption": ("prod", {"rds_storage_encrypted": False}, ["rds_storage_encrypted"]),
    "prod with a single nat": ("prod", {"vpc_nat_gateways": "single"}, ["vpc_nat_gateways", "nat_per_az"]),
    "plain http to a prod bucket": ("prod", {"aws_storage_bucket_deny_insecure_transport": False},
                                    ["aws_storage_bucket_deny_insecure_transport", "only the sandbox"]),
    "prod redis without encryption": ("prod", {"elasticache_at_rest_encryption": False}, ["elasticache_at_rest_encryption"]),
    "unknown prod override": ("prod", {"webstack_aws_prod_safety_overrides": ["everything"]},
                              ["webstack_aws_prod_safety_overrides"]),
    "missing vault variables": ("dev", {}, ["not defined: vault_rds_master_password, vault_elasticache_auth_token"]),
    "one missing vault variable": ("dev", {"vault_rds_master_password": VAULT["vault_rds_master_password"]},
                                   ["not defined: vault_elasticache_auth_token."]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_in_preflight_without_api_calls(case, moto, ansible):
    inventory, extra, expected = CASES[case]
    extra = dict(extra)
    if inventory != "sandbox":
        # point the real-AWS inventories at the emulator, so that any call that got through would be recorded
        extra.setdefault("webstack_aws_endpoint_url", moto.url)
        if inventory != "dev":
            extra = {**VAULT, **extra}
    result = ansible("playbooks/provision.yml", inventory=inventory, extra_vars=extra, record=True)
    assert_refused_in_preflight(result, expected)
    assert VAULT["vault_rds_master_password"] not in result.stdout + result.stderr


def test_prod_override_is_explicit_and_named(moto, ansible):
    """A named waiver lets a prod inventory through the check it names (and only that one)."""
    base = {**VAULT, "webstack_aws_endpoint_url": moto.url, "rds_deletion_protection": False}
    waived = ansible("playbooks/preflight.yml", inventory="prod",
                     extra_vars={**base, "webstack_aws_prod_safety_overrides": ["deletion_protection"]})
    messages = " ".join(m for _t, m in waived.failed_tasks())
    assert "rds_deletion_protection" not in messages, waived.summary()
    wrong = ansible("playbooks/preflight.yml", inventory="prod",
                    extra_vars={**base, "webstack_aws_prod_safety_overrides": ["multi_az"]})
    assert wrong.rc != 0
    assert "rds_deletion_protection" in " ".join(m for _t, m in wrong.failed_tasks()), wrong.summary()
