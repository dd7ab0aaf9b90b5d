"""Unit tests for webstack.platform.redis_snapshot (botocore Stubber, responses shaped like the ElastiCache API reference)."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.webstack.platform.plugins.modules import redis_snapshot as mod

GROUP = "webstack-prod"
NAME = "webstack-prod-backup-20261122t0930"
PREFIX = "webstack-prod-backup-"


def snapshot(name=NAME, status="available", group=GROUP, days_ago=0, node_time=True):
    """A Snapshot item as CreateSnapshot / DescribeSnapshots return it (cluster mode disabled group)."""
    data = {
        "SnapshotName": name, "ReplicationGroupId": group, "ReplicationGroupDescription": "webstack prod",
        "SnapshotStatus": status, "SnapshotSource": "manual", "CacheNodeType": "cache.t4g.small",
        "Engine": "redis", "EngineVersion": "7.1", "CacheSubnetGroupName": "webstack-prod", "VpcId": "vpc-0abc",
        "AutoMinorVersionUpgrade": True, "SnapshotRetentionLimit": 7, "SnapshotWindow": "03:00-04:00",
        "NumNodeGroups": 1, "AutomaticFailover": "enabled", "Port": 6379,
        "ARN": f"arn:aws:elasticache:us-east-1:123456789012:snapshot:{name}",
        "NodeSnapshots": [{"CacheClusterId": f"{group}-002", "CacheNodeId": "0001", "CacheSize": "5 MB",
                           "CacheNodeCreateTime": datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)}],
    }
    if node_time:
        data["NodeSnapshots"][0]["SnapshotCreateTime"] = (
            datetime.datetime(2026, 11, 22, 9, 30, tzinfo=datetime.timezone.utc) - datetime.timedelta(days=days_ago))
    return data


@pytest.fixture
def clock(fake_clock):
    return fake_clock()


@pytest.fixture
def ec(aws_stub, snapshot_api):
    """(stub, api): api.describe(name, snap) / api.listing(snaps) queue DescribeSnapshots answers."""
    stub = aws_stub("elasticache")
    return stub, snapshot_api(stub, "describe_snapshots", "SnapshotName", "Snapshots", "SnapshotNotFoundFault",
                              {"ReplicationGroupId": GROUP, "SnapshotSource": "user"})


def test_create_waits_until_available(ec, run_module, clock):
    stub, api = ec
    api.describe(NAME, None)
    stub.add_response("create_snapshot", {"Snapshot": snapshot(status="creating", node_time=False)},
                      {"ReplicationGroupId": GROUP, "SnapshotName": NAME,
                       "Tags": [{"Key": "webstack:backup", "Value": "on-demand"}]})
    api.describe(NAME, snapshot(status="creating", node_time=False))
    api.describe(NAME, snapshot())
    res = run_module(mod, {"replication_group_id": GROUP, "snapshot_name": NAME,
                           "tags": {"webstack:backup": "on-demand"}})
    assert not res.failed, res.result
    assert res.result["changed"] is True
    assert res.result["snapshot"] == {"id": NAME, "arn": f"arn:aws:elasticache:us-east-1:123456789012:snapshot:{NAME}",
                                      "status": "available", "created": "2026-11-22T09:30:00+00:00",
                                      "replication_group_id": GROUP}
    assert clock["sleeps"] == [10, 10]


def test_snapshot_stuck_times_out_with_status(ec, run_module, clock):
    stub, api = ec
    api.describe(NAME, snapshot(status="creating", node_time=False))
    for _ in range(2):
        api.describe(NAME, snapshot(status="creating", node_time=False))
    res = run_module(mod, {"replication_group_id": GROUP, "snapshot_name": NAME, "wait_timeout": 20})
    assert res.failed
    assert res.result["msg"] == (f"snapshot {NAME} of {GROUP} stuck: status creating after 20 s (wait_timeout); "
                                 "it was left as it is")
    assert clock["sleeps"] == [10, 10]


def test_failed_snapshot_fails(ec, run_module, clock):
    stub, api = ec
    api.describe(NAME, None)
    stub.add_response("create_snapshot", {"Snapshot": snapshot(status="creating", node_time=False)},
                      {"ReplicationGroupId": GROUP, "SnapshotName": NAME})
    api.describe(NAME, snapshot(status="failed", node_time=False))
    res = run_module(mod, {"replication_group_id": GROUP, "snapshot_name": NAME})
    assert res.failed and res.result["msg"] == f"snapshot {NAME} of {GROUP} is failed"


def test_existing_snapshot_is_not_recreated(ec, run_module, clock):
    stub, api = ec
    api.describe(NAME, snapshot())
    res = run_module(mod, {"replication_group_id": GROUP, "snapshot_name": NAME})
    assert not res.failed and res.result["changed"] is False


def test_name_of_another_group_fails(ec, run_module, clock):
    stub, api = ec
    api.describe(NAME, snapshot(group="other-group"))
    res = run_module(mod, {"replication_group_id": GROUP, "snapshot_name": NAME})
    assert res.failed and "snapshot_name" in res.result["msg"] and "other-group" in res.result["msg"]


def test_group_busy_is_retried(ec, run_module, clock):
    stub, api = ec
    api.describe(NAME, None)
    stub.add_client_error("create_snapshot", service_error_code="InvalidReplicationGroupState",
                          service_message="Cannot snapshot while the group is modifying.", http_status_code=400)
    stub.add_response("create_snapshot", {"Snapshot": snapshot()}, {"ReplicationGroupId": GROUP, "SnapshotName": NAME})
    res = run_module(mod, {"replication_group_id": GROUP, "snapshot_name": NAME})
    assert not res.failed, res.result
    assert res.result["changed"] is True


def test_group_not_found_fails(ec, run_module, clock):
    stub, api = ec
    api.describe(NAME, None)
    stub.add_client_error("create_snapshot", service_error_code="ReplicationGroupNotFoundFault",
                          service_message=f"Replication group {GROUP} not found.", http_status_code=404)
    res = run_module(mod, {"replication_group_id": GROUP, "snapshot_name": NAME})
    assert res.failed and res.result["msg"].startswith(f"Failed to snapshot replication group {GROUP}")


def test_prune_spares_protected_current_and_creating(ec, run_module, clock):
    stub, api = ec
    api.describe(NAME, snapshot())
    api.listing([
        snapshot(PREFIX + "20261118", days_ago=4), snapshot(NAME), snapshot(PREFIX + "20261121", days_ago=1),
        snapshot(PREFIX + "20261119", days_ago=3), snapshot(PREFIX + "20261120", days_ago=2),
        snapshot(PREFIX + "20261117", status="creating", node_time=False),
        snapshot("webstack-prod-by-hand", days_ago=30),
    ])
    for old in ("20261119", "20261118"):
        stub.add_response("delete_snapshot", {"Snapshot": snapshot(PREFIX + old, status="deleting")},
                          {"SnapshotName": PREFIX + old})
    res = run_module(mod, {"replication_group_id": GROUP, "snapshot_name": NAME, "prefix": PREFIX, "keep": 2,
                           "protected": [PREFIX + "20261120"]})
    assert not res.failed, res.result
    assert res.result["changed"] is True
    assert res.result["deleted"] == [PREFIX + "20261119", PREFIX + "20261118"]
    assert res.result["kept"] == [PREFIX + "20261117", NAME, PREFIX + "20261121", PREFIX + "20261120"]


def test_prune_without_times_orders_by_name_check_mode(ec, run_module, clock):
    """moto returns no NodeSnapshots: names with a sortable timestamp decide."""
    stub, api = ec
    api.listing([snapshot(f"{GROUP}-20261101", node_time=False), snapshot(f"{GROUP}-20261103", node_time=False),
                          snapshot(f"{GROUP}-20261102", node_time=False)])
    res = run_module(mod, {"replication_group_id": GROUP, "keep": 1}, check_mode=True)
    assert not res.failed, res.result
    assert res.result["changed"] is True
    assert res.result["deleted"] == [f"{GROUP}-20261102", f"{GROUP}-20261101"]


def test_check_mode_create_reads_only(ec, run_module, clock):
    stub, api = ec
    api.describe(NAME, None)
    api.listing([snapshot(PREFIX + "20261121", days_ago=1)])
    res = run_module(mod, {"replication_group_id": GROUP, "snapshot_name": NAME, "prefix": PREFIX, "keep": 1},
                     check_mode=True)
    assert not res.failed, res.result
    assert res.result["changed"] is True and res.result["snapshot"]["status"] == ""
    assert res.result["deleted"] == [PREFIX + "20261121"]


def test_snapshot_naming_only_the_member_cluster_belongs_to_the_group(ec, run_module, clock):
    stub, api = ec
    member_only = snapshot()
    del member_only["ReplicationGroupId"]
    member_only["CacheClusterId"] = f"{GROUP}-002"
    api.describe(NAME, member_only)
    res = run_module(mod, {"replication_group_id": GROUP, "snapshot_name": NAME})
    assert not res.failed, res.result
    assert res.result["changed"] is False
