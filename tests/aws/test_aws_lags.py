"""The playbooks against AWS's documented lags, end to end: tests/support/awsproxy.py sits on 127.0.0.1 in front of the
moto server and answers like AWS does while long operations are under way (moto finishes them at once).

- first provision: RDS and ElastiCache are `creating` without an endpoint for a few polls; the provision must wait
  for them and compose the services' environment from the endpoints read after the waits.
- teardown: deleted ECS services stay DRAINING for a few polls (the cluster cannot be deleted meanwhile), security
  groups and subnets fail with DependencyViolation a few times, Elastic IPs are still in use after their NAT
  gateway was deleted; the teardown must wait and retry within its deadlines and remove everything.
"""
from __future__ import annotations

import base64
import json
import urllib.request
from urllib.parse import parse_qs

import pytest

from support.aws import run_playbook
from support.awsproxy import AwsProxy, Lags

pytestmark = pytest.mark.aws

NAME = "webstack-sandbox"
SERVICES = ("web", "api", "worker")


@pytest.fixture(scope="module")
def proxies():
    started = []

    def start(upstream: str, **lags) -> AwsProxy:
        proxy = AwsProxy(upstream, Lags(**lags)).start()
        started.append(proxy)
        return proxy
    yield start
    for proxy in started:
        proxy.stop()


def container_env(ecs, task_definition: str) -> dict:
    td = ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    return {e["name"]: e["value"] for e in td["containerDefinitions"][0].get("environment", [])}


def test_first_provision_waits_for_the_endpoints_and_composes_the_environment_from_them(moto_server, proxies):
    moto_server.reset()
    proxy = proxies(moto_server.url, rds_creating_polls=5, cache_creating_polls=3)
    result = run_playbook("playbooks/provision.yml", endpoint_url=proxy.url)
    assert result.rc == 0, result.summary()
    # AWS's answers reached the playbook: the creations returned no endpoint and the waits polled through `creating`
    assert proxy.shaped("CreateDBInstance") and proxy.shaped("CreateReplicationGroup"), proxy.log
    creating_polls = [s.action for s in proxy.shaped() if s.action in ("DescribeDBInstances", "DescribeReplicationGroups")]
    assert creating_polls.count("DescribeDBInstances") == 5 and creating_polls.count("DescribeReplicationGroups") == 3
    rds, ec, ecs = (moto_server.client(s) for s in ("rds", "elasticache", "ecs"))
    db = rds.describe_db_instances(DBInstanceIdentifier=f"{NAME}-postgres")["DBInstances"][0]["Endpoint"]
    redis = ec.describe_replication_groups(ReplicationGroupId=f"{NAME}-redis")["ReplicationGroups"][0]
    primary = redis["NodeGroups"][0]["PrimaryEndpoint"]
    services = ecs.describe_services(cluster=NAME, services=list(SERVICES))["services"]
    assert sorted(s["serviceName"] for s in services) == sorted(SERVICES)
    for service in services:
        env = container_env(ecs, service["taskDefinition"])
        assert env["APP_DATABASE_HOST"] == db["Address"] and env["APP_DATABASE_PORT"] == str(db["Port"]), env
        assert env["APP_REDIS_HOST"] == primary["Address"] and env["APP_REDIS_PORT"] == str(primary["Port"]), env
        assert env["APP_REDIS_SSL"] == "true", env
    # the published facts are the contract other layers read (role READMEs)
    published = {name: res.get("ansible_facts", {}) for name, _h, res in result.tasks()
                 if name.endswith(("Publish the PostgreSQL endpoint (rds_endpoint)", "Publish the Redis endpoint (elasticache_endpoint)"))}
    facts = {k: v for f in published.values() for k, v in f.items()}
    assert facts["rds_endpoint"] == {"address": db["Address"], "port": db["Port"]}, facts
    assert facts["elasticache_endpoint"] == {"address": primary["Address"], "port": primary["Port"], "tls": True}, facts


def test_provision_after_aws_upgraded_the_minor_version_keeps_it(moto_server, proxies):
    """auto_minor_version_upgrade: AWS moved the instance from 15.7 to 15.8 on its own. The next provision must not
    ask for 15.7 (AWS: "Cannot upgrade postgres from 15.8 to 15.7")."""
    proxy = proxies(moto_server.url, rds_engine_upgraded_to="15.8")
    result = run_playbook("playbooks/provision.yml", endpoint_url=proxy.url)
    assert result.rc == 0, result.summary()
    assert proxy.shaped("DescribeDBInstances"), "the upgraded version reached the playbook"
    assert not [s for s in proxy.log if s.action == "ModifyDBInstance"], [s for s in proxy.log if s.service == "rds"]
    assert result.changed == 0, result.summary()


