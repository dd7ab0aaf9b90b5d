"""Unit tests for webstack.platform.ecs_run_task (botocore Stubber, responses shaped like the ECS API reference)."""

from __future__ import annotations

import pytest
from botocore.stub import ANY

from ansible_collections.webstack.platform.plugins.modules import ecs_run_task as mod

CLUSTER = "webstack-prod"
CLUSTER_ARN = f"arn:aws:ecs:us-east-1:123456789012:cluster/{CLUSTER}"
TD = "arn:aws:ecs:us-east-1:123456789012:task-definition/webstack-prod-api:41"
NEW_TD = "webstack-prod-api:42"
TASK_ID = "0123456789abcdef0123456789abcdef"
TASK_ARN = f"arn:aws:ecs:us-east-1:123456789012:task/{CLUSTER}/{TASK_ID}"
COMMAND = ["python3", "-m", "webstack_app", "migrate"]
NETWORK = {"awsvpcConfiguration": {"subnets": ["subnet-0a1", "subnet-0b2"], "securityGroups": ["sg-0app"],
                                   "assignPublicIp": "DISABLED"}}
ARGS = {"cluster": CLUSTER, "service": "api", "task_definition": NEW_TD, "command": COMMAND,
        "started_by": "webstack-migrate-1.4.0", "wait_timeout": 60, "poll_interval": 10}


def service(**overrides):
    """A DescribeServices item (Fargate service with awsvpc networking)."""
    data = {
        "serviceArn": f"arn:aws:ecs:us-east-1:123456789012:service/{CLUSTER}/api", "serviceName": "api",
        "clusterArn": CLUSTER_ARN, "status": "ACTIVE", "desiredCount": 2, "runningCount": 2, "pendingCount": 0,
        "launchType": "FARGATE", "platformVersion": "1.4.0", "platformFamily": "Linux", "taskDefinition": TD,
        "networkConfiguration": NETWORK, "schedulingStrategy": "REPLICA",
        "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": True, "rollback": True},
                                    "maximumPercent": 200, "minimumHealthyPercent": 100},
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def task(last_status, exit_code=None, stopped_reason=None, stop_code=None, container_reason=None,
         container_status=None):
    container = {"containerArn": f"arn:aws:ecs:us-east-1:123456789012:container/{CLUSTER}/{TASK_ID}/c1",
                 "taskArn": TASK_ARN, "name": "api", "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1.4.0",
                 "lastStatus": container_status or last_status}
    if exit_code is not None:
        container["exitCode"] = exit_code
    if container_reason:
        container["reason"] = container_reason
    data = {"taskArn": TASK_ARN, "clusterArn": CLUSTER_ARN, "taskDefinitionArn": TD.replace(":41", ":42"),
            "lastStatus": last_status, "desiredStatus": "STOPPED" if last_status == "STOPPED" else "RUNNING",
            "launchType": "FARGATE", "platformVersion": "1.4.0", "startedBy": "webstack-migrate-1.4.0",
            "cpu": "256", "memory": "512", "containers": [container],
            "overrides": {"containerOverrides": [{"name": "api", "command": COMMAND}]}}
    if stopped_reason:
        data["stoppedReason"] = stopped_reason
    if stop_code:
        data["stopCode"] = stop_code
    return data


EXPECTED_RUN = {"cluster": CLUSTER, "taskDefinition": NEW_TD, "count": 1, "startedBy": "webstack-migrate-1.4.0",
                "overrides": {"containerOverrides": [{"name": "api", "command": COMMAND}]},
                "networkConfiguration": NETWORK, "launchType": "FARGATE", "platformVersion": "1.4.0",
                "clientToken": ANY}


@pytest.fixture
def clock(fake_clock):
    return fake_clock(start=500.0)


def expect_service(stub, svc=None):
    stub.add_response("describe_services", {"services": [svc or service()], "failures": []},
                      {"cluster": CLUSTER, "services": ["api"]})


def expect_describe(stub, *tasks):
    for t in tasks:
        stub.add_response("describe_tasks", {"tasks": [t], "failures": []}, {"cluster": CLUSTER, "tasks": [TASK_ARN]})


