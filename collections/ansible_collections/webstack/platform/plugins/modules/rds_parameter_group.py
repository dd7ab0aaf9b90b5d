#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rds_parameter_group
short_description: Manage an RDS DB parameter group and its parameters
version_added: 0.1.0
description:
  - Creates, updates and deletes an RDS DB parameter group (not an Aurora cluster parameter
    group), its parameter values and its tags.
  - Differs from M(amazon.aws.rds_instance_param_group) in three ways. It reads only the
    parameters set by the user (C(Source=user), one short call) and lists the engine's full
    parameter set only when a value has to change, to pick the apply method per parameter
    (V(pending-reboot) for static parameters, O(apply_method) for dynamic ones). It lets AWS
    validate unknown parameter names instead of refusing names it cannot find in the listing.
    And it treats an empty C(DescribeDBParameterGroups) answer as "not found", so it works
    against API emulators that answer that way (moto) as well as against AWS.
author:
  - webstack maintainers
options:
  name:
    description:
      - Name of the parameter group (stored lowercase by AWS).
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the group, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  family:
    description:
      - Parameter group family, for example V(postgres15). Required to create the group; cannot
        be changed afterwards (the module fails naming it).
    type: str
    aliases: [engine]
  description:
    description:
      - Description. Defaults to the name. Cannot be changed after creation.
    type: str
  parameters:
    description:
      - Parameter names and values. Booleans become V(1)/V(0), numbers are compared as strings.
      - Parameters not listed are left alone unless O(purge_parameters) is set.
    type: dict
    default: {}
    aliases: [params]
  purge_parameters:
    description:
      - Reset user-set parameters that are not in O(parameters) to their engine defaults.
    type: bool
    default: false
  apply_method:
    description:
      - How changes of dynamic parameters are applied. Static parameters always use
        V(pending-reboot).
    type: str
    choices: [immediate, pending-reboot]
    default: immediate
notes:
  - Supports check mode and diff mode.
  - "IAM permissions: C(rds:CreateDBParameterGroup), C(rds:DescribeDBParameterGroups),
    C(rds:DescribeDBParameters), C(rds:ModifyDBParameterGroup), C(rds:ResetDBParameterGroup),
    C(rds:DeleteDBParameterGroup), C(rds:ListTagsForResource), C(rds:AddTagsToResource),
    C(rds:RemoveTagsFromResource)."
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: PostgreSQL parameter group
  webstack.platform.rds_parameter_group:
    name: webstack-prod-postgres15
    family: postgres15
    description: webstack prod PostgreSQL settings
    parameters:
      rds.force_ssl: true
      log_min_duration_statement: 500
      shared_preload_libraries: pg_stat_statements
    tags:
      Project: webstack

- name: Delete it
  webstack.platform.rds_parameter_group:
    name: webstack-dev-postgres15
    state: absent
"""

RETURN = r"""
parameter_group:
  description: The group as returned by C(DescribeDBParameterGroups) (snake_case keys), with tags
    as a dict and the user-set parameters as a dict. Empty when absent or in check mode on creation.
  returned: always
  type: dict
  contains:
    db_parameter_group_name:
      description: Name.
      type: str
      sample: webstack-prod-postgres15
    db_parameter_group_family:
      description: Family.
      type: str
      sample: postgres15
    db_parameter_group_arn:
      description: ARN.
      type: str
    tags:
      description: Tags.
      type: dict
    parameters:
      description: User-set parameters (name to value).
      type: dict
changes:
  description: What changed (or would change in check mode), for example C(state), C(tags),
    C(parameters.rds.force_ssl).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.botocore import paginated_query_with_retries
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags
from ansible_collections.webstack.platform.plugins.module_utils.base import Layer

NOT_FOUND = ("DBParameterGroupNotFound", "DBParameterGroupNotFoundFault")
BATCH = 20  # ModifyDBParameterGroup / ResetDBParameterGroup accept at most 20 parameters


