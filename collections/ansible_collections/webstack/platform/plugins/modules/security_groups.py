#!/usr/bin/python
# -*- coding: utf-8 -*-
# GPL-3.0-or-later
"""webstack.platform.security_groups (used by the `security_groups` role): a set of security groups in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
module: security_groups
short_description: Manage a set of VPC security groups and their exact rules in one call
description:
  - Creates the security groups of a webstack environment and makes their ingress and egress rules exactly
    the listed ones (missing rules are authorized, any other rule is revoked), with one module execution
    (amazon.aws.ec2_security_group needs one per group, about a second of start-up each).
  - Rules name their sources by CIDR or by the name of another group of the set (SG-to-SG rules).
  - Check mode reports what would change and changes nothing; C(--diff) shows the rule differences.
  - I(state=absent) deletes the groups (rules referencing each other first), retrying a group still in use by a
    network interface that AWS has not released yet (C(DependencyViolation)) until I(wait_timeout).
version_added: 0.1.0
author: webstack maintainers
options:
  vpc_id:
    description: VPC of the groups.
    type: str
    required: true
  state:
    description: Whether the groups should exist.
    type: str
    choices: [present, absent]
    default: present
  groups:
    description: The groups.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Group name (unique in the VPC).
        type: str
        required: true
      key:
        description: Short key of the group in the C(ids) return value (e.g. C(alb)).
        type: str
      description:
        description: Group description (cannot change after creation).
        type: str
        required: true
      ingress:
        description: Exact ingress rules.
        type: list
        elements: dict
        default: []
        suboptions: &rule
          protocol:
            description: IP protocol (C(tcp), C(udp), C(-1) for all).
            type: str
            default: tcp
          from_port:
            description: First port (ignored for protocol -1).
            type: int
          to_port:
            description: Last port (defaults to from_port).
            type: int
          cidrs:
            description: IPv4 CIDR sources/destinations.
            type: list
            elements: str
            default: []
          groups:
            description: Names of groups of this set as sources/destinations.
            type: list
            elements: str
            default: []
          description:
            description: Rule description.
            type: str
      egress:
        description: Exact egress rules (an empty list removes the default allow-all egress rule).
        type: list
        elements: dict
        default: []
        suboptions: *rule
  tags:
    description: Tags of every group (C(Name) is the group name). Missing or different tags are set.
    type: dict
    default: {}
  wait_timeout:
    description:
      - Seconds I(state=absent) keeps retrying the deletion of a group that AWS says is still in use
        (C(DependencyViolation)) - the network interfaces of a load balancer, of Fargate tasks or of an RDS instance
        are released minutes after their owner was deleted.
    type: int
    default: 1200
  poll_interval:
    description: Seconds between two of those attempts.
    type: int
    default: 15
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Least-privilege groups
  webstack.platform.security_groups:
    vpc_id: "{{ vpc_network.vpc_id }}"
    groups:
      - name: web-alb
        description: load balancer
        ingress:
          - {from_port: 443, cidrs: [0.0.0.0/0]}
        egress:
          - {from_port: 8000, groups: [web-app]}
      - name: web-app
        description: application tasks
        ingress:
          - {from_port: 8000, groups: [web-alb]}
        egress:
          - {protocol: "-1", cidrs: [0.0.0.0/0]}
"""

RETURN = r"""
group_ids:
  description: Group id per group name.
  returned: state=present
  type: dict
  sample: {web-alb: sg-0123, web-app: sg-0456}
ids:
  description: Group id per group key (groups with a C(key)).
  returned: state=present
  type: dict
  sample: {alb: sg-0123, app: sg-0456}
changes:
  description: What changed (or would change in check mode), one line per action.
  returned: always
  type: list
"""

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.webstack.platform.plugins.module_utils.base import Layer


def _tags_of(resource):
    return boto3_tag_list_to_ansible_dict(resource.get("Tags"))


def flatten(permissions, id_to_name):
    """AWS IpPermissions -> set of (protocol, from, to, kind, value)."""
    rules = set()
    for perm in permissions or []:
        proto = str(perm.get("IpProtocol"))
        lo, hi = (None, None) if proto == "-1" else (perm.get("FromPort"), perm.get("ToPort"))
        for rng in perm.get("IpRanges", []):
            rules.add((proto, lo, hi, "cidr", rng["CidrIp"]))
        for rng in perm.get("Ipv6Ranges", []):
            rules.add((proto, lo, hi, "cidr6", rng["CidrIpv6"]))
        for pair in perm.get("UserIdGroupPairs", []):
            rules.add((proto, lo, hi, "group", id_to_name.get(pair["GroupId"], pair["GroupId"])))
        for pl in perm.get("PrefixListIds", []):
            rules.add((proto, lo, hi, "prefix", pl["PrefixListId"]))
    return rules


