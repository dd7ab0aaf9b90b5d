"""webstack.platform.ecs_app never changes the application version of an existing service: the image of a
service that exists is the one of the revision it runs (deploy.yml owns the version), and that revision is
compared first, so a service a rollback put on an older revision is not re-registered. Stubber responses are
shaped like DescribeTaskDefinition's documented output."""
from __future__ import annotations

import copy

import boto3
import pytest
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry, RetryingBotoClientWrapper
from ansible_collections.webstack.platform.plugins.modules import ecs_app
from botocore.stub import Stubber

REGION = "eu-west-1"
ACCOUNT = "123456789012"
REPO = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/webstack-t/app"
EXEC_ARN = f"arn:aws:iam::{ACCOUNT}:role/webstack-t-ecs-execution"
TASK_ARN = f"arn:aws:iam::{ACCOUNT}:role/webstack-t-ecs-task"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:webstack-t/rds/master-AbCdEf"


class FakeModule:
    def __init__(self, params, check_mode=False):
        self.params = params
        self.check_mode = check_mode
        self.stubs = {}

    def client(self, service, retry_decorator=None):
        client = boto3.client(service, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
        self.stubs[service] = Stubber(client)
        self.stubs[service].activate()
        return RetryingBotoClientWrapper(client, AWSRetry.jittered_backoff(retries=1, delay=0))


def params(**over):
    base = dict(
        name="webstack-t", cluster_name="webstack-t", state="present", log_group_prefix="/ecs/webstack-t/",
        image=f"{REPO}:1.0.0", user="10001", readonly_root_filesystem=True, environment={"APP_DATABASE_HOST": "db.internal"},
        secrets=[{"name": "APP_DATABASE_PASSWORD", "value_from": SECRET_ARN + ":password::"}], cpu_architecture="X86_64",
        processes=[{"name": "web", "command": ["python3", "-m", "webstack_app", "serve"], "cpu": 256, "memory": 512,
                    "port": 8000, "min_tasks": 1, "max_tasks": 3, "cpu_target": 70}],
        writable_paths=["/tmp"], app_secret_name="", app_secret_values={}, app_secret_kms_key_id="",
        app_secret_recovery_window_days=7, tags={"Project": "webstack"},
    )
    base.update(over)
    return base


def app(check_mode=False, **over):
    module = FakeModule(params(**over), check_mode=check_mode)
    return ecs_app.EcsApp(module), module.stubs["ecs"]


def described(a, revision, image, **container_over):
    """DescribeTaskDefinition's answer for what ecs_app registers, with AWS's defaults added."""
    proc = a.p["processes"][0]
    td = copy.deepcopy(a.task_definition(proc, EXEC_ARN, TASK_ARN, image))
    td.update(taskDefinitionArn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/webstack-t-web:{revision}", revision=revision,
              status="ACTIVE", compatibilities=["EC2", "FARGATE"], placementConstraints=[],
              requiresAttributes=[{"name": "ecs.capability.secrets.asm.environment-variables"}])
    container = td["containerDefinitions"][0]
    container.update(cpu=0, volumesFrom=[], **container_over)
    return td


def expect_describe(stub, ref, td):
    stub.add_response("describe_task_definition", {"taskDefinition": td}, {"taskDefinition": ref})


def service_on(td):
    return {"serviceName": "web", "status": "ACTIVE", "taskDefinition": td["taskDefinitionArn"]}


def test_existing_service_keeps_its_deployed_image_with_one_call():
    """Deployed 2.0.0, inventory still says 1.0.0: nothing to do, one read."""
    a, stub = app()
    running = described(a, 7, f"{REPO}:2.0.0")
    expect_describe(stub, running["taskDefinitionArn"], running)
    arn = a.ensure_task_definition(a.p["processes"][0], EXEC_ARN, TASK_ARN, service_on(running))
    stub.assert_no_pending_responses()
    assert arn == running["taskDefinitionArn"]
    assert a.changes == []


def test_service_rolled_back_to_an_older_revision_stays_there():
    """The service runs revision 5 (1.0.0) after a rollback from 6 (2.0.0): provisioning leaves it on 5."""
    a, stub = app(image=f"{REPO}:3.0.0")
    running = described(a, 5, f"{REPO}:1.0.0")
    expect_describe(stub, running["taskDefinitionArn"], running)
    assert a.ensure_task_definition(a.p["processes"][0], EXEC_ARN, TASK_ARN, service_on(running)) == running["taskDefinitionArn"]
    stub.assert_no_pending_responses()
    assert a.changes == []


def test_provisioned_setting_change_registers_with_the_running_image():
    """cpu changed in the inventory: a new revision, with the image the service runs (2.0.0), not the inventory's."""
    a, stub = app()
    running = described(a, 7, f"{REPO}:2.0.0")
    running["cpu"] = "128"
    latest = described(a, 8, f"{REPO}:9.0.0")  # someone registered a newer revision the service does not run
    expect_describe(stub, running["taskDefinitionArn"], running)
    expect_describe(stub, "webstack-t-web", latest)
    wanted = a.task_definition(a.p["processes"][0], EXEC_ARN, TASK_ARN, f"{REPO}:2.0.0")
    assert wanted["containerDefinitions"][0]["image"] == f"{REPO}:2.0.0"
    kwargs = dict(wanted, tags=[{"key": "Project", "value": "webstack"}])
    registered = described(a, 9, f"{REPO}:2.0.0")
    stub.add_response("register_task_definition", {"taskDefinition": registered}, kwargs)
    assert a.ensure_task_definition(a.p["processes"][0], EXEC_ARN, TASK_ARN, service_on(running)) == registered["taskDefinitionArn"]
    stub.assert_no_pending_responses()
    assert a.changes == [f"register task definition webstack-t-web (differs from revision 8, keeping the running image {REPO}:2.0.0)"]


def test_latest_revision_matching_the_running_image_is_used():
    """Service on revision 7 whose cpu differs; revision 8 already has the new cpu and the running image."""
    a, stub = app()
    running = described(a, 7, f"{REPO}:2.0.0")
    running["cpu"] = "128"
    latest = described(a, 8, f"{REPO}:2.0.0")
    expect_describe(stub, running["taskDefinitionArn"], running)
    expect_describe(stub, "webstack-t-web", latest)
    assert a.ensure_task_definition(a.p["processes"][0], EXEC_ARN, TASK_ARN, service_on(running)) == latest["taskDefinitionArn"]
    stub.assert_no_pending_responses()
    assert a.changes == []


def test_new_service_uses_the_image_option():
    a, stub = app()
    stub.add_client_error("describe_task_definition", "ClientException", "Unable to describe task definition.",
                          expected_params={"taskDefinition": "webstack-t-web"})
    wanted = a.task_definition(a.p["processes"][0], EXEC_ARN, TASK_ARN)
    registered = described(a, 1, f"{REPO}:1.0.0")
    stub.add_response("register_task_definition", {"taskDefinition": registered},
                      dict(wanted, tags=[{"key": "Project", "value": "webstack"}]))
    assert a.ensure_task_definition(a.p["processes"][0], EXEC_ARN, TASK_ARN, None) == registered["taskDefinitionArn"]
    stub.assert_no_pending_responses()
    assert wanted["containerDefinitions"][0]["image"] == f"{REPO}:1.0.0"
    assert a.changes == ["register task definition webstack-t-web (new)"]


def test_check_mode_reports_without_registering():
    a, stub = app(check_mode=True)
    running = described(a, 7, f"{REPO}:2.0.0", readonlyRootFilesystem=False)
    expect_describe(stub, running["taskDefinitionArn"], running)
    expect_describe(stub, "webstack-t-web", running)
    assert a.ensure_task_definition(a.p["processes"][0], EXEC_ARN, TASK_ARN, service_on(running)) == "webstack-t-web:pending"
    stub.assert_no_pending_responses()
    assert a.changes == [f"register task definition webstack-t-web (differs from revision 7, keeping the running image {REPO}:2.0.0)"]


@pytest.mark.parametrize("container_name", ["web", "other"])
def test_image_of_the_process_container_or_the_only_container(container_name):
    a, stub = app()
    running = described(a, 7, f"{REPO}:2.0.0", name=container_name)
    expect_describe(stub, running["taskDefinitionArn"], running)
    latest = described(a, 7, f"{REPO}:2.0.0")
    if container_name != "web":  # the container name differs, so the definition differs: compared with latest
        expect_describe(stub, "webstack-t-web", latest)
    arn = a.ensure_task_definition(a.p["processes"][0], EXEC_ARN, TASK_ARN, service_on(running))
    stub.assert_no_pending_responses()
    assert arn == running["taskDefinitionArn"]
