"""Drift injected with boto3 into a converged sandbox: `--check --diff` reports each drift and changes nothing;
provision repairs each; a last check run is clean. (Compute/edge drift: test_ecs_alb_alarms*.py.)"""
from __future__ import annotations

import pytest

from support.aws import mutating

NAME = "webstack-sandbox"
BUCKET = f"{NAME}-backups-logs"


def _group(ec2, name):
    return ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]}])["SecurityGroups"][0]


def _vpc_id(ec2):
    return ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [NAME]}])["Vpcs"][0]["VpcId"]


def _default_group(ec2):
    return ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [_vpc_id(ec2)]},
                                                 {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]


def _private_table(ec2):
    return ec2.describe_route_tables(Filters=[{"Name": "tag:Name", "Values": [f"{NAME}-private-eu-west-1b"]}])["RouteTables"][0]


def _has_default_route(table):
    return any(r.get("DestinationCidrBlock") == "0.0.0.0/0" for r in table["Routes"])


def _state(moto):
    """Everything the drifts touch, as plain values."""
    ec2, s3, rds, sm = (moto.client(s) for s in ("ec2", "s3", "rds", "secretsmanager"))
    pg = _group(ec2, f"{NAME}-postgres")
    return {
        "postgres_open_to_world": any(r.get("CidrIp") == "0.0.0.0/0" for p in pg["IpPermissions"] for r in p["IpRanges"]),
        "default_sg_rules": len(_default_group(ec2)["IpPermissions"]),
        "private_default_route": _has_default_route(_private_table(ec2)),
        "public_access_blocked": s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]["BlockPublicPolicy"],
        "rds_backup_retention": rds.describe_db_instances(DBInstanceIdentifier=f"{NAME}-postgres")["DBInstances"][0][
            "BackupRetentionPeriod"],
        "secret_value_is_vault": sm.get_secret_value(SecretId=f"{NAME}/redis/auth-token")["SecretString"] != "changed-by-hand",
        "flow_logs": len(ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [_vpc_id(ec2)]}])["FlowLogs"]),
    }


CONVERGED = {"postgres_open_to_world": False, "default_sg_rules": 0, "private_default_route": True,
             "public_access_blocked": True, "rds_backup_retention": 1, "secret_value_is_vault": True, "flow_logs": 1}
DRIFTED = {"postgres_open_to_world": True, "default_sg_rules": 1, "private_default_route": False,
           "public_access_blocked": False, "rds_backup_retention": 5, "secret_value_is_vault": False, "flow_logs": 0}


@pytest.fixture(scope="module")
def drifted(provisioned, moto_server):
    moto = moto_server
    assert _state(moto) == CONVERGED
    ec2, s3, rds, sm = (moto.client(s) for s in ("ec2", "s3", "rds", "secretsmanager"))
    ec2.authorize_security_group_ingress(GroupId=_group(ec2, f"{NAME}-postgres")["GroupId"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.authorize_security_group_ingress(GroupId=_default_group(ec2)["GroupId"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.delete_route(RouteTableId=_private_table(ec2)["RouteTableId"], DestinationCidrBlock="0.0.0.0/0")
    s3.put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False, "RestrictPublicBuckets": False})
    rds.modify_db_instance(DBInstanceIdentifier=f"{NAME}-postgres", BackupRetentionPeriod=5, ApplyImmediately=True)
    sm.put_secret_value(SecretId=f"{NAME}/redis/auth-token", SecretString="changed-by-hand")
    flow_logs = ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [_vpc_id(ec2)]}])["FlowLogs"]
    ec2.delete_flow_logs(FlowLogIds=[f["FlowLogId"] for f in flow_logs])
    assert _state(moto) == DRIFTED
    return moto


@pytest.fixture(scope="module")
def check_run(drifted, ansible):
    drifted.recorder_start()
    result = ansible("playbooks/provision.yml", check=True, diff=True)
    result.calls = drifted.recorder_stop()
    return result


def test_check_mode_reports_each_drift(check_run):
    assert check_run.rc == 0, check_run.summary()
    network = check_run.result_of("Network (VPC, subnets, gateways, route tables, default SG without rules, flow logs, "
                                  "subnet groups)")
    text = "\n".join(network["changes"])
    assert "revoke 1 ingress rule(s) of the default security group" in text
    assert "route 0.0.0.0/0 -> nat-" in text and "-private-eu-west-1b" in text
    assert "create flow log" in text
    groups = check_run.result_of("Security groups (ALB from the internet, app from the ALB, PostgreSQL and Redis from the app)")
    assert groups["changes"] == [f"{NAME}-postgres: revoke ingress tcp/5432 cidr 0.0.0.0/0"]
    storage = check_run.result_of("Storage changes (the task above hides its output because it carries secrets)")
    assert f"bucket {BUCKET}: set public access block" in storage["msg"]
    assert f"secret {NAME}/redis/auth-token: new value (not shown)" in storage["msg"]
    assert "changed-by-hand" not in check_run.stdout
    assert check_run.result_of("PostgreSQL instance (started, not waited on)")["changed"] is True


def test_check_mode_changes_nothing(check_run, drifted):
    assert [str(c) for c in mutating(check_run.calls)] == []
    assert _state(drifted) == DRIFTED


def test_provision_repairs_each_drift(check_run, drifted, ansible):
    repair = ansible("playbooks/provision.yml")
    assert repair.rc == 0, repair.summary()
    assert _state(drifted) == CONVERGED
    clean = ansible("playbooks/provision.yml", check=True, diff=True)
    assert clean.rc == 0 and clean.changed == 0, clean.summary()
