"""Release lifecycle on the aws platform (role ecs_release): deploy.yml, rollback.yml, migrate.yml on a provisioned
sandbox (moto server, services reporting running tasks) with the SQL parts against a real PostgreSQL container
(support.aws.sandbox_pg(), tests/support/pgcontainer.py) through `-e webstack_aws_db_address=127.0.0.1:<port>`.

One provision per module; the tests run in file order and each builds on the emulator state the previous left:
  deploy 2.0.0 -> re-deploy (no-op, taking over an expired deploy lock) -> --check deploy 1.0.0 -> deploy and rollback
  refused by a held lock -> rollback (to the baseline 1.0.0) -> bad input (rollback_to unknown, app_version unknown
  with -e release_lock_break=true, restore without confirmation) -> smoke failure of a deploy of
  2.0.0 (services back on 1.0.0) -> migrate.yml through an ECS task.
Every assertion reads the result back with boto3 (ECS, ECR, RDS, S3) or psycopg2, never from Ansible's output
alone. The application images are manifests put into the sandbox's ECR repository with PutImage.
"""
from __future__ import annotations

import json
import time

import pytest

from support.aws import ROOT, ecr_image_manifest, free_port, mutating, sandbox_pg

pytestmark = pytest.mark.aws

NAME = "webstack-sandbox"
SERVICES = ("web", "api", "worker")
REPOSITORY = f"{NAME}/app"
BUCKET = f"{NAME}-backups-logs"
LEDGER_KEY = f"ledger/{NAME}.json"
DB_INSTANCE = f"{NAME}-postgres"
MIGRATIONS = ["0001_create_items.sql", "0002_add_items_category.sql"]
LOCK_KEY = f"lock/{NAME}.json"  # the deploy lock (role release, backend s3)


@pytest.fixture(scope="module")
def env(provisioned, moto_server, docker_images):  # docker_images: webstack/postgres:15 built when missing
    """The provisioned sandbox with images 1.0.0 and 2.0.0 in ECR and a PostgreSQL container."""
    ecr = moto_server.client("ecr")
    for version in ("1.0.0", "2.0.0"):
        ecr.put_image(repositoryName=REPOSITORY, imageManifest=ecr_image_manifest(version), imageTag=version)
    pg = sandbox_pg().start()
    try:
        yield {"pg": pg, "db_vars": {"webstack_aws_db_address": pg.address}}
    finally:
        pg.stop()


def services_state(ecs) -> dict:
    """service -> {arn, image} of the revision each service is on (read back from ECS)."""
    found = ecs.describe_services(cluster=NAME, services=list(SERVICES))["services"]
    out = {}
    for svc in found:
        arn = svc["taskDefinition"]
        td = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        container = next(c for c in td["containerDefinitions"] if c["name"] == svc["serviceName"])
        out[svc["serviceName"]] = {"arn": arn, "image": container["image"]}
    return out



def ledger(s3) -> dict:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=LEDGER_KEY)["Body"].read())


def failure_text(result) -> str:
    return " ".join(msg for _name, msg in result.failed_tasks())


def put_lock(s3, age: int, run_id: str = "dead-run") -> dict:
    """A lock object held by another run (deploy of 9.9.9 by mallory on build-7), taken `age` seconds ago."""
    now = time.time()
    holder = {"operation": "deploy", "user": "mallory", "host": "build-7", "version": "9.9.9",
              "taken_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - age)), "taken_epoch": now - age,
              "expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - age + 1800)),
              "expires_epoch": now - age + 1800, "ttl": 1800, "run_id": run_id}
    s3.put_object(Bucket=BUCKET, Key=LOCK_KEY, Body=json.dumps(holder).encode(), ServerSideEncryption="AES256")
    return holder


def lock_object(s3):
    found = s3.list_objects_v2(Bucket=BUCKET, Prefix=LOCK_KEY).get("Contents", [])
    return json.loads(s3.get_object(Bucket=BUCKET, Key=LOCK_KEY)["Body"].read()) if found else None


def refused_before_any_change(ansible, ecs, s3, playbook, extra_vars):
    """Run a playbook that must fail before changing anything: no mutating API call, every service and the
    ledger as they were. Returns the result (for the failure messages)."""
    before, doc_before = services_state(ecs), ledger(s3)
    result = ansible(playbook, record=True, extra_vars=extra_vars)
    assert result.rc != 0, result.summary()
    assert mutating(result.calls, except_lock=True) == [], [str(c) for c in mutating(result.calls)]
    assert services_state(ecs) == before and ledger(s3) == doc_before
    return result


