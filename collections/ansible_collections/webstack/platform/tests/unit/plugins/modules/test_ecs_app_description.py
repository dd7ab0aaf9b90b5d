"""webstack.platform.ecs_app honouring the application description (docs/app-description.md): per-process image,
command, port, environment and secrets, the stack's app secret in Secrets Manager (created, left alone, updated with a
new deployment of the services that read it, restored when scheduled for deletion; its values never in a change line
nor in the module's output), singleton deployment settings, stop timeout, an opt-in container health check, writable
paths as task volumes. AWS answers come from botocore's Stubber, shaped like the documented ones."""
from __future__ import annotations

import json

import pytest
from ansible_collections.webstack.platform.plugins.modules import ecs_app
from botocore.stub import ANY

from test_compute_edge_modules import ACCOUNT, REGION, TG_ARN, FakeModule, _Failed, converged_service, params

APP_SECRET = "webstack-t/app"
APP_SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:webstack-t/app-AbCdEf"
SUPABASE_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:petforce/supabase-XyZ123"
REPO = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/webstack-t/app"
VALUES = {"DATABASE_URL": "postgresql://u:s3cr3t-pw@db:5432/app", "SECRET_KEY": "k3y-value-never-logged"}

API = {"name": "api", "image": f"{REPO}:1.0.0", "command": ["uvicorn", "app.main:app", "--port", "8000"], "cpu": 256,
       "memory": 512, "port": 8000, "target_group_arn": TG_ARN, "min_tasks": 2, "max_tasks": 6, "cpu_target": 70,
       "health_check_grace_period": 30, "stop_timeout": 20, "environment": {"LOG_LEVEL": "debug", "PORT": "8000"},
       "secrets": [{"name": "SUPABASE_ANON_KEY", "value_from": SUPABASE_ARN + ":anon_key::"}],
       "app_secret_keys": ["DATABASE_URL", "SECRET_KEY"]}
BEAT = {"name": "beat", "image": "registry.example.com/propflow/api:1.0.0", "command": ["celery", "-A", "app.worker", "beat"],
        "cpu": 256, "memory": 512, "port": 0, "target_group_arn": "", "min_tasks": 1, "max_tasks": 1, "cpu_target": 70,
        "singleton": True, "stop_timeout": 60, "environment": {}, "secrets": [], "app_secret_keys": ["DATABASE_URL"]}


def described_app(check_mode=False, processes=(API, BEAT), **over):
    base = params(image="", environment={"LOG_LEVEL": "info", "S3_BUCKET": "b"}, secrets=[], processes=[dict(p) for p in processes],
                  app_secret_name=APP_SECRET, app_secret_values=dict(VALUES), writable_paths=["/tmp", "/app/cache"])
    base.update(over)
    module = FakeModule(base, check_mode=check_mode)
    return ecs_app.EcsApp(module), module


def stub(a, module, service):
    """The Stubber of the client EcsApp uses (the Secrets Manager client is created on first use)."""
    if service == "secretsmanager":
        _ = a.sm
    return module.stubs[service]


def secret_meta(**over):
    meta = {"ARN": APP_SECRET_ARN, "Name": APP_SECRET}
    meta.update(over)
    return meta


# --- the stack's app secret -----------------------------------------------------------------------------
def test_app_secret_created_with_every_value_and_only_key_names_reported():
    a, module = described_app()
    sm = stub(a, module, "secretsmanager")
    sm.add_client_error("describe_secret", "ResourceNotFoundException", "not found", 400, expected_params={"SecretId": APP_SECRET})
    sm.add_response("create_secret", {"ARN": APP_SECRET_ARN, "Name": APP_SECRET},
                    {"Name": APP_SECRET, "SecretString": json.dumps(VALUES, sort_keys=True), "Description": ANY,
                     "Tags": [{"Key": "Project", "Value": "webstack"}]})
    assert a.ensure_app_secret() == (APP_SECRET_ARN, False)
    sm.assert_no_pending_responses()
    assert a.changes == [f"create Secrets Manager secret {APP_SECRET} (keys DATABASE_URL, SECRET_KEY)"]
    assert not any(v in line for v in VALUES.values() for line in a.changes)


def test_app_secret_unchanged_is_read_and_not_written():
    a, module = described_app()
    sm = stub(a, module, "secretsmanager")
    sm.add_response("describe_secret", secret_meta(), {"SecretId": APP_SECRET})
    sm.add_response("get_secret_value", {"ARN": APP_SECRET_ARN, "Name": APP_SECRET, "SecretString": json.dumps(VALUES)},
                    {"SecretId": APP_SECRET_ARN})
    assert a.ensure_app_secret() == (APP_SECRET_ARN, False)
    assert a.changes == []


