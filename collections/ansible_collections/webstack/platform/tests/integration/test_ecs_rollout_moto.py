"""webstack.platform.ecs_rollout through ansible-playbook against moto (services report 2 running tasks).

What moto 5.2.5 does (see the collection README): UpdateService changes only the service's taskDefinition,
never its deployments, so the module runs on its documented fallback (service revision + running count).
"""

from __future__ import annotations

import json
import os

import pytest

pytestmark = pytest.mark.aws

CLUSTER = "h1-it"
REPO_NAME = "h1-it/app"


@pytest.fixture(scope="module", autouse=True)
def _services_report_two_running_tasks():
    """Set before the module-scoped `moto` fixture starts its server, which copies the environment."""
    patch = pytest.MonkeyPatch()
    patch.setenv("MOTO_ECS_SERVICE_RUNNING", "2")
    yield
    patch.undo()


def _td_args(family, container, image):
    return dict(
        family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        executionRoleArn="arn:aws:iam::123456789012:role/h1-it-exec", taskRoleArn="arn:aws:iam::123456789012:role/h1-it-task",
        runtimePlatform={"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"}, volumes=[{"name": "tmp"}],
        containerDefinitions=[{
            "name": container, "image": image, "essential": True, "user": "10001", "readonlyRootFilesystem": True,
            "command": ["python3", "-m", "webstack_app", container],
            "environment": [{"name": "APP_ENV", "value": "it"}, {"name": "APP_DATABASE_HOST", "value": "db-old"}],
            "secrets": [{"name": "APP_DATABASE_PASSWORD", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf:password::"}],
            "mountPoints": [{"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}],
            "portMappings": [{"containerPort": 8000, "hostPort": 8000, "protocol": "tcp"}],
        }],
        tags=[{"key": "Project", "value": "webstack"}],
    )


@pytest.fixture
def stack(moto):
    """Cluster with services web + worker (2 of 2 tasks running) on revision 1 of their families, an ECR
    repository holding tags 1.0.0 and 2.0.0."""
    moto.reset()
    ec2, ecs, ecr = moto.client("ec2"), moto.client("ecs"), moto.client("ecr")
    vpc = ec2.create_vpc(CidrBlock="10.61.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.61.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="h1-it", Description="h1 it", VpcId=vpc)["GroupId"]
    repo_uri = ecr.create_repository(repositoryName=REPO_NAME)["repository"]["repositoryUri"]
    for tag in ("1.0.0", "2.0.0"):
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                    "config": {"digest": "sha256:" + tag.replace(".", "") * 16, "size": 1,
                               "mediaType": "application/vnd.docker.container.image.v1+json"}, "layers": []}
        ecr.put_image(repositoryName=REPO_NAME, imageManifest=json.dumps(manifest), imageTag=tag)
    ecs.create_cluster(clusterName=CLUSTER)
    services = {}
    for name in ("web", "worker"):
        arn = ecs.register_task_definition(**_td_args(f"h1-it-{name}", name, f"{repo_uri}:1.0.0"))["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(cluster=CLUSTER, serviceName=name, taskDefinition=arn, desiredCount=2, launchType="FARGATE",
                           networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg],
                                                                         "assignPublicIp": "DISABLED"}},
                           deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True},
                                                    "minimumHealthyPercent": 100, "maximumPercent": 200})
        services[name] = arn
    return {"ecs": ecs, "repo": repo_uri, "subnet": subnet, "sg": sg, "rev1": services}


def _rollout(services, **args):
    args = dict({"cluster": CLUSTER, "poll_interval": 1, "wait_timeout": 30}, **args)
    args["services"] = services
    return {"name": "rollout", "webstack.platform.ecs_rollout": args}


def _writes(actions):
    """Calls other than reads (the shared recorder's `mutating` does not know Register/Deregister)."""
    return [a for a in actions if not a.startswith(("Describe", "List", "Get"))]


def _service_tds(ecs, names=("web", "worker")):
    return {s["serviceName"]: s["taskDefinition"] for s in ecs.describe_services(cluster=CLUSTER, services=list(names))["services"]}


