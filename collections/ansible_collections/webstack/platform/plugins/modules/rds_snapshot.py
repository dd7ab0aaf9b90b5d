#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rds_snapshot
short_description: Take a manual RDS DB snapshot, wait for it, and keep a number of them
version_added: 0.2.0
description:
  - Creates a manual DB snapshot of an RDS instance (C(CreateDBSnapshot)), waits until its status
    is V(available), and optionally deletes older manual snapshots of the same instance beyond a
    count (retention by count).
  - Idempotent on the snapshot id. An existing snapshot with O(snapshot_identifier) is not
    created again; it is waited for and reported with RV(ignore:changed=false). A snapshot with
    that id belonging to another instance makes the module fail.
  - Pruning considers only manual snapshots of O(db_instance_identifier) whose id starts with
    O(prefix). Snapshots listed in O(protected) are never deleted and do not count towards
    O(keep). The snapshot of this run is never deleted and counts as the newest. Snapshots that
    are not V(available) (still being created, or failed) are never deleted and do not count, so
    a snapshot that may still fail never causes an available one to be deleted.
  - Whether the instance's tags are copied to the snapshot is the instance's
    C(CopyTagsToSnapshot) setting; O(tags) are added on creation (AWS then uses these instead of
    the instance's). Tags of an existing snapshot are not changed.
  - Differs from M(amazon.aws.rds_instance_snapshot) by the timeout message (status and percent
    progress of the stuck snapshot), by retention by count with protected ids, and by failing
    when the id belongs to another instance.
author:
  - webstack maintainers
options:
  db_instance_identifier:
    description:
      - The DB instance.
    type: str
    required: true
  snapshot_identifier:
    description:
      - Id of the manual snapshot to create. Empty means create nothing, only prune (O(keep)).
    type: str
    default: ""
  wait:
    description:
      - Wait until the snapshot is V(available).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the snapshot. When exceeded the module fails with the snapshot's
        status and percent progress ("snapshot stuck"); the snapshot is left as it is.
    type: int
    default: 1800
  poll_interval:
    description:
      - Seconds between two status reads while waiting.
    type: int
    default: 10
  tags:
    description:
      - Tags of a snapshot created by this run.
    type: dict
    default: {}
  keep:
    description:
      - Keep the newest O(keep) manual snapshots of the instance whose id starts with O(prefix)
        (protected ones not counted) and delete the older ones. V(0) disables pruning.
    type: int
    default: 0
  prefix:
    description:
      - Only snapshots whose id starts with this are pruned. Defaults to
        C(<db_instance_identifier>-). An empty string is refused when O(keep) is set, so that
        snapshots made by other tools are not pruned by accident; pass a real prefix.
    type: str
  protected:
    description:
      - Snapshot ids that are never deleted (for example those a release ledger may restore).
    type: list
    elements: str
    default: []
notes:
  - Supports check mode. In check mode only read calls are made; RV(deleted) lists what would be
    deleted and a missing snapshot is reported as to be created.
  - "IAM permissions: C(rds:CreateDBSnapshot), C(rds:DescribeDBSnapshots), C(rds:DeleteDBSnapshot),
    C(rds:AddTagsToResource) (tags on creation)."
  - Against the moto 5.2.5 emulator a snapshot is V(available) at once and C(PercentProgress) is not
    returned; the waiting and the timeout are covered by unit tests with stubbed AWS responses.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Snapshot before the migrations of release 1.4.0, keep the newest 10 pre-migration snapshots
  webstack.platform.rds_snapshot:
    db_instance_identifier: webstack-prod
    snapshot_identifier: webstack-prod-premigrate-20261122t0930
    prefix: webstack-prod-premigrate-
    keep: 10
    protected:
      - webstack-prod-premigrate-20261101t1012
    tags:
      webstack:release: 1.4.0

- name: Only prune
  webstack.platform.rds_snapshot:
    db_instance_identifier: webstack-prod
    prefix: webstack-prod-backup-
    keep: 7
"""

RETURN = r"""
snapshot:
  description: The snapshot of O(snapshot_identifier); empty when none was asked for.
  returned: always
  type: dict
  contains:
    id:
      description: Snapshot id.
      type: str
      sample: webstack-prod-premigrate-20261122t0930
    arn:
      description: Snapshot ARN (empty in check mode when it would be created).
      type: str
    status:
      description: Status, V(available) after a successful wait; empty in check mode when it
        would be created.
      type: str
      sample: available
    created:
      description: C(SnapshotCreateTime) in ISO 8601, empty while AWS has not set it.
      type: str
      sample: "2026-11-22T09:30:12.345000+00:00"
    percent_progress:
      description: C(PercentProgress) when AWS returns it.
      type: int
    db_instance_identifier:
      description: The instance.
      type: str
deleted:
  description: Ids of the snapshots deleted by pruning (or that would be, in check mode).
  returned: always
  type: list
  elements: str
kept:
  description: Ids of the prefix-matching manual snapshots kept, newest first (protected ones included).
  returned: always
  type: list
  elements: str
"""

import time

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list

NOT_FOUND = ("DBSnapshotNotFound", "DBSnapshotNotFoundFault")
ALREADY_EXISTS = ("DBSnapshotAlreadyExists", "DBSnapshotAlreadyExistsFault")
FAILED_STATES = ("failed", "incompatible-restore", "incompatible-parameters")

# Clock and sleep are module-level so unit tests can run the wait loop on a fake clock.
now = time.monotonic
sleep = time.sleep


def describe_snapshot(client, snapshot_id):
    try:
        found = client.describe_db_snapshots(DBSnapshotIdentifier=snapshot_id, aws_retry=True)["DBSnapshots"]
    except is_boto3_error_code(NOT_FOUND):
        return None
    return found[0] if found else None


def manual_snapshots(client, instance):
    paginator = client.get_paginator("describe_db_snapshots")
    result = AWSRetry.jittered_backoff()(paginator.paginate(
        DBInstanceIdentifier=instance, SnapshotType="manual").build_full_result)()
    return [s for s in result.get("DBSnapshots", []) if s.get("DBInstanceIdentifier") == instance]


def summary(snapshot):
    created = snapshot.get("SnapshotCreateTime")
    out = {"id": snapshot["DBSnapshotIdentifier"], "arn": snapshot.get("DBSnapshotArn", ""),
           "status": snapshot.get("Status", ""),
           "created": created.isoformat() if hasattr(created, "isoformat") else (created or ""),
           "db_instance_identifier": snapshot.get("DBInstanceIdentifier", "")}
    if snapshot.get("PercentProgress") is not None:
        out["percent_progress"] = snapshot["PercentProgress"]
    return out


def wait_available(module, client, snapshot):
    p = module.params
    snapshot_id = snapshot["DBSnapshotIdentifier"]
    deadline = now() + p["wait_timeout"]
    while True:
        status = snapshot.get("Status")
        if status == "available":
            return snapshot
        if status in FAILED_STATES:
            module.fail_json(msg=f"snapshot {snapshot_id} of {p['db_instance_identifier']} is {status}",
                             snapshot=summary(snapshot))
        if now() >= deadline:
            progress = snapshot.get("PercentProgress")
            module.fail_json(
                msg=f"snapshot {snapshot_id} of {p['db_instance_identifier']} stuck: status {status}, "
                    f"{'unknown' if progress is None else progress}% progress after {p['wait_timeout']} s "
                    f"(wait_timeout); it was left as it is",
                snapshot=summary(snapshot))
        sleep(max(0, min(p["poll_interval"], deadline - now())))
        current = describe_snapshot(client, snapshot_id)
        if current is None:
            module.fail_json(msg=f"snapshot {snapshot_id} disappeared while waiting for it to become available")
        snapshot = current


def sort_key(snapshot):
    # Newest first; a snapshot AWS has not stamped yet (still creating) counts as the newest.
    created = snapshot.get("SnapshotCreateTime")
    stamp = created.timestamp() if hasattr(created, "timestamp") else float("inf")
    return (stamp, snapshot["DBSnapshotIdentifier"])


def prune(module, client, current_id):
    """Return (deleted ids, kept ids)."""
    p = module.params
    prefix = p["prefix"]
    snapshots = [s for s in manual_snapshots(client, p["db_instance_identifier"])
                 if s["DBSnapshotIdentifier"].startswith(prefix)]
    if current_id and current_id.startswith(prefix) and not any(
            s["DBSnapshotIdentifier"] == current_id for s in snapshots):
        snapshots.append({"DBSnapshotIdentifier": current_id})  # check mode: the one that would be created
    snapshots.sort(key=sort_key, reverse=True)
    protected = set(p["protected"]) | ({current_id} if current_id else set())
    counted = 0
    deleted, kept = [], []
    for snap in snapshots:
        snap_id = snap["DBSnapshotIdentifier"]
        if snap_id in protected and snap_id != current_id:
            kept.append(snap_id)
            continue
        available = snap.get("Status", "available") == "available"  # "would be created" counts as available
        if not available or snap_id == current_id or counted < p["keep"]:
            counted += 1 if available else 0
            kept.append(snap_id)
            continue
        deleted.append(snap_id)
    if not module.check_mode:
        for snap_id in deleted:
            try:
                client.delete_db_snapshot(DBSnapshotIdentifier=snap_id, aws_retry=True)
            except is_boto3_error_code(NOT_FOUND):
                pass  # deleted meanwhile
    return deleted, kept


def run(module, client):
    p = module.params
    instance = p["db_instance_identifier"]
    snapshot_id = p["snapshot_identifier"] or ""
    changed = False
    result_snapshot = {}
    if snapshot_id:
        snapshot = describe_snapshot(client, snapshot_id)
        if snapshot is not None and snapshot.get("DBInstanceIdentifier") != instance:
            module.fail_json(msg=f"snapshot_identifier {snapshot_id} already exists and is a snapshot of "
                                 f"{snapshot.get('DBInstanceIdentifier')}, not of {instance}")
        if snapshot is None:
            changed = True
            if module.check_mode:
                result_snapshot = {"id": snapshot_id, "arn": "", "status": "", "created": "",
                                   "db_instance_identifier": instance}
            else:
                request = {"DBInstanceIdentifier": instance, "DBSnapshotIdentifier": snapshot_id}
                if p["tags"]:
                    request["Tags"] = ansible_dict_to_boto3_tag_list(p["tags"])
                try:
                    snapshot = client.create_db_snapshot(aws_retry=True, **request)["DBSnapshot"]
                except is_boto3_error_code(ALREADY_EXISTS):
                    # Created meanwhile by a concurrent run: wait for it like an existing one.
                    changed = False
                    snapshot = describe_snapshot(client, snapshot_id)
                    if snapshot is None:
                        module.fail_json(msg=f"snapshot {snapshot_id} reported as existing but cannot be read")
        if snapshot is not None:
            if p["wait"] and not module.check_mode:
                snapshot = wait_available(module, client, snapshot)
            result_snapshot = summary(snapshot)

    deleted, kept = [], []
    if p["keep"] > 0:
        deleted, kept = prune(module, client, snapshot_id)
    module.exit_json(changed=changed or bool(deleted), snapshot=result_snapshot, deleted=deleted, kept=kept)


def main():
    argument_spec = dict(
        db_instance_identifier=dict(type="str", required=True),
        snapshot_identifier=dict(type="str", default=""),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=1800),
        poll_interval=dict(type="int", default=10),
        tags=dict(type="dict", default={}),
        keep=dict(type="int", default=0),
        prefix=dict(type="str"),
        protected=dict(type="list", elements="str", default=[]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    if p["keep"] < 0:
        module.fail_json(msg=f"keep must be 0 (no pruning) or more, got {p['keep']}")
    if p["wait_timeout"] < 0 or p["poll_interval"] < 0:
        module.fail_json(msg="wait_timeout and poll_interval must not be negative")
    if p["prefix"] is None:
        p["prefix"] = f"{p['db_instance_identifier']}-"
    if p["keep"] and not p["prefix"]:
        module.fail_json(msg="prefix must not be empty when keep is set (it limits which snapshots are pruned)")
    client = module.client("rds", retry_decorator=AWSRetry.jittered_backoff(
        catch_extra_error_codes=["InvalidDBInstanceState"]))
    try:
        run(module, client)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to snapshot DB instance {p['db_instance_identifier']}")


if __name__ == "__main__":
    main()
