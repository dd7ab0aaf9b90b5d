"""webstack.platform.redis_snapshot through ansible-playbook against moto (snapshots read back with boto3).

moto 5.2.5 implements CreateSnapshot / DescribeSnapshots / DeleteSnapshot for replication groups
(measured), so the module is exercised for real here; if an upgrade drops them, this test says so."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.aws

GROUP = "h2-it-redis"
PREFIX = f"{GROUP}-backup-"


def snap_task(**args):
    return {"name": "redis snapshot", "webstack.platform.redis_snapshot": dict({"replication_group_id": GROUP}, **args)}


def names(ec):
    return sorted(s["SnapshotName"] for s in ec.describe_snapshots(ReplicationGroupId=GROUP)["Snapshots"])


def test_create_idempotent_check_mode_and_prune(moto, run_playbook):
    moto.reset()
    ec = moto.client("elasticache")
    ec.create_replication_group(ReplicationGroupId=GROUP, ReplicationGroupDescription="it", Engine="redis",
                                CacheNodeType="cache.t3.micro", NumNodeGroups=1, ReplicasPerNodeGroup=1)
    for day in ("20261101", "20261102", "20261103"):
        ec.create_snapshot(ReplicationGroupId=GROUP, SnapshotName=PREFIX + day)
    new = PREFIX + "20261122"
    args = {"snapshot_name": new, "prefix": PREFIX, "keep": 2, "protected": [PREFIX + "20261101"],
            "tags": {"webstack:backup": "on-demand"}, "poll_interval": 1}

    moto.start_recording()
    stats, results = run_playbook([snap_task(**args)], check=True)
    assert stats["changed"] == 1 and stats["failures"] == 0, results
    assert results[0]["deleted"] == [PREFIX + "20261102"], results
    assert moto.mutating(moto.recorded_actions()) == []
    assert new not in names(ec)

    stats, results = run_playbook([snap_task(**args)])
    assert stats["changed"] == 1 and stats["failures"] == 0, results
    assert results[0]["snapshot"]["status"] == "available"
    assert results[0]["deleted"] == [PREFIX + "20261102"]
    assert names(ec) == [PREFIX + "20261101", PREFIX + "20261103", new]
    arn = ec.describe_snapshots(SnapshotName=new)["Snapshots"][0]["ARN"]
    assert ec.list_tags_for_resource(ResourceName=arn)["TagList"] == [{"Key": "webstack:backup", "Value": "on-demand"}]

    moto.start_recording()
    stats, results = run_playbook([snap_task(**args)])
    assert stats["changed"] == 0, results
    assert moto.recorded_actions() == ["DescribeSnapshots", "DescribeSnapshots"]


def test_missing_group_fails_naming_it(moto, run_playbook):
    moto.reset()
    stats, results = run_playbook([dict(snap_task(snapshot_name="h2-it-redis-x"), ignore_errors=True)])
    assert results[0]["failed"] is True
    assert GROUP in results[0]["msg"] and "not found" in results[0]["msg"]
