"""The aws platform honours the application description (docs/app-description.md, issue 8 section 5) on the sandbox.

A PropFlow-like description (an api behind /api with its own health paths, a worker and a singleton Celery beat without
ports, a dashboard from its own registry at /, an admin process on a host route without health path; env composed from
tokens; a composed DATABASE_URL, a vault secret and an existing Secrets Manager secret's JSON key; a migration command;
smoke checks) is given to the sandbox inventory with -e. One provision per module on a reset emulator, then:
second run changed=0 with no mutating call; a boto3 read-back of task definitions (images, commands, ports, valueFrom
secrets, no container health check, stop timeouts, writable volumes), services (singleton deployment settings, counts,
load balancers), autoscaling bounds, the app secret's JSON, the execution role's policy, target groups (per-process
port and health path) and listener rules (host before path, stable priorities, default action); a deploy of 2.0.0 with
per-process images, the migration command as a one-off task of the new api revision, and the smoke checks through a
local HTTP endpoint (Host header of host routes); a -vvv run that prints no secret value; aws-only bad input refused by
preflight with no API call.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from support.aws import ROOT, MotoServer, assert_refused_in_preflight, ecr_image_manifest, mutating, run_playbook

pytestmark = pytest.mark.aws

NAME = "webstack-sandbox"
ACCOUNT = "123456789012"
REGION = "eu-west-1"
ECR = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{NAME}/app"
DASHBOARD = "registry.example.com/propflow/dashboard"
SUPABASE_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:petforce/supabase-AbCdEf"
SECRET_KEY = "propflow-secret-key-never-printed-0123456789"
SECRETS_DIR = ROOT / ".secrets" / "sandbox"

APP = {
    "app_processes": [
        {"name": "api", "port": 8000, "count": 2, "max_count": 6,
         "command": ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"],
         "route": {"path": "/api"}, "health": {"readiness": "/api/health", "liveness": "/api/health", "grace": 30}},
        {"name": "worker", "command": ["celery", "-A", "app.worker", "worker"], "count": 2},
        {"name": "beat", "command": ["celery", "-A", "app.worker", "beat"], "singleton": True},
        {"name": "dashboard", "image": DASHBOARD, "port": 3000, "route": {"path": "/"}, "health": {"readiness": "/health"},
         "memory": 1024},
        {"name": "admin", "port": 4000, "route": {"host": "admin.example.com"}, "stop_timeout": 60},
    ],
    "app_env": {"REDIS_HOST": "${redis.host}", "S3_BUCKET": "${bucket.name}", "LOG_LEVEL": "info"},
    "app_secrets": [
        {"name": "DATABASE_URL",
         "template": "postgresql://${database.user}:${database.password}@${database.host}:${database.port}/${database.name}"},
        {"name": "SECRET_KEY", "var": "vault_propflow_secret_key"},
        {"name": "SUPABASE_ANON_KEY", "arn": SUPABASE_ARN, "key": "anon_key", "processes": ["dashboard"]},
    ],
    "app_migrations": {"command": ["alembic", "upgrade", "head"], "process": "api"},
    "app_smoke_checks": [
        {"process": "api", "path": "/api/health"},
        {"process": "api", "path": "/api/version", "json_field": "version", "json_equals": "${app.version}"},
        {"process": "admin", "path": "/login", "body_contains": "admin"},
    ],
    "app_writable_paths": ["/tmp", "/app/cache"],
    "vault_propflow_secret_key": SECRET_KEY,
}
PROCESSES = ("api", "worker", "beat", "dashboard", "admin")
ROUTED = {"api": 8000, "dashboard": 3000, "admin": 4000}


def secret_values() -> set[str]:
    values = {p.read_text().strip() for p in SECRETS_DIR.glob("*") if p.is_file() and not p.suffix}
    values = {v.split(" salt=", 1)[0] for v in values if len(v) >= 16}
    assert values, "the sandbox secrets were generated into .secrets/sandbox"
    return values | {SECRET_KEY}


@pytest.fixture(scope="module")
def emulator():
    """An emulator of this module's own whose ECS services report 2 running tasks (the description has counts of 2)."""
    server = MotoServer(ecs_service_running=2).start()
    yield server
    server.stop()


