#!/usr/bin/python
# -*- coding: utf-8 -*-
# GPL-3.0-or-later
"""webstack.platform.alb_attributes: the attributes of an application load balancer."""

from __future__ import annotations

DOCUMENTATION = r"""
module: alb_attributes
short_description: Set the attributes of an application load balancer (access logs, header handling, deletion protection)
description:
  - Reads the load balancer's attributes and writes only those that differ, in one ModifyLoadBalancerAttributes call.
  - An attribute the API does not return yet counts as different (amazon.aws.elb_application_lb fails on those,
    e.g. C(routing.http.drop_invalid_header_fields.enabled) or C(access_logs.s3.enabled) on the API emulator).
  - Check mode reports what would change and changes nothing; C(--diff) shows the attributes before and after.
version_added: 0.1.0
author: webstack maintainers
options:
  name:
    description: Name of the load balancer.
    type: str
    required: true
  attributes:
    description: Attribute keys and values (values are compared as lowercase strings, e.g. C(true), C(60)).
    type: dict
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Access logs, drop invalid header fields, deletion protection
  webstack.platform.alb_attributes:
    name: webstack-prod
    attributes:
      access_logs.s3.enabled: true
      access_logs.s3.bucket: webstack-prod-logs
      access_logs.s3.prefix: alb
      routing.http.drop_invalid_header_fields.enabled: true
      deletion_protection.enabled: true
"""

RETURN = r"""
load_balancer_arn:
  description: ARN of the load balancer (empty in check mode when it does not exist yet).
  type: str
  returned: always
attributes:
  description: The load balancer's attributes after the call.
  type: dict
  returned: always
changes:
  description: "Attributes written (or, in check mode, that would be), one line each: C(key: old -> new)."
  type: list
  elements: str
  returned: always
"""

try:
    import botocore  # noqa: F401  imported for AnsibleAWSModule's error handling
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def normalize(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def differences(current, desired):
    return {k: v for k, v in desired.items() if current.get(k) != v}


def run(client, name, attributes, check_mode):
    """Compare and (unless check_mode) write the attributes; returns the module result."""
    desired = {k: normalize(v) for k, v in attributes.items()}
    try:
        lbs = client.describe_load_balancers(aws_retry=True, Names=[name])["LoadBalancers"]
    except is_boto3_error_code("LoadBalancerNotFound"):
        lbs = []
    if not lbs:
        if check_mode:
            return dict(changed=True, load_balancer_arn="", attributes={},
                        changes=[f"{k}: (new load balancer) -> {v}" for k, v in sorted(desired.items())])
        return dict(failed=True, msg=f"load balancer {name} does not exist")
    arn = lbs[0]["LoadBalancerArn"]
    current = {a["Key"]: a["Value"] for a in
               client.describe_load_balancer_attributes(aws_retry=True, LoadBalancerArn=arn)["Attributes"]}
    diff = differences(current, desired)
    changes = [f"{k}: {current.get(k, '(unset)')} -> {v}" for k, v in sorted(diff.items())]
    after = dict(current, **diff)
    if diff and not check_mode:
        res = client.modify_load_balancer_attributes(
            aws_retry=True, LoadBalancerArn=arn, Attributes=[{"Key": k, "Value": v} for k, v in sorted(diff.items())])
        after = dict(current, **{a["Key"]: a["Value"] for a in res.get("Attributes", [])})
    result = dict(changed=bool(diff), load_balancer_arn=arn, attributes=after, changes=changes)
    if diff:
        result["diff"] = {"before": {k: current.get(k, "(unset)") for k in diff}, "after": diff}
    return result


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(name=dict(type="str", required=True), attributes=dict(type="dict", required=True)),
        supports_check_mode=True,
    )
    client = module.client("elbv2", retry_decorator=AWSRetry.jittered_backoff(retries=8, delay=2))
    try:
        result = run(client, module.params["name"], module.params["attributes"], module.check_mode)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:  # pylint: disable=used-before-assignment
        module.fail_json_aws(exc, msg=f"load balancer attributes of {module.params['name']}")
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
