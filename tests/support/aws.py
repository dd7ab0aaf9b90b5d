"""The aws sandbox on the emulator, for the aws tests and the benchmark scripts.

Nothing here mocks Ansible or boto3: playbooks run as a user runs them (`support.playbook.run_playbook`) against a real
moto server (`support.moto.MotoServer`) on a free port of 127.0.0.1, which the tests start and stop themselves. Both
are re-exported here: `from support.aws import MotoServer, mutating, run_playbook, ...`.

- `sandbox_pg()`: a real PostgreSQL container (support.pgcontainer) standing in for the sandbox's RDS instance
  as the "reachable database address": the sandbox's master user, password and database name.
- `ecr_image_manifest(tag)`: a Docker v2 image manifest to put into the sandbox's ECR repository (PutImage).
- `assert_refused_in_preflight(result, words)`: the run was refused by preflight before any API call.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import string

from support import ROOT, VENV_BIN
from support.moto import MUTATING_PREFIXES, REGION, ApiCall, MotoServer, free_port, is_lock_call, mutating
from support.pgcontainer import PgContainer
from support.playbook import PlaybookResult, run_playbook

__all__ = ["ROOT", "VENV_BIN", "REGION", "MUTATING_PREFIXES", "ApiCall", "MotoServer", "PgContainer", "PlaybookResult",
           "assert_refused_in_preflight", "ecr_image_manifest", "free_port", "is_lock_call", "mutating", "run_playbook",
           "sandbox_master_password", "sandbox_pg"]

SANDBOX_SECRET = ROOT / ".secrets" / "sandbox" / "rds_master_password"
SANDBOX_DB_USER = "webstack_admin"  # inventories/sandbox/group_vars/all/rds.yml rds_master_username
SANDBOX_DB_NAME = "webstack"  # roles/aws/rds/defaults rds_database_name


def sandbox_master_password() -> str:
    """The sandbox's RDS master password, created the way the inventory's password lookup creates it.

    ansible.builtin.password(length=32, chars=ascii_letters+digits) stores the bare password (plus a
    newline) and reads an existing file back as is, so a file written here is what the playbooks use.
    """
    if not SANDBOX_SECRET.exists():
        SANDBOX_SECRET.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        alphabet = string.ascii_letters + string.digits
        value = "".join(secrets.choice(alphabet) for _ in range(32))
        fd = os.open(SANDBOX_SECRET, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(value + "\n")
    return SANDBOX_SECRET.read_text().splitlines()[0].split(" salt=", 1)[0]


def sandbox_pg() -> PgContainer:
    """A PostgreSQL container (not started) as the sandbox's database: `webstack_aws_db_address=pg.address`.

    Same master user, password (`vault_rds_master_password` reads the file above) and database name as the
    sandbox's RDS instance, which lives in the emulator with no engine behind it. Named `awstest-pg-<random>`.
    """
    return PgContainer(prefix="awstest-", label="aws", user=SANDBOX_DB_USER, password=sandbox_master_password(),
                       database=SANDBOX_DB_NAME)


def ecr_image_manifest(tag: str) -> str:
    """A Docker v2 image manifest for `tag`, to put into ECR with PutImage (the emulator never pulls a layer)."""
    config = "sha256:" + hashlib.sha256(f"webstack-app-{tag}".encode()).hexdigest()
    layer = "sha256:" + hashlib.sha256(f"layer-{tag}".encode()).hexdigest()
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1024, "digest": config},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 4096, "digest": layer}],
    })


def assert_refused_in_preflight(result: PlaybookResult, words) -> str:
    """`result` (run with the recorder on: `result.calls`) failed in the play "Preflight", in one task whose
    message holds every one of `words`, before any API call. Returns that message."""
    assert result.rc != 0, result.summary()
    failed = result.failed_tasks()
    assert len(failed) == 1, result.summary()
    task, message = failed[0]
    assert all(word in message for word in words), f"{task}: {message}"
    failing_plays = [play["play"]["name"] for play in result.data["plays"]
                     for t in play["tasks"] for res in t["hosts"].values() if res.get("failed")]
    assert failing_plays == ["Preflight"], failing_plays
    assert [str(c) for c in result.calls] == [], "preflight must refuse before any API call"
    return message
