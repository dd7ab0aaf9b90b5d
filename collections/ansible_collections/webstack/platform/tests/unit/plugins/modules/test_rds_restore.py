"""Unit tests for webstack.platform.rds_restore (botocore Stubber, responses shaped like the RDS API reference).

Every path the emulator cannot produce is here: an instance stuck in `creating`, a restore that comes back
with AWS's defaults (the VPC's default security group, the default parameter group) and needs a reboot,
snapshots that are not usable, the restorable window from the automated backups, renames in progress.
"""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta
from datetime import timezone

import pytest
from botocore.stub import ANY

from ansible_collections.webstack.platform.plugins.modules import rds_restore as mod

O, R, P = "webstack-prod", "webstack-prod-restore-20261122t0930", "webstack-prod-replaced-20261122t0930"
SNAP = "webstack-prod-pre-1-4-0"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SGS = ["sg-0a1b2c3d4e5f60001", "sg-0a1b2c3d4e5f60002"]
NOW = datetime.now(timezone.utc).replace(microsecond=0)
CREATED = NOW - timedelta(days=90)
MUTATING = ("restore_db_instance_from_db_snapshot", "restore_db_instance_to_point_in_time", "modify_db_instance",
            "reboot_db_instance", "add_tags_to_resource")


def instance(ident, status="available", **overrides):
    """A DescribeDBInstances item as documented (DBInstance), with the original's settings by default."""
    data = {
        "DBInstanceIdentifier": ident, "DBInstanceClass": "db.t3.medium", "Engine": "postgres",
        "EngineVersion": "15.4", "DBInstanceStatus": status, "MasterUsername": "webstack",
        "Endpoint": {"Address": f"{ident}.c9akciq32.us-east-1.rds.amazonaws.com", "Port": 5432,
                     "HostedZoneId": "Z2R2ITUGPM61AM"},
        "AllocatedStorage": 20, "InstanceCreateTime": CREATED, "PreferredBackupWindow": "03:00-03:30",
        "BackupRetentionPeriod": 7,
        "VpcSecurityGroups": [{"VpcSecurityGroupId": SGS[1], "Status": "active"},
                              {"VpcSecurityGroupId": SGS[0], "Status": "active"}],
        "DBParameterGroups": [{"DBParameterGroupName": "webstack-prod-postgres15", "ParameterApplyStatus": "in-sync"}],
        "DBSubnetGroup": {"DBSubnetGroupName": "webstack-prod-db", "DBSubnetGroupDescription": "webstack prod",
                          "VpcId": "vpc-0a1b2c3d4e5f60001", "SubnetGroupStatus": "Complete", "Subnets": []},
        "PendingModifiedValues": {}, "LatestRestorableTime": NOW - timedelta(minutes=5), "MultiAZ": True,
        "AutoMinorVersionUpgrade": True, "StorageType": "gp3", "Iops": 3000, "StorageThroughput": 125,
        "StorageEncrypted": True, "KmsKeyId": KEY, "DbiResourceId": "db-ABCDEFGHIJKLMNOPQRSTUVWXY1",
        "CopyTagsToSnapshot": True, "DBInstanceArn": f"arn:aws:rds:us-east-1:123456789012:db:{ident}",
        "EnabledCloudwatchLogsExports": ["upgrade", "postgresql"], "DeletionProtection": True,
        "PubliclyAccessible": False, "TagList": [{"Key": "Project", "Value": "webstack"}],
        "IAMDatabaseAuthenticationEnabled": True, "CACertificateIdentifier": "rds-ca-rsa2048-g1",
        "OptionGroupMemberships": [{"OptionGroupName": "default:postgres-15", "Status": "in-sync"}],
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}  # None: a field AWS does not return


def snapshot(status="available", **overrides):
    data = {"DBSnapshotIdentifier": SNAP, "DBInstanceIdentifier": O, "SnapshotCreateTime": NOW - timedelta(hours=2),
            "Engine": "postgres", "EngineVersion": "15.4", "AllocatedStorage": 20, "Status": status, "Port": 5432,
            "SnapshotType": "manual", "Encrypted": True, "KmsKeyId": KEY, "PercentProgress": 100,
            "DBSnapshotArn": f"arn:aws:rds:us-east-1:123456789012:snapshot:{SNAP}"}
    data.update(overrides)
    return data


