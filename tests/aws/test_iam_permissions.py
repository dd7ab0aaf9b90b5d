"""Every aws role's README lists the IAM permissions its role needs: generated from the API calls the emulator
records while provision, backup, restore, status and teardown run (scripts/iam_permissions.py: each call
attributed to the task that made it, plus what AWS authorizes as the caller without a call of its own), then
checked against each README's "Permissions" section."""
from __future__ import annotations


import iam_permissions as iam
import pytest

from support import ROOT, role_dir

pytestmark = pytest.mark.aws


@pytest.fixture(scope="module")
def recorded():
    return iam.record()


def test_the_lifecycle_exercises_every_aws_layer(recorded):
    for role in ("aws_storage", "vpc", "security_groups", "rds", "elasticache", "alb", "ecs_service", "alarms",
                 "rds_backup", "aws_status"):
        assert recorded.get(role), f"no API call attributed to role {role}: {sorted(recorded)}"
    # the deploy lock (role release, backend s3) around the restore: take, read the ledger beside it, release
    assert {"s3:PutObject", "s3:GetObject", "s3:DeleteObject"} <= recorded.get("release", set()), recorded.get("release")
    assert "cloudwatch:PutMetricAlarm" in recorded["ecs_service"]  # target tracking, implied
    assert "ecs:UpdateService" in recorded["ecs_service"]


@pytest.mark.parametrize("role", ["aws_storage", "vpc", "security_groups", "rds", "elasticache", "alb", "ecs_service",
                                  "alarms", "rds_backup", "aws_status", "release_ledger", "release"])
def test_role_readme_lists_every_permission_its_role_needs(recorded, role):
    patterns = iam.readme_permissions(role_dir(role) / "README.md")
    assert patterns, f"roles/{role}/README.md has no '## Permissions' section with IAM actions"
    missing = iam.missing_from_readme(recorded.get(role, set()), patterns)
    assert missing == [], f"roles/{role}/README.md's permission list lacks: {', '.join(missing)}"


def test_s3_rest_calls_map_to_their_iam_actions():
    assert iam.s3_action("PUT", "/bucket") == "s3:CreateBucket"
    assert iam.s3_action("PUT", "/bucket?versioning") == "s3:PutBucketVersioning"
    assert iam.s3_action("GET", "/bucket?encryption") == "s3:GetEncryptionConfiguration"
    assert iam.s3_action("DELETE", "/bucket?policy") == "s3:DeleteBucketPolicy"
    assert iam.s3_action("PUT", "/bucket/ledger/x.json") == "s3:PutObject"
    assert iam.s3_action("GET", "/bucket?list-type=2&prefix=a") == "s3:ListBucket"
    assert iam.s3_action("POST", "/bucket?delete") == "s3:DeleteObject"


def test_readme_parsing_inherits_the_prefix(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# r\n\n## Permissions (IAM)\n\n`ecs:DescribeServices`, `UpdateService`; `ec2:Describe*`\n"
                      "`kms:CreateGrant`/`kms:DescribeKey`\n\n## Variables\n`ignored:Action`\n")
    patterns = iam.readme_permissions(readme)
    assert patterns == ["ecs:DescribeServices", "ecs:UpdateService", "ec2:Describe*", "kms:CreateGrant", "kms:DescribeKey"]
    assert iam.missing_from_readme({"ec2:DescribeVpcs", "ecs:UpdateService", "ecs:DeleteService"}, patterns) == ["ecs:DeleteService"]
