"""Jobs run the way AWX/AAP runs them on a container group: a private data dir built as the controller builds it
(tests/support/awxjob.py), `ansible-runner transmit | docker run -i webstack/ee ansible-runner worker | ansible-runner
process`, against the moto server on 127.0.0.1 (the container shares the host's network). No AWS_REGION reaches the
job (AWX's AWS credential injects none): the region comes from the inventory.

One module, in file order, each step on the emulator state the previous left:
  provision (EE) -> images 1.0.0/2.0.0 in ECR -> deploy 2.0.0 (EE) -> a deploy of an unknown version (EE, red)
  -> rollback (EE) -> status (EE) -> deploy 2.0.0 with plain ansible-playbook (for the timing figure).
Every assertion reads the result back with boto3 (ECS, RDS, ELBv2, S3), as tests/aws does, or from the job's events.
The survey answers are checked against the surveys of controller/objects.yml first, and every API call a job makes
(moto's recorder) against the playbook's measured IAM policy (docs/iam-policies.json).
"""
from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

import controller_validate
import iam_policy

from support.awxjob import AwxJob, project_copy
from controller_content import validate_answers
from support.aws import MotoServer, ecr_image_manifest, run_playbook

pytestmark = [pytest.mark.aws, pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
NAME = "webstack-sandbox"
SERVICES = ("web", "api", "worker")
REPOSITORY = f"{NAME}/app"
BUCKET = f"{NAME}-backups-logs"
LEDGER_KEY = f"ledger/{NAME}.json"
TEMPLATES = {t["name"]: t for t in controller_validate.load()["controller_templates"]}
# What the credential "webstack aws secrets <env>" injects (generated per run, never stored).
CREDENTIAL_VARS = {"vault_rds_master_password": secrets.token_hex(16), "vault_elasticache_auth_token": secrets.token_hex(24)}
TIMING = {}
# generous: an idle machine runs each job in under a minute, a machine loaded 20x its cores in ten or more
JOB_TIMEOUT = 2400
IAM = json.loads((ROOT / "docs" / "iam-policies.json").read_text(encoding="utf-8"))


def template(playbook: str) -> dict:
    """The job template the sandbox job stands for (the staging one: same playbook, same survey)."""
    return TEMPLATES[f"webstack staging {playbook}"]


@pytest.fixture(scope="module")
def moto():
    server = MotoServer(ecs_service_running=1).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def job(ee_image, moto, tmp_path_factory):
    work = tmp_path_factory.mktemp("awx-jobs")
    runner = AwxJob(image=ee_image, workdir=work, project=project_copy(work / "project-sync"), job_id=101, user="alice")

    def run(playbook, answers=None):
        tpl = template(playbook)
        if tpl.get("survey_enabled"):
            assert validate_answers(tpl["survey_spec"], answers or {}) == [], "answers the survey would refuse"
        moto.recorder_start()
        result = runner.run(f"playbooks/{playbook}.yml", template=tpl, answers=answers, credential_vars=CREDENTIAL_VARS,
                            envvars={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                                     "WEBSTACK_AWS_ENDPOINT_URL": moto.url}, timeout=JOB_TIMEOUT)
        calls = moto.recorder_stop()
        # the documented least-privilege policy of the playbook covers every call the job made
        missing = sorted(set(iam_policy.actions(calls)) - set(IAM[playbook]))  # calls needing no permission dropped
        assert missing == [], f"{playbook}: calls outside docs/iam-policies.json: {missing}"
        return result
    return run


def services_state(ecs) -> dict:
    out = {}
    for svc in ecs.describe_services(cluster=NAME, services=list(SERVICES))["services"]:
        td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
        image = next(c for c in td["containerDefinitions"] if c["name"] == svc["serviceName"])["image"]
        out[svc["serviceName"]] = {"arn": svc["taskDefinition"], "image": image}
    return out


def ledger(s3) -> dict:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=LEDGER_KEY)["Body"].read())