def test_deploy_rerun_check_and_rollback(moto, stack, run_playbook):
    ecs, repo = stack["ecs"], stack["repo"]
    image2 = f"{repo}:2.0.0"
    deploy = _rollout([{"name": "web", "image": image2}, {"name": "worker", "image": image2}], keep_revisions=5)

    moto.start_recording()
    stats, results = run_playbook([deploy])
    actions = moto.recorded_actions()
    assert stats["failures"] == 0 and stats["changed"] == 1, results
    result = results[0]
    assert {n: s["rollout_state"] for n, s in result["services"].items()} == {"web": "COMPLETED", "worker": "COMPLETED"}
    assert actions.count("RegisterTaskDefinition") == 2 and actions.count("UpdateService") == 2, actions
    assert actions.count("DescribeImages") == 1, actions          # one distinct image verified
    assert actions.count("DeregisterTaskDefinition") == 0, actions  # 2 revisions <= keep 5
    tds = _service_tds(ecs)
    for name in ("web", "worker"):
        assert tds[name].endswith(f"task-definition/h1-it-{name}:2"), tds
        assert result["services"][name]["previous_task_definition"] == stack["rev1"][name]
        assert result["services"][name]["task_definition"] == tds[name]
        described = ecs.describe_task_definition(taskDefinition=tds[name], include=["TAGS"])
        new, old = described["taskDefinition"], ecs.describe_task_definition(taskDefinition=stack["rev1"][name])["taskDefinition"]
        assert new["containerDefinitions"][0]["image"] == image2
        # everything but the image is the old revision's
        new["containerDefinitions"][0]["image"] = old["containerDefinitions"][0]["image"]
        for definition in (new, old):  # the module writes the environment sorted by name
            definition["containerDefinitions"][0]["environment"].sort(key=lambda e: e["name"])
        for key in ("containerDefinitions", "cpu", "memory", "networkMode", "executionRoleArn", "taskRoleArn",
                    "volumes", "requiresCompatibilities", "runtimePlatform"):
            assert new[key] == old[key], key
        assert {t["key"]: t["value"] for t in described.get("tags", [])} == {"Project": "webstack"}

    # Re-run: nothing changes and only reads are made.
    moto.start_recording()
    stats, results = run_playbook([deploy])
    actions = moto.recorded_actions()
    assert stats["changed"] == 0 and stats["failures"] == 0, results
    assert {s["rollout_state"] for s in results[0]["services"].values()} == {"UNCHANGED"}
    assert _writes(actions) == [], actions
    assert all(a.startswith(("Describe", "List")) for a in actions), actions

    # Check mode of a deploy of a tag missing from ECR: fails before any change, naming the image.
    moto.start_recording()
    stats, results = run_playbook([_rollout([{"name": "web", "image": f"{repo}:9.9.9"}])], check=True)
    actions = moto.recorded_actions()
    assert stats["failures"] == 1, results
    assert results[0]["msg"] == f"image {repo}:9.9.9 does not exist in ECR repository {REPO_NAME} (tag 9.9.9)"
    assert results[0]["missing_images"] == [f"{repo}:9.9.9"]
    assert _writes(actions) == [], actions

    # Check mode of a real change: the plan, no write.
    moto.start_recording()
    stats, results = run_playbook([_rollout([{"name": "web", "image": f"{repo}:1.0.0"}])], check=True)
    actions = moto.recorded_actions()
    assert stats["changed"] == 1 and stats["failures"] == 0, results
    web = results[0]["services"]["web"]
    assert web["changed"] and web["rollout_state"] == "PLANNED" and web["action"] == "register", web
    assert web["task_definition"] == "h1-it-web:new" and web["image"] == f"{repo}:1.0.0", web
    assert web["previous_task_definition"].endswith("h1-it-web:2"), web
    assert _writes(actions) == [], actions
    assert _service_tds(ecs)["web"].endswith(":2")

    # Rollback by revision: both services back on revision 1, waited for.
    rollback = _rollout([{"name": "web", "task_definition": "h1-it-web:1"},
                         {"name": "worker", "task_definition": stack["rev1"]["worker"]}])
    stats, results = run_playbook([rollback])
    assert stats["failures"] == 0 and stats["changed"] == 1, results
    assert _service_tds(ecs) == stack["rev1"]
    assert {s["rollout_state"] for s in results[0]["services"].values()} == {"COMPLETED"}
    stats, results = run_playbook([rollback])
    assert stats["changed"] == 0, results

    # Deploying 2.0.0 again reuses revision 2 (identical) instead of registering a third one.
    moto.start_recording()
    stats, results = run_playbook([deploy])
    actions = moto.recorded_actions()
    assert stats["changed"] == 1 and stats["failures"] == 0, results
    assert "RegisterTaskDefinition" not in actions, actions
    assert {n: s["action"] for n, s in results[0]["services"].items()} == {"web": "reuse", "worker": "reuse"}
    assert _service_tds(ecs)["web"].endswith("h1-it-web:2")


