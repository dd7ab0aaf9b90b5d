"""Unit tests for webstack.platform.rds_snapshot (botocore Stubber, responses shaped like the RDS API reference)."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.webstack.platform.plugins.modules import rds_snapshot as mod

INSTANCE = "webstack-prod"
SNAP = "webstack-prod-premigrate-20261122t0930"
ACCOUNT_ARN = "arn:aws:rds:us-east-1:123456789012:snapshot:"


def snapshot(snap_id=SNAP, status="available", progress=100, created=None, instance=INSTANCE, days_ago=0):
    """A DBSnapshot item as DescribeDBSnapshots / CreateDBSnapshot return it."""
    data = {
        "DBSnapshotIdentifier": snap_id, "DBInstanceIdentifier": instance, "Engine": "postgres",
        "AllocatedStorage": 20, "Status": status, "Port": 5432, "AvailabilityZone": "us-east-1a",
        "VpcId": "vpc-0abc", "MasterUsername": "postgres", "EngineVersion": "15.5", "LicenseModel":
        "postgresql-license", "SnapshotType": "manual", "PercentProgress": progress, "StorageType": "gp2",
        "Encrypted": True, "KmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/1234",
        "DBSnapshotArn": ACCOUNT_ARN + snap_id, "IAMDatabaseAuthenticationEnabled": False,
        "DbiResourceId": "db-ABCDEFGHIJKL", "TagList": [],
    }
    if created is not False:
        data["SnapshotCreateTime"] = created or (
            datetime.datetime(2026, 11, 22, 9, 30, tzinfo=datetime.timezone.utc) - datetime.timedelta(days=days_ago))
    return data


@pytest.fixture
def clock(fake_clock):
    return fake_clock(start=1000.0)


@pytest.fixture
def rds(aws_stub, snapshot_api):
    """(stub, api): api.describe(id, snap) / api.listing(snaps) queue DescribeDBSnapshots answers."""
    stub = aws_stub("rds")
    return stub, snapshot_api(stub, "describe_db_snapshots", "DBSnapshotIdentifier", "DBSnapshots",
                              "DBSnapshotNotFound", {"DBInstanceIdentifier": INSTANCE, "SnapshotType": "manual"})


def test_create_waits_until_available(rds, run_module, clock):
    stub, api = rds
    api.describe(SNAP, None)
    stub.add_response("create_db_snapshot", {"DBSnapshot": snapshot(status="creating", progress=0, created=False)},
                      {"DBInstanceIdentifier": INSTANCE, "DBSnapshotIdentifier": SNAP,
                       "Tags": [{"Key": "webstack:release", "Value": "1.4.0"}]})
    api.describe(SNAP, snapshot(status="creating", progress=40))
    api.describe(SNAP, snapshot(status="available"))
    res = run_module(mod, {"db_instance_identifier": INSTANCE, "snapshot_identifier": SNAP,
                           "tags": {"webstack:release": "1.4.0"}, "poll_interval": 5})
    assert not res.failed, res.result
    assert res.result["changed"] is True
    assert res.result["snapshot"]["status"] == "available"
    assert res.result["snapshot"]["arn"] == ACCOUNT_ARN + SNAP
    assert res.result["snapshot"]["created"].startswith("2026-11-22T09:30:00")
    assert res.result["deleted"] == []
    assert clock["sleeps"] == [5, 5]


def test_snapshot_stuck_times_out_with_status_and_progress(rds, run_module, clock):
    stub, api = rds
    api.describe(SNAP, None)
    stub.add_response("create_db_snapshot", {"DBSnapshot": snapshot(status="creating", progress=0, created=False)},
                      {"DBInstanceIdentifier": INSTANCE, "DBSnapshotIdentifier": SNAP})
    for _ in range(3):  # polls at t+10, t+20, t+30; the deadline is t+30
        api.describe(SNAP, snapshot(status="creating", progress=37))
    res = run_module(mod, {"db_instance_identifier": INSTANCE, "snapshot_identifier": SNAP,
                           "wait_timeout": 30, "poll_interval": 10})
    assert res.failed
    assert res.result["msg"] == (f"snapshot {SNAP} of {INSTANCE} stuck: status creating, 37% progress after 30 s "
                                 "(wait_timeout); it was left as it is")
    assert res.result["snapshot"]["percent_progress"] == 37
    assert clock["sleeps"] == [10, 10, 10]


def test_failed_snapshot_fails(rds, run_module, clock):
    stub, api = rds
    api.describe(SNAP, snapshot(status="failed", progress=12))
    res = run_module(mod, {"db_instance_identifier": INSTANCE, "snapshot_identifier": SNAP})
    assert res.failed
    assert res.result["msg"] == f"snapshot {SNAP} of {INSTANCE} is failed"


def test_existing_snapshot_is_waited_for_not_recreated(rds, run_module, clock):
    stub, api = rds
    api.describe(SNAP, snapshot(status="creating", progress=80))
    api.describe(SNAP, snapshot(status="available"))
    res = run_module(mod, {"db_instance_identifier": INSTANCE, "snapshot_identifier": SNAP})
    assert not res.failed, res.result
    assert res.result["changed"] is False
    assert res.result["snapshot"]["status"] == "available"


def test_existing_available_snapshot_is_a_noop(rds, run_module, clock):
    stub, api = rds
    api.describe(SNAP, snapshot())
    res = run_module(mod, {"db_instance_identifier": INSTANCE, "snapshot_identifier": SNAP})
    assert res.result["changed"] is False and not res.failed
    assert clock["sleeps"] == []


def test_id_of_another_instance_fails(rds, run_module, clock):
    stub, api = rds
    api.describe(SNAP, snapshot(instance="other-db"))
    res = run_module(mod, {"db_instance_identifier": INSTANCE, "snapshot_identifier": SNAP})
    assert res.failed
    assert "snapshot_identifier" in res.result["msg"] and "other-db" in res.result["msg"]


def test_concurrent_creation_is_waited_for(rds, run_module, clock):
    stub, api = rds
    api.describe(SNAP, None)
    stub.add_client_error("create_db_snapshot", service_error_code="DBSnapshotAlreadyExists",
                          service_message="exists", http_status_code=400)
    api.describe(SNAP, snapshot())
    res = run_module(mod, {"db_instance_identifier": INSTANCE, "snapshot_identifier": SNAP})
    assert not res.failed, res.result
    assert res.result["changed"] is False


def test_no_wait_returns_creating(rds, run_module, clock):
    stub, api = rds
    api.describe(SNAP, None)
    stub.add_response("create_db_snapshot", {"DBSnapshot": snapshot(status="creating", progress=0, created=False)},
                      {"DBInstanceIdentifier": INSTANCE, "DBSnapshotIdentifier": SNAP})
    res = run_module(mod, {"db_instance_identifier": INSTANCE, "snapshot_identifier": SNAP, "wait": False})
    assert res.result["changed"] is True and res.result["snapshot"]["status"] == "creating"
    assert res.result["snapshot"]["created"] == ""


def retention_listing():
    prefix = f"{INSTANCE}-premigrate-"
    return [
        snapshot(SNAP),  # the one of this run (newest)
        snapshot(prefix + "20261121", days_ago=1),
        snapshot(prefix + "20261120", days_ago=2),
        snapshot(prefix + "20261119", days_ago=3),  # protected
        snapshot(prefix + "20261118", days_ago=4),
        snapshot(prefix + "20261117", days_ago=5),
        snapshot(f"{INSTANCE}-manual-by-hand", days_ago=9),  # other prefix: never touched
    ]


def test_prune_keeps_newest_spares_protected_and_current(rds, run_module, clock):
    stub, api = rds
    prefix = f"{INSTANCE}-premigrate-"
    api.describe(SNAP, None)
    stub.add_response("create_db_snapshot", {"DBSnapshot": snapshot(status="available")},
                      {"DBInstanceIdentifier": INSTANCE, "DBSnapshotIdentifier": SNAP})
    api.listing(list(reversed(retention_listing())))  # order of the answer does not matter
    for old in ("20261118", "20261117"):
        stub.add_response("delete_db_snapshot", {"DBSnapshot": snapshot(prefix + old, status="deleted")},
                          {"DBSnapshotIdentifier": prefix + old})
    res = run_module(mod, {"db_instance_identifier": INSTANCE, "snapshot_identifier": SNAP, "prefix": prefix,
                           "keep": 3, "protected": [prefix + "20261119"]})
    assert not res.failed, res.result
    assert res.result["changed"] is True
    assert res.result["deleted"] == [prefix + "20261118", prefix + "20261117"]
    assert res.result["kept"] == [SNAP, prefix + "20261121", prefix + "20261120", prefix + "20261119"]


def test_current_snapshot_never_deleted_even_with_keep_1_and_older_clock(rds, run_module, clock):
    """keep=1 with an existing current snapshot that is older than another one: the current one stays."""
    stub, api = rds
    prefix = f"{INSTANCE}-premigrate-"
    current = snapshot(SNAP, days_ago=10)
    api.describe(SNAP, current)
    api.listing([current, snapshot(prefix + "20261121", days_ago=1)])
    res = run_module(mod, {"db_instance_identifier": INSTANCE, "snapshot_identifier": SNAP, "prefix": prefix,
                           "keep": 1}, check_mode=True)
    assert SNAP not in res.result["deleted"]
    assert res.result["deleted"] == []  # newest is kept by count, current by rule


def test_prune_only_check_mode_reads_only(rds, run_module, clock):
    stub, api = rds
    prefix = f"{INSTANCE}-premigrate-"
    api.listing(retention_listing())
    res = run_module(mod, {"db_instance_identifier": INSTANCE, "prefix": prefix, "keep": 2}, check_mode=True)
    assert not res.failed, res.result
    assert res.result["changed"] is True
    assert res.result["snapshot"] == {}
    assert res.result["deleted"] == [prefix + "20261120", prefix + "20261119", prefix + "20261118", prefix + "20261117"]
    # no delete_db_snapshot queued: the Stubber would fail on an unexpected call


def test_check_mode_create_counts_the_would_be_snapshot(rds, run_module, clock):
    stub, api = rds
    prefix = f"{INSTANCE}-premigrate-"
    api.describe(SNAP, None)
    api.listing(retention_listing()[1:3])
    res = run_module(mod, {"db_instance_identifier": INSTANCE, "snapshot_identifier": SNAP, "prefix": prefix,
                           "keep": 2}, check_mode=True)
    assert not res.failed, res.result
    assert res.result["changed"] is True
    assert res.result["snapshot"]["id"] == SNAP and res.result["snapshot"]["status"] == ""
    assert res.result["deleted"] == [prefix + "20261120"]


def test_snapshot_still_creating_is_not_pruned(rds, run_module, clock):
    stub, api = rds
    prefix = f"{INSTANCE}-"
    api.listing([snapshot(prefix + "a", days_ago=1), snapshot(prefix + "b", status="creating", created=False),
                          snapshot(prefix + "c", days_ago=2)])
    stub.add_response("delete_db_snapshot", {"DBSnapshot": snapshot(prefix + "c", status="deleted")},
                      {"DBSnapshotIdentifier": prefix + "c"})
    res = run_module(mod, {"db_instance_identifier": INSTANCE, "keep": 1})
    assert not res.failed, res.result
    assert res.result["deleted"] == [prefix + "c"]
    assert res.result["kept"] == [prefix + "b", prefix + "a"]


def test_nothing_to_prune_is_unchanged(rds, run_module, clock):
    stub, api = rds
    api.listing([snapshot(f"{INSTANCE}-a")])
    res = run_module(mod, {"db_instance_identifier": INSTANCE, "keep": 3})
    assert res.result["changed"] is False and res.result["deleted"] == []


def test_instance_not_found_fails_with_aws_error(rds, run_module, clock):
    stub, api = rds
    api.describe(SNAP, None)
    stub.add_client_error("create_db_snapshot", service_error_code="DBInstanceNotFound",
                          service_message=f"DBInstance {INSTANCE} not found.", http_status_code=404)
    res = run_module(mod, {"db_instance_identifier": INSTANCE, "snapshot_identifier": SNAP})
    assert res.failed
    assert res.result["msg"].startswith(f"Failed to snapshot DB instance {INSTANCE}")
    assert "not found" in res.result["msg"]


def test_empty_prefix_with_keep_is_refused(rds, run_module):
    res = run_module(mod, {"db_instance_identifier": INSTANCE, "keep": 2, "prefix": ""})
    assert res.failed and "prefix" in res.result["msg"]


def test_snapshot_deleted_while_waiting_fails(rds, run_module, clock):
    stub, api = rds
    api.describe(SNAP, snapshot(status="creating", progress=5))
    api.describe(SNAP, None)
    res = run_module(mod, {"db_instance_identifier": INSTANCE, "snapshot_identifier": SNAP})
    assert res.failed
    assert res.result["msg"] == f"snapshot {SNAP} disappeared while waiting for it to become available"
