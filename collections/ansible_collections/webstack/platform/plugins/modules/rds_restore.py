#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rds_restore
short_description: Restore an RDS instance from a snapshot or a point in time with the original's settings, then swap names
version_added: 0.2.0
description:
  - Restores the RDS DB instance O(db_instance_identifier) (the one the application uses) from a
    manual or automated snapshot (O(snapshot_identifier)) or to a point in time (O(restore_time)
    or O(use_latest_restorable_time)) into a new instance with every setting the original has,
    then swaps the names so that the application's endpoint (which follows the identifier) points
    at the restored data. The original is kept, renamed to O(replaced_identifier) and tagged,
    until a later cleanup; its deletion protection is left as it was.
  - "Steps, each reported in RV(steps): read the original's settings (DB subnet group, VPC
    security groups, parameter group, Multi-AZ, storage encryption and KMS key, deletion
    protection, instance class, storage type and size (IOPS for io1/io2, IOPS and throughput for gp3
    from 400 GiB), storage autoscaling maximum, port, publicly accessible, copy tags to snapshot,
    CloudWatch log exports, backup retention and window, maintenance window, automatic minor version
    upgrades, Enhanced Monitoring interval and role, Performance Insights (key, retention), IAM
    database authentication, CA certificate, a custom option group, tags); check the source (a
    snapshot of another engine major than the original's parameter group family is refused before
    any change); restore to
    O(restored_identifier) passing all those settings (a point-in-time restore otherwise gets
    AWS's defaults, the VPC's default security group included); wait until it is available;
    apply with one C(ModifyDBInstance) what the restore call did not set (backup retention, or
    any setting the restored instance came back without), rebooting when a changed parameter
    group waits for it; rename the original to O(replaced_identifier) and wait; rename the
    restored instance to O(db_instance_identifier) and wait; tag the old instance; verify that
    the new instance's settings equal the original's."
  - The source is checked before any change. A snapshot must exist, be V(available), come
    from an instance of the same engine and have the original's encryption and KMS key; a point
    in time must lie inside the restorable window, from the automated backups' earliest
    restorable time (C(DescribeDBInstanceAutomatedBackups) C(RestoreWindow.EarliestTime); when
    AWS gives none, now minus the backup retention period) to the instance's
    C(LatestRestorableTime) (when AWS gives none, now). A failed check names the option.
  - Resumable. A rerun with the same options after an interruption continues from what exists
    (restored instance present - wait and rename; original already renamed - rename the restored
    one; names already swapped - tag and verify only). When the swap is complete the module only
    verifies and reports C(changed=false).
  - A verification difference fails the module listing every differing setting (expected and
    actual values); the names are swapped at that point and both instances exist.
author:
  - webstack maintainers
options:
  db_instance_identifier:
    description:
      - The instance the application uses. It keeps this identifier (and so its endpoint address)
        after the restore.
    type: str
    required: true
  snapshot_identifier:
    description:
      - Restore from this DB snapshot (identifier or ARN). Exactly one of O(snapshot_identifier),
        O(restore_time) and O(use_latest_restorable_time) is required.
    type: str
  restore_time:
    description:
      - Restore to this point in time, ISO 8601 (for example V(2026-11-22T09:30:00Z); a time
        without a zone is taken as UTC). Must lie inside the restorable window of the original.
    type: str
  use_latest_restorable_time:
    description:
      - Restore to the latest restorable time of the original.
    type: bool
    default: false
  restored_identifier:
    description:
      - Temporary identifier of the new instance until the names are swapped, for example
        V(webstack-prod-restore-20261122t0930). Keep it for a rerun (resume).
    type: str
    required: true
  replaced_identifier:
    description:
      - New identifier of the original instance, for example V(webstack-prod-replaced-20261122t0930).
    type: str
    required: true
  tags:
    description:
      - Tags put on the new instance in addition to the original's tags (these win on a key
        conflict). The new instance also gets C(webstack:restored-from); the old one gets
        C(webstack:replaced-at) and C(webstack:replaced-by-restore-from).
    type: dict
    default: {}
  wait_timeout:
    description:
      - Seconds to wait for each of the instance waits (restore, modification, each rename).
        A timeout fails naming the instance, its status and the step; a rerun resumes.
    type: int
    default: 3600
  poll_interval:
    description:
      - Seconds between two status reads while waiting.
    type: int
    default: 15
  swap:
    description:
      - Swap the names. With V(false) the module stops once the restored instance is available and has the original's
        settings (RV(ready_to_swap)), so that the caller can stop the application's writes first (AWS's procedure);
        a second call with the same options and V(true) then swaps.
    type: bool
    default: true
  dns_wait:
    description:
      - After the swap, wait until the endpoint DNS name of O(db_instance_identifier) resolves to the restored
        instance (or at least no longer to the replaced one). AWS deletes the old name at once (resolvers may cache
        it for minutes) and makes the new one effective in about 10 minutes; a client that connects before gets
        the replaced instance or nothing. Off where names do not resolve (the emulator).
    type: bool
    default: false
  dns_timeout:
    description: Seconds O(dns_wait) may take.
    type: int
    default: 1200
