"""Unit tests of webstack.platform.ecs_app, webstack.platform.alarms (the
compute and edge layers), with AWS answers from botocore's Stubber shaped like the documented ones: create, no-op,
drift, check mode, delete, error paths. The same modules run for real against the emulator in
tests/aws/test_ecs_alb_alarms.py (roles ecs_service, alb, alarms)."""
from __future__ import annotations

import json

import boto3
import pytest
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry, RetryingBotoClientWrapper
from ansible_collections.webstack.platform.plugins.modules import alarms as alarms_mod
from ansible_collections.webstack.platform.plugins.modules import ecs_app
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

REGION = "eu-west-1"
ACCOUNT = "123456789012"

RETRY = AWSRetry.jittered_backoff(retries=1, delay=0)


class _Failed(Exception):
    pass


class FakeModule:
    """Just what EcsApp uses of AnsibleAWSModule: params, check_mode, client() and fail_json_aws()."""

    def __init__(self, params, check_mode=False):
        self.params = params
        self.check_mode = check_mode
        self.stubs = {}

    def client(self, service, retry_decorator=None):
        client = boto3.client(service, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
        self.stubs[service] = Stubber(client)
        self.stubs[service].activate()
        return RetryingBotoClientWrapper(client, RETRY)

    def fail_json_aws(self, exc, msg):
        raise _Failed(f"{msg}: {exc}")

    def fail_json(self, msg):
        raise _Failed(msg)


SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:webstack-t/rds/master-AbCdEf"
TG_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/webstack-t-web/0123456789abcdef"


def params(**over):
    base = dict(
        name="webstack-t", cluster_name="webstack-t", state="present", container_insights="enabled",
        capacity_providers=["FARGATE"], execution_role_name="webstack-t-ecs-execution",
        execution_role_managed_policies=["arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"],
        secrets_kms_key_arns=[], task_role_name="webstack-t-ecs-task", task_role_managed_policies=[], task_role_policy={},
        log_group_prefix="/ecs/webstack-t/", log_retention_days=14, delete_log_groups=False,
        image=f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/webstack-t/app:1.0.0", user="10001", readonly_root_filesystem=True,
        environment={"APP_DATABASE_HOST": "db.internal", "APP_DATABASE_PORT": 5432},
        secrets=[{"name": "APP_DATABASE_PASSWORD", "value_from": SECRET_ARN + ":password::"}],
        subnets=["subnet-b", "subnet-a"], security_groups=["sg-app"], assign_public_ip=False, platform_version="LATEST",
        cpu_architecture="X86_64", minimum_healthy_percent=100, maximum_percent=200, circuit_breaker=True,
        enable_execute_command=False,
        processes=[{"name": "web", "command": ["python3", "-m", "webstack_app", "serve"], "cpu": 256, "memory": 512,
                    "port": 8000, "target_group_arn": TG_ARN, "min_tasks": 1, "max_tasks": 3, "cpu_target": 70,
                    "health_check_grace_period": 60}],
        writable_paths=["/tmp"], app_secret_name="", app_secret_values={}, app_secret_kms_key_id="",
        app_secret_recovery_window_days=7, tags={"Project": "webstack"},
    )
    base.update(over)
    return base


def app(check_mode=False, **over):
    module = FakeModule(params(**over), check_mode=check_mode)
    return ecs_app.EcsApp(module), module.stubs


def converged_service(app_, td_arn, **over):
    proc = app_.p["processes"][0]
    svc = {
        "serviceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/webstack-t/web", "serviceName": "web", "status": "ACTIVE",
        "desiredCount": 2, "taskDefinition": td_arn, "launchType": "FARGATE",
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-a", "subnet-b"], "securityGroups": ["sg-app"],
                                                         "assignPublicIp": "DISABLED"}},
        "deploymentConfiguration": {"minimumHealthyPercent": 100, "maximumPercent": 200,
                                    "deploymentCircuitBreaker": {"enable": True, "rollback": True}},
        "healthCheckGracePeriodSeconds": 60, "enableExecuteCommand": False,
        "loadBalancers": [{"targetGroupArn": proc["target_group_arn"], "containerName": "web", "containerPort": 8000}],
    }
    svc.update(over)
    return svc


# --- pure helpers ---------------------------------------------------------------------------------------
def test_secret_resource_strips_the_json_key():
    assert ecs_app.secret_resource(SECRET_ARN + ":password::") == ("secretsmanager", SECRET_ARN)
    assert ecs_app.secret_resource(SECRET_ARN) == ("secretsmanager", SECRET_ARN)
    ssm = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/webstack/x"
    assert ecs_app.secret_resource(ssm) == ("ssm", ssm)


