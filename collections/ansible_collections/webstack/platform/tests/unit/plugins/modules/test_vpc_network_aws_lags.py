"""webstack.platform.vpc_network against EC2 behaviour the emulator hides, with botocore Stubber answers shaped like
EC2's: a NAT gateway left `pending` by an interrupted run is waited for before routes point at it; just-created
Elastic IPs / NAT gateways are retried while NotFound (eventual consistency); an Elastic IP is released only once
EC2 stops answering InvalidIPAddress.InUse after its NAT gateway's deletion."""
from __future__ import annotations

import boto3
import pytest
from ansible_collections.amazon.aws.plugins.module_utils import cloud
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry, RetryingBotoClientWrapper
from ansible_collections.webstack.platform.plugins.modules import vpc_network
from botocore.stub import Stubber

NAME = "webstack-t"
VPC = "vpc-0123456789abcdef0"
NAT = "nat-0123456789abcdef0"
EIP = "eipalloc-0123456789abcdef0"


class _Failed(Exception):
    pass


@pytest.fixture
def net(monkeypatch, fake_clock):
    clock = fake_clock()
    monkeypatch.setattr(cloud.time, "sleep", lambda _s: None)
    client = boto3.client("ec2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(client)
    stub.activate()
    network = vpc_network.Network.__new__(vpc_network.Network)

    class Module:
        def fail_json_aws(self, exc, msg, **_kw):
            raise _Failed(f"{msg}: {exc}")

        def fail_json(self, msg, **_kw):
            raise _Failed(msg)

    network.module = Module()
    network.p = network.params = {"nat_gateways": "single", "availability_zones": ["us-east-1a", "us-east-1b"], "wait_timeout": 120,
                      "poll_interval": 15}
    network.check, network.name, network.base_tags, network.changes, network.vpc_id = False, NAME, {}, [], VPC
    network.clock = clock
    network.ec2 = RetryingBotoClientWrapper(client, AWSRetry.jittered_backoff(retries=3))
    network.ec2_fresh = RetryingBotoClientWrapper(client, AWSRetry.jittered_backoff(
        retries=3, catch_extra_error_codes=list(vpc_network.FRESH_NOT_FOUND)))
    yield network, stub, clock
    stub.assert_no_pending_responses()
    stub.deactivate()


def nat(state):
    return {"NatGatewayId": NAT, "SubnetId": "subnet-pub-a", "VpcId": VPC, "State": state,
            "NatGatewayAddresses": [{"AllocationId": EIP}], "Tags": [{"Key": "Name", "Value": f"{NAME}-nat-us-east-1a"}]}


def test_a_nat_gateway_left_pending_is_waited_for_before_the_routes(net):
    network, stub, clock = net
    stub.add_response("describe_nat_gateways", {"NatGateways": [nat("pending")]}, {"Filters": [{"Name": "vpc-id", "Values": [VPC]}]})
    stub.add_response("describe_addresses", {"Addresses": []},
                      {"Filters": [{"Name": "tag:Name", "Values": [f"{NAME}-nat-us-east-1a"]}]})
    # EC2's eventual consistency: the gateway is not found for a moment, then pending, then available
    stub.add_client_error("describe_nat_gateways", "NatGatewayNotFound", f"NAT gateway {NAT} was not found", 400,
                          expected_params={"NatGatewayIds": [NAT]})
    stub.add_response("describe_nat_gateways", {"NatGateways": [nat("pending")]}, {"NatGatewayIds": [NAT]})
    stub.add_response("describe_nat_gateways", {"NatGateways": [nat("available")]}, {"NatGatewayIds": [NAT]})
    assert network.ensure_nats({"public": ["subnet-pub-a", "subnet-pub-b"]}) == {"us-east-1a": NAT}
    assert clock.sleeps == [5]


def test_a_fresh_elastic_ip_not_found_yet_is_retried_for_the_nat_gateway(net):
    network, stub, _clock = net
    stub.add_response("describe_nat_gateways", {"NatGateways": []}, {"Filters": [{"Name": "vpc-id", "Values": [VPC]}]})
    stub.add_response("describe_addresses", {"Addresses": []},
                      {"Filters": [{"Name": "tag:Name", "Values": [f"{NAME}-nat-us-east-1a"]}]})
    tags = [{"ResourceType": "elastic-ip", "Tags": [{"Key": "Name", "Value": f"{NAME}-nat-us-east-1a"}]}]
    stub.add_response("allocate_address", {"AllocationId": EIP, "PublicIp": "203.0.113.10"}, {"Domain": "vpc", "TagSpecifications": tags})
    nat_tags = [{"ResourceType": "natgateway", "Tags": [{"Key": "Name", "Value": f"{NAME}-nat-us-east-1a"}]}]
    params = {"SubnetId": "subnet-pub-a", "AllocationId": EIP, "TagSpecifications": nat_tags}
    stub.add_client_error("create_nat_gateway", "InvalidAllocationID.NotFound", f"The allocation ID '{EIP}' does not exist", 400,
                          expected_params=params)
    stub.add_response("create_nat_gateway", {"NatGateway": nat("pending")}, params)
    stub.add_response("describe_nat_gateways", {"NatGateways": [nat("available")]}, {"NatGatewayIds": [NAT]})
    assert network.ensure_nats({"public": ["subnet-pub-a", "subnet-pub-b"]}) == {"us-east-1a": NAT}


def test_an_elastic_ip_still_in_use_after_its_nat_gateway_is_released_later(net):
    network, stub, clock = net
    stub.add_client_error("release_address", "InvalidIPAddress.InUse", "Address is in use", 400, expected_params={"AllocationId": EIP})
    stub.add_client_error("release_address", "InvalidIPAddress.InUse", "Address is in use", 400, expected_params={"AllocationId": EIP})
    stub.add_response("release_address", {}, {"AllocationId": EIP})
    stub.add_client_error("release_address", "InvalidAllocationID.NotFound", "gone", 400, expected_params={"AllocationId": "eipalloc-gone"})
    network.release_eips([EIP, "eipalloc-gone"])
    assert clock.sleeps == [15, 15]


def test_a_subnet_still_in_use_is_retried_until_the_deadline_then_named(net):
    network, stub, clock = net
    for _ in range(9):  # t = 0, 15, ... 120
        stub.add_client_error("delete_subnet", "DependencyViolation", "The subnet 'subnet-1' has dependencies and cannot be deleted.",
                              400, expected_params={"SubnetId": "subnet-1"})
    with pytest.raises(_Failed, match=r"delete_subnet failed \(retried for 120s while DependencyViolation\)"):
        network.call_while(vpc_network.DEPENDENCY, "delete_subnet", SubnetId="subnet-1")
    assert sum(clock.sleeps) == 120
