#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vpc_flow_log
short_description: Manage a VPC flow log to CloudWatch Logs or S3
version_added: 0.1.0
description:
  - Creates or deletes the flow log of a VPC (or subnet or network interface) that delivers to
    one destination, a CloudWatch Logs log group or an S3 bucket.
  - A flow log is identified by its resource and its destination. AWS cannot modify a flow log;
    when the traffic type, log format, aggregation interval or IAM role differ, the module
    replaces it (delete, then create). Tags are updated in place.
author:
  - webstack maintainers
options:
  resource_id:
    description:
      - ID of the VPC, subnet or network interface.
    type: str
    required: true
    aliases: [vpc_id]
  resource_type:
    description:
      - Kind of O(resource_id).
    type: str
    choices: [VPC, Subnet, NetworkInterface]
    default: VPC
  state:
    description:
      - V(present) ensures the flow log exists, V(absent) deletes it.
      - With V(absent) and no destination option, every flow log of the resource is deleted.
    type: str
    choices: [present, absent]
    default: present
  destination_type:
    description:
      - Where the records are delivered.
    type: str
    choices: [cloud-watch-logs, s3]
    default: cloud-watch-logs
  log_group_name:
    description:
      - CloudWatch Logs log group (with O(destination_type=cloud-watch-logs)).
    type: str
  deliver_logs_permission_arn:
    description:
      - ARN of the IAM role that lets the flow-logs service write to the log group. Required with
        O(destination_type=cloud-watch-logs).
    type: str
    aliases: [iam_role_arn]
  log_destination:
    description:
      - ARN of the S3 bucket, optionally with a folder (C(arn:aws:s3:::bucket/prefix/)), with
        O(destination_type=s3).
    type: str
  traffic_type:
    description:
      - Which traffic is logged.
    type: str
    choices: [ACCEPT, REJECT, ALL]
    default: ALL
  log_format:
    description:
      - Custom record format (C(${field} ...)). Unset means the AWS default format and is not
        compared.
    type: str
  max_aggregation_interval:
    description:
      - Seconds over which packets are aggregated into a record.
    type: int
    choices: [60, 600]
    default: 600
  tags:
    description:
      - Tags of the flow log. Unset means tags are not managed.
    type: dict
    aliases: [resource_tags]
  purge_tags:
    description:
      - Remove tags not listed in O(tags).
    type: bool
    default: true
notes:
  - Supports check mode and diff mode.
  - "IAM permissions: C(ec2:CreateFlowLogs), C(ec2:DescribeFlowLogs), C(ec2:DeleteFlowLogs),
    C(ec2:CreateTags), C(ec2:DeleteTags), and C(iam:PassRole) on O(deliver_logs_permission_arn)
    (CloudWatch Logs) or C(logs:CreateLogDelivery) and the bucket policy (S3)."
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: VPC flow log to CloudWatch Logs
  webstack.platform.vpc_flow_log:
    resource_id: "{{ vpc.vpc.id }}"
    log_group_name: /webstack/prod/vpc-flow-logs
    deliver_logs_permission_arn: "{{ flow_logs_role.iam_role.arn }}"
    traffic_type: ALL
    max_aggregation_interval: 60
    tags:
      Project: webstack

- name: VPC flow log to S3
  webstack.platform.vpc_flow_log:
    resource_id: "{{ vpc.vpc.id }}"
    destination_type: s3
    log_destination: arn:aws:s3:::webstack-prod-logs/vpc-flow-logs/

- name: Remove every flow log of the VPC
  webstack.platform.vpc_flow_log:
    resource_id: "{{ vpc.vpc.id }}"
    state: absent
"""

RETURN = r"""
flow_log:
  description: The flow log as returned by C(DescribeFlowLogs) (snake_case keys, tags as a dict).
    Empty when absent or when it would be created in check mode.
  returned: always
  type: dict
  contains:
    flow_log_id:
      description: ID of the flow log.
      type: str
      sample: fl-0123456789abcdef0
    resource_id:
      description: The logged resource.
      type: str
    traffic_type:
      description: Logged traffic.
      type: str
    log_destination_type:
      description: V(cloud-watch-logs) or V(s3).
      type: str
    log_group_name:
      description: Log group (CloudWatch Logs destination).
      type: str
    log_destination:
      description: Destination ARN.
      type: str
    deliver_logs_status:
      description: V(SUCCESS) or V(FAILED).
      type: str
    tags:
      description: Tags.
      type: dict
deleted:
  description: IDs of flow logs deleted (state absent, or replaced).
  returned: always
  type: list
  elements: str
changes:
  description: Names of the options that differed (a replacement or a tag update), or C(state).
  returned: always
  type: list
  elements: str
