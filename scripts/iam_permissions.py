#!/usr/bin/env python3
"""The IAM permissions each aws role needs, from the API calls the emulator records (not a test: it measures).

Runs provision, backup, restore, status and teardown of the sandbox against a moto server on 127.0.0.1, through
tests/support/awsproxy.py (which timestamps every request), maps every call to the task that made it (the json
callback's task start/end times) and so to its role, turns calls into IAM actions (`ec2:CreateVpc`; S3's REST
calls by method and sub-resource) and adds what AWS checks on the caller's behalf without a call of its own
(IMPLIED, from AWS's documentation: a target-tracking policy makes Application Auto Scaling create CloudWatch
alarms as the caller, registering an ECS scalable target reads and updates the service, a task definition or
service passes its roles, ...).

    scripts/iam_permissions.py [--markdown docs/aws-iam-permissions.md] [--json FILE]

tests/aws/test_iam_permissions.py runs the same recording and checks every role README's "Permissions" section
covers its role's actions.
"""
from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import json
import os
import re
import sys
from collections import defaultdict
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parents[1]
VENV_PY = ROOT / ".venv" / "bin" / "python"
if __name__ == "__main__" and not os.environ.get("WEBSTACK_BENCH_REEXEC"):
    # once: the project's virtualenv (when there is one) and the test support package (tests/support) on PYTHONPATH
    os.environ.update(WEBSTACK_BENCH_REEXEC="1",
                      PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "tests"), os.environ.get("PYTHONPATH")])))
    PYTHON = str(VENV_PY if VENV_PY.exists() else sys.executable)
    os.execv(PYTHON, [PYTHON, __file__, *sys.argv[1:]])

NAME = "webstack-sandbox"
# SigV4 signing names whose IAM prefix differs.
PREFIX = {"monitoring": "cloudwatch", "email": "ses", "states": "states"}
# Calls that need no permission.
FREE = {"sts:GetCallerIdentity"}
# What AWS authorizes as the caller without a call of its own (AWS documentation of each action).
IMPLIED = {
    # Application Auto Scaling: "target tracking ... creates and manages the CloudWatch alarms" with the caller's
    # permissions; registering an ECS service as a scalable target reads and updates the service and creates the
    # service-linked role on first use.
    "application-autoscaling:PutScalingPolicy": ["cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms",
                                                 "cloudwatch:DeleteAlarms"],
    "application-autoscaling:DeleteScalingPolicy": ["cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms"],
    "application-autoscaling:RegisterScalableTarget": ["ecs:DescribeServices", "ecs:UpdateService",
                                                       "iam:CreateServiceLinkedRole"],
    "application-autoscaling:DeregisterScalableTarget": ["ecs:DescribeServices"],
    # A task definition names its roles, a service uses the task definition's: both pass them.
    "ecs:RegisterTaskDefinition": ["iam:PassRole"],
    "ecs:CreateService": ["iam:PassRole"],
    "ecs:UpdateService": ["iam:PassRole"],
    # Encrypted storage with a customer-managed key (the inventories may set one).
    "rds:CreateDBInstance": ["kms:CreateGrant", "kms:DescribeKey"],
    "rds:RestoreDBInstanceFromDBSnapshot": ["kms:CreateGrant", "kms:DescribeKey"],
    "rds:RestoreDBInstanceToPointInTime": ["kms:CreateGrant", "kms:DescribeKey"],
    "elasticache:CreateReplicationGroup": ["kms:CreateGrant", "kms:DescribeKey"],
    # VPC flow logs to S3 set the bucket policy for the log delivery service as the caller.
    "ec2:CreateFlowLogs": ["logs:CreateLogDelivery", "logs:DeleteLogDelivery"],
}
# S3 sub-resources (query keys) -> the IAM action suffix per method.
S3_SUB = {
    "versioning": ("GetBucketVersioning", "PutBucketVersioning", None),
    "encryption": ("GetEncryptionConfiguration", "PutEncryptionConfiguration", "PutEncryptionConfiguration"),
    "publicAccessBlock": ("GetBucketPublicAccessBlock", "PutBucketPublicAccessBlock", "PutBucketPublicAccessBlock"),
    "lifecycle": ("GetLifecycleConfiguration", "PutLifecycleConfiguration", "PutLifecycleConfiguration"),
    "policy": ("GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy"),
    "tagging": ("GetBucketTagging", "PutBucketTagging", "PutBucketTagging"),
    "acl": ("GetBucketAcl", "PutBucketAcl", None),
    "ownershipControls": ("GetBucketOwnershipControls", "PutBucketOwnershipControls", "PutBucketOwnershipControls"),
    "logging": ("GetBucketLogging", "PutBucketLogging", None),
    "location": ("GetBucketLocation", None, None),
    "notification": ("GetBucketNotification", "PutBucketNotification", None),
    "object-lock": ("GetBucketObjectLockConfiguration", "PutBucketObjectLockConfiguration", None),
    "requestPayment": ("GetBucketRequestPayment", "PutBucketRequestPayment", None),
    "website": ("GetBucketWebsite", "PutBucketWebsite", "DeleteBucketWebsite"),
    "cors": ("GetBucketCORS", "PutBucketCORS", "PutBucketCORS"),
    "accelerate": ("GetAccelerateConfiguration", "PutAccelerateConfiguration", None),
    "replication": ("GetReplicationConfiguration", "PutReplicationConfiguration", "PutReplicationConfiguration"),
    "versions": ("ListBucketVersions", None, None),
    "uploads": ("ListBucketMultipartUploads", None, None),
    "delete": (None, "DeleteObject", None),  # POST ?delete (DeleteObjects) needs s3:DeleteObject
}


