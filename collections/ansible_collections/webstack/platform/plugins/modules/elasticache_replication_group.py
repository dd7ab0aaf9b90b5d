#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: elasticache_replication_group
short_description: Manage an ElastiCache (Redis OSS / Valkey) replication group
version_added: 0.1.0
description:
  - Creates, modifies and deletes an Amazon ElastiCache replication group with cluster mode
    disabled (one primary plus up to five read replicas).
  - Only the options that are set are managed; an option left unset is neither compared nor
    changed.
  - Creation can be started with O(wait=false) and waited on later by a second task with
    O(state=present) and O(wait=true) and the same options, which then only waits.
  - The AUTH token cannot be read back from AWS. It is sent on creation, and on an existing group
    only when O(auth_token_update_strategy) is set (a deliberate rotation, so do not leave the
    strategy set permanently in an inventory; every run with it set rotates the token).
  - Settings AWS cannot change on an existing group (subnet group, port, at-rest encryption, KMS
    key, in-transit encryption) make the module fail naming the option instead of silently
    ignoring the difference.
  - The engine version, parameter group, security groups and maintenance window are not part of
    C(DescribeReplicationGroups); they are read from the primary's member cluster
    (C(DescribeCacheClusters)). When that cluster cannot be read the options are reported in
    RV(unverified) and not compared.
  - The number of nodes is created as one node group with O(num_cache_clusters) - 1 replicas
    (C(NumNodeGroups=1), C(ReplicasPerNodeGroup)), which for a cluster-mode-disabled group is
    equivalent to C(NumCacheClusters) and changed later with C(IncreaseReplicaCount) /
    C(DecreaseReplicaCount).
author:
  - webstack maintainers