def run(server, playbook, *, record=False, **kwargs):
    if record:
        server.recorder_start()
    result = run_playbook(playbook, endpoint_url=server.url, **kwargs)
    if record:
        result.calls = server.recorder_stop()
    return result


@pytest.fixture(scope="module")
def described(emulator):
    """The sandbox provisioned from nothing with the PropFlow-like description."""
    first = run(emulator, "playbooks/provision.yml", record=True, extra_vars=APP)
    assert first.rc == 0, first.summary()
    return first


@pytest.fixture(scope="module")
def task_definitions(described, emulator):
    ecs = emulator.client("ecs")
    services = {s["serviceName"]: s for s in ecs.describe_services(cluster=NAME, services=list(PROCESSES))["services"]}
    out = {}
    for name, svc in services.items():
        td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
        out[name] = td
    return services, out


def test_second_provision_changes_nothing(described, emulator):
    assert described.changed > 0
    again = run(emulator, "playbooks/provision.yml", record=True, extra_vars=APP)
    assert again.rc == 0, again.summary()
    assert again.changed == 0, again.summary()
    assert [str(c) for c in mutating(again.calls)] == []


def test_task_definitions_carry_each_process(task_definitions, emulator):
    services, tds = task_definitions
    assert sorted(services) == sorted(PROCESSES)
    sm = emulator.client("secretsmanager")
    app_arn = sm.describe_secret(SecretId=f"{NAME}/app")["ARN"]
    redis = emulator.client("elasticache").describe_replication_groups()["ReplicationGroups"][0]
    redis_host = redis["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    expected_images = {p: f"{ECR}:1.0.0" for p in PROCESSES} | {"dashboard": f"{DASHBOARD}:1.0.0"}
    for proc in APP["app_processes"]:
        name = proc["name"]
        (c,) = tds[name]["containerDefinitions"]
        assert c["image"] == expected_images[name], name
        assert c.get("command") == proc.get("command"), name
        ports = [m["containerPort"] for m in c.get("portMappings", [])]
        assert ports == ([ROUTED[name]] if name in ROUTED else []), name
        assert "healthCheck" not in c, f"{name}: no container health check (nothing is assumed inside the image)"
        assert c["stopTimeout"] == proc.get("stop_timeout", 20), name
        assert (tds[name]["cpu"], tds[name]["memory"]) == ("256", str(proc.get("memory", 512))), name
        env = {e["name"]: e["value"] for e in c["environment"]}
        assert env == {"REDIS_HOST": redis_host, "S3_BUCKET": f"{NAME}-backups-logs", "LOG_LEVEL": "info"}, name
        secrets = {s["name"]: s["valueFrom"] for s in c["secrets"]}
        want = {"DATABASE_URL": f"{app_arn}:DATABASE_URL::", "SECRET_KEY": f"{app_arn}:SECRET_KEY::"}
        if name == "dashboard":
            want["SUPABASE_ANON_KEY"] = f"{SUPABASE_ARN}:anon_key::"
        assert secrets == want, name
        assert c["readonlyRootFilesystem"] is True and c["user"] == "10001", name
        assert [(m["sourceVolume"], m["containerPath"]) for m in c["mountPoints"]] == [("tmp", "/tmp"), ("app-cache", "/app/cache")]
        assert sorted(v["name"] for v in tds[name]["volumes"]) == ["app-cache", "tmp"], name
        dumped = json.dumps(tds[name])
        assert not any(v in dumped for v in secret_values()), f"{name}: a secret value is in the task definition"


def test_services_counts_singleton_and_load_balancers(task_definitions, emulator):
    services, _tds = task_definitions
    elbv2 = emulator.client("elbv2")
    tgs = {g["TargetGroupName"]: g for g in elbv2.describe_target_groups(Names=[f"{NAME}-{p}" for p in ROUTED])["TargetGroups"]}
    for name, svc in services.items():
        dep = svc["deploymentConfiguration"]
        if name == "beat":
            assert (dep["maximumPercent"], dep["minimumHealthyPercent"], svc["desiredCount"]) == (100, 0, 1)
        else:
            assert (dep["maximumPercent"], dep["minimumHealthyPercent"]) == (200, 100), name
        if name in ROUTED:
            assert svc["loadBalancers"] == [{"targetGroupArn": tgs[f"{NAME}-{name}"]["TargetGroupArn"], "containerName": name,
                                             "containerPort": ROUTED[name]}], name
        else:
            assert svc["loadBalancers"] == [], name
    assert services["api"]["desiredCount"] == 2 and services["worker"]["desiredCount"] == 2
    assert services["api"]["healthCheckGracePeriodSeconds"] == 30
    aas = emulator.client("application-autoscaling")
    targets = aas.describe_scalable_targets(ServiceNamespace="ecs",
                                            ResourceIds=[f"service/{NAME}/{p}" for p in PROCESSES])["ScalableTargets"]
    bounds = {t["ResourceId"].rsplit("/", 1)[1]: (t["MinCapacity"], t["MaxCapacity"]) for t in targets}
    assert bounds == {"api": (2, 6), "worker": (2, 2), "beat": (1, 1), "dashboard": (1, 1), "admin": (1, 1)}


def test_app_secret_holds_the_composed_and_vault_secrets_and_only_it_is_readable(described, emulator):
    sm = emulator.client("secretsmanager")
    value = json.loads(sm.get_secret_value(SecretId=f"{NAME}/app")["SecretString"])
    assert sorted(value) == ["DATABASE_URL", "SECRET_KEY"]  # the arn secret stays where it is
    db = emulator.client("rds").describe_db_instances(DBInstanceIdentifier=f"{NAME}-postgres")["DBInstances"][0]
    password = (SECRETS_DIR / "rds_master_password").read_text().splitlines()[0].split(" salt=", 1)[0]
    assert value["DATABASE_URL"] == (f"postgresql://webstack_admin:{password}@{db['Endpoint']['Address']}:"
                                     f"{db['Endpoint']['Port']}/webstack")
    assert value["SECRET_KEY"] == SECRET_KEY
    doc = emulator.client("iam").get_role_policy(RoleName=f"{NAME}-ecs-execution", PolicyName="webstack-read-secrets")
    (statement,) = doc["PolicyDocument"]["Statement"]
    assert statement["Action"] == ["secretsmanager:GetSecretValue"]
    assert sorted(statement["Resource"]) == sorted([sm.describe_secret(SecretId=f"{NAME}/app")["ARN"], SUPABASE_ARN])


def test_target_groups_and_listener_rules_follow_the_routes(described, emulator):
    elbv2 = emulator.client("elbv2")
    tgs = {g["TargetGroupName"]: g for g in elbv2.describe_target_groups()["TargetGroups"]}
    assert sorted(tgs) == sorted(f"{NAME}-{p}" for p in ROUTED)  # no target group for the worker and the beat
    health = {n.removeprefix(f"{NAME}-"): (g["Port"], g["HealthCheckPath"], g["Matcher"]["HttpCode"]) for n, g in tgs.items()}
    assert health == {"api": (8000, "/api/health", "200"), "dashboard": (3000, "/health", "200"),
                      "admin": (4000, "/", "200-499")}  # no health path: any HTTP answer means up
    lb = elbv2.describe_load_balancers(Names=[NAME])["LoadBalancers"][0]
    https = next(lst for lst in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"] if lst["Port"] == 443)
    assert https["DefaultActions"][0]["TargetGroupArn"] == tgs[f"{NAME}-dashboard"]["TargetGroupArn"]
    rules = sorted((r for r in elbv2.describe_rules(ListenerArn=https["ListenerArn"])["Rules"] if not r["IsDefault"]),
                   key=lambda r: int(r["Priority"]))
    seen = []
    for rule in rules:
        conditions = {c["Field"]: (c.get("HostHeaderConfig") or c.get("PathPatternConfig"))["Values"] for c in rule["Conditions"]}
        target = next(n for n, g in tgs.items() if g["TargetGroupArn"] == rule["Actions"][0]["TargetGroupArn"])
        seen.append((rule["Priority"], conditions, target.removeprefix(f"{NAME}-")))
    assert seen == [("10", {"host-header": ["admin.example.com"]}, "admin"),
                    ("20", {"path-pattern": ["/api", "/api/*"]}, "api")]


class _App(BaseHTTPRequestHandler):
    """What the ALB would forward to: answers as the described app does and records each request's path and Host."""
    seen: list = []
    version = "2.0.0"

    def do_GET(self):  # noqa: N802
        self.seen.append((self.path, self.headers.get("Host")))
        body = {"/api/health": b"ok", "/api/version": json.dumps({"version": self.version}).encode(),
                "/login": b"<title>admin</title>"}.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        self.wfile.write(body or b"not found")

    def log_message(self, *_args):
        pass


def test_deploy_uses_per_process_images_the_migration_command_and_the_smoke_checks(described, emulator):
    ecr = emulator.client("ecr")
    for version in ("1.0.0", "2.0.0"):
        ecr.put_image(repositoryName=f"{NAME}/app", imageManifest=ecr_image_manifest(version), imageTag=version)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _App)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _App.seen.clear()
        result = run(emulator, "playbooks/deploy.yml", extra_vars=dict(APP, app_version="2.0.0",
                                                                   ecs_release_smoke_base_url=f"http://127.0.0.1:{server.server_port}"))
    finally:
        server.shutdown()
        server.server_close()
    assert result.rc == 0, result.summary()
    ecs = emulator.client("ecs")
    images = {}
    for svc in ecs.describe_services(cluster=NAME, services=list(PROCESSES))["services"]:
        td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
        images[svc["serviceName"]] = (td["containerDefinitions"][0]["image"], svc["taskDefinition"])
    assert {n: i for n, (i, _td) in images.items()} == {p: f"{ECR}:2.0.0" for p in PROCESSES} | {"dashboard": f"{DASHBOARD}:2.0.0"}
    ledger = json.loads(emulator.client("s3").get_object(Bucket=f"{NAME}-backups-logs", Key=f"ledger/{NAME}.json")["Body"].read())
    entry = ledger["releases"][-1]
    assert (entry["action"], entry["version"]) == ("deploy", "2.0.0")
    assert entry["images"]["dashboard"] == f"{DASHBOARD}:2.0.0"
    task = ecs.describe_tasks(cluster=NAME, tasks=[entry["migration_task"]])["tasks"][0]
    assert task["taskDefinitionArn"] == images["api"][1]  # the NEW api revision: its image, env and secrets
    assert task["overrides"]["containerOverrides"][0]["command"] == ["alembic", "upgrade", "head"]
    host = f"127.0.0.1:{server.server_port}"
    assert _App.seen == [("/api/health", host), ("/api/version", host), ("/login", "admin.example.com")]


def test_no_secret_value_in_a_verbose_run(described, emulator):
    result = run(emulator, "playbooks/provision.yml", extra_vars=APP,
                     json_output=False, verbosity=3)
    assert result.rc == 0, result.stdout[-3000:]
    text = result.stdout + result.stderr
    assert "ESTABLISH LOCAL CONNECTION" in text  # really verbose: module arguments and results are printed
    leaked = [v[:4] + "..." for v in secret_values() if v in text]
    assert leaked == [], f"secret values printed by a -vvv run: {leaked}"


BAD = {
    "file secret": ({"app_secrets": [{"name": "TOKEN", "var": "vault_propflow_secret_key", "file": True}]},
                    ["app_secrets[].file", "docker only"]),
    "stop timeout above Fargate's": ({"app_processes": [dict(APP["app_processes"][0], stop_timeout=300), *APP["app_processes"][1:]]},
                                     ["app_processes[].stop_timeout", "120"]),
    "sql_dir without a reachable database": ({"app_migrations": {"sql_dir": str(ROOT / "app" / "migrations")}},
                                             ["app_migrations.sql_dir", "webstack_aws_db_address"]),
    "target group name too long": ({"app_processes": [*APP["app_processes"][:4], dict(APP["app_processes"][4], name="a-very-long-process-name")],
                                    "app_smoke_checks": APP["app_smoke_checks"][:2]},
                                   ["app_processes", "32 characters"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_aws_only_bad_input_is_refused_in_preflight_without_api_calls(case, moto, ansible):
    extra, words = BAD[case]
    result = ansible("playbooks/provision.yml", extra_vars=dict(APP, **extra), record=True)
    assert_refused_in_preflight(result, words)
