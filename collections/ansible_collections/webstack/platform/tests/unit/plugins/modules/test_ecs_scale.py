"""Unit tests of webstack.platform.ecs_scale through main(), with botocore Stubber answers shaped like AWS's
DescribeServices / DescribeScalableTargets: the services' tasks stop over a few polls (deployments drain), autoscaling
is suspended before and resumed after."""
from __future__ import annotations

import pytest
from ansible_collections.webstack.platform.plugins.modules import ecs_scale

CLUSTER = "webstack-t"
DIM = "ecs:service:DesiredCount"


@pytest.fixture
def clock(fake_clock):
    return fake_clock()


def svc(name, desired, running, pending=0):
    return {"serviceName": name, "status": "ACTIVE", "desiredCount": desired, "runningCount": running, "pendingCount": pending,
            "deployments": [{"id": f"ecs-svc/{name}", "status": "PRIMARY", "desiredCount": desired, "runningCount": running,
                             "pendingCount": pending, "rolloutState": "COMPLETED"}]}


def target(name, suspended=False, minimum=2):
    return {"ServiceNamespace": "ecs", "ResourceId": f"service/{CLUSTER}/{name}", "ScalableDimension": DIM,
            "MinCapacity": minimum, "MaxCapacity": 10, "RoleARN": "arn:aws:iam::123456789012:role/x",
            "CreationTime": "2026-01-01T00:00:00Z",
            "SuspendedState": {k: suspended for k in ecs_scale.SUSPENDED}}


def test_stop_suspends_autoscaling_scales_to_zero_and_waits_for_every_task(aws_stub, run_module, clock):
    ecs, aas = aws_stub("ecs"), aws_stub("application-autoscaling")
    ecs.add_response("describe_services", {"services": [svc("web", 3, 3), svc("worker", 1, 1)]},
                     {"cluster": CLUSTER, "services": ["web", "worker"]})
    aas.add_response("describe_scalable_targets", {"ScalableTargets": [target("web"), target("worker", minimum=1)]},
                     {"ServiceNamespace": "ecs", "ResourceIds": [f"service/{CLUSTER}/web", f"service/{CLUSTER}/worker"],
                      "ScalableDimension": DIM})
    for name in ("web", "worker"):
        aas.add_response("register_scalable_target", {}, {"ServiceNamespace": "ecs", "ResourceId": f"service/{CLUSTER}/{name}",
                                                          "ScalableDimension": DIM, "SuspendedState": ecs_scale.SUSPENDED})
    for name, count in (("web", 3), ("worker", 1)):
        ecs.add_response("update_service", {"service": svc(name, 0, count)}, {"cluster": CLUSTER, "service": name, "desiredCount": 0})
    # the tasks stop over two polls (ECS drains them from the load balancer first)
    ecs.add_response("describe_services", {"services": [svc("web", 0, 2), svc("worker", 0, 0)]}, {"cluster": CLUSTER, "services": ["web", "worker"]})
    ecs.add_response("describe_services", {"services": [svc("web", 0, 0)]}, {"cluster": CLUSTER, "services": ["web"]})
    res = run_module(ecs_scale, {"cluster": CLUSTER, "services": [{"name": "web", "desired_count": 0}, {"name": "worker", "desired_count": 0}],
                                 "autoscaling": "suspend", "poll_interval": 10})
    assert not res.failed, res.result
    assert res.result["services"]["web"] == {"previous": 3, "desired_count": 0, "running_count": 0, "min_capacity": 2}
    assert res.result["services"]["worker"]["previous"] == 1
    assert res.result["changes"] == ["suspend autoscaling of web", "suspend autoscaling of worker",
                                     "scale web from 3 to 0 task(s)", "scale worker from 1 to 0 task(s)"]
    assert clock.sleeps == [10]


def test_resume_lifts_the_suspension_only_where_it_is_set(aws_stub, run_module, clock):
    ecs, aas = aws_stub("ecs"), aws_stub("application-autoscaling")
    ecs.add_response("describe_services", {"services": [svc("web", 3, 3), svc("worker", 1, 1)]},
                     {"cluster": CLUSTER, "services": ["web", "worker"]})
    aas.add_response("describe_scalable_targets", {"ScalableTargets": [target("web", suspended=True), target("worker")]}, None)
    aas.add_response("register_scalable_target", {}, {"ServiceNamespace": "ecs", "ResourceId": f"service/{CLUSTER}/web",
                                                      "ScalableDimension": DIM, "SuspendedState": ecs_scale.RESUMED})
    res = run_module(ecs_scale, {"cluster": CLUSTER, "services": [{"name": "web"}, {"name": "worker"}], "autoscaling": "resume"})
    assert not res.failed, res.result
    assert res.result["changes"] == ["resume autoscaling of web"]


def test_tasks_that_do_not_stop_fail_naming_them(aws_stub, run_module, clock):
    ecs, aas = aws_stub("ecs"), aws_stub("application-autoscaling")
    ecs.add_response("describe_services", {"services": [svc("web", 2, 2)]}, {"cluster": CLUSTER, "services": ["web"]})
    aas.add_response("describe_scalable_targets", {"ScalableTargets": []}, None)
    ecs.add_response("update_service", {"service": svc("web", 0, 2)}, {"cluster": CLUSTER, "service": "web", "desiredCount": 0})
    for _ in range(3):  # t = 0, 10, 20
        ecs.add_response("describe_services", {"services": [svc("web", 0, 1)]}, {"cluster": CLUSTER, "services": ["web"]})
    res = run_module(ecs_scale, {"cluster": CLUSTER, "services": [{"name": "web", "desired_count": 0}], "wait_timeout": 20,
                                 "poll_interval": 10})
    assert res.failed
    assert res.result["msg"] == f"services web of cluster {CLUSTER} did not reach their task count within 20s: web 1 running of 0 wanted"


def test_check_mode_reads_only(aws_stub, run_module, clock):
    ecs, aas = aws_stub("ecs"), aws_stub("application-autoscaling")
    ecs.add_response("describe_services", {"services": [svc("web", 2, 2)]}, {"cluster": CLUSTER, "services": ["web"]})
    aas.add_response("describe_scalable_targets", {"ScalableTargets": [target("web")]}, None)
    res = run_module(ecs_scale, {"cluster": CLUSTER, "services": [{"name": "web", "desired_count": 0}], "autoscaling": "suspend"},
                     check_mode=True)
    assert not res.failed and res.result["changed"] is True
    assert res.result["changes"] == ["suspend autoscaling of web", "scale web from 2 to 0 task(s)"]
