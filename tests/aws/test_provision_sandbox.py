"""Provision the sandbox against the emulator: idempotence, check mode, call order, and a boto3 read-back of
the storage, network and data layers (the compute/edge layers are read back in test_ecs_alb_alarms*.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.aws import ROOT, mutating

NAME = "webstack-sandbox"
SECRETS = ROOT / ".secrets" / "sandbox"


@pytest.fixture(scope="module")
def vpc(provisioned, ec2):
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [NAME]}])["Vpcs"]
    assert len(vpcs) == 1
    return vpcs[0]


def _rules(perms):
    out = set()
    for p in perms:
        ports = (p.get("FromPort"), p.get("ToPort"))
        for r in p.get("IpRanges", []):
            out.add((p["IpProtocol"], *ports, r["CidrIp"]))
        for r in p.get("UserIdGroupPairs", []):
            out.add((p["IpProtocol"], *ports, r["GroupId"]))
    return out


def test_first_run_creates_everything(provisioned):
    assert provisioned.changed > 0, provisioned.summary()
    assert len(mutating(provisioned.calls)) > 0


def test_second_run_changes_nothing(provisioned, ansible):
    again = ansible("playbooks/provision.yml", record=True)
    assert again.rc == 0, again.summary()
    assert again.changed == 0, again.summary()
    assert [str(c) for c in mutating(again.calls)] == []


def test_check_diff_on_converged_reports_nothing(provisioned, ansible):
    check = ansible("playbooks/provision.yml", check=True, diff=True, record=True)
    assert check.rc == 0, check.summary()
    assert check.changed == 0, check.summary()
    assert [str(c) for c in mutating(check.calls)] == []


def test_long_creations_started_before_any_is_waited_on(provisioned):
    """RDS, ElastiCache (and the ALB when the edge layer is in the play) are created before the wait step polls."""
    names = [str(c) for c in provisioned.calls]
    creates = {key: names.index(key) for key in ("rds:CreateDBInstance", "elasticache:CreateReplicationGroup",
                                                 "elasticloadbalancing:CreateLoadBalancer") if key in names}
    assert "rds:CreateDBInstance" in creates and "elasticache:CreateReplicationGroup" in creates, names
    last_create = max(creates.values())
    # the RDS start returned without waiting: the instance was still `creating` in its result
    started = provisioned.result_of("PostgreSQL instance (started, not waited on)")
    assert started.get("changed") is True
    # the wait step polls the instance after every long creation was started
    rds_polls_after = [i for i, n in enumerate(names) if n == "rds:DescribeDBInstances" and i > last_create]
    assert rds_polls_after, names[last_create:]
    # nothing polled RDS between its creation and the next long creation except the module's own read-back
    first_rds, next_create = creates["rds:CreateDBInstance"], min(v for v in creates.values()
                                                                    if v > creates["rds:CreateDBInstance"])
    between = [n for n in names[first_rds:next_create] if n == "rds:DescribeDBInstances"]
    assert len(between) <= 3, names[first_rds:next_create]  # rds_instance reads the new instance back 3 times
    assert provisioned.result_of("Wait for the PostgreSQL instance to be available").get("attempts", 1) >= 1


def test_vpc_dns_and_subnets(vpc, ec2):
    assert vpc["CidrBlock"] == "10.40.0.0/16"
    for attr, key in (("enableDnsSupport", "EnableDnsSupport"), ("enableDnsHostnames", "EnableDnsHostnames")):
        assert ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute=attr)[key]["Value"] is True
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
    by_cidr = {s["CidrBlock"]: s for s in subnets}
    expected = {
        "10.40.0.0/24": ("public", "eu-west-1a"), "10.40.1.0/24": ("public", "eu-west-1b"),
        "10.40.16.0/20": ("private", "eu-west-1a"), "10.40.32.0/20": ("private", "eu-west-1b"),
        "10.40.100.0/24": ("database", "eu-west-1a"), "10.40.101.0/24": ("database", "eu-west-1b"),
    }
    assert set(by_cidr) == set(expected)
    for cidr, (tier, az) in expected.items():
        assert by_cidr[cidr]["AvailabilityZone"] == az
        tags = {t["Key"]: t["Value"] for t in by_cidr[cidr]["Tags"]}
        assert tags["Name"] == f"{NAME}-{tier}-{az}"
        assert tags["Environment"] == "sandbox"
        assert by_cidr[cidr]["MapPublicIpOnLaunch"] is False


def test_gateways_and_routes(vpc, ec2):
    vpc_id = vpc["VpcId"]
    igws = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])["InternetGateways"]
    assert len(igws) == 1
    nats = [n for n in ec2.describe_nat_gateways(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["NatGateways"]
            if n["State"] == "available"]
    assert len(nats) == 1, "sandbox asks for a single NAT gateway"
    subnets = {s["SubnetId"]: s for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]}
    assert subnets[nats[0]["SubnetId"]]["CidrBlock"] == "10.40.0.0/24", "the NAT gateway lives in the first public subnet"
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]
    by_name = {next((t["Value"] for t in rt.get("Tags", []) if t["Key"] == "Name"), None): rt for rt in tables}

    def default_route(rt):
        return next((r for r in rt["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"), None)

    def assoc_cidrs(rt):
        return {subnets[a["SubnetId"]]["CidrBlock"] for a in rt["Associations"] if a.get("SubnetId")}

    public = by_name[f"{NAME}-public"]
    assert default_route(public)["GatewayId"] == igws[0]["InternetGatewayId"]
    assert assoc_cidrs(public) == {"10.40.0.0/24", "10.40.1.0/24"}
    for az, cidr in (("eu-west-1a", "10.40.16.0/20"), ("eu-west-1b", "10.40.32.0/20")):
        private = by_name[f"{NAME}-private-{az}"]
        assert default_route(private)["NatGatewayId"] == nats[0]["NatGatewayId"]
        assert assoc_cidrs(private) == {cidr}
    database = by_name[f"{NAME}-database"]
    assert default_route(database) is None
    assert all(not r.get("GatewayId", "local").startswith("igw-") and not r.get("NatGatewayId") for r in database["Routes"])
    assert assoc_cidrs(database) == {"10.40.100.0/24", "10.40.101.0/24"}


def test_default_security_group_has_no_rules(vpc, ec2):
    group = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]},
                                                  {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]
    assert group["IpPermissions"] == []
    assert group["IpPermissionsEgress"] == []


def test_flow_logs_to_the_bucket(vpc, ec2):
    logs = ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc["VpcId"]]}])["FlowLogs"]
    assert len(logs) == 1
    assert logs[0]["TrafficType"] == "ALL"
    assert logs[0]["LogDestinationType"] == "s3"
    assert logs[0]["LogDestination"] == f"arn:aws:s3:::{NAME}-backups-logs"


def test_subnet_groups_use_the_database_subnets(vpc, ec2, moto_server):
    database = {s["SubnetId"] for s in ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}, {"Name": "cidr-block", "Values": ["10.40.100.0/24", "10.40.101.0/24"]}]
    )["Subnets"]}
    rds_group = moto_server.client("rds").describe_db_subnet_groups(DBSubnetGroupName=f"{NAME}-db")["DBSubnetGroups"][0]
    assert {s["SubnetIdentifier"] for s in rds_group["Subnets"]} == database
    cache_group = moto_server.client("elasticache").describe_cache_subnet_groups(
        CacheSubnetGroupName=f"{NAME}-cache")["CacheSubnetGroups"][0]
    assert {s["SubnetIdentifier"] for s in cache_group["Subnets"]} == database


def test_security_groups_least_privilege(vpc, ec2):
    groups = {g["GroupName"]: g for g in ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["SecurityGroups"]}
    alb, app, pg, redis = (groups[f"{NAME}-{k}"] for k in ("alb", "app", "postgres", "redis"))
    assert _rules(alb["IpPermissions"]) == {("tcp", 80, 80, "0.0.0.0/0"), ("tcp", 443, 443, "0.0.0.0/0")}
    assert _rules(alb["IpPermissionsEgress"]) == {("tcp", 8000, 8000, app["GroupId"])}
    assert _rules(app["IpPermissions"]) == {("tcp", 8000, 8000, alb["GroupId"])}
    assert _rules(app["IpPermissionsEgress"]) == {("tcp", 443, 443, "0.0.0.0/0"), ("tcp", 5432, 5432, pg["GroupId"]),
                                                  ("tcp", 6379, 6379, redis["GroupId"])}
    assert _rules(pg["IpPermissions"]) == {("tcp", 5432, 5432, app["GroupId"])}
    assert _rules(redis["IpPermissions"]) == {("tcp", 6379, 6379, app["GroupId"])}
    assert pg["IpPermissionsEgress"] == [] and redis["IpPermissionsEgress"] == []


def test_bucket_controls(provisioned, moto_server):
    s3 = moto_server.client("s3")
    bucket = f"{NAME}-backups-logs"
    pab = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(pab[k] for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"))
    enc = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert enc["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert len(rules) == 1 and rules[0]["Status"] == "Enabled"
    assert rules[0]["Expiration"]["Days"] == 365
    assert rules[0]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    assert {t["StorageClass"] for t in rules[0]["Transitions"]} == {"STANDARD_IA", "GLACIER"}
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    # log delivery may write; the TLS-only Deny is left out in the sandbox only
    # (aws_storage_bucket_deny_insecure_transport: the emulator applies it without its condition)
    assert {s["Sid"] for s in policy["Statement"]} == {"LogDeliveryWrite", "LogDeliveryAclCheck"}
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert tags["Environment"] == "sandbox"


def test_ecr_repository(provisioned, moto_server):
    ecr = moto_server.client("ecr")
    repo = ecr.describe_repositories(repositoryNames=[f"{NAME}/app"])["repositories"][0]
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"]["scanOnPush"] is True
    policy = json.loads(ecr.get_lifecycle_policy(repositoryName=f"{NAME}/app")["lifecyclePolicyText"])
    assert policy["rules"][0]["selection"]["tagStatus"] == "untagged"


def test_secrets_hold_the_vault_values(provisioned, moto_server):
    sm = moto_server.client("secretsmanager")
    master = json.loads(sm.get_secret_value(SecretId=f"{NAME}/rds/master")["SecretString"])
    assert master["username"] == "webstack_admin"
    assert master["password"] == Path(SECRETS / "rds_master_password").read_text().strip()
    assert len(master["password"]) >= 16
    token = sm.get_secret_value(SecretId=f"{NAME}/redis/auth-token")["SecretString"]
    assert token == Path(SECRETS / "elasticache_auth_token").read_text().strip()


def test_rds_instance_controls(vpc, ec2, moto_server):
    rds = moto_server.client("rds")
    db = rds.describe_db_instances(DBInstanceIdentifier=f"{NAME}-postgres")["DBInstances"][0]
    assert db["DBInstanceStatus"] == "available"
    assert db["Engine"] == "postgres" and db["DBInstanceClass"] == "db.t3.micro"
    assert db["PubliclyAccessible"] is False
    assert db["StorageEncrypted"] is True
    assert db["MultiAZ"] is False  # sandbox; prod asks for Multi-AZ (checked by preflight)
    assert db["BackupRetentionPeriod"] == 1
    assert db["CopyTagsToSnapshot"] is True
    assert sorted(db["EnabledCloudwatchLogsExports"]) == ["postgresql", "upgrade"]
    assert db["DBSubnetGroup"]["DBSubnetGroupName"] == f"{NAME}-db"
    assert db["DBParameterGroups"][0]["DBParameterGroupName"] == f"{NAME}-postgres15"
    assert db["StorageType"] == "gp2" and db["MaxAllocatedStorage"] == 50
    pg_sg = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"{NAME}-postgres"]}])["SecurityGroups"][0]
    assert [g["VpcSecurityGroupId"] for g in db["VpcSecurityGroups"]] == [pg_sg["GroupId"]]
    params = {p["ParameterName"]: p.get("ParameterValue") for p in rds.describe_db_parameters(
        DBParameterGroupName=f"{NAME}-postgres15", Source="user")["Parameters"]}
    assert params.get("rds.force_ssl") == "1"


def test_redis_replication_group_controls(vpc, ec2, moto_server):
    ec = moto_server.client("elasticache")
    group = ec.describe_replication_groups(ReplicationGroupId=f"{NAME}-redis")["ReplicationGroups"][0]
    assert group["Status"] == "available"
    assert group["AtRestEncryptionEnabled"] is True
    assert group["TransitEncryptionEnabled"] is True
    assert group["AuthTokenEnabled"] is True
    assert group["SnapshotRetentionLimit"] == 1
    assert group["CacheNodeType"] == "cache.t3.micro"