# --- deploy ----------------------------------------------------------------------------------------------
def test_deploy_records_baseline_migrates_after_snapshot_and_switches_every_service(env, ansible, moto_server, ecs, s3):
    before = services_state(ecs)
    assert {s["image"].rsplit(":", 1)[1] for s in before.values()} == {"1.0.0"}, before

    result = ansible("playbooks/deploy.yml", extra_vars={"app_version": "2.0.0", **env["db_vars"]})
    assert result.rc == 0, result.summary()

    after = services_state(ecs)
    for name in SERVICES:
        assert after[name]["arn"] != before[name]["arn"], name
        assert after[name]["image"] == before[name]["image"].rsplit(":", 1)[0] + ":2.0.0", after[name]
        assert after[name]["image"].endswith(f".amazonaws.com/{REPOSITORY}:2.0.0")

    doc = ledger(s3)
    releases = doc["releases"]
    assert [r["action"] for r in releases] == ["baseline", "deploy"], releases
    baseline, current = releases
    assert doc["current"] == "2.0.0"
    assert baseline["version"] == "1.0.0"
    assert baseline["revisions"] == {n: before[n]["arn"] for n in SERVICES}
    assert current["version"] == "2.0.0"
    assert current["image"] == after["web"]["image"]
    assert current["revisions"] == {n: after[n]["arn"] for n in SERVICES}
    assert current["previous"] == "1.0.0"
    assert current["migrations_applied"] == MIGRATIONS
    assert current["deployed_by"] and current["deployed_at"].endswith("Z")
    head = s3.head_object(Bucket=BUCKET, Key=LEDGER_KEY)
    assert head["ServerSideEncryption"] in ("AES256", "aws:kms")
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="lock/").get("KeyCount") == 0  # the deploy lock released

    # the migrations really ran, in the real database, with the migrations role's bookkeeping
    rows = env["pg"].query("SELECT version, checksum FROM public.schema_migrations ORDER BY version")
    assert [r[0] for r in rows] == MIGRATIONS
    assert env["pg"].query("SELECT to_regclass('public.items') IS NOT NULL")[0][0] is True

    # ... after a snapshot that exists and is available
    snapshot_id = current["snapshot_id"]
    assert snapshot_id.startswith(f"{DB_INSTANCE}-premigrate-2-0-0-"), snapshot_id
    snaps = moto_server.client("rds").describe_db_snapshots(DBSnapshotIdentifier=snapshot_id)["DBSnapshots"]
    assert len(snaps) == 1 and snaps[0]["Status"] == "available"
    assert snaps[0]["DBInstanceIdentifier"] == DB_INSTANCE
    assert snaps[0]["SnapshotType"] == "manual"


def test_redeploy_of_the_live_version_changes_nothing(env, ansible, ecs, s3):
    before, doc_before = services_state(ecs), ledger(s3)
    put_lock(s3, age=7200)  # the lock of a run killed an hour and a half ago (expired): taken over, then released
    result = ansible("playbooks/deploy.yml", record=True,
                     extra_vars={"app_version": "2.0.0", **env["db_vars"]})
    assert result.rc == 0, result.summary()
    assert "took over the lock of deploy of 9.9.9 by mallory" in result.stdout, result.summary()
    assert lock_object(s3) is None
    assert result.changed == 0, result.summary()
    assert mutating(result.calls, except_lock=True) == [], [str(c) for c in mutating(result.calls)]
    assert "already live" in result.stdout
    assert services_state(ecs) == before
    assert ledger(s3) == doc_before
    # and --check --diff on the converged environment reports nothing either
    check = ansible("playbooks/deploy.yml", record=True, check=True, diff=True,
                    extra_vars={"app_version": "2.0.0", **env["db_vars"]})
    assert check.rc == 0 and check.changed == 0, check.summary()
    assert mutating(check.calls) == []


