"""Emulator-backed tests of the modules of the network/storage roles (webstack.platform.vpc_network,
webstack.platform.security_groups, webstack.platform.storage) and of the deploy lock of role release
(webstack.platform.s3_lock). The modules run in-process (their `main()` with patched module arguments) against the
moto server of this test module (conftest), reset before each test: create, no-op, drift + check mode, repair, bad
input, delete."""
from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import boto3
import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.webstack.platform.plugins.modules import s3_lock as s3_lock_mod
from ansible_collections.webstack.platform.plugins.modules import security_groups as groups_mod
from ansible_collections.webstack.platform.plugins.modules import storage as storage_mod
from ansible_collections.webstack.platform.plugins.modules import vpc_network as network_mod

REGION = "eu-west-1"


class Emulator:
    """The conftest's moto server as these tests use it: clients in REGION, the recorder started and stopped."""

    def __init__(self, server):
        self.server, self.url = server, server.url

    def client(self, service):
        return boto3.client(service, region_name=REGION, endpoint_url=self.url,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def recorder_start(self):
        self.server.start_recording()

    def recorder_stop(self):
        return self.server.recorded_actions()


@pytest.fixture(name="moto")
def emulator(moto):
    moto.reset()
    return Emulator(moto)


@pytest.fixture
def mutating(moto):
    """The calls of a recording that change something (the conftest's list)."""
    return moto.server.mutating


@pytest.fixture
def run(moto, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")

    def _run(mod, args: dict, check: bool = False) -> dict:
        args = {"region": REGION, "endpoint_url": moto.url, **args}
        if check:
            args["_ansible_check_mode"] = True
        out = io.StringIO()
        with patch_module_args(args), redirect_stdout(out), pytest.raises(SystemExit):
            mod.main()
        return json.loads(out.getvalue())

    return _run


NET = dict(name="unit-net", cidr_block="10.80.0.0/16", availability_zones=["eu-west-1a", "eu-west-1b"],
           public_subnet_cidrs=["10.80.0.0/24", "10.80.1.0/24"], private_subnet_cidrs=["10.80.16.0/20", "10.80.32.0/20"],
           database_subnet_cidrs=["10.80.100.0/24", "10.80.101.0/24"], nat_gateways="single",
           flow_logs={"enabled": False}, db_subnet_group_name="unit-net-db", cache_subnet_group_name="unit-net-cache",
           tags={"Environment": "unit"})


# -- webstack.platform.vpc_network ------------------------------------------------------------------------
def test_network_create_noop_check_repair_delete(run, moto, mutating):
    planned = run(network_mod, NET, check=True)
    assert planned["changed"] and any("create VPC unit-net" in c for c in planned["changes"])
    assert moto.client("ec2").describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["unit-net"]}])["Vpcs"] == []

    created = run(network_mod, NET)
    assert created["changed"]
    assert len(created["subnet_ids"]["database"]) == 2 and len(created["nat_gateway_ids"]) == 1

    moto.recorder_start()
    again = run(network_mod, NET)
    calls = moto.recorder_stop()
    assert again["changed"] is False, again["changes"]
    assert mutating(calls) == [] and len(calls) <= 15
    assert again["vpc_id"] == created["vpc_id"]

    # drift: the private route of the second AZ is gone; nat_gateways per_az asks for a second NAT gateway
    ec2 = moto.client("ec2")
    ec2.delete_route(RouteTableId=created["route_table_ids"]["private"][1], DestinationCidrBlock="0.0.0.0/0")
    moto.recorder_start()
    report = run(network_mod, {**NET, "nat_gateways": "per_az"}, check=True)
    assert mutating(moto.recorder_stop()) == []
    assert report["changed"]
    assert any(c.startswith("create NAT gateway unit-net-nat-eu-west-1b") for c in report["changes"])
    assert any("route 0.0.0.0/0" in c and "unit-net-private-eu-west-1b" in c for c in report["changes"])
    repaired = run(network_mod, {**NET, "nat_gateways": "per_az"})
    assert repaired["changed"] and len(repaired["nat_gateway_ids"]) == 2
    assert run(network_mod, {**NET, "nat_gateways": "per_az"})["changed"] is False

    deleted = run(network_mod, {"name": "unit-net", "state": "absent", "db_subnet_group_name": "unit-net-db"})
    assert deleted["changed"]
    assert ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["unit-net"]}])["Vpcs"] == []
    assert run(network_mod, {"name": "unit-net", "state": "absent"})["changed"] is False