notes:
  - Supports check mode; it only reads, runs the source checks and reports the plan in RV(steps).
  - "IAM permissions: C(rds:DescribeDBInstances), C(rds:DescribeDBSnapshots),
    C(rds:DescribeDBInstanceAutomatedBackups), C(rds:RestoreDBInstanceFromDBSnapshot),
    C(rds:RestoreDBInstanceToPointInTime), C(rds:ModifyDBInstance), C(rds:RebootDBInstance),
    C(rds:AddTagsToResource), C(rds:ListTagsForResource); C(kms:CreateGrant) and
    C(kms:DescribeKey) on the KMS key of an encrypted instance."
  - The original's master user secret (C(ManageMasterUserPassword)) is not changed; a restored
    instance keeps the master password of its source.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Restore the production database from a snapshot
  webstack.platform.rds_restore:
    db_instance_identifier: webstack-prod
    snapshot_identifier: webstack-prod-pre-migrate-1-4-0
    restored_identifier: webstack-prod-restore-20261122t0930
    replaced_identifier: webstack-prod-replaced-20261122t0930
    tags:
      Project: webstack

- name: Restore to a point in time (fails before any change when outside the window)
  webstack.platform.rds_restore:
    db_instance_identifier: webstack-prod
    restore_time: "2026-11-22T08:15:00Z"
    restored_identifier: webstack-prod-restore-20261122t0930
    replaced_identifier: webstack-prod-replaced-20261122t0930
  register: restore

- name: Show what happened
  ansible.builtin.debug:
    msg: "{{ restore.steps }}"
"""

RETURN = r"""
ready_to_swap:
  description: With O(swap=false), true once the restored instance is ready and the names are not swapped yet.
  returned: always
  type: bool
dns_seconds:
  description: With O(dns_wait), seconds from the swap until the endpoint resolved to the restored instance.
  returned: always
  type: float