def to_aws_value(value):
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def describe_group(client, name):
    try:
        groups = client.describe_db_parameter_groups(DBParameterGroupName=name, aws_retry=True)["DBParameterGroups"]
    except is_boto3_error_code(NOT_FOUND):
        return None
    # AWS answers an unknown name with DBParameterGroupNotFound; some emulators with an empty list.
    return groups[0] if groups else None


def describe_parameters(client, name, source=None):
    kwargs = {"DBParameterGroupName": name}
    if source:
        kwargs["Source"] = source
    return paginated_query_with_retries(client, "describe_db_parameters", **kwargs).get("Parameters", [])


def user_parameters(parameters):
    # Emulators may omit Source; every parameter they list was set by the user.
    return {p["ParameterName"]: p.get("ParameterValue") for p in parameters
            if p.get("Source", "user") == "user" and "ParameterValue" in p}


def plan_parameters(module, client, name, current):
    """Return (modify list, reset names, change names)."""
    desired = {k: to_aws_value(v) for k, v in (module.params["parameters"] or {}).items()}
    to_set = {k: v for k, v in desired.items() if current.get(k) != v}
    to_reset = sorted(k for k in current if k not in desired) if module.params["purge_parameters"] else []
    if not to_set:
        return [], to_reset, [f"parameters.{k}" for k in to_reset]
    # Details (apply type, modifiability) of the parameters to change, from the full listing.
    details = {p["ParameterName"]: p for p in describe_parameters(client, name)}
    modify, not_modifiable = [], []
    for key in sorted(to_set):
        info = details.get(key, {})
        if info.get("IsModifiable") is False:
            not_modifiable.append(key)
            continue
        method = "pending-reboot" if info.get("ApplyType") == "static" else module.params["apply_method"]
        modify.append({"ParameterName": key, "ParameterValue": to_set[key], "ApplyMethod": method})
    if not_modifiable:
        module.fail_json(msg=f"parameters not modifiable in group {name}: {', '.join(not_modifiable)}")
    changes = [f"parameters.{k}" for k in sorted(to_set)] + [f"parameters.{k}" for k in to_reset]
    return modify, to_reset, changes


def apply_parameters(client, name, modify, reset):
    for i in range(0, len(modify), BATCH):
        client.modify_db_parameter_group(DBParameterGroupName=name, Parameters=modify[i:i + BATCH], aws_retry=True)
    for i in range(0, len(reset), BATCH):
        client.reset_db_parameter_group(
            DBParameterGroupName=name, ResetAllParameters=False, aws_retry=True,
            Parameters=[{"ParameterName": k, "ApplyMethod": "pending-reboot"} for k in reset[i:i + BATCH]])


def result_group(client, group, parameters, tags=None):
    """Snake-cased group with its tags (read unless already known) and user-set parameters."""
    out = camel_dict_to_snake_dict(group)
    if tags is None:
        tags = boto3_tag_list_to_ansible_dict(
            client.list_tags_for_resource(ResourceName=group["DBParameterGroupArn"], aws_retry=True).get("TagList", []))
    out["tags"] = tags
    out["parameters"] = parameters
    return out