def test_check_mode_deploy_reports_the_plan_and_changes_nothing(env, ansible, ecs, s3):
    before, doc_before = services_state(ecs), ledger(s3)
    result = ansible("playbooks/deploy.yml", record=True, check=True, diff=True,
                     extra_vars={"app_version": "1.0.0", **env["db_vars"]})
    assert result.rc == 0, result.summary()
    assert result.changed > 0, "check mode must report that the deploy would change the services"
    report = result.result_of("Report what check mode would do")["msg"]
    assert "would deploy 1.0.0" in report and all(f"{n} -> new revision" in report for n in SERVICES), report
    assert "pending none" in report, report
    assert mutating(result.calls) == [], [str(c) for c in mutating(result.calls)]
    assert services_state(ecs) == before
    assert ledger(s3) == doc_before


# --- deploy lock (role release, backend s3) -------------------------------------------------------------
def test_a_held_lock_refuses_deploy_and_rollback_naming_the_holder(env, ansible, ecs, s3):
    assert lock_object(s3) is None  # the deploys above released it
    holder = put_lock(s3, age=60)
    try:
        for playbook, extra in (("playbooks/deploy.yml", {"app_version": "1.0.0"}), ("playbooks/rollback.yml", {})):
            result = refused_before_any_change(ansible, ecs, s3, playbook, {**extra, **env["db_vars"]})
            assert mutating(result.calls) == [], [str(c) for c in mutating(result.calls)]  # not even the lock
            assert [c for c in result.calls if c.service == "ecs"] == [], "refused before reading the services"
            message = failure_text(result)
            for part in ("deploy of 9.9.9 by mallory on build-7", holder["taken_at"], "release_lock_break",
                         f"s3://{BUCKET}/{LOCK_KEY}", "refused"):
                assert part in message, (part, message)
            assert lock_object(s3)["run_id"] == "dead-run"
    finally:
        s3.delete_object(Bucket=BUCKET, Key=LOCK_KEY)


# --- rollback --------------------------------------------------------------------------------------------
def test_rollback_puts_every_service_on_the_recorded_revisions_of_the_previous_release(env, ansible, ecs, s3):
    doc_before = ledger(s3)
    baseline = doc_before["releases"][0]
    before = services_state(ecs)
    check = ansible("playbooks/rollback.yml", record=True, check=True, diff=True)
    assert check.rc == 0, check.summary()
    report = check.result_of("Report the rollback")["msg"]
    assert "would roll back from 2.0.0 to 1.0.0" in report, report
    assert mutating(check.calls) == [] and services_state(ecs) == before and ledger(s3) == doc_before

    result = ansible("playbooks/rollback.yml", extra_vars=env["db_vars"])
    assert result.rc == 0, result.summary()

    after = services_state(ecs)
    assert {n: after[n]["arn"] for n in SERVICES} == baseline["revisions"]
    assert {s["image"].rsplit(":", 1)[1] for s in after.values()} == {"1.0.0"}

    doc = ledger(s3)
    assert len(doc["releases"]) == len(doc_before["releases"]) + 1
    entry = doc["releases"][-1]
    assert (entry["action"], entry["version"], entry["previous"]) == ("rollback", "1.0.0", "2.0.0")
    assert entry["revisions"] == baseline["revisions"]
    assert doc["current"] == "1.0.0"
    # no migration ran backwards: the schema stays
    assert [r[0] for r in env["pg"].query("SELECT version FROM public.schema_migrations ORDER BY 1")] == MIGRATIONS


# --- bad input: fails before any change, naming the variable -------------------------------------------------
def test_rollback_to_a_version_not_in_the_ledger_fails_before_any_change(env, ansible, ecs, s3):
    result = refused_before_any_change(ansible, ecs, s3, "playbooks/rollback.yml", {"rollback_to": "9.9.9"})
    text = failure_text(result)
    assert "rollback_to 9.9.9" in text and "1.0.0, 2.0.0" in text, result.summary()


def test_deploy_of_an_unknown_version_fails_before_any_change(env, ansible, ecs, s3):
    put_lock(s3, age=60)  # held by a live-looking run: -e release_lock_break=true takes it over
    result = refused_before_any_change(ansible, ecs, s3, "playbooks/deploy.yml",
                                       {"app_version": "9.9.9", "release_lock_break": True, **env["db_vars"]})
    text = failure_text(result)
    assert "app_version 9.9.9" in text and "does not exist" in text, result.summary()
    assert lock_object(s3) is None  # broken, taken, and released by the failed run (always:)


def test_rollback_with_restore_database_needs_the_confirmation(env, ansible, ecs, s3):
    result = refused_before_any_change(ansible, ecs, s3, "playbooks/rollback.yml",
                                       {"restore_database": True, "rollback_to": "2.0.0"})
    assert "confirm_restore" in failure_text(result), result.summary()


