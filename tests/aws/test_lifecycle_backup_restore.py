"""backup.yml, restore.yml and status.yml on the aws sandbox (roles rds_backup, aws_status), end to end against
the moto server, read back with boto3; the pg_dump part against a real PostgreSQL container (support.aws.sandbox_pg())
through the reachable-address option.

One sandbox is provisioned for the module and the tests run in file order on its state: three backups (retention
keeps 2, ledger-referenced and foreign snapshots spared; the second one with pg_dump), two refused restores
(no confirmation; point in time outside the window: 0 mutating API calls), a restore of the last backup, status.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import subprocess
import urllib.request
from pathlib import Path

import pytest

from support.aws import assert_refused_in_preflight, free_port, mutating, sandbox_pg

pytestmark = pytest.mark.aws

NAME = "webstack-sandbox"
INSTANCE = f"{NAME}-postgres"
BACKUP_PREFIX = f"{INSTANCE}-backup-"
REDIS_GROUP = f"{NAME}-redis"
REDIS_PREFIX = f"{REDIS_GROUP}-backup-"
BUCKET = f"{NAME}-backups-logs"
DUMP_PREFIX = f"pg_dump/{NAME}/{NAME}-"
LEDGER_KEY = f"ledger/{NAME}.json"
SERVICES = ("web", "api", "worker")
KEEP = 2
# In the ledger (a release's pre-migration snapshot) and named like a backup, and the oldest: never pruned.
LEDGER_SNAPSHOT = f"{BACKUP_PREFIX}20000101t000000"
# Not a backup of this role (another prefix): never touched.
FOREIGN_SNAPSHOT = f"{INSTANCE}-premigrate-1-0-0-20000101t000000"
OLD_DUMPS = [f"{DUMP_PREFIX}20000101t000000.dump", f"{DUMP_PREFIX}20000102t000000.dump"]
PG_RESTORE = "/usr/lib/postgresql/15/bin/pg_restore"


@pytest.fixture(scope="module")
def state():
    """What the tests of this module hand on to the next ones."""
    return {}


@pytest.fixture(scope="module")
def seeded(rds, s3):
    """A ledger referencing LEDGER_SNAPSHOT, that snapshot, a foreign snapshot and two old dumps."""
    rds.create_db_snapshot(DBSnapshotIdentifier=LEDGER_SNAPSHOT, DBInstanceIdentifier=INSTANCE)
    rds.create_db_snapshot(DBSnapshotIdentifier=FOREIGN_SNAPSHOT, DBInstanceIdentifier=INSTANCE)
    ledger = {"schema": 1, "current": "1.0.0", "releases": [{
        "version": "1.0.0", "image": "example/app:1.0.0", "revisions": {}, "deployed_at": "2026-01-01T00:00:00Z",
        "deployed_by": "test", "migrations_applied": [], "snapshot_id": LEDGER_SNAPSHOT, "previous": "",
        "action": "deploy"}]}
    s3.put_object(Bucket=BUCKET, Key=LEDGER_KEY, Body=json.dumps(ledger).encode())
    for key in OLD_DUMPS:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"old dump")
    return ledger


@pytest.fixture(scope="module")
def pg(docker_images):
    """A real PostgreSQL server (the sandbox's "reachable database address") with a table to find in the dump."""
    container = sandbox_pg().start()
    container.query("CREATE TABLE backup_probe (id int PRIMARY KEY, note text NOT NULL)")
    container.query("INSERT INTO backup_probe SELECT g, 'row ' || g FROM generate_series(1, 500) g")
    yield container
    container.stop()


def backup_snapshots(rds) -> dict:
    snaps = rds.describe_db_snapshots(DBInstanceIdentifier=INSTANCE, SnapshotType="manual")["DBSnapshots"]
    return {s["DBSnapshotIdentifier"]: s for s in snaps}


def redis_backups(elasticache) -> list[str]:
    snaps = elasticache.describe_snapshots(ReplicationGroupId=REDIS_GROUP)["Snapshots"]
    return sorted(s["SnapshotName"] for s in snaps if s["SnapshotName"].startswith(REDIS_PREFIX))


def tags_of(rds, arn) -> dict:
    return {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(ResourceName=arn)["TagList"]}


def backup(ansible, check=False, record=False, **extra):
    return ansible("playbooks/backup.yml", check=check, record=record,
                   extra_vars={"rds_backup_keep_snapshots": KEEP, "rds_backup_redis_keep_snapshots": KEEP, **extra})


def new_backup(before: dict, after: dict) -> str:
    created = sorted(set(after) - set(before))
    assert len(created) == 1, f"expected one new snapshot, got {created}"
    return created[0]


def raw_recording(moto_server) -> list[dict]:
    """The emulator's recording as it came (the ECS JSON bodies included)."""
    with urllib.request.urlopen(f"{moto_server.url}/moto-api/recorder/download-recording", timeout=30) as resp:
        lines = resp.read().decode().splitlines()
    entries = []
    for line in lines:
        if not line.strip():
            continue
        entry = json.loads(line)
        body = entry.get("body") or ""
        if entry.get("body_encoded"):
            body = base64.b64decode(body).decode("utf-8", "replace")
        entry["body_text"] = body
        entries.append(entry)
    return entries


def ecs_calls(entries: list[dict], action: str) -> list[dict]:
    found = []
    for entry in entries:
        headers = {k.lower(): v for k, v in (entry.get("headers") or {}).items()}
        if headers.get("x-amz-target", "").endswith(f".{action}"):
            found.append(json.loads(entry["body_text"] or "{}"))
    return found


def container_env(ecs, task_definition: str, container: str) -> dict:
    td = ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    definition = next(c for c in td["containerDefinitions"] if c["name"] == container)
    return {e["name"]: e["value"] for e in definition.get("environment", [])}


def assert_same_settings(new: dict, original: dict) -> None:
    """Every security setting of the original (a point-in-time restore would otherwise get AWS's defaults)."""
    assert new["DBInstanceStatus"] == "available"
    assert new["DBSubnetGroup"]["DBSubnetGroupName"] == original["DBSubnetGroup"]["DBSubnetGroupName"]
    assert sorted(g["VpcSecurityGroupId"] for g in new["VpcSecurityGroups"]) == \
        sorted(g["VpcSecurityGroupId"] for g in original["VpcSecurityGroups"])
    assert [g["DBParameterGroupName"] for g in new["DBParameterGroups"]] == \
        [g["DBParameterGroupName"] for g in original["DBParameterGroups"]] == [f"{NAME}-postgres15"]
    assert new["MultiAZ"] is original["MultiAZ"] is True
    assert new["StorageEncrypted"] is True and new.get("KmsKeyId") == original.get("KmsKeyId")
    assert new["DeletionProtection"] is original["DeletionProtection"] is True
    assert new["PubliclyAccessible"] is False
    assert new["BackupRetentionPeriod"] == original["BackupRetentionPeriod"]
    assert new.get("EnabledCloudwatchLogsExports") == original.get("EnabledCloudwatchLogsExports")
    assert new["Endpoint"]["Address"] == original["Endpoint"]["Address"]


# --- backup ------------------------------------------------------------------------------------------------
def test_backup_takes_an_available_tagged_snapshot_and_a_redis_snapshot(ansible, rds, elasticache, seeded, state):
    before = backup_snapshots(rds)
    result = backup(ansible)
    assert result.rc == 0, result.summary()
    after = backup_snapshots(rds)
    snap_id = new_backup(before, after)
    assert snap_id.startswith(BACKUP_PREFIX), snap_id
    snap = after[snap_id]
    assert snap["Status"] == "available"
    assert snap["SnapshotType"] == "manual"
    tags = tags_of(rds, snap["DBSnapshotArn"])
    assert tags["webstack:backup-of"] == INSTANCE
    assert tags["Environment"] == "sandbox" and tags["ManagedBy"] == "ansible", tags
    redis = redis_backups(elasticache)
    assert len(redis) == 1 and redis[0].endswith(snap_id.removeprefix(BACKUP_PREFIX)), redis
    state["backups"] = [snap_id]
    state["redis"] = redis
    state["first_backup_seconds"] = result.seconds


def test_backup_with_pg_dump_uploads_a_verified_dump(ansible, rds, s3, pg, state, tmp_path):
    before = backup_snapshots(rds)
    result = backup(ansible, rds_backup_pg_dump=True, webstack_aws_db_address=pg.address,
                    rds_backup_keep_dumps=2)
    assert result.rc == 0, result.summary()
    state["backups"].append(new_backup(before, backup_snapshots(rds)))
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=DUMP_PREFIX).get("Contents", [])
    keys = sorted(o["Key"] for o in listed)
    new_keys = [k for k in keys if k not in OLD_DUMPS]
    assert len(new_keys) == 1, keys
    # retention by count: the newest 2 kept (the new dump and the newer old one)
    assert keys == sorted([OLD_DUMPS[1], new_keys[0]]), keys
    key = new_keys[0]
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert head.get("ServerSideEncryption") in ("AES256", "aws:kms"), head
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == head["Metadata"]["sha256"]
    assert body[:5] == b"PGDMP", "not a pg_dump custom-format archive"
    dump = tmp_path / "downloaded.dump"
    dump.write_bytes(body)
    listing = subprocess.run([PG_RESTORE, "-l", str(dump)], capture_output=True, text=True, check=True).stdout
    assert "TABLE public backup_probe" in listing, listing
    assert "TABLE DATA public backup_probe" in listing, listing
    # the password never shows; the local directory of the dump and the passfile is gone
    assert pg.password not in result.stdout + result.stderr
    workdir = Path(result.result_of("Create a temporary directory for the dump")["path"])
    assert workdir.name.startswith("rds_backup.") and not workdir.exists(), workdir
    state["dump_key"] = key


