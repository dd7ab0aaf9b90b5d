"""Unit tests of webstack.platform.discover (a layer's state for a play that left the layer out), Stubber answers."""
from __future__ import annotations

from ansible_collections.webstack.platform.plugins.modules import discover


def test_network_found_by_name_tag_subnets_by_tier(aws_stub, run_module):
    stub = aws_stub("ec2")
    stub.add_response("describe_vpcs", {"Vpcs": [{"VpcId": "vpc-1"}]}, {"Filters": [{"Name": "tag:Name", "Values": ["w"]}]})
    tagged = [("subnet-b", "w-public-eu-1b"), ("subnet-a", "w-public-eu-1a"), ("subnet-c", "w-private-eu-1a")]
    stub.add_response("describe_subnets", {"Subnets": [{"SubnetId": i, "Tags": [{"Key": "Name", "Value": n}]} for i, n in tagged]},
                      {"Filters": [{"Name": "vpc-id", "Values": ["vpc-1"]}]})
    res = run_module(discover, {"layer": "vpc", "name": "w", "tag": "network"})
    assert not res.failed and res.result["changed"] is False and res.result["found"] is True
    assert res.result["subnet_ids"] == {"public": ["subnet-a", "subnet-b"], "private": ["subnet-c"], "database": []}


def test_missing_layer_fails_naming_the_tag_but_not_in_check_mode(aws_stub, run_module):
    stub = aws_stub("rds")
    stub.add_client_error("describe_db_instances", "DBInstanceNotFound", "none")
    res = run_module(discover, {"layer": "rds", "name": "w-postgres", "tag": "data"})
    assert res.failed and "provision.yml --tags data" in res.result["msg"]
    stub.add_client_error("describe_db_instances", "DBInstanceNotFound", "none")
    res = run_module(discover, {"layer": "rds", "name": "w-postgres", "tag": "data"}, check_mode=True)
    assert not res.failed and res.result["found"] is False and res.result["instance"] == {}


def test_edge_target_groups_per_process(aws_stub, run_module):
    stub = aws_stub("elbv2")
    lb = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/w/1"
    tg = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/w-web/1"
    stub.add_response("describe_load_balancers", {"LoadBalancers": [{"LoadBalancerArn": lb, "DNSName": "d"}]}, {"Names": ["w"]})
    stub.add_response("describe_target_groups", {"TargetGroups": [{"TargetGroupName": "w-web", "TargetGroupArn": tg}]},
                      {"Names": ["w-web"]})
    res = run_module(discover, {"layer": "alb", "name": "w", "names": {"web": "w-web"}, "tag": "edge"})
    assert not res.failed and res.result["target_group_arns"] == {"web": tg} and res.result["load_balancer_arn"] == lb
