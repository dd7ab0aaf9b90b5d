"""Compute and edge layers of the sandbox (roles ecs_service, alb, alarms) against the emulator: a boto3
read-back of every control, then drift (alarm threshold, log retention, target-group health path) that
check mode reports without changing anything and a normal run repairs."""
from __future__ import annotations

import json

import pytest

from support.aws import ROOT, assert_refused_in_preflight, mutating

NAME = "webstack-sandbox"
SECRETS = ROOT / ".secrets" / "sandbox"
PROCESSES = ("web", "api", "worker")
WEB_FACING = {"web": f"{NAME}-web", "api": f"{NAME}-api"}


@pytest.fixture(scope="module")
def load_balancer(elbv2):
    lbs = elbv2.describe_load_balancers(Names=[NAME])["LoadBalancers"]
    assert len(lbs) == 1
    return lbs[0]


@pytest.fixture(scope="module")
def target_groups(elbv2):
    groups = elbv2.describe_target_groups(Names=list(WEB_FACING.values()))["TargetGroups"]
    return {g["TargetGroupName"]: g for g in groups}


@pytest.fixture(scope="module")
def services(ecs):
    found = ecs.describe_services(cluster=NAME, services=list(PROCESSES))["services"]
    return {s["serviceName"]: s for s in found}


# --- ecs_service ----------------------------------------------------------------------------------------
def test_cluster_has_container_insights_and_fargate(ecs):
    cluster = ecs.describe_clusters(clusters=[NAME], include=["SETTINGS"])["clusters"][0]
    assert cluster["status"] == "ACTIVE"
    assert {"name": "containerInsights", "value": "enabled"} in cluster["settings"]
    assert cluster["capacityProviders"] == ["FARGATE"]


def test_one_fargate_service_per_process_in_private_subnets(services, moto_server):
    assert sorted(services) == sorted(PROCESSES)
    ec2 = moto_server.client("ec2")
    private = {s["SubnetId"] for s in ec2.describe_subnets(
        Filters=[{"Name": "tag:Name", "Values": [f"{NAME}-private-*"]}])["Subnets"]}
    app_sg = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"{NAME}-app"]}])["SecurityGroups"]
    assert private and len(app_sg) == 1
    for name, svc in services.items():
        assert svc["status"] == "ACTIVE" and svc["launchType"] == "FARGATE", name
        net = svc["networkConfiguration"]["awsvpcConfiguration"]
        assert net["assignPublicIp"] == "DISABLED", name
        assert set(net["subnets"]) == private, name
        assert net["securityGroups"] == [app_sg[0]["GroupId"]], name
        dep = svc["deploymentConfiguration"]
        assert dep["minimumHealthyPercent"] == 100 and dep["maximumPercent"] == 200, name
        assert dep["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}, name
        assert svc["desiredCount"] == 1, name


def test_web_facing_services_sit_behind_their_target_groups(services, target_groups):
    for process, tg_name in WEB_FACING.items():
        svc = services[process]
        assert svc["loadBalancers"] == [{"targetGroupArn": target_groups[tg_name]["TargetGroupArn"],
                                         "containerName": process, "containerPort": 8000}]
        assert svc["healthCheckGracePeriodSeconds"] == 60
    assert services["worker"]["loadBalancers"] == []


def test_task_definitions_non_root_read_only_secrets_by_reference(ecs, services, moto_server):
    secret_values = {p.read_text().strip() for p in SECRETS.glob("*") if p.is_file()}
    assert secret_values, "the sandbox secrets were generated into .secrets/sandbox"
    sm = moto_server.client("secretsmanager")
    arns = {s["Name"]: s["ARN"] for s in sm.list_secrets()["SecretList"]}
    for name, svc in services.items():
        td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
        assert td["family"] == f"{NAME}-{name}"
        assert td["requiresCompatibilities"] == ["FARGATE"] and td["networkMode"] == "awsvpc"
        assert (td["cpu"], td["memory"]) == ("256", "512")
        assert td["executionRoleArn"].endswith(f"role/{NAME}-ecs-execution")
        assert td["taskRoleArn"].endswith(f"role/{NAME}-ecs-task")
        (container,) = td["containerDefinitions"]
        assert container["user"] == "10001"
        assert container["readonlyRootFilesystem"] is True
        assert container["image"].endswith(f"{NAME}/app:1.0.0")
        assert container["logConfiguration"]["logDriver"] == "awslogs"
        assert container["logConfiguration"]["options"]["awslogs-group"] == f"/ecs/{NAME}/{name}"
        secrets = {s["name"]: s["valueFrom"] for s in container["secrets"]}
        # app_secrets of the description: keys of the stack's app secret, injected by reference only
        assert secrets == {key: f"{arns[f'{NAME}/app']}:{key}::" for key in ("APP_DATABASE_PASSWORD", "APP_REDIS_PASSWORD")}
        env = {e["name"]: e["value"] for e in container["environment"]}
        assert env["APP_DATABASE_HOST"] and env["APP_REDIS_HOST"]
        dumped = json.dumps(td)
        assert not any(value in dumped for value in secret_values), "a secret value is in the task definition"


def test_execution_role_reads_only_the_referenced_secrets(provisioned, moto_server):
    iam = moto_server.client("iam")
    role = f"{NAME}-ecs-execution"
    attached = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]]
    assert attached == ["arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"]
    doc = iam.get_role_policy(RoleName=role, PolicyName="webstack-read-secrets")["PolicyDocument"]
    (statement,) = doc["Statement"]
    assert statement["Action"] == ["secretsmanager:GetSecretValue"]
    sm = moto_server.client("secretsmanager")
    arns = sorted(s["ARN"] for s in sm.list_secrets()["SecretList"] if s["Name"] == f"{NAME}/app")
    assert sorted(statement["Resource"]) == arns and len(arns) == 1
    trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}