def test_retention_keeps_the_newest_and_spares_ledger_and_foreign_snapshots(ansible, rds, elasticache, state):
    before = backup_snapshots(rds)
    result = backup(ansible)
    assert result.rc == 0, result.summary()
    after = backup_snapshots(rds)
    latest = sorted(set(after) - set(before))
    assert len(latest) == 1, latest
    state["backups"].append(latest[0])
    ours = sorted(s for s in after if s.startswith(BACKUP_PREFIX) and s != LEDGER_SNAPSHOT)
    assert ours == state["backups"][-KEEP:], f"kept {ours}, backups taken {state['backups']}"
    assert state["backups"][0] not in after, "the oldest backup beyond the count should be deleted"
    assert LEDGER_SNAPSHOT in after, "a snapshot the release ledger references was pruned"
    assert FOREIGN_SNAPSHOT in after, "a snapshot of another prefix was touched"
    assert len(redis_backups(elasticache)) == KEEP, redis_backups(elasticache)
    assert state["redis"][0] not in redis_backups(elasticache)
    state["restore_from"] = latest[0]


def test_backup_check_mode_changes_nothing(ansible, rds, elasticache, s3, pg, state):
    snapshots, redis = sorted(backup_snapshots(rds)), redis_backups(elasticache)
    result = backup(ansible, check=True, record=True, rds_backup_pg_dump=True, webstack_aws_db_address=pg.address)
    assert result.rc == 0, result.summary()
    assert mutating(result.calls) == [], [str(c) for c in mutating(result.calls)]
    assert sorted(backup_snapshots(rds)) == snapshots and redis_backups(elasticache) == redis
    assert any("would take RDS snapshot" in str(res.get("msg", "")) for _n, _h, res in result.tasks()), result.summary()