def test_network_refuses_a_changed_cidr_and_bad_plans(run):
    run(network_mod, NET)
    moved = run(network_mod, {**NET, "cidr_block": "10.81.0.0/16"})
    assert moved.get("failed") and "cannot change" in moved["msg"]
    short = run(network_mod, {**NET, "private_subnet_cidrs": ["10.80.16.0/20"]})
    assert short.get("failed") and "private_subnet_cidrs" in short["msg"]
    no_dest = run(network_mod, {**NET, "flow_logs": {"enabled": True}})
    assert no_dest.get("failed") and "destination_arn" in no_dest["msg"]


# -- webstack.platform.security_groups --------------------------------------------------------------------
def _groups(vpc_id):
    return dict(vpc_id=vpc_id, tags={"Environment": "unit"}, groups=[
        {"key": "alb", "name": "unit-alb", "description": "alb",
         "ingress": [{"from_port": 443, "cidrs": ["0.0.0.0/0"]}], "egress": [{"from_port": 8000, "groups": ["unit-app"]}]},
        {"key": "app", "name": "unit-app", "description": "app",
         "ingress": [{"from_port": 8000, "groups": ["unit-alb"]}], "egress": []},
    ])


def test_security_groups_exact_rules(run, moto, mutating):
    vpc_id = moto.client("ec2").create_vpc(CidrBlock="10.90.0.0/16")["Vpc"]["VpcId"]
    created = run(groups_mod, _groups(vpc_id))
    assert created["changed"] and set(created["ids"]) == {"alb", "app"}
    assert run(groups_mod, _groups(vpc_id))["changed"] is False

    ec2 = moto.client("ec2")
    ec2.authorize_security_group_ingress(GroupId=created["ids"]["app"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    moto.recorder_start()
    report = run(groups_mod, _groups(vpc_id), check=True)
    assert mutating(moto.recorder_stop()) == []
    assert report["changes"] == ["unit-app: revoke ingress tcp/22 cidr 0.0.0.0/0"]
    assert report["diff"]["before"]["unit-app"]["ingress"] == ["tcp/22 cidr 0.0.0.0/0", "tcp/8000 group unit-alb"]
    assert run(groups_mod, _groups(vpc_id))["changed"] is True
    app = ec2.describe_security_groups(GroupIds=[created["ids"]["app"]])["SecurityGroups"][0]
    assert [p["FromPort"] for p in app["IpPermissions"]] == [8000]
    assert app["IpPermissionsEgress"] == []

    unknown = run(groups_mod, {**_groups(vpc_id), "groups": [
        {"name": "x", "description": "x", "ingress": [{"from_port": 1, "groups": ["nope"]}]}]})
    assert unknown.get("failed") and "outside the set" in unknown["msg"]

    gone = run(groups_mod, {**_groups(vpc_id), "state": "absent"})
    assert gone["changed"]
    assert ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["unit-alb", "unit-app"]}])["SecurityGroups"] == []