def test_app_secret_new_value_is_written_naming_the_key_not_the_value():
    for check in (True, False):
        a, module = described_app(check_mode=check)
        sm = stub(a, module, "secretsmanager")
        sm.add_response("describe_secret", secret_meta(), {"SecretId": APP_SECRET})
        old = dict(VALUES, SECRET_KEY="the-old-key")
        sm.add_response("get_secret_value", {"ARN": APP_SECRET_ARN, "SecretString": json.dumps(old)}, {"SecretId": APP_SECRET_ARN})
        if not check:
            sm.add_response("put_secret_value", {"ARN": APP_SECRET_ARN},
                            {"SecretId": APP_SECRET_ARN, "SecretString": json.dumps(VALUES, sort_keys=True)})
        assert a.ensure_app_secret() == (APP_SECRET_ARN, True)
        sm.assert_no_pending_responses()
        assert a.changes == [f"Secrets Manager secret {APP_SECRET}: new value of SECRET_KEY"]
        assert "the-old-key" not in a.changes[0] and VALUES["SECRET_KEY"] not in a.changes[0]


def test_app_secret_scheduled_for_deletion_is_restored_then_written():
    a, module = described_app()
    sm = stub(a, module, "secretsmanager")
    sm.add_response("describe_secret", secret_meta(DeletedDate="2026-12-01T00:00:00Z"), {"SecretId": APP_SECRET})
    sm.add_response("restore_secret", {"ARN": APP_SECRET_ARN}, {"SecretId": APP_SECRET_ARN})
    sm.add_response("put_secret_value", {"ARN": APP_SECRET_ARN},
                    {"SecretId": APP_SECRET_ARN, "SecretString": json.dumps(VALUES, sort_keys=True)})
    a.ensure_app_secret()
    sm.assert_no_pending_responses()
    assert a.changes[0].startswith(f"restore Secrets Manager secret {APP_SECRET}")


def test_a_changed_secret_starts_a_new_deployment_of_the_services_that_read_it():
    a, module = described_app()
    ecs = stub(a, module, "ecs")
    api = a.p["processes"][0]
    current = converged_service(a, "arn:td:3", serviceName="api", desiredCount=2,
                                loadBalancers=[{"targetGroupArn": TG_ARN, "containerName": "api", "containerPort": 8000}],
                                healthCheckGracePeriodSeconds=30)
    expected = dict(a.service_spec(api, "arn:td:3"), cluster="webstack-t", service="api", forceNewDeployment=True)
    ecs.add_response("update_service", {"service": {}}, expected)
    a.ensure_service(api, current, "arn:td:3", secret_changed=True)
    ecs.assert_no_pending_responses()
    assert a.changes == [f"update ECS service api: new deployment: the application secret {APP_SECRET} changed"]
    # unchanged secret: nothing to do
    a.changes.clear()
    a.ensure_service(api, current, "arn:td:3", secret_changed=False)
    assert a.changes == []


# --- task definitions of the description's processes -------------------------------------------------------
def test_each_process_gets_its_image_command_port_env_and_secrets_by_reference():
    a, _module = described_app()
    a.app_secret_arn = APP_SECRET_ARN
    api = a.task_definition(a.p["processes"][0], "arn:exec", "arn:task")
    (c,) = api["containerDefinitions"]
    assert c["image"] == f"{REPO}:1.0.0" and c["command"] == API["command"]
    assert c["portMappings"] == [{"containerPort": 8000, "hostPort": 8000, "protocol": "tcp"}]
    assert {e["name"]: e["value"] for e in c["environment"]} == {"LOG_LEVEL": "debug", "PORT": "8000", "S3_BUCKET": "b"}
    assert c["secrets"] == [{"name": "DATABASE_URL", "valueFrom": f"{APP_SECRET_ARN}:DATABASE_URL::"},
                            {"name": "SECRET_KEY", "valueFrom": f"{APP_SECRET_ARN}:SECRET_KEY::"},
                            {"name": "SUPABASE_ANON_KEY", "valueFrom": SUPABASE_ARN + ":anon_key::"}]
    assert c["stopTimeout"] == 20 and "healthCheck" not in c  # no container health check unless asked for
    assert not any(v in json.dumps(api) for v in VALUES.values())
    beat = a.task_definition(a.p["processes"][1], "arn:exec", "arn:task")
    (c,) = beat["containerDefinitions"]
    assert c["image"] == "registry.example.com/propflow/api:1.0.0" and c["portMappings"] == []
    assert [s["name"] for s in c["secrets"]] == ["DATABASE_URL"]