class Script:
    """Queues Stubber responses and remembers which mutating calls were queued."""

    def __init__(self, stub):
        self.stub = stub
        self.calls = []

    def add(self, method, response, expected=None):
        self.calls.append(method)
        self.stub.add_response(method, response, expected)

    def describe(self, ident, inst):
        if inst is None:
            self.calls.append("describe_db_instances")
            self.stub.add_client_error("describe_db_instances", service_error_code="DBInstanceNotFound",
                                       service_message=f"DBInstance {ident} not found.", http_status_code=404,
                                       expected_params={"DBInstanceIdentifier": ident})
        else:
            self.add("describe_db_instances", {"DBInstances": [inst]}, {"DBInstanceIdentifier": ident})

    def state(self, o, r, p):
        self.describe(O, o)
        self.describe(R, r)
        self.describe(P, p)

    def backups(self, earliest=None):
        item = {"DBInstanceIdentifier": O, "DbiResourceId": "db-ABCDEFGHIJKLMNOPQRSTUVWXY1", "Status": "active",
                "Engine": "postgres", "BackupRetentionPeriod": 7}
        if earliest:
            item["RestoreWindow"] = {"EarliestTime": earliest, "LatestTime": NOW - timedelta(minutes=5)}
        self.add("describe_db_instance_automated_backups", {"DBInstanceAutomatedBackups": [item]},
                 {"DBInstanceIdentifier": O})

    def rename(self, old, new, arrives_after=1, old_state=None):
        self.describe(old, old_state or instance(old))  # available before the rename
        self.add("modify_db_instance", {"DBInstance": instance(old, "renaming")},
                 {"DBInstanceIdentifier": old, "NewDBInstanceIdentifier": new, "ApplyImmediately": True})
        for _ in range(arrives_after):  # the new name is not visible while AWS renames
            self.describe(new, None)

    def mutating(self):
        return [c for c in self.calls if c in MUTATING]


@pytest.fixture
def script(aws_stub):
    return Script(aws_stub("rds"))


@pytest.fixture
def clock(fake_clock):
    """The seconds the module slept, on a fake monotonic clock that advances only when the module sleeps."""
    return fake_clock(start=1000.0).sleeps


def args(**overrides):
    data = {"db_instance_identifier": O, "restored_identifier": R, "replaced_identifier": P,
            "tags": {"Restore": "incident-42"}, "poll_interval": 15, "wait_timeout": 1800}
    data.update(overrides)
    return data


RESTORE_SETTINGS = {
    "DBInstanceClass": "db.t3.medium", "Port": 5432, "AllocatedStorage": 20, "DBSubnetGroupName": "webstack-prod-db",
    "VpcSecurityGroupIds": SGS, "DBParameterGroupName": "webstack-prod-postgres15", "MultiAZ": True,
    "PubliclyAccessible": False, "CopyTagsToSnapshot": True, "DeletionProtection": True, "StorageType": "gp3",
    "EnableCloudwatchLogsExports": ["postgresql", "upgrade"], "EnableIAMDatabaseAuthentication": True,
    "CACertificateIdentifier": "rds-ca-rsa2048-g1", "PreferredBackupWindow": "03:00-03:30", "AutoMinorVersionUpgrade": True,
}


def restore_tags(source):
    return [{"Key": "Project", "Value": "webstack"}, {"Key": "Restore", "Value": "incident-42"},
            {"Key": "webstack:restored-from", "Value": source}]


def swap_and_finish(script, restored, source):
    """Rename original -> replaced, restored -> original, tag the old one (the steps after the restore)."""
    script.rename(O, P)
    script.describe(P, instance(P))
    script.rename(R, O)
    script.describe(O, restored)
    script.add("add_tags_to_resource", {}, {
        "ResourceName": f"arn:aws:rds:us-east-1:123456789012:db:{P}",
        "Tags": [{"Key": "webstack:replaced-at", "Value": ANY},
                 {"Key": "webstack:replaced-by-restore-from", "Value": source}]})


def test_snapshot_restore_with_the_originals_settings_then_swap(script, clock, run_module):
    script.state(instance(O), None, None)
    script.add("describe_db_snapshots", {"DBSnapshots": [snapshot()]}, {"DBSnapshotIdentifier": SNAP})
    script.add("restore_db_instance_from_db_snapshot", {"DBInstance": instance(R, "creating")}, dict(
        RESTORE_SETTINGS, DBInstanceIdentifier=R, DBSnapshotIdentifier=SNAP, Tags=restore_tags(f"snapshot:{SNAP}")))
    script.describe(R, instance(R, "creating"))
    script.describe(R, instance(R, "backing-up"))
    script.describe(R, instance(R, InstanceCreateTime=NOW))
    swap_and_finish(script, instance(O, InstanceCreateTime=NOW), f"snapshot:{SNAP}")

    res = run_module(mod, args(snapshot_identifier=SNAP))
    assert not res.failed, res.result
    assert res.result["changed"] is True
    steps = res.result["steps"]
    assert steps[0].startswith(f"read original {O}: postgres, db.t3.medium, subnet group webstack-prod-db")
    assert steps[1].startswith(f"checked snapshot {SNAP}: available, postgres 15.4, encrypted")
    assert steps[2].startswith(f"restored {R} from snapshot {SNAP} with the original's settings")
    assert steps[3] == f"waited for {R}: available (30.0 s)"
    assert steps[4:] == [
        f"renamed {O} -> {P}", f"waited for {P}: available (15.0 s)",
        f"renamed {R} -> {O}", f"waited for {O}: available (15.0 s)",
        steps[8], f"verified {O}: 22 settings equal the original's"]
    assert steps[8].startswith(f"tagged {P} webstack:replaced-at=") and steps[8].endswith(f"=snapshot:{SNAP}")
    assert clock == [15, 15, 15, 15]
    assert res.result["instance"]["id"] == O
    assert res.result["instance"]["endpoint"] == f"{O}.c9akciq32.us-east-1.rds.amazonaws.com"
    assert res.result["replaced"] == {"id": P, "arn": f"arn:aws:rds:us-east-1:123456789012:db:{P}",
                                      "status": "available", "endpoint": f"{P}.c9akciq32.us-east-1.rds.amazonaws.com",
                                      "port": 5432}
    verified = res.result["settings_verified"]
    assert verified["vpc_security_group_ids"] == SGS
    assert verified["kms_key_id"] == KEY and verified["deletion_protection"] is True
    assert verified["cloudwatch_logs_exports"] == ["postgresql", "upgrade"]
    assert res.result["source"] == f"snapshot:{SNAP}"
    assert script.mutating() == ["restore_db_instance_from_db_snapshot", "modify_db_instance", "modify_db_instance",
                                 "add_tags_to_resource"]