# -- webstack.platform.storage ----------------------------------------------------------------------------
STORAGE = dict(
    bucket={"name": "unit-storage-bucket", "lifecycle_rules": [
        {"ID": "r", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 30}}],
        "policy": {"Version": "2012-10-17", "Statement": [{"Sid": "DenyInsecure", "Effect": "Deny", "Principal": "*",
                                                           "Action": "s3:*", "Resource": "arn:aws:s3:::unit-storage-bucket/*",
                                                           "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]},
        "force_delete": True},
    repositories=[{"name": "unit/app", "lifecycle_policy": {"rules": [{"rulePriority": 1, "selection": {
        "tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 7},
        "action": {"type": "expire"}}]}, "force_delete": True}],
    secrets=[{"key": "token", "name": "unit/token", "value": "first-value-0123456789"},
             {"key": "db", "name": "unit/db", "value": {"username": "unit_admin", "password": "p4ssw0rd-0123456789"}}],
    recovery_window_days=0, tags={"Environment": "unit"})


def test_storage_create_noop_drift_delete(run, moto, mutating):
    created = run(storage_mod, STORAGE)
    assert created["changed"] and set(created["secrets"]) == {"token", "db"}
    assert created["repositories"]["unit/app"]["uri"].endswith("/unit/app")
    moto.recorder_start()
    again = run(storage_mod, STORAGE)
    calls = moto.recorder_stop()
    assert again["changed"] is False, again["changes"]
    assert mutating(calls) == []

    s3, sm = moto.client("s3"), moto.client("secretsmanager")
    s3.put_bucket_versioning(Bucket="unit-storage-bucket", VersioningConfiguration={"Status": "Suspended"})
    sm.put_secret_value(SecretId="unit/token", SecretString="changed-by-hand")
    moto.recorder_start()
    report = run(storage_mod, STORAGE, check=True)
    assert mutating(moto.recorder_stop()) == []
    assert "bucket unit-storage-bucket: set versioning" in report["changes"]
    assert "secret unit/token: new value (not shown)" in report["changes"]
    assert "changed-by-hand" not in json.dumps(report) and "first-value-0123456789" not in json.dumps(report)
    assert run(storage_mod, STORAGE)["changed"] is True
    assert sm.get_secret_value(SecretId="unit/token")["SecretString"] == "first-value-0123456789"
    assert json.loads(sm.get_secret_value(SecretId="unit/db")["SecretString"])["password"] == "p4ssw0rd-0123456789"

    gone = run(storage_mod, {**STORAGE, "state": "absent"})
    assert gone["changed"]
    assert sm.list_secrets()["SecretList"] == []
    assert "unit-storage-bucket" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert run(storage_mod, {**STORAGE, "state": "absent"})["changed"] is False


# -- webstack.platform.s3_lock ----------------------------------------------------------------------------
def test_s3_lock_take_refuse_expire_break_release(run, moto, clock_ahead):
    s3 = moto.client("s3")
    bucket, key = "unit-lock-bucket", "lock/unit.json"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})  # as aws_storage makes it
    s3.put_object(Bucket=bucket, Key="ledger/unit.json", Body=b'{"schema": 1, "current": "1.0.0", "releases": []}')
    lock = dict(bucket=bucket, key=key, user="alice", host="laptop")

    first = run(s3_lock_mod, dict(lock, run_id="a", operation="deploy", version="2.0.0", read_json_key="ledger/unit.json"))
    assert not first.get("failed") and first["document"]["current"] == "1.0.0"
    stored = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert stored["run_id"] == "a" and s3.head_object(Bucket=bucket, Key=key)["ServerSideEncryption"] == "AES256"

    refused = run(s3_lock_mod, dict(lock, run_id="b", operation="rollback", user="bob"))
    assert refused["failed"]
    for part in ("deploy of 2.0.0 by alice on laptop", first["holder"]["taken_at"], "release_lock_break"):
        assert part in refused["msg"], (part, refused["msg"])
    checked = run(s3_lock_mod, dict(lock, run_id="b", operation="rollback"), check=True)
    assert checked["failed"]  # check mode refuses too

    other = run(s3_lock_mod, dict(lock, run_id="b", state="absent"))  # another run's release leaves it
    assert other["changed"] is False and json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())["run_id"] == "a"

    broke = run(s3_lock_mod, dict(lock, run_id="b", operation="deploy", break_lock=True))
    assert not broke.get("failed") and broke["broken"]["run_id"] == "a"

    clock_ahead(7200)  # b's lock expired
    later = run(s3_lock_mod, dict(lock, run_id="c", operation="restore"))
    assert not later.get("failed") and later["broken"]["run_id"] == "b"
    clock_ahead(0)

    released = run(s3_lock_mod, dict(lock, run_id="c", state="absent"))
    assert released["changed"] is True
    assert s3.list_objects_v2(Bucket=bucket, Prefix="lock/").get("KeyCount") == 0
    again = run(s3_lock_mod, dict(lock, run_id="d", operation="deploy"))  # free again (a delete marker is latest)
    assert not again.get("failed") and again["broken"] is None