def test_execution_policy_grants_exactly_the_referenced_secrets():
    policy = ecs_app.execution_policy([{"name": "A", "value_from": SECRET_ARN + ":password::"},
                                       {"name": "B", "value_from": SECRET_ARN + ":username::"}], [])
    assert policy["Statement"] == [{"Sid": "ReadSecrets", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
                                    "Resource": [SECRET_ARN]}]
    assert ecs_app.execution_policy([], ["arn:aws:kms:x"]) == {}


def test_task_definition_comparison_ignores_aws_defaults_but_not_changes():
    a, _ = app()
    desired = a.task_definition(a.p["processes"][0], "arn:exec", "arn:task")
    current = json.loads(json.dumps(desired))
    current.update(taskDefinitionArn="arn:td:1", revision=1, status="ACTIVE", compatibilities=["EC2", "FARGATE"],
                   volumes=[{"name": "tmp", "host": {}}])
    container = current["containerDefinitions"][0]
    container.update(cpu=0, volumesFrom=[], systemControls=[])
    container["environment"] = list(reversed(container["environment"]))
    assert a.td_matches(current, desired)
    container["image"] = container["image"].replace("1.0.0", "0.9.0")
    assert not a.td_matches(current, desired)
    container["image"] = desired["containerDefinitions"][0]["image"]
    container["readonlyRootFilesystem"] = False
    assert not a.td_matches(current, desired)


def test_service_differences_name_each_drift():
    a, _ = app()
    spec = a.service_spec(a.p["processes"][0], "arn:td:3")
    assert a.service_differences(converged_service(a, "arn:td:3"), spec) == []
    drifted = converged_service(
        a, "arn:td:2",
        networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-a", "subnet-b"], "securityGroups": ["sg-app"],
                                                      "assignPublicIp": "ENABLED"}},
        deploymentConfiguration={"minimumHealthyPercent": 50, "maximumPercent": 200,
                                 "deploymentCircuitBreaker": {"enable": False, "rollback": False}},
        healthCheckGracePeriodSeconds=0)
    diffs = a.service_differences(drifted, spec)
    assert [d.split(" ")[0] for d in diffs] == ["task", "network", "deployment", "health"]


# --- Stubber flows of ecs_app --------------------------------------------------------------------------
def test_cluster_created_with_container_insights_and_fargate():
    a, stubs = app()
    stubs["ecs"].add_response("describe_clusters", {"clusters": [], "failures": [{"arn": "x", "reason": "MISSING"}]},
                              {"clusters": ["webstack-t"], "include": ["SETTINGS"]})
    stubs["ecs"].add_response("create_cluster", {"cluster": {"clusterArn": "arn:cluster"}}, {
        "clusterName": "webstack-t", "settings": [{"name": "containerInsights", "value": "enabled"}],
        "capacityProviders": ["FARGATE"], "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1, "base": 0}],
        "tags": [{"key": "Project", "value": "webstack"}]})
    assert a.ensure_cluster() == "arn:cluster"
    stubs["ecs"].assert_no_pending_responses()
    assert a.changes == ["create ECS cluster webstack-t (Container Insights enabled, FARGATE)"]


def _cluster(insights="enabled"):
    return {"clusters": [{"clusterArn": "arn:cluster", "status": "ACTIVE", "capacityProviders": ["FARGATE"],
                          "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1, "base": 0}],
                          "settings": [{"name": "containerInsights", "value": insights}]}]}


def test_cluster_converged_makes_no_call():
    a, stubs = app()
    stubs["ecs"].add_response("describe_clusters", _cluster(), {"clusters": ["webstack-t"], "include": ["SETTINGS"]})
    assert a.ensure_cluster() == "arn:cluster"
    assert a.changes == []


def test_cluster_drift_reported_in_check_mode_without_writing():
    a, stubs = app(check_mode=True)
    stubs["ecs"].add_response("describe_clusters", _cluster("disabled"), {"clusters": ["webstack-t"], "include": ["SETTINGS"]})
    a.ensure_cluster()  # an update_cluster call would find no stubbed response and raise
    assert a.changes == ["cluster webstack-t: containerInsights disabled -> enabled"]