def test_point_in_time_restore_passes_the_time_and_all_settings(script, clock, run_module):
    """A custom option group is carried over too (a default one is the engine version's own)."""
    when = NOW - timedelta(days=2)
    custom = {"OptionGroupMemberships": [{"OptionGroupName": "webstack-prod-pg15-options", "Status": "in-sync"}]}
    script.state(instance(O, **custom), None, None)
    script.backups(earliest=NOW - timedelta(days=7))
    script.add("restore_db_instance_to_point_in_time", {"DBInstance": instance(R, "creating")}, dict(
        RESTORE_SETTINGS, SourceDBInstanceIdentifier=O, TargetDBInstanceIdentifier=R, RestoreTime=when,
        OptionGroupName="webstack-prod-pg15-options", Tags=restore_tags(f"point-in-time:{mod.iso(when)}")))
    script.describe(R, instance(R, **custom))
    swap_and_finish(script, instance(O, InstanceCreateTime=NOW, **custom), f"point-in-time:{mod.iso(when)}")
    res = run_module(mod, args(restore_time=when.strftime("%Y-%m-%dT%H:%M:%SZ")))
    assert not res.failed, res.result
    assert res.result["steps"][1].startswith(f"checked restore_time {mod.iso(when)}: inside the restorable window")
    assert "automated backups' EarliestTime" in res.result["steps"][1]
    assert res.result["steps"][2].startswith(f"restored {R} from {O} to {mod.iso(when)}")
    assert res.result["settings_verified"]["option_group"] == "webstack-prod-pg15-options"
    assert res.result["steps"][-1] == f"verified {O}: 23 settings equal the original's"


def test_restore_request_tags_storage_and_iops(script, clock, run_module):
    """AWS-reserved tags and an earlier restore's marker are not copied; io1 carries its IOPS; the size is the
    original's current one (grown since the snapshot)."""
    original = instance(O, StorageType="io1", Iops=5000, AllocatedStorage=200, TagList=[
        {"Key": "Project", "Value": "webstack"}, {"Key": "aws:cloudformation:stack-name", "Value": "x"},
        {"Key": "webstack:restored-from", "Value": "snapshot:older"}, {"Key": "Restore", "Value": "old"}])
    script.state(original, None, None)
    script.add("describe_db_snapshots", {"DBSnapshots": [snapshot(AllocatedStorage=100)]}, {"DBSnapshotIdentifier": SNAP})
    script.add("restore_db_instance_from_db_snapshot", {"DBInstance": instance(R, "creating")}, dict(
        RESTORE_SETTINGS, DBInstanceIdentifier=R, DBSnapshotIdentifier=SNAP, StorageType="io1", Iops=5000,
        AllocatedStorage=200, Tags=restore_tags(f"snapshot:{SNAP}")))
    script.stub.add_client_error("describe_db_instances", service_error_code="Throttling", service_message="slow down",
                                 http_status_code=400)  # retried
    script.describe(R, instance(R, StorageType="io1", Iops=5000, AllocatedStorage=200))
    swap_and_finish(script, instance(O, StorageType="io1", Iops=5000, AllocatedStorage=200), f"snapshot:{SNAP}")
    res = run_module(mod, args(snapshot_identifier=SNAP))
    assert not res.failed, res.result


def test_restore_time_with_an_offset_is_converted_to_utc():
    assert mod.iso(mod.parse_time("2026-11-22T11:30:00+02:00")) == "2026-11-22T09:30:00Z"
    assert mod.iso(mod.parse_time("2026-11-22T09:30:00")) == "2026-11-22T09:30:00Z"
    assert mod.iso(mod.parse_time("2026-11-22T09:30:00.123Z")) == "2026-11-22T09:30:00Z"


