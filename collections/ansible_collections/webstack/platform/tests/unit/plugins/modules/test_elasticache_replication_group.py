"""Unit tests for webstack.platform.elasticache_replication_group (botocore Stubber, no emulator)."""

from __future__ import annotations

import copy

import pytest
from botocore.stub import ANY

from ansible_collections.webstack.platform.plugins.modules import elasticache_replication_group as mod

GROUP_ID = "webstack-prod"
ARN = f"arn:aws:elasticache:us-east-1:123456789012:replicationgroup:{GROUP_ID}"
TOKEN = "a-very-long-auth-token-0123456789"

BASE_ARGS = {
    "replication_group_id": GROUP_ID,
    "description": "webstack prod cache",
    "engine": "redis",
    "engine_version": "7.1",
    "cache_node_type": "cache.t4g.small",
    "num_cache_clusters": 2,
    "automatic_failover": True,
    "multi_az": True,
    "cache_subnet_group_name": "webstack-prod",
    "security_group_ids": ["sg-0123456789abcdef0"],
    "cache_parameter_group_name": "default.redis7",
    "at_rest_encryption": True,
    "transit_encryption": True,
    "auth_token": TOKEN,
    "snapshot_retention_limit": 7,
    "snapshot_window": "03:00-04:00",
    "preferred_maintenance_window": "sun:05:00-sun:06:00",
    "tags": {"Project": "webstack", "Environment": "prod"},
}


def group(status="available", **overrides):
    """A DescribeReplicationGroups item shaped like the AWS API reference (cluster mode disabled)."""
    data = {
        "ReplicationGroupId": GROUP_ID,
        "Description": "webstack prod cache",
        "Status": status,
        "PendingModifiedValues": {},
        "MemberClusters": [f"{GROUP_ID}-001", f"{GROUP_ID}-002"],
        "NodeGroups": [{
            "NodeGroupId": "0001",
            "Status": status,
            "PrimaryEndpoint": {"Address": f"master.{GROUP_ID}.abc123.use1.cache.amazonaws.com", "Port": 6379},
            "ReaderEndpoint": {"Address": f"replica.{GROUP_ID}.abc123.use1.cache.amazonaws.com", "Port": 6379},
            "NodeGroupMembers": [
                {"CacheClusterId": f"{GROUP_ID}-001", "CacheNodeId": "0001", "PreferredAvailabilityZone": "us-east-1a",
                 "CurrentRole": "primary"},
                {"CacheClusterId": f"{GROUP_ID}-002", "CacheNodeId": "0001", "PreferredAvailabilityZone": "us-east-1b",
                 "CurrentRole": "replica"},
            ],
        }],
        "SnapshottingClusterId": f"{GROUP_ID}-002",
        "AutomaticFailover": "enabled",
        "MultiAZ": "enabled",
        "SnapshotRetentionLimit": 7,
        "SnapshotWindow": "03:00-04:00",
        "ClusterEnabled": False,
        "CacheNodeType": "cache.t4g.small",
        "AuthTokenEnabled": True,
        "TransitEncryptionEnabled": True,
        "AtRestEncryptionEnabled": True,
        "ARN": ARN,
        "Engine": "redis",
    }
    data.update(overrides)
    return data


def cluster(**overrides):
    """A DescribeCacheClusters item for the primary member."""
    data = {
        "CacheClusterId": f"{GROUP_ID}-001",
        "CacheNodeType": "cache.t4g.small",
        "Engine": "redis",
        "EngineVersion": "7.1.0",
        "CacheClusterStatus": "available",
        "NumCacheNodes": 1,
        "PreferredMaintenanceWindow": "sun:05:00-sun:06:00",
        "PendingModifiedValues": {},
        "CacheParameterGroup": {"CacheParameterGroupName": "default.redis7", "ParameterApplyStatus": "in-sync"},
        "CacheSubnetGroupName": "webstack-prod",
        "SecurityGroups": [{"SecurityGroupId": "sg-0123456789abcdef0", "Status": "active"}],
        "ReplicationGroupId": GROUP_ID,
    }
    data.update(overrides)
    return data


@pytest.fixture(autouse=True)
def no_poll_delay(fake_clock):
    fake_clock()


TAG_LIST = [{"Key": "Project", "Value": "webstack"}, {"Key": "Environment", "Value": "prod"}]


