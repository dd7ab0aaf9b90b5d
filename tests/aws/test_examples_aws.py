"""The examples' aws inventories (examples/<system>/aws, issue 8 section 6) against the emulator: each passes
preflight, provisions, provisions again with changed=0, deploys 2.0.0 (its images put into the ECR repositories
first, as CI would push them), and the read-back shows what the description asked for: one ECS service and task
definition per process with its image and port, every secret by reference (`valueFrom`, never a value), a
target group per routed process with its readiness path, listener rules by path/host, a singleton deployed at
most 100 % / at least 0 %. One test per example (each resets the emulator), so a failure names the system."""
from __future__ import annotations

import json

import boto3
import pytest
import yaml

from support.aws import ROOT, MotoServer, ecr_image_manifest, run_playbook

pytestmark = [pytest.mark.aws, pytest.mark.slow]

SYSTEMS = ["petforce", "household", "sports-nutrition", "propflow", "meal-planner"]
REGIONS = {"propflow": "ap-south-1"}
# The aws platform that runs app descriptions (per-process services, app secret, target groups per route) is
# being written (engineer i8-aws) while these tests land; until it is on main they cannot pass, and say so.
_PLATFORM_READY = "app_plan" in "".join(p.read_text() for p in (ROOT / "roles" / "aws" / "ecs_service").rglob("*.yml"))


CASES = SYSTEMS  # every example, single-route ones included (the alb role no longer sends `Rules: []`)


@pytest.fixture(scope="module")
def moto2():
    """An emulator of our own that reports 2 running tasks per service (the examples run 2 tasks per process; the
    suite's shared emulator reports 1, so a rollout of count 2 would never complete there)."""
    server = MotoServer(ecs_service_running=2).start()
    yield server
    server.stop()


def _description(system):
    return yaml.safe_load((ROOT / "examples" / system / "app.yml").read_text())


def _secret_values(system):
    found = {}
    for d in (ROOT / ".secrets" / f"wsx-{system}-aws",):
        if d.is_dir():
            found.update({p.name: p.read_text().strip() for p in d.iterdir() if p.is_file()})
    return found


@pytest.mark.skipif(not _PLATFORM_READY, reason="waits for the aws platform that runs app descriptions "
                    "(ecs_service/alb from the app plan, issue 8 section 5), not on this branch yet")
@pytest.mark.parametrize("system", CASES)
def test_example_provisions_idempotently_and_deploys(system, moto2):
    stack, region = f"wsx-{system}", REGIONS.get(system, "us-east-1")
    inventory = f"examples/{system}/aws"
    desc = _description(system)

    moto2.reset()

    def ansible(playbook, **kwargs):
        return run_playbook(playbook, endpoint_url=moto2.url, **kwargs)

    def client(service):
        return boto3.client(service, endpoint_url=moto2.url, region_name=region,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    if system == "petforce":  # the team's existing Secrets Manager secret the description references by ARN
        client("secretsmanager").create_secret(Name="petforce/production/supabase", SecretString=json.dumps(
            {"url": "https://example.supabase.co", "anon_key": "anon-" + "x" * 40, "service_role_key": "svc-" + "y" * 40}))

    first = ansible("playbooks/provision.yml", inventory=inventory)
    assert first.rc == 0, first.summary()
    again = ansible("playbooks/provision.yml", inventory=inventory)
    assert again.rc == 0 and again.changed == 0, again.summary()

    repos = {p["name"]: (p.get("image") or desc["app_image"]) for p in desc["app_processes"]}
    ecr = client("ecr")
    for repo in set(repos.values()):
        for version in ("1.0.0", "2.0.0"):
            ecr.put_image(repositoryName=repo.split("/", 1)[1], imageManifest=ecr_image_manifest(f"{repo}:{version}"),
                          imageTag=version)
    deploy = ansible("playbooks/deploy.yml", inventory=inventory, extra_vars={"app_version": "2.0.0"})
    assert deploy.rc == 0, deploy.summary()
    for output in (first.stdout, again.stdout, deploy.stdout):
        leaked = [name for name, value in _secret_values(system).items() if len(value) >= 8 and value in output]
        assert not leaked, f"a playbook printed the value of {leaked}"

    # --- read back --------------------------------------------------------------------------------------------
    ecs, elbv2 = client("ecs"), client("elbv2")
    names = [p["name"] for p in desc["app_processes"]]
    services = {s["serviceName"]: s for s in ecs.describe_services(cluster=stack, services=names)["services"]}
    assert sorted(services) == sorted(names)
    groups = {g["TargetGroupName"]: g for g in elbv2.describe_target_groups()["TargetGroups"]}
    lb = elbv2.describe_load_balancers(Names=[stack])["LoadBalancers"][0]
    https = [lsn for lsn in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"] if lsn["Port"] == 443]
    rules = [r for r in elbv2.describe_rules(ListenerArn=https[0]["ListenerArn"])["Rules"]] if https else []
    secret_names = {s["name"] for s in desc["app_secrets"]}
    for proc in desc["app_processes"]:
        name, svc = proc["name"], services[proc["name"]]
        td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
        (container,) = [c for c in td["containerDefinitions"] if c["name"] == name]
        assert container["image"] == f"{repos[name]}:2.0.0", (name, container["image"])
        ports = [m["containerPort"] for m in container.get("portMappings", [])]
        assert ports == ([proc["port"]] if proc.get("port") else []), (name, ports)
        env = {e["name"]: e["value"] for e in container.get("environment", [])}
        assert not set(env) & secret_names, f"{name}: a secret as a plain value: {set(env) & secret_names}"
        wanted = {s["name"] for s in desc["app_secrets"] if not s.get("processes") or name in s["processes"]}
        refs = {s["name"]: s["valueFrom"] for s in container.get("secrets", [])}
        assert set(refs) == wanted, (name, sorted(refs), sorted(wanted))
        assert all(v.startswith("arn:aws:secretsmanager:") for v in refs.values()), refs
        for secret in desc["app_secrets"]:
            if secret["name"] in refs and secret.get("arn"):
                assert refs[secret["name"]].startswith(secret["arn"]), (secret["name"], refs[secret["name"]])
                assert refs[secret["name"]].endswith(f":{secret['key']}::"), refs[secret["name"]]
        dumped = json.dumps(td)
        leaked = [n for n, v in _secret_values(system).items() if len(v) >= 8 and v in dumped]
        assert not leaked, f"{name}: task definition holds the value of {leaked}"
        dep = svc["deploymentConfiguration"]
        if proc.get("singleton"):
            assert (dep["maximumPercent"], dep["minimumHealthyPercent"]) == (100, 0), (name, dep)
            assert svc["desiredCount"] == 1
        if proc.get("route"):
            (lb_ref,) = svc["loadBalancers"]
            assert lb_ref["containerPort"] == proc["port"]
            group = next(g for g in groups.values() if g["TargetGroupArn"] == lb_ref["targetGroupArn"])
            assert group["HealthCheckPath"] == proc["health"]["readiness"], (name, group["HealthCheckPath"])
            mine = [r for r in rules if any(a.get("TargetGroupArn") == group["TargetGroupArn"] for a in r["Actions"])]
            assert mine, f"{name}: no listener rule (or default action) forwards to its target group"
            conditions = json.dumps([r["Conditions"] for r in mine])
            if proc["route"].get("host"):
                assert proc["route"]["host"] in conditions, (name, conditions)
            if proc["route"].get("path", "/") != "/":
                assert proc["route"]["path"] in conditions, (name, conditions)
        else:
            assert svc["loadBalancers"] == [], name