def test_latest_restorable_time(script, clock, run_module):
    script.state(instance(O), None, None)
    script.backups()
    script.add("restore_db_instance_to_point_in_time", {"DBInstance": instance(R, "creating")}, dict(
        RESTORE_SETTINGS, SourceDBInstanceIdentifier=O, TargetDBInstanceIdentifier=R, UseLatestRestorableTime=True,
        Tags=restore_tags("latest-restorable-time")))
    script.describe(R, instance(R))
    swap_and_finish(script, instance(O), "latest-restorable-time")
    res = run_module(mod, args(use_latest_restorable_time=True))
    assert not res.failed, res.result
    assert "latest restorable time" in res.result["steps"][2]


@pytest.mark.parametrize("when, earliest, latest, window_part", [
    # older than the retention period (no EarliestTime from AWS: now - 7 days)
    (NOW - timedelta(days=8), None, NOW - timedelta(minutes=5), "now - BackupRetentionPeriod 7 days"),
    # inside the retention period but before the automated backups' EarliestTime (retention raised lately)
    (NOW - timedelta(days=5), NOW - timedelta(days=2), NOW - timedelta(minutes=5), "automated backups' EarliestTime"),
    # after LatestRestorableTime (the last 5 minutes are not restorable yet)
    (NOW - timedelta(minutes=1), None, NOW - timedelta(minutes=5), "LatestRestorableTime"),
    # in the future, LatestRestorableTime not given
    (NOW + timedelta(hours=1), None, None, "(now)"),
])
def test_restore_time_outside_the_window_fails_before_any_change(script, run_module, when, earliest, latest,
                                                                 window_part):
    original = instance(O, LatestRestorableTime=latest) if latest else instance(O)
    if not latest:
        del original["LatestRestorableTime"]
    script.state(original, None, None)
    script.backups(earliest=earliest)
    res = run_module(mod, args(restore_time=when.isoformat()))
    assert res.failed
    msg = res.result["msg"]
    assert msg.startswith(f"restore_time {mod.iso(when)} is outside the restorable window of {O} [")
    assert window_part in msg
    assert res.result["changed"] is False
    assert script.mutating() == []


def test_restore_time_without_automated_backups_fails(script, run_module):
    script.state(instance(O, BackupRetentionPeriod=0), None, None)
    script.backups()
    res = run_module(mod, args(restore_time=(NOW - timedelta(hours=1)).isoformat()))
    assert res.failed and res.result["msg"].startswith("restore_time ") and "BackupRetentionPeriod 0" in res.result["msg"]
    assert script.mutating() == []


@pytest.mark.parametrize("snap, expected", [
    (None, f"snapshot_identifier {SNAP}: no such DB snapshot"),
    (snapshot("creating", PercentProgress=40), "its status is 'creating' (progress 40%), not 'available'"),
    (snapshot(Engine="mysql"), f"it is a mysql snapshot and {O} runs postgres"),
    (snapshot(Encrypted=False, KmsKeyId=None), "it is not encrypted and the original is encrypted"),
    (snapshot(KmsKeyId=KEY.replace("1234abcd", "9999ffff")), "it is encrypted with KMS key"),
])
def test_unusable_snapshot_fails_naming_snapshot_identifier(script, run_module, snap, expected):
    script.state(instance(O), None, None)
    if snap is None:
        script.stub.add_client_error("describe_db_snapshots", service_error_code="DBSnapshotNotFound",
                                     service_message=f"DBSnapshot {SNAP} not found.", http_status_code=404)
    else:
        script.add("describe_db_snapshots", {"DBSnapshots": [{k: v for k, v in snap.items() if v is not None}]},
                   {"DBSnapshotIdentifier": SNAP})
    res = run_module(mod, args(snapshot_identifier=SNAP))
    assert res.failed
    assert res.result["msg"].startswith(f"snapshot_identifier {SNAP}")
    assert expected in res.result["msg"]
    assert script.mutating() == []


def test_wait_timeout_names_instance_status_and_resume(script, clock, run_module):
    script.state(instance(O), None, None)
    script.add("describe_db_snapshots", {"DBSnapshots": [snapshot()]}, {"DBSnapshotIdentifier": SNAP})
    script.add("restore_db_instance_from_db_snapshot", {"DBInstance": instance(R, "creating")}, None)
    for _ in range(3):  # t = 0, 15, 30
        script.describe(R, instance(R, "creating"))
    res = run_module(mod, args(snapshot_identifier=SNAP, wait_timeout=30))
    assert res.failed
    assert res.result["msg"] == (f"restore {R}: instance {R} is still 'creating' after 30 s (wait_timeout); nothing is "
                                 "undone - rerun with the same options to resume")
    assert res.result["changed"] is True
    assert res.result["steps"][-1].startswith(f"restored {R} from snapshot")
    assert clock == [15, 15]