"""

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_specifications
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags


@AWSRetry.jittered_backoff()
def _describe(client, resource_id):
    paginator = client.get_paginator("describe_flow_logs")
    return paginator.paginate(Filters=[{"Name": "resource-id", "Values": [resource_id]}]).build_full_result()["FlowLogs"]


def _norm_dest(value):
    return value.rstrip("/") if value else value


def matches_destination(flow_log, params):
    if params["destination_type"] == "s3":
        if params.get("log_destination") is None:
            return flow_log.get("LogDestinationType") == "s3"
        return (flow_log.get("LogDestinationType") == "s3"
                and _norm_dest(flow_log.get("LogDestination")) == _norm_dest(params["log_destination"]))
    if flow_log.get("LogDestinationType", "cloud-watch-logs") != "cloud-watch-logs":
        return False
    if params.get("log_group_name") is None:
        return True
    if flow_log.get("LogGroupName") == params["log_group_name"]:
        return True
    # AWS may report only the log group ARN in LogDestination.
    dest = flow_log.get("LogDestination") or ""
    return dest.endswith(":log-group:" + params["log_group_name"]) or dest.endswith(
        ":log-group:" + params["log_group_name"] + ":*")


def differences(flow_log, params):
    changed = []
    if flow_log.get("TrafficType") != params["traffic_type"]:
        changed.append("traffic_type")
    if flow_log.get("MaxAggregationInterval", 600) != params["max_aggregation_interval"]:
        changed.append("max_aggregation_interval")
    if params.get("log_format") is not None and flow_log.get("LogFormat") != params["log_format"]:
        changed.append("log_format")
    if (params["destination_type"] == "cloud-watch-logs"
            and flow_log.get("DeliverLogsPermissionArn") != params.get("deliver_logs_permission_arn")):
        changed.append("deliver_logs_permission_arn")
    return changed


def view(flow_log):
    return {
        "flow_log_id": flow_log.get("FlowLogId"),
        "traffic_type": flow_log.get("TrafficType"),
        "max_aggregation_interval": flow_log.get("MaxAggregationInterval"),
        "log_format": flow_log.get("LogFormat"),
        "deliver_logs_permission_arn": flow_log.get("DeliverLogsPermissionArn"),
        "log_destination_type": flow_log.get("LogDestinationType"),
        "log_group_name": flow_log.get("LogGroupName"),
        "log_destination": flow_log.get("LogDestination"),
        "tags": boto3_tag_list_to_ansible_dict(flow_log.get("Tags", [])),
    }


def wanted(params):
    out = {
        "traffic_type": params["traffic_type"],
        "max_aggregation_interval": params["max_aggregation_interval"],
        "log_destination_type": params["destination_type"],
    }
    for key in ("log_format", "deliver_logs_permission_arn", "log_group_name", "log_destination", "tags"):
        if params.get(key) is not None:
            out[key] = params[key]
    return out


def result(flow_log):
    if not flow_log:
        return {}
    out = camel_dict_to_snake_dict(flow_log, ignore_list=["Tags"])
    out.pop("tags", None)
    out["tags"] = boto3_tag_list_to_ansible_dict(flow_log.get("Tags", []))
    return out


def create(module, client):
    p = module.params
    request = {
        "ResourceIds": [p["resource_id"]],
        "ResourceType": p["resource_type"],
        "TrafficType": p["traffic_type"],
        "LogDestinationType": p["destination_type"],
        "MaxAggregationInterval": p["max_aggregation_interval"],
    }
    if p["destination_type"] == "s3":
        request["LogDestination"] = p["log_destination"]
    else:
        request["LogGroupName"] = p["log_group_name"]
        request["DeliverLogsPermissionArn"] = p["deliver_logs_permission_arn"]
    if p.get("log_format") is not None:
        request["LogFormat"] = p["log_format"]
    if p.get("tags"):
        request["TagSpecifications"] = boto3_tag_specifications(p["tags"], types="vpc-flow-log")
    response = client.create_flow_logs(aws_retry=True, **request)
    if response.get("Unsuccessful"):
        failure = response["Unsuccessful"][0].get("Error", {})
        module.fail_json(msg=f"Failed to create flow log for {p['resource_id']}: {failure.get('Code')} {failure.get('Message')}")
    flow_log_id = response["FlowLogIds"][0]
    found = client.describe_flow_logs(FlowLogIds=[flow_log_id], aws_retry=True)["FlowLogs"]
    return found[0] if found else {"FlowLogId": flow_log_id}


def main():
    argument_spec = dict(
        resource_id=dict(type="str", required=True, aliases=["vpc_id"]),
        resource_type=dict(type="str", choices=["VPC", "Subnet", "NetworkInterface"], default="VPC"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        destination_type=dict(type="str", choices=["cloud-watch-logs", "s3"], default="cloud-watch-logs"),
        log_group_name=dict(type="str"),
        deliver_logs_permission_arn=dict(type="str", aliases=["iam_role_arn"]),
        log_destination=dict(type="str"),
        traffic_type=dict(type="str", choices=["ACCEPT", "REJECT", "ALL"], default="ALL"),
        log_format=dict(type="str"),
        max_aggregation_interval=dict(type="int", choices=[60, 600], default=600),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    if p["state"] == "present":
        if p["destination_type"] == "cloud-watch-logs":
            missing = [o for o in ("log_group_name", "deliver_logs_permission_arn") if not p.get(o)]
            if missing:
                module.fail_json(msg=f"destination_type=cloud-watch-logs requires {' and '.join(missing)}")
            if p.get("log_destination"):
                module.fail_json(msg="log_destination is for destination_type=s3; use log_group_name")
        else:
            if not p.get("log_destination"):
                module.fail_json(msg="destination_type=s3 requires log_destination (the bucket ARN)")
            if p.get("log_group_name"):
                module.fail_json(msg="log_group_name is for destination_type=cloud-watch-logs; use log_destination")
    if p.get("log_destination") and not p["log_destination"].startswith("arn:"):
        module.fail_json(msg=f"log_destination must be an S3 bucket ARN (arn:aws:s3:::bucket[/prefix/]), got {p['log_destination']}")

    client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
    try:
        existing = [fl for fl in _describe(client, p["resource_id"]) if
                    (p["state"] == "absent" and not (p.get("log_group_name") or p.get("log_destination")))
                    or matches_destination(fl, p)]

        if p["state"] == "absent":
            ids = [fl["FlowLogId"] for fl in existing]
            if ids and not module.check_mode:
                client.delete_flow_logs(FlowLogIds=ids, aws_retry=True)
            module.exit_json(changed=bool(ids), flow_log={}, deleted=ids, changes=["state"] if ids else [],
                             diff={"before": {"flow_log_ids": ids}, "after": {"flow_log_ids": []}})

        if not existing:
            after = wanted(p)
            if module.check_mode:
                module.exit_json(changed=True, flow_log={}, deleted=[], changes=["state"],
                                 diff={"before": {}, "after": after})
            flow_log = create(module, client)
            module.exit_json(changed=True, flow_log=result(flow_log), deleted=[], changes=["state"],
                             diff={"before": {}, "after": after})

        current = existing[0]
        changes = differences(current, p)
        deleted = []
        # More than one matching flow log (only possible with a looser match): keep the first.
        extra = [fl["FlowLogId"] for fl in existing[1:]]
        if extra:
            changes.append("duplicates")
        tags_to_set, tags_to_unset = {}, []
        if p.get("tags") is not None and not [c for c in changes if c != "duplicates"]:
            tags_to_set, tags_to_unset = compare_aws_tags(
                boto3_tag_list_to_ansible_dict(current.get("Tags", [])), p["tags"], purge_tags=p["purge_tags"])
            if tags_to_set or tags_to_unset:
                changes.append("tags")
        before = view(current)
        after = dict(before, **wanted(p))
        if p.get("tags") is not None and not p["purge_tags"]:
            after["tags"] = dict(before["tags"], **p["tags"])
        diff = {"before": before, "after": after}
        if not changes or module.check_mode:
            module.exit_json(changed=bool(changes), flow_log=result(current), deleted=[], changes=changes, diff=diff)

        flow_log = current
        if extra:
            client.delete_flow_logs(FlowLogIds=extra, aws_retry=True)
            deleted.extend(extra)
        replace = [c for c in changes if c not in ("tags", "duplicates")]
        if replace:
            client.delete_flow_logs(FlowLogIds=[current["FlowLogId"]], aws_retry=True)
            deleted.append(current["FlowLogId"])
            flow_log = create(module, client)
        else:
            if tags_to_unset:
                client.delete_tags(Resources=[current["FlowLogId"]], Tags=[{"Key": k} for k in tags_to_unset],
                                   aws_retry=True)
            if tags_to_set:
                client.create_tags(Resources=[current["FlowLogId"]], Tags=ansible_dict_to_boto3_tag_list(tags_to_set),
                                   aws_retry=True)
            found = client.describe_flow_logs(FlowLogIds=[current["FlowLogId"]], aws_retry=True)["FlowLogs"]
            flow_log = found[0] if found else current
        module.exit_json(changed=True, flow_log=result(flow_log), deleted=deleted, changes=changes, diff=diff)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to manage the flow log of {p['resource_id']}")


if __name__ == "__main__":
    main()