def s3_action(method: str, path: str) -> str:
    parsed = urlparse(path)
    parts = [p for p in parsed.path.split("/") if p]
    query = parse_qs(parsed.query, keep_blank_values=True)
    sub = next((k for k in S3_SUB if k in query), None)
    if sub:
        get, put, delete = S3_SUB[sub]
        name = {"GET": get, "HEAD": get, "PUT": put, "POST": put, "DELETE": delete}.get(method)
        return f"s3:{name}" if name else f"s3:?{method} {sub}"
    if len(parts) <= 1:  # the bucket
        return "s3:" + {"PUT": "CreateBucket", "DELETE": "DeleteBucket", "HEAD": "ListBucket",
                        "GET": "ListBucket"}.get(method, f"?{method}")
    return "s3:" + {"PUT": "PutObject", "GET": "GetObject", "HEAD": "GetObject", "DELETE": "DeleteObject",
                    "POST": "PutObject"}.get(method, f"?{method}")


def iam_action(call) -> str:
    """A recorded call (the proxy's: .path; moto's recorder: .url, whose path-style S3 URLs parse the same)."""
    if call.service == "s3" or call.action.startswith("REST:"):
        return s3_action(call.method, getattr(call, "path", None) or call.url)
    return f"{PREFIX.get(call.service, call.service)}:{call.action}"


def task_windows(result) -> list[tuple[float, float, str]]:
    """(start, end, role) of every task of a playbook run (json callback)."""
    def ts(value):
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    out = []
    for play in result.data.get("plays", []):
        for task in play.get("tasks", []):
            info = task.get("task", {})
            duration = info.get("duration") or {}
            if not duration.get("start") or not duration.get("end"):
                continue
            name = info.get("name", "")
            role = name.split(" : ", 1)[0] if " : " in name else f"(playbook) {play.get('play', {}).get('name', '')}"
            out.append((ts(duration["start"]), ts(duration["end"]), role))
    return sorted(out)


def attribute(calls, windows) -> dict[str, set[str]]:
    """Role -> IAM actions (recorded + implied) of the calls made during its tasks."""
    per_role: dict[str, set[str]] = defaultdict(set)
    for call in calls:
        owner = None
        for start, end, role in windows:
            if start - 0.05 <= call.at <= end + 0.05:
                owner = role
        if owner is None:
            before = [w for w in windows if w[0] <= call.at]
            owner = before[-1][2] if before else "(unattributed)"
        action = iam_action(call)
        if action in FREE:
            continue
        per_role[owner].add(action)
        per_role[owner].update(IMPLIED.get(action, []))
    return dict(per_role)