def test_restore_with_aws_defaults_is_fixed_up_and_rebooted(script, clock, run_module):
    """A restore that came back with the default SG, default parameter group and 1-day retention gets one
    ModifyDBInstance with exactly those, waits until nothing is pending, reboots for the parameter group."""
    defaults = dict(VpcSecurityGroups=[{"VpcSecurityGroupId": "sg-0default000000001", "Status": "active"}],
                    DBParameterGroups=[{"DBParameterGroupName": "default.postgres15", "ParameterApplyStatus": "in-sync"}],
                    BackupRetentionPeriod=1, EnabledCloudwatchLogsExports=["postgresql", "iam-db-auth-error"],
                    IAMDatabaseAuthenticationEnabled=False)
    script.state(instance(O), None, None)
    script.add("describe_db_snapshots", {"DBSnapshots": [snapshot()]}, {"DBSnapshotIdentifier": SNAP})
    script.add("restore_db_instance_from_db_snapshot", {"DBInstance": instance(R, "creating", **defaults)}, None)
    script.describe(R, instance(R, **defaults))
    script.add("modify_db_instance", {"DBInstance": instance(R, "modifying", **defaults)}, {
        "DBInstanceIdentifier": R, "ApplyImmediately": True, "VpcSecurityGroupIds": SGS,
        "DBParameterGroupName": "webstack-prod-postgres15", "BackupRetentionPeriod": 7,
        "EnableIAMDatabaseAuthentication": True, "CloudwatchLogsExportConfiguration": {"EnableLogTypes": ["upgrade"], "DisableLogTypes": ["iam-db-auth-error"]}})
    script.describe(R, instance(R, "modifying", PendingModifiedValues={"BackupRetentionPeriod": 7}))
    script.describe(R, instance(R, PendingModifiedValues={"BackupRetentionPeriod": 7}))
    pending_reboot = [{"DBParameterGroupName": "webstack-prod-postgres15", "ParameterApplyStatus": "pending-reboot"}]
    script.describe(R, instance(R, DBParameterGroups=pending_reboot))
    script.add("reboot_db_instance", {"DBInstance": instance(R, "rebooting")}, {"DBInstanceIdentifier": R})
    script.describe(R, instance(R, "rebooting"))
    script.describe(R, instance(R))
    swap_and_finish(script, instance(O), f"snapshot:{SNAP}")
    res = run_module(mod, args(snapshot_identifier=SNAP))
    assert not res.failed, res.result
    steps = res.result["steps"]
    assert (f"set on {R} what the restore did not: vpc_security_group_ids={SGS}, "
            "db_parameter_group=webstack-prod-postgres15, backup_retention_period=7, "
            "iam_database_authentication=True, cloudwatch_logs_exports=['postgresql', 'upgrade']") in steps
    assert f"rebooted {R} to apply parameter group webstack-prod-postgres15" in steps
    assert script.mutating() == ["restore_db_instance_from_db_snapshot", "modify_db_instance", "reboot_db_instance",
                                 "modify_db_instance", "modify_db_instance", "add_tags_to_resource"]


def test_verification_lists_every_difference(script, clock, run_module):
    """What a ModifyDBInstance cannot repair (subnet group, port, encryption) fails the verification."""
    wrong = dict(DBSubnetGroup={"DBSubnetGroupName": "default", "DBSubnetGroupDescription": "default",
                                "VpcId": "vpc-0default", "SubnetGroupStatus": "Complete", "Subnets": []},
                 Endpoint={"Address": f"{O}.c9akciq32.us-east-1.rds.amazonaws.com", "Port": 5433})
    script.state(instance(O), None, None)
    script.add("describe_db_snapshots", {"DBSnapshots": [snapshot()]}, {"DBSnapshotIdentifier": SNAP})
    script.add("restore_db_instance_from_db_snapshot", {"DBInstance": instance(R, "creating")}, None)
    script.describe(R, instance(R, **wrong))
    swap_and_finish(script, instance(O, **wrong), f"snapshot:{SNAP}")
    res = run_module(mod, args(snapshot_identifier=SNAP))
    assert res.failed
    assert res.result["msg"] == (
        f"restored instance {O} differs from the original (kept as {P}): db_subnet_group: original "
        "'webstack-prod-db', restored 'default'; port: original 5432, restored 5433")
    assert res.result["changed"] is True


def test_rename_waits_for_a_busy_original(script, clock, run_module):
    """The original is 'backing-up' when its turn to be renamed comes: waited for, then renamed."""
    script.state(instance(O), instance(R), None)
    script.describe(R, instance(R))
    script.describe(O, instance(O, "backing-up"))
    script.rename(O, P)
    script.describe(P, instance(P))
    script.rename(R, O)
    script.describe(O, instance(O))
    script.add("add_tags_to_resource", {}, None)
    res = run_module(mod, args(snapshot_identifier=SNAP))
    assert not res.failed, res.result
    steps = res.result["steps"]
    assert steps[steps.index(f"renamed {O} -> {P}") - 1] == f"waited for {O}: available (15.0 s)"
    assert clock == [15, 15, 15]


