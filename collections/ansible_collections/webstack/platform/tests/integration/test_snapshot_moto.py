"""webstack.platform.rds_snapshot and redis_snapshot through ansible-playbook against one moto server
(snapshots read back with boto3).

moto 5.2.5 implements CreateDBSnapshot / DescribeDBSnapshots / DeleteDBSnapshot and, for replication
groups, CreateSnapshot / DescribeSnapshots / DeleteSnapshot (measured), so both modules are exercised
for real here; if an upgrade drops them, these tests say so."""

from __future__ import annotations

import functools

import pytest

pytestmark = pytest.mark.aws

INSTANCE = "h2-it-db"
RDS_PREFIX = f"{INSTANCE}-premigrate-"
GROUP = "h2-it-redis"
REDIS_PREFIX = f"{GROUP}-backup-"


def task(module, owner_option, owner, **args):
    return {"name": module, f"webstack.platform.{module}": dict({owner_option: owner}, **args)}


rds_task = functools.partial(task, "rds_snapshot", "db_instance_identifier", INSTANCE)
redis_task = functools.partial(task, "redis_snapshot", "replication_group_id", GROUP)


def manual_ids(rds):
    return sorted(s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots(
        DBInstanceIdentifier=INSTANCE, SnapshotType="manual")["DBSnapshots"])


def names(ec):
    return sorted(s["SnapshotName"] for s in ec.describe_snapshots(ReplicationGroupId=GROUP)["Snapshots"])


def check_then_create(moto, run_playbook, task, new, listing, deleted):
    """`task` in --check: changed, `deleted` reported, no mutating call, `new` not created. Then for real:
    changed, `new` available, the same `deleted`. Returns the real run's result."""
    moto.start_recording()
    stats, results = run_playbook([task], check=True)
    assert stats["changed"] == 1 and stats["failures"] == 0, results
    assert results[0]["deleted"] == deleted, results
    assert moto.mutating(moto.recorded_actions()) == []
    assert new not in listing()

    stats, results = run_playbook([task])
    assert stats["changed"] == 1 and stats["failures"] == 0, results
    assert results[0]["snapshot"]["status"] == "available"
    assert results[0]["deleted"] == deleted
    return results[0]


def rerun_only_reads(moto, run_playbook, task, describe_action):
    """The same task again: unchanged, two describe calls (the snapshot, the listing) and nothing else."""
    moto.start_recording()
    stats, results = run_playbook([task])
    assert stats["changed"] == 0, results
    assert moto.recorded_actions() == [describe_action, describe_action]


def test_rds_create_idempotent_check_mode_and_prune(moto, run_playbook):
    moto.reset()
    rds = moto.client("rds")
    rds.create_db_instance(DBInstanceIdentifier=INSTANCE, DBInstanceClass="db.t3.micro", Engine="postgres",
                           MasterUsername="postgres", MasterUserPassword="not-a-secret-x1", AllocatedStorage=20,
                           CopyTagsToSnapshot=True, Tags=[{"Key": "Project", "Value": "webstack"}])
    for day in ("20261101", "20261102", "20261103", "20261104"):
        rds.create_db_snapshot(DBInstanceIdentifier=INSTANCE, DBSnapshotIdentifier=RDS_PREFIX + day)
    rds.create_db_snapshot(DBInstanceIdentifier=INSTANCE, DBSnapshotIdentifier=f"{INSTANCE}-by-hand")
    new = RDS_PREFIX + "20261122"
    args = {"snapshot_identifier": new, "prefix": RDS_PREFIX, "keep": 2, "protected": [RDS_PREFIX + "20261101"],
            "tags": {"webstack:release": "1.4.0"}, "poll_interval": 1}

    check_then_create(moto, run_playbook, rds_task(**args), new, lambda: manual_ids(rds),
                      [RDS_PREFIX + "20261103", RDS_PREFIX + "20261102"])
    assert manual_ids(rds) == sorted([f"{INSTANCE}-by-hand", RDS_PREFIX + "20261101", RDS_PREFIX + "20261104", new])
    created = rds.describe_db_snapshots(DBSnapshotIdentifier=new)["DBSnapshots"][0]
    assert created["Status"] == "available" and created["SnapshotType"] == "manual"
    assert {"Key": "webstack:release", "Value": "1.4.0"} in rds.list_tags_for_resource(
        ResourceName=created["DBSnapshotArn"])["TagList"]
    # automated snapshots are never touched
    assert rds.describe_db_snapshots(DBInstanceIdentifier=INSTANCE, SnapshotType="automated")["DBSnapshots"]

    rerun_only_reads(moto, run_playbook, rds_task(**args), "DescribeDBSnapshots")

    # only prune, keep 1: the newest and the protected one stay
    stats, results = run_playbook([rds_task(prefix=RDS_PREFIX, keep=1, protected=[RDS_PREFIX + "20261101"])])
    assert stats["changed"] == 1, results
    assert results[0]["deleted"] == [RDS_PREFIX + "20261104"]
    assert manual_ids(rds) == sorted([f"{INSTANCE}-by-hand", RDS_PREFIX + "20261101", new])


def test_rds_missing_instance_fails_naming_it(moto, run_playbook):
    moto.reset()
    stats, results = run_playbook([dict(rds_task(snapshot_identifier="h2-it-nope-1"), ignore_errors=True)])
    assert results[0]["failed"] is True
    assert INSTANCE in results[0]["msg"]


def test_redis_create_idempotent_check_mode_and_prune(moto, run_playbook):
    moto.reset()
    ec = moto.client("elasticache")
    ec.create_replication_group(ReplicationGroupId=GROUP, ReplicationGroupDescription="it", Engine="redis",
                                CacheNodeType="cache.t3.micro", NumNodeGroups=1, ReplicasPerNodeGroup=1)
    for day in ("20261101", "20261102", "20261103"):
        ec.create_snapshot(ReplicationGroupId=GROUP, SnapshotName=REDIS_PREFIX + day)
    new = REDIS_PREFIX + "20261122"
    args = {"snapshot_name": new, "prefix": REDIS_PREFIX, "keep": 2, "protected": [REDIS_PREFIX + "20261101"],
            "tags": {"webstack:backup": "on-demand"}, "poll_interval": 1}

    check_then_create(moto, run_playbook, redis_task(**args), new, lambda: names(ec), [REDIS_PREFIX + "20261102"])
    assert names(ec) == [REDIS_PREFIX + "20261101", REDIS_PREFIX + "20261103", new]
    arn = ec.describe_snapshots(SnapshotName=new)["Snapshots"][0]["ARN"]
    assert ec.list_tags_for_resource(ResourceName=arn)["TagList"] == [{"Key": "webstack:backup", "Value": "on-demand"}]

    rerun_only_reads(moto, run_playbook, redis_task(**args), "DescribeSnapshots")


def test_redis_missing_group_fails_naming_it(moto, run_playbook):
    moto.reset()
    stats, results = run_playbook([dict(redis_task(snapshot_name="h2-it-redis-x"), ignore_errors=True)])
    assert results[0]["failed"] is True
    assert GROUP in results[0]["msg"] and "not found" in results[0]["msg"]