def not_found(stub):
    stub.add_client_error("describe_replication_groups", service_error_code="ReplicationGroupNotFoundFault",
                          service_message=f"ReplicationGroup {GROUP_ID} not found.", http_status_code=404,
                          expected_params={"ReplicationGroupId": GROUP_ID})


def describe(stub, grp):
    stub.add_response("describe_replication_groups", {"ReplicationGroups": [grp]}, {"ReplicationGroupId": GROUP_ID})


def read_existing(stub, grp=None, clu=None, tags=None):
    describe(stub, grp or group())
    stub.add_response("describe_cache_clusters", {"CacheClusters": [clu or cluster()]},
                      {"CacheClusterId": f"{GROUP_ID}-001"})
    stub.add_response("list_tags_for_resource", {"TagList": TAG_LIST if tags is None else tags}, {"ResourceName": ARN})


def expected_create():
    return {
        "ReplicationGroupId": GROUP_ID,
        "ReplicationGroupDescription": "webstack prod cache",
        "Engine": "redis",
        "EngineVersion": "7.1",
        "CacheNodeType": "cache.t4g.small",
        "NumNodeGroups": 1,
        "ReplicasPerNodeGroup": 1,
        "AutomaticFailoverEnabled": True,
        "MultiAZEnabled": True,
        "CacheSubnetGroupName": "webstack-prod",
        "SecurityGroupIds": ["sg-0123456789abcdef0"],
        "CacheParameterGroupName": "default.redis7",
        "AtRestEncryptionEnabled": True,
        "TransitEncryptionEnabled": True,
        "AuthToken": TOKEN,
        "SnapshotRetentionLimit": 7,
        "SnapshotWindow": "03:00-04:00",
        "PreferredMaintenanceWindow": "sun:05:00-sun:06:00",
        "Tags": ANY,
    }


def test_create_without_wait_returns_creating(aws_stub, run_module):
    stub = aws_stub("elasticache")
    not_found(stub)
    stub.add_response("create_replication_group", {"ReplicationGroup": group("creating")}, expected_create())
    res = run_module(mod, dict(BASE_ARGS, wait=False), diff=True)
    assert not res.failed, res.result
    assert res.result["changed"] is True
    assert res.result["replication_group"]["status"] == "creating"
    assert res.result["replication_group"]["tags"] == {"Project": "webstack", "Environment": "prod"}
    assert "auth_token" not in res.result["diff"]["after"]
    assert TOKEN not in str(res.result)


def test_create_waits_until_available(aws_stub, run_module):
    stub = aws_stub("elasticache")
    not_found(stub)
    stub.add_response("create_replication_group", {"ReplicationGroup": group("creating")}, expected_create())
    describe(stub, group("creating"))
    describe(stub, group("available"))
    res = run_module(mod, dict(BASE_ARGS, wait=True))
    assert not res.failed, res.result
    assert res.result["changed"] is True
    assert res.result["replication_group"]["status"] == "available"


def test_wait_timeout_fails_with_last_status(aws_stub, run_module):
    stub = aws_stub("elasticache")
    not_found(stub)
    stub.add_response("create_replication_group", {"ReplicationGroup": group("creating")}, expected_create())
    describe(stub, group("creating"))
    res = run_module(mod, dict(BASE_ARGS, wait=True, wait_timeout=0))
    assert res.failed
    assert "Timed out" in res.result["msg"] and "last status: creating" in res.result["msg"]


def test_existing_converged_group_is_a_noop(aws_stub, run_module):
    stub = aws_stub("elasticache")
    read_existing(stub)
    res = run_module(mod, BASE_ARGS, diff=True)
    assert not res.failed, res.result
    assert res.result["changed"] is False
    assert res.result["changes"] == []
    assert res.result["unverified"] == []


def test_present_with_wait_on_creating_group_only_waits(aws_stub, run_module):
    stub = aws_stub("elasticache")
    read_existing(stub, grp=group("creating"))
    describe(stub, group("creating"))
    describe(stub, group("available"))
    res = run_module(mod, dict(BASE_ARGS, wait=True))
    assert not res.failed, res.result
    assert res.result["changed"] is False
    assert res.result["replication_group"]["status"] == "available"