def test_resume_after_restore_started(script, clock, run_module):
    """Interrupted after RestoreDBInstance*: no second restore, no source check; wait, rename, verify."""
    script.state(instance(O), instance(R, "creating"), None)
    script.describe(R, instance(R, "creating"))
    script.describe(R, instance(R))
    swap_and_finish(script, instance(O), f"snapshot:{SNAP}")
    res = run_module(mod, args(snapshot_identifier=SNAP))
    assert not res.failed, res.result
    assert res.result["steps"][1] == f"resumed: {R} exists (restore already started), not restoring again"
    assert script.mutating() == ["modify_db_instance", "modify_db_instance", "add_tags_to_resource"]


def test_resume_after_original_renamed(script, clock, run_module):
    script.state(None, instance(R), instance(P))
    script.describe(R, instance(R))
    script.rename(R, O)
    script.describe(O, instance(O))
    script.add("add_tags_to_resource", {}, None)
    res = run_module(mod, args(snapshot_identifier=SNAP))
    assert not res.failed, res.result
    assert res.result["steps"][0].startswith(f"read original {P}:")
    assert res.result["steps"][1] == f"resumed: {O} already renamed to {P}, {R} exists"
    assert script.mutating() == ["modify_db_instance", "add_tags_to_resource"]


def test_rerun_after_completion_only_verifies(script, run_module):
    tagged = instance(P, TagList=[{"Key": "webstack:replaced-at", "Value": "2026-11-22T09:41:07Z"},
                                  {"Key": "webstack:replaced-by-restore-from", "Value": f"snapshot:{SNAP}"}])
    script.state(instance(O, InstanceCreateTime=NOW), None, tagged)
    res = run_module(mod, args(snapshot_identifier=SNAP))
    assert not res.failed, res.result
    assert res.result["changed"] is False
    assert res.result["steps"][-1] == f"verified {O}: 22 settings equal the original's"
    assert script.mutating() == []


def test_rename_in_progress_is_waited_for(script, clock, run_module):
    """A rerun during an interrupted rename R -> O (R shows 'renaming', then neither name) waits for it."""
    script.state(None, instance(R, "renaming"), instance(P))
    script.state(None, None, instance(P))  # between names
    script.state(instance(O, InstanceCreateTime=NOW), None, instance(P))
    script.add("add_tags_to_resource", {}, None)
    res = run_module(mod, args(snapshot_identifier=SNAP))
    assert not res.failed, res.result
    assert clock == [15, 15]
    assert res.result["steps"][1].startswith("resumed: names already swapped")


def test_rename_that_never_settles_fails_after_wait_timeout(script, clock, run_module):
    for _ in range(3):
        script.state(None, None, instance(P))
    res = run_module(mod, args(snapshot_identifier=SNAP, wait_timeout=30))
    assert res.failed
    assert res.result["msg"] == (
        f"db_instance_identifier {O} does not exist and only one of restored_identifier {R} and replaced_identifier "
        f"{P} does (a rename in progress?) after 30 s (wait_timeout); rerun to resume")


def test_missing_original_fails_at_once(script, run_module):
    script.state(None, None, None)
    res = run_module(mod, args(snapshot_identifier=SNAP))
    assert res.failed and res.result["msg"] == f"db_instance_identifier {O}: no such DB instance"


def test_replaced_identifier_taken_by_a_newer_instance_fails(script, run_module):
    script.state(instance(O), None, instance(P, InstanceCreateTime=NOW))
    res = run_module(mod, args(snapshot_identifier=SNAP))
    assert res.failed and res.result["msg"].startswith(f"replaced_identifier {P} already exists and is newer")


def test_check_mode_reads_only_and_reports_the_plan(script, run_module):
    script.state(instance(O), None, None)
    script.add("describe_db_snapshots", {"DBSnapshots": [snapshot()]}, {"DBSnapshotIdentifier": SNAP})
    res = run_module(mod, args(snapshot_identifier=SNAP), check_mode=True)
    assert not res.failed, res.result
    assert res.result["changed"] is True
    steps = res.result["steps"]
    assert [s.split(" ")[0] + " " + s.split(" ")[1] for s in steps[2:]] == [
        "would restore", "would wait", "would rename", "would rename", "would tag", "would verify"]
    assert steps[4] == f"would rename {O} -> {P}" and steps[5] == f"would rename {R} -> {O}"
    assert res.result["settings_verified"] == {}
    assert script.mutating() == []


def test_check_mode_checks_the_window_too(script, run_module):
    script.state(instance(O), None, None)
    script.backups()
    res = run_module(mod, args(restore_time="2000-01-01T00:00:00Z"), check_mode=True)
    assert res.failed and res.result["msg"].startswith("restore_time 2000-01-01T00:00:00Z is outside")