options:
  replication_group_id:
    description:
      - The replication group identifier (1-40 lowercase letters, digits or hyphens, starting with
        a letter).
    type: str
    required: true
    aliases: [name]
  state:
    description:
      - V(present) creates or updates the group, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  description:
    description:
      - Description of the group. Required by AWS on creation; defaults to the identifier.
    type: str
  engine:
    description:
      - Cache engine.
    type: str
    choices: [redis, valkey]
  engine_version:
    description:
      - Engine version, for example V(7.1). A prefix matches (V(7.1) matches V(7.1.0)).
    type: str
  cache_node_type:
    description:
      - Node type, for example V(cache.t4g.small).
    type: str
  num_cache_clusters:
    description:
      - Number of nodes, primary included (1-6).
      - Must be at least 2 when O(automatic_failover) or O(multi_az) is true.
    type: int
  automatic_failover:
    description:
      - Whether a replica is promoted automatically when the primary fails.
    type: bool
  multi_az:
    description:
      - Whether the nodes are spread over Availability Zones with Multi-AZ failover.
      - Requires O(automatic_failover).
    type: bool
  cache_subnet_group_name:
    description:
      - Name of the cache subnet group (VPC placement). Cannot be changed after creation.
    type: str
  security_group_ids:
    description:
      - VPC security group IDs of the nodes. Compared as a set.
    type: list
    elements: str
  cache_parameter_group_name:
    description:
      - Name of the cache parameter group.
    type: str
  port:
    description:
      - Port the nodes listen on. Cannot be changed after creation.
    type: int
  at_rest_encryption:
    description:
      - Encrypt data at rest. Cannot be changed after creation.
    type: bool
  kms_key_id:
    description:
      - KMS key for at-rest encryption (the AWS-managed key when unset). Cannot be changed after
        creation.
    type: str
  transit_encryption:
    description:
      - Encrypt traffic (TLS). Required for an AUTH token. Cannot be changed by this module after
        creation.
    type: bool
  auth_token:
    description:
      - The AUTH token (16-128 characters, only letters, digits and C(!&#$^<>-)). Requires
        O(transit_encryption).
      - Used on creation; on an existing group only together with O(auth_token_update_strategy).
    type: str
  auth_token_update_strategy:
    description:
      - Change the AUTH token of an existing group. V(ROTATE) adds O(auth_token) next to the
        current one, V(SET) replaces it (AWS allows SET only after a ROTATE), V(DELETE) removes token
        authentication (AWS allows it only when the group moves to RBAC user groups, which this module
        does not manage, so the module refuses it).
      - V(ROTATE) and V(SET) are sent on every run they are set (the token cannot be compared);
        V(DELETE) only when the group has a token.
    type: str
    choices: [ROTATE, SET, DELETE]
  snapshot_retention_limit:
    description:
      - Days automatic snapshots are kept. V(0) disables automatic snapshots.
    type: int
  snapshot_window:
    description:
      - Daily UTC time range for automatic snapshots, for example V(03:00-04:00).
    type: str
  preferred_maintenance_window:
    description:
      - Weekly UTC maintenance window, for example V(sun:05:00-sun:06:00).
    type: str
  final_snapshot_identifier:
    description:
      - With O(state=absent), the name of a final snapshot taken before deletion.
    type: str
  apply_immediately:
    description:
      - Apply modifications now rather than in the next maintenance window.
    type: bool
    default: true
  wait:
    description:
      - Wait until the group is V(available) (O(state=present)) or gone (O(state=absent)).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait, for O(wait) and for a busy group that must become available before it can
        be modified.
    type: int
    default: 1800
  poll_interval:
    description:
      - Seconds between two polls while waiting (default 15).
    type: int
notes:
  - Supports check mode (reports what would change) and diff mode (no AUTH token in the diff).
  - "IAM permissions: C(elasticache:CreateReplicationGroup), C(elasticache:ModifyReplicationGroup),
    C(elasticache:DeleteReplicationGroup), C(elasticache:DescribeReplicationGroups),
    C(elasticache:DescribeCacheClusters), C(elasticache:IncreaseReplicaCount),
    C(elasticache:DecreaseReplicaCount), C(elasticache:ListTagsForResource),
    C(elasticache:AddTagsToResource), C(elasticache:RemoveTagsFromResource),
    C(elasticache:CreateSnapshot) (final snapshot), plus C(ec2:Describe*) for the VPC placement
    and C(kms:CreateGrant)/C(kms:DescribeKey) with a customer-managed key."
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Start creating the Redis replication group (do not wait)
  webstack.platform.elasticache_replication_group:
    replication_group_id: webstack-prod
    description: webstack prod cache
    engine: redis
    engine_version: "7.1"
    cache_node_type: cache.t4g.small
    num_cache_clusters: 2
    automatic_failover: true
    multi_az: true
    cache_subnet_group_name: webstack-prod
    security_group_ids: [sg-0123456789abcdef0]
    at_rest_encryption: true
    transit_encryption: true
    auth_token: "{{ vault_redis_password }}"
    snapshot_retention_limit: 7
    snapshot_window: "03:00-04:00"
    tags:
      Project: webstack
    wait: false
  no_log: true

# ... start other long creations here ...

- name: Wait for the replication group (same options, so it only waits)
  webstack.platform.elasticache_replication_group:
    replication_group_id: webstack-prod
    description: webstack prod cache
    cache_node_type: cache.t4g.small
    num_cache_clusters: 2
    wait: true
  register: redis

- name: Rotate the AUTH token (run once, e.g. with -e)
  webstack.platform.elasticache_replication_group:
    replication_group_id: webstack-prod
    auth_token: "{{ vault_redis_password_new }}"
    auth_token_update_strategy: ROTATE
  no_log: true

- name: Delete the group, keeping a final snapshot
  webstack.platform.elasticache_replication_group:
    replication_group_id: webstack-dev
    state: absent
    final_snapshot_identifier: webstack-dev-final
"""

RETURN = r"""
replication_group:
  description:
    - The replication group as returned by C(DescribeReplicationGroups) (snake_case keys), with
      its tags as a dict. Empty when absent or when it would be created in check mode.
  returned: always
  type: dict
  contains:
    replication_group_id:
      description: Identifier.
      type: str
      sample: webstack-prod
    status:
      description: Status (creating, available, modifying, deleting, ...).
      type: str
      sample: available
    member_clusters:
      description: IDs of the member cache clusters.
      type: list
      elements: str
    node_groups:
      description: Node group with the primary and reader endpoints.
      type: list
      elements: dict
    automatic_failover:
      description: V(enabled), V(disabled), V(enabling) or V(disabling).
      type: str
    multi_az:
      description: V(enabled) or V(disabled).
      type: str
    at_rest_encryption_enabled:
      description: At-rest encryption.
      type: bool
    transit_encryption_enabled:
      description: In-transit encryption.
      type: bool
    auth_token_enabled:
      description: Whether an AUTH token is set.
      type: bool
    arn:
      description: ARN of the group.
      type: str
    tags:
      description: Tags.
      type: dict
changes:
  description: Names of the options that were (or in check mode would be) changed.
  returned: always
  type: list
  elements: str
  sample: [cache_node_type, tags]
unverified:
  description: Options that were set but could not be read back from AWS and were not compared.
  returned: always
  type: list
  elements: str
  sample: []
"""

import re

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags
from ansible_collections.webstack.platform.plugins.module_utils.base import AWS_ERRORS, Layer
from ansible_collections.webstack.platform.plugins.module_utils.waiter import Waiter

# ElastiCache AUTH tokens: 16-128 printable characters, the only special ones !&#$^<>-.
AUTH_TOKEN = re.compile(r"^[A-Za-z0-9!&#$^<>-]{16,128}$")
# Seconds between two polls while waiting. Module-level so unit tests can set it to 0.
POLL_DELAY = 15

NOT_FOUND = "ReplicationGroupNotFoundFault"
CLUSTER_NOT_FOUND = ("CacheClusterNotFound", "CacheClusterNotFoundFault")
BUSY = ("InvalidReplicationGroupState", "InvalidReplicationGroupStateFault")
TRANSIENT = ("creating", "modifying", "snapshotting")

# Options AWS cannot change on an existing group.
IMMUTABLE = ("cache_subnet_group_name", "port", "at_rest_encryption", "kms_key_id", "transit_encryption")
# Options read from the member cache cluster rather than the replication group.
FROM_MEMBER = ("engine_version", "cache_parameter_group_name", "security_group_ids",
               "preferred_maintenance_window", "cache_subnet_group_name")


class WaitTimeout(Exception):
    pass


def describe_group(client, group_id):
    try:
        groups = client.describe_replication_groups(ReplicationGroupId=group_id, aws_retry=True)
    except is_boto3_error_code(NOT_FOUND):
        return None
    return groups["ReplicationGroups"][0]


def describe_member(client, group):
    """The primary member cluster (holds engine version, SGs, parameter group, ...) or None."""
    members = group.get("MemberClusters") or []
    primary = None
    for node_group in group.get("NodeGroups") or []:
        for member in node_group.get("NodeGroupMembers") or []:
            if member.get("CurrentRole") == "primary":
                primary = member.get("CacheClusterId")
    cluster_id = primary or (members[0] if members else None)
    if not cluster_id:
        return None
    try:
        clusters = client.describe_cache_clusters(CacheClusterId=cluster_id, aws_retry=True)
    except is_boto3_error_code(CLUSTER_NOT_FOUND):
        return None
    return (clusters.get("CacheClusters") or [None])[0]


def get_tags(client, arn):
    result = client.list_tags_for_resource(ResourceName=arn, aws_retry=True)
    return boto3_tag_list_to_ansible_dict(result.get("TagList", []))


def wait_for(module, client, group_id, target):
    """Poll until the group is available (target='available') or gone (target='absent')."""
    waiter = Waiter(module.params["wait_timeout"],
                    POLL_DELAY if module.params.get("poll_interval") is None else module.params["poll_interval"])
    while True:
        group = describe_group(client, group_id)
        if target == "absent" and group is None:
            return None
        if target == "available" and group is not None and group.get("Status") == "available":
            return group
        if target == "available" and group is None:
            module.fail_json(msg=f"Replication group {group_id} disappeared while waiting for it to become available")
        if group is not None and group.get("Status") in ("create-failed",):
            module.fail_json(msg=f"Replication group {group_id} is in status {group['Status']}",
                             replication_group=camel_dict_to_snake_dict(group))
        if not waiter.sleep():
            raise WaitTimeout(
                f"Timed out after {module.params['wait_timeout']}s waiting for replication group {group_id} "
                f"to become {target} (last status: {group.get('Status') if group else 'absent'})"
            )


def current_view(group, member):
    """Comparable values of an existing group, keyed by module option name."""
    pending = group.get("PendingModifiedValues") or {}
    failover = pending.get("AutomaticFailoverStatus") or group.get("AutomaticFailover", "disabled")
    node_groups = group.get("NodeGroups") or []
    port = None
    if node_groups:
        port = (node_groups[0].get("PrimaryEndpoint") or {}).get("Port") or node_groups[0].get("Port")
    view = {
        "description": group.get("Description"),
        "engine": group.get("Engine"),
        "cache_node_type": group.get("CacheNodeType"),
        "num_cache_clusters": len(group.get("MemberClusters") or []),
        "automatic_failover": failover in ("enabled", "enabling"),
        "multi_az": group.get("MultiAZ") == "enabled",
        "at_rest_encryption": bool(group.get("AtRestEncryptionEnabled")),
        "kms_key_id": group.get("KmsKeyId"),
        "transit_encryption": bool(group.get("TransitEncryptionEnabled")),
        "snapshot_retention_limit": group.get("SnapshotRetentionLimit"),
        "snapshot_window": group.get("SnapshotWindow"),
        "port": port,
    }
    if member is not None:
        view["engine_version"] = member.get("EngineVersion")
        view["cache_parameter_group_name"] = (member.get("CacheParameterGroup") or {}).get("CacheParameterGroupName")
        view["security_group_ids"] = sorted(sg["SecurityGroupId"] for sg in member.get("SecurityGroups") or [])
        view["preferred_maintenance_window"] = member.get("PreferredMaintenanceWindow")
        view["cache_subnet_group_name"] = member.get("CacheSubnetGroupName")
        pending_cluster = member.get("PendingModifiedValues") or {}
        if pending_cluster.get("CacheNodeType"):
            view["cache_node_type"] = pending_cluster["CacheNodeType"]
        if pending_cluster.get("EngineVersion"):
            view["engine_version"] = pending_cluster["EngineVersion"]
    return view


def same(option, desired, actual):
    if option == "engine_version":
        return actual is not None and (actual == desired or actual.startswith(desired + "."))
    if option == "security_group_ids":
        return sorted(set(desired)) == sorted(set(actual or []))
    if option in ("preferred_maintenance_window", "snapshot_window", "engine", "cache_node_type"):
        return actual is not None and str(desired).lower() == str(actual).lower()
    if option == "kms_key_id":
        # AWS returns the key ARN; accept a key id or alias given as the trailing part.
        return actual is not None and (actual == desired or actual.endswith("/" + desired.split("/")[-1]))
    return desired == actual


COMPARED = ("description", "engine", "engine_version", "cache_node_type", "num_cache_clusters",
            "automatic_failover", "multi_az", "cache_subnet_group_name", "security_group_ids",
            "cache_parameter_group_name", "port", "at_rest_encryption", "kms_key_id",
            "transit_encryption", "snapshot_retention_limit", "snapshot_window",
            "preferred_maintenance_window")


def differences(params, view):
    """(changed option names, unverified option names)."""
    changed, unverified = [], []
    for option in COMPARED:
        desired = params.get(option)
        if desired is None:
            continue
        if option not in view or (option == "kms_key_id" and "alias/" in desired):
            # Not readable here (member cluster), or an alias AWS reports as the key ARN.
            unverified.append(option)
            continue
        if not same(option, desired, view[option]):
            changed.append(option)
    return changed, unverified


def create_params(params):
    p = params
    request = {
        "ReplicationGroupId": p["replication_group_id"],
        "ReplicationGroupDescription": p["description"] or p["replication_group_id"],
    }
    mapping = {
        "engine": "Engine",
        "engine_version": "EngineVersion",
        "cache_node_type": "CacheNodeType",
        "automatic_failover": "AutomaticFailoverEnabled",
        "multi_az": "MultiAZEnabled",
        "cache_subnet_group_name": "CacheSubnetGroupName",
        "security_group_ids": "SecurityGroupIds",
        "cache_parameter_group_name": "CacheParameterGroupName",
        "port": "Port",
        "at_rest_encryption": "AtRestEncryptionEnabled",
        "kms_key_id": "KmsKeyId",
        "transit_encryption": "TransitEncryptionEnabled",
        "auth_token": "AuthToken",
        "snapshot_retention_limit": "SnapshotRetentionLimit",
        "snapshot_window": "SnapshotWindow",
        "preferred_maintenance_window": "PreferredMaintenanceWindow",
    }
    for option, key in mapping.items():
        if p.get(option) is not None:
            request[key] = p[option]
    if p.get("num_cache_clusters") is not None:
        request["NumNodeGroups"] = 1
        request["ReplicasPerNodeGroup"] = p["num_cache_clusters"] - 1
    if p.get("tags"):
        request["Tags"] = ansible_dict_to_boto3_tag_list(p["tags"])
    return request


MODIFY_KEYS = {
    "description": "ReplicationGroupDescription",
    "engine": "Engine",
    "engine_version": "EngineVersion",
    "cache_node_type": "CacheNodeType",
    "automatic_failover": "AutomaticFailoverEnabled",
    "multi_az": "MultiAZEnabled",
    "security_group_ids": "SecurityGroupIds",
    "cache_parameter_group_name": "CacheParameterGroupName",
    "snapshot_retention_limit": "SnapshotRetentionLimit",
    "snapshot_window": "SnapshotWindow",
    "preferred_maintenance_window": "PreferredMaintenanceWindow",
}


def validate(module):
    p = module.params
    n = p.get("num_cache_clusters")
    if n is not None and not 1 <= n <= 6:
        module.fail_json(msg=f"num_cache_clusters must be between 1 and 6, got {n}")
    if n is not None and n < 2 and (p.get("automatic_failover") or p.get("multi_az")):
        module.fail_json(msg="num_cache_clusters must be at least 2 when automatic_failover or multi_az is true")
    if p.get("multi_az") and p.get("automatic_failover") is False:
        module.fail_json(msg="multi_az requires automatic_failover")
    token = p.get("auth_token")
    if token is not None:
        if not AUTH_TOKEN.match(token):
            module.fail_json(msg="auth_token must be 16-128 characters, only letters, digits and the special characters "
                                 "!&#$^<>- (ElastiCache AUTH token rule)")
        if p.get("transit_encryption") is False:
            module.fail_json(msg="auth_token requires transit_encryption")
    if p.get("auth_token_update_strategy") == "DELETE":
        # AWS: DELETE is allowed only when transitioning to RBAC (user groups), which this module does not manage
        module.fail_json(msg="auth_token_update_strategy=DELETE is only valid when the group moves to RBAC user groups "
                             "(ElastiCache rule), which this module does not manage; do that migration with the "
                             "user-group API")
    if p.get("auth_token_update_strategy") in ("ROTATE", "SET") and token is None:
        module.fail_json(msg="auth_token_update_strategy ROTATE or SET requires auth_token")
    if p.get("snapshot_retention_limit") is not None and p["snapshot_retention_limit"] < 0:
        module.fail_json(msg="snapshot_retention_limit must not be negative")


def result_group(client, group, tags=None):
    """Snake-cased group with its tags (read unless already known)."""
    if not group:
        return {}
    if tags is None:
        tags = get_tags(client, group["ARN"]) if group.get("ARN") else {}
    out = camel_dict_to_snake_dict(group, ignore_list=["Tags"])
    out["tags"] = tags
    return out


def ensure_present(module, client):
    p = module.params
    group_id = p["replication_group_id"]
    group = describe_group(client, group_id)

    if group is None or group.get("Status") == "deleting":
        if group is not None:
            module.fail_json(msg=f"Replication group {group_id} is being deleted; retry when it is gone")
        diff_after = {k: p.get(k) for k in COMPARED if p.get(k) is not None}
        if p.get("tags") is not None:
            diff_after["tags"] = p["tags"]
        changes = sorted(diff_after)
        if module.check_mode:
            module.exit_json(changed=True, replication_group={}, changes=changes, unverified=[],
                             diff={"before": {}, "after": diff_after})
        try:
            group = client.create_replication_group(aws_retry=True, **create_params(p))["ReplicationGroup"]
        except AWS_ERRORS as e:
            module.fail_json_aws(e, msg=f"Failed to create replication group {group_id}")
        if p["wait"]:
            group = wait_for(module, client, group_id, "available")
        module.exit_json(changed=True, replication_group=result_group(client, group, p.get("tags") or {}),
                         changes=changes, unverified=[], diff={"before": {}, "after": diff_after})

    member = describe_member(client, group)
    view = current_view(group, member)
    changes, unverified = differences(p, view)

    tags_to_set, tags_to_unset = {}, []
    current_tags = None
    if p.get("tags") is not None:
        current_tags = get_tags(client, group["ARN"])
        tags_to_set, tags_to_unset = compare_aws_tags(current_tags, p["tags"], purge_tags=p["purge_tags"])
        if tags_to_set or tags_to_unset:
            changes.append("tags")

    token_action = None
    strategy = p.get("auth_token_update_strategy")
    if strategy in ("ROTATE", "SET"):
        token_action = strategy
    elif strategy == "DELETE" and group.get("AuthTokenEnabled"):
        token_action = strategy
    elif p.get("auth_token") is not None and not group.get("AuthTokenEnabled") and not strategy:
        module.warn(f"Replication group {group_id} has no AUTH token; set auth_token_update_strategy=ROTATE "
                    "to add one (auth_token is only applied on creation otherwise)")
    if token_action:
        changes.append("auth_token")

    immutable = [o for o in changes if o in IMMUTABLE]
    before = {k: view.get(k) for k in changes if k not in ("tags", "auth_token")}
    after = {k: p.get(k) for k in changes if k not in ("tags", "auth_token")}
    if "tags" in changes:
        before["tags"] = current_tags
        after["tags"] = dict(current_tags if not p["purge_tags"] else {}, **p["tags"])
    if "auth_token" in changes:
        before["auth_token"] = "(not readable)"
        after["auth_token"] = f"(updated with strategy {token_action})"
    diff = {"before": before, "after": after}

    if immutable:
        module.fail_json(
            msg=f"Replication group {group_id}: {', '.join(immutable)} cannot be changed on an existing group "
                f"(current: {', '.join(f'{o}={view.get(o)!r}' for o in immutable)}); recreate the group to change it",
            changes=changes, diff=diff,
        )

    if module.check_mode or not changes:
        if not changes and p["wait"] and not module.check_mode and group.get("Status") != "available":
            try:
                group = wait_for(module, client, group_id, "available")
            except WaitTimeout as e:
                module.fail_json(msg=str(e))
        module.exit_json(changed=bool(changes), replication_group=result_group(client, group, current_tags),
                         changes=changes, unverified=unverified, diff=diff)

    # Modifications need an available group.
    if group.get("Status") != "available":
        try:
            group = wait_for(module, client, group_id, "available")
        except WaitTimeout as e:
            module.fail_json(msg=f"{e}; cannot modify it before that")

    request = {}
    for option in changes:
        if option in MODIFY_KEYS:
            request[MODIFY_KEYS[option]] = p[option]
    if token_action:
        request["AuthTokenUpdateStrategy"] = token_action
        if token_action != "DELETE":
            request["AuthToken"] = p["auth_token"]
    if request:
        request["ReplicationGroupId"] = group_id
        request["ApplyImmediately"] = p["apply_immediately"]
    resize = None
    if "num_cache_clusters" in changes:
        resize = "increase" if p["num_cache_clusters"] > view["num_cache_clusters"] else "decrease"

    def change_replicas():
        getattr(client, f"{resize}_replica_count")(
            ReplicationGroupId=group_id, NewReplicaCount=p["num_cache_clusters"] - 1, ApplyImmediately=True,
            aws_retry=True)
        return wait_for(module, client, group_id, "available")

    try:
        # Add replicas before enabling failover on them; turn failover off before removing them.
        if resize == "increase":
            group = change_replicas()
        if request:
            group = client.modify_replication_group(aws_retry=True, **request)["ReplicationGroup"]
        if resize == "decrease":
            if request:
                group = wait_for(module, client, group_id, "available")
            group = change_replicas()
        if tags_to_unset:
            client.remove_tags_from_resource(ResourceName=group["ARN"], TagKeys=tags_to_unset, aws_retry=True)
        if tags_to_set:
            client.add_tags_to_resource(ResourceName=group["ARN"], Tags=ansible_dict_to_boto3_tag_list(tags_to_set),
                                        aws_retry=True)
    except AWS_ERRORS as e:
        module.fail_json_aws(e, msg=f"Failed to modify replication group {group_id}", changes=changes)
    if p["wait"]:
        group = wait_for(module, client, group_id, "available")
    final_tags = None
    if current_tags is not None:
        final_tags = {k: v for k, v in current_tags.items() if k not in tags_to_unset}
        final_tags.update(tags_to_set)
    module.exit_json(changed=True, replication_group=result_group(client, group, final_tags), changes=changes,
                     unverified=unverified, diff=diff)


def ensure_absent(module, client):
    p = module.params
    group_id = p["replication_group_id"]
    group = describe_group(client, group_id)
    if group is None:
        module.exit_json(changed=False, replication_group={}, changes=[], unverified=[])
    if group.get("Status") == "deleting":
        if p["wait"] and not module.check_mode:
            wait_for(module, client, group_id, "absent")
        module.exit_json(changed=False, replication_group=camel_dict_to_snake_dict(group), changes=[], unverified=[])
    diff = {"before": {"replication_group_id": group_id, "status": group.get("Status")}, "after": {}}
    if module.check_mode:
        module.exit_json(changed=True, replication_group=camel_dict_to_snake_dict(group), changes=["state"],
                         unverified=[], diff=diff)
    request = {"ReplicationGroupId": group_id, "RetainPrimaryCluster": False}
    if p.get("final_snapshot_identifier"):
        request["FinalSnapshotIdentifier"] = p["final_snapshot_identifier"]
    if group.get("Status") in TRANSIENT:
        # AWS refuses to delete a group while it is being created or modified.
        group = wait_for(module, client, group_id, "available")
    try:
        group = client.delete_replication_group(aws_retry=True, **request)["ReplicationGroup"]
    except is_boto3_error_code(NOT_FOUND):
        module.exit_json(changed=False, replication_group={}, changes=[], unverified=[])
    except AWS_ERRORS as e:
        module.fail_json_aws(e, msg=f"Failed to delete replication group {group_id}")
    if p["wait"]:
        wait_for(module, client, group_id, "absent")
        group = {}
    module.exit_json(changed=True, replication_group=camel_dict_to_snake_dict(group), changes=["state"],
                     unverified=[], diff=diff)


class ReplicationGroup(Layer):
    """The module run: validation, the client with BUSY retried, the group's state; the functions above exit."""

    retries = {"retries": 10, "delay": 3}
    retry_codes = {"elasticache": BUSY}

    @classmethod
    def validate(cls, module):
        validate(module)

    def run(self):
        client = self.client("elasticache")
        try:
            if self.p["state"] == "present":
                ensure_present(self.module, client)
            else:
                ensure_absent(self.module, client)
        except WaitTimeout as e:
            self.fail(str(e))

    def fail_aws(self, exc, msg, **result):
        self.module.fail_json_aws(exc, msg=f"Failed to manage replication group {self.p['replication_group_id']}")


ReplicationGroup.argument_spec = dict(
    replication_group_id=dict(type="str", required=True, aliases=["name"]),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    description=dict(type="str"),
    engine=dict(type="str", choices=["redis", "valkey"]),
    engine_version=dict(type="str"),
    cache_node_type=dict(type="str"),
    num_cache_clusters=dict(type="int"),
    automatic_failover=dict(type="bool"),
    multi_az=dict(type="bool"),
    cache_subnet_group_name=dict(type="str"),
    security_group_ids=dict(type="list", elements="str"),
    cache_parameter_group_name=dict(type="str"),
    port=dict(type="int"),
    at_rest_encryption=dict(type="bool"),
    kms_key_id=dict(type="str"),
    transit_encryption=dict(type="bool"),
    auth_token=dict(type="str", no_log=True),
    auth_token_update_strategy=dict(type="str", choices=["ROTATE", "SET", "DELETE"]),
    snapshot_retention_limit=dict(type="int"),
    snapshot_window=dict(type="str"),
    preferred_maintenance_window=dict(type="str"),
    final_snapshot_identifier=dict(type="str"),
    apply_immediately=dict(type="bool", default=True),
    tags=dict(type="dict", aliases=["resource_tags"]),
    purge_tags=dict(type="bool", default=True),
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="int", default=1800),
    poll_interval=dict(type="int"),
)


def main():
    ReplicationGroup.main()


if __name__ == "__main__":
    main()
