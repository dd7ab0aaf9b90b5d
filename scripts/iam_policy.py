"""The least-privilege IAM actions of each aws playbook, measured: every playbook runs once against a fresh moto
server (tests/aws/awsharness.py) with its API recorder on, and each recorded call becomes the IAM action it needs.

    scripts/iam-policy [--json docs/iam-policies.json]

Writes docs/iam-policies.json ({playbook: [service:Action, ...]}), docs/iam-policies.md (a policy document per
playbook) and the summary table of the README's "Running from AWX / AAP" section and
tests/awx/test_ee_jobs.py (every call an EE job makes is in its playbook's list) read it. Order: provision twice (first run and no-op run, the union), deploy
2.0.0, migrate, backup, rollback, restore (of the backup's snapshot), status, teardown. Besides the calls, ECS needs
iam:PassRole on the task and execution roles the playbooks create (added to provision/deploy/migrate/rollback/restore).
"""
from __future__ import annotations

import argparse
import json
import re
import secrets
import sys
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "aws"))

from awsharness import MotoServer, ecr_image_manifest, run_playbook  # noqa: E402

OUT = ROOT / "docs" / "iam-policies.json"
# SigV4 signing name -> IAM service prefix, where they differ.
PREFIX = {"monitoring": "cloudwatch", "email": "ses"}
PASS_ROLE = ("provision", "deploy", "migrate", "rollback", "restore")
S3_SUBRESOURCES = {
    "versioning": "BucketVersioning", "encryption": "EncryptionConfiguration", "publicAccessBlock": "BucketPublicAccessBlock",
    "lifecycle": "LifecycleConfiguration", "policy": "BucketPolicy", "tagging": "BucketTagging", "acl": "BucketAcl",
    "ownershipControls": "BucketOwnershipControls", "logging": "BucketLogging", "cors": "BucketCORS",
    "website": "BucketWebsite", "notification": "BucketNotification", "object-lock": "BucketObjectLockConfiguration",
    "requestPayment": "BucketRequestPayment", "accelerate": "AccelerateConfiguration", "replication": "ReplicationConfiguration",
}


def s3_action(method: str, url: str) -> str:
    parsed = urlparse(url)
    parts = [p for p in parsed.path.split("/") if p]
    host_bucket = not parsed.hostname.replace(".", "").isdigit() and parsed.hostname.count(".") >= 1 \
        and not parsed.hostname.startswith("127.")
    has_key = len(parts) >= (1 if host_bucket else 2)
    sub = parsed.query.split("=", 1)[0].split("&", 1)[0]
    if sub == "location":
        return "s3:GetBucketLocation"
    if sub == "versions":
        return "s3:ListBucketVersions"
    if sub == "delete" and method == "POST":
        return "s3:DeleteObject"
    if sub in S3_SUBRESOURCES:
        verb = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}.get(method, "Get")
        name = S3_SUBRESOURCES[sub]
        if sub == "lifecycle" and verb == "Delete":
            return "s3:PutLifecycleConfiguration"
        if sub == "encryption" and verb == "Delete":
            return "s3:PutEncryptionConfiguration"
        return f"s3:{verb}{name}"
    if has_key:
        version = "Version" if "versionId=" in parsed.query else ""
        return {"GET": f"s3:GetObject{version}", "HEAD": f"s3:GetObject{version}", "PUT": "s3:PutObject",
                "DELETE": f"s3:DeleteObject{version}"}.get(method, f"s3:?{method}")
    return {"GET": "s3:ListBucket", "HEAD": "s3:ListBucket", "PUT": "s3:CreateBucket",
            "DELETE": "s3:DeleteBucket"}.get(method, f"s3:?{method}")


def iam_action(call) -> str:
    if call.service == "s3" or call.action.startswith("REST:"):
        return s3_action(call.method, call.url)
    return f"{PREFIX.get(call.service, call.service)}:{call.action}"


def actions(calls) -> list[str]:
    return sorted({iam_action(c) for c in calls})


