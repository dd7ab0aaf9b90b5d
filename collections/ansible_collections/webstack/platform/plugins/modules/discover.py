#!/usr/bin/python
# -*- coding: utf-8 -*-
# GPL-3.0-or-later
"""webstack.platform.discover: the current state of one aws layer that did not run in this play, read-only."""

from __future__ import annotations

DOCUMENTATION = r"""
module: discover
short_description: Read what one aws layer of an environment provisioned (for the layers that did not run in this play)
description:
  - Reads, in one or two read-only calls, the resources of one webstack aws layer and returns them with the same keys
    as that layer's own module, so that the filter C(webstack.platform.layer_output) turns either into the layer's
    output (C(<role>_output)). Used by each layer role's C(discover) entry point when a tag-filtered run leaves the
    layer out (e.g. C(--tags compute) needs the network, data and edge layers' ids).
  - A layer that does not exist fails the task naming the tag to run first - except in check mode, where its ids
    are left empty (the filter makes them placeholders) and C(found) is false.
  - Never changes anything; C(changed) is always false.
version_added: 0.2.0
author: webstack maintainers
options:
  layer:
    description: The layer to read.
    type: str
    required: true
    choices: [alb, aws_storage, elasticache, rds, security_groups, vpc]
  name:
    description:
      - The layer's name - C(vpc) the Name tag of the VPC, C(rds) the DB instance identifier, C(elasticache) the
        replication group id, C(alb) the load balancer name, C(aws_storage) the bucket name.
    type: str
    default: ""
  names:
    description:
      - C(security_groups) - group key to group name (the VPC is C(vpc_id)); C(alb) - process to target group name;
        C(aws_storage) - repository name to repository name (the ECR repositories) plus the key C(secrets), a dict of
        secret key to secret name.
    type: dict
    default: {}
  vpc_id:
    description: VPC of the security groups (layer C(security_groups)).
    type: str
    default: ""
  tag:
    description: The provision.yml tag of the layer, named in the error when the layer does not exist.
    type: str
    default: ""
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Network ids (the network layer did not run in this play)
  webstack.platform.discover:
    layer: vpc
    name: webstack-prod
    tag: network
  register: found
"""

RETURN = r"""
found:
  description: Whether the layer's resources exist.
  type: bool
  returned: always
vpc_id:
  description: (vpc) Id of the VPC.
  type: str
  returned: layer=vpc
subnet_ids:
  description: (vpc) Subnet ids per tier (public, private, database), in the order of the availability zones.
  type: dict
  returned: layer=vpc
ids:
  description: (security_groups) Group id per group key.
  type: dict
  returned: layer=security_groups
bucket_arn:
  description: (aws_storage) ARN of the bucket.
  type: str
  returned: layer=aws_storage
repositories:
  description: (aws_storage) Per repository name, its C(uri) and C(arn).
  type: dict
  returned: layer=aws_storage
secrets:
  description: (aws_storage) Secret ARN per secret key.
  type: dict
  returned: layer=aws_storage
instance:
  description: (rds) The DB instance (C(db_instance_identifier), C(db_instance_arn), C(db_instance_status), C(endpoint)).
  type: dict
  returned: layer=rds
replication_group:
  description: (elasticache) The replication group (C(replication_group_id), C(status), C(node_groups), C(transit_encryption_enabled)).
  type: dict
  returned: layer=elasticache
load_balancer_arn:
  description: (alb) ARN of the load balancer.
  type: str
  returned: layer=alb
dns_name:
  description: (alb) DNS name of the load balancer.
  type: str
  returned: layer=alb
target_group_arns:
  description: (alb) Target group ARN per process.
  type: dict
  returned: layer=alb
"""

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.webstack.platform.plugins.module_utils.base import Layer