def test_log_groups_have_retention(provisioned, moto_server):
    logs = moto_server.client("logs")
    groups = {g["logGroupName"]: g for g in logs.describe_log_groups(logGroupNamePrefix=f"/ecs/{NAME}/")["logGroups"]}
    assert sorted(groups) == sorted(f"/ecs/{NAME}/{p}" for p in PROCESSES)
    assert {g.get("retentionInDays") for g in groups.values()} == {7}


def test_cpu_target_tracking_per_service(provisioned, moto_server):
    aas = moto_server.client("application-autoscaling")
    ids = [f"service/{NAME}/{p}" for p in PROCESSES]
    targets = aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=ids)["ScalableTargets"]
    assert sorted((t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in targets) == sorted((i, 1, 2) for i in ids)
    for rid in ids:
        (policy,) = aas.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=rid)["ScalingPolicies"]
        config = policy["TargetTrackingScalingPolicyConfiguration"]
        assert policy["PolicyType"] == "TargetTrackingScaling"
        assert config["TargetValue"] == 70.0
        assert config["PredefinedMetricSpecification"]["PredefinedMetricType"] == "ECSServiceAverageCPUUtilization"


# --- alb ------------------------------------------------------------------------------------------------
def test_load_balancer_public_with_redirect_and_tls13(elbv2, load_balancer, target_groups):
    assert load_balancer["Scheme"] == "internet-facing" and load_balancer["Type"] == "application"
    listeners = {lst["Port"]: lst for lst in elbv2.describe_listeners(LoadBalancerArn=load_balancer["LoadBalancerArn"])["Listeners"]}
    assert sorted(listeners) == [80, 443]
    (redirect,) = listeners[80]["DefaultActions"]
    assert redirect["Type"] == "redirect"
    assert redirect["RedirectConfig"]["Protocol"] == "HTTPS" and redirect["RedirectConfig"]["StatusCode"] == "HTTP_301"
    https = listeners[443]
    assert https["Protocol"] == "HTTPS" and https["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    cert_arn = https["Certificates"][0]["CertificateArn"]
    assert ":acm:" in cert_arn
    assert https["DefaultActions"][0]["TargetGroupArn"] == target_groups[f"{NAME}-web"]["TargetGroupArn"]
    rules = [r for r in elbv2.describe_rules(ListenerArn=https["ListenerArn"])["Rules"] if not r["IsDefault"]]
    assert [(r["Priority"], r["Conditions"][0]["PathPatternConfig"]["Values"], r["Actions"][0]["TargetGroupArn"])
            for r in rules] == [("10", ["/api", "/api/*"], target_groups[f"{NAME}-api"]["TargetGroupArn"])]


def test_load_balancer_attributes(elbv2, load_balancer):
    attrs = {a["Key"]: a["Value"] for a in
             elbv2.describe_load_balancer_attributes(LoadBalancerArn=load_balancer["LoadBalancerArn"])["Attributes"]}
    assert attrs["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attrs["access_logs.s3.enabled"] == "true"
    assert attrs["access_logs.s3.bucket"] == f"{NAME}-backups-logs"
    assert attrs["access_logs.s3.prefix"] == "alb"
    assert attrs["deletion_protection.enabled"] == "false"  # sandbox; prod is refused by preflight without it


def test_target_groups_ip_ready_check_short_deregistration(elbv2, target_groups):
    assert sorted(target_groups) == sorted(WEB_FACING.values())
    for name, tg in target_groups.items():
        assert tg["TargetType"] == "ip" and tg["Protocol"] == "HTTP" and tg["Port"] == 8000, name
        assert tg["HealthCheckPath"] == "/health/ready", name
        assert (tg["HealthCheckIntervalSeconds"], tg["HealthCheckTimeoutSeconds"]) == (10, 5), name
        assert (tg["HealthyThresholdCount"], tg["UnhealthyThresholdCount"]) == (2, 3), name
        assert tg["Matcher"] == {"HttpCode": "200"}, name
        attrs = {a["Key"]: a["Value"] for a in elbv2.describe_target_group_attributes(TargetGroupArn=tg["TargetGroupArn"])["Attributes"]}
        assert attrs["deregistration_delay.timeout_seconds"] == "15", name


def test_sandbox_certificate_is_imported_once(provisioned, moto_server):
    acm = moto_server.client("acm")
    certs = acm.list_certificates()["CertificateSummaryList"]
    assert [c["DomainName"] for c in certs] == ["sandbox.webstack.test"]
    assert (SECRETS / f"{NAME}-alb.key").stat().st_mode & 0o077 == 0


# --- alarms ---------------------------------------------------------------------------------------------
EXPECTED_ALARMS = {
    "alb-5xx-rate": 10.0,
    "alb-p95-response-time": 2.0,
    "alb-unhealthy-hosts-web": 0.0,
    "alb-unhealthy-hosts-api": 0.0,
    **{f"ecs-{p}-{m}": 90.0 for p in PROCESSES for m in ("cpu", "memory")},
    "rds-cpu": 90.0,
    "rds-free-storage": 2.0 * 1024 ** 3,
    "rds-connections": 60.0,
    f"redis-memory-{NAME}-redis-001": 90.0,
    f"redis-evictions-{NAME}-redis-001": 0.0,
}


def test_every_alarm_with_alarm_and_ok_actions(cloudwatch, moto_server):
    topic = [t["TopicArn"] for t in moto_server.client("sns").list_topics()["Topics"] if t["TopicArn"].endswith(f":{NAME}-alarms")]
    assert len(topic) == 1
    alarms = {a["AlarmName"].removeprefix(f"{NAME}-"): a for a in cloudwatch.describe_alarms(AlarmNamePrefix=f"{NAME}-")["MetricAlarms"]}
    assert sorted(alarms) == sorted(EXPECTED_ALARMS)
    for name, threshold in EXPECTED_ALARMS.items():
        alarm = alarms[name]
        assert alarm["AlarmActions"] == topic and alarm["OKActions"] == topic, name
        assert alarm["Threshold"] == threshold, name
        assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (5, 3), name
    assert alarms["rds-free-storage"]["ComparisonOperator"] == "LessThanThreshold"
    assert alarms["alb-p95-response-time"]["ExtendedStatistic"] == "p95"
    rate = alarms["alb-5xx-rate"]["Metrics"]
    assert {m["Id"] for m in rate} == {"e5xx", "t5xx", "req", "rate"}
    assert [m["Expression"] for m in rate if m.get("ReturnData")] == ["IF(req > 0, 100 * (FILL(e5xx, 0) + FILL(t5xx, 0)) / req, 0)"]
    cpu = alarms["ecs-web-cpu"]
    assert (cpu["Namespace"], cpu["MetricName"]) == ("AWS/ECS", "CPUUtilization")
    assert {d["Name"]: d["Value"] for d in cpu["Dimensions"]} == {"ClusterName": NAME, "ServiceName": "web"}


# --- drift ----------------------------------------------------------------------------------------------
ALARMS_TASK = "alarms : SNS topic and alarms (ALB, ECS, RDS, Redis), each with ALARM and OK actions"
ECS_TASK = "ecs_service : ECS application layer (cluster, roles, log groups, app secret, task definitions, services, autoscaling)"
# the ECS task runs with no_log (the app secret's values are an argument): its change lines are shown by this one
ECS_REPORT_TASK = "ecs_service : Report the ECS layer's changes"
# the edge layer is one module run (webstack.platform.alb): its result names each difference, one line each
TG_REPORT_TASK = "alb : Edge layer (load balancer, listeners, target groups, rules, attributes)"


def _inject_drift(moto_server):
    cw = moto_server.client("cloudwatch")
    alarm = cw.describe_alarms(AlarmNames=[f"{NAME}-rds-cpu"])["MetricAlarms"][0]
    keep = ("AlarmName", "AlarmDescription", "ActionsEnabled", "OKActions", "AlarmActions", "InsufficientDataActions",
            "MetricName", "Namespace", "Statistic", "Dimensions", "Period", "EvaluationPeriods", "DatapointsToAlarm",
            "ComparisonOperator", "TreatMissingData")
    cw.put_metric_alarm(**{k: alarm[k] for k in keep if k in alarm}, Threshold=99.0)
    moto_server.client("logs").put_retention_policy(logGroupName=f"/ecs/{NAME}/api", retentionInDays=1)
    elbv2 = moto_server.client("elbv2")
    tg = elbv2.describe_target_groups(Names=[f"{NAME}-web"])["TargetGroups"][0]
    elbv2.modify_target_group(TargetGroupArn=tg["TargetGroupArn"], HealthCheckPath="/")


def _observed(moto_server):
    cw = moto_server.client("cloudwatch")
    logs = moto_server.client("logs")
    elbv2 = moto_server.client("elbv2")
    return {
        "threshold": cw.describe_alarms(AlarmNames=[f"{NAME}-rds-cpu"])["MetricAlarms"][0]["Threshold"],
        "retention": logs.describe_log_groups(logGroupNamePrefix=f"/ecs/{NAME}/api")["logGroups"][0].get("retentionInDays"),
        "health_path": elbv2.describe_target_groups(Names=[f"{NAME}-web"])["TargetGroups"][0]["HealthCheckPath"],
    }


def test_drift_is_reported_by_check_mode_and_repaired_by_provision(provisioned, moto_server, ansible):
    _inject_drift(moto_server)
    drifted = {"threshold": 99.0, "retention": 1, "health_path": "/"}
    assert _observed(moto_server) == drifted

    moto_server.recorder_start()
    check = ansible("playbooks/provision.yml", check=True, diff=True)
    calls = moto_server.recorder_stop()
    assert check.rc == 0, check.summary()
    changed = set(check.changed_tasks())
    assert changed == {ALARMS_TASK, ECS_TASK, TG_REPORT_TASK}, check.summary()
    assert check.changed == 3, check.summary()
    assert check.result_of(ECS_REPORT_TASK)["msg"] == [f"log group /ecs/{NAME}/api: retention 1 -> 7 days"]
    assert check.result_of(ALARMS_TASK)["changes"] == [f"update alarm {NAME}-rds-cpu: Threshold 99.0 -> 90.0"]
    report = json.dumps(check.result_of(TG_REPORT_TASK))
    assert "health_check_path: / -> /health/ready" in report
    assert [str(c) for c in mutating(calls)] == [], "check mode must not change anything"
    assert _observed(moto_server) == drifted

    repair = ansible("playbooks/provision.yml")
    assert repair.rc == 0, repair.summary()
    assert _observed(moto_server) == {"threshold": 90.0, "retention": 7, "health_path": "/health/ready"}

    again = ansible("playbooks/provision.yml", check=True)
    assert again.rc == 0 and again.changed == 0, again.summary()


# --- bad input of these layers: refused by preflight, naming the variable, before any API call --------------
BAD_INPUT = {
    "prod load balancer without deletion protection": (
        "prod", {"alb_deletion_protection": False}, ["alb_deletion_protection", "webstack_aws_prod_safety_overrides"]),
    "not a fargate size": ("sandbox", {"app_processes": [{"name": "web", "port": 8000, "memory": 700, "route": {"path": "/"}}]},
                           ["app_processes", "Fargate"]),
    "secret as a plain environment value": (
        "sandbox", {"app_env": {"APP_DATABASE_PASSWORD": "${database.password}"}}, ["app_env", "secret"]),
    "container as root": ("sandbox", {"ecs_service_user": "0"}, ["ecs_service_user"]),
    "weak tls policy": ("sandbox", {"alb_ssl_policy": "ELBSecurityPolicy-2016-08"}, ["alb_ssl_policy"]),
    "percentage above 100": ("sandbox", {"alarms_ecs_cpu_percent": 150}, ["alarms_ecs_cpu_percent"]),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_refused_in_preflight_without_api_calls(case, moto, ansible):
    inventory, extra, words = BAD_INPUT[case]
    extra = dict(extra)
    if inventory != "sandbox":
        extra.update(webstack_aws_endpoint_url=moto.url, alb_certificate_arn=f"arn:aws:acm:eu-west-1:{'1' * 12}:certificate/test",
                     vault_rds_master_password="x" * 24, vault_elasticache_auth_token="y" * 32)
    result = ansible("playbooks/provision.yml", inventory=inventory, extra_vars=extra, record=True)
    assert_refused_in_preflight(result, words)