def test_cluster_drift_repaired():
    a, stubs = app()
    stubs["ecs"].add_response("describe_clusters", _cluster("disabled"), {"clusters": ["webstack-t"], "include": ["SETTINGS"]})
    stubs["ecs"].add_response("update_cluster", {"cluster": {}},
                              {"cluster": "webstack-t", "settings": [{"name": "containerInsights", "value": "enabled"}]})
    a.ensure_cluster()
    stubs["ecs"].assert_no_pending_responses()


def test_log_group_retention_drift_check_mode_then_repair():
    for check in (True, False):
        a, stubs = app(check_mode=check)
        stubs["logs"].add_response("describe_log_groups", {"logGroups": [{"logGroupName": "/ecs/webstack-t/web", "retentionInDays": 1}]},
                                   {"logGroupNamePrefix": "/ecs/webstack-t/"})
        if not check:
            stubs["logs"].add_response("put_retention_policy", {}, {"logGroupName": "/ecs/webstack-t/web", "retentionInDays": 14})
        a.ensure_log_groups()
        stubs["logs"].assert_no_pending_responses()
        assert a.changes == ["log group /ecs/webstack-t/web: retention 1 -> 14 days"]


def test_service_update_keeps_autoscaled_count_and_fixes_drift():
    a, stubs = app()
    current = converged_service(a, "arn:td:3", desiredCount=3,
                                deploymentConfiguration={"minimumHealthyPercent": 100, "maximumPercent": 200,
                                                         "deploymentCircuitBreaker": {"enable": False, "rollback": False}})
    expected = dict(a.service_spec(a.p["processes"][0], "arn:td:3"), cluster="webstack-t", service="web")
    stubs["ecs"].add_response("update_service", {"service": {}}, expected)
    a.ensure_service(a.p["processes"][0], current, "arn:td:3")
    stubs["ecs"].assert_no_pending_responses()
    assert a.changes == ["update ECS service web: deployment configuration"]


def test_service_count_outside_bounds_is_clamped():
    a, stubs = app()
    current = converged_service(a, "arn:td:3", desiredCount=7)
    expected = dict(a.service_spec(a.p["processes"][0], "arn:td:3"), cluster="webstack-t", service="web", desiredCount=3)
    stubs["ecs"].add_response("update_service", {"service": {}}, expected)
    a.ensure_service(a.p["processes"][0], current, "arn:td:3")
    stubs["ecs"].assert_no_pending_responses()


def test_service_converged_makes_no_call():
    a, _stubs = app()
    assert a.ensure_service(a.p["processes"][0], converged_service(a, "arn:td:3"), "arn:td:3").endswith("service/webstack-t/web")
    assert a.changes == []


def test_role_inline_policy_drift_is_replaced():
    a, stubs = app()
    name = "webstack-t-ecs-execution"
    stubs["iam"].add_response("get_role", {"Role": {"Path": "/", "RoleName": name, "RoleId": "AROAEXAMPLEEXAMPLE1", "Arn": f"arn:aws:iam::{ACCOUNT}:role/{name}",
                                                    "CreateDate": "2026-01-01T00:00:00Z", "AssumeRolePolicyDocument": json.dumps(ecs_app.ASSUME_ECS_TASKS)}},
                              {"RoleName": name})
    stubs["iam"].add_response("list_attached_role_policies", {"AttachedPolicies": [
        {"PolicyName": "AmazonECSTaskExecutionRolePolicy", "PolicyArn": a.p["execution_role_managed_policies"][0]}]}, {"RoleName": name})
    stubs["iam"].add_response("list_role_policies", {"PolicyNames": ["webstack-read-secrets"]}, {"RoleName": name})
    stubs["iam"].add_response("get_role_policy", {"RoleName": name, "PolicyName": "webstack-read-secrets",
                                                  "PolicyDocument": json.dumps({"Version": "2012-10-17", "Statement": []})},
                              {"RoleName": name, "PolicyName": "webstack-read-secrets"})
    wanted = ecs_app.execution_policy(a.p["secrets"], [])
    stubs["iam"].add_response("put_role_policy", {}, {"RoleName": name, "PolicyName": "webstack-read-secrets",
                                                      "PolicyDocument": json.dumps(wanted)})
    arn = a.ensure_role(name, "d", a.p["execution_role_managed_policies"], "webstack-read-secrets", wanted)
    assert arn.endswith(f"role/{name}")
    stubs["iam"].assert_no_pending_responses()
    assert a.changes == [f"IAM role {name}: update inline policy webstack-read-secrets"]