instance:
  description: The instance the application uses after the restore (or now, in check mode).
  returned: always
  type: dict
  contains:
    id:
      description: Identifier (equal to O(db_instance_identifier) after a swap).
      type: str
    arn:
      description: ARN.
      type: str
    status:
      description: Status.
      type: str
      sample: available
    endpoint:
      description: Endpoint address (it follows the identifier, so it is the original's address).
      type: str
      sample: webstack-prod.abcdefghij.eu-west-1.rds.amazonaws.com
    port:
      description: Port.
      type: int
      sample: 5432
    settings:
      description: The instance's settings as compared by the verification.
      type: dict
replaced:
  description: The old instance, renamed and kept.
  returned: always
  type: dict
  contains:
    id:
      description: Identifier (O(replaced_identifier)), empty in check mode before the rename.
      type: str
    endpoint:
      description: Endpoint address.
      type: str
steps:
  description: What was done (or, in check mode, would be done), in order.
  returned: always
  type: list
  elements: str
  sample:
    - "read original webstack-prod: postgres, db.t3.medium, 2 security groups, parameter group webstack-prod-postgres15"
    - "checked snapshot webstack-prod-pre-1-4-0: available, postgres, encrypted"
    - "restored webstack-prod-restore-20261122t0930 from snapshot webstack-prod-pre-1-4-0"
settings_verified:
  description: Setting name to the value the new instance was verified to have (equal to the original's).
    Empty in check mode unless the swap is already complete.
  returned: always
  type: dict
source:
  description: What was restored, for example C(snapshot:webstack-prod-pre-1-4-0) or C(point-in-time:2026-11-22T08:15:00Z).
  returned: always
  type: str
elapsed:
  description: Seconds the module ran.
  returned: always
  type: float
"""

import re
import socket
from datetime import datetime
from datetime import timedelta
from datetime import timezone

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.webstack.platform.plugins.module_utils.base import AWS_ERRORS, Layer

INSTANCE_NOT_FOUND = ("DBInstanceNotFound", "DBInstanceNotFoundFault")
SNAPSHOT_NOT_FOUND = ("DBSnapshotNotFound", "DBSnapshotNotFoundFault")
IDENTIFIER = re.compile(r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,62}(?<!-)$")
REPLACED_AT = "webstack:replaced-at"
REPLACED_BY = "webstack:replaced-by-restore-from"
RESTORED_FROM = "webstack:restored-from"
# Settings compared by the verification, in report order.
VERIFIED = ("db_subnet_group", "vpc_security_group_ids", "db_parameter_group", "multi_az", "storage_encrypted",
            "kms_key_id", "deletion_protection", "publicly_accessible", "copy_tags_to_snapshot",
            "cloudwatch_logs_exports", "backup_retention_period", "db_instance_class", "storage_type", "port",
            "iam_database_authentication", "ca_certificate_identifier", "option_group", "iops", "storage_throughput",
            "max_allocated_storage", "preferred_backup_window", "preferred_maintenance_window",
            "auto_minor_version_upgrade", "monitoring_interval", "performance_insights")
# Compared only when the original has a value (AWS omits them for some engines, storage types or API versions).
OPTIONAL = ("ca_certificate_identifier", "option_group", "iops", "storage_throughput", "max_allocated_storage",
            "preferred_backup_window", "preferred_maintenance_window", "auto_minor_version_upgrade")
# gp3 IOPS and throughput are settable for PostgreSQL only from 400 GiB (below, AWS's baseline applies and passing
# them fails the call).
GP3_PROVISIONED_FROM_GIB = 400


def resolve(host):
    """The IPv4/IPv6 addresses `host` resolves to now (empty when it does not resolve)."""
    if not host:
        return set()
    try:
        return {info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}
    except (OSError, UnicodeError):
        return set()


def utcnow():
    return datetime.now(timezone.utc)


def iso(value):
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Failure(Exception):
    """A failure with a message for the user (the steps done so far are reported with it)."""


def settings_of(inst):
    """The settings of a DescribeDBInstances item that a restore must reproduce."""
    groups = inst.get("DBParameterGroups") or [{}]
    option_groups = [g.get("OptionGroupName") for g in inst.get("OptionGroupMemberships") or []]
    return {
        "engine": inst.get("Engine"),
        "db_subnet_group": (inst.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
        "vpc_security_group_ids": sorted(g["VpcSecurityGroupId"] for g in inst.get("VpcSecurityGroups") or []
                                         if g.get("Status", "active") in ("active", "adding")),
        "db_parameter_group": groups[0].get("DBParameterGroupName"),
        "multi_az": bool(inst.get("MultiAZ")),
        "storage_encrypted": bool(inst.get("StorageEncrypted")),
        "kms_key_id": inst.get("KmsKeyId") if inst.get("StorageEncrypted") else None,
        "deletion_protection": bool(inst.get("DeletionProtection")),
        "publicly_accessible": bool(inst.get("PubliclyAccessible")),
        "copy_tags_to_snapshot": bool(inst.get("CopyTagsToSnapshot")),
        "cloudwatch_logs_exports": sorted(inst.get("EnabledCloudwatchLogsExports") or []),
        "backup_retention_period": inst.get("BackupRetentionPeriod", 0),
        "db_instance_class": inst.get("DBInstanceClass"),
        "storage_type": inst.get("StorageType"),
        "iops": inst.get("Iops"),
        "allocated_storage": inst.get("AllocatedStorage"),
        "iam_database_authentication": bool(inst.get("IAMDatabaseAuthenticationEnabled")),
        "ca_certificate_identifier": inst.get("CACertificateIdentifier"),
        # A default option group is the engine version's own; only a custom one is carried over.
        "option_group": next((g for g in option_groups if g and not g.startswith("default:")), None),
        "port": (inst.get("Endpoint") or {}).get("Port") or inst.get("DbInstancePort"),
        "tags": boto3_tag_list_to_ansible_dict(inst.get("TagList") or []),
        "engine_version": inst.get("EngineVersion"),
        "storage_throughput": inst.get("StorageThroughput"),
        "max_allocated_storage": inst.get("MaxAllocatedStorage"),
        "preferred_backup_window": inst.get("PreferredBackupWindow"),
        "preferred_maintenance_window": inst.get("PreferredMaintenanceWindow"),
        "auto_minor_version_upgrade": inst.get("AutoMinorVersionUpgrade"),
        "monitoring_interval": inst.get("MonitoringInterval") or 0,
        "monitoring_role_arn": inst.get("MonitoringRoleArn") if inst.get("MonitoringInterval") else None,
        "performance_insights": bool(inst.get("PerformanceInsightsEnabled")),
        "performance_insights_kms_key_id": inst.get("PerformanceInsightsKMSKeyId") if inst.get("PerformanceInsightsEnabled") else None,
        "performance_insights_retention_period": (inst.get("PerformanceInsightsRetentionPeriod")
                                                  if inst.get("PerformanceInsightsEnabled") else None),
    }


def provisioned_storage(settings):
    """Whether IOPS (and for gp3 throughput) are the instance's own settings rather than AWS's baseline."""
    if settings["storage_type"] in ("io1", "io2"):
        return True
    return settings["storage_type"] == "gp3" and (settings["allocated_storage"] or 0) >= GP3_PROVISIONED_FROM_GIB


def parse_time(value):
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


class Restore(Layer):
    retries = {"retries": 10, "delay": 3}
    retry_codes = {"rds": ("InvalidDBInstanceState",)}

    def __init__(self, module):
        super().__init__(module)
        self.rds = self.client("rds")
        self.steps = []
        self.changed = False
        self.source = self._source_label()

    # ----------------------------------------------------------------- helpers
    def step(self, text, change=True):
        """Record a step; a change marks the result changed."""
        self.steps.append(text)
        if change:
            self.changed = True

    def act(self, done, plan):
        """Record a change: `done` after doing it, `would <plan>` in check mode."""
        self.step(f"would {plan}" if self.check else done)

    def _source_label(self):
        if self.p["snapshot_identifier"]:
            return f"snapshot:{self.p['snapshot_identifier']}"
        if self.p["restore_time"]:
            try:
                return f"point-in-time:{iso(parse_time(self.p['restore_time']))}"
            except ValueError:
                return f"point-in-time:{self.p['restore_time']}"
        return "latest-restorable-time"

    def describe(self, ident):
        try:
            found = self.rds.describe_db_instances(DBInstanceIdentifier=ident, aws_retry=True)["DBInstances"]
        except is_boto3_error_code(INSTANCE_NOT_FOUND):
            return None
        return found[0] if found else None

    def wait(self, ident, label, settled=False, quiet=False):
        """Wait until `ident` exists and is available (and, with settled, has no pending modifications).

        A quiet wait records a step only when it had to wait."""
        timeout = self.p["wait_timeout"]
        waiter = self.waiter()
        while True:
            inst = self.describe(ident)
            status = inst.get("DBInstanceStatus") if inst else "not found"
            if inst and status == "available" and not (settled and inst.get("PendingModifiedValues")):
                if not quiet or waiter.elapsed() > 0:
                    self.step(f"waited for {ident}: available ({waiter.elapsed():.1f} s)", change=False)
                return inst
            if waiter.expired():
                pending = ""
                if inst and inst.get("PendingModifiedValues"):
                    pending = f", pending modifications {sorted(inst['PendingModifiedValues'])}"
                raise Failure(f"{label}: instance {ident} is still '{status}'{pending} after {timeout} s "
                              f"(wait_timeout); nothing is undone - rerun with the same options to resume")
            waiter.sleep()

    def tags_of(self, inst):
        if "TagList" in inst:
            return boto3_tag_list_to_ansible_dict(inst["TagList"])
        return boto3_tag_list_to_ansible_dict(self.rds.list_tags_for_resource(
            ResourceName=inst["DBInstanceArn"], aws_retry=True).get("TagList", []))

    # ------------------------------------------------------------------- checks
    def validate_options(self):
        p = self.p
        given = [name for name in ("snapshot_identifier", "restore_time", "use_latest_restorable_time") if p[name]]
        if len(given) != 1:
            raise Failure("exactly one of snapshot_identifier, restore_time and use_latest_restorable_time is "
                          f"required (given: {', '.join(given) or 'none'})")
        for name in ("db_instance_identifier", "restored_identifier", "replaced_identifier"):
            if not IDENTIFIER.match(p[name] or ""):
                raise Failure(f"{name} '{p[name]}' is not a valid DB instance identifier (1-63 letters, digits or "
                              "hyphens, starting with a letter, no '--', not ending with '-')")
        ids = [p["db_instance_identifier"].lower(), p["restored_identifier"].lower(), p["replaced_identifier"].lower()]
        if len(set(ids)) != 3:
            raise Failure("db_instance_identifier, restored_identifier and replaced_identifier must be three "
                          f"different identifiers (got {', '.join(ids)})")
        if p["restore_time"]:
            try:
                parse_time(p["restore_time"])
            except ValueError:
                raise Failure(f"restore_time '{p['restore_time']}' is not an ISO 8601 time "
                              "(for example 2026-11-22T09:30:00Z)") from None
        for name in ("wait_timeout", "poll_interval"):
            if p[name] < 0:
                raise Failure(f"{name} must not be negative")

    def check_snapshot(self, original):
        snap_id = self.p["snapshot_identifier"]
        try:
            found = self.rds.describe_db_snapshots(DBSnapshotIdentifier=snap_id, aws_retry=True)["DBSnapshots"]
        except is_boto3_error_code(SNAPSHOT_NOT_FOUND):
            found = []
        if not found:
            raise Failure(f"snapshot_identifier {snap_id}: no such DB snapshot")
        snap = found[0]
        problems = []
        if snap.get("Status") != "available":
            problems.append(f"its status is '{snap.get('Status')}' (progress {snap.get('PercentProgress', '?')}%), "
                            "not 'available'")
        if snap.get("Engine") != original["engine"]:
            problems.append(f"it is a {snap.get('Engine')} snapshot and {self.p['db_instance_identifier']} runs "
                            f"{original['engine']}")
        encrypted = bool(snap.get("Encrypted"))
        if encrypted != original["storage_encrypted"]:
            problems.append(f"it is {'encrypted' if encrypted else 'not encrypted'} and the original is "
                            f"{'encrypted' if original['storage_encrypted'] else 'not encrypted'} (a restore keeps "
                            "the snapshot's encryption)")
        elif encrypted and snap.get("KmsKeyId") != original["kms_key_id"]:
            problems.append(f"it is encrypted with KMS key {snap.get('KmsKeyId')}, the original with "
                            f"{original['kms_key_id']} (a restore keeps the snapshot's key)")
        snap_major = str(snap.get("EngineVersion") or "").split(".")[0]
        orig_major = str(original["engine_version"] or "").split(".")[0]
        if snap_major and orig_major and snap_major != orig_major:
            problems.append(f"it is {snap.get('Engine')} {snap.get('EngineVersion')} and the original's parameter group "
                            f"{original['db_parameter_group']} is of the {original['engine']}{orig_major} family: AWS refuses "
                            f"the restore with it (restore with a parameter group of the {snap_major} family and "
                            "upgrade, outside this module)")
        if problems:
            raise Failure(f"snapshot_identifier {snap_id} cannot be restored: " + "; ".join(problems))
        self.step(f"checked snapshot {snap_id}: available, {snap.get('Engine')} {snap.get('EngineVersion', '')}, "
                  f"{'encrypted' if encrypted else 'not encrypted'}, taken {iso(snap['SnapshotCreateTime']) if snap.get('SnapshotCreateTime') else '?'} "
                  f"from {snap.get('DBInstanceIdentifier')}", change=False)
        return snap

    def restorable_window(self, source_id, inst):
        retention = inst.get("BackupRetentionPeriod", 0) or 0
        now = utcnow()
        earliest = None
        earliest_from = f"now - BackupRetentionPeriod {retention} days"
        try:
            backups = self.rds.describe_db_instance_automated_backups(
                DBInstanceIdentifier=source_id, aws_retry=True).get("DBInstanceAutomatedBackups", [])
        except AWS_ERRORS:
            backups = []
        times = [b["RestoreWindow"]["EarliestTime"] for b in backups
                 if (b.get("RestoreWindow") or {}).get("EarliestTime")
                 and b.get("DbiResourceId", inst.get("DbiResourceId")) == inst.get("DbiResourceId")]
        if times:
            earliest = min(times)
            earliest_from = "automated backups' EarliestTime"
        else:
            earliest = now - timedelta(days=retention)
        latest = inst.get("LatestRestorableTime") or now
        latest_from = "LatestRestorableTime" if inst.get("LatestRestorableTime") else "now"
        return retention, earliest, latest, f"[{iso(earliest)} ({earliest_from}), {iso(latest)} ({latest_from})]"

    def check_point_in_time(self, source_id, inst):
        retention, earliest, latest, window = self.restorable_window(source_id, inst)
        if self.p["use_latest_restorable_time"]:
            if retention == 0:
                raise Failure(f"use_latest_restorable_time: {source_id} has automated backups off "
                              "(BackupRetentionPeriod 0), so it has no restorable time")
            self.step(f"checked latest restorable time of {source_id}: {iso(latest)} (window {window})", change=False)
            return None
        when = parse_time(self.p["restore_time"])
        if retention == 0:
            raise Failure(f"restore_time {iso(when)}: {source_id} has automated backups off (BackupRetentionPeriod 0), "
                          "so there is no point in time to restore")
        if not earliest <= when <= latest:
            raise Failure(f"restore_time {iso(when)} is outside the restorable window of {source_id} {window}")
        self.step(f"checked restore_time {iso(when)}: inside the restorable window {window}", change=False)
        return when

    # ----------------------------------------------------------------- actions
    def restore_request(self, original):
        request = {
            "DBInstanceClass": original["db_instance_class"],
            "Port": original["port"],
            "DBSubnetGroupName": original["db_subnet_group"],
            "VpcSecurityGroupIds": original["vpc_security_group_ids"],
            "DBParameterGroupName": original["db_parameter_group"],
            "MultiAZ": original["multi_az"],
            "PubliclyAccessible": original["publicly_accessible"],
            "CopyTagsToSnapshot": original["copy_tags_to_snapshot"],
            "DeletionProtection": original["deletion_protection"],
            "StorageType": original["storage_type"],
            # The original's current size (storage may have grown since the snapshot was taken).
            "AllocatedStorage": original["allocated_storage"],
            "EnableIAMDatabaseAuthentication": original["iam_database_authentication"],
            "CACertificateIdentifier": original["ca_certificate_identifier"],
            "OptionGroupName": original["option_group"],
        }
        if original["cloudwatch_logs_exports"]:
            request["EnableCloudwatchLogsExports"] = original["cloudwatch_logs_exports"]
        request["PreferredBackupWindow"] = original["preferred_backup_window"]
        request["AutoMinorVersionUpgrade"] = original["auto_minor_version_upgrade"]
        if provisioned_storage(original):
            request["Iops"] = original["iops"]
            if original["storage_type"] == "gp3":
                request["StorageThroughput"] = original["storage_throughput"]
        tags = {k: v for k, v in original["tags"].items()
                if not k.startswith("aws:") and k not in (REPLACED_AT, REPLACED_BY, RESTORED_FROM)}
        tags.update({str(k): str(v) for k, v in (self.p["tags"] or {}).items()})
        tags[RESTORED_FROM] = self.source
        request["Tags"] = ansible_dict_to_boto3_tag_list(tags)
        return {k: v for k, v in request.items() if v is not None}

    def restore(self, original, source_id, when):
        target = self.p["restored_identifier"]
        request = self.restore_request(original)
        if self.p["snapshot_identifier"]:
            label = f"{target} from snapshot {self.p['snapshot_identifier']}"
        elif when is None:
            label = f"{target} from {source_id} to its latest restorable time"
        else:
            label = f"{target} from {source_id} to {iso(when)}"
        label += (f" with the original's settings (subnet group {original['db_subnet_group']}, security groups "
                  f"{', '.join(original['vpc_security_group_ids'])}, parameter group {original['db_parameter_group']}, "
                  f"Multi-AZ {original['multi_az']}, deletion protection {original['deletion_protection']})")
        self.act("restored " + label, "restore " + label)
        if self.check:
            return
        if self.p["snapshot_identifier"]:
            self.rds.restore_db_instance_from_db_snapshot(
                DBInstanceIdentifier=target, DBSnapshotIdentifier=self.p["snapshot_identifier"], aws_retry=True,
                **request)
        elif when is None:
            self.rds.restore_db_instance_to_point_in_time(
                SourceDBInstanceIdentifier=source_id, TargetDBInstanceIdentifier=target, UseLatestRestorableTime=True,
                aws_retry=True, **request)
        else:
            self.rds.restore_db_instance_to_point_in_time(
                SourceDBInstanceIdentifier=source_id, TargetDBInstanceIdentifier=target, RestoreTime=when,
                aws_retry=True, **request)
        # RestoreDBInstanceFromDBSnapshot takes no MaxAllocatedStorage, and neither restore call takes the
        # maintenance window, monitoring or Performance Insights: fix_up sets them on the restored instance.

    def fix_up(self, ident, inst, original):
        """One ModifyDBInstance for what the restore did not set; reboot if a parameter group waits for it."""
        current = settings_of(inst)
        request = {}
        if current["vpc_security_group_ids"] != original["vpc_security_group_ids"]:
            request["VpcSecurityGroupIds"] = original["vpc_security_group_ids"]
        if current["db_parameter_group"] != original["db_parameter_group"]:
            request["DBParameterGroupName"] = original["db_parameter_group"]
        if original["option_group"] and current["option_group"] != original["option_group"]:
            request["OptionGroupName"] = original["option_group"]
        if original["ca_certificate_identifier"] and current["ca_certificate_identifier"] != original["ca_certificate_identifier"]:
            request["CACertificateIdentifier"] = original["ca_certificate_identifier"]
        for key, api in (("multi_az", "MultiAZ"), ("deletion_protection", "DeletionProtection"),
                         ("publicly_accessible", "PubliclyAccessible"), ("copy_tags_to_snapshot", "CopyTagsToSnapshot"),
                         ("backup_retention_period", "BackupRetentionPeriod"), ("db_instance_class", "DBInstanceClass"),
                         ("iam_database_authentication", "EnableIAMDatabaseAuthentication"),
                         ("max_allocated_storage", "MaxAllocatedStorage"), ("preferred_backup_window", "PreferredBackupWindow"),
                         ("preferred_maintenance_window", "PreferredMaintenanceWindow"),
                         ("auto_minor_version_upgrade", "AutoMinorVersionUpgrade")):
            if current[key] != original[key] and original[key] is not None:
                request[api] = original[key]
        if provisioned_storage(original):
            if original["iops"] and current["iops"] != original["iops"]:
                request["Iops"] = original["iops"]
            if original["storage_type"] == "gp3" and original["storage_throughput"] and \
                    current["storage_throughput"] != original["storage_throughput"]:
                request["StorageThroughput"] = original["storage_throughput"]
        if current["monitoring_interval"] != original["monitoring_interval"]:
            request["MonitoringInterval"] = original["monitoring_interval"]
            if original["monitoring_role_arn"]:
                request["MonitoringRoleArn"] = original["monitoring_role_arn"]
        if current["performance_insights"] != original["performance_insights"]:
            request["EnablePerformanceInsights"] = original["performance_insights"]
            if original["performance_insights_kms_key_id"]:
                request["PerformanceInsightsKMSKeyId"] = original["performance_insights_kms_key_id"]
            if original["performance_insights_retention_period"]:
                request["PerformanceInsightsRetentionPeriod"] = original["performance_insights_retention_period"]
        if current["cloudwatch_logs_exports"] != original["cloudwatch_logs_exports"]:
            enable = sorted(set(original["cloudwatch_logs_exports"]) - set(current["cloudwatch_logs_exports"]))
            disable = sorted(set(current["cloudwatch_logs_exports"]) - set(original["cloudwatch_logs_exports"]))
            request["CloudwatchLogsExportConfiguration"] = {k: v for k, v in (("EnableLogTypes", enable),
                                                                                ("DisableLogTypes", disable)) if v}
        api_to_name = {"VpcSecurityGroupIds": "vpc_security_group_ids", "DBParameterGroupName": "db_parameter_group",
                       "MultiAZ": "multi_az", "DeletionProtection": "deletion_protection",
                       "PubliclyAccessible": "publicly_accessible", "CopyTagsToSnapshot": "copy_tags_to_snapshot",
                       "BackupRetentionPeriod": "backup_retention_period", "DBInstanceClass": "db_instance_class",
                       "CloudwatchLogsExportConfiguration": "cloudwatch_logs_exports",
                       "EnableIAMDatabaseAuthentication": "iam_database_authentication",
                       "OptionGroupName": "option_group", "CACertificateIdentifier": "ca_certificate_identifier",
                       "MaxAllocatedStorage": "max_allocated_storage", "PreferredBackupWindow": "preferred_backup_window",
                       "PreferredMaintenanceWindow": "preferred_maintenance_window",
                       "AutoMinorVersionUpgrade": "auto_minor_version_upgrade", "Iops": "iops",
                       "StorageThroughput": "storage_throughput", "MonitoringInterval": "monitoring_interval",
                       "MonitoringRoleArn": "monitoring_role_arn", "EnablePerformanceInsights": "performance_insights",
                       "PerformanceInsightsKMSKeyId": "performance_insights_kms_key_id",
                       "PerformanceInsightsRetentionPeriod": "performance_insights_retention_period"}
        names = [api_to_name[k] for k in request]
        if not request:
            return inst
        text = f"{ident} what the restore did not: " + ", ".join(f"{name}={original[name]}" for name in names)
        self.act(f"set on {text}", f"set on {text}")
        if self.check:
            return inst
        self.rds.modify_db_instance(DBInstanceIdentifier=ident, ApplyImmediately=True, aws_retry=True, **request)
        inst = self.wait(ident, f"modify {ident}", settled=True)
        groups = inst.get("DBParameterGroups") or [{}]
        if groups[0].get("ParameterApplyStatus") == "pending-reboot":
            self.act(f"rebooted {ident} to apply parameter group {original['db_parameter_group']}", "reboot")
            self.rds.reboot_db_instance(DBInstanceIdentifier=ident, aws_retry=True)
            inst = self.wait(ident, f"reboot {ident}")
        return inst

    def rename(self, old, new):
        if self.check:
            self.act("", f"rename {old} -> {new}")
            return None
        # AWS renames only an available instance (the original may be backing up or being modified).
        self.wait(old, f"rename {old} -> {new}", quiet=True)
        self.act(f"renamed {old} -> {new}", "")
        self.rds.modify_db_instance(DBInstanceIdentifier=old, NewDBInstanceIdentifier=new, ApplyImmediately=True,
                                       aws_retry=True)
        return self.wait(new, f"rename {old} -> {new}")

    def tag_replaced(self, inst, ident):
        tags = self.tags_of(inst) if inst else {}
        if tags.get(REPLACED_BY) == self.source and tags.get(REPLACED_AT):
            return
        wanted = {REPLACED_AT: iso(utcnow()), REPLACED_BY: self.source}
        text = f"{ident} " + ", ".join(f"{k}={v}" for k, v in wanted.items())
        self.act(f"tagged {text}", f"tag {text}")
        if self.check:
            return
        self.rds.add_tags_to_resource(ResourceName=inst["DBInstanceArn"], Tags=ansible_dict_to_boto3_tag_list(wanted),
                                         aws_retry=True)

    def verify(self, inst, original, ident):
        actual = settings_of(inst)
        compared = [key for key in VERIFIED if key not in OPTIONAL or original[key] is not None]
        differences = [f"{key}: original {original[key]!r}, restored {actual[key]!r}"
                       for key in compared if actual[key] != original[key]]
        if differences:
            raise Failure(f"restored instance {ident} differs from the original (kept as "
                          f"{self.p['replaced_identifier']}): " + "; ".join(differences))
        self.step(f"verified {ident}: {len(compared)} settings equal the original's", change=False)
        return {key: actual[key] for key in compared}

    # ------------------------------------------------------------------- flow
    def settle_renames(self, ids):
        """Wait while one of the instances is being renamed (an interrupted run), then read all three."""
        o_id, r_id, p_id = ids
        waiter = self.waiter()
        while True:
            found = {ident: self.describe(ident) for ident in ids}
            renaming = [i for i, inst in found.items() if inst and inst.get("DBInstanceStatus") == "renaming"]
            # Between two names: the original is gone and only one of the others shows (AWS renames in the
            # background; the new name appears when the rename is done).
            between = not found[o_id] and bool(found[r_id]) != bool(found[p_id])
            if not (renaming or between) or self.check:
                return found
            if not waiter.sleep():
                what = (f"instance(s) {', '.join(renaming)} still 'renaming'" if renaming else
                        f"db_instance_identifier {o_id} does not exist and only one of restored_identifier {r_id} "
                        f"and replaced_identifier {p_id} does (a rename in progress?)")
                raise Failure(f"{what} after {self.p['wait_timeout']} s (wait_timeout); rerun to resume")

    def run(self):
        try:
            return self.phases()
        except Failure as exc:
            self.fail(str(exc), steps=self.steps, changed=self.changed, elapsed=round(self.clock.now() - self.started, 3))

    def fail_aws(self, exc, msg, **result):
        last = self.steps[-1] if self.steps else "reading the current state"
        self.module.fail_json_aws(exc, msg=f"rds_restore of {self.p['db_instance_identifier']} failed after: {last}",
                                  steps=self.steps, changed=self.changed)

    def exit(self, result=None):
        self.module.exit_json(**result)

    def phases(self):
        self.validate_options()
        o_id, r_id, p_id = self.p["db_instance_identifier"], self.p["restored_identifier"], self.p["replaced_identifier"]
        found = self.settle_renames([o_id, r_id, p_id])
        o_inst, r_inst, p_inst = found[o_id], found[r_id], found[p_id]

        if o_inst and r_inst and p_inst:
            raise Failure(f"db_instance_identifier {o_id}, restored_identifier {r_id} and replaced_identifier {p_id} "
                          "all exist; cannot tell which one is the original - choose new restored/replaced identifiers "
                          "or remove the stray instance")
        if o_inst and p_inst and not r_inst:
            created_o, created_p = o_inst.get("InstanceCreateTime"), p_inst.get("InstanceCreateTime")
            if created_o and created_p and created_o < created_p:
                raise Failure(f"replaced_identifier {p_id} already exists and is newer than {o_id}, so it is not the "
                              "instance a restore replaced: choose another replaced_identifier")
            phase = "swapped"
        elif o_inst and not p_inst:
            phase = "restored" if r_inst else "fresh"
        elif not o_inst and p_inst and r_inst:
            phase = "original-renamed"
        elif not o_inst and (p_inst or r_inst):
            raise Failure(f"db_instance_identifier {o_id} does not exist and only one of restored_identifier {r_id} "
                          f"and replaced_identifier {p_id} does: a rename may be in progress; rerun later")
        else:
            raise Failure(f"db_instance_identifier {o_id}: no such DB instance")

        original_inst = p_inst if phase in ("original-renamed", "swapped") else o_inst
        original_id = p_id if phase in ("original-renamed", "swapped") else o_id
        original = settings_of(original_inst)
        self.step(f"read original {original_id}: {original['engine']}, {original['db_instance_class']}, subnet group "
                  f"{original['db_subnet_group']}, security groups {', '.join(original['vpc_security_group_ids'])}, "
                  f"parameter group {original['db_parameter_group']}, Multi-AZ {original['multi_az']}, encrypted "
                  f"{original['storage_encrypted']}, deletion protection {original['deletion_protection']}, backup "
                  f"retention {original['backup_retention_period']} days", change=False)

        if phase == "fresh":
            when = None
            if self.p["snapshot_identifier"]:
                self.check_snapshot(original)
            else:
                when = self.check_point_in_time(o_id, o_inst)
            self.restore(original, o_id, when)
            phase = "restored"
            if self.check:
                return self.plan_rest(o_id, r_id, p_id, o_inst, original)
        elif phase == "restored":
            self.step(f"resumed: {r_id} exists (restore already started), not restoring again", change=False)
        elif phase == "original-renamed":
            self.step(f"resumed: {o_id} already renamed to {p_id}, {r_id} exists", change=False)
        else:
            self.step(f"resumed: names already swapped ({o_id} is the restored instance, {p_id} the original)",
                      change=False)

        if phase in ("restored", "original-renamed"):
            r_inst = self.wait(r_id, f"restore {r_id}") if not self.check else r_inst
            r_inst = self.fix_up(r_id, r_inst, original)
        if phase in ("restored", "original-renamed") and not self.p["swap"]:
            self.step(f"ready to swap: {r_id} is available with the original's settings; "
                      + (f"{o_id} not renamed yet" if phase == "restored" else f"{o_id} already renamed to {p_id}")
                      + " (swap=false)", change=False)
            return dict(self.result(o_inst, None, {}, o_id), ready_to_swap=True)
        endpoint = ((o_inst or {}).get("Endpoint") or {}).get("Address", "")
        if phase == "restored" and self.p["dns_wait"] and not self.check:
            self.old_addresses = resolve(endpoint)
            self.new_addresses = resolve(((r_inst or {}).get("Endpoint") or {}).get("Address", ""))
        if phase == "restored":
            p_inst = self.rename(o_id, p_id) or o_inst
            phase = "original-renamed"
        if phase == "original-renamed":
            o_inst = self.rename(r_id, o_id) or r_inst
            if self.p["dns_wait"] and not self.check:
                self.wait_dns(endpoint or ((o_inst or {}).get("Endpoint") or {}).get("Address", ""), p_inst)
        if self.check and self.changed:
            self.tag_replaced(p_inst, p_id)
            return self.result(o_inst, p_inst, {}, o_id)
        if phase == "swapped" and o_inst.get("DBInstanceStatus") != "available" and not self.check:
            o_inst = self.wait(o_id, f"restored instance {o_id}")
        if phase == "swapped" and self.p["dns_wait"] and not self.check:
            self.wait_dns(endpoint, p_inst)
        self.tag_replaced(p_inst, p_id)
        verified = self.verify(o_inst, original, o_id)
        return self.result(o_inst, p_inst, verified, o_id)

    def wait_dns(self, endpoint, p_inst):
        """Wait until `endpoint` resolves to the restored instance: to one of its addresses read before the swap, or
        at least to something that is not the replaced instance's."""
        old = getattr(self, "old_addresses", None)
        if old is None:  # resumed after the swap started: the replaced instance's current addresses
            old = resolve(((p_inst or {}).get("Endpoint") or {}).get("Address", ""))
        new = getattr(self, "new_addresses", set())
        waiter = self.waiter(timeout=self.p["dns_timeout"])
        seen = set()
        while True:
            now = resolve(endpoint)
            seen |= now
            if now and ((now & new) or not (now & old)):
                self.step(f"endpoint {endpoint} resolves to the restored instance ({', '.join(sorted(now))}) after "
                          f"{waiter.elapsed():.1f} s", change=False)
                self.dns_seconds = round(waiter.elapsed(), 1)
                return
            if not waiter.sleep():
                state = (f"still resolves to the replaced instance ({', '.join(sorted(now))})" if now & old
                         else "does not resolve")
                raise Failure(f"endpoint {endpoint} {state} {self.p['dns_timeout']} s after the swap (dns_timeout); the "
                              "names are swapped - rerun with the same options to wait again")

    def plan_rest(self, o_id, r_id, p_id, o_inst, original):
        self.act("", f"wait for {r_id} and set on it what the restore call did not (backup retention, ...)")
        self.rename(o_id, p_id)
        self.rename(r_id, o_id)
        self.act("", f"tag {p_id} {REPLACED_AT}, {REPLACED_BY}={self.source}")
        self.act("", f"verify {o_id} against the original's settings ({', '.join(VERIFIED)})")
        return self.result(o_inst, None, {}, o_id)

    def result(self, o_inst, p_inst, verified, o_id):
        def brief(inst):
            if not inst:
                return {"id": "", "endpoint": ""}
            endpoint = inst.get("Endpoint") or {}
            return {"id": inst.get("DBInstanceIdentifier", ""), "arn": inst.get("DBInstanceArn", ""),
                    "status": inst.get("DBInstanceStatus", ""), "endpoint": endpoint.get("Address", ""),
                    "port": endpoint.get("Port")}
        instance = brief(o_inst)
        if o_inst:
            instance["settings"] = {k: settings_of(o_inst)[k] for k in VERIFIED}
        return {"changed": self.changed, "instance": instance, "replaced": brief(p_inst), "steps": self.steps,
                "settings_verified": verified, "source": self.source, "elapsed": round(self.clock.now() - self.started, 3),
                "ready_to_swap": False, "dns_seconds": getattr(self, "dns_seconds", None)}


Restore.argument_spec = dict(
    db_instance_identifier=dict(type="str", required=True),
    snapshot_identifier=dict(type="str"),
    restore_time=dict(type="str"),
    use_latest_restorable_time=dict(type="bool", default=False),
    restored_identifier=dict(type="str", required=True),
    replaced_identifier=dict(type="str", required=True),
    tags=dict(type="dict", default={}),
    wait_timeout=dict(type="int", default=3600),
    poll_interval=dict(type="int", default=15),
    swap=dict(type="bool", default=True),
    dns_wait=dict(type="bool", default=False),
    dns_timeout=dict(type="int", default=1200),
)


def main():
    Restore.main()

if __name__ == "__main__":
    main()