# --- restore: refusals ---------------------------------------------------------------------------------------
PREFLIGHT_REFUSALS = {
    "no confirmation": ({"restore_snapshot": "{latest}"}, ["confirm_restore", f"-e confirm_restore={NAME}"]),
    "another stack's name": ({"restore_snapshot": "{latest}", "confirm_restore": "webstack-prod"},
                             ["confirm_restore", "'webstack-prod' is not the stack name"]),
    "snapshot and time": ({"confirm_restore": NAME, "restore_snapshot": "{latest}", "restore_time": "2026-01-01T00:00:00Z"},
                          ["restore_snapshot", "restore_time", "at most one"]),
    "malformed time": ({"confirm_restore": NAME, "restore_time": "yesterday"}, ["restore_time", "ISO 8601"]),
}


@pytest.mark.parametrize("case", list(PREFLIGHT_REFUSALS))
def test_restore_refused_in_preflight_naming_the_variable_without_api_calls(case, ansible, rds, state):
    extra, expected = PREFLIGHT_REFUSALS[case]
    extra = {k: v.replace("{latest}", state["restore_from"]) for k, v in extra.items()}
    result = ansible("playbooks/restore.yml", record=True, extra_vars=extra)
    assert_refused_in_preflight(result, expected)
    assert [i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]] == [INSTANCE]


def test_restore_time_outside_the_window_fails_naming_it_before_any_change(ansible, rds):
    result = ansible("playbooks/restore.yml", record=True,
                     extra_vars={"confirm_restore": NAME, "restore_time": "2000-01-01T00:00:00Z"})
    assert result.rc != 0, result.summary()
    messages = " ".join(m for _t, m in result.failed_tasks())
    assert "restore_time" in messages and "2000-01-01" in messages, result.summary()
    assert mutating(result.calls, except_lock=True) == [], [str(c) for c in mutating(result.calls)]
    assert [i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]] == [INSTANCE]


