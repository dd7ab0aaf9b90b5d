"""Benchmark of the aws release lifecycle on the API emulator, side by side with the peer CLI ecs-deploy.

Not a test: it measures and prints. On ONE moto server (services report running tasks) it provisions the sandbox,
puts image manifests 1.0.0 and 2.0.0 into the sandbox's ECR repository (PutImage), then times and counts the API
calls of:
  webstack    deploy.yml -e app_version=2.0.0   (ledger, pre-migration RDS snapshot, migration task, rollout wait)
  webstack    rollback.yml                      (back to the recorded revisions of 1.0.0, waited for)
  ecs-deploy  ecs deploy <cluster> <svc> --tag 2.0.0 --timeout -1   for each service (web, api, worker)
  ecs-deploy  ecs deploy <cluster> <svc> --tag 1.0.0 --timeout -1   its rollback equivalent
Each result is read back with boto3 (every service's image tag). ecs-deploy runs from its own virtualenv
`.venv-bench` (created here, git-ignored; never the project's pinned .venv), pointed at the emulator with
AWS_ENDPOINT_URL. It needs `--timeout -1` there: it waits for deployments to settle, which moto never does, so its
figures exclude any wait, while webstack's include its rollout wait (on the emulator: PRIMARY deployment on the new
revision with runningCount >= desiredCount, true at the first poll).

CPU time = user + system seconds of the tool's processes (ansible-playbook and its modules; the ecs processes),
not the emulator's. API calls come from the emulator's recorder; "mutating" = anything but Describe/List/Get/Head.

Migrations: by default the deploy applies them from the controller to a real PostgreSQL container
(tests/support/pgcontainer.py via support.aws.sandbox_pg(), `-e webstack_aws_db_address=127.0.0.1:<port>`). `--migrate ecs-task` runs them as the
one-off ECS task instead (on the emulator the task always exits 0: it runs no container); `--migrate off` skips
them (`-e ecs_release_migrate=false`, the closest to what ecs-deploy does).

Usage: scripts/benchmark-aws-lifecycle [--migrate controller|ecs-task|off] [--json FILE] [--calls]
                                       [--ecs-deploy-spec SPEC]
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from support.aws import REGION, MotoServer, ecr_image_manifest, mutating, run_playbook, sandbox_pg  # noqa: E402

BENCH_VENV = ROOT / ".venv-bench"
ECS_DEPLOY_SPEC = "ecs-deploy==1.17.0"
STACK = "webstack-sandbox"  # inventories/sandbox webstack_name = ECS cluster
SERVICES = ("web", "api", "worker")
REPOSITORY = f"{STACK}/app"
OLD, NEW = "1.0.0", "2.0.0"


@dataclass
class Run:
    tool: str
    operation: str
    seconds: float
    cpu_seconds: float
    calls: int
    mutating_calls: int
    waits: str
    verified: str
    per_call: dict = field(default_factory=dict)
    ok: bool = True
    detail: str = ""


def ensure_bench_venv(spec: str = ECS_DEPLOY_SPEC) -> Path:
    """`.venv-bench` with ecs-deploy; created (or updated to `spec`) only when needed. Returns the `ecs` CLI."""
    ecs = BENCH_VENV / "bin" / "ecs"
    stamp = BENCH_VENV / ".spec"
    if ecs.exists() and stamp.exists() and stamp.read_text().strip() == spec:
        return ecs
    if not (BENCH_VENV / "bin" / "python").exists():
        print(f"creating {BENCH_VENV.relative_to(ROOT)} for {spec}", file=sys.stderr)
        subprocess.run(["python3", "-m", "venv", str(BENCH_VENV)], check=True)
    subprocess.run([str(BENCH_VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", spec],
                   check=True)
    stamp.write_text(spec + "\n")
    return ecs


def service_tags(server: MotoServer) -> dict:
    """service -> image tag of the revision it runs (read back from ECS)."""
    ecs = server.client("ecs")
    out = {}
    for svc in ecs.describe_services(cluster=STACK, services=list(SERVICES))["services"]:
        td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
        container = next(c for c in td["containerDefinitions"] if c["name"] == svc["serviceName"])
        out[svc["serviceName"]] = container["image"].rsplit(":", 1)[1]
    return out


def verify(server: MotoServer, version: str) -> str:
    tags = service_tags(server)
    wrong = {name: tag for name, tag in tags.items() if tag != version}
    if wrong or len(tags) != len(SERVICES):
        raise RuntimeError(f"expected every service on {version}, ECS says {tags}")
    return f"all {len(tags)} on {version}"


def measure(server: MotoServer, tool: str, operation: str, waits: str, action, expect_version: str) -> Run:
    """Run `action()` (returns (ok, detail)) with the recorder on; wall time, CPU of child processes, calls."""
    server.recorder_start()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    ok, detail = action()
    seconds = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    calls = server.recorder_stop()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    verified = "-"
    if ok:
        try:
            verified = verify(server, expect_version)
        except RuntimeError as exc:
            ok, detail = False, str(exc)
    return Run(tool=tool, operation=operation, seconds=round(seconds, 1), cpu_seconds=round(cpu, 1),
               calls=len(calls), mutating_calls=len(mutating(calls)), waits=waits, verified=verified,
               per_call=dict(collections.Counter(str(c) for c in calls).most_common()), ok=ok, detail=detail)


def playbook_action(server: MotoServer, playbook: str, extra_vars: dict | None = None):
    def action():
        result = run_playbook(playbook, endpoint_url=server.url, extra_vars=extra_vars)
        return result.rc == 0, "" if result.rc == 0 else result.summary()
    return action


def ecs_deploy_action(server: MotoServer, ecs_cli: Path, tag: str):
    env = dict(os.environ, AWS_ENDPOINT_URL=server.url, AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION)
    env.pop("AWS_PROFILE", None)

    def action():
        outputs = []
        for service in SERVICES:
            res = subprocess.run([str(ecs_cli), "deploy", STACK, service, "--tag", tag, "--timeout", "-1",
                                  "--region", REGION], env=env, capture_output=True, text=True, timeout=300,
                                 check=False)
            outputs.append(f"$ ecs deploy {STACK} {service} --tag {tag} --timeout -1\n{res.stdout}{res.stderr}")
            if res.returncode != 0:
                return False, "\n".join(outputs)[-4000:]
        return True, ""
    return action


def table(runs: list[Run]) -> str:
    head = (f"{'tool':<11} {'operation':<34} {'wall':>7} {'CPU':>7} {'API calls (mut/total)':>22}  "
            f"{'waits included':<40} result")
    lines = [head, "-" * len(head)]
    for r in runs:
        lines.append(f"{r.tool:<11} {r.operation:<34} {r.seconds:>6.1f}s {r.cpu_seconds:>6.1f}s "
                     f"{f'{r.mutating_calls}/{r.calls}':>22}  {r.waits:<40} "
                     f"{r.verified if r.ok else ('SKIPPED' if r.detail.startswith('skipped') else 'FAILED')}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--calls", action="store_true", help="print the API calls of each run, by count")
    parser.add_argument("--ecs-deploy-spec", default=ECS_DEPLOY_SPEC, help=f"pip spec (default {ECS_DEPLOY_SPEC})")
    parser.add_argument("--migrate", choices=("controller", "ecs-task", "off"), default="controller",
                        help="how deploy.yml applies the migrations (default: controller, to a PostgreSQL container)")
    args = parser.parse_args(argv)

    ecs_cli = ensure_bench_venv(args.ecs_deploy_spec)
    version = subprocess.run([str(ecs_cli), "--version"], capture_output=True, text=True, check=False).stdout.strip()
    pg = sandbox_pg().start() if args.migrate == "controller" else None
    deploy_vars = {"app_version": NEW}
    migrations = {"controller": "migrations from the controller",
                  "ecs-task": "migration task", "off": "no migrations"}[args.migrate]
    if pg is not None:
        deploy_vars["webstack_aws_db_address"] = pg.address
    elif args.migrate == "off":
        deploy_vars["ecs_release_migrate"] = False
    runs: list[Run] = []
    try:
        server = MotoServer(ecs_service_running=1).start()  # sandbox services want 1 task each
    except BaseException:
        if pg is not None:
            pg.stop()
        raise
    try:
        t0 = time.monotonic()
        provision = run_playbook("playbooks/provision.yml", endpoint_url=server.url)
        if provision.rc != 0:
            print(provision.summary(), file=sys.stderr)
            raise SystemExit("provision of the sandbox failed")
        print(f"sandbox provisioned in {time.monotonic() - t0:.0f} s", file=sys.stderr)
        ecr = server.client("ecr")
        for tag in (OLD, NEW):
            ecr.put_image(repositoryName=REPOSITORY, imageManifest=ecr_image_manifest(tag), imageTag=tag)
        verify(server, OLD)

        rollout_wait = "yes: rollout"
        never = "no (--timeout -1)"
        # (tool, operation, waits, action, services' version before, after)
        plan = [
            ("webstack", f"deploy.yml app_version={NEW}",
             rollout_wait + (", snapshot" if args.migrate != "off" else ""),
             playbook_action(server, "playbooks/deploy.yml", deploy_vars), OLD, NEW),
            ("webstack", "rollback.yml (previous release)", rollout_wait,
             playbook_action(server, "playbooks/rollback.yml",
                             {"webstack_aws_db_address": pg.address} if pg is not None else None), NEW, OLD),
            ("ecs-deploy", f"deploy --tag {NEW} x{len(SERVICES)} services", never,
             ecs_deploy_action(server, ecs_cli, NEW), OLD, NEW),
            ("ecs-deploy", f"deploy --tag {OLD} x{len(SERVICES)} (rollback)", never,
             ecs_deploy_action(server, ecs_cli, OLD), NEW, OLD),
        ]
        for tool, operation, waits, action, before, expect in plan:
            current = service_tags(server)
            if set(current.values()) != {before}:
                # a failed step left the services elsewhere: report, do not measure from a wrong start
                runs.append(Run(tool=tool, operation=operation, seconds=0.0, cpu_seconds=0.0, calls=0,
                                mutating_calls=0, waits=waits, verified="-", ok=False,
                                detail=f"skipped: services not all on {before} ({current})"))
                continue
            run = measure(server, tool, operation, waits, action, expect)
            if not run.ok and "Traceback" in server.log_path.read_text(errors="replace"):
                log = server.log_path.read_text(errors="replace")
                trace = log[log.rindex("Traceback"):].splitlines()
                run.detail += "\nemulator error (end of its last traceback):\n" + "\n".join(trace[-12:])
            runs.append(run)
            print(f"{tool} {operation}: {run.seconds:.1f} s, {run.calls} calls"
                  + ("" if run.ok else f" FAILED\n{run.detail}"), file=sys.stderr)
    finally:
        server.stop()
        if pg is not None:
            pg.stop()

    load = os.getloadavg()
    print(f"webstack aws lifecycle benchmark: sandbox on one moto server, {os.cpu_count()} CPUs, load average "
          f"{load[0]:.1f}; deploy with {migrations}; peer CLI {version or 'ecs-deploy'} from .venv-bench")
    print(table(runs))
    if args.calls:
        for r in runs:
            print(f"\n{r.tool} {r.operation}: " + ", ".join(f"{name} x{n}" for name, n in r.per_call.items()))
    print("\nwebstack's figures include preflight, the release ledger (S3), the pre-migration RDS snapshot and the "
          "migrations (deploy), and its rollout wait (on the emulator it ends at the first poll: moto's services "
          "report their running tasks at once); ecs-deploy's are one CLI run per service without waiting (it cannot "
          "wait on the emulator) and, by default, deregister the previous revision. Real-world failure timing: "
          "docs/aws-deploy-timing.md.")
    if args.json:
        Path(args.json).write_text(json.dumps({"load_average": load, "ecs_deploy": version, "migrate": args.migrate,
                                               "runs": [asdict(r) for r in runs]}, indent=2))
    for r in runs:
        if not r.ok:
            print(f"\n{r.tool} {r.operation}: {r.detail.splitlines()[0] if r.detail else 'failed'}")
    return 0 if runs and all(r.ok for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