def test_api_error_is_reported_with_the_step():
    a, stubs = app()
    stubs["ecs"].add_client_error("describe_clusters", "AccessDeniedException", "not allowed")
    with pytest.raises(ClientError):
        a.ensure_cluster()


def test_module_refuses_root_user_and_missing_value_from():
    for over, words in (({"user": "0"}, "root"), ({"secrets": [{"name": "X", "value_from": "plain"}]}, "value_from"),
                        ({"image": None}, "image")):
        module = FakeModule(params(**over))
        with pytest.raises(_Failed, match=words):
            ecs_app.validate(module)


# --- alarms --------------------------------------------------------------------------------------------
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:webstack-t-alarms"
RDS_CPU = {"alarm_name": "webstack-t-rds-cpu", "alarm_description": "RDS CPU above 80%", "comparison_operator": "GreaterThanThreshold",
           "threshold": 80, "evaluation_periods": 5, "datapoints_to_alarm": 3, "treat_missing_data": "missing",
           "namespace": "AWS/RDS", "metric_name": "CPUUtilization", "statistic": "Average", "period": 60,
           "dimensions": [{"name": "DBInstanceIdentifier", "value": "webstack-t-postgres"}]}
RATE = {"alarm_name": "webstack-t-alb-5xx-rate", "alarm_description": "5xx", "comparison_operator": "GreaterThanThreshold",
        "threshold": 5.0, "evaluation_periods": 5, "datapoints_to_alarm": 3, "treat_missing_data": "missing", "dimensions": [],
        "metrics": [{"id": "req", "return_data": False, "metric_stat": {"metric": {"namespace": "AWS/ApplicationELB",
                     "metric_name": "RequestCount", "dimensions": [{"name": "LoadBalancer", "value": "app/x/1"}]}, "period": 60, "stat": "Sum"}},
                    {"id": "rate", "return_data": True, "expression": "100 * req / req", "label": "rate"}]}


def alarms_manager(check_mode=False, **over):
    p = dict(topic_name="webstack-t-alarms", display_name="webstack-t alarms", email_subscriptions=[],
             prefix="webstack-t-", alarms=[RDS_CPU, RATE], state="present", tags={})
    p.update(over)
    module = FakeModule(p, check_mode=check_mode)
    manager = alarms_mod.Alarms(module)
    return manager, module.stubs


