"""webstack.platform.rds_restore through ansible-playbook against moto.

An instance with non-default settings everywhere (two own security groups, own parameter group and
subnet group, KMS encryption, Multi-AZ, deletion protection, log exports, 7-day retention, port 5433)
is restored from a snapshot and to a point in time; both instances are read back with boto3.
"""

from __future__ import annotations

import time
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import pytest

pytestmark = pytest.mark.aws

DB = "h3-it-db"
SNAP = "h3-it-db-snap-1"


def build_original(moto):
    ec2, rds, kms = moto.client("ec2"), moto.client("rds"), moto.client("kms")
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.77.{i}.0/24", AvailabilityZone=f"us-east-1{az}")
               ["Subnet"]["SubnetId"] for i, az in ((1, "a"), (2, "b"))]
    sgs = sorted(ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
                 for name in ("h3-it-db", "h3-it-db-admin"))
    rds.create_db_subnet_group(DBSubnetGroupName="h3-it-subnets", DBSubnetGroupDescription="it", SubnetIds=subnets)
    rds.create_db_parameter_group(DBParameterGroupName="h3-it-pg15", DBParameterGroupFamily="postgres15",
                                  Description="it")
    key = kms.create_key(Description="h3-it")["KeyMetadata"]["Arn"]
    rds.create_db_instance(
        DBInstanceIdentifier=DB, Engine="postgres", EngineVersion="15.4", DBInstanceClass="db.t3.small",
        AllocatedStorage=20, StorageType="gp2", MasterUsername="webstack", MasterUserPassword="not-a-secret-1",
        DBSubnetGroupName="h3-it-subnets", VpcSecurityGroupIds=sgs, DBParameterGroupName="h3-it-pg15",
        MultiAZ=True, StorageEncrypted=True, KmsKeyId=key, DeletionProtection=True, PubliclyAccessible=False,
        CopyTagsToSnapshot=True, EnableCloudwatchLogsExports=["postgresql"], BackupRetentionPeriod=7, Port=5433,
        EnableIAMDatabaseAuthentication=True,
        Tags=[{"Key": "Project", "Value": "webstack"}])
    rds.create_db_snapshot(DBSnapshotIdentifier=SNAP, DBInstanceIdentifier=DB)
    return sgs, key


def settings(inst):
    return {
        "subnet_group": inst["DBSubnetGroup"]["DBSubnetGroupName"],
        "sgs": sorted(g["VpcSecurityGroupId"] for g in inst["VpcSecurityGroups"]),
        "parameter_group": inst["DBParameterGroups"][0]["DBParameterGroupName"],
        "multi_az": inst["MultiAZ"], "encrypted": inst["StorageEncrypted"], "kms": inst["KmsKeyId"],
        "deletion_protection": inst["DeletionProtection"], "public": inst["PubliclyAccessible"],
        "copy_tags": inst["CopyTagsToSnapshot"], "logs": inst.get("EnabledCloudwatchLogsExports", []),
        "retention": inst["BackupRetentionPeriod"], "class": inst["DBInstanceClass"],
        "port": inst["Endpoint"]["Port"], "iam_auth": inst["IAMDatabaseAuthenticationEnabled"],
    }


def mutating(moto, actions):
    """The conftest's mutating calls plus the restore and reboot calls its prefixes do not cover."""
    return [a for a in actions if a in moto.mutating(actions) or a.startswith(("Restore", "Reboot"))]


def describe(rds, ident):
    return rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]


def tags(rds, inst):
    return {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(ResourceName=inst["DBInstanceArn"])["TagList"]}


def restore_task(**args):
    return {"name": "restore", "webstack.platform.rds_restore": dict(
        {"db_instance_identifier": DB, "wait_timeout": 60, "poll_interval": 1, "tags": {"Restore": "it"}}, **args),
        "ignore_errors": True}