def wanted_rules(specs):
    rules = set()
    for spec in specs or []:
        proto = str(spec.get("protocol") or "tcp")
        if proto in ("all", "-1"):
            proto, lo, hi = "-1", None, None
        else:
            lo = spec.get("from_port")
            hi = spec.get("to_port") if spec.get("to_port") is not None else lo
        for cidr in spec.get("cidrs") or []:
            rules.add((proto, lo, hi, "cidr", cidr))
        for group in spec.get("groups") or []:
            rules.add((proto, lo, hi, "group", group))
    return rules


def to_permissions(rules, name_to_id):
    perms = []
    for proto, lo, hi, kind, value in sorted(rules, key=str):
        perm = {"IpProtocol": proto}
        if proto != "-1":
            perm.update(FromPort=lo, ToPort=hi)
        if kind == "cidr":
            perm["IpRanges"] = [{"CidrIp": value}]
        elif kind == "cidr6":
            perm["Ipv6Ranges"] = [{"CidrIpv6": value}]
        elif kind == "prefix":
            perm["PrefixListIds"] = [{"PrefixListId": value}]
        else:
            perm["UserIdGroupPairs"] = [{"GroupId": name_to_id.get(value, value)}]
        perms.append(perm)
    return perms


def describe_rule(rule):
    proto, lo, hi, kind, value = rule
    ports = "all" if proto == "-1" else (f"{lo}" if lo == hi else f"{lo}-{hi}")
    return f"{proto}/{ports} {kind} {value}"


RULE = dict(
    protocol=dict(type="str", default="tcp"),
    from_port=dict(type="int"),
    to_port=dict(type="int"),
    cidrs=dict(type="list", elements="str", default=[]),
    groups=dict(type="list", elements="str", default=[]),
    description=dict(type="str"),
)


