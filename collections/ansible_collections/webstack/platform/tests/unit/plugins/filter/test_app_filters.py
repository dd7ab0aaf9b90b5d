"""The application-description filters: validation names the variable, plans resolve tokens, no secret leaks."""

from __future__ import annotations

import copy
import json

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.webstack.platform.plugins.filter.app import (
    app_plan, app_problems, app_secret_values, app_smoke_checks, app_tokens)

TOKENS = {
    "database": {"host": "db.internal", "port": 5432, "name": "propflow", "user": "app", "password": "s3cr3t-db",
                 "sslmode": "require"},
    "redis": {"host": "cache.internal", "port": 6379, "tls": True, "scheme": "rediss", "password": "s3cr3t-redis"},
    "bucket": {"name": "propflow-bucket"},
    "stack": {"name": "propflow-qa", "env": "qa"},
}
PROPFLOW = {
    "version": "2.1.0",
    "image": "registry.example.com/propflow/api",
    "image_source": "pull",
    "processes": [
        {"name": "api", "port": 8000, "count": 2, "max_count": 6, "route": {"path": "/api"},
         "health": {"readiness": "/api/health"}},
        {"name": "worker", "command": ["celery", "-A", "app", "worker"], "count": 2},
        {"name": "beat", "command": ["celery", "-A", "app", "beat"], "singleton": True},
        {"name": "dashboard", "image": "registry.example.com/propflow/dashboard", "port": 3000, "route": {"path": "/"},
         "health": {"readiness": "/health"}},
    ],
    "env": {"REDIS_HOST": "${redis.host}", "S3_BUCKET": "${bucket.name}", "DEBUG": False, "LITERAL": "$${HOME}"},
    "secrets": [
        {"name": "DATABASE_URL",
         "template": "postgresql://${database.user}:${database.password}@${database.host}:${database.port}/${database.name}"},
        {"name": "SECRET_KEY", "var": "vault_propflow_secret_key", "processes": ["api", "worker", "beat"]},
    ],
    "migrations": {"command": ["alembic", "upgrade", "head"], "process": "api"},
    "smoke_checks": [{"process": "api", "path": "/api/version", "json_field": "version", "json_equals": "${app.version}"}],
    "writable_paths": ["/tmp"],
}
INPUTS = {"vault_propflow_secret_key": "k3y-value-123"}


def _desc(**changes):
    desc = copy.deepcopy(PROPFLOW)
    desc.update(changes)
    return desc


def test_valid_description_has_no_problem():
    assert app_problems(PROPFLOW, "aws", INPUTS) == []
    assert app_problems(PROPFLOW, "docker", INPUTS) == []


def test_plan_resolves_images_env_and_roles():
    plan = app_plan(PROPFLOW, TOKENS)
    procs = {p["name"]: p for p in plan["processes"]}
    assert procs["api"]["image"] == "registry.example.com/propflow/api:2.1.0"
    assert procs["dashboard"]["image"] == "registry.example.com/propflow/dashboard:2.1.0"
    assert procs["api"]["env"] == {"REDIS_HOST": "cache.internal", "S3_BUCKET": "propflow-bucket", "DEBUG": "false",
                                   "LITERAL": "${HOME}"}
    assert procs["api"]["max_count"] == 6 and procs["worker"]["max_count"] == 2
    assert plan["routed"] == ["api", "dashboard"]
    assert plan["workers"] == ["worker", "beat"]
    assert plan["singletons"] == ["beat"]
    assert [s["name"] for s in procs["dashboard"]["secrets"]] == ["DATABASE_URL"]
    assert [s["name"] for s in procs["beat"]["secrets"]] == ["DATABASE_URL", "SECRET_KEY"]
    assert plan["migrations"]["kind"] == "command"
    assert plan["migrations"]["image"] == "registry.example.com/propflow/api:2.1.0"
    assert plan["smoke_checks"] == [{"process": "api", "path": "/api/version", "host": "", "status": 200,
                                     "body_contains": "", "json_field": "version", "json_equals": "2.1.0"}]
    assert sorted(plan["images"]) == plan["images"] and len(plan["images"]) == 2


def test_plan_carries_no_secret_value():
    text = json.dumps(app_plan(PROPFLOW, TOKENS))
    for secret in ("s3cr3t-db", "s3cr3t-redis", "k3y-value-123"):
        assert secret not in text


def test_secret_values_compose_and_read_vars():
    values = app_secret_values(PROPFLOW, TOKENS, INPUTS)
    assert values == {"DATABASE_URL": "postgresql://app:s3cr3t-db@db.internal:5432/propflow",
                      "SECRET_KEY": "k3y-value-123"}
    with pytest.raises(AnsibleFilterError, match="vault_propflow_secret_key is not defined"):
        app_secret_values(PROPFLOW, TOKENS, {})


def test_default_smoke_checks_use_reachable_readiness_paths():
    desc = _desc(smoke_checks=[])
    desc["processes"][0]["health"] = {"readiness": "/health"}  # /health through the proxy reaches the dashboard
    checks = app_plan(desc, TOKENS)["smoke_checks"]
    assert checks == [{"process": "dashboard", "path": "/health", "host": "", "status": 200, "body_contains": "",
                       "json_field": "", "json_equals": ""}]


def test_smoke_checks_of_a_version_without_the_platforms_tokens():
    """status and the restores probe the live release's checks: the version's own, no database/redis token needed."""
    assert app_smoke_checks(PROPFLOW, "1.4.2") == [{"process": "api", "path": "/api/version", "host": "", "status": 200,
                                                     "body_contains": "", "json_field": "version", "json_equals": "1.4.2"}]
    assert app_smoke_checks(_desc(smoke_checks=[]), "2.0.0") == app_plan(_desc(smoke_checks=[], version="2.0.0"),
                                                                          TOKENS)["smoke_checks"]
    assert not app_smoke_checks({"processes": [{"name": "worker"}]}, "1.0.0")  # nothing routed: nothing to probe