def read_vpc(layer, p):
    ec2 = layer.client("ec2")
    vpcs = ec2.describe_vpcs(aws_retry=True, Filters=[{"Name": "tag:Name", "Values": [p["name"]]}])["Vpcs"]
    if not vpcs:
        return False, {"vpc_id": "", "subnet_ids": {}}
    vpc_id = vpcs[0]["VpcId"]
    subnets = ec2.describe_subnets(aws_retry=True, Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    ids = {}
    for tier in ("public", "private", "database"):
        prefix = f"{p['name']}-{tier}-"
        tagged = []
        for s in subnets:
            name = next((t["Value"] for t in s.get("Tags", []) if t["Key"] == "Name"), "")
            if name.startswith(prefix):
                tagged.append((name, s["SubnetId"]))
        ids[tier] = [sid for _name, sid in sorted(tagged)]
    return True, {"vpc_id": vpc_id, "subnet_ids": ids}


def read_security_groups(layer, p):
    wanted = p["names"] or {}
    if not p["vpc_id"] or p["vpc_id"].startswith("("):
        return False, {"ids": {}}
    ec2 = layer.client("ec2")
    groups = ec2.describe_security_groups(aws_retry=True, Filters=[
        {"Name": "vpc-id", "Values": [p["vpc_id"]]}, {"Name": "group-name", "Values": list(wanted.values())}])["SecurityGroups"]
    by_name = {g["GroupName"]: g["GroupId"] for g in groups}
    ids = {key: by_name.get(name, "") for key, name in wanted.items()}
    return all(ids.values()), {"ids": ids}


def read_storage(layer, p):
    names = dict(p["names"] or {})
    secrets = names.pop("secrets", None) or {}
    repos = {}
    if names:
        ecr = layer.client("ecr")
        try:
            found = ecr.describe_repositories(aws_retry=True, repositoryNames=list(names.values()))["repositories"]
        except is_boto3_error_code("RepositoryNotFoundException"):
            found = []
        repos = {r["repositoryName"]: {"uri": r["repositoryUri"], "arn": r["repositoryArn"]} for r in found}
    arns = {}
    if secrets:
        sm = layer.client("secretsmanager")
        listed = sm.list_secrets(aws_retry=True, Filters=[{"Key": "name", "Values": list(secrets.values())}])["SecretList"]
        by_name = {s["Name"]: s["ARN"] for s in listed}
        arns = {key: by_name.get(name, "") for key, name in secrets.items()}
    ok = len(repos) == len(names) and all(arns.values())
    return ok, {"bucket_arn": f"arn:aws:s3:::{p['name']}" if p["name"] else "", "repositories": repos, "secrets": arns}


def read_rds(layer, p):
    rds = layer.client("rds")
    try:
        inst = rds.describe_db_instances(aws_retry=True, DBInstanceIdentifier=p["name"])["DBInstances"][0]
    except is_boto3_error_code("DBInstanceNotFound"):
        return False, {"instance": {}}
    return True, {"instance": camel_dict_to_snake_dict(inst)}


def read_elasticache(layer, p):
    ec = layer.client("elasticache")
    try:
        group = ec.describe_replication_groups(aws_retry=True, ReplicationGroupId=p["name"])["ReplicationGroups"][0]
    except is_boto3_error_code("ReplicationGroupNotFoundFault"):
        return False, {"replication_group": {}}
    return True, {"replication_group": camel_dict_to_snake_dict(group)}


def read_alb(layer, p):
    elb = layer.client("elbv2")
    try:
        lb = elb.describe_load_balancers(aws_retry=True, Names=[p["name"]])["LoadBalancers"][0]
    except is_boto3_error_code("LoadBalancerNotFound"):
        lb = {}
    wanted = p["names"] or {}
    found = {}
    if wanted:
        try:
            groups = elb.describe_target_groups(aws_retry=True, Names=list(wanted.values()))["TargetGroups"]
        except is_boto3_error_code("TargetGroupNotFound"):
            groups = []
        found = {g["TargetGroupName"]: g["TargetGroupArn"] for g in groups}
    arns = {process: found.get(name, "") for process, name in wanted.items()}
    return bool(lb) and all(arns.values()), {"load_balancer_arn": lb.get("LoadBalancerArn", ""),
                                             "dns_name": lb.get("DNSName", ""), "target_group_arns": arns}


READERS = {"vpc": read_vpc, "security_groups": read_security_groups, "aws_storage": read_storage, "rds": read_rds,
           "elasticache": read_elasticache, "alb": read_alb}


class Discover(Layer):
    """Read-only: `run()` reads the layer; no change is ever recorded (changed is always false)."""

    argument_spec = dict(
        layer=dict(type="str", required=True, choices=sorted(READERS)),
        name=dict(type="str", default=""),
        names=dict(type="dict", default={}),
        vpc_id=dict(type="str", default=""),
        tag=dict(type="str", default=""),
    )

    def run(self):
        self.label = f"reading the {self.p['layer']} layer"
        found, result = READERS[self.p["layer"]](self, self.p)
        if not found and not self.check:
            self.fail(f"the {self.p['layer']} layer of this environment does not exist (or is incomplete): "
                      f"provision it first (provision.yml --tags {self.p['tag'] or self.p['layer']})", **result)
        return dict(found=found, **result)


def main():
    Discover.main()


if __name__ == "__main__":
    main()
