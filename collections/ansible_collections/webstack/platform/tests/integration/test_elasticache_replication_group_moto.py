"""webstack.platform.elasticache_replication_group through ansible-playbook against moto."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.aws

GROUP = "h4-it-redis"
TOKEN = "integration-token-0123456789"


def rg_task(**overrides):
    args = {
        "replication_group_id": GROUP,
        "description": "integration test",
        "engine": "redis",
        "engine_version": "7.1",
        "cache_node_type": "cache.t3.micro",
        "num_cache_clusters": 2,
        "automatic_failover": True,
        "multi_az": True,
        "cache_subnet_group_name": "h4-it-subnets",
        "security_group_ids": ["sg-0123456789abcdef0"],
        "at_rest_encryption": True,
        "transit_encryption": True,
        "auth_token": TOKEN,
        "snapshot_retention_limit": 5,
        "snapshot_window": "03:00-04:00",
        "tags": {"Project": "webstack", "Environment": "sandbox"},
    }
    args.update(overrides)
    # No task-level no_log: the module's own no_log on auth_token must keep the token out of results.
    return {"name": "replication group", "webstack.platform.elasticache_replication_group": args, "register": "rg"}


def test_create_converge_check_modify_delete(moto, run_playbook):
    moto.reset()
    moto.start_recording()
    stats, results = run_playbook([rg_task(wait=False)])
    actions = moto.recorded_actions()
    assert stats["changed"] == 1 and stats["failures"] == 0, results
    assert actions.count("CreateReplicationGroup") == 1

    api = moto.client("elasticache")
    group = api.describe_replication_groups(ReplicationGroupId=GROUP)["ReplicationGroups"][0]
    assert group["AtRestEncryptionEnabled"] is True
    assert group["TransitEncryptionEnabled"] is True
    assert group["AuthTokenEnabled"] is True
    assert group["AutomaticFailover"] == "enabled" and group["MultiAZ"] == "enabled"
    assert len(group["MemberClusters"]) == 2
    assert group["SnapshotRetentionLimit"] == 5
    tags = api.list_tags_for_resource(ResourceName=group["ARN"])["TagList"]
    assert {t["Key"]: t["Value"] for t in tags} == {"Project": "webstack", "Environment": "sandbox"}

    # Second run, with wait: only waits, changes nothing.
    moto.start_recording()
    stats, results = run_playbook([rg_task(wait=True)])
    actions = moto.recorded_actions()
    assert stats["changed"] == 0 and stats["failures"] == 0, results
    assert moto.mutating(actions) == []
    # A no-op costs three read calls (the member cluster read fails on moto: it keeps no member clusters).
    assert actions == ["DescribeReplicationGroups", "DescribeCacheClusters", "ListTagsForResource"], actions
    assert TOKEN not in str(results)

    # Check mode on the converged group: nothing reported, nothing called.
    moto.start_recording()
    stats, results = run_playbook([rg_task()], check=True, diff=True)
    assert stats["changed"] == 0, results
    assert moto.mutating(moto.recorded_actions()) == []

    # Drift: check mode reports it and does not repair; a normal run repairs it.
    api.modify_replication_group(ReplicationGroupId=GROUP, SnapshotRetentionLimit=1, ApplyImmediately=True)
    moto.start_recording()
    stats, results = run_playbook([rg_task()], check=True, diff=True)
    assert stats["changed"] == 1, results
    assert results[0]["changes"] == ["snapshot_retention_limit"]
    assert results[0]["diff"] == {"before": {"snapshot_retention_limit": 1}, "after": {"snapshot_retention_limit": 5}}
    assert TOKEN not in str(results)
    assert moto.mutating(moto.recorded_actions()) == []
    assert api.describe_replication_groups(ReplicationGroupId=GROUP)["ReplicationGroups"][0]["SnapshotRetentionLimit"] == 1
    stats, results = run_playbook([rg_task()])
    assert stats["changed"] == 1, results
    assert api.describe_replication_groups(ReplicationGroupId=GROUP)["ReplicationGroups"][0]["SnapshotRetentionLimit"] == 5

    # Delete (moto never removes a deleted group, it stays "deleting": wait is off here).
    stats, results = run_playbook([{
        "webstack.platform.elasticache_replication_group": {
            "replication_group_id": GROUP, "state": "absent", "wait": False,
            "final_snapshot_identifier": f"{GROUP}-final"}}])
    assert stats["changed"] == 1, results
    stats, results = run_playbook([{
        "webstack.platform.elasticache_replication_group": {
            "replication_group_id": GROUP, "state": "absent", "wait": False}}])
    assert stats["changed"] == 0, results