def test_tokens():
    assert app_tokens("redis://${redis.host}:${ redis.port }/0", TOKENS) == "redis://cache.internal:6379/0"
    assert app_tokens("$${literal}", TOKENS) == "${literal}"
    with pytest.raises(AnsibleFilterError, match="unknown token"):
        app_tokens("${database.hots}", TOKENS)
    with pytest.raises(AnsibleFilterError, match="is a secret"):
        app_tokens("${database.password}", TOKENS, allow_secrets=False)


@pytest.mark.parametrize("change, expected", [
    (lambda d: d["processes"][3]["route"].update(path="/api"), "two processes on one route"),
    (lambda d: d["processes"][1].update(route={"path": "/jobs"}), "app_processes[1] (worker).route: a process without a port"),
    (lambda d: d["processes"][2].update(count=2), "app_processes[2] (beat).singleton"),
    (lambda d: d["processes"][0].update(max_count=1), "app_processes[0] (api).max_count"),
    (lambda d: d["processes"][1].update(name="api"), "app_processes[1] (api).name 'api' is used by more than one"),
    (lambda d: d["processes"][1].update(name="Worker_1"), "app_processes[1] (Worker_1).name"),
    (lambda d: d.update(image="", image_source="present"), "app_processes[0] (api).image: no image repository"),
    (lambda d: d.update(image="reg/app:1.0"), "must be a repository without a tag"),
    (lambda d: d["secrets"].append({"name": "JWT_SECRET", "var": "vault_jwt"}), "vault_jwt, which is not defined"),
    (lambda d: d["secrets"].append({"name": "JWT_SECRET", "var": "jwt_secret"}), "must name a vault_* variable"),
    (lambda d: d["secrets"].append({"name": "X", "template": "a", "var": "vault_propflow_secret_key"}),
     "exactly one of template, var, arn"),
    (lambda d: d["env"].update(LEAK="k3y-value-123"), "app_env.LEAK holds the value of secret SECRET_KEY"),
    (lambda d: d["env"].update(DB="${database.password}"), "app_env.DB: ${database.password} is a secret"),
    (lambda d: d["env"].update(X="${databse.host}"), "app_env.X: unknown token ${databse.host}"),
    (lambda d: d["env"].update(DATABASE_URL="x"), "DATABASE_URL is also a plain environment variable"),
    (lambda d: d["smoke_checks"].append({"process": "web"}), "app_smoke_checks[1].process: unknown process 'web'"),
    (lambda d: d["smoke_checks"].append({"process": "worker"}), "process 'worker' has no route"),
    (lambda d: d["smoke_checks"].append({"process": "api", "path": "/health"}), "reaches another process"),
    (lambda d: d["migrations"].update(sql_dir="/x"), "command and sql_dir exclude each other"),
    (lambda d: d["migrations"].update(process="web"), "app_migrations.process: unknown process 'web'"),
    (lambda d: d["secrets"][1].update(processes=["web"]), "app_secrets[1] (SECRET_KEY).processes: unknown process"),
    (lambda d: d.update(version="1.0 beta"), "app_version '1.0 beta' is not a valid image tag"),
    (lambda d: d["processes"][0]["health"].update(readiness="health"), "health.readiness 'health' must be a path"),
    (lambda d: d["processes"][1].update(health={"readiness": "/health"}), "a process without a port has no HTTP health"),
])
def test_bad_input_is_refused_naming_the_variable(change, expected):
    desc = _desc()
    change(desc)
    problems = app_problems(desc, "docker", INPUTS)
    assert any(expected in p for p in problems), problems
    assert not any("k3y-value-123" in p for p in problems)


def test_aws_fills_an_empty_image_with_its_registry():
    assert app_problems(_desc(image=""), "aws", INPUTS) == []
    assert app_plan(_desc(image=""), TOKENS, "aws")["processes"][0]["image"] == ""


def test_arn_secrets():
    desc = _desc(secrets=[{"name": "SUPABASE_KEY", "arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:pf-AbC",
                           "key": "anon_key"}])
    assert app_problems(desc, "aws", {}) == []
    assert any("docker platform cannot read Secrets Manager" in p for p in app_problems(desc, "docker", {}))
    proc = app_plan(desc, TOKENS, "aws")["processes"][0]
    assert proc["secrets"] == [{"name": "SUPABASE_KEY", "file": False, "kind": "arn",
                                "arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:pf-AbC", "key": "anon_key"}]
    desc["secrets"][0]["var"] = "vault_supabase_key"
    assert app_problems(desc, "docker", {"vault_supabase_key": "x" * 20}) == []
    assert app_secret_values(desc, TOKENS, {"vault_supabase_key": "v" * 20}) == {"SUPABASE_KEY": "v" * 20}
    assert app_secret_values(desc, TOKENS, {}, "aws") == {}
    assert app_problems(desc, "aws", {}) == []
    assert app_plan(desc, TOKENS)["processes"][0]["secrets"][0]["kind"] == "value"


def test_images_of_the_version_without_tokens():
    from ansible_collections.webstack.platform.plugins.filter.app import app_images
    assert app_images(PROPFLOW) == ["registry.example.com/propflow/api:2.1.0",
                                    "registry.example.com/propflow/dashboard:2.1.0"]
    assert app_images(_desc(version="")) == []