# --- a failing migration stops the deploy before any service switches -------------------------------------------
def test_failing_migration_stops_the_deploy_before_any_service_switches(env, ansible, moto_server, ecs, s3, tmp_path):
    for name in MIGRATIONS:
        (tmp_path / name).write_bytes((ROOT / "app" / "migrations" / name).read_bytes())
    (tmp_path / "0003_broken.sql").write_text("ALTER TABLE public.no_such_table ADD COLUMN note text;\n")
    before, doc_before = services_state(ecs), ledger(s3)
    result = ansible("playbooks/deploy.yml",
                     extra_vars={"app_version": "2.0.0", "ecs_release_migrations_dir": str(tmp_path), **env["db_vars"]})
    assert result.rc != 0
    text = failure_text(result)
    assert "deploy of 2.0.0 failed" in text and "migration 0003_broken.sql failed" in text, result.summary()
    assert "No service had switched" in text, text
    assert services_state(ecs) == before and ledger(s3) == doc_before
    assert [r[0] for r in env["pg"].query("SELECT version FROM public.schema_migrations ORDER BY 1")] == MIGRATIONS
    # something was pending, so a snapshot was taken first
    snaps = moto_server.client("rds").describe_db_snapshots(DBInstanceIdentifier=DB_INSTANCE,
                                                            SnapshotType="manual")["DBSnapshots"]
    assert len([s for s in snaps if s["DBSnapshotIdentifier"].startswith(f"{DB_INSTANCE}-premigrate-2-0-0-")]) == 2


# --- a failed smoke test puts every service back ---------------------------------------------------------------
def test_smoke_failure_puts_every_service_back_on_its_previous_revision(env, ansible, ecs, s3):
    before, doc_before = services_state(ecs), ledger(s3)
    closed = free_port()  # nothing listens there
    result = ansible("playbooks/deploy.yml",
                     extra_vars={"app_version": "2.0.0", "ecs_release_smoke_base_url": f"http://127.0.0.1:{closed}",
                                 **env["db_vars"]})
    assert result.rc != 0
    text = failure_text(result)
    assert "deploy of 2.0.0 failed" in text and "smoke test of http://127.0.0.1" in text, result.summary()
    assert "back on its previous revision" in text, text
    # the rollout had switched them (the put-back task changed them) ...
    assert result.result_of("Put every service back on its previous revision")["changed"] is True
    # ... and every service is on its previous revision again; the ledger is untouched
    assert {n: s["arn"] for n, s in services_state(ecs).items()} == {n: s["arn"] for n, s in before.items()}
    assert ledger(s3) == doc_before


# --- ECS-task migration path (no reachable database address) ---------------------------------------------------
def test_deploy_without_a_reachable_address_migrates_in_an_ecs_task_of_the_new_revision(env, ansible, moto_server, ecs,
                                                                                        s3):
    before, doc_before = services_state(ecs), ledger(s3)
    assert {s["image"].rsplit(":", 1)[1] for s in before.values()} == {"1.0.0"}
    result = ansible("playbooks/deploy.yml", extra_vars={"app_version": "2.0.0"})
    assert result.rc == 0, result.summary()

    after = services_state(ecs)
    assert {s["image"].rsplit(":", 1)[1] for s in after.values()} == {"2.0.0"}
    entry = ledger(s3)["releases"][-1]
    assert (entry["action"], entry["version"], entry["previous"]) == ("deploy", "2.0.0", "1.0.0")
    assert entry["revisions"] == {n: after[n]["arn"] for n in SERVICES}
    # the one-off task ran the migrate command from the NEW revision of web, with web's network
    task = ecs.describe_tasks(cluster=NAME, tasks=[entry["migration_task"]])["tasks"][0]
    assert task["taskDefinitionArn"] == after["web"]["arn"]
    assert task["lastStatus"] == "STOPPED"
    assert task["overrides"]["containerOverrides"][0]["command"] == ["python3", "-m", "webstack_app", "migrate"]
    assert task["startedBy"] == "webstack-migrate"
    # ... after a snapshot (always on this path: a task cannot plan)
    snaps = moto_server.client("rds").describe_db_snapshots(DBSnapshotIdentifier=entry["snapshot_id"])["DBSnapshots"]
    assert snaps[0]["Status"] == "available" and entry["snapshot_id"].startswith(f"{DB_INSTANCE}-premigrate-2-0-0-")
    assert len(ledger(s3)["releases"]) == len(doc_before["releases"]) + 1