def test_register_only_environment_and_deregistration(moto, stack, run_playbook):
    ecs, repo = stack["ecs"], stack["repo"]
    image2 = f"{repo}:2.0.0"
    services = [{"name": "web", "image": image2, "environment": {"APP_DATABASE_HOST": "db-new", "APP_EXTRA": 1}}]

    stats, results = run_playbook([_rollout(services, register_only=True)])
    assert stats["changed"] == 1 and stats["failures"] == 0, results
    web = results[0]["services"]["web"]
    assert web["rollout_state"] == "REGISTERED" and web["task_definition"].endswith("h1-it-web:2"), web
    assert _service_tds(ecs)["web"] == stack["rev1"]["web"]  # the service did not move
    container = ecs.describe_task_definition(taskDefinition="h1-it-web:2")["taskDefinition"]["containerDefinitions"][0]
    assert container["image"] == image2
    assert {e["name"]: e["value"] for e in container["environment"]} == {
        "APP_ENV": "it", "APP_DATABASE_HOST": "db-new", "APP_EXTRA": "1"}
    assert container["secrets"][0]["valueFrom"].startswith("arn:aws:secretsmanager:")

    # The real deploy reuses the registered revision.
    stats, results = run_playbook([_rollout(services)])
    assert stats["changed"] == 1 and results[0]["services"]["web"]["action"] == "reuse", results
    assert _service_tds(ecs)["web"].endswith("h1-it-web:2")

    # Revisions 3 and 4 (1.0.0 again with other hosts), then keep 1: revision 1 is protected, the one the
    # service is on stays, 2 and 3 go.
    for host in ("db-3", "db-4"):
        stats, results = run_playbook([_rollout([{"name": "web", "environment": {"APP_DATABASE_HOST": host}}])])
        assert stats["changed"] == 1 and stats["failures"] == 0, results
    assert _service_tds(ecs)["web"].endswith("h1-it-web:4")
    stats, results = run_playbook([_rollout([{"name": "web", "environment": {"APP_DATABASE_HOST": "db-4"}}],
                                            keep_revisions=1, protected_task_definitions=["h1-it-web:1"])], check=True)
    assert stats["changed"] == 1 and sorted(a.split(":")[-1] for a in results[0]["deregistered"]) == ["2", "3"], results
    assert len(ecs.list_task_definitions(familyPrefix="h1-it-web", status="ACTIVE")["taskDefinitionArns"]) == 4
    stats, results = run_playbook([_rollout([{"name": "web", "environment": {"APP_DATABASE_HOST": "db-4"}}],
                                            keep_revisions=1, protected_task_definitions=["h1-it-web:1"])])
    assert stats["changed"] == 1 and stats["failures"] == 0, results
    active = ecs.list_task_definitions(familyPrefix="h1-it-web", status="ACTIVE")["taskDefinitionArns"]
    assert sorted(a.split(":")[-1] for a in active) == ["1", "4"]
    assert results[0]["services"]["web"]["rollout_state"] == "UNCHANGED"