def test_modify_changes_only_what_differs_and_never_sends_token(aws_stub, run_module):
    stub = aws_stub("elasticache")
    read_existing(stub, grp=group(CacheNodeType="cache.t4g.micro", SnapshotRetentionLimit=1),
                  clu=cluster(SecurityGroups=[{"SecurityGroupId": "sg-0aaaaaaaaaaaaaaaa", "Status": "active"}]),
                  tags=[{"Key": "Project", "Value": "webstack"}, {"Key": "Stale", "Value": "x"}])
    stub.add_response(
        "modify_replication_group", {"ReplicationGroup": group("modifying")},
        {"ReplicationGroupId": GROUP_ID, "ApplyImmediately": True, "CacheNodeType": "cache.t4g.small",
         "SecurityGroupIds": ["sg-0123456789abcdef0"], "SnapshotRetentionLimit": 7})
    stub.add_response("remove_tags_from_resource", {"TagList": []}, {"ResourceName": ARN, "TagKeys": ["Stale"]})
    stub.add_response("add_tags_to_resource", {"TagList": TAG_LIST},
                      {"ResourceName": ARN, "Tags": [{"Key": "Environment", "Value": "prod"}]})
    res = run_module(mod, dict(BASE_ARGS, wait=False), diff=True)
    assert not res.failed, res.result
    assert res.result["changed"] is True
    assert sorted(res.result["changes"]) == ["cache_node_type", "security_group_ids", "snapshot_retention_limit", "tags"]
    assert res.result["diff"]["before"]["cache_node_type"] == "cache.t4g.micro"
    assert res.result["diff"]["after"]["cache_node_type"] == "cache.t4g.small"


def test_check_mode_reports_changes_and_calls_nothing_mutating(aws_stub, run_module):
    stub = aws_stub("elasticache")
    read_existing(stub, grp=group(SnapshotRetentionLimit=1))
    res = run_module(mod, BASE_ARGS, check_mode=True, diff=True)
    assert not res.failed, res.result
    assert res.result["changed"] is True
    assert res.result["changes"] == ["snapshot_retention_limit"]
    assert res.result["diff"] == {"before": {"snapshot_retention_limit": 1}, "after": {"snapshot_retention_limit": 7}}


def test_check_mode_create_reports_without_calls(aws_stub, run_module):
    stub = aws_stub("elasticache")
    not_found(stub)
    res = run_module(mod, BASE_ARGS, check_mode=True, diff=True)
    assert res.result["changed"] is True
    assert res.result["replication_group"] == {}
    assert res.result["diff"]["after"]["cache_node_type"] == "cache.t4g.small"


def test_replica_count_increase_uses_increase_replica_count(aws_stub, run_module):
    stub = aws_stub("elasticache")
    one = group(MemberClusters=[f"{GROUP_ID}-001"])
    read_existing(stub, grp=one)
    stub.add_response("increase_replica_count", {"ReplicationGroup": group("modifying")},
                      {"ReplicationGroupId": GROUP_ID, "NewReplicaCount": 2, "ApplyImmediately": True})
    describe(stub, group("available"))
    res = run_module(mod, dict(BASE_ARGS, num_cache_clusters=3, wait=False))
    assert not res.failed, res.result
    assert res.result["changes"] == ["num_cache_clusters"]


def test_auth_token_rotation_only_when_asked(aws_stub, run_module):
    stub = aws_stub("elasticache")
    read_existing(stub)
    stub.add_response(
        "modify_replication_group", {"ReplicationGroup": group("modifying")},
        {"ReplicationGroupId": GROUP_ID, "ApplyImmediately": True, "AuthToken": TOKEN,
         "AuthTokenUpdateStrategy": "ROTATE"})
    res = run_module(mod, dict(BASE_ARGS, auth_token_update_strategy="ROTATE", wait=False), diff=True)
    assert not res.failed, res.result
    assert res.result["changes"] == ["auth_token"]
    assert TOKEN not in str(res.result)


def test_immutable_difference_fails_naming_the_option(aws_stub, run_module):
    stub = aws_stub("elasticache")
    read_existing(stub, grp=group(AtRestEncryptionEnabled=False))
    res = run_module(mod, BASE_ARGS)
    assert res.failed
    assert "at_rest_encryption" in res.result["msg"]


def test_member_cluster_unreadable_reports_unverified(aws_stub, run_module):
    stub = aws_stub("elasticache")
    describe(stub, group())
    stub.add_client_error("describe_cache_clusters", service_error_code="CacheClusterNotFound",
                          service_message="not found", http_status_code=404)
    stub.add_response("list_tags_for_resource", {"TagList": TAG_LIST}, {"ResourceName": ARN})
    res = run_module(mod, BASE_ARGS)
    assert res.result["changed"] is False
    assert sorted(res.result["unverified"]) == sorted(
        ["engine_version", "cache_subnet_group_name", "security_group_ids", "cache_parameter_group_name",
         "preferred_maintenance_window"])


