"""webstack.platform.rds_snapshot through ansible-playbook against moto (snapshots read back with boto3)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.aws

INSTANCE = "h2-it-db"
PREFIX = f"{INSTANCE}-premigrate-"


def snap_task(**args):
    return {"name": "rds snapshot", "webstack.platform.rds_snapshot": dict({"db_instance_identifier": INSTANCE}, **args)}


def manual_ids(rds):
    return sorted(s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots(
        DBInstanceIdentifier=INSTANCE, SnapshotType="manual")["DBSnapshots"])


def test_create_idempotent_check_mode_and_prune(moto, run_playbook):
    moto.reset()
    rds = moto.client("rds")
    rds.create_db_instance(DBInstanceIdentifier=INSTANCE, DBInstanceClass="db.t3.micro", Engine="postgres",
                           MasterUsername="postgres", MasterUserPassword="not-a-secret-x1", AllocatedStorage=20,
                           CopyTagsToSnapshot=True, Tags=[{"Key": "Project", "Value": "webstack"}])
    for day in ("20261101", "20261102", "20261103", "20261104"):
        rds.create_db_snapshot(DBInstanceIdentifier=INSTANCE, DBSnapshotIdentifier=PREFIX + day)
    rds.create_db_snapshot(DBInstanceIdentifier=INSTANCE, DBSnapshotIdentifier=f"{INSTANCE}-by-hand")
    new = PREFIX + "20261122"
    args = {"snapshot_identifier": new, "prefix": PREFIX, "keep": 2, "protected": [PREFIX + "20261101"],
            "tags": {"webstack:release": "1.4.0"}, "poll_interval": 1}

    moto.start_recording()
    stats, results = run_playbook([snap_task(**args)], check=True)
    assert stats["changed"] == 1 and stats["failures"] == 0, results
    assert results[0]["deleted"] == [PREFIX + "20261103", PREFIX + "20261102"], results
    assert moto.mutating(moto.recorded_actions()) == []
    assert new not in manual_ids(rds)

    stats, results = run_playbook([snap_task(**args)])
    assert stats["changed"] == 1 and stats["failures"] == 0, results
    assert results[0]["snapshot"]["status"] == "available"
    assert results[0]["deleted"] == [PREFIX + "20261103", PREFIX + "20261102"]
    assert manual_ids(rds) == sorted([f"{INSTANCE}-by-hand", PREFIX + "20261101", PREFIX + "20261104", new])
    created = rds.describe_db_snapshots(DBSnapshotIdentifier=new)["DBSnapshots"][0]
    assert created["Status"] == "available" and created["SnapshotType"] == "manual"
    assert {"Key": "webstack:release", "Value": "1.4.0"} in rds.list_tags_for_resource(
        ResourceName=created["DBSnapshotArn"])["TagList"]
    # automated snapshots are never touched
    assert rds.describe_db_snapshots(DBInstanceIdentifier=INSTANCE, SnapshotType="automated")["DBSnapshots"]

    moto.start_recording()
    stats, results = run_playbook([snap_task(**args)])
    assert stats["changed"] == 0, results
    assert moto.recorded_actions() == ["DescribeDBSnapshots", "DescribeDBSnapshots"]

    # only prune, keep 1: the newest and the protected one stay
    stats, results = run_playbook([snap_task(prefix=PREFIX, keep=1, protected=[PREFIX + "20261101"])])
    assert stats["changed"] == 1, results
    assert results[0]["deleted"] == [PREFIX + "20261104"]
    assert manual_ids(rds) == sorted([f"{INSTANCE}-by-hand", PREFIX + "20261101", new])


def test_missing_instance_fails_naming_it(moto, run_playbook):
    moto.reset()
    stats, results = run_playbook([dict(snap_task(snapshot_identifier="h2-it-nope-1"), ignore_errors=True)])
    assert results[0]["failed"] is True
    assert INSTANCE in results[0]["msg"]