def test_restore_check_mode_reports_the_plan_and_changes_nothing(ansible, rds, ecs, state):
    services = {s["serviceName"]: s["taskDefinition"] for s in ecs.describe_services(cluster=NAME, services=list(SERVICES))["services"]}
    result = ansible("playbooks/restore.yml", check=True, record=True,
                     extra_vars={"confirm_restore": NAME, "restore_snapshot": state["restore_from"]})
    assert result.rc == 0, result.summary()
    assert mutating(result.calls) == [], [str(c) for c in mutating(result.calls)]
    plan = result.result_of("Report the restore")["msg"]
    assert plan.startswith("check mode: would restore") and state["restore_from"] in plan, plan
    assert [i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]] == [INSTANCE]
    assert {s["serviceName"]: s["taskDefinition"] for s in
            ecs.describe_services(cluster=NAME, services=list(SERVICES))["services"]} == services


# --- restore -------------------------------------------------------------------------------------------------
def test_restore_from_a_backup_keeps_every_setting_and_rolls_the_services(ansible, moto_server, rds, ecs, state):
    # Non-default settings on the original that a restore would otherwise lose: Multi-AZ and deletion protection.
    rds.modify_db_instance(DBInstanceIdentifier=INSTANCE, MultiAZ=True, DeletionProtection=True, ApplyImmediately=True)
    original = rds.describe_db_instances(DBInstanceIdentifier=INSTANCE)["DBInstances"][0]
    endpoint = original["Endpoint"]["Address"]
    # web runs on a revision whose database host is stale: the restore must repoint it (a new revision); api and
    # worker already have the endpoint: the same revision is redeployed.
    services = {s["serviceName"]: s for s in ecs.describe_services(cluster=NAME, services=list(SERVICES))["services"]}
    web_td = ecs.describe_task_definition(taskDefinition=services["web"]["taskDefinition"])["taskDefinition"]
    assert container_env(ecs, web_td["taskDefinitionArn"], "web")["APP_DATABASE_HOST"] == endpoint
    registrable = {k: web_td[k] for k in ("family", "taskRoleArn", "executionRoleArn", "networkMode", "containerDefinitions",
                                          "volumes", "requiresCompatibilities", "cpu", "memory") if k in web_td}
    for container in registrable["containerDefinitions"]:
        container["environment"] = [dict(e, value="stale.example.internal") if e["name"] == "APP_DATABASE_HOST" else e
                                    for e in container.get("environment", [])]
    stale = ecs.register_task_definition(**registrable)["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster=NAME, service="web", taskDefinition=stale)
    before = {n: s["taskDefinition"] for n, s in
              ((s["serviceName"], s) for s in ecs.describe_services(cluster=NAME, services=list(SERVICES))["services"])}

    result = ansible("playbooks/restore.yml", record=True,
                     extra_vars={"confirm_restore": NAME, "restore_snapshot": state["restore_from"]})
    entries = raw_recording(moto_server)  # the recording of that run, with the ECS request bodies
    assert result.rc == 0, result.summary()
    state["restore_seconds"] = result.seconds

    instances = {i["DBInstanceIdentifier"]: i for i in rds.describe_db_instances()["DBInstances"]}
    new = instances[INSTANCE]
    replaced = [i for i in instances if i.startswith(f"{INSTANCE}-replaced-")]
    assert len(replaced) == 1 and len(instances) == 2, sorted(instances)
    old = instances[replaced[0]]
    # the app's instance is a new one under the same identifier and endpoint (the emulator gives every instance the
    # same DbiResourceId: the creation time and the tags tell them apart)
    assert new["InstanceCreateTime"] > original["InstanceCreateTime"]
    assert old["InstanceCreateTime"] == original["InstanceCreateTime"]
    assert state["restore_from"] in tags_of(rds, new["DBInstanceArn"]).get("webstack:restored-from", "")
    assert_same_settings(new, original)
    # the old instance: kept, renamed, tagged, still protected
    old_tags = tags_of(rds, old["DBInstanceArn"])
    assert "webstack:replaced-at" in old_tags, old_tags
    assert state["restore_from"] in old_tags.get("webstack:replaced-by-restore-from", ""), old_tags
    assert old["DeletionProtection"] is True
    # services: web on a new revision with the endpoint, api and worker redeployed on their revision
    after = {s["serviceName"]: s for s in ecs.describe_services(cluster=NAME, services=list(SERVICES))["services"]}
    assert after["web"]["taskDefinition"] not in (before["web"], services["web"]["taskDefinition"])
    assert container_env(ecs, after["web"]["taskDefinition"], "web")["APP_DATABASE_HOST"] == endpoint
    for name in ("api", "worker"):
        assert after[name]["taskDefinition"] == before[name]
        assert after[name]["runningCount"] >= after[name]["desiredCount"] >= 1
    updates = {u["service"]: u for u in ecs_calls(entries, "UpdateService")}
    assert sorted(updates) == sorted(SERVICES), updates
    for name in ("api", "worker"):
        assert updates[name].get("forceNewDeployment") is True, updates[name]
        assert updates[name]["taskDefinition"] in (before[name], before[name].split("/")[-1])
    registered = ecs_calls(entries, "RegisterTaskDefinition")
    assert [r["family"] for r in registered] == [f"{NAME}-web"], registered
    # the report names the old instance and says it is kept
    assert replaced[0] in result.stdout and "until a later cleanup" in result.stdout


def test_point_in_time_restore_keeps_every_setting_too(ansible, rds, state):
    original = rds.describe_db_instances(DBInstanceIdentifier=INSTANCE)["DBInstances"][0]
    point = (original["LatestRestorableTime"] - dt.timedelta(seconds=30)).astimezone(dt.timezone.utc)
    point = max(point, original["InstanceCreateTime"].astimezone(dt.timezone.utc))
    restore_time = point.strftime("%Y-%m-%dT%H:%M:%SZ")
    result = ansible("playbooks/restore.yml", extra_vars={"confirm_restore": NAME, "restore_time": restore_time})
    assert result.rc == 0, result.summary()
    instances = {i["DBInstanceIdentifier"]: i for i in rds.describe_db_instances()["DBInstances"]}
    replaced = sorted(i for i in instances if i.startswith(f"{INSTANCE}-replaced-"))
    assert len(replaced) == 2 and len(instances) == 3, sorted(instances)
    new = instances[INSTANCE]
    assert new["InstanceCreateTime"] > original["InstanceCreateTime"]
    assert_same_settings(new, original)
    assert restore_time in tags_of(rds, new["DBInstanceArn"]).get("webstack:restored-from", ""), \
        tags_of(rds, new["DBInstanceArn"])


def test_restore_whose_verification_fails_says_so_and_resumes_with_its_stamp(ansible, rds):
    """The smoke test after the swap fails (nothing listens on the URL): the failure says the database was restored,
    names the old instance and the stamp; the same command with that stamp only verifies and rolls again."""
    before = sorted(i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"])
    closed = f"http://127.0.0.1:{free_port()}"
    failed = ansible("playbooks/restore.yml", extra_vars={"confirm_restore": NAME, "rds_backup_smoke_base_url": closed,
                                                          "smoke_test_retries": 1, "smoke_test_timeout": 1})
    assert failed.rc != 0, failed.summary()
    message = failed.failed_tasks()[-1][1]
    after = sorted(i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"])
    added = sorted(set(after) - set(before))
    assert len(added) == 1 and added[0].startswith(f"{INSTANCE}-replaced-"), (before, after)
    stamp = added[0].removeprefix(f"{INSTANCE}-replaced-")
    assert "the database was restored" in message and added[0] in message, message
    assert f"rds_backup_restore_stamp={stamp}" in message, message
    resumed = ansible("playbooks/restore.yml", extra_vars={"confirm_restore": NAME, "rds_backup_restore_stamp": stamp})
    assert resumed.rc == 0, resumed.summary()
    assert sorted(i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]) == after


# --- status --------------------------------------------------------------------------------------------------
def test_status_reports_release_services_and_database_without_changes(ansible, state):
    result = ansible("playbooks/status.yml", record=True)
    assert result.rc == 0 and result.changed == 0, result.summary()
    assert mutating(result.calls) == [], [str(c) for c in mutating(result.calls)]
    report = result.result_of("Assemble the report")["ansible_facts"]["aws_status_report"]
    assert report["release"]["current"] == "1.0.0"
    assert sorted(s["name"] for s in report["services"]) == sorted(SERVICES)
    assert all(s["running"] >= s["desired"] >= 1 for s in report["services"]), report["services"]
    assert all(s["revision"].startswith(f"{NAME}-{s['name']}:") for s in report["services"]), report["services"]
    assert report["database"]["status"] == "available"
    assert report["database"]["latest_snapshot"] == state["restore_from"]
    # the three restores of this module each kept the old instance
    assert len(report["database"]["replaced_instances"]) == 3, report["database"]
    assert all(i.startswith(f"{INSTANCE}-replaced-") for i in report["database"]["replaced_instances"])
    check = ansible("playbooks/status.yml", check=True)
    assert check.rc == 0 and check.changed == 0, check.summary()