def test_provision_in_the_ee(job, moto):
    result = job("provision")
    TIMING["provision_ee_s"] = round(result.seconds, 1)
    assert result.status == "successful" and result.rc == 0, result.summary()
    assert result.stats.get("failures", {}) == {}
    ecs, rds, elbv2 = moto.client("ecs"), moto.client("rds"), moto.client("elbv2")
    services = ecs.describe_services(cluster=NAME, services=list(SERVICES))["services"]
    assert sorted(s["serviceName"] for s in services) == sorted(SERVICES)
    assert all(s["status"] == "ACTIVE" and s["launchType"] == "FARGATE" for s in services)
    db = rds.describe_db_instances(DBInstanceIdentifier=f"{NAME}-postgres")["DBInstances"][0]
    assert db["Engine"] == "postgres" and db["StorageEncrypted"]
    lbs = elbv2.describe_load_balancers()["LoadBalancers"]
    assert [lb["LoadBalancerName"] for lb in lbs] == [NAME]
    # the credential's secret became the RDS master password's Secrets Manager value, not a generated one
    sm = moto.client("secretsmanager")
    secret = json.loads(sm.get_secret_value(SecretId=f"{NAME}/rds/master")["SecretString"])
    assert secret["password"] == CREDENTIAL_VARS["vault_rds_master_password"]
    assert CREDENTIAL_VARS["vault_rds_master_password"] not in result.stdout


def test_deploy_in_the_ee_records_the_controller_user_and_job(job, moto):
    ecr = moto.client("ecr")
    for version in ("1.0.0", "2.0.0"):
        ecr.put_image(repositoryName=REPOSITORY, imageManifest=ecr_image_manifest(version), imageTag=version)
    ecs, s3 = moto.client("ecs"), moto.client("s3")
    before = services_state(ecs)
    result = job("deploy", {"app_version": "2.0.0"})
    TIMING["deploy_ee_s"] = round(result.seconds, 1)
    assert result.status == "successful" and result.rc == 0, result.summary()
    after = services_state(ecs)
    for name in SERVICES:
        assert after[name]["arn"] != before[name]["arn"]
        assert after[name]["image"].endswith(f".amazonaws.com/{REPOSITORY}:2.0.0"), after[name]
    doc = ledger(s3)
    assert doc["current"] == "2.0.0"
    current = doc["releases"][-1]
    assert current["revisions"] == {n: after[n]["arn"] for n in SERVICES}
    assert current["deployed_by"] == f"alice (awx job {result.job_id})"


def test_a_failed_job_is_red_and_changes_nothing(job, moto):
    ecs, s3 = moto.client("ecs"), moto.client("s3")
    before, doc_before = services_state(ecs), ledger(s3)
    result = job("deploy", {"app_version": "9.9.9"})
    assert result.status == "failed" and result.rc != 0, result.summary()
    assert services_state(ecs) == before and ledger(s3) == doc_before


def test_rollback_in_the_ee(job, moto):
    ecs, s3 = moto.client("ecs"), moto.client("s3")
    baseline = ledger(s3)["releases"][0]
    result = job("rollback", {})
    assert result.status == "successful" and result.rc == 0, result.summary()
    after = services_state(ecs)
    assert {n: after[n]["arn"] for n in SERVICES} == baseline["revisions"]
    assert all(after[n]["image"].endswith(":1.0.0") for n in SERVICES)
    doc = ledger(s3)
    assert doc["current"] == "1.0.0" and doc["releases"][-1]["action"] == "rollback"
    assert doc["releases"][-1]["deployed_by"].startswith("alice (awx job ")


def test_status_in_the_ee_reports_the_release(job, moto):
    result = job("status")
    assert result.status == "successful" and result.rc == 0, result.summary()
    reports = [r for r in result.task_results("Report") if r]
    text = json.dumps([e["event_data"].get("res", {}) for e in result.events if e.get("event") == "runner_on_ok"])
    assert "1.0.0" in text and "alice (awx job" in text, reports


def test_the_same_deploy_with_plain_ansible_playbook(moto):
    """The figure next to the EE path: deploy 2.0.0 (from 1.0.0) with ansible-playbook on the host."""
    result = run_playbook("playbooks/deploy.yml", endpoint_url=moto.url,
                          extra_vars={"app_version": "2.0.0", **CREDENTIAL_VARS})
    TIMING["deploy_plain_s"] = round(result.seconds, 1)
    assert result.rc == 0, result.summary()
    after = services_state(moto.client("ecs"))
    assert all(after[n]["image"].endswith(":2.0.0") for n in SERVICES)
    (ROOT / "artifacts").mkdir(exist_ok=True)
    (ROOT / "artifacts" / "awx-ee-timing.json").write_text(json.dumps(TIMING, indent=2) + "\n", encoding="utf-8")