@pytest.mark.parametrize("overrides, expected", [
    ({}, "exactly one of snapshot_identifier, restore_time and use_latest_restorable_time is required (given: none)"),
    ({"snapshot_identifier": SNAP, "use_latest_restorable_time": True},
     "(given: snapshot_identifier, use_latest_restorable_time)"),
    ({"snapshot_identifier": SNAP, "replaced_identifier": R}, "must be three different identifiers"),
    ({"snapshot_identifier": SNAP, "restored_identifier": "prod--restore"}, "restored_identifier 'prod--restore' is not"),
    ({"restore_time": "yesterday"}, "restore_time 'yesterday' is not an ISO 8601 time"),
])
def test_bad_options_fail_before_any_call(aws_stub, run_module, overrides, expected):
    aws_stub("rds")
    res = run_module(mod, args(**overrides))
    assert res.failed and expected in res.result["msg"]


def test_api_error_names_the_last_step(script, clock, run_module):
    script.state(instance(O), None, None)
    script.add("describe_db_snapshots", {"DBSnapshots": [snapshot()]}, {"DBSnapshotIdentifier": SNAP})
    script.stub.add_client_error("restore_db_instance_from_db_snapshot", service_error_code="StorageQuotaExceeded",
                                 service_message="quota", http_status_code=400)
    res = run_module(mod, args(snapshot_identifier=SNAP))
    assert res.failed and res.result["error"]["code"] == "StorageQuotaExceeded"
    assert res.result["msg"].startswith(f"rds_restore of {O} failed after: restored {R} from snapshot {SNAP}")


# --- settings AWS's restore calls do not carry over (issue 11) ---------------------------------------------------
TUNED = dict(StorageType="gp3", AllocatedStorage=500, Iops=12000, StorageThroughput=500, MaxAllocatedStorage=1000,
             PreferredMaintenanceWindow="sun:04:30-sun:05:30", AutoMinorVersionUpgrade=False, MonitoringInterval=60,
             MonitoringRoleArn="arn:aws:iam::123456789012:role/rds-monitoring", PerformanceInsightsEnabled=True,
             PerformanceInsightsKMSKeyId=KEY, PerformanceInsightsRetentionPeriod=731)
# What RestoreDBInstanceFromDBSnapshot gives back for what it cannot be told (AWS's defaults).
DROPPED = dict(StorageType="gp3", AllocatedStorage=500, Iops=12000, StorageThroughput=500, MaxAllocatedStorage=None,
               PreferredMaintenanceWindow="wed:07:12-wed:07:42", AutoMinorVersionUpgrade=False, MonitoringInterval=0,
               PerformanceInsightsEnabled=False)


def test_restore_carries_storage_windows_monitoring_and_performance_insights(script, clock, run_module):
    """gp3 IOPS/throughput (from 400 GiB), the backup window and automatic minor upgrades go into the restore call;
    the storage autoscaling maximum, maintenance window, Enhanced Monitoring and Performance Insights, which
    RestoreDBInstanceFromDBSnapshot does not take, are set right after with one ModifyDBInstance."""
    script.state(instance(O, **TUNED), None, None)
    script.add("describe_db_snapshots", {"DBSnapshots": [snapshot(AllocatedStorage=500)]}, {"DBSnapshotIdentifier": SNAP})
    script.add("restore_db_instance_from_db_snapshot", {"DBInstance": instance(R, "creating", **DROPPED)}, dict(
        RESTORE_SETTINGS, DBInstanceIdentifier=R, DBSnapshotIdentifier=SNAP, AllocatedStorage=500, Iops=12000,
        StorageThroughput=500, AutoMinorVersionUpgrade=False, Tags=restore_tags(f"snapshot:{SNAP}")))
    script.describe(R, instance(R, **DROPPED))
    script.add("modify_db_instance", {"DBInstance": instance(R, "modifying", **DROPPED)}, {
        "DBInstanceIdentifier": R, "ApplyImmediately": True, "MaxAllocatedStorage": 1000,
        "PreferredMaintenanceWindow": "sun:04:30-sun:05:30", "MonitoringInterval": 60,
        "MonitoringRoleArn": "arn:aws:iam::123456789012:role/rds-monitoring", "EnablePerformanceInsights": True,
        "PerformanceInsightsKMSKeyId": KEY, "PerformanceInsightsRetentionPeriod": 731})
    script.describe(R, instance(R, **TUNED))
    script.rename(O, P, old_state=instance(O, **TUNED))
    script.describe(P, instance(P, **TUNED))
    script.rename(R, O, old_state=instance(R, **TUNED))
    script.describe(O, instance(O, **TUNED))
    script.add("add_tags_to_resource", {}, None)
    res = run_module(mod, args(snapshot_identifier=SNAP))
    assert not res.failed, res.result
    verified = res.result["settings_verified"]
    assert (verified["iops"], verified["storage_throughput"], verified["max_allocated_storage"]) == (12000, 500, 1000)
    assert verified["preferred_maintenance_window"] == "sun:04:30-sun:05:30" and verified["auto_minor_version_upgrade"] is False
    assert verified["monitoring_interval"] == 60 and verified["performance_insights"] is True