def measure() -> dict:
    moto = MotoServer(ecs_service_running=1).start()
    vault = {"vault_rds_master_password": secrets.token_hex(16), "vault_elasticache_auth_token": secrets.token_hex(24)}
    out = {}
    try:
        def run(name, playbook=None, **extra):
            moto.recorder_start()
            result = run_playbook(f"playbooks/{playbook or name}.yml", endpoint_url=moto.url, extra_vars={**vault, **extra})
            calls = moto.recorder_stop()
            if result.rc != 0:
                raise SystemExit(f"{name} failed:\n{result.summary()}")
            out[name] = sorted(set(out.get(name, [])) | set(actions(calls)))
            print(f"{name}: {len(calls)} calls, {len(out[name])} actions in {result.seconds:.1f} s", file=sys.stderr)

        run("provision")
        run("provision")  # a converged stack reads before it writes: the no-op run's calls too
        ecr = moto.client("ecr")
        for version in ("1.0.0", "2.0.0"):
            ecr.put_image(repositoryName="webstack-sandbox/app", imageManifest=ecr_image_manifest(version), imageTag=version)
        run("deploy", app_version="2.0.0")
        run("migrate")
        run("backup")
        run("rollback")
        snapshots = moto.client("rds").describe_db_snapshots(DBInstanceIdentifier="webstack-sandbox-postgres")["DBSnapshots"]
        latest = max(snapshots, key=lambda s: s["SnapshotCreateTime"])["DBSnapshotIdentifier"]
        run("restore", confirm_restore="webstack-sandbox", restore_snapshot=latest)
        run("status")
        run("teardown", confirm_teardown="webstack-sandbox")
    finally:
        moto.stop()
    for name in PASS_ROLE:
        out[name] = sorted(set(out[name]) | {"iam:PassRole"})
    unknown = [a for acts in out.values() for a in acts if "?" in a]
    if unknown:
        raise SystemExit(f"unmapped calls: {unknown}")
    return out


ORDER = ("provision", "deploy", "migrate", "rollback", "backup", "restore", "status", "teardown")


def policy(playbook: str, acts: list[str]) -> dict:
    return {"Version": "2012-10-17",
            "Statement": [{"Sid": f"Webstack{playbook.capitalize()}", "Effect": "Allow", "Action": acts, "Resource": "*"}]}


def render_markdown(data: dict) -> str:
    lines = ["# IAM policy per playbook (measured)", "",
             "GENERATED by `scripts/iam-policy`: every aws playbook run once against the emulator with its API recorder on;",
             "each recorded call is the IAM action below (plus `iam:PassRole` for the ECS task and execution roles).",
             "Narrow `Resource` to the stack's name prefix (`webstack-<env>*`) where the service supports it.", ""]
    for name in ORDER:
        lines += [f"## {name}.yml", "", "```json", json.dumps(policy(name, data[name]), indent=2), "```", ""]
    return "\n".join(lines)


def render_summary(data: dict) -> str:
    rows = ["| playbook | actions | services |", "|---|---|---|"]
    for name in ORDER:
        services = sorted({a.split(":", 1)[0] for a in data[name]})
        rows.append(f"| {name} | {len(data[name])} | {', '.join(services)} |")
    return "\n".join(rows)


def write_docs(data: dict) -> None:
    (ROOT / "docs" / "iam-policies.md").write_text(render_markdown(data), encoding="utf-8")
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    begin, end = "<!-- iam-summary:begin (generated by scripts/iam_policy.py) -->", "<!-- iam-summary:end -->"
    head, rest = text.split(begin, 1)
    readme.write_text(head + begin + "\n" + render_summary(data) + "\n" + end + rest.split(end, 1)[1], encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, default=OUT)
    parser.add_argument("--docs-only", action="store_true", help="regenerate the docs from the JSON, measure nothing")
    args = parser.parse_args()
    if args.docs_only:
        data = json.loads(args.json.read_text(encoding="utf-8"))
    else:
        data = measure()
        args.json.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    write_docs(data)
    print(f"wrote {args.json}, docs/iam-policies.md and the README summary", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