def ensure_present(module, client):
    p = module.params
    name = p["name"].lower()
    group = describe_group(client, name)
    desired_params = {k: to_aws_value(v) for k, v in (p["parameters"] or {}).items()}

    if group is None:
        if not p.get("family"):
            module.fail_json(msg=f"family is required to create parameter group {name}")
        after = {"family": p["family"], "parameters": desired_params}
        if p.get("tags") is not None:
            after["tags"] = p["tags"]
        diff = {"before": {}, "after": after}
        if module.check_mode:
            module.exit_json(changed=True, parameter_group={}, changes=["state"], diff=diff)
        request = {"DBParameterGroupName": name, "DBParameterGroupFamily": p["family"],
                   "Description": p.get("description") or name}
        if p.get("tags"):
            request["Tags"] = ansible_dict_to_boto3_tag_list(p["tags"])
        group = client.create_db_parameter_group(aws_retry=True, **request)["DBParameterGroup"]
        modify, reset, _changes = plan_parameters(module, client, name, {})
        apply_parameters(client, name, modify, reset)
        module.exit_json(changed=True, parameter_group=result_group(client, group, desired_params, p.get("tags") or {}),
                         changes=["state"], diff=diff)

    if p.get("family") and p["family"] != group.get("DBParameterGroupFamily"):
        module.fail_json(msg=f"family of parameter group {name} is {group.get('DBParameterGroupFamily')} and cannot be "
                             f"changed to {p['family']}; create a group with another name")

    current = user_parameters(describe_parameters(client, name, source="user"))
    modify, reset, changes = plan_parameters(module, client, name, current)

    tags_to_set, tags_to_unset, current_tags = {}, [], None
    if p.get("tags") is not None:
        current_tags = boto3_tag_list_to_ansible_dict(client.list_tags_for_resource(
            ResourceName=group["DBParameterGroupArn"], aws_retry=True).get("TagList", []))
        tags_to_set, tags_to_unset = compare_aws_tags(current_tags, p["tags"], purge_tags=p["purge_tags"])
        if tags_to_set or tags_to_unset:
            changes.append("tags")

    changed_keys = [m["ParameterName"] for m in modify] + reset
    before = {"parameters": {k: current.get(k) for k in changed_keys}}
    after = {"parameters": {k: desired_params.get(k) for k in changed_keys}}
    if "tags" in changes:
        before["tags"] = current_tags
        after["tags"] = dict(current_tags if not p["purge_tags"] else {}, **p["tags"])
    diff = {"before": before, "after": after}

    final_params = dict(current)
    final_tags = current_tags
    if not module.check_mode and changes:
        apply_parameters(client, name, modify, reset)
        if tags_to_unset:
            client.remove_tags_from_resource(ResourceName=group["DBParameterGroupArn"], TagKeys=tags_to_unset,
                                             aws_retry=True)
        if tags_to_set:
            client.add_tags_to_resource(ResourceName=group["DBParameterGroupArn"],
                                        Tags=ansible_dict_to_boto3_tag_list(tags_to_set), aws_retry=True)
        final_params.update({m["ParameterName"]: m["ParameterValue"] for m in modify})
        for key in reset:
            final_params.pop(key, None)
        if current_tags is not None:
            final_tags = {k: v for k, v in current_tags.items() if k not in tags_to_unset}
            final_tags.update(tags_to_set)
    module.exit_json(changed=bool(changes), parameter_group=result_group(client, group, final_params, final_tags),
                     changes=changes, diff=diff)


def ensure_absent(module, client):
    name = module.params["name"].lower()
    group = describe_group(client, name)
    if group is None:
        module.exit_json(changed=False, parameter_group={}, changes=[])
    diff = {"before": {"name": name}, "after": {}}
    if not module.check_mode:
        try:
            client.delete_db_parameter_group(DBParameterGroupName=name, aws_retry=True)
        except is_boto3_error_code(NOT_FOUND):
            module.exit_json(changed=False, parameter_group={}, changes=[])
    module.exit_json(changed=True, parameter_group={}, changes=["state"], diff=diff)


class ParameterGroup(Layer):
    """The module run: the client with InvalidDBParameterGroupState retried, the group's state (the functions exit)."""

    retries = {"retries": 10, "delay": 3}
    retry_codes = {"rds": ("InvalidDBParameterGroupState",)}
    argument_spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        family=dict(type="str", aliases=["engine"]),
        description=dict(type="str"),
        parameters=dict(type="dict", default={}, aliases=["params"]),
        purge_parameters=dict(type="bool", default=False),
        apply_method=dict(type="str", choices=["immediate", "pending-reboot"], default="immediate"),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
    )

    def run(self):
        (ensure_present if self.p["state"] == "present" else ensure_absent)(self.module, self.client("rds"))

    def fail_aws(self, exc, msg, **result):
        self.module.fail_json_aws(exc, msg=f"Failed to manage DB parameter group {self.p['name']}")


def main():
    ParameterGroup.main()


if __name__ == "__main__":
    main()
