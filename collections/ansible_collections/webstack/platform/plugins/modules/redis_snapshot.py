#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: redis_snapshot
short_description: Take a manual ElastiCache (Redis/Valkey) snapshot of a replication group, wait, keep a number
version_added: 0.2.0
description:
  - Creates a manual snapshot of an ElastiCache replication group (C(CreateSnapshot) with
    C(ReplicationGroupId) and C(SnapshotName)), waits until its status is V(available), and
    optionally deletes older manual snapshots of the same group beyond a count.
  - Idempotent on the snapshot name. An existing snapshot with O(snapshot_name) is not created
    again; it is waited for and reported with RV(ignore:changed=false). A snapshot with that name
    of another replication group makes the module fail.
  - Pruning considers only manual snapshots of O(replication_group_id) whose name starts with
    O(prefix). Snapshots listed in O(protected) are never deleted and do not count towards
    O(keep). The snapshot of this run is never deleted and counts as the newest. Snapshots that
    are not V(available) are never deleted and do not count.
  - Age is the newest C(NodeSnapshots[].SnapshotCreateTime). When AWS (or an emulator) returns no
    time, the name decides (names ending in a sortable timestamp, as webstack makes them, order
    correctly); a snapshot without a time counts as newer than one with a time.
  - M(community.aws.elasticache_snapshot) cannot be used for replication groups; it sends both a
    cache cluster id and a replication group id, which the API refuses.
author:
  - webstack maintainers
options:
  replication_group_id:
    description:
      - The replication group.
    type: str
    required: true
  snapshot_name:
    description:
      - Name of the manual snapshot to create. Empty means create nothing, only prune (O(keep)).
    type: str
    default: ""
  wait:
    description:
      - Wait until the snapshot is V(available).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the snapshot. When exceeded the module fails with the snapshot's status
        ("snapshot stuck"); the snapshot is left as it is.
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
      - Keep the newest O(keep) manual snapshots of the group whose name starts with O(prefix)
        (protected ones not counted) and delete the older ones. V(0) disables pruning.
    type: int
    default: 0
  prefix:
    description:
      - Only snapshots whose name starts with this are pruned. Defaults to
        C(<replication_group_id>-). An empty string is refused when O(keep) is set.
    type: str
  protected:
    description:
      - Snapshot names that are never deleted.
    type: list
    elements: str
    default: []
notes:
  - Supports check mode. In check mode only read calls are made; RV(deleted) lists what would be
    deleted and a missing snapshot is reported as to be created.
  - "IAM permissions: C(elasticache:CreateSnapshot), C(elasticache:DescribeSnapshots),
    C(elasticache:DeleteSnapshot), C(elasticache:AddTagsToResource) (tags on creation)."
  - The moto 5.2.5 emulator implements C(CreateSnapshot), C(DescribeSnapshots) and
    C(DeleteSnapshot) for replication groups; snapshots are V(available) at once and have no
    C(NodeSnapshots) (so no creation time). Waiting and the timeout are covered by unit tests.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: On-demand Redis snapshot, keep the newest 7 backup snapshots
  webstack.platform.redis_snapshot:
    replication_group_id: webstack-prod
    snapshot_name: webstack-prod-backup-20261122t0930
    prefix: webstack-prod-backup-
    keep: 7
    tags:
      webstack:backup: on-demand
"""

RETURN = r"""
snapshot:
  description: The snapshot of O(snapshot_name); empty when none was asked for.
  returned: always
  type: dict
  contains:
    id:
      description: Snapshot name.
      type: str
      sample: webstack-prod-backup-20261122t0930
    arn:
      description: Snapshot ARN (empty in check mode when it would be created).
      type: str
    status:
      description: C(SnapshotStatus), V(available) after a successful wait; empty in check mode when
        it would be created.
      type: str
      sample: available
    created:
      description: Newest C(NodeSnapshots[].SnapshotCreateTime) in ISO 8601; empty when AWS has not
        set it.
      type: str
    replication_group_id:
      description: The replication group.
      type: str
deleted:
  description: Names of the snapshots deleted by pruning (or that would be, in check mode).
  returned: always
  type: list
  elements: str
kept:
  description: Names of the prefix-matching manual snapshots kept, newest first (protected ones included).
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

NOT_FOUND = ("SnapshotNotFoundFault", "SnapshotNotFound")
ALREADY_EXISTS = ("SnapshotAlreadyExistsFault", "SnapshotAlreadyExists")
FAILED_STATES = ("failed",)

# Clock and sleep are module-level so unit tests can run the wait loop on a fake clock.
now = time.monotonic
sleep = time.sleep


def describe_snapshot(client, name):
    try:
        found = client.describe_snapshots(SnapshotName=name, aws_retry=True)["Snapshots"]
    except is_boto3_error_code(NOT_FOUND):
        return None
    return found[0] if found else None


def belongs_to(snapshot, group):
    # Snapshots of a cluster-mode-disabled group may name only the member cache cluster (<group>-00N).
    if snapshot.get("ReplicationGroupId"):
        return snapshot["ReplicationGroupId"] == group
    return (snapshot.get("CacheClusterId") or "").startswith(f"{group}-")


def manual_snapshots(client, group):
    paginator = client.get_paginator("describe_snapshots")
    result = AWSRetry.jittered_backoff()(paginator.paginate(
        ReplicationGroupId=group, SnapshotSource="user").build_full_result)()
    return [s for s in result.get("Snapshots", [])
            if belongs_to(s, group) and s.get("SnapshotSource", "manual") != "automated"]