def test_create_api_error_is_reported(aws_stub, run_module):
    stub = aws_stub("elasticache")
    not_found(stub)
    stub.add_client_error("create_replication_group", service_error_code="InvalidParameterCombination",
                          service_message="Encryption feature is not supported for engine REDIS version 3.2.4",
                          http_status_code=400)
    res = run_module(mod, BASE_ARGS)
    assert res.failed
    assert "Failed to create replication group" in res.result["msg"]
    assert res.result["error"]["code"] == "InvalidParameterCombination"


def test_throttling_is_retried(aws_stub, run_module):
    stub = aws_stub("elasticache")
    stub.add_client_error("describe_replication_groups", service_error_code="Throttling",
                          service_message="Rate exceeded", http_status_code=400)
    read_existing(stub)
    res = run_module(mod, BASE_ARGS)
    assert not res.failed, res.result
    assert res.result["changed"] is False


def test_delete_with_final_snapshot_and_wait(aws_stub, run_module):
    stub = aws_stub("elasticache")
    describe(stub, group())
    stub.add_response("delete_replication_group", {"ReplicationGroup": group("deleting")},
                      {"ReplicationGroupId": GROUP_ID, "RetainPrimaryCluster": False,
                       "FinalSnapshotIdentifier": "webstack-prod-final"})
    describe(stub, group("deleting"))
    not_found(stub)
    res = run_module(mod, {"replication_group_id": GROUP_ID, "state": "absent",
                           "final_snapshot_identifier": "webstack-prod-final"})
    assert not res.failed, res.result
    assert res.result["changed"] is True


def test_delete_absent_is_noop_and_check_mode_deletes_nothing(aws_stub, run_module):
    stub = aws_stub("elasticache")
    not_found(stub)
    res = run_module(mod, {"replication_group_id": GROUP_ID, "state": "absent"})
    assert res.result["changed"] is False
    describe(stub, group())
    res = run_module(mod, {"replication_group_id": GROUP_ID, "state": "absent"}, check_mode=True)
    assert res.result["changed"] is True


def test_delete_already_deleting_is_not_a_change(aws_stub, run_module):
    stub = aws_stub("elasticache")
    describe(stub, group("deleting"))
    res = run_module(mod, {"replication_group_id": GROUP_ID, "state": "absent", "wait": False})
    assert res.result["changed"] is False


@pytest.mark.parametrize("args, fragment", [
    ({"num_cache_clusters": 1, "automatic_failover": True}, "num_cache_clusters must be at least 2"),
    ({"num_cache_clusters": 7}, "between 1 and 6"),
    ({"auth_token": "short"}, "auth_token must be 16-128"),
    ({"auth_token": TOKEN, "transit_encryption": False}, "auth_token requires transit_encryption"),
    ({"auth_token_update_strategy": "ROTATE", "auth_token": None}, "requires auth_token"),
])
def test_invalid_input_fails_before_any_call(aws_stub, run_module, args, fragment):
    aws_stub("elasticache")  # no responses queued: any API call would fail the test
    res = run_module(mod, dict(copy.deepcopy(BASE_ARGS), **args))
    assert res.failed
    assert fragment in res.result["msg"]


def test_kms_alias_is_not_compared_but_key_arn_is(aws_stub, run_module):
    stub = aws_stub("elasticache")
    key_arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    read_existing(stub, grp=group(KmsKeyId=key_arn))
    res = run_module(mod, dict(BASE_ARGS, kms_key_id="alias/webstack"))
    assert not res.failed, res.result
    assert res.result["changed"] is False and res.result["unverified"] == ["kms_key_id"]
    read_existing(stub, grp=group(KmsKeyId=key_arn))
    res = run_module(mod, dict(BASE_ARGS, kms_key_id="1234abcd-12ab-34cd-56ef-1234567890ab"))
    assert res.result["changed"] is False and res.result["unverified"] == []
    read_existing(stub, grp=group(KmsKeyId=key_arn))
    res = run_module(mod, dict(BASE_ARGS, kms_key_id="arn:aws:kms:us-east-1:123456789012:key/other"))
    assert res.failed and "kms_key_id" in res.result["msg"]


