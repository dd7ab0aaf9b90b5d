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

from ansible_collections.webstack.platform.plugins.module_utils import snapshots


class ElastiCacheSnapshots(snapshots.SnapshotService):
    service = "elasticache"
    label = "replication group"
    owner_option, id_option = "replication_group_id", "snapshot_name"
    owner_key, id_key, arn_key, status_key = "ReplicationGroupId", "SnapshotName", "ARN", "SnapshotStatus"
    list_key, item_key = "Snapshots", "Snapshot"
    describe_op, create_op, delete_op = "describe_snapshots", "create_snapshot", "delete_snapshot"
    manual_filter = {"SnapshotSource": "user"}
    not_found = ("SnapshotNotFoundFault", "SnapshotNotFound")
    already_exists = ("SnapshotAlreadyExistsFault", "SnapshotAlreadyExists")
    # A group that is modifying / snapshotting already answers InvalidReplicationGroupState: retried.
    retry_codes = ("InvalidReplicationGroupState", "InvalidReplicationGroupStateFault")

    def belongs_to(self, snapshot, owner):
        # Snapshots of a cluster-mode-disabled group may name only the member cache cluster (<group>-00N).
        if snapshot.get("ReplicationGroupId"):
            return snapshot["ReplicationGroupId"] == owner
        return (snapshot.get("CacheClusterId") or "").startswith(f"{owner}-")

    def owner_of(self, snapshot):
        return snapshot.get("ReplicationGroupId") or snapshot.get("CacheClusterId")

    def is_manual(self, snapshot):
        return snapshot.get("SnapshotSource", "manual") != "automated"

    def created_at(self, snapshot):
        # The newest node snapshot time; None when AWS (or moto) returns none.
        stamps = [n["SnapshotCreateTime"] for n in snapshot.get("NodeSnapshots", []) if n.get("SnapshotCreateTime")]
        return max(stamps) if stamps else None


def main():
    snapshots.main(ElastiCacheSnapshots())


if __name__ == "__main__":
    main()