def _as_described(alarm):
    """What DescribeAlarms returns for an alarm put with these arguments (plus fields AWS adds)."""
    described = json.loads(json.dumps(alarm))
    described.update(AlarmArn=f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{alarm['AlarmName']}", StateValue="OK")
    described.setdefault("Dimensions", [])
    return described


def test_alarm_api_shape_single_metric_and_math():
    single = alarms_mod.to_api(RDS_CPU, TOPIC)
    assert single["AlarmActions"] == [TOPIC] and single["OKActions"] == [TOPIC]
    assert single["Dimensions"] == [{"Name": "DBInstanceIdentifier", "Value": "webstack-t-postgres"}]
    assert single["Threshold"] == 80.0 and single["Statistic"] == "Average"
    math = alarms_mod.to_api(RATE, TOPIC)
    assert "Dimensions" not in math and "Namespace" not in math
    assert math["Metrics"][0]["MetricStat"]["Metric"]["Dimensions"] == [{"Name": "LoadBalancer", "Value": "app/x/1"}]
    assert math["Metrics"][1] == {"Id": "rate", "ReturnData": True, "Expression": "100 * req / req", "Label": "rate"}


def test_alarms_converged_no_write_and_drift_in_check_mode():
    described = [_as_described(alarms_mod.to_api(a, TOPIC)) for a in (RDS_CPU, RATE)]
    manager, stubs = alarms_manager()
    stubs["cloudwatch"].add_response("describe_alarms", {"MetricAlarms": described},
                                     {"AlarmNamePrefix": "webstack-t-", "AlarmTypes": ["MetricAlarm"]})
    assert manager.ensure_alarms(TOPIC) == ["webstack-t-rds-cpu", "webstack-t-alb-5xx-rate"]
    assert manager.changes == []
    described[0]["Threshold"] = 99.0
    described.append(dict(described[0], AlarmName="webstack-t-old"))
    manager, stubs = alarms_manager(check_mode=True)
    stubs["cloudwatch"].add_response("describe_alarms", {"MetricAlarms": described},
                                     {"AlarmNamePrefix": "webstack-t-", "AlarmTypes": ["MetricAlarm"]})
    manager.ensure_alarms(TOPIC)
    assert manager.changes == ["update alarm webstack-t-rds-cpu: Threshold 99.0 -> 80.0", "delete alarms webstack-t-old"]


def test_alarms_created_and_stale_deleted():
    manager, stubs = alarms_manager()
    stubs["cloudwatch"].add_response("describe_alarms", {"MetricAlarms": [_as_described(dict(alarms_mod.to_api(RDS_CPU, TOPIC), AlarmName="webstack-t-old"))]},
                                     {"AlarmNamePrefix": "webstack-t-", "AlarmTypes": ["MetricAlarm"]})
    stubs["cloudwatch"].add_response("put_metric_alarm", {}, alarms_mod.to_api(RDS_CPU, TOPIC))
    stubs["cloudwatch"].add_response("put_metric_alarm", {}, alarms_mod.to_api(RATE, TOPIC))
    stubs["cloudwatch"].add_response("delete_alarms", {}, {"AlarmNames": ["webstack-t-old"]})
    manager.ensure_alarms(TOPIC)
    stubs["cloudwatch"].assert_no_pending_responses()


def test_topic_created_with_subscription():
    manager, stubs = alarms_manager(email_subscriptions=["oncall@example.com"])
    stubs["sns"].add_response("list_topics", {"Topics": []}, {})
    stubs["sns"].add_response("create_topic", {"TopicArn": TOPIC}, {"Name": "webstack-t-alarms", "Attributes": {"DisplayName": "webstack-t alarms"}})
    stubs["sns"].add_response("subscribe", {"SubscriptionArn": "pending confirmation"},
                              {"TopicArn": TOPIC, "Protocol": "email", "Endpoint": "oncall@example.com"})
    arn, _subs = manager.ensure_topic()
    assert arn == TOPIC
    stubs["sns"].assert_no_pending_responses()
    assert manager.changes == ["create SNS topic webstack-t-alarms", "topic webstack-t-alarms: subscribe oncall@example.com"]


def test_absent_deletes_alarms_then_topic():
    manager, stubs = alarms_manager(state="absent")
    stubs["cloudwatch"].add_response("describe_alarms", {"MetricAlarms": [_as_described(alarms_mod.to_api(RDS_CPU, TOPIC))]},
                                     {"AlarmNamePrefix": "webstack-t-", "AlarmTypes": ["MetricAlarm"]})
    stubs["cloudwatch"].add_response("delete_alarms", {}, {"AlarmNames": ["webstack-t-rds-cpu"]})
    stubs["sns"].add_response("list_topics", {"Topics": [{"TopicArn": TOPIC}]}, {})
    stubs["sns"].add_response("delete_topic", {}, {"TopicArn": TOPIC})
    manager.absent()
    stubs["cloudwatch"].assert_no_pending_responses()
    stubs["sns"].assert_no_pending_responses()


# --- whole modules through main() (AnsibleAWSModule, the conftest's aws_stub / run_module) -------------
def test_alarms_module_refuses_an_alarm_outside_the_prefix(aws_stub, run_module):
    aws_stub("sns")
    aws_stub("cloudwatch")
    res = run_module(alarms_mod, {"topic_name": "t", "prefix": "webstack-t-", "alarms": [dict(RDS_CPU, alarm_name="other-cpu")]})
    assert res.failed and "not under the prefix" in res.result["msg"]


def test_alarms_module_check_mode_on_nothing_plans_everything_and_writes_nothing(aws_stub, run_module):
    sns, cloudwatch = aws_stub("sns"), aws_stub("cloudwatch")
    sns.add_response("list_topics", {"Topics": []}, {})
    cloudwatch.add_response("describe_alarms", {"MetricAlarms": []}, {"AlarmNamePrefix": "webstack-t-", "AlarmTypes": ["MetricAlarm"]})
    res = run_module(alarms_mod, {"topic_name": "webstack-t-alarms", "prefix": "webstack-t-", "alarms": [RDS_CPU]},
                     check_mode=True, diff=True)
    assert not res.failed and res.result["changed"] is True
    assert res.result["topic_arn"] == ""
    assert res.result["alarm_names"] == ["webstack-t-rds-cpu"]
    assert "create SNS topic webstack-t-alarms" in res.result["changes"]
    assert "create SNS topic webstack-t-alarms\n" in res.result["diff"]["after"]


def test_ecs_app_module_refuses_a_root_user_before_any_call(aws_stub, run_module):
    aws_stub("ecs")  # no response queued: any call would fail the test
    res = run_module(ecs_app, params(user="0"))
    assert res.failed and "root" in res.result["msg"], res.result