def test_timeout_rolls_every_changed_service_back(moto, stack, run_playbook):
    """A service with 3 desired tasks never gets past the emulator's 2 running: its rollout times out, both
    services go back to revision 1, and the rollback of the slow one times out too (reported)."""
    ecs, repo = stack["ecs"], stack["repo"]
    arn = ecs.register_task_definition(**_td_args("h1-it-slow", "slow", f"{repo}:1.0.0"))["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster=CLUSTER, serviceName="slow", taskDefinition=arn, desiredCount=3, launchType="FARGATE",
                       networkConfiguration={"awsvpcConfiguration": {"subnets": [stack["subnet"]], "securityGroups": [stack["sg"]]}})
    image2 = f"{repo}:2.0.0"
    stats, results = run_playbook([_rollout([{"name": "web", "image": image2}, {"name": "slow", "image": image2}],
                                            wait_timeout=3)])
    assert stats["failures"] == 1, results
    result = results[0]
    assert result["msg"].startswith(
        "service slow: rollout TIMEOUT (not COMPLETED within 3s (service on h1-it-slow:2, 2 of 3 tasks running)); "), result["msg"]
    assert "ROLLBACK FAILED: service slow back to h1-it-slow:1: TIMEOUT" in result["msg"], result["msg"]
    assert "(rolled back: web)" in result["msg"], result["msg"]
    assert result["rolled_back"] is True
    assert result["services"]["web"]["rollout_state"] == "COMPLETED"
    assert result["rollback"]["web"]["rollout_state"] == "COMPLETED"
    assert _service_tds(ecs, ("web", "slow")) == {"web": stack["rev1"]["web"], "slow": arn}


def test_missing_service_fails_before_any_change(moto, stack, run_playbook):
    moto.start_recording()
    stats, results = run_playbook([_rollout([{"name": "web", "image": f"{stack['repo']}:2.0.0"}, {"name": "nope", "image": "x:1"}])])
    assert stats["failures"] == 1, results
    assert results[0]["msg"] == f"service(s) not found in cluster {CLUSTER}: nope (MISSING)"
    assert _writes(moto.recorded_actions()) == []
    assert os.environ.get("MOTO_ECS_SERVICE_RUNNING") == "2"


def test_provisioning_after_a_deploy_keeps_the_deployed_version(moto, stack, run_playbook):
    """ecs_app (provisioning) with the inventory's 1.0.0 after ecs_rollout deployed 2.0.0: no change, and a
    provisioned setting that changes registers a revision that keeps 2.0.0. After a rollback to the 1.0.0
    revision, provisioning leaves the service there."""
    ecs, repo = stack["ecs"], stack["repo"]
    app_args = {"name": "h1-app", "cluster_name": "h1-app", "execution_role_name": "h1-app-exec", "task_role_name": "h1-app-task",
                "log_group_prefix": "/ecs/h1-app/", "image": f"{repo}:1.0.0", "subnets": [stack["subnet"]],
                "security_groups": [stack["sg"]], "environment": {"APP_ENV": "it"},
                "processes": [{"name": "web", "cpu": 256, "memory": 512, "port": 8000, "min_tasks": 2, "max_tasks": 4,
                               "cpu_target": 70}]}

    def provision(**over):
        return {"name": "provision", "webstack.platform.ecs_app": dict(app_args, **over)}

    def web_td():
        return ecs.describe_services(cluster="h1-app", services=["web"])["services"][0]["taskDefinition"]

    def image_of(arn):
        return ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]["containerDefinitions"][0]["image"]

    stats, results = run_playbook([provision()])
    assert stats["failures"] == 0 and stats["changed"] == 1, results
    rev1 = web_td()
    assert image_of(rev1) == f"{repo}:1.0.0"
    stats, results = run_playbook([{"name": "deploy", "webstack.platform.ecs_rollout": {
        "cluster": "h1-app", "services": [{"name": "web", "image": f"{repo}:2.0.0"}], "poll_interval": 1, "wait_timeout": 30}}])
    assert stats["failures"] == 0 and stats["changed"] == 1, results
    rev2 = web_td()
    assert rev2.endswith("h1-app-web:2") and image_of(rev2) == f"{repo}:2.0.0"

    stats, results = run_playbook([provision()])
    assert stats["failures"] == 0 and stats["changed"] == 0, results
    assert web_td() == rev2

    stats, results = run_playbook([provision(environment={"APP_ENV": "it", "APP_FLAG": "on"})])
    assert stats["failures"] == 0 and stats["changed"] == 1, results
    rev3 = web_td()
    assert rev3.endswith("h1-app-web:3") and image_of(rev3) == f"{repo}:2.0.0"

    stats, results = run_playbook([{"name": "rollback", "webstack.platform.ecs_rollout": {
        "cluster": "h1-app", "services": [{"name": "web", "task_definition": rev2}], "poll_interval": 1, "wait_timeout": 30}}])
    assert stats["failures"] == 0 and stats["changed"] == 1, results
    stats, results = run_playbook([provision()])
    assert stats["failures"] == 0 and stats["changed"] == 0, results
    assert web_td() == rev2