class SecurityGroups(Layer):
    label = "security groups"
    retries = {"retries": 10, "delay": 3}
    retry_codes = {"ec2": ("InvalidGroup.NotFound",)}
    argument_spec = dict(
        vpc_id=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        groups=dict(type="list", elements="dict", required=True, options=dict(
            name=dict(type="str", required=True),
            key=dict(type="str"),
            description=dict(type="str", required=True),
            ingress=dict(type="list", elements="dict", default=[], options=RULE),
            egress=dict(type="list", elements="dict", default=[], options=RULE),
        )),
        tags=dict(type="dict", default={}),
        wait_timeout=dict(type="int", default=1200),
        poll_interval=dict(type="int", default=15),
    )

    @classmethod
    def validate(cls, module):
        known = {g["name"] for g in module.params["groups"]}
        for group in module.params["groups"]:
            for direction in ("ingress", "egress"):
                for spec in group[direction]:
                    unknown = [g for g in spec.get("groups") or [] if g not in known]
                    if unknown:
                        module.fail_json(msg=f"group {group['name']}: {direction} rule names groups outside the set: {unknown}")
                    if str(spec.get("protocol")) not in ("-1", "all") and spec.get("from_port") is None:
                        module.fail_json(msg=f"group {group['name']}: {direction} rule needs from_port")

    def __init__(self, module):
        super().__init__(module)
        self.ec2 = self.client("ec2")
        self.names = [g["name"] for g in self.p["groups"]]
        self.by_name = self.name_to_id = self.id_to_name = None

    def call(self, method, **kwargs):
        try:
            return getattr(self.ec2, method)(aws_retry=True, **kwargs)
        except Exception as e:  # pylint: disable=broad-except
            self.fail_aws(e, f"{method} failed")

    def read(self):
        existing = self.call("describe_security_groups", Filters=[{"Name": "vpc-id", "Values": [self.p["vpc_id"]]},
                                                                   {"Name": "group-name", "Values": self.names}])["SecurityGroups"]
        self.by_name = {g["GroupName"]: g for g in existing}
        self.name_to_id = {n: g["GroupId"] for n, g in self.by_name.items()}

    def absent(self):
        self.read()
        by_name, p = self.by_name, self.p
        # Revoke cross references first, then delete.
        for name in self.names:
            group = by_name.get(name)
            if not group:
                continue
            self.change(f"delete security group {name} ({group['GroupId']})")
            if self.check:
                continue
            if group.get("IpPermissions"):
                self.call("revoke_security_group_ingress", GroupId=group["GroupId"],
                          IpPermissions=to_permissions(flatten(group["IpPermissions"], {}), {}))
            if group.get("IpPermissionsEgress"):
                self.call("revoke_security_group_egress", GroupId=group["GroupId"],
                          IpPermissions=to_permissions(flatten(group["IpPermissionsEgress"], {}), {}))
        if not self.check:
            for name in self.names:
                if name in by_name:
                    group_id = by_name[name]["GroupId"]
                    try:
                        self.waiter().retry_on(lambda gid=group_id: self.ec2.delete_security_group(aws_retry=True, GroupId=gid),
                                               ("DependencyViolation",))
                    except is_boto3_error_code("InvalidGroup.NotFound"):
                        pass
                    except Exception as e:  # pylint: disable=broad-except
                        self.fail_aws(e, f"delete_security_group {name} ({group_id}) failed (still in use after "
                                         f"{p['wait_timeout']}s?)")
        return {}

    def ensure_groups(self):
        by_name, name_to_id, tags = self.by_name, self.name_to_id, dict(self.p["tags"] or {})
        for group in self.p["groups"]:
            name = group["name"]
            if name in by_name:
                current = _tags_of(by_name[name])
                missing = {k: str(v) for k, v in dict(tags, Name=name).items() if current.get(k) != str(v)}
                if missing:
                    self.change(f"tag {name}: {sorted(missing)}", self.call, "create_tags", Resources=[by_name[name]["GroupId"]],
                                Tags=[{"Key": k, "Value": v} for k, v in missing.items()])
                continue
            self.change(f"create security group {name}")
            if self.check:
                name_to_id[name] = f"sg-(new {name})"
            else:
                name_to_id[name] = self.call(
                    "create_security_group", GroupName=name, Description=group["description"], VpcId=self.p["vpc_id"],
                    TagSpecifications=[{"ResourceType": "security-group",
                                        "Tags": [{"Key": k, "Value": str(v)} for k, v in dict(tags, Name=name).items()]}])["GroupId"]
            by_name[name] = {"GroupId": name_to_id[name], "IpPermissions": [],
                             "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]}
        self.id_to_name = {v: k for k, v in name_to_id.items()}

    def ensure_rules(self, group, direction, key):
        name, name_to_id, id_to_name = group["name"], self.name_to_id, self.id_to_name
        current_group = self.by_name[name]
        current = flatten(current_group.get(key), id_to_name)
        wanted = wanted_rules(group[direction])
        add, remove = wanted - current, current - wanted
        if not add and not remove:
            return
        self.before.setdefault(name, {})[direction] = sorted(describe_rule(r) for r in current)
        self.after.setdefault(name, {})[direction] = sorted(describe_rule(r) for r in wanted)
        for r in sorted(remove, key=str):
            self.change(f"{name}: revoke {direction} {describe_rule(r)}")
        for r in sorted(add, key=str):
            self.change(f"{name}: authorize {direction} {describe_rule(r)}")
        if self.check:
            return
        group_id = current_group["GroupId"]
        if remove:
            self.call(f"revoke_security_group_{direction}", GroupId=group_id,
                      IpPermissions=to_permissions(remove, {**name_to_id, **{v: v for v in id_to_name}}))
        if add:
            descriptions = {}
            for spec in group[direction]:
                for r in wanted_rules([spec]):
                    if spec.get("description"):
                        descriptions[r] = spec["description"]
            perms = to_permissions(add, name_to_id)
            for r, perm in zip(sorted(add, key=str), perms):
                if r in descriptions:
                    for rng in perm.get("IpRanges", []) + perm.get("UserIdGroupPairs", []):
                        rng["Description"] = descriptions[r]
            self.call(f"authorize_security_group_{direction}", GroupId=group_id, IpPermissions=perms)

    def present(self):
        self.read()
        self.ensure_groups()
        for group in self.p["groups"]:
            for direction, key in (("ingress", "IpPermissions"), ("egress", "IpPermissionsEgress")):
                self.ensure_rules(group, direction, key)
        ids = {g["key"]: self.name_to_id[g["name"]] for g in self.p["groups"] if g.get("key")}
        return {"group_ids": self.name_to_id, "ids": ids}


def main():
    SecurityGroups.main()


if __name__ == "__main__":
    main()
