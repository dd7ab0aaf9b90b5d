"""teardown.yml: refuses without the confirmation and for prod (no API call), removes a provisioned sandbox,
keeps the final snapshots of RDS and ElastiCache."""
from __future__ import annotations

import secrets

from support.aws import mutating

NAME = "webstack-sandbox"


def test_teardown_needs_the_confirmation(moto, ansible):
    moto.recorder_start()
    result = ansible("playbooks/teardown.yml")
    calls = moto.recorder_stop()
    assert result.rc != 0
    assert "confirm_teardown" in " ".join(m for _t, m in result.failed_tasks()), result.summary()
    assert [str(c) for c in mutating(calls)] == []


def test_teardown_refuses_prod(moto, ansible):
    extra = {"webstack_aws_endpoint_url": moto.url, "confirm_teardown": "webstack-prod",
             "vault_rds_master_password": secrets.token_urlsafe(24),
             "vault_elasticache_auth_token": secrets.token_hex(24)}
    moto.recorder_start()
    result = ansible("playbooks/teardown.yml", inventory="prod", extra_vars=extra)
    calls = moto.recorder_stop()
    assert result.rc != 0
    assert [str(c) for c in calls] == []


def test_teardown_removes_the_stack_and_keeps_final_snapshots(provisioned, moto_server, ansible):
    moto_server.recorder_start()
    result = ansible("playbooks/teardown.yml", extra_vars={"confirm_teardown": NAME})
    calls = moto_server.recorder_stop()
    assert result.rc == 0, result.summary()
    ec2, rds, ec, sm, ecr, s3 = (moto_server.client(s) for s in ("ec2", "rds", "elasticache", "secretsmanager", "ecr", "s3"))
    assert ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [NAME]}])["Vpcs"] == []
    assert ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"{NAME}-postgres"]}])["SecurityGroups"] == []
    assert [n for n in ec2.describe_nat_gateways()["NatGateways"] if n["State"] != "deleted"] == []
    assert rds.describe_db_instances()["DBInstances"] == []
    snapshots = [s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots(DBInstanceIdentifier=f"{NAME}-postgres")["DBSnapshots"]]
    assert [s for s in snapshots if s.startswith(f"{NAME}-postgres-final-")], snapshots  # <id>-final-<UTC stamp>
    groups = ec.describe_replication_groups()["ReplicationGroups"]
    # the emulator never finishes a deletion: the group stays `deleting`
    assert all(g["Status"] == "deleting" for g in groups)
    # ... and ignores FinalSnapshotIdentifier: check what was asked of it
    deletes = [c for c in calls if str(c) == "elasticache:DeleteReplicationGroup"]
    finals = [c.params.get("FinalSnapshotIdentifier") for c in deletes]
    assert len(finals) == 1 and finals[0].startswith(f"{NAME}-redis-final-"), finals  # <id>-final-<UTC stamp>
    assert sm.list_secrets()["SecretList"] == []
    assert ecr.describe_repositories()["repositories"] == []
    assert f"{NAME}-backups-logs" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]  # sandbox: force delete
