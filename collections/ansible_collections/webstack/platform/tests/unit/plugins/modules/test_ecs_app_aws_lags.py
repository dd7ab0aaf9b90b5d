"""webstack.platform.ecs_app against AWS behaviour the emulator hides, through main() with botocore Stubber answers
shaped like AWS's: a deleted service stays DRAINING until its tasks stop (DeleteCluster refused with
ClusterContainsServicesException / ClusterContainsTasksException meanwhile); the first cluster of an account fails
until the ECS service-linked role exists ("Unable to assume the service linked role")."""
from __future__ import annotations

import pytest
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry, RetryingBotoClientWrapper
from ansible_collections.webstack.platform.plugins.modules import ecs_app

CLUSTER = "webstack-t"
ACCOUNT = "123456789012"
RID = f"service/{CLUSTER}/web"


@pytest.fixture
def clock(fake_clock):
    return fake_clock()


def args(**extra):
    return dict({"name": CLUSTER, "cluster_name": CLUSTER, "execution_role_name": f"{CLUSTER}-exec",
                 "task_role_name": f"{CLUSTER}-task", "log_group_prefix": f"/ecs/{CLUSTER}/", "wait_timeout": 300,
                 "poll_interval": 10,
                 "processes": [{"name": "web", "command": ["serve"], "cpu": 256, "memory": 512, "port": 0,
                                "target_group_arn": "", "min_tasks": 1, "max_tasks": 2, "cpu_target": 70}]}, **extra)


