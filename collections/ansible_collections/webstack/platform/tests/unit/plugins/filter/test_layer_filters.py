"""The aws layers' outputs (filter webstack.platform.layer_output): one shape per layer from its module's result or
discover's, and the check-mode placeholders."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.webstack.platform.plugins.filter.layers import layer_output


def test_network_output_and_placeholders_only_in_check_mode():
    result = {"vpc_id": "vpc-1", "subnet_ids": {"public": ["subnet-1", "subnet-2"], "private": ["subnet-3"]}, "changes": []}
    assert layer_output(result, "vpc") == {"vpc_id": "vpc-1", "subnet_ids": {"public": ["subnet-1", "subnet-2"],
                                                                         "private": ["subnet-3"], "database": []}}
    planned = layer_output({"changes": ["create VPC"]}, "vpc", True)
    assert planned["vpc_id"] == "(vpc: not created yet)"
    assert planned["subnet_ids"]["public"] == ["(vpc: not created yet)"] * 2
    assert layer_output({}, "vpc", False)["vpc_id"] == ""


def test_data_outputs_from_the_layer_module_or_discover():
    inst = {"db_instance_identifier": "x-postgres", "db_instance_status": "available",
            "endpoint": {"address": "x.rds.example", "port": 5432}}
    assert layer_output(inst, "rds")["address"] == "x.rds.example"
    assert layer_output({"instance": inst, "found": True}, "rds") == layer_output(inst, "rds")
    group = {"replication_group": {"replication_group_id": "x-redis", "status": "available", "transit_encryption_enabled": True,
                                   "node_groups": [{"primary_endpoint": {"address": "r.example", "port": 6379}}]}}
    assert layer_output(group, "elasticache") == {"replication_group_id": "x-redis", "status": "available",
                                                  "address": "r.example", "port": 6379, "tls": True}
    assert layer_output({"replication_group": {}}, "elasticache", True)["address"] == "(elasticache: not created yet)"


def test_edge_storage_and_groups():
    assert layer_output({"load_balancer_arn": "arn:lb", "dns_name": "d", "target_group_arns": {"web": "arn:tg", "api": ""}},
                        "alb", True)["target_group_arns"] == {"web": "arn:tg", "api": "(alb: not created yet)"}
    storage = layer_output({"bucket_arn": "arn:aws:s3:::b", "repositories": {"x/app": {"uri": "1.dkr/x/app", "arn": "arn:r"}},
                            "secrets": {"rds_master": "arn:s"}}, "aws_storage")
    assert storage["bucket_name"] == "b" and storage["image_repository"] == "1.dkr/x/app"
    assert layer_output({"ids": {"alb": "sg-1"}}, "security_groups", True)["ids"]["app"] == "(security_groups: not created yet)"


def test_unknown_layer_is_refused():
    with pytest.raises(AnsibleFilterError, match="unknown layer"):
        layer_output({}, "dns")