def test_snapshot_restore_check_then_apply_then_rerun(moto, run_playbook):
    moto.reset()
    rds = moto.client("rds")
    sgs, key = build_original(moto)
    before = describe(rds, DB)
    expected = settings(before)
    assert expected["sgs"] == sgs and expected["kms"] == key
    task = restore_task(snapshot_identifier=SNAP, restored_identifier=f"{DB}-restore-1",
                        replaced_identifier=f"{DB}-replaced-1")

    moto.start_recording()
    stats, results = run_playbook([task], check=True)
    assert stats["failures"] == 0 and not results[0].get("failed"), results
    assert results[0]["changed"] is True
    assert any(s.startswith("would restore") for s in results[0]["steps"]), results[0]["steps"]
    assert mutating(moto, moto.recorded_actions()) == []
    assert [i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]] == [DB]

    moto.start_recording()
    started = time.monotonic()
    stats, results = run_playbook([task])
    print(f"\nansible-playbook with the restore task: {time.monotonic() - started:.1f} s wall")
    res = results[0]
    assert not res.get("failed") and res["changed"] is True, res
    actions = moto.recorded_actions()
    print(f"\nsnapshot restore on moto: {res['elapsed']} s in the module, {len(actions)} API calls: {actions}")
    assert mutating(moto, actions) == [
        "RestoreDBInstanceFromDBSnapshot", "ModifyDBInstance", "ModifyDBInstance", "AddTagsToResource"], (actions, res["steps"])

    new, old = describe(rds, DB), describe(rds, f"{DB}-replaced-1")
    assert settings(new) == expected
    assert settings(old) == expected  # the old one keeps everything, deletion protection included
    assert new["Endpoint"]["Address"] == before["Endpoint"]["Address"]  # the endpoint follows the identifier
    assert old["Endpoint"]["Address"] != before["Endpoint"]["Address"]
    assert old["DBInstanceArn"] == before["DBInstanceArn"].replace(f":db:{DB}", f":db:{DB}-replaced-1")
    assert tags(rds, new) == {"Project": "webstack", "Restore": "it", "webstack:restored-from": f"snapshot:{SNAP}"}
    old_tags = tags(rds, old)
    assert old_tags["webstack:replaced-by-restore-from"] == f"snapshot:{SNAP}"
    assert datetime.strptime(old_tags["webstack:replaced-at"], "%Y-%m-%dT%H:%M:%SZ")
    assert res["instance"]["id"] == DB and res["replaced"]["id"] == f"{DB}-replaced-1"
    assert res["settings_verified"]["vpc_security_group_ids"] == sgs
    assert res["settings_verified"]["kms_key_id"] == key

    moto.start_recording()
    stats, results = run_playbook([task])
    assert results[0]["changed"] is False and not results[0].get("failed"), results
    actions = moto.recorded_actions()
    print(f"rerun after completion: {len(actions)} API calls: {actions}")
    assert mutating(moto, actions) == []
    assert any(s.startswith("resumed: names already swapped") for s in results[0]["steps"])


def test_point_in_time_window_resume_and_bad_source(moto, run_playbook):
    moto.reset()
    rds = moto.client("rds")
    sgs, _key = build_original(moto)
    expected = settings(describe(rds, DB))

    # Outside the window (retention is 7 days): fails before any change, naming restore_time.
    moto.start_recording()
    stats, results = run_playbook([
        restore_task(restore_time=(datetime.now(timezone.utc) - timedelta(days=8)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                     restored_identifier=f"{DB}-restore-2", replaced_identifier=f"{DB}-replaced-2"),
        restore_task(snapshot_identifier="h3-it-no-such-snapshot", restored_identifier=f"{DB}-restore-2",
                     replaced_identifier=f"{DB}-replaced-2"),
    ])
    assert results[0]["failed"] and "restore_time" in results[0]["msg"] and "outside" in results[0]["msg"], results[0]
    assert results[1]["failed"] and "snapshot_identifier h3-it-no-such-snapshot" in results[1]["msg"], results[1]
    assert mutating(moto, moto.recorded_actions()) == []

    # An interrupted run: the restored instance exists already, made with AWS's defaults (the
    # VPC's default security group, a default parameter group, 1-day retention). The rerun does
    # not restore again; it sets the original's settings on it, swaps the names and verifies.
    rds.create_db_parameter_group(DBParameterGroupName="h3-it-default-pg15", DBParameterGroupFamily="postgres15",
                                  Description="stands in for default.postgres15, which moto does not have")
    rds.restore_db_instance_to_point_in_time(SourceDBInstanceIdentifier=DB, TargetDBInstanceIdentifier=f"{DB}-restore-2",
                                             UseLatestRestorableTime=True)
    rds.modify_db_instance(DBInstanceIdentifier=f"{DB}-restore-2", DBParameterGroupName="h3-it-default-pg15",
                           VpcSecurityGroupIds=[moto.client("ec2").describe_security_groups(
                               Filters=[{"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]],
                           BackupRetentionPeriod=1, ApplyImmediately=True)
    when = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    moto.start_recording()
    stats, results = run_playbook([restore_task(restore_time=when, restored_identifier=f"{DB}-restore-2",
                                                replaced_identifier=f"{DB}-replaced-2")])
    res = results[0]
    assert not res.get("failed") and res["changed"] is True, res
    assert any(s.startswith("resumed: h3-it-db-restore-2 exists") for s in res["steps"]), res["steps"]
    assert any("backup_retention_period=7" in s and "vpc_security_group_ids" in s for s in res["steps"]), res["steps"]
    actions = mutating(moto, moto.recorded_actions())
    assert "RestoreDBInstanceToPointInTime" not in actions and "ModifyDBInstance" in actions
    assert settings(describe(rds, DB)) == expected
    assert settings(describe(rds, f"{DB}-replaced-2")) == expected
    assert tags(rds, describe(rds, f"{DB}-replaced-2"))["webstack:replaced-by-restore-from"] == f"point-in-time:{when}"

    # A fresh point-in-time restore of the (new) instance inside the window.
    stats, results = run_playbook([restore_task(restore_time=when, restored_identifier=f"{DB}-restore-3",
                                                replaced_identifier=f"{DB}-replaced-3")])
    res = results[0]
    assert not res.get("failed") and res["changed"] is True, res
    assert settings(describe(rds, DB)) == expected
    assert sorted(i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]) == [
        DB, f"{DB}-replaced-2", f"{DB}-replaced-3"]
    assert res["settings_verified"]["vpc_security_group_ids"] == sgs