def test_migrate_yml_plans_through_the_address_and_runs_an_ecs_task_without_it(env, ansible, moto_server, ecs, s3):
    doc_before = ledger(s3)
    current = doc_before["releases"][-1]
    # controller path: nothing pending -> no snapshot, no change at all
    result = ansible("playbooks/migrate.yml", record=True, extra_vars=env["db_vars"])
    assert result.rc == 0 and result.changed == 0, result.summary()
    assert mutating(result.calls, except_lock=True) == [] and ledger(s3) == doc_before

    # ECS-task path: a snapshot, a task of the current release's revision, recorded as a migrate entry
    result = ansible("playbooks/migrate.yml")
    assert result.rc == 0, result.summary()
    entry = ledger(s3)["releases"][-1]
    assert (entry["action"], entry["version"], entry["previous"]) == ("migrate", current["version"], current["previous"])
    assert entry["revisions"] == current["revisions"] and entry["image"] == current["image"]
    assert entry["snapshot_id"] != current["snapshot_id"]
    assert entry["snapshot_id"].startswith(f"{DB_INSTANCE}-premigrate-{current['version'].replace('.', '-')}-")
    snaps = moto_server.client("rds").describe_db_snapshots(DBSnapshotIdentifier=entry["snapshot_id"])["DBSnapshots"]
    assert snaps[0]["Status"] == "available"
    task = ecs.describe_tasks(cluster=NAME, tasks=[entry["migration_task"]])["tasks"][0]
    assert task["taskDefinitionArn"] == current["revisions"]["web"]
    assert {n: s["arn"] for n, s in services_state(ecs).items()} == current["revisions"]


# --- rollback with the database ----------------------------------------------------------------------------------
def test_rollback_with_restore_database_restores_the_snapshot_taken_before_the_release(env, ansible, moto_server, ecs,
                                                                                       s3):
    rds = moto_server.client("rds")
    doc_before = ledger(s3)
    rolled_back_from = doc_before["releases"][-1]
    target = [r for r in doc_before["releases"] if r["version"] == rolled_back_from["previous"]][-1]
    original = rds.describe_db_instances(DBInstanceIdentifier=DB_INSTANCE)["DBInstances"][0]

    result = ansible("playbooks/rollback.yml",
                     extra_vars={"restore_database": True, "confirm_restore": NAME})
    assert result.rc == 0, result.summary()

    assert {n: s["arn"] for n, s in services_state(ecs).items()} == target["revisions"]
    entry = ledger(s3)["releases"][-1]
    assert (entry["action"], entry["version"], entry["previous"]) == ("rollback", target["version"], "2.0.0")
    assert entry["restored_snapshot_id"] == rolled_back_from["snapshot_id"]
    # the instance keeps its name and now comes from that snapshot; the old one is kept under another name
    restored = rds.describe_db_instances(DBInstanceIdentifier=DB_INSTANCE)["DBInstances"][0]
    assert restored["DBSubnetGroup"]["DBSubnetGroupName"] == original["DBSubnetGroup"]["DBSubnetGroupName"]
    assert ({g["VpcSecurityGroupId"] for g in restored["VpcSecurityGroups"]}
            == {g["VpcSecurityGroupId"] for g in original["VpcSecurityGroups"]})
    assert restored["StorageEncrypted"] is True
    replaced = [i for i in rds.describe_db_instances()["DBInstances"]
                if i["DBInstanceIdentifier"].startswith(f"{DB_INSTANCE}-replaced-")]
    assert len(replaced) == 1
    tags = {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(ResourceName=replaced[0]["DBInstanceArn"])["TagList"]}
    assert "webstack:replaced-at" in tags, tags
    assert rolled_back_from["snapshot_id"] in json.dumps(tags), tags


def test_every_revision_the_ledger_references_is_still_active(env, ecs, s3):
    """keep_revisions (sandbox: 3) deregisters old revisions after a deploy, never one a rollback may need."""
    releases = ledger(s3)["releases"]
    for name in SERVICES:
        active = set(ecs.list_task_definitions(familyPrefix=f"{NAME}-{name}", status="ACTIVE")["taskDefinitionArns"])
        referenced = {r["revisions"][name] for r in releases if name in r.get("revisions", {})}
        assert referenced and referenced <= active, (name, referenced - active)
