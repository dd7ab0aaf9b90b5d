"""Unit tests of webstack.platform.ecs_rollout through main(), with botocore Stubber responses shaped like
AWS's documented DescribeServices / DescribeTaskDefinition output (deployments[].rolloutState,
rolloutStateReason, events[]): the paths the emulator cannot produce (circuit breaker, timeouts)."""

from __future__ import annotations

import copy
import datetime

import pytest
from ansible_collections.webstack.platform.plugins.modules import ecs_rollout

CLUSTER = "webstack-t"
ACCOUNT = "123456789012"
REPO = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/webstack-t/app"
NOW = datetime.datetime(2026, 11, 22, 9, 0, tzinfo=datetime.timezone.utc)
BREAKER = ("ECS deployment circuit breaker: tasks failed to start.")


def td_arn(family, revision):
    return f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/{family}:{revision}"


def task_definition(process, revision, image=f"{REPO}:1.0.0", env=None, status="ACTIVE"):
    env = env if env is not None else {"APP_ENV": "t", "APP_DATABASE_HOST": "db"}
    return {
        "taskDefinitionArn": td_arn(f"webstack-t-{process}", revision),
        "family": f"webstack-t-{process}", "revision": revision, "status": status,
        "taskRoleArn": f"arn:aws:iam::{ACCOUNT}:role/webstack-t-task",
        "executionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/webstack-t-exec",
        "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"], "compatibilities": ["EC2", "FARGATE"],
        "cpu": "256", "memory": "512", "volumes": [{"name": "tmp", "host": {}}], "placementConstraints": [],
        "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
        "ephemeralStorage": {"sizeInGiB": 21},
        "requiresAttributes": [{"name": "ecs.capability.execution-role-awslogs"}],
        "registeredAt": NOW, "registeredBy": f"arn:aws:iam::{ACCOUNT}:user/ci",
        "containerDefinitions": [{
            "name": process, "image": image, "cpu": 0, "essential": True, "user": "10001",
            "readonlyRootFilesystem": True, "portMappings": [{"containerPort": 8000, "hostPort": 8000, "protocol": "tcp"}],
            "environment": [{"name": k, "value": v} for k, v in env.items()],
            "secrets": [{"name": "APP_DATABASE_PASSWORD",
                         "valueFrom": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:db-AbCdEf:password::"}],
            "mountPoints": [{"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}], "volumesFrom": [],
            "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": f"/ecs/webstack-t/{process}",
                                                                     "awslogs-region": "us-east-1", "awslogs-stream-prefix": process}},
        }],
    }


def deployment(dep_id, td, status="PRIMARY", state="COMPLETED", reason=None, running=2, desired=2, failed=0):
    dep = {"id": dep_id, "status": status, "taskDefinition": td, "desiredCount": desired, "pendingCount": max(desired - running, 0),
           "runningCount": running, "failedTasks": failed, "createdAt": NOW, "updatedAt": NOW, "launchType": "FARGATE",
           "platformVersion": "1.4.0"}
    if state is not None:
        dep["rolloutState"] = state
        dep["rolloutStateReason"] = reason or {"COMPLETED": f"ECS deployment {dep_id} completed.",
                                               "IN_PROGRESS": f"ECS deployment {dep_id} in progress."}.get(state, "")
    return dep


def done(dep, **changes):
    """`dep` after it completed."""
    return dict(dep, rolloutState="COMPLETED", rolloutStateReason=f"ECS deployment {dep['id']} completed.", **changes)


def event(event_id, message):
    return {"id": event_id, "createdAt": NOW, "message": message}


def service(name, td, deployments=None, events=None, running=2, desired=2, status="ACTIVE"):
    return {
        "serviceArn": f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/{CLUSTER}/{name}", "serviceName": name,
        "clusterArn": f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/{CLUSTER}", "status": status, "desiredCount": desired,
        "runningCount": running, "pendingCount": max(desired - running, 0), "launchType": "FARGATE", "taskDefinition": td,
        "deployments": deployments if deployments is not None else [deployment(f"ecs-svc/{name}-0", td)],
        "events": events or [event(f"{name}-e0", f"(service {name}) has reached a steady state.")],
    }


def describe_services(stub, *services, names=None):
    names = names or [s["serviceName"] for s in services]
    stub.add_response("describe_services", {"services": list(services), "failures": []},
                      {"cluster": CLUSTER, "services": names})


def describe_td(stub, ref, definition, tags=None):
    stub.add_response("describe_task_definition", {"taskDefinition": copy.deepcopy(definition), "tags": tags or []},
                      {"taskDefinition": ref, "include": ["TAGS"]})


def registration_of(definition, image=None, env=None, tags=None):
    """What RegisterTaskDefinition must receive for `definition` with another image / environment."""
    kwargs = {k: copy.deepcopy(definition[k]) for k in ecs_rollout.REGISTRABLE if definition.get(k) not in (None, "", [], {})}
    container = kwargs["containerDefinitions"][0]
    if image:
        container["image"] = image
    values = {e["name"]: e["value"] for e in container["environment"]}
    values.update(env or {})
    container["environment"] = [{"name": k, "value": v} for k, v in sorted(values.items())]
    if tags:
        kwargs["tags"] = [{"key": k, "value": v} for k, v in sorted(tags.items())]
    return kwargs


def register(stub, definition, kwargs):
    stub.add_response("register_task_definition", {"taskDefinition": definition}, kwargs)


def update(stub, name, td, result_service, force=False):
    params = {"cluster": CLUSTER, "service": name, "taskDefinition": td}
    if force:
        params["forceNewDeployment"] = True
    stub.add_response("update_service", {"service": result_service}, params)


def image_found(ecr, tag):
    ecr.add_response("describe_images", {"imageDetails": [{"registryId": ACCOUNT, "repositoryName": "webstack-t/app",
                                                           "imageDigest": "sha256:" + "a" * 64, "imageTags": [tag]}]},
                     {"registryId": ACCOUNT, "repositoryName": "webstack-t/app", "imageIds": [{"imageTag": tag}]})


@pytest.fixture
def clock(fake_clock):
    """Every waiter's clock is a fake one (conftest's fake_clock): sleep() advances monotonic() instead of waiting."""
    return fake_clock()


def args(services, **extra):
    return dict({"cluster": CLUSTER, "services": services, "poll_interval": 10, "wait_timeout": 600}, **extra)


def plan_two(ecs, ecr, tag="2.0.0"):
    """The reads every image deploy of web + api starts with (both on revision 3 = the family's latest)."""
    web3, api3 = task_definition("web", 3), task_definition("api", 3)
    describe_services(ecs, service("web", web3["taskDefinitionArn"]), service("api", api3["taskDefinitionArn"]))
    describe_td(ecs, "webstack-t-web", web3, tags=[{"key": "Project", "value": "webstack"}])
    describe_td(ecs, "webstack-t-api", api3)
    image_found(ecr, tag)
    return web3, api3


def register_and_update_two(ecs, web3, api3, image):
    web4, api4 = task_definition("web", 4, image), task_definition("api", 4, image)
    register(ecs, web4, registration_of(web3, image, tags={"Project": "webstack"}))
    register(ecs, api4, registration_of(api3, image))
    new = {}
    for old, newdef in ((web3, web4), (api3, api4)):
        name = old["containerDefinitions"][0]["name"]
        dep = deployment(f"ecs-svc/{name}-1", newdef["taskDefinitionArn"], state="IN_PROGRESS", running=0)
        prev = deployment(f"ecs-svc/{name}-0", old["taskDefinitionArn"], status="ACTIVE")
        update(ecs, name, newdef["taskDefinitionArn"], service(name, newdef["taskDefinitionArn"], [dep, prev]))
        new[name] = (newdef, dep, prev)
    return new


# --- success -----------------------------------------------------------------------------------------------
def test_deploy_waits_for_completed_with_few_calls(aws_stub, run_module, clock):
    ecs, ecr = aws_stub("ecs"), aws_stub("ecr")
    image = f"{REPO}:2.0.0"
    web3, api3 = plan_two(ecs, ecr)
    new = register_and_update_two(ecs, web3, api3, image)
    (web4, web_dep, web_prev), (api4, api_dep, _) = new["web"], new["api"]
    # round 1: web still in progress (old deployment draining), api done; round 2: web done
    describe_services(ecs, service("web", web4["taskDefinitionArn"], [dict(web_dep, runningCount=1), web_prev], running=3),
                      service("api", api4["taskDefinitionArn"], [done(api_dep, runningCount=2)]))
    describe_services(ecs, service("web", web4["taskDefinitionArn"], [done(web_dep, runningCount=2)],
                                   events=[event("web-e1", "(service web) has reached a steady state."),
                                           event("web-e0", "old event")]),
                      names=["web"])
    res = run_module(ecs_rollout, args([{"name": "web", "image": image}, {"name": "api", "image": image}]))
    assert not res.failed, res.result
    out = res.result
    assert out["changed"] is True and out["rolled_back"] is False
    assert out["services"]["web"]["rollout_state"] == "COMPLETED"
    assert out["services"]["web"]["previous_task_definition"] == web3["taskDefinitionArn"]
    assert out["services"]["web"]["task_definition"] == web4["taskDefinitionArn"]
    assert out["services"]["web"]["events"] == ["(service web) has reached a steady state."]  # only the new one
    assert out["services"]["api"]["rollout_state"] == "COMPLETED"
    assert out["services"]["api"]["image"] == image
    assert clock.sleeps == [10]


def test_unchanged_makes_only_describe_calls(aws_stub, run_module, clock):
    ecs, ecr = aws_stub("ecs"), aws_stub("ecr")
    web3, api3 = plan_two(ecs, ecr, tag="1.0.0")
    res = run_module(ecs_rollout, args([{"name": "web", "image": f"{REPO}:1.0.0"}, {"name": "api", "image": f"{REPO}:1.0.0"}],
                                       keep_revisions=0))
    assert not res.failed, res.result
    assert res.result["changed"] is False and res.result["changes"] == []
    assert {s["rollout_state"] for s in res.result["services"].values()} == {"UNCHANGED"}
    assert res.result["services"]["web"]["task_definition"] == web3["taskDefinitionArn"]


def test_non_ecr_image_is_not_verified(aws_stub, run_module, clock):
    ecs = aws_stub("ecs")
    aws_stub("ecr")  # nothing queued: an ECR call would fail the test
    web3 = task_definition("web", 3, image="registry.example.com/app:1")
    describe_services(ecs, service("web", web3["taskDefinitionArn"]))
    describe_td(ecs, "webstack-t-web", web3)
    res = run_module(ecs_rollout, args([{"name": "web", "image": "registry.example.com/app:1"}]))
    assert not res.failed and res.result["changed"] is False, res.result


def test_latest_identical_revision_is_reused_not_registered(aws_stub, run_module, clock):
    ecs, ecr = aws_stub("ecs"), aws_stub("ecr")
    image = f"{REPO}:2.0.0"
    web4, web5 = task_definition("web", 4), task_definition("web", 5, image)  # 5: left by a failed earlier run
    web5["containerDefinitions"][0]["environment"].reverse()  # order does not matter
    describe_services(ecs, service("web", web4["taskDefinitionArn"]))
    describe_td(ecs, "webstack-t-web", web5)
    describe_td(ecs, web4["taskDefinitionArn"], web4)
    image_found(ecr, "2.0.0")
    dep = deployment("ecs-svc/web-1", web5["taskDefinitionArn"], state="IN_PROGRESS", running=0)
    update(ecs, "web", web5["taskDefinitionArn"], service("web", web5["taskDefinitionArn"], [dep]))
    describe_services(ecs, service("web", web5["taskDefinitionArn"], [done(dep)]))
    res = run_module(ecs_rollout, args([{"name": "web", "image": image}]))
    assert not res.failed, res.result
    assert res.result["services"]["web"]["action"] == "reuse"
    assert res.result["services"]["web"]["task_definition"] == web5["taskDefinitionArn"]


def test_environment_override_registers_only_that_change(aws_stub, run_module, clock):
    ecs, ecr = aws_stub("ecs"), aws_stub("ecr")
    web3 = task_definition("web", 3)
    web4 = task_definition("web", 4, env={"APP_ENV": "t", "APP_DATABASE_HOST": "db-restored"})
    describe_services(ecs, service("web", web3["taskDefinitionArn"]))
    describe_td(ecs, "webstack-t-web", web3)
    image_found(ecr, "1.0.0")  # the current image is kept; it is an ECR image, so it is verified
    register(ecs, web4, registration_of(web3, env={"APP_DATABASE_HOST": "db-restored"}, tags={"webstack:release": "r1"}))
    dep = deployment("ecs-svc/web-1", web4["taskDefinitionArn"], state="IN_PROGRESS", running=0)
    update(ecs, "web", web4["taskDefinitionArn"], service("web", web4["taskDefinitionArn"], [dep]), force=True)
    describe_services(ecs, service("web", web4["taskDefinitionArn"], [done(dep)]))
    res = run_module(ecs_rollout, args([{"name": "web", "environment": {"APP_DATABASE_HOST": "db-restored"}}],
                                       force_new_deployment=True, tags={"webstack:release": "r1"}))
    assert not res.failed, res.result
    assert res.result["services"]["web"]["action"] == "register"
    assert res.result["services"]["web"]["rollout_state"] == "COMPLETED"


def test_force_new_deployment_on_the_same_revision(aws_stub, run_module, clock):
    ecs = aws_stub("ecs")
    web3 = task_definition("web", 3, image="registry.example.com/app:1")
    describe_services(ecs, service("web", web3["taskDefinitionArn"]))
    describe_td(ecs, "webstack-t-web", web3)
    dep = deployment("ecs-svc/web-1", web3["taskDefinitionArn"], state="IN_PROGRESS", running=0)
    old = deployment("ecs-svc/web-0", web3["taskDefinitionArn"], status="ACTIVE")
    update(ecs, "web", web3["taskDefinitionArn"], service("web", web3["taskDefinitionArn"], [dep, old]), force=True)
    # the old deployment on the same revision must not be mistaken for the new one
    describe_services(ecs, service("web", web3["taskDefinitionArn"], [dep, old]))
    describe_services(ecs, service("web", web3["taskDefinitionArn"], [done(dep)]))
    res = run_module(ecs_rollout, args([{"name": "web"}], force_new_deployment=True))
    assert not res.failed, res.result
    assert res.result["changed"] is True
    assert res.result["services"]["web"]["action"] == "force"
    assert res.result["services"]["web"]["rollout_state"] == "COMPLETED"


def test_task_definition_mode_points_the_service_at_the_revision(aws_stub, run_module, clock):
    ecs = aws_stub("ecs")
    aws_stub("ecr")
    web4, web2 = task_definition("web", 4, image="registry.example.com/app:2"), task_definition("web", 2, image="registry.example.com/app:1")
    describe_services(ecs, service("web", web4["taskDefinitionArn"]))
    describe_td(ecs, "webstack-t-web:2", web2)
    dep = deployment("ecs-svc/web-1", web2["taskDefinitionArn"], state="IN_PROGRESS", running=0)
    update(ecs, "web", web2["taskDefinitionArn"], service("web", web2["taskDefinitionArn"], [dep]))
    describe_services(ecs, service("web", web2["taskDefinitionArn"], [done(dep)]))
    res = run_module(ecs_rollout, args([{"name": "web", "task_definition": "webstack-t-web:2"}]))
    assert not res.failed, res.result
    web = res.result["services"]["web"]
    assert (web["action"], web["image"], web["task_definition"]) == ("point", "registry.example.com/app:1", web2["taskDefinitionArn"])


def test_task_definition_mode_refuses_an_inactive_revision_before_any_change(aws_stub, run_module, clock):
    ecs = aws_stub("ecs")
    web4, web2 = task_definition("web", 4), task_definition("web", 2, status="INACTIVE")
    describe_services(ecs, service("web", web4["taskDefinitionArn"]))
    describe_td(ecs, "webstack-t-web:2", web2)
    res = run_module(ecs_rollout, args([{"name": "web", "task_definition": "webstack-t-web:2"}]))
    assert res.failed
    assert res.result["msg"] == "service web: task definition webstack-t-web:2 is INACTIVE (deregistered); ECS cannot deploy it"


# --- plan / check mode / input errors -------------------------------------------------------------------------
def test_check_mode_reports_the_plan_and_writes_nothing(aws_stub, run_module, clock):
    ecs, ecr = aws_stub("ecs"), aws_stub("ecr")
    web3, api3 = plan_two(ecs, ecr)
    res = run_module(ecs_rollout, args([{"name": "web", "image": f"{REPO}:2.0.0"}, {"name": "api", "image": f"{REPO}:2.0.0"}]),
                     check_mode=True)
    assert not res.failed, res.result
    out = res.result
    assert out["changed"] is True
    assert out["services"]["web"] == {
        "previous_task_definition": web3["taskDefinitionArn"], "task_definition": "webstack-t-web:new", "image": f"{REPO}:2.0.0",
        "changed": True, "action": "register", "rollout_state": "PLANNED", "reason": "", "events": [],
        "running_count": 2, "desired_count": 2}
    assert out["diff"] == {
        "before": f"web: webstack-t-web:3 ({REPO}:1.0.0)\napi: webstack-t-api:3 ({REPO}:1.0.0)\n",
        "after": f"web: webstack-t-web:new ({REPO}:2.0.0)\napi: webstack-t-api:new ({REPO}:2.0.0)\n"}
    assert out["changes"] == [
        f"register a new revision of webstack-t-web (image {REPO}:2.0.0) and point service web at it (from webstack-t-web:3)",
        f"register a new revision of webstack-t-api (image {REPO}:2.0.0) and point service api at it (from webstack-t-api:3)"]


def test_missing_ecr_image_fails_before_any_change_also_in_check_mode(aws_stub, run_module, clock):
    ecs, ecr = aws_stub("ecs"), aws_stub("ecr")
    web3 = task_definition("web", 3)
    describe_services(ecs, service("web", web3["taskDefinitionArn"]))
    describe_td(ecs, "webstack-t-web", web3)
    ecr.add_client_error("describe_images", "ImageNotFoundException", "The image with imageId {imageTag:'9.9.9'} does not exist")
    res = run_module(ecs_rollout, args([{"name": "web", "image": f"{REPO}:9.9.9"}]), check_mode=True)
    assert res.failed
    assert res.result["msg"] == f"image {REPO}:9.9.9 does not exist in ECR repository webstack-t/app (tag 9.9.9)"
    assert res.result["missing_images"] == [f"{REPO}:9.9.9"]
    assert res.result["changed"] is False


def test_missing_service_fails_naming_it(aws_stub, run_module, clock):
    ecs = aws_stub("ecs")
    web3 = task_definition("web", 3)
    ecs.add_response("describe_services", {"services": [service("web", web3["taskDefinitionArn"])],
                                           "failures": [{"arn": f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/{CLUSTER}/api", "reason": "MISSING"}]},
                     {"cluster": CLUSTER, "services": ["web", "api"]})
    res = run_module(ecs_rollout, args([{"name": "web", "image": "x:1"}, {"name": "api", "image": "x:1"}]))
    assert res.failed and res.result["msg"] == f"service(s) not found in cluster {CLUSTER}: api (MISSING)"


def test_image_and_task_definition_together_are_refused(aws_stub, run_module, clock):
    aws_stub("ecs")
    res = run_module(ecs_rollout, args([{"name": "web", "image": "x:1", "task_definition": "f:1"}]))
    assert res.failed and res.result["msg"] == "services: web gives both image and task_definition; give one"


def test_unknown_container_is_named(aws_stub, run_module, clock):
    ecs = aws_stub("ecs")
    web3 = task_definition("web", 3)
    describe_services(ecs, service("web", web3["taskDefinitionArn"]))
    describe_td(ecs, "webstack-t-web", web3)
    res = run_module(ecs_rollout, args([{"name": "web", "image": "x:1", "container": "app"}]))
    assert res.failed
    assert res.result["msg"] == "service web: task definition webstack-t-web:3 has no container 'app' (containers: web); set services[].container"


def test_register_only_registers_without_updating(aws_stub, run_module, clock):
    ecs, ecr = aws_stub("ecs"), aws_stub("ecr")
    image = f"{REPO}:2.0.0"
    web3 = task_definition("web", 3)
    describe_services(ecs, service("web", web3["taskDefinitionArn"]))
    describe_td(ecs, "webstack-t-web", web3)
    image_found(ecr, "2.0.0")
    web4 = task_definition("web", 4, image)
    register(ecs, web4, registration_of(web3, image))
    res = run_module(ecs_rollout, args([{"name": "web", "image": image}], register_only=True))
    assert not res.failed, res.result
    web = res.result["services"]["web"]
    assert (web["rollout_state"], web["task_definition"]) == ("REGISTERED", web4["taskDefinitionArn"])
    assert res.result["changed"] is True


# --- failures and rollback -------------------------------------------------------------------------------------
def test_circuit_breaker_failure_rolls_every_changed_service_back(aws_stub, run_module, clock):
    ecs, ecr = aws_stub("ecs"), aws_stub("ecr")
    image = f"{REPO}:2.0.0"
    web3, api3 = plan_two(ecs, ecr)
    new = register_and_update_two(ecs, web3, api3, image)
    (_, web_dep, _), (api4, api_dep, _) = new["web"], new["api"]
    # web: the circuit breaker marks the deployment FAILED and starts a PRIMARY on revision 3; api completed
    rollback_dep = deployment("ecs-svc/web-2", web3["taskDefinitionArn"], state="IN_PROGRESS", running=1)
    failed_web = service("web", web3["taskDefinitionArn"],
                         [rollback_dep, dict(web_dep, status="ACTIVE", rolloutState="FAILED", rolloutStateReason=BREAKER, failedTasks=3)],
                         events=[event("web-e2", "(service web) deployment ecs-svc/web-1 deployment failed: tasks failed to start."),
                                 event("web-e1", "(service web) has started 2 tasks: (task 1a) (task 1b)."),
                                 event("web-e0", "old")])
    describe_services(ecs, failed_web, service("api", api4["taskDefinitionArn"], [done(api_dep, runningCount=2)]))
    # rollback: web is already back on revision 3 (no UpdateService), api is put back
    api_back = deployment("ecs-svc/api-2", api3["taskDefinitionArn"], state="IN_PROGRESS", running=0)
    update(ecs, "api", api3["taskDefinitionArn"], service("api", api3["taskDefinitionArn"], [api_back, dict(api_dep, status="ACTIVE")]))
    describe_services(ecs, service("web", web3["taskDefinitionArn"], [done(rollback_dep)]),
                      service("api", api3["taskDefinitionArn"], [done(api_back)]))
    res = run_module(ecs_rollout, args([{"name": "web", "image": image}, {"name": "api", "image": image}]))
    assert res.failed
    out = res.result
    assert out["msg"] == (
        f"service web: rollout FAILED ({BREAKER}; events: (service web) deployment ecs-svc/web-1 deployment failed: tasks failed "
        "to start. | (service web) has started 2 tasks: (task 1a) (task 1b).); "
        "rolled back web, api to their previous revisions (COMPLETED)")
    assert out["rolled_back"] is True
    assert out["rollback"] == {
        "web": {"task_definition": web3["taskDefinitionArn"], "rollout_state": "COMPLETED", "reason": "ECS deployment ecs-svc/web-2 completed."},
        "api": {"task_definition": api3["taskDefinitionArn"], "rollout_state": "COMPLETED", "reason": "ECS deployment ecs-svc/api-2 completed."}}
    assert out["services"]["web"]["rollout_state"] == "FAILED"
    assert out["services"]["api"]["rollout_state"] == "COMPLETED"
    assert out["changed"] is True


def test_deployment_replaced_by_circuit_breaker_rollback_is_failed(aws_stub, run_module, clock):
    """The failed deployment has already disappeared: a PRIMARY on the old revision tells the breaker rolled back."""
    ecs = aws_stub("ecs")
    web3, web4 = task_definition("web", 3, image="r.example/app:1"), task_definition("web", 4, image="r.example/app:2")
    describe_services(ecs, service("web", web3["taskDefinitionArn"]))
    describe_td(ecs, "webstack-t-web", web3)
    register(ecs, web4, registration_of(web3, "r.example/app:2"))
    dep = deployment("ecs-svc/web-1", web4["taskDefinitionArn"], state="IN_PROGRESS", running=0)
    update(ecs, "web", web4["taskDefinitionArn"], service("web", web4["taskDefinitionArn"], [dep]))
    back = deployment("ecs-svc/web-2", web3["taskDefinitionArn"], state="COMPLETED")
    describe_services(ecs, service("web", web3["taskDefinitionArn"], [back]))
    res = run_module(ecs_rollout, args([{"name": "web", "image": "r.example/app:2"}]))
    assert res.failed
    assert res.result["msg"] == ("service web: rollout FAILED (rolled back by the circuit breaker to webstack-t-web:3); "
                                 "rolled back web to their previous revisions (COMPLETED)")
    # already back and COMPLETED in the last poll: no UpdateService, no further DescribeServices
    assert res.result["rollback"]["web"] == {"task_definition": web3["taskDefinitionArn"], "rollout_state": "COMPLETED",
                                             "reason": "back on webstack-t-web:3 by the circuit breaker: ECS deployment ecs-svc/web-2 completed."}


def test_timeout_rolls_back_and_says_so(aws_stub, run_module, clock):
    ecs = aws_stub("ecs")
    web3, web4 = task_definition("web", 3, image="r.example/app:1"), task_definition("web", 4, image="r.example/app:2")
    describe_services(ecs, service("web", web3["taskDefinitionArn"]))
    describe_td(ecs, "webstack-t-web", web3)
    register(ecs, web4, registration_of(web3, "r.example/app:2"))
    dep = deployment("ecs-svc/web-1", web4["taskDefinitionArn"], state="IN_PROGRESS", running=0)
    old = deployment("ecs-svc/web-0", web3["taskDefinitionArn"], status="ACTIVE")
    update(ecs, "web", web4["taskDefinitionArn"], service("web", web4["taskDefinitionArn"], [dep, old]))
    stuck = service("web", web4["taskDefinitionArn"], [dict(dep, runningCount=1), old], running=3,
                    events=[event("web-e1", "(service web) is unable to consistently start tasks successfully.")])
    for _ in range(4):  # t = 0, 10, 20, 30 s
        describe_services(ecs, stuck)
    back = deployment("ecs-svc/web-2", web3["taskDefinitionArn"], state="IN_PROGRESS", running=0)
    update(ecs, "web", web3["taskDefinitionArn"], service("web", web3["taskDefinitionArn"], [back, dict(dep, status="ACTIVE")]))
    describe_services(ecs, service("web", web3["taskDefinitionArn"], [done(back)]))
    res = run_module(ecs_rollout, args([{"name": "web", "image": "r.example/app:2"}], wait_timeout=30))
    assert res.failed
    assert res.result["msg"] == (
        "service web: rollout TIMEOUT (not COMPLETED within 30s (IN_PROGRESS, 1 of 2 tasks of webstack-t-web:4 running); events: (service web) is "
        "unable to consistently start tasks successfully.); rolled back web to their previous revisions (COMPLETED)")
    assert res.result["services"]["web"]["rollout_state"] == "TIMEOUT"
    assert clock.sleeps == [10, 10, 10]


def test_rollback_that_fails_too_is_reported(aws_stub, run_module, clock):
    ecs = aws_stub("ecs")
    web3, web4 = task_definition("web", 3, image="r.example/app:1"), task_definition("web", 4, image="r.example/app:2")
    api3, api4 = task_definition("api", 3, image="r.example/app:1"), task_definition("api", 4, image="r.example/app:2")
    describe_services(ecs, service("web", web3["taskDefinitionArn"]), service("api", api3["taskDefinitionArn"]))
    describe_td(ecs, "webstack-t-web", web3)
    describe_td(ecs, "webstack-t-api", api3)
    register(ecs, web4, registration_of(web3, "r.example/app:2"))
    register(ecs, api4, registration_of(api3, "r.example/app:2"))
    web_dep = deployment("ecs-svc/web-1", web4["taskDefinitionArn"], state="IN_PROGRESS", running=0)
    api_dep = deployment("ecs-svc/api-1", api4["taskDefinitionArn"], state="IN_PROGRESS", running=0)
    update(ecs, "web", web4["taskDefinitionArn"], service("web", web4["taskDefinitionArn"], [web_dep]))
    update(ecs, "api", api4["taskDefinitionArn"], service("api", api4["taskDefinitionArn"], [api_dep]))
    # api fails at once; web is still rolling out: the wait ends, both are rolled back
    describe_services(ecs, service("web", web4["taskDefinitionArn"], [web_dep]),
                      service("api", api4["taskDefinitionArn"], [dict(api_dep, rolloutState="FAILED", rolloutStateReason=BREAKER)]))
    web_back = deployment("ecs-svc/web-2", web3["taskDefinitionArn"], state="IN_PROGRESS", running=0)
    api_back = deployment("ecs-svc/api-2", api3["taskDefinitionArn"], state="IN_PROGRESS", running=0)
    update(ecs, "web", web3["taskDefinitionArn"], service("web", web3["taskDefinitionArn"], [web_back, dict(web_dep, status="ACTIVE")]))
    update(ecs, "api", api3["taskDefinitionArn"], service("api", api3["taskDefinitionArn"], [api_back, dict(api_dep, status="ACTIVE")]))
    describe_services(ecs, service("web", web3["taskDefinitionArn"], [done(web_back)]),
                      service("api", api3["taskDefinitionArn"], [dict(api_back, rolloutState="FAILED",
                                                                     rolloutStateReason="ECS deployment circuit breaker: task failed health checks.")]))
    res = run_module(ecs_rollout, args([{"name": "web", "image": "r.example/app:2"}, {"name": "api", "image": "r.example/app:2"}]))
    assert res.failed
    assert res.result["msg"] == (
        f"service api: rollout FAILED ({BREAKER}); ROLLBACK FAILED: service api back to webstack-t-api:3: FAILED "
        "(ECS deployment circuit breaker: task failed health checks.) (rolled back: web)")
    assert res.result["services"]["web"]["rollout_state"] == "IN_PROGRESS"
    assert res.result["services"]["web"]["reason"] == "not waited for: api failed, rolling back"
    assert clock.sleeps == []


def test_update_error_rolls_back_the_services_already_updated(aws_stub, run_module, clock):
    ecs = aws_stub("ecs")
    web3, web4 = task_definition("web", 3, image="r.example/app:1"), task_definition("web", 4, image="r.example/app:2")
    api3, api4 = task_definition("api", 3, image="r.example/app:1"), task_definition("api", 4, image="r.example/app:2")
    describe_services(ecs, service("web", web3["taskDefinitionArn"]), service("api", api3["taskDefinitionArn"]))
    describe_td(ecs, "webstack-t-web", web3)
    describe_td(ecs, "webstack-t-api", api3)
    register(ecs, web4, registration_of(web3, "r.example/app:2"))
    register(ecs, api4, registration_of(api3, "r.example/app:2"))
    web_dep = deployment("ecs-svc/web-1", web4["taskDefinitionArn"], state="IN_PROGRESS", running=0)
    update(ecs, "web", web4["taskDefinitionArn"], service("web", web4["taskDefinitionArn"], [web_dep]))
    ecs.add_client_error("update_service", "AccessDeniedException", "not allowed to pass role",
                         expected_params={"cluster": CLUSTER, "service": "api", "taskDefinition": api4["taskDefinitionArn"]})
    describe_services(ecs, service("web", web4["taskDefinitionArn"], [web_dep]))
    web_back = deployment("ecs-svc/web-2", web3["taskDefinitionArn"], state="IN_PROGRESS", running=0)
    update(ecs, "web", web3["taskDefinitionArn"], service("web", web3["taskDefinitionArn"], [web_back]))
    describe_services(ecs, service("web", web3["taskDefinitionArn"], [done(web_back)]))
    res = run_module(ecs_rollout, args([{"name": "web", "image": "r.example/app:2"}, {"name": "api", "image": "r.example/app:2"}]))
    assert res.failed
    assert res.result["msg"].startswith("service api: UpdateService failed (")
    assert res.result["msg"].endswith("; rolled back web to their previous revisions (COMPLETED)")


def test_no_rollback_when_disabled(aws_stub, run_module, clock):
    ecs = aws_stub("ecs")
    web3, web4 = task_definition("web", 3, image="r.example/app:1"), task_definition("web", 4, image="r.example/app:2")
    describe_services(ecs, service("web", web3["taskDefinitionArn"]))
    describe_td(ecs, "webstack-t-web", web3)
    register(ecs, web4, registration_of(web3, "r.example/app:2"))
    dep = deployment("ecs-svc/web-1", web4["taskDefinitionArn"], state="IN_PROGRESS", running=0)
    update(ecs, "web", web4["taskDefinitionArn"], service("web", web4["taskDefinitionArn"], [dep]))
    describe_services(ecs, service("web", web4["taskDefinitionArn"], [dict(dep, rolloutState="FAILED", rolloutStateReason=BREAKER)]))
    res = run_module(ecs_rollout, args([{"name": "web", "image": "r.example/app:2"}], rollback_on_failure=False))
    assert res.failed
    assert res.result["msg"] == f"service web: rollout FAILED ({BREAKER}); not rolled back (rollback_on_failure=false)"
    assert res.result["rolled_back"] is False


# --- deregistration / evaluation details -------------------------------------------------------------------------
def test_deregistration_spares_protected_and_current_revisions(aws_stub, run_module, clock):
    ecs = aws_stub("ecs")
    web5, web6 = task_definition("web", 5, image="r.example/app:1"), task_definition("web", 6, image="r.example/app:2")
    describe_services(ecs, service("web", web5["taskDefinitionArn"]))
    describe_td(ecs, "webstack-t-web", web5)
    register(ecs, web6, registration_of(web5, "r.example/app:2"))
    dep = deployment("ecs-svc/web-1", web6["taskDefinitionArn"], state="IN_PROGRESS", running=0)
    update(ecs, "web", web6["taskDefinitionArn"], service("web", web6["taskDefinitionArn"], [dep]))
    # completed, but revision 4 still has a draining deployment (e.g. someone else's earlier one)
    draining = deployment("ecs-svc/web-x", td_arn("webstack-t-web", 4), status="ACTIVE", state="COMPLETED")
    describe_services(ecs, service("web", web6["taskDefinitionArn"], [done(dep), draining]))
    # two pages, newest first (AWS order), plus a family sharing the prefix
    ecs.add_response("list_task_definitions", {"taskDefinitionArns": [td_arn("webstack-t-web", r) for r in (6, 5, 4)]
                                               + [td_arn("webstack-t-web-extra", 9)], "nextToken": "p2"},
                     {"familyPrefix": "webstack-t-web", "status": "ACTIVE", "sort": "DESC"})
    ecs.add_response("list_task_definitions", {"taskDefinitionArns": [td_arn("webstack-t-web", r) for r in (3, 2, 1)]},
                     {"familyPrefix": "webstack-t-web", "status": "ACTIVE", "sort": "DESC", "nextToken": "p2"})
    for revision in (3, 1):
        ecs.add_response("deregister_task_definition", {"taskDefinition": task_definition("web", revision, status="INACTIVE")},
                         {"taskDefinition": td_arn("webstack-t-web", revision)})
    res = run_module(ecs_rollout, args([{"name": "web", "image": "r.example/app:2"}], keep_revisions=1,
                                       protected_task_definitions=["webstack-t-web:2", td_arn("webstack-t-web", 5)]))
    assert not res.failed, res.result
    assert res.result["deregistered"] == [td_arn("webstack-t-web", 3), td_arn("webstack-t-web", 1)]


def test_deployment_without_rollout_state_completes_on_counts():
    """Deployments of services behind a Classic Load Balancer carry no rolloutState."""
    tracked = {"td": td_arn("f", 2), "deployment": "d-1"}
    rollout = ecs_rollout.Rollout.__new__(ecs_rollout.Rollout)
    rollout.known_events = {}
    dep = deployment("d-1", td_arn("f", 2), state=None, running=1, desired=2)
    old = deployment("d-0", td_arn("f", 1), status="ACTIVE", state=None)
    assert rollout.evaluate("web", service("web", td_arn("f", 2), [dep, old]), dict(tracked)) is None
    assert rollout.evaluate("web", service("web", td_arn("f", 2), [dict(dep, runningCount=2)]), dict(tracked))[0] == "COMPLETED"


def test_emulator_fallback_uses_the_service_fields():
    """moto: UpdateService leaves the deployments alone; the service's taskDefinition and counts decide."""
    rollout = ecs_rollout.Rollout.__new__(ecs_rollout.Rollout)
    rollout.known_events = {}
    rollout.known_deployments = {"web": {"d-0"}}
    untracked = {"td": td_arn("f", 2), "deployment": None}
    stale = [deployment("d-0", td_arn("f", 1))]
    assert rollout.evaluate("web", service("web", td_arn("f", 2), stale), untracked)[0] == "COMPLETED"
    assert rollout.evaluate("web", service("web", td_arn("f", 2), stale, running=1), untracked) is None
    # moto with MOTO_ECS_SERVICE_RUNNING above a service's desired count reports a negative pendingCount
    more = dict(service("web", td_arn("f", 2), stale, running=2, desired=1), pendingCount=-1)
    assert rollout.evaluate("web", more, untracked)[0] == "COMPLETED"
    state, reason = rollout.evaluate("web", service("web", td_arn("f", 1), stale), untracked)
    assert state == "FAILED" and reason.startswith("service is now on f:1, not f:2")


def test_helpers():
    assert ecs_rollout.td_key(td_arn("webstack-t-web", 12)) == "webstack-t-web:12"
    assert ecs_rollout.td_family("webstack-t-web:12") == "webstack-t-web"
    assert ecs_rollout.td_revision(td_arn("a-b", 7)) == 7
    assert ecs_rollout.same_td("a:1", td_arn("a", 1)) and not ecs_rollout.same_td("a:1", "a:10")
    match = ecs_rollout.ECR_IMAGE.match(f"{REPO}@sha256:" + "b" * 64)
    assert match.group("repo") == "webstack-t/app" and match.group("digest")
    assert ecs_rollout.ECR_IMAGE.match("docker.io/library/nginx:1") is None


def test_misspelt_service_key_is_refused_before_any_call(aws_stub, run_module, clock):
    aws_stub("ecs")  # nothing queued
    res = run_module(ecs_rollout, args([{"name": "web", "imag": "x:1"}]))
    assert res.failed and "imag" in res.result["msg"], res.result


def test_untracked_rollout_adopts_a_late_primary_deployment():
    """A new PRIMARY on the target that was not in UpdateService's answer is tracked from then on: the
    old deployment still draining keeps the rollout in progress, its FAILED state fails it."""
    rollout = ecs_rollout.Rollout.__new__(ecs_rollout.Rollout)
    rollout.known_events = {"web": {"web-e0"}}
    rollout.known_deployments = {"web": {"d-0"}}
    target = {"td": td_arn("f", 2), "deployment": None}
    new = deployment("d-1", td_arn("f", 2), state="IN_PROGRESS", running=1)
    old = deployment("d-0", td_arn("f", 1), status="ACTIVE")
    assert rollout.evaluate("web", service("web", td_arn("f", 2), [new, old], running=3), target) is None
    assert target["deployment"] == "d-1"
    state, reason = rollout.evaluate("web", service("web", td_arn("f", 2), [dict(new, rolloutState="FAILED", rolloutStateReason=BREAKER), old]), target)
    assert (state, reason) == ("FAILED", BREAKER)
    # without any new deployment, two deployments (old tasks draining) never count as done
    untracked = {"td": td_arn("f", 2), "deployment": None}
    draining = [deployment("d-0", td_arn("f", 2)), deployment("d-9", td_arn("f", 1), status="ACTIVE")]
    assert rollout.evaluate("web", service("web", td_arn("f", 2), draining), untracked) is None


# --- AWS behaviour the emulator hides (issue 11) -------------------------------------------------------------
def test_forced_deployment_replaced_by_the_breakers_rollback_on_the_same_revision_is_failed(aws_stub, run_module, clock):
    """restore.yml forces a new deployment on one revision. When its tasks fail, the circuit breaker's rollback is a
    NEW deployment on that same revision: the tracked deployment disappears and a PRIMARY on the target shows up,
    COMPLETED. That is a failed rollout, never the tracked deployment completing."""
    ecs = aws_stub("ecs")
    web3 = task_definition("web", 3, image="registry.example.com/app:1")
    describe_services(ecs, service("web", web3["taskDefinitionArn"]))
    describe_td(ecs, "webstack-t-web", web3)
    dep = deployment("ecs-svc/web-1", web3["taskDefinitionArn"], state="IN_PROGRESS", running=0)
    old = deployment("ecs-svc/web-0", web3["taskDefinitionArn"], status="ACTIVE")
    update(ecs, "web", web3["taskDefinitionArn"], service("web", web3["taskDefinitionArn"], [dep, old]), force=True)
    rollback = deployment("ecs-svc/web-2", web3["taskDefinitionArn"], state="COMPLETED",
                          reason="ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/web-0.")
    describe_services(ecs, service("web", web3["taskDefinitionArn"], [rollback],
                                   events=[event("web-e1", f"(service web) {BREAKER}")]))
    res = run_module(ecs_rollout, args([{"name": "web"}], force_new_deployment=True))
    assert res.failed, res.result
    assert res.result["services"]["web"]["rollout_state"] == "FAILED"
    assert res.result["msg"].startswith("service web: rollout FAILED (deployment ecs-svc/web-1 disappeared, replaced by "
                                        "ecs-svc/web-2 on webstack-t-web:3 (rolled back by the circuit breaker"), res.result["msg"]


def test_unchanged_service_with_its_deployment_in_progress_is_waited_for(aws_stub, run_module, clock):
    """A re-run after a killed run: the service's taskDefinition is the target already (AWS switches it at
    UpdateService) but the PRIMARY deployment is IN_PROGRESS: it is waited for, not reported UNCHANGED."""
    ecs, ecr = aws_stub("ecs"), aws_stub("ecr")
    image = f"{REPO}:2.0.0"
    web4, web3 = task_definition("web", 4, image), task_definition("web", 3)
    dep = deployment("ecs-svc/web-1", web4["taskDefinitionArn"], state="IN_PROGRESS", running=0)
    old = deployment("ecs-svc/web-0", web3["taskDefinitionArn"], status="ACTIVE")
    describe_services(ecs, service("web", web4["taskDefinitionArn"], [dep, old], running=2))
    describe_td(ecs, "webstack-t-web", web4)
    image_found(ecr, "2.0.0")
    describe_services(ecs, service("web", web4["taskDefinitionArn"], [dict(dep, runningCount=1), old], running=3))
    describe_services(ecs, service("web", web4["taskDefinitionArn"], [done(dep)]))
    res = run_module(ecs_rollout, args([{"name": "web", "image": image}]))
    assert not res.failed, res.result
    web = res.result["services"]["web"]
    assert (web["action"], web["rollout_state"], web["changed"]) == ("track", "COMPLETED", False), web
    assert res.result["changed"] is False and clock.sleeps == [10]


def test_unchanged_service_whose_deployment_failed_is_reported_failed(aws_stub, run_module, clock):
    """The put-back after ECS began (and failed) its own deployment: the service is on the target, its PRIMARY
    deployment FAILED. Success would hide a broken service."""
    ecs, ecr = aws_stub("ecs"), aws_stub("ecr")
    image = f"{REPO}:2.0.0"
    web4 = task_definition("web", 4, image)
    dep = deployment("ecs-svc/web-1", web4["taskDefinitionArn"], state="FAILED", reason=BREAKER, running=0)
    describe_services(ecs, service("web", web4["taskDefinitionArn"], [dep], running=0))
    describe_td(ecs, "webstack-t-web", web4)
    image_found(ecr, "2.0.0")
    describe_services(ecs, service("web", web4["taskDefinitionArn"], [dep], running=0))
    res = run_module(ecs_rollout, args([{"name": "web", "image": image}]))
    assert res.failed, res.result
    assert res.result["msg"] == f"service web: rollout FAILED ({BREAKER}); nothing to roll back (no service was changed)"
    assert res.result["services"]["web"]["rollout_state"] == "FAILED"
