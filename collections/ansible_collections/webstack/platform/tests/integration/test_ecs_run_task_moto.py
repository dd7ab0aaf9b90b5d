"""webstack.platform.ecs_run_task through ansible-playbook against moto (the task read back with boto3)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.aws

CLUSTER = "h2-it-cluster"
COMMAND = ["python3", "-m", "webstack_app", "migrate"]


def setup_service(moto):
    ec2, ecs = moto.client("ec2"), moto.client("ecs")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # moto's RunTask needs it
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="h2-it-app", Description="app", VpcId=vpc)["GroupId"]
    ecs.create_cluster(clusterName=CLUSTER)
    for revision_image in ("app:1.3.0", "app:1.4.0"):
        ecs.register_task_definition(
            family=f"{CLUSTER}-api", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256",
            memory="512", containerDefinitions=[{"name": "api", "image": revision_image, "memory": 512,
                                                 "essential": True}])
    ecs.create_service(cluster=CLUSTER, serviceName="api", taskDefinition=f"{CLUSTER}-api:1", desiredCount=1,
                       launchType="FARGATE", platformVersion="1.4.0", networkConfiguration={
                           "awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg],
                                                   "assignPublicIp": "DISABLED"}})
    return subnet, sg


def run_task(**args):
    return {"name": "one-off task", "webstack.platform.ecs_run_task": dict(
        {"cluster": CLUSTER, "service": "api", "command": COMMAND, "poll_interval": 0,
         "started_by": "h2-it-migrate"}, **args)}


def test_check_mode_then_run_with_the_services_network(moto, run_playbook):
    moto.reset()
    subnet, sg = setup_service(moto)
    ecs = moto.client("ecs")

    moto.start_recording()
    stats, results = run_playbook([run_task(task_definition=f"{CLUSTER}-api:2")], check=True)
    assert stats["changed"] == 1 and stats["failures"] == 0, results
    assert moto.recorded_actions() == ["DescribeServices"]
    assert results[0]["run_request"]["networkConfiguration"]["awsvpcConfiguration"] == {
        "subnets": [subnet], "securityGroups": [sg], "assignPublicIp": "DISABLED"}
    assert ecs.list_tasks(cluster=CLUSTER)["taskArns"] == []

    moto.start_recording()
    stats, results = run_playbook([run_task(task_definition=f"{CLUSTER}-api:2")])
    assert stats["changed"] == 1 and stats["failures"] == 0, results
    actions = moto.recorded_actions()
    assert actions[:2] == ["DescribeServices", "RunTask"] and set(actions[2:]) == {"DescribeTasks"}, actions
    result = results[0]
    assert result["last_status"] == "STOPPED" and result["exit_code"] == 0
    described = ecs.describe_tasks(cluster=CLUSTER, tasks=[result["task_arn"]])["tasks"][0]
    assert described["taskDefinitionArn"].endswith(f"task-definition/{CLUSTER}-api:2")
    assert described["startedBy"] == "h2-it-migrate" and described["launchType"] == "FARGATE"
    assert described["platformVersion"] == "1.4.0"
    assert described["overrides"]["containerOverrides"] == [{"name": "api", "command": COMMAND}]
    eni = {d["name"]: d["value"] for d in described["attachments"][0]["details"]}
    assert eni["subnetId"] == subnet

    # the task definition defaults to the service's
    stats, results = run_playbook([run_task()])
    assert stats["failures"] == 0, results
    assert results[0]["task_definition"].endswith(f"task-definition/{CLUSTER}-api:1")


def test_unknown_service_fails_naming_it(moto, run_playbook):
    moto.reset()
    setup_service(moto)
    stats, results = run_playbook([dict(run_task(service="nope"), ignore_errors=True)])
    assert results[0]["failed"] is True
    assert results[0]["msg"].startswith(f"service nope not found in cluster {CLUSTER}")