def test_writable_paths_are_task_volumes_mounted_read_write():
    a, _module = described_app()
    td = a.task_definition(a.p["processes"][0], "arn:exec", "arn:task")
    assert td["volumes"] == [{"name": "tmp"}, {"name": "app-cache"}]
    assert td["containerDefinitions"][0]["mountPoints"] == [
        {"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False},
        {"sourceVolume": "app-cache", "containerPath": "/app/cache", "readOnly": False}]
    assert td["containerDefinitions"][0]["readonlyRootFilesystem"] is True


def test_a_removed_command_or_health_check_is_drift():
    a, _module = described_app()
    proc = dict(a.p["processes"][0], command=[])
    desired = a.task_definition(proc, "arn:exec", "arn:task")
    current = json.loads(json.dumps(desired))
    current["containerDefinitions"][0]["command"] = ["old", "command"]
    assert not a.td_matches(current, desired)
    current["containerDefinitions"][0].pop("command")
    assert a.td_matches(current, desired)
    current["containerDefinitions"][0]["healthCheck"] = {"command": ["CMD", "true"], "interval": 30}
    assert not a.td_matches(current, desired)


def test_opt_in_container_health_check():
    a, _module = described_app()
    proc = dict(a.p["processes"][0], health_check={"command": ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8000/health"],
                                                   "start_period": 30})
    (c,) = a.task_definition(proc, "arn:exec", "arn:task")["containerDefinitions"]
    assert c["healthCheck"] == {"command": ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8000/health"],
                                "interval": 30, "timeout": 5, "retries": 3, "startPeriod": 30}


# --- services -------------------------------------------------------------------------------------------
def test_singleton_never_runs_two_tasks_and_others_keep_the_rolling_settings():
    a, _module = described_app()
    api, beat = a.p["processes"]
    assert a.service_spec(api, "arn:td:1")["deploymentConfiguration"]["maximumPercent"] == 200
    dep = a.service_spec(beat, "arn:td:1")["deploymentConfiguration"]
    assert (dep["maximumPercent"], dep["minimumHealthyPercent"]) == (100, 0)
    spec = a.service_spec(beat, "arn:td:1")
    assert spec["loadBalancers"] == [] and "healthCheckGracePeriodSeconds" not in spec  # a worker: no target group


def test_execution_role_reads_the_app_secret_and_the_arn_secrets_only():
    a, _module = described_app()
    a.app_secret_arn = APP_SECRET_ARN
    policy = ecs_app.execution_policy(a.all_secrets(), [])
    assert policy["Statement"] == [{"Sid": "ReadSecrets", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
                                    "Resource": sorted([APP_SECRET_ARN, SUPABASE_ARN])}]


def test_a_partial_secret_arn_gets_the_random_suffix_wildcard():
    partial = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:petforce/supabase"
    assert ecs_app.secret_resource(partial + ":anon_key::") == ("secretsmanager", partial + "-??????")
    assert ecs_app.secret_resource(SUPABASE_ARN + ":anon_key::") == ("secretsmanager", SUPABASE_ARN)


# --- refusals -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("over, words", [
    ({"processes": [dict(BEAT, max_tasks=2)]}, "singleton"),
    ({"processes": [dict(API, app_secret_keys=["NOPE"])]}, "NOPE"),
    ({"processes": [dict(API, stop_timeout=300)]}, "stop_timeout"),
    ({"processes": [dict(API, secrets=[{"name": "X", "value_from": "plain"}])]}, "value_from"),
    ({"writable_paths": ["/tmp", "/tmp/"]}, "same volume"),
    ({"writable_paths": ["tmp"]}, "absolute"),
])
def test_module_refuses_what_ecs_cannot_run(over, words):
    _a, module = described_app(**over)
    with pytest.raises(_Failed, match=words):
        ecs_app.validate(module)


def test_secret_values_never_reach_the_module_output(aws_stub, run_module):
    """The whole module, check mode on nothing: every value is an argument (no_log) and none is printed."""
    ecs, logs, iam, sm, aas = (aws_stub(s) for s in ("ecs", "logs", "iam", "secretsmanager", "application-autoscaling"))
    ecs.add_response("describe_clusters", {"clusters": []}, {"clusters": ["webstack-t"], "include": ["SETTINGS"]})
    logs.add_response("describe_log_groups", {"logGroups": []}, {"logGroupNamePrefix": "/ecs/webstack-t/"})
    sm.add_client_error("describe_secret", "ResourceNotFoundException", "not found", 400)
    for role in ("webstack-t-ecs-execution", "webstack-t-ecs-task"):
        iam.add_client_error("get_role", "NoSuchEntity", "no role", 404, expected_params={"RoleName": role})
    for _proc in (API, BEAT):
        ecs.add_client_error("describe_task_definition", "ClientException", "Unable to describe task definition.", 400)
    args = {k: v for k, v in described_app()[1].params.items()}
    result = run_module(ecs_app, args, check_mode=True)
    assert not result.failed, result.result
    assert result.result["changed"] is True
    printed = json.dumps(result.result)
    assert not any(v in printed for v in VALUES.values()), printed
    assert any("create Secrets Manager secret webstack-t/app" in line for line in result.result["changes"])
    del logs, aas