def recording(moto_server) -> list[tuple[str, str, dict]]:
    """The emulator's recording in order: (service, action, parameters) with the ECS JSON bodies parsed."""
    with urllib.request.urlopen(f"{moto_server.url}/moto-api/recorder/download-recording", timeout=30) as resp:
        lines = resp.read().decode().splitlines()
    out = []
    for line in filter(None, lines):
        entry = json.loads(line)
        headers = {k.lower(): v for k, v in (entry.get("headers") or {}).items()}
        body = entry.get("body") or ""
        if entry.get("body_encoded"):
            body = base64.b64decode(body).decode("utf-8", "replace")
        target = headers.get("x-amz-target", "")
        if target:
            out.append(("json", target.rsplit(".", 1)[-1], json.loads(body or "{}")))
        else:
            params = {k: v[0] for k, v in parse_qs(body).items()}
            out.append(("query", params.get("Action", ""), params))
    return out


def test_restore_stops_writes_for_the_swap_and_reports_the_downtime(moto_server):
    """AWS's procedure for replacing an instance by renaming: stop the traffic first. Every service is at 0 tasks
    before the first rename, and started again (new deployment, back to its count) only after the second."""
    backup = run_playbook("playbooks/backup.yml", endpoint_url=moto_server.url)
    assert backup.rc == 0, backup.summary()
    snapshots = sorted(s["DBSnapshotIdentifier"] for s in moto_server.client("rds").describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
                       if "-backup-" in s["DBSnapshotIdentifier"])
    moto_server.recorder_start()
    result = run_playbook("playbooks/restore.yml", endpoint_url=moto_server.url,
                          extra_vars={"confirm_restore": NAME, "restore_snapshot": snapshots[-1]})
    moto_server.recorder_stop()
    calls = recording(moto_server)
    assert result.rc == 0, result.summary()
    renames = [i for i, (_p, action, params) in enumerate(calls)
               if action == "ModifyDBInstance" and params.get("NewDBInstanceIdentifier")]
    assert len(renames) == 2, [c[:2] for c in calls]
    updates = [(i, params) for i, (_p, action, params) in enumerate(calls) if action == "UpdateService"]
    stops = {params["service"]: i for i, params in updates if params.get("desiredCount") == 0}
    starts = {params["service"]: (i, params) for i, params in updates if params.get("forceNewDeployment")}
    assert sorted(stops) == sorted(starts) == sorted(SERVICES), updates
    assert max(stops.values()) < renames[0], "every service is stopped before the first rename"
    assert min(i for i, _params in starts.values()) > renames[1], "the services start only after the swap"
    assert all(params.get("desiredCount") == 1 for _i, params in starts.values()), starts  # back to their count
    report = result.result_of("Report the restore")["msg"]
    assert "The application was down (writes stopped, no task serving) for" in report, report
    assert "Read replicas of the old instance stay with it" in report and "no-delete-automated-backups" in report
    # autoscaling held while stopped, resumed after
    suspended = [p for _k, a, p in calls if a == "RegisterScalableTarget"]
    assert [p["SuspendedState"]["DynamicScalingOutSuspended"] for p in suspended] == [True] * 3 + [False] * 3, suspended
    ecs = moto_server.client("ecs")
    assert all(s["desiredCount"] == 1 for s in ecs.describe_services(cluster=NAME, services=list(SERVICES))["services"])


def test_teardown_waits_for_draining_services_and_released_dependencies(moto_server, proxies):
    """Deleted services stay DRAINING for 3 polls (DeleteCluster refused meanwhile), every security group and subnet
    is refused twice with DependencyViolation, the NAT gateway's Elastic IP once with InvalidIPAddress.InUse; and an
    earlier teardown of the same environment left its final snapshot."""
    # an earlier teardown of the same environment left its final snapshot (a fixed `<id>-final` name collides)
    rds = moto_server.client("rds")
    rds.create_db_snapshot(DBSnapshotIdentifier=f"{NAME}-postgres-final", DBInstanceIdentifier=f"{NAME}-postgres")
    proxy = proxies(moto_server.url, ecs_draining_polls=3, ec2_dependency_violations=2, ec2_eip_in_use=1)
    result = run_playbook("playbooks/teardown.yml", endpoint_url=proxy.url, extra_vars={"confirm_teardown": NAME})
    assert result.rc == 0, result.summary()
    refused = [(s.service, s.action) for s in proxy.shaped() if s.shaped == "refused"]
    assert ("ec2", "DeleteSubnet") in refused and ("ec2", "DeleteSecurityGroup") in refused, refused
    assert ("ec2", "ReleaseAddress") in refused, refused
    assert len([s for s in proxy.shaped("DescribeServices") if s.shaped == "DRAINING"]) >= 3
    assert ("ecs", "DeleteCluster") not in refused, "the cluster is deleted once the services drained, not before"
    ec2, ecs = moto_server.client("ec2"), moto_server.client("ecs")
    assert ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [NAME]}])["Vpcs"] == []
    assert [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"].startswith(NAME)] == []
    assert [c["status"] for c in ecs.describe_clusters(clusters=[NAME])["clusters"]] in ([], ["INACTIVE"])
    assert [a for a in ec2.describe_addresses()["Addresses"] if a.get("AllocationId")] == []
    finals = [s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots()["DBSnapshots"]
              if s["DBSnapshotIdentifier"].startswith(f"{NAME}-postgres-final")]
    assert len(finals) == 2, finals  # the earlier one kept, this teardown's own next to it

