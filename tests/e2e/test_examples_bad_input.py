"""Bad application descriptions, on the examples' docker inventories (issue 8 section 6): each one is refused by
the Preflight play naming the variable at fault, with changed=0 and nothing created on the docker host, and the
-vvv output holds no secret value (not even the one a bad plain value copies).

The runs use a stack name of their own (`wsx-bad-<system>`), so they never touch the end-to-end stacks of
test_examples.py, which may run at the same time on the other worker."""
from __future__ import annotations

import copy
import secrets

import pytest

from support.examples import EXAMPLES, leaked, run, stack_resources

pytestmark = [pytest.mark.docker]

KNOWN_SECRET = "wsx" + secrets.token_hex(20)  # a value we set, so the output can be searched for it


def _desc(key):
    return EXAMPLES[key].description()


def _two_processes_on_one_route():
    procs = copy.deepcopy(_desc("household")["app_processes"])
    next(p for p in procs if p["name"] == "web")["route"] = {"path": "/api"}
    return "household", "deploy", {"app_processes": procs}, ["app_processes", "two processes on one route"]


def _route_without_port():
    procs = copy.deepcopy(_desc("propflow")["app_processes"])
    next(p for p in procs if p["name"] == "worker")["route"] = {"path": "/worker"}
    return "propflow", "deploy", {"app_processes": procs}, ["app_processes[1] (worker).route"]


def _singleton_count_two():
    procs = copy.deepcopy(_desc("propflow")["app_processes"])
    next(p for p in procs if p["name"] == "beat")["count"] = 2
    return "propflow", "provision", {"app_processes": procs}, ["app_processes[2] (beat).singleton"]


def _secret_undefined():
    secrets_ = _desc("sports-nutrition")["app_secrets"] + [{"name": "STRIPE_API_KEY", "var": "vault_sports_stripe_api_key"}]
    return "sports-nutrition", "deploy", {"app_secrets": secrets_}, ["app_secrets[3] (STRIPE_API_KEY).var",
                                                                     "vault_sports_stripe_api_key"]


def _plain_env_holds_a_secret():
    env = dict(_desc("sports-nutrition")["app_env"], JWT_SIGNING_KEY=KNOWN_SECRET)
    return "sports-nutrition", "deploy", {"vault_sports_jwt_secret": KNOWN_SECRET, "app_env": env}, \
        ["app_env.JWT_SIGNING_KEY", "JWT_SECRET"]


def _smoke_check_unknown_process():
    checks = _desc("meal-planner")["app_smoke_checks"] + [{"process": "frontend", "path": "/"}]
    return "meal-planner", "deploy", {"app_smoke_checks": checks}, ["app_smoke_checks[4].process", "frontend"]


def _migration_on_missing_image():
    return "petforce", "deploy", {"app_image_source": "present", "app_version": "0.0.1-never-built"}, \
        ["app_version", "0.0.1-never-built"]


CASES = {
    "two-processes-on-one-route": _two_processes_on_one_route,
    "route-on-a-process-without-port": _route_without_port,
    "singleton-with-count-2": _singleton_count_two,
    "secret-referenced-but-undefined": _secret_undefined,
    "plain-env-equal-to-a-secret": _plain_env_holds_a_secret,
    "smoke-check-on-unknown-process": _smoke_check_unknown_process,
    "migration-command-on-a-missing-image": _migration_on_missing_image,
}


def _failing_play(output):
    fatal = output.find("fatal: [")
    assert fatal >= 0, "no failed task in the output"
    start = output.rfind("PLAY [", 0, fatal)
    return output[start + len("PLAY ["):output.index("]", start)]


_WAITS = {}  # platform gaps still open, as strict xfails (none: preflight checks the images of app_version)


@pytest.mark.parametrize("case", [pytest.param(c, marks=_WAITS.get(c, ())) for c in sorted(CASES)])
def test_refused_in_preflight_naming_the_variable(case):
    key, playbook, extra, words = CASES[case]()
    ex = EXAMPLES[key]
    stack = f"wsx-bad-{key}"
    extra = dict(extra, webstack_name=stack)
    if playbook == "deploy":
        extra.setdefault("app_version", "1.0.0")
    before = stack_resources(stack)
    result = run(ex, playbook, extra_vars=extra)
    assert result.rc != 0, f"{case}: {playbook} must be refused:\n{result.tail()}"
    assert _failing_play(result.output) == "Preflight", f"{case}: refused outside preflight:\n{result.tail()}"
    missing = [w for w in words if w not in result.output]
    assert not missing, f"{case}: the refusal must name {missing}:\n{result.tail()}"
    assert result.changed == 0, f"{case}: changed={result.changed} before the refusal"
    assert stack_resources(stack) == before, f"{case}: something was created or changed on the docker host"
    values = dict(ex.secret_values(), known=KNOWN_SECRET)
    assert not leaked(result.output, values), f"{case}: -vvv printed a secret value ({leaked(result.output, values)})"
