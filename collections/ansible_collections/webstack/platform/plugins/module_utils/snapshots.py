# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared logic of the manual-snapshot modules (rds_snapshot, redis_snapshot).

One run: create the snapshot of `<id_option>` unless it exists (idempotent on the id, failing when
the id belongs to another owner), wait until it is `available` within a deadline (failing with a
"stuck" message that names status and, where the service has one, progress), then prune the
owner's manual snapshots by count: only ids starting with `prefix`, `protected` ids never deleted
nor counted, the snapshot of this run never deleted and counted as the newest, snapshots that are
not `available` never deleted nor counted. In check mode only read calls are made.

What differs per service (API operations, field names, error codes, progress, ownership) is a
`SnapshotService` subclass in the module.
"""
from __future__ import annotations

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.botocore import paginated_query_with_retries
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.webstack.platform.plugins.module_utils.base import Layer
from ansible_collections.webstack.platform.plugins.module_utils.waiter import Waiter


class SnapshotService:
    """The per-service part. Subclasses set the attributes; methods may be overridden."""

    service = ""            # boto3 client name, e.g. "rds"
    label = ""              # owner kind in AWS error messages, e.g. "DB instance"
    owner_option = ""       # module option naming the owner, e.g. "db_instance_identifier"
    id_option = ""          # module option naming the snapshot, e.g. "snapshot_identifier"
    owner_key = ""          # field (and request parameter) of the owner, e.g. "DBInstanceIdentifier"
    id_key = ""             # field (and request parameter) of the snapshot id, e.g. "DBSnapshotIdentifier"
    arn_key = ""            # field of the ARN
    status_key = ""         # field of the status
    list_key = ""           # key of the snapshot list in describe answers
    item_key = ""           # key of the snapshot in create answers
    describe_op = ""        # boto3 method names
    create_op = ""
    delete_op = ""
    manual_filter = {}      # describe parameters that select manual snapshots of the owner
    not_found = ()          # error codes
    already_exists = ()
    failed_states = ("failed",)
    retry_codes = ()        # extra error codes retried (owner busy)

    # --- API calls -------------------------------------------------------------------------
    def describe(self, client, snapshot_id):
        """The snapshot with this id, or None."""
        try:
            found = getattr(client, self.describe_op)(aws_retry=True, **{self.id_key: snapshot_id})[self.list_key]
        except is_boto3_error_code(self.not_found):
            return None
        return found[0] if found else None

    def manual_snapshots(self, client, owner):
        result = paginated_query_with_retries(client, self.describe_op,
                                              **dict(self.manual_filter, **{self.owner_key: owner}))
        return [s for s in result.get(self.list_key, []) if self.belongs_to(s, owner) and self.is_manual(s)]

    def create(self, client, owner, snapshot_id, tags):
        request = {self.owner_key: owner, self.id_key: snapshot_id}
        if tags:
            request["Tags"] = ansible_dict_to_boto3_tag_list(tags)
        return getattr(client, self.create_op)(aws_retry=True, **request)[self.item_key]

    def delete(self, client, snapshot_id):
        try:
            getattr(client, self.delete_op)(aws_retry=True, **{self.id_key: snapshot_id})
        except is_boto3_error_code(self.not_found):
            pass  # deleted meanwhile

    # --- fields ----------------------------------------------------------------------------
    def belongs_to(self, snapshot, owner):
        return snapshot.get(self.owner_key) == owner

    def owner_of(self, snapshot):
        """The owner named in the "belongs to another" failure."""
        return snapshot.get(self.owner_key)

    def is_manual(self, snapshot):  # pylint: disable=unused-argument
        return True

    def created_at(self, snapshot):
        """Creation time (datetime), or None while AWS has not set it."""
        return None

    def progress_text(self, snapshot):  # pylint: disable=unused-argument
        """Inserted after the status in the "stuck" message, e.g. ", 37% progress"."""
        return ""

    def extra_summary(self, snapshot):  # pylint: disable=unused-argument
        return {}

    def summary(self, snapshot):
        created = self.created_at(snapshot)
        out = {"id": snapshot[self.id_key], "arn": snapshot.get(self.arn_key, ""),
               "status": snapshot.get(self.status_key, ""),
               "created": created.isoformat() if hasattr(created, "isoformat") else (created or ""),
               self.owner_option: snapshot.get(self.owner_key, "")}
        out.update(self.extra_summary(snapshot))
        return out

    def sort_key(self, snapshot):
        # Newest first (reverse sort); a snapshot AWS has not stamped yet (still creating, or an
        # emulator without times) counts as the newest, then the id decides.
        created = self.created_at(snapshot)
        stamp = created.timestamp() if hasattr(created, "timestamp") else float("inf")
        return (stamp, snapshot[self.id_key])


def argument_spec(service):
    return {
        service.owner_option: dict(type="str", required=True),
        service.id_option: dict(type="str", default=""),
        "wait": dict(type="bool", default=True),
        "wait_timeout": dict(type="int", default=1800),
        "poll_interval": dict(type="int", default=10),
        "tags": dict(type="dict", default={}),
        "keep": dict(type="int", default=0),
        "prefix": dict(type="str"),
        "protected": dict(type="list", elements="str", default=[]),
    }


def wait_available(module, service, client, snapshot):
    p = module.params
    owner = p[service.owner_option]
    snapshot_id = snapshot[service.id_key]
    waiter = Waiter(p["wait_timeout"], p["poll_interval"])
    while True:
        status = snapshot.get(service.status_key)
        if status == "available":
            return snapshot
        if status in service.failed_states:
            module.fail_json(msg=f"snapshot {snapshot_id} of {owner} is {status}", snapshot=service.summary(snapshot))
        if not waiter.sleep():
            module.fail_json(msg=f"snapshot {snapshot_id} of {owner} stuck: status {status}"
                                 f"{service.progress_text(snapshot)} after {p['wait_timeout']} s (wait_timeout); "
                                 "it was left as it is",
                             snapshot=service.summary(snapshot))
        current = service.describe(client, snapshot_id)
        if current is None:
            module.fail_json(msg=f"snapshot {snapshot_id} disappeared while waiting for it to become available")
        snapshot = current


def select_for_deletion(service, snapshots, current_id, keep, protected):
    """Return (deleted ids, kept ids newest first) of the prefix-matching `snapshots`.

    `current_id` (the snapshot of this run, "" for none) is never deleted and counts; when it is not
    in `snapshots` (check mode: it would be created) it is added as the newest, available one.
    Protected ids are kept without counting; snapshots that are not available are kept without
    counting."""
    snapshots = list(snapshots)
    if current_id and not any(s[service.id_key] == current_id for s in snapshots):
        snapshots.append({service.id_key: current_id})
    snapshots.sort(key=service.sort_key, reverse=True)
    protected = set(protected)
    counted = 0
    deleted, kept = [], []
    for snap in snapshots:
        snap_id = snap[service.id_key]
        if snap_id in protected and snap_id != current_id:
            kept.append(snap_id)
            continue
        available = snap.get(service.status_key, "available") == "available"  # "would be created" counts as available
        if not available or snap_id == current_id or counted < keep:
            counted += 1 if available else 0
            kept.append(snap_id)
            continue
        deleted.append(snap_id)
    return deleted, kept


def prune(module, service, client, current_id):
    """Delete (unless check mode) the snapshots beyond `keep`; return (deleted ids, kept ids)."""
    p = module.params
    prefix = p["prefix"]
    snapshots = [s for s in service.manual_snapshots(client, p[service.owner_option])
                 if s[service.id_key].startswith(prefix)]
    deleted, kept = select_for_deletion(service, snapshots, current_id if current_id.startswith(prefix) else "",
                                        p["keep"], p["protected"])
    if not module.check_mode:
        for snap_id in deleted:
            service.delete(client, snap_id)
    return deleted, kept


def run(module, service, client):
    p = module.params
    owner = p[service.owner_option]
    snapshot_id = p[service.id_option] or ""
    changed = False
    result_snapshot = {}
    if snapshot_id:
        snapshot = service.describe(client, snapshot_id)
        if snapshot is not None and not service.belongs_to(snapshot, owner):
            module.fail_json(msg=f"{service.id_option} {snapshot_id} already exists and is a snapshot of "
                                 f"{service.owner_of(snapshot)}, not of {owner}")
        if snapshot is None:
            changed = True
            if module.check_mode:
                result_snapshot = {"id": snapshot_id, "arn": "", "status": "", "created": "",
                                   service.owner_option: owner}
            else:
                try:
                    snapshot = service.create(client, owner, snapshot_id, p["tags"])
                except is_boto3_error_code(service.already_exists):
                    # Created meanwhile by a concurrent run: wait for it like an existing one.
                    changed = False
                    snapshot = service.describe(client, snapshot_id)
                    if snapshot is None:
                        module.fail_json(msg=f"snapshot {snapshot_id} reported as existing but cannot be read")
        if snapshot is not None:
            if p["wait"] and not module.check_mode:
                snapshot = wait_available(module, service, client, snapshot)
            result_snapshot = service.summary(snapshot)

    deleted, kept = [], []
    if p["keep"] > 0:
        deleted, kept = prune(module, service, client, snapshot_id)
    module.exit_json(changed=changed or bool(deleted), snapshot=result_snapshot, deleted=deleted, kept=kept)


class SnapshotLayer(Layer):
    """The module run: the service's options, retries and error message around `run`."""

    service = None
    retries = {"retries": 10, "delay": 3}

    @classmethod
    def validate(cls, module):
        p = module.params
        if p["keep"] < 0:
            module.fail_json(msg=f"keep must be 0 (no pruning) or more, got {p['keep']}")
        if p["wait_timeout"] < 0 or p["poll_interval"] < 0:
            module.fail_json(msg="wait_timeout and poll_interval must not be negative")
        if p["prefix"] is None:
            p["prefix"] = f"{p[cls.service.owner_option]}-"
        if p["keep"] and not p["prefix"]:
            module.fail_json(msg="prefix must not be empty when keep is set (it limits which snapshots are pruned)")

    def fail_aws(self, exc, msg, **result):
        self.module.fail_json_aws(exc, msg=f"Failed to snapshot {self.service.label} {self.p[self.service.owner_option]}")

    def run(self):
        run(self.module, self.service, self.client(self.service.service))


def main(service):
    """The whole module: options, validation, client with the service's retries, run, AWS errors."""
    layer = type(f"{type(service).__name__}Layer", (SnapshotLayer,), {
        "service": service, "argument_spec": argument_spec(service),
        "retry_codes": {service.service: service.retry_codes}})
    layer.main()
