"""Unit tests of webstack.platform.alb (the edge layer in one module execution) through main(), with AWS answers from
botocore's Stubber shaped like the documented ones: create from nothing, converged no-op, drift in check mode (one
line per difference, nothing written), repair, absent. The module runs for real against the emulator in
tests/aws/test_ecs_alb_alarms.py (role alb)."""
from __future__ import annotations

from ansible_collections.webstack.platform.plugins.modules import alb


REGION = "us-east-1"
ACCOUNT = "123456789012"
LB = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/web-t/0123456789abcdef"
TG = {p: f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/web-t-{p}/0123456789abcde{i}" for i, p in enumerate(("web", "api"))}
L80 = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/app/web-t/0123456789abcdef/80"
L443 = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/app/web-t/0123456789abcdef/443"
RULE = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener-rule/app/web-t/0123456789abcdef/443/10"
CERT = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/abc"
ATTRS = {"access_logs.s3.enabled": True, "deletion_protection.enabled": False}

ARGS = dict(name="web-t", subnets=["subnet-a", "subnet-b"], security_groups=["sg-a"], vpc_id="vpc-a",
            processes=[{"name": "web", "port": 8000, "route": {"path": "/"}, "health": {"readiness": "/health/ready"}},
                       {"name": "api", "port": 8000, "route": {"path": "/api/"}, "health": {"readiness": "/health/ready"}},
                       {"name": "worker"}],
            certificate_arn=CERT, attributes=ATTRS, tags={"Environment": "t"}, deregistration_delay=15)


def tg(process, path="/health/ready"):
    return {"TargetGroupArn": TG[process], "TargetGroupName": f"web-t-{process}", "Protocol": "HTTP", "Port": 8000,
            "VpcId": "vpc-a", "TargetType": "ip", "HealthCheckPath": path, "HealthCheckIntervalSeconds": 10,
            "HealthCheckTimeoutSeconds": 5, "HealthyThresholdCount": 2, "UnhealthyThresholdCount": 3,
            "Matcher": {"HttpCode": "200"}, "LoadBalancerArns": [LB]}


LOAD_BALANCER = {"LoadBalancerArn": LB, "LoadBalancerName": "web-t", "DNSName": "web-t.elb.example", "Scheme": "internet-facing",
                 "CanonicalHostedZoneId": "Z1", "SecurityGroups": ["sg-a"],
                 "AvailabilityZones": [{"ZoneName": "a", "SubnetId": "subnet-a"}, {"ZoneName": "b", "SubnetId": "subnet-b"}]}
LISTENERS = [
    {"ListenerArn": L80, "Port": 80, "Protocol": "HTTP", "DefaultActions": [alb.HTTP_REDIRECT]},
    {"ListenerArn": L443, "Port": 443, "Protocol": "HTTPS", "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
     "Certificates": [{"CertificateArn": CERT}], "DefaultActions": [{"Type": "forward", "TargetGroupArn": TG["web"]}]},
]
RULES = [{"RuleArn": RULE, "Priority": "10", "IsDefault": False,
          "Conditions": [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api", "/api/*"]}}],
          "Actions": [{"Type": "forward", "TargetGroupArn": TG["api"]}]},
         {"RuleArn": RULE + "d", "Priority": "default", "IsDefault": True, "Conditions": [], "Actions": []}]


def converged_reads(stub, web_path="/health/ready", delay="15"):
    stub.add_response("describe_target_groups", {"TargetGroups": [tg("web", web_path), tg("api")]},
                      {"Names": ["web-t-web", "web-t-api"]})
    for process in ("web", "api"):
        stub.add_response("describe_target_group_attributes", {"Attributes": [
            {"Key": "deregistration_delay.timeout_seconds", "Value": delay}]}, {"TargetGroupArn": TG[process]})
    stub.add_response("describe_load_balancers", {"LoadBalancers": [LOAD_BALANCER]}, {"Names": ["web-t"]})
    stub.add_response("describe_listeners", {"Listeners": LISTENERS}, {"LoadBalancerArn": LB})
    stub.add_response("describe_rules", {"Rules": RULES}, {"ListenerArn": L443})
    stub.add_response("describe_load_balancer_attributes", {"Attributes": [
        {"Key": "access_logs.s3.enabled", "Value": "true"}, {"Key": "deletion_protection.enabled", "Value": "false"}]},
        {"LoadBalancerArn": LB})
    stub.add_response("describe_tags", {"TagDescriptions": [
        {"ResourceArn": arn, "Tags": [{"Key": "Environment", "Value": "t"}]} for arn in (LB, TG["web"], TG["api"])]},
        {"ResourceArns": [LB, TG["web"], TG["api"]]})


def test_routes_rules_and_default():
    routes = alb.routed(ARGS["processes"], "web-t-", alb.HEALTH_DEFAULTS)
    assert [(r["name"], r["path"], r["health_check_path"]) for r in routes] == [("web", "", "/health/ready"),
                                                                             ("api", "/api", "/health/ready")]
    assert alb.rules_of(routes) == [{"priority": "10", "conditions": (("path-pattern", ("/api", "/api/*")),),
                                     "target_group": "web-t-api"}]
    hosts = alb.routed([{"name": "a", "port": 1, "route": {"host": "A.example"}}, {"name": "b", "port": 1, "route": {"path": "/b/c"}},
                        {"name": "c", "port": 1, "route": {"path": "/b"}}], "x-", alb.HEALTH_DEFAULTS)
    assert [r["target_group"] for r in alb.rules_of(hosts)] == ["x-a", "x-b", "x-c"]
    assert hosts[0]["matcher"] == "200-499" and hosts[0]["host"] == "a.example"


def test_converged_is_a_no_op_with_reads_only(aws_stub, run_module):
    stub = aws_stub("elbv2")
    converged_reads(stub)
    res = run_module(alb, ARGS)
    assert not res.failed, res.result
    assert res.result["changed"] is False and res.result["changes"] == []
    assert res.result["target_group_arns"] == {"web": TG["web"], "api": TG["api"]}
    assert res.result["load_balancer_arn"] == LB and res.result["dns_name"] == "web-t.elb.example"


def test_drift_is_reported_in_check_mode_with_diff_and_nothing_written(aws_stub, run_module):
    stub = aws_stub("elbv2")
    converged_reads(stub, web_path="/", delay="300")
    res = run_module(alb, ARGS, check_mode=True, diff=True)
    assert not res.failed, res.result
    assert res.result["changed"] is True
    assert res.result["changes"] == [
        "target group web-t-web: health_check_path: / -> /health/ready",
        "target group web-t-web: deregistration_delay_timeout_seconds: 300 -> 15",
        "target group web-t-api: deregistration_delay_timeout_seconds: 300 -> 15"]
    assert "health_check_path: / -> /health/ready" in res.result["diff"]["after"]


def test_drift_is_repaired(aws_stub, run_module):
    stub = aws_stub("elbv2")
    stub.add_response("describe_target_groups", {"TargetGroups": [tg("web", "/"), tg("api")]}, {"Names": ["web-t-web", "web-t-api"]})
    stub.add_response("modify_target_group", {"TargetGroups": [tg("web")]}, {
        "TargetGroupArn": TG["web"], "HealthCheckPath": "/health/ready", "HealthCheckIntervalSeconds": 10,
        "HealthCheckTimeoutSeconds": 5, "HealthyThresholdCount": 2, "UnhealthyThresholdCount": 3, "Matcher": {"HttpCode": "200"}})
    for process in ("web", "api"):
        stub.add_response("describe_target_group_attributes", {"Attributes": [
            {"Key": "deregistration_delay.timeout_seconds", "Value": "15"}]}, {"TargetGroupArn": TG[process]})
    stub.add_response("describe_load_balancers", {"LoadBalancers": [LOAD_BALANCER]}, {"Names": ["web-t"]})
    listeners = [LISTENERS[0], dict(LISTENERS[1], SslPolicy="ELBSecurityPolicy-2016-08")]
    stub.add_response("describe_listeners", {"Listeners": listeners}, {"LoadBalancerArn": LB})
    stub.add_response("modify_listener", {"Listeners": [LISTENERS[1]]}, {
        "ListenerArn": L443, "Port": 443, "Protocol": "HTTPS", "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
        "Certificates": [{"CertificateArn": CERT}], "DefaultActions": [{"Type": "forward", "TargetGroupArn": TG["web"]}]})
    stub.add_response("describe_rules", {"Rules": RULES[1:]}, {"ListenerArn": L443})
    stub.add_response("create_rule", {"Rules": [RULES[0]]}, {
        "ListenerArn": L443, "Priority": 10, "Actions": [{"Type": "forward", "TargetGroupArn": TG["api"]}],
        "Conditions": [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api", "/api/*"]}}]})
    stub.add_response("describe_load_balancer_attributes", {"Attributes": [{"Key": "deletion_protection.enabled", "Value": "true"}]},
                      {"LoadBalancerArn": LB})
    stub.add_response("modify_load_balancer_attributes", {"Attributes": []}, {"LoadBalancerArn": LB, "Attributes": [
        {"Key": "access_logs.s3.enabled", "Value": "true"}, {"Key": "deletion_protection.enabled", "Value": "false"}]})
    stub.add_response("describe_tags", {"TagDescriptions": [{"ResourceArn": LB, "Tags": [{"Key": "Other", "Value": "x"}]},
                                                            {"ResourceArn": TG["web"], "Tags": [{"Key": "Environment", "Value": "t"}]},
                                                            {"ResourceArn": TG["api"], "Tags": [{"Key": "Environment", "Value": "t"}]}]},
                      {"ResourceArns": [LB, TG["web"], TG["api"]]})
    stub.add_response("add_tags", {}, {"ResourceArns": [LB], "Tags": [{"Key": "Environment", "Value": "t"}]})
    res = run_module(alb, ARGS)
    assert not res.failed, res.result
    assert [c.split(":")[0] for c in res.result["changes"]] == [
        "target group web-t-web", "listener HTTPS", "create rule 10", "attributes", "tag load balancer web-t"]


def test_created_from_nothing(aws_stub, run_module):
    stub = aws_stub("elbv2")
    stub.add_client_error("describe_target_groups", "TargetGroupNotFound", "none", expected_params={"Names": ["web-t-web", "web-t-api"]})
    for process in ("web", "api"):
        stub.add_client_error("describe_target_groups", "TargetGroupNotFound", "none", expected_params={"Names": [f"web-t-{process}"]})
    for process in ("web", "api"):
        stub.add_response("create_target_group", {"TargetGroups": [tg(process)]})
        stub.add_response("modify_target_group_attributes", {"Attributes": []}, {"TargetGroupArn": TG[process], "Attributes": [
            {"Key": "deregistration_delay.timeout_seconds", "Value": "15"}]})
    stub.add_client_error("describe_load_balancers", "LoadBalancerNotFound", "none")
    stub.add_response("create_load_balancer", {"LoadBalancers": [LOAD_BALANCER]}, {
        "Name": "web-t", "Subnets": ["subnet-a", "subnet-b"], "SecurityGroups": ["sg-a"], "Scheme": "internet-facing",
        "Type": "application", "IpAddressType": "ipv4", "Tags": [{"Key": "Environment", "Value": "t"}]})
    stub.add_response("create_listener", {"Listeners": [LISTENERS[0]]}, dict(LoadBalancerArn=LB, Port=80, Protocol="HTTP",
                                                                             DefaultActions=[alb.HTTP_REDIRECT]))
    stub.add_response("create_listener", {"Listeners": [LISTENERS[1]]})
    stub.add_response("describe_rules", {"Rules": RULES[1:]}, {"ListenerArn": L443})
    stub.add_response("create_rule", {"Rules": [RULES[0]]})
    stub.add_response("modify_load_balancer_attributes", {"Attributes": []})
    res = run_module(alb, ARGS)
    assert not res.failed, res.result
    assert res.result["changed"] is True and res.result["target_group_arns"] == {"web": TG["web"], "api": TG["api"]}
    assert res.result["changes"][:2] == ["create target group web-t-web (ip, HTTP:8000, health /health/ready)",
                                         "create target group web-t-api (ip, HTTP:8000, health /health/ready)"]


def test_check_mode_on_nothing_plans_everything_and_calls_only_reads(aws_stub, run_module):
    stub = aws_stub("elbv2")
    stub.add_client_error("describe_target_groups", "TargetGroupNotFound", "none")
    for _ in range(2):
        stub.add_client_error("describe_target_groups", "TargetGroupNotFound", "none")
    stub.add_client_error("describe_load_balancers", "LoadBalancerNotFound", "none")
    res = run_module(alb, dict(ARGS, subnets=["(vpc: not created yet)"] * 2, vpc_id="(vpc: not created yet)"), check_mode=True)
    assert not res.failed, res.result
    assert res.result["changed"] is True and res.result["load_balancer_arn"] == ""
    assert "create load balancer web-t (internet-facing, 2 subnets)" in res.result["changes"]
    assert any(c.startswith("create rule 10") for c in res.result["changes"])


def test_absent_lifts_deletion_protection_and_deletes_everything(aws_stub, run_module):
    stub = aws_stub("elbv2")
    stub.add_response("describe_load_balancers", {"LoadBalancers": [LOAD_BALANCER]}, {"Names": ["web-t"]})
    stub.add_response("describe_load_balancer_attributes", {"Attributes": [{"Key": "deletion_protection.enabled", "Value": "true"}]},
                      {"LoadBalancerArn": LB})
    stub.add_response("modify_load_balancer_attributes", {"Attributes": []}, {"LoadBalancerArn": LB, "Attributes": [
        {"Key": "deletion_protection.enabled", "Value": "false"}]})
    stub.add_response("delete_load_balancer", {}, {"LoadBalancerArn": LB})
    stub.add_client_error("describe_load_balancers", "LoadBalancerNotFound", "gone")
    stub.add_response("describe_target_groups", {"TargetGroups": [tg("web"), tg("api")]}, {"Names": ["web-t-web", "web-t-api"]})
    stub.add_client_error("delete_target_group", "ResourceInUse", "still attached")  # the deletion propagates
    stub.add_response("delete_target_group", {}, {"TargetGroupArn": TG["api"]})
    stub.add_response("delete_target_group", {}, {"TargetGroupArn": TG["web"]})
    res = run_module(alb, {"name": "web-t", "state": "absent", "processes": ARGS["processes"], "certificate_arn": CERT,
                           "poll_interval": 0})
    assert not res.failed, res.result
    assert res.result["changes"] == ["lift deletion protection of web-t", "delete load balancer web-t",
                                     "delete target group web-t-api", "delete target group web-t-web"]