def test_success_copies_service_network_and_waits_for_exit_0(aws_stub, run_module, clock):
    stub = aws_stub("ecs")
    expect_service(stub)
    stub.add_response("run_task", {"tasks": [task("PROVISIONING")], "failures": []}, EXPECTED_RUN)
    expect_describe(stub, task("PENDING"), task("RUNNING"),
                    task("STOPPED", exit_code=0, stopped_reason="Essential container in task exited",
                         stop_code="EssentialContainerExited"))
    res = run_module(mod, ARGS)
    assert not res.failed, res.result
    r = res.result
    assert r["changed"] is True and r["exit_code"] == 0 and r["last_status"] == "STOPPED"
    assert r["task_arn"] == TASK_ARN and r["task_definition"] == NEW_TD and r["command"] == COMMAND
    assert r["stop_code"] == "EssentialContainerExited"
    assert r["elapsed"] == 30.0 and clock["sleeps"] == [10, 10, 10]


def test_task_definition_defaults_to_the_services_and_capacity_provider_strategy_is_copied(aws_stub, run_module, clock):
    stub = aws_stub("ecs")
    strategy = [{"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 0}]
    expect_service(stub, service(launchType=None, capacityProviderStrategy=strategy,
                                 networkConfiguration={"awsvpcConfiguration": {
                                     "subnets": ["subnet-0a1"], "securityGroups": ["sg-0app"]}}))
    expected = dict(EXPECTED_RUN, taskDefinition=TD, capacityProviderStrategy=strategy,
                    networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-0a1"],
                                                                  "securityGroups": ["sg-0app"]}},
                    overrides={"containerOverrides": [{"name": "api", "command": ["true"]}]}, startedBy="webstack")
    del expected["launchType"]
    stub.add_response("run_task", {"tasks": [task("STOPPED", exit_code=0)], "failures": []}, expected)
    res = run_module(mod, {"cluster": CLUSTER, "service": "api", "command": ["true"]})
    assert not res.failed, res.result
    assert res.result["exit_code"] == 0 and clock["sleeps"] == []


def test_exit_code_of_the_named_container_counts(aws_stub, run_module, clock):
    stub = aws_stub("ecs")
    expect_service(stub)
    expected = dict(EXPECTED_RUN, overrides={"containerOverrides": [{"name": "migrator", "command": COMMAND}]})
    stub.add_response("run_task", {"tasks": [task("PROVISIONING")], "failures": []}, expected)
    expect_describe(stub, task("STOPPED", exit_code=0))  # only container "api" in the answer
    res = run_module(mod, dict(ARGS, container="migrator"))
    assert res.failed
    assert "without an exit code of container migrator" in res.result["msg"]


def test_non_zero_exit_fails_with_reasons(aws_stub, run_module, clock):
    stub = aws_stub("ecs")
    expect_service(stub)
    stub.add_response("run_task", {"tasks": [task("PROVISIONING")], "failures": []}, EXPECTED_RUN)
    expect_describe(stub, task("STOPPED", exit_code=137, stopped_reason="Essential container in task exited",
                               stop_code="EssentialContainerExited",
                               container_reason="OutOfMemoryError: Container killed due to memory usage"))
    res = run_module(mod, ARGS)
    assert res.failed
    assert res.result["msg"] == (f"task {TASK_ID} (python3 -m webstack_app migrate) exited 137: Essential container "
                                 "in task exited; OutOfMemoryError: Container killed due to memory usage")
    assert res.result["exit_code"] == 137 and res.result["changed"] is True


def test_migration_exit_1_without_container_reason(aws_stub, run_module, clock):
    stub = aws_stub("ecs")
    expect_service(stub)
    stub.add_response("run_task", {"tasks": [task("PROVISIONING")], "failures": []}, EXPECTED_RUN)
    expect_describe(stub, task("RUNNING"), task("STOPPED", exit_code=1, stopped_reason="Essential container in task exited",
                                               stop_code="EssentialContainerExited"))
    res = run_module(mod, ARGS)
    assert res.failed
    assert res.result["msg"] == (f"task {TASK_ID} (python3 -m webstack_app migrate) exited 1: Essential container "
                                 "in task exited; ")