def svc(status, running=0, desired=0):
    return {"serviceArn": f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/{CLUSTER}/web", "serviceName": "web",
            "status": status, "runningCount": running, "desiredCount": desired, "pendingCount": 0,
            "taskDefinition": f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/{CLUSTER}-web:1"}


def stubs(aws_stub):
    return aws_stub("ecs"), aws_stub("logs"), aws_stub("iam"), aws_stub("application-autoscaling")


def test_teardown_deletes_the_cluster_only_after_the_services_drained(aws_stub, run_module, clock):
    ecs, _logs, iam, aas = stubs(aws_stub)
    ecs.add_response("describe_clusters", {"clusters": [{"clusterArn": f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/{CLUSTER}",
                                                         "clusterName": CLUSTER, "status": "ACTIVE"}], "failures": []},
                     {"clusters": [CLUSTER], "include": ["SETTINGS"]})
    ecs.add_response("describe_services", {"services": [svc("ACTIVE", 2, 2)], "failures": []}, {"cluster": CLUSTER, "services": ["web"]})
    aas.add_response("describe_scalable_targets", {"ScalableTargets": []},
                     {"ServiceNamespace": "ecs", "ResourceIds": [RID], "ScalableDimension": "ecs:service:DesiredCount"})
    ecs.add_response("update_service", {"service": svc("ACTIVE", 2, 0)}, {"cluster": CLUSTER, "service": "web", "desiredCount": 0})
    # AWS: "the service status moves from ACTIVE to DRAINING ... After all tasks have transitioned to STOPPING or
    # STOPPED, the service status moves from DRAINING to INACTIVE"
    ecs.add_response("delete_service", {"service": svc("DRAINING", 2, 0)}, {"cluster": CLUSTER, "service": "web", "force": True})
    ecs.add_response("list_task_definitions", {"taskDefinitionArns": []}, {"familyPrefix": f"{CLUSTER}-web", "status": "ACTIVE"})
    for role in (f"{CLUSTER}-exec", f"{CLUSTER}-task"):
        iam.add_client_error("get_role", "NoSuchEntity", "not found", 404, expected_params={"RoleName": role})
    ecs.add_response("describe_services", {"services": [svc("DRAINING", 1, 0)], "failures": []}, {"cluster": CLUSTER, "services": ["web"]})
    ecs.add_response("describe_services", {"services": [svc("DRAINING", 0, 0)], "failures": []}, {"cluster": CLUSTER, "services": ["web"]})
    ecs.add_response("describe_services", {"services": [svc("INACTIVE")], "failures": []}, {"cluster": CLUSTER, "services": ["web"]})
    # a stopping task may still be counted for a moment
    ecs.add_client_error("delete_cluster", "ClusterContainsTasksException", "The Cluster cannot be deleted while Tasks are active.",
                         400, expected_params={"cluster": CLUSTER})
    ecs.add_response("delete_cluster", {"cluster": {"clusterName": CLUSTER, "status": "INACTIVE"}}, {"cluster": CLUSTER})
    res = run_module(ecs_app, args(state="absent"))
    assert not res.failed, res.result
    assert res.result["changes"] == ["delete ECS service web", f"delete ECS cluster {CLUSTER}"]
    assert clock.sleeps == [10, 10, 10]


def test_teardown_says_which_services_still_drain_at_the_deadline(aws_stub, run_module, clock):
    ecs, _logs, iam, aas = stubs(aws_stub)
    ecs.add_response("describe_clusters", {"clusters": [{"clusterArn": "arn:c", "clusterName": CLUSTER, "status": "ACTIVE"}]},
                     {"clusters": [CLUSTER], "include": ["SETTINGS"]})
    ecs.add_response("describe_services", {"services": [svc("DRAINING", 1, 0)]}, {"cluster": CLUSTER, "services": ["web"]})
    aas.add_response("describe_scalable_targets", {"ScalableTargets": []},
                     {"ServiceNamespace": "ecs", "ResourceIds": [RID], "ScalableDimension": "ecs:service:DesiredCount"})
    ecs.add_response("list_task_definitions", {"taskDefinitionArns": []}, {"familyPrefix": f"{CLUSTER}-web", "status": "ACTIVE"})
    for role in (f"{CLUSTER}-exec", f"{CLUSTER}-task"):
        iam.add_client_error("get_role", "NoSuchEntity", "not found", 404, expected_params={"RoleName": role})
    for _ in range(4):  # t = 0, 10, 20, 30
        ecs.add_response("describe_services", {"services": [svc("DRAINING", 1, 0)]}, {"cluster": CLUSTER, "services": ["web"]})
    res = run_module(ecs_app, args(state="absent", wait_timeout=30))
    assert res.failed
    assert res.result["msg"].startswith(f"ECS services web of cluster {CLUSTER} still DRAINING after 30s"), res.result["msg"]


def test_first_cluster_of_an_account_creates_the_service_linked_role_and_retries(aws_stub, run_module, clock):
    """CreateCluster with Fargate capacity providers before the ECS service-linked role exists."""
    ecs, _logs, iam, _aas = stubs(aws_stub)
    app = ecs_app.EcsApp.__new__(ecs_app.EcsApp)  # only the cluster step, through the real clients
    kwargs = {"clusterName": CLUSTER, "capacityProviders": ["FARGATE"]}
    message = ("Unable to assume the service linked role. Please verify that the ECS service linked role exists.")
    ecs.add_client_error("create_cluster", "InvalidParameterException", message, 400, expected_params=kwargs)
    iam.add_response("create_service_linked_role", {"Role": {"Path": "/aws-service-role/ecs.amazonaws.com/",
                                                             "RoleName": "AWSServiceRoleForECS", "RoleId": "AROAEXAMPLE0000000001",
                                                             "Arn": f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS",
                                                             "CreateDate": "2026-01-01T00:00:00Z"}},
                     {"AWSServiceName": "ecs.amazonaws.com"})
    ecs.add_client_error("create_cluster", "InvalidParameterException", message, 400, expected_params=kwargs)  # propagating
    ecs.add_response("create_cluster", {"cluster": {"clusterArn": "arn:c", "clusterName": CLUSTER}}, kwargs)
    retry = AWSRetry.jittered_backoff(retries=1, delay=0)
    app.ecs, app.iam = RetryingBotoClientWrapper(ecs.client, retry), RetryingBotoClientWrapper(iam.client, retry)
    app.p, app.clock = {"wait_timeout": 60, "poll_interval": 15}, clock
    app.changes = []
    app.change = app.changes.append
    assert app.create_cluster(**kwargs)["cluster"]["clusterArn"] == "arn:c"
    assert app.changes == ["create the ECS service-linked role AWSServiceRoleForECS (first cluster of the account)"]
    assert clock.sleeps == [5]
