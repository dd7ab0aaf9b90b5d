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

from ansible_collections.webstack.platform.plugins.module_utils import snapshots


class RDSSnapshots(snapshots.SnapshotService):
    service = "rds"
    label = "DB instance"
    owner_option, id_option = "db_instance_identifier", "snapshot_identifier"
    owner_key, id_key, arn_key, status_key = "DBInstanceIdentifier", "DBSnapshotIdentifier", "DBSnapshotArn", "Status"
    list_key, item_key = "DBSnapshots", "DBSnapshot"
    describe_op, create_op, delete_op = "describe_db_snapshots", "create_db_snapshot", "delete_db_snapshot"
    manual_filter = {"SnapshotType": "manual"}
    not_found = ("DBSnapshotNotFound", "DBSnapshotNotFoundFault")
    already_exists = ("DBSnapshotAlreadyExists", "DBSnapshotAlreadyExistsFault")
    failed_states = ("failed", "incompatible-restore", "incompatible-parameters")
    retry_codes = ("InvalidDBInstanceState",)

    def created_at(self, snapshot):
        return snapshot.get("SnapshotCreateTime")

    def progress_text(self, snapshot):
        progress = snapshot.get("PercentProgress")
        return f", {'unknown' if progress is None else progress}% progress"

    def extra_summary(self, snapshot):
        progress = snapshot.get("PercentProgress")
        return {} if progress is None else {"percent_progress": progress}


def main():
    snapshots.main(RDSSnapshots())


if __name__ == "__main__":
    main()