def test_container_that_never_ran_fails_with_stop_code(aws_stub, run_module, clock):
    stub = aws_stub("ecs")
    expect_service(stub)
    stub.add_response("run_task", {"tasks": [task("PROVISIONING")], "failures": []}, EXPECTED_RUN)
    expect_describe(stub, task("STOPPED", stopped_reason="CannotPullContainerError: pull image manifest has been "
                                                          "retried 5 time(s): not found",
                               stop_code="TaskFailedToStart", container_reason="CannotPullContainerError"))
    res = run_module(mod, ARGS)
    assert res.failed
    assert res.result["msg"].startswith(f"task {TASK_ID} (python3 -m webstack_app migrate) stopped without an exit "
                                        "code of container api (TaskFailedToStart): CannotPullContainerError")
    assert res.result["exit_code"] is None


def test_run_task_failures_fail_without_waiting(aws_stub, run_module, clock):
    stub = aws_stub("ecs")
    expect_service(stub)
    stub.add_response("run_task", {"tasks": [], "failures": [
        {"arn": "arn:aws:ecs:us-east-1:123456789012:capacity-provider/FARGATE", "reason": "Capacity is unavailable "
         "at this time. Please try again later or in a different availability zone"}]}, EXPECTED_RUN)
    res = run_module(mod, ARGS)
    assert res.failed
    assert res.result["msg"].startswith("task (python3 -m webstack_app migrate) of service api failed to start: ")
    assert "Capacity is unavailable" in res.result["msg"]
    assert res.result["changed"] is False and clock["sleeps"] == []


def test_run_task_client_error_fails(aws_stub, run_module, clock):
    stub = aws_stub("ecs")
    expect_service(stub)
    stub.add_client_error("run_task", service_error_code="InvalidParameterException", http_status_code=400,
                          service_message="Override for container named api is not a container in the TaskDefinition.")
    res = run_module(mod, ARGS)
    assert res.failed
    assert "Failed to run a task of service api" in res.result["msg"]
    assert "not a container in the TaskDefinition" in res.result["msg"]


def test_timeout_stops_the_task_then_fails(aws_stub, run_module, clock):
    stub = aws_stub("ecs")
    expect_service(stub)
    stub.add_response("run_task", {"tasks": [task("PROVISIONING")], "failures": []}, EXPECTED_RUN)
    expect_describe(stub, *[task("RUNNING")] * 6)  # t+10 .. t+60 = deadline
    stub.add_response("stop_task", {"task": task("RUNNING")},
                      {"cluster": CLUSTER, "task": TASK_ARN, "reason": "webstack: wait_timeout of 60 s exceeded"})
    res = run_module(mod, ARGS)
    assert res.failed
    assert res.result["msg"] == (f"task {TASK_ID} (python3 -m webstack_app migrate) did not stop within 60 s "
                                 "(wait_timeout; last status RUNNING): stopped it")
    assert clock["sleeps"] == [10] * 6


def test_missing_task_right_after_start_is_read_again(aws_stub, run_module, clock):
    stub = aws_stub("ecs")
    expect_service(stub)
    stub.add_response("run_task", {"tasks": [task("PROVISIONING")], "failures": []}, EXPECTED_RUN)
    stub.add_response("describe_tasks", {"tasks": [], "failures": [{"arn": TASK_ARN, "reason": "MISSING"}]},
                      {"cluster": CLUSTER, "tasks": [TASK_ARN]})
    expect_describe(stub, task("STOPPED", exit_code=0))
    res = run_module(mod, ARGS)
    assert not res.failed, res.result


def test_unknown_service_fails_naming_it(aws_stub, run_module, clock):
    stub = aws_stub("ecs")
    stub.add_response("describe_services", {"services": [], "failures": [
        {"arn": f"arn:aws:ecs:us-east-1:123456789012:service/{CLUSTER}/api", "reason": "MISSING"}]},
        {"cluster": CLUSTER, "services": ["api"]})
    res = run_module(mod, ARGS)
    assert res.failed and res.result["msg"] == f"service api not found in cluster {CLUSTER} (MISSING)"


def test_check_mode_runs_nothing(aws_stub, run_module, clock):
    stub = aws_stub("ecs")
    expect_service(stub)
    res = run_module(mod, ARGS, check_mode=True)
    assert not res.failed, res.result
    assert res.result["changed"] is True and res.result["task_arn"] == ""
    expected = dict(EXPECTED_RUN)
    del expected["clientToken"]
    assert res.result["run_request"] == expected


def test_started_by_longer_than_ecs_allows_is_refused(aws_stub, run_module):
    aws_stub("ecs")
    res = run_module(mod, dict(ARGS, started_by="x" * 37))
    assert res.failed and "started_by" in res.result["msg"]
