"""The sandbox deploy through the AWX container-group path next to plain ansible-playbook (measure, not a test).

On one moto server: provision (plain), images 1.0.0 and 2.0.0 into ECR, then ROUNDS times each of
  EE deploy 2.0.0, EE rollback, plain deploy 2.0.0, plain rollback
where "EE" is `ansible-runner transmit | docker run -i webstack/ee ansible-runner worker | ansible-runner process` with
a private data dir built as the controller builds it (tests/support/awxjob.py), and "plain" is ansible-playbook on the
host. Also the fixed cost of the path: preflight alone both ways. Prints a table; --json FILE writes it.

    scripts/benchmark-awx [--rounds 2] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

import build_ee  # noqa: E402

from support.aws import MotoServer, ecr_image_manifest, run_playbook  # noqa: E402
from support.awxjob import AwxJob, project_copy  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    image = build_ee.build()["tag"]
    vault = {"vault_rds_master_password": secrets.token_hex(16), "vault_elasticache_auth_token": secrets.token_hex(24)}
    moto = MotoServer(ecs_service_running=1).start()
    work = Path(tempfile.mkdtemp(prefix="webstack-bench-awx-"))
    times: dict[str, list[float]] = {}
    try:
        env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "WEBSTACK_AWS_ENDPOINT_URL": moto.url}
        job = AwxJob(image=image, workdir=work, project=project_copy(work / "project"))

        def ee(op, playbook, **answers):
            r = job.run(f"playbooks/{playbook}.yml", answers=answers, credential_vars=vault, envvars=env)
            if r.status != "successful":
                raise SystemExit(f"EE {op}: {r.summary()}")
            times.setdefault(f"EE {op}", []).append(r.seconds)

        def plain(op, playbook, **extra):
            r = run_playbook(f"playbooks/{playbook}.yml", endpoint_url=moto.url, extra_vars={**vault, **extra})
            if r.rc != 0:
                raise SystemExit(f"plain {op}: {r.summary()}")
            times.setdefault(f"plain {op}", []).append(r.seconds)

        plain("provision", "provision")
        for version in ("1.0.0", "2.0.0"):
            moto.client("ecr").put_image(repositoryName="webstack-sandbox/app", imageManifest=ecr_image_manifest(version),
                                         imageTag=version)
        for _ in range(args.rounds):
            ee("preflight", "preflight")
            plain("preflight", "preflight")
            ee("deploy 2.0.0", "deploy", app_version="2.0.0")
            ee("rollback", "rollback")
            plain("deploy 2.0.0", "deploy", app_version="2.0.0")
            plain("rollback", "rollback")
    finally:
        moto.stop()
    load = os.getloadavg()
    rows = {k: {"runs_s": [round(v, 1) for v in vs], "median_s": round(statistics.median(vs), 1)} for k, vs in times.items()}
    print(f"{'operation':<22} {'median s':>9}  runs (load average {load[0]:.1f}, {os.cpu_count()} CPUs)")
    for k, v in rows.items():
        print(f"{k:<22} {v['median_s']:>9}  {v['runs_s']}")
    if args.json:
        args.json.write_text(json.dumps({"load_average": load, "results": rows, "measured_at": time.strftime("%FT%TZ", time.gmtime())},
                                        indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