def test_decrease_replica_count_turns_failover_off_first(aws_stub, run_module):
    stub = aws_stub("elasticache")
    read_existing(stub)
    stub.add_response("modify_replication_group", {"ReplicationGroup": group("modifying")},
                      {"ReplicationGroupId": GROUP_ID, "ApplyImmediately": True,
                       "AutomaticFailoverEnabled": False, "MultiAZEnabled": False})
    describe(stub, group("available", AutomaticFailover="disabled", MultiAZ="disabled"))
    stub.add_response("decrease_replica_count", {"ReplicationGroup": group("modifying")},
                      {"ReplicationGroupId": GROUP_ID, "NewReplicaCount": 0, "ApplyImmediately": True})
    describe(stub, group("available", MemberClusters=[f"{GROUP_ID}-001"]))
    args = dict(BASE_ARGS, num_cache_clusters=1, automatic_failover=False, multi_az=False, wait=False)
    res = run_module(mod, args)
    assert not res.failed, res.result
    assert res.result["changes"] == ["num_cache_clusters", "automatic_failover", "multi_az"]


def test_modify_waits_for_a_busy_group_first(aws_stub, run_module):
    stub = aws_stub("elasticache")
    read_existing(stub, grp=group("modifying", SnapshotRetentionLimit=1))
    describe(stub, group("modifying", SnapshotRetentionLimit=1))
    describe(stub, group("available", SnapshotRetentionLimit=1))
    stub.add_response("modify_replication_group", {"ReplicationGroup": group("modifying")},
                      {"ReplicationGroupId": GROUP_ID, "ApplyImmediately": False, "SnapshotRetentionLimit": 7})
    res = run_module(mod, dict(BASE_ARGS, apply_immediately=False, wait=False))
    assert not res.failed, res.result
    assert res.result["changes"] == ["snapshot_retention_limit"]


def test_delete_token_strategy_is_refused_before_any_call(aws_stub, run_module):
    """AWS: AuthTokenUpdateStrategy DELETE is "allowed only when transitioning to RBAC" (user groups), which the module
    does not manage; sent alone it fails on AWS, so the module refuses it before any call."""
    aws_stub("elasticache")  # nothing queued: any call fails the test
    res = run_module(mod, dict(BASE_ARGS, auth_token=None, auth_token_update_strategy="DELETE"))
    assert res.failed
    assert res.result["msg"].startswith("auth_token_update_strategy=DELETE is only valid when the group moves to RBAC")


@pytest.mark.parametrize("token", ["a" * 20 + "_x", "token.with.dots.1234", "percent%percent%percent", "q" * 14 + "!", "z" * 129])
def test_auth_token_outside_the_elasticache_alphabet_is_refused_before_any_call(token, aws_stub, run_module):
    """ElastiCache AUTH tokens: 16-128 printable characters whose only special characters are !&#$^<>-."""
    aws_stub("elasticache")
    res = run_module(mod, dict(BASE_ARGS, auth_token=token))
    assert res.failed and "only letters, digits and the special characters !&#$^<>-" in res.result["msg"], res.result


def test_auth_token_with_every_allowed_special_character_is_accepted(aws_stub, run_module):
    stub = aws_stub("elasticache")
    read_existing(stub)
    res = run_module(mod, dict(BASE_ARGS, auth_token="Abc123!&#$^<>-xyz"), check_mode=True)
    assert not res.failed, res.result


def test_delete_wait_timeout(aws_stub, run_module):
    stub = aws_stub("elasticache")
    describe(stub, group())
    stub.add_response("delete_replication_group", {"ReplicationGroup": group("deleting")},
                      {"ReplicationGroupId": GROUP_ID, "RetainPrimaryCluster": False})
    describe(stub, group("deleting"))
    res = run_module(mod, {"replication_group_id": GROUP_ID, "state": "absent", "wait_timeout": 0})
    assert res.failed and "to become absent" in res.result["msg"]


def test_failed_group_can_be_deleted_without_waiting(aws_stub, run_module):
    stub = aws_stub("elasticache")
    describe(stub, group("create-failed"))
    stub.add_response("delete_replication_group", {"ReplicationGroup": group("deleting")},
                      {"ReplicationGroupId": GROUP_ID, "RetainPrimaryCluster": False})
    res = run_module(mod, {"replication_group_id": GROUP_ID, "state": "absent", "wait": False})
    assert not res.failed, res.result
    assert res.result["changed"] is True