def record(operations=None) -> dict[str, set[str]]:
    """Run the lifecycle through a timestamping proxy and return role -> IAM actions."""
    from support.aws import MotoServer, run_playbook
    from support.awsproxy import AwsProxy

    server = MotoServer(ecs_service_running=1).start()
    proxy = AwsProxy(server.url).start()
    per_role: dict[str, set[str]] = defaultdict(set)
    try:
        def run(playbook, **extra):
            first = len(proxy.log)
            result = run_playbook(playbook, endpoint_url=proxy.url, extra_vars=extra or None)
            if result.rc != 0:
                raise SystemExit(f"{playbook} failed:\n{result.summary()}")
            for role, actions in attribute(proxy.log[first:], task_windows(result)).items():
                per_role[role] |= actions
            return result
        run("playbooks/provision.yml")
        run("playbooks/backup.yml")
        rds = server.client("rds")
        snaps = sorted(s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"])
        run("playbooks/restore.yml", confirm_restore=NAME, restore_snapshot=snaps[-1])
        run("playbooks/status.yml")
        run("playbooks/teardown.yml", confirm_teardown=NAME)
    finally:
        proxy.stop()
        server.stop()
    return dict(per_role)


# -- role READMEs -----------------------------------------------------------------------------------------------
def readme_permissions(readme: Path) -> list[str]:
    """The IAM action patterns of a README's "Permissions" section; a bare `Action` takes the last prefix seen."""
    text = readme.read_text()
    match = re.search(r"^## Permissions[^\n]*\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    if not match:
        return []
    patterns, prefix = [], None
    for token in re.findall(r"`([^`]+)`", match.group(1)):
        for item in re.split(r"[/,\s]+", token):
            if re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9*]+", item):
                prefix = item.split(":", 1)[0]
                patterns.append(item)
            elif prefix and re.fullmatch(r"[A-Z][A-Za-z0-9*]+", item):
                patterns.append(f"{prefix}:{item}")
    return patterns


def missing_from_readme(actions, patterns) -> list[str]:
    return sorted(a for a in actions if not any(fnmatch.fnmatchcase(a, p) for p in patterns))


def markdown(per_role: dict[str, set[str]]) -> str:
    lines = ["# IAM permissions per role (generated)", "",
             "Generated by `scripts/iam_permissions.py` from the API calls the emulator recorded while provision, backup,",
             "restore, status and teardown of the sandbox ran (each call attributed to the task, so the role, that made",
             "it), plus what AWS authorizes as the caller without a call of its own (`IMPLIED` in the script: target",
             "tracking creates CloudWatch alarms, an ECS scalable target reads and updates the service, task definitions",
             "pass their roles, KMS grants for customer-managed keys). `tests/aws/test_iam_permissions.py` checks every",
             "role README lists at least these. The roles only deploy and rollback use (ecs_release, migrations) keep",
             "their hand-written lists. The same mapping per playbook, as policy documents to attach to the identity that",
             "runs them: [iam-policies.md](iam-policies.md) (`scripts/iam-policy`).", "",
             "| role | IAM actions |", "|---|---|"]
    for role in sorted(r for r in per_role if not r.startswith("(")):
        lines.append(f"| `{role}` | " + ", ".join(f"`{a}`" for a in sorted(per_role[role])) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", help="write the table to this file")
    parser.add_argument("--json", help="write role -> actions as JSON")
    args = parser.parse_args()
    per_role = record()
    for role in sorted(per_role):
        readme = next(ROOT.glob(f"roles/*/{role}")) / "README.md"
        missing = missing_from_readme(per_role[role], readme_permissions(readme)) if readme.exists() else []
        print(f"{role}: {len(per_role[role])} actions" + (f"; README lacks {', '.join(missing)}" if missing else ""))
    if args.markdown:
        Path(args.markdown).write_text(markdown(per_role))
    if args.json:
        Path(args.json).write_text(json.dumps({k: sorted(v) for k, v in per_role.items()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