def test_verification_notices_a_dropped_setting(script, run_module):
    """A restore done by an earlier version (or by hand) that lost Performance Insights and the storage maximum:
    the verification names them instead of calling the restore good."""
    tagged = instance(P, TagList=[{"Key": "webstack:replaced-at", "Value": "2026-11-22T09:41:07Z"},
                                  {"Key": "webstack:replaced-by-restore-from", "Value": f"snapshot:{SNAP}"}], **TUNED)
    script.state(instance(O, InstanceCreateTime=NOW, **dict(TUNED, MaxAllocatedStorage=None, PerformanceInsightsEnabled=False)),
                 None, tagged)
    res = run_module(mod, args(snapshot_identifier=SNAP))
    assert res.failed
    assert "max_allocated_storage: original 1000, restored None" in res.result["msg"], res.result["msg"]
    assert "performance_insights: original True, restored False" in res.result["msg"], res.result["msg"]


def test_snapshot_of_another_engine_major_fails_before_any_change(script, run_module):
    """The original's parameter group is of the postgres15 family: a PostgreSQL 14 snapshot cannot be restored with it
    (AWS refuses the restore call); said before anything is changed."""
    script.state(instance(O), None, None)
    script.add("describe_db_snapshots", {"DBSnapshots": [snapshot(EngineVersion="14.10")]}, {"DBSnapshotIdentifier": SNAP})
    res = run_module(mod, args(snapshot_identifier=SNAP))
    assert res.failed
    assert res.result["msg"].startswith(f"snapshot_identifier {SNAP} cannot be restored: it is postgres 14.10 and the "
                                        "original's parameter group webstack-prod-postgres15 is of the postgres15 family")
    assert script.mutating() == []


# --- the swap, as AWS does it (issue 11) ---------------------------------------------------------------------------
def test_swap_false_stops_before_any_rename(script, clock, run_module):
    """The caller stops the application's writes between the two calls (AWS: stop traffic before the rename)."""
    script.state(instance(O), None, None)
    script.add("describe_db_snapshots", {"DBSnapshots": [snapshot()]}, {"DBSnapshotIdentifier": SNAP})
    script.add("restore_db_instance_from_db_snapshot", {"DBInstance": instance(R, "creating")}, None)
    script.describe(R, instance(R, "creating"))
    script.describe(R, instance(R))
    res = run_module(mod, args(snapshot_identifier=SNAP, swap=False))
    assert not res.failed, res.result
    assert res.result["ready_to_swap"] is True
    assert res.result["steps"][-1].startswith(f"ready to swap: {R} is available with the original's settings; {O} not renamed")
    assert script.mutating() == ["restore_db_instance_from_db_snapshot"]


def test_swap_waits_until_the_endpoint_resolves_to_the_restored_instance(script, clock, run_module, monkeypatch):
    """AWS deletes the old DNS name at once but resolvers keep it for minutes, and the new name takes effect in about
    10 minutes: after the renames the endpoint first still answers the replaced instance's address, then nothing,
    then the restored instance's."""
    o_host, r_host = f"{O}.c9akciq32.us-east-1.rds.amazonaws.com", f"{R}.c9akciq32.us-east-1.rds.amazonaws.com"
    answers = {o_host: [{"10.0.20.5"}, {"10.0.20.5"}, set(), {"10.0.21.9"}], r_host: [{"10.0.21.9"}]}
    monkeypatch.setattr(mod, "resolve", lambda host: answers[host].pop(0) if answers.get(host) else set())
    script.state(instance(O), instance(R), None)  # resumed: the restore was started by the swap=false call
    script.describe(R, instance(R))
    swap_and_finish(script, instance(O, InstanceCreateTime=NOW), f"snapshot:{SNAP}")
    res = run_module(mod, args(snapshot_identifier=SNAP, dns_wait=True))
    assert not res.failed, res.result
    steps = res.result["steps"]
    dns = [s for s in steps if s.startswith(f"endpoint {o_host} resolves")]
    assert dns == [f"endpoint {o_host} resolves to the restored instance (10.0.21.9) after 30.0 s"], steps
    assert steps.index(dns[0]) > steps.index(f"renamed {R} -> {O}")
    assert res.result["dns_seconds"] == 30.0


def test_dns_that_keeps_answering_the_replaced_instance_fails_after_dns_timeout(script, clock, run_module, monkeypatch):
    o_host = f"{O}.c9akciq32.us-east-1.rds.amazonaws.com"
    monkeypatch.setattr(mod, "resolve", lambda host: {"10.0.20.5"} if host == o_host else set())
    script.state(instance(O), instance(R), None)
    script.describe(R, instance(R))
    script.rename(O, P)
    script.describe(P, instance(P))
    script.rename(R, O)
    script.describe(O, instance(O, InstanceCreateTime=NOW))
    res = run_module(mod, args(snapshot_identifier=SNAP, dns_wait=True, dns_timeout=60))
    assert res.failed
    assert res.result["msg"].startswith(f"endpoint {o_host} still resolves to the replaced instance (10.0.20.5) 60 s after "
                                        "the swap (dns_timeout)")