def created_at(snapshot):
    stamps = [n["SnapshotCreateTime"] for n in snapshot.get("NodeSnapshots", []) if n.get("SnapshotCreateTime")]
    return max(stamps) if stamps else None


def summary(snapshot):
    created = created_at(snapshot)
    return {"id": snapshot["SnapshotName"], "arn": snapshot.get("ARN", ""), "status": snapshot.get("SnapshotStatus", ""),
            "created": created.isoformat() if hasattr(created, "isoformat") else "",
            "replication_group_id": snapshot.get("ReplicationGroupId", "")}


def wait_available(module, client, snapshot):
    p = module.params
    name = snapshot["SnapshotName"]
    deadline = now() + p["wait_timeout"]
    while True:
        status = snapshot.get("SnapshotStatus")
        if status == "available":
            return snapshot
        if status in FAILED_STATES:
            module.fail_json(msg=f"snapshot {name} of {p['replication_group_id']} is {status}", snapshot=summary(snapshot))
        if now() >= deadline:
            module.fail_json(msg=f"snapshot {name} of {p['replication_group_id']} stuck: status {status} after "
                                 f"{p['wait_timeout']} s (wait_timeout); it was left as it is",
                             snapshot=summary(snapshot))
        sleep(max(0, min(p["poll_interval"], deadline - now())))
        current = describe_snapshot(client, name)
        if current is None:
            module.fail_json(msg=f"snapshot {name} disappeared while waiting for it to become available")
        snapshot = current


def sort_key(snapshot):
    created = created_at(snapshot)
    stamp = created.timestamp() if hasattr(created, "timestamp") else float("inf")
    return (stamp, snapshot["SnapshotName"])


def prune(module, client, current):
    """Return (deleted names, kept names)."""
    p = module.params
    prefix = p["prefix"]
    snapshots = [s for s in manual_snapshots(client, p["replication_group_id"]) if s["SnapshotName"].startswith(prefix)]
    if current and current.startswith(prefix) and not any(s["SnapshotName"] == current for s in snapshots):
        snapshots.append({"SnapshotName": current})  # check mode: the one that would be created
    snapshots.sort(key=sort_key, reverse=True)
    protected = set(p["protected"])
    counted = 0
    deleted, kept = [], []
    for snap in snapshots:
        name = snap["SnapshotName"]
        if name in protected and name != current:
            kept.append(name)
            continue
        available = snap.get("SnapshotStatus", "available") == "available"
        if not available or name == current or counted < p["keep"]:
            counted += 1 if available else 0
            kept.append(name)
            continue
        deleted.append(name)
    if not module.check_mode:
        for name in deleted:
            try:
                client.delete_snapshot(SnapshotName=name, aws_retry=True)
            except is_boto3_error_code(NOT_FOUND):
                pass  # deleted meanwhile
    return deleted, kept


def run(module, client):
    p = module.params
    group = p["replication_group_id"]
    name = p["snapshot_name"] or ""
    changed = False
    result_snapshot = {}
    if name:
        snapshot = describe_snapshot(client, name)
        if snapshot is not None and not belongs_to(snapshot, group):
            owner = snapshot.get("ReplicationGroupId") or snapshot.get("CacheClusterId")
            module.fail_json(msg=f"snapshot_name {name} already exists and is a snapshot of {owner}, not of {group}")
        if snapshot is None:
            changed = True
            if module.check_mode:
                result_snapshot = {"id": name, "arn": "", "status": "", "created": "", "replication_group_id": group}
            else:
                request = {"ReplicationGroupId": group, "SnapshotName": name}
                if p["tags"]:
                    request["Tags"] = ansible_dict_to_boto3_tag_list(p["tags"])
                try:
                    snapshot = client.create_snapshot(aws_retry=True, **request)["Snapshot"]
                except is_boto3_error_code(ALREADY_EXISTS):
                    changed = False
                    snapshot = describe_snapshot(client, name)
                    if snapshot is None:
                        module.fail_json(msg=f"snapshot {name} reported as existing but cannot be read")
        if snapshot is not None:
            if p["wait"] and not module.check_mode:
                snapshot = wait_available(module, client, snapshot)
            result_snapshot = summary(snapshot)

    deleted, kept = [], []
    if p["keep"] > 0:
        deleted, kept = prune(module, client, name)
    module.exit_json(changed=changed or bool(deleted), snapshot=result_snapshot, deleted=deleted, kept=kept)


def main():
    argument_spec = dict(
        replication_group_id=dict(type="str", required=True),
        snapshot_name=dict(type="str", default=""),
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
        p["prefix"] = f"{p['replication_group_id']}-"
    if p["keep"] and not p["prefix"]:
        module.fail_json(msg="prefix must not be empty when keep is set (it limits which snapshots are pruned)")
    # A group that is modifying / snapshotting already answers InvalidReplicationGroupState: retried.
    client = module.client("elasticache", retry_decorator=AWSRetry.jittered_backoff(
        catch_extra_error_codes=["InvalidReplicationGroupState", "InvalidReplicationGroupStateFault"]))
    try:
        run(module, client)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to snapshot replication group {p['replication_group_id']}")


if __name__ == "__main__":
    main()
