#!/usr/bin/python
# -*- coding: utf-8 -*-
# GPL-3.0-or-later
"""webstack.platform.vpc_network (used by the `vpc` role): the whole network of an environment in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
module: vpc_network
short_description: Manage a webstack VPC (subnets, gateways, route tables, default SG, flow logs) in one call
description:
  - Creates, checks or deletes the network of one webstack environment with one module execution
    (the amazon.aws modules need about 25 executions for the same, one second of start-up each).
  - A VPC (found by its C(Name) tag and CIDR) with DNS support and hostnames; public, private and database
    subnets, one of each per availability zone; an internet gateway; NAT gateways (one per AZ, one in the
    first AZ, or none) with Elastic IPs; a public route table (default route to the internet gateway), one
    private route table per AZ (default route to that AZ's NAT gateway or the single one) and one database
    route table without a default route; the VPC's default security group emptied of every rule; VPC flow
    logs to S3 or CloudWatch Logs; optionally the RDS and ElastiCache subnet groups over the database subnets.
  - Check mode reports what would change and changes nothing; C(--diff) shows the differences.
  - I(state=absent) deletes all of it (NAT gateways first, waiting until they are gone). Deletions AWS refuses
    for a while after their dependencies went (C(DependencyViolation) for subnets, security groups, the VPC and
    the internet gateway detach, as the network interfaces of load balancers, Fargate tasks and RDS are released
    minutes after their owner; C(InvalidIPAddress.InUse) for an Elastic IP just after its NAT gateway) are
    retried until I(wait_timeout).
  - A NAT gateway found C(pending) (an interrupted run) is waited for like a new one before routes point at it;
    a just-created Elastic IP or NAT gateway that is not visible yet (C(InvalidAllocationID.NotFound),
    C(NatGatewayNotFound)) is retried.
version_added: 0.1.0
author: webstack maintainers
options:
  name:
    description: Prefix of the C(Name) tag of every resource (e.g. C(webstack-prod)).
    type: str
    required: true
  state:
    description: Whether the network should exist.
    type: str
    choices: [present, absent]
    default: present
  cidr_block:
    description: IPv4 CIDR of the VPC.
    type: str
  availability_zones:
    description: Availability zones, one subnet of each tier per zone (same order as the CIDR lists).
    type: list
    elements: str
    default: []
  public_subnet_cidrs:
    description: CIDRs of the public subnets (load balancers, NAT gateways).
    type: list
    elements: str
    default: []
  private_subnet_cidrs:
    description: CIDRs of the private subnets (ECS tasks).
    type: list
    elements: str
    default: []
  database_subnet_cidrs:
    description: CIDRs of the database subnets (RDS, ElastiCache); no route to the internet.
    type: list
    elements: str
    default: []
  nat_gateways:
    description: C(per_az) (resilient), C(single) (cheaper, one AZ is a single point of failure) or C(none).
    type: str
    choices: [per_az, single, none]
    default: per_az
  flow_logs:
    description:
      - VPC flow logs. C(destination_type) C(s3) needs C(destination_arn) (bucket ARN, optionally with a
        prefix); C(cloud-watch-logs) needs C(destination_arn) (log group ARN) and C(iam_role_arn).
    type: dict
    default: {}
    suboptions:
      enabled:
        description: Whether flow logs are on.
        type: bool
        default: true
      destination_type:
        description: Where the flow logs go.
        type: str
        choices: [s3, cloud-watch-logs]
        default: s3
      destination_arn:
        description: ARN of the bucket (with optional prefix) or log group.
        type: str
      iam_role_arn:
        description: Role the flow-log service assumes to write to CloudWatch Logs.
        type: str
      traffic_type:
        description: Traffic recorded.
        type: str
        choices: [ACCEPT, REJECT, ALL]
        default: ALL
  db_subnet_group_name:
    description: Name of an RDS DB subnet group over the database subnets (none when omitted).
    type: str
  cache_subnet_group_name:
    description: Name of an ElastiCache subnet group over the database subnets (none when omitted).
    type: str
  tags:
    description: Tags of every resource (the C(Name) tag is added). Missing or different tags are set; others are kept.
    type: dict
    default: {}
  wait_timeout:
    description:
      - Seconds to wait for NAT gateways to become available (creation) or deleted (state=absent), and to keep
        retrying each deletion AWS refuses while a dependency is being released (state=absent).
    type: int
    default: 600
  poll_interval:
    description: Seconds between two attempts of a deletion AWS refuses for now (state=absent).
    type: int
    default: 15
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Network of the environment
  webstack.platform.vpc_network:
    name: webstack-prod
    cidr_block: 10.60.0.0/16
    availability_zones: [eu-west-1a, eu-west-1b, eu-west-1c]
    public_subnet_cidrs: [10.60.0.0/24, 10.60.1.0/24, 10.60.2.0/24]
    private_subnet_cidrs: [10.60.16.0/20, 10.60.32.0/20, 10.60.48.0/20]
    database_subnet_cidrs: [10.60.100.0/24, 10.60.101.0/24, 10.60.102.0/24]
    nat_gateways: per_az
    flow_logs:
      destination_type: s3
      destination_arn: arn:aws:s3:::webstack-prod-logs/vpc-flow-logs/
    db_subnet_group_name: webstack-prod-db
    cache_subnet_group_name: webstack-prod-cache
    tags: {Environment: prod}
"""

RETURN = r"""
vpc_id:
  description: Id of the VPC.
  returned: state=present
  type: str
subnet_ids:
  description: Subnet ids per tier, in the order of the availability zones.
  returned: state=present
  type: dict
  sample: {public: [subnet-1, subnet-2], private: [subnet-3, subnet-4], database: [subnet-5, subnet-6]}
internet_gateway_id:
  description: Id of the internet gateway.
  returned: state=present
  type: str
nat_gateway_ids:
  description: Ids of the NAT gateways.
  returned: state=present
  type: list
route_table_ids:
  description: Route table ids per tier (private is one per AZ).
  returned: state=present
  type: dict
default_security_group_id:
  description: Id of the VPC's default security group (kept without rules).
  returned: state=present
  type: str
changes:
  description: What changed (or would change in check mode), one line per action.
  returned: always
  type: list
"""

try:
    import botocore
    import botocore.parsers
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.webstack.platform.plugins.module_utils.base import Layer

TIERS = ("public", "private", "database")
# Codes of a just-created Elastic IP / NAT gateway not visible yet (eventual consistency).
FRESH_NOT_FOUND = ("InvalidAllocationID.NotFound", "NatGatewayNotFound", "InvalidNatGatewayID.NotFound",
                   "InvalidVpcID.NotFound", "InvalidSubnetID.NotFound", "InvalidRouteTableID.NotFound",
                   "InvalidGatewayID.NotFound")
# A dependency AWS has not released yet.
DEPENDENCY = ("DependencyViolation",)


def _tags_of(resource):
    return boto3_tag_list_to_ansible_dict(resource.get("Tags"))


class Network(Layer):
    label = "VPC network"
    retries = {"retries": 10, "delay": 3}
    retry_codes = {"ec2": ("InvalidVpcID.NotFound", "InvalidSubnetID.NotFound", "InvalidRouteTableID.NotFound",
                           "InvalidGatewayID.NotFound")}

    def __init__(self, module):
        super().__init__(module)
        self.name = self.params["name"]
        self.base_tags = dict(self.params["tags"] or {})
        self.ec2 = self.client("ec2")
        # Just-created Elastic IPs and NAT gateways can be NotFound for a moment (EC2 eventual consistency): the calls
        # that use them right after their creation retry those codes too (not every call: a release of an address
        # that is really gone must not wait).
        self.ec2_fresh = self.client("ec2", retry_codes=FRESH_NOT_FOUND)
        self.vpc_id = None

    @classmethod
    def validate(cls, module):
        validate(module)

    # -- helpers --------------------------------------------------------------------------------------
    def tags_for(self, name):
        tags = dict(self.base_tags)
        tags["Name"] = name
        return tags

    def tag_spec(self, rtype, name):
        return [{"ResourceType": rtype, "Tags": [{"Key": k, "Value": str(v)} for k, v in self.tags_for(name).items()]}]

    def ensure_tags(self, resource_id, current, name):
        wanted = self.tags_for(name)
        missing = {k: str(v) for k, v in wanted.items() if current.get(k) != str(v)}
        if missing:
            self.change(f"tag {resource_id}: {sorted(missing)}")
            if not self.check:
                self.ec2.create_tags(aws_retry=True, Resources=[resource_id],
                                     Tags=[{"Key": k, "Value": v} for k, v in missing.items()])

    def call(self, method, client=None, **kwargs):
        try:
            return getattr(client or self.ec2, method)(aws_retry=True, **kwargs)
        except Exception as e:  # pylint: disable=broad-except
            self.module.fail_json_aws(e, msg=f"{method} failed", changes=self.changes)

    def call_while(self, codes, method, **kwargs):
        """`method` retried while AWS answers one of `codes` (a dependency not released yet), up to wait_timeout."""
        try:
            return self.waiter().retry_on(lambda: getattr(self.ec2, method)(aws_retry=True, **kwargs), codes)
        except Exception as e:  # pylint: disable=broad-except
            self.module.fail_json_aws(e, msg=f"{method} failed (retried for {self.params['wait_timeout']}s while "
                                             f"{'/'.join(codes)})", changes=self.changes)

    def list_all(self, method, key, **kwargs):
        try:
            return self.paginate(self.ec2, method, **kwargs)[key]
        except Exception as e:  # pylint: disable=broad-except
            self.module.fail_json_aws(e, msg=f"{method} failed", changes=self.changes)

    # -- lookups --------------------------------------------------------------------------------------
    def find_vpc(self):
        vpcs = self.list_all("describe_vpcs", "Vpcs",
                             Filters=[{"Name": "tag:Name", "Values": [self.name]}])
        if self.params["cidr_block"]:
            vpcs = [v for v in vpcs if v["CidrBlock"] == self.params["cidr_block"]] or vpcs
        if len(vpcs) > 1:
            self.module.fail_json(msg=f"{len(vpcs)} VPCs are tagged Name={self.name}; expected one",
                                  vpc_ids=[v["VpcId"] for v in vpcs])
        return vpcs[0] if vpcs else None

    # -- present --------------------------------------------------------------------------------------
    def ensure_vpc(self):
        vpc = self.find_vpc()
        if vpc and vpc["CidrBlock"] != self.params["cidr_block"]:
            self.module.fail_json(msg=(f"VPC {vpc['VpcId']} ({self.name}) has CIDR {vpc['CidrBlock']}, the inventory says "
                                       f"{self.params['cidr_block']}: a VPC's primary CIDR cannot change; tear it down first"))
        if not vpc:
            self.change(f"create VPC {self.name} {self.params['cidr_block']}")
            if self.check:
                return None
            vpc = self.call("create_vpc", CidrBlock=self.params["cidr_block"],
                            TagSpecifications=self.tag_spec("vpc", self.name))["Vpc"]
            self.ec2.get_waiter("vpc_available").wait(VpcIds=[vpc["VpcId"]])
            created = True
        else:
            created = False
            self.ensure_tags(vpc["VpcId"], _tags_of(vpc), self.name)
        self.vpc_id = vpc["VpcId"]
        for attr, key in (("enableDnsSupport", "EnableDnsSupport"), ("enableDnsHostnames", "EnableDnsHostnames")):
            value = False if created else self.call("describe_vpc_attribute", VpcId=self.vpc_id, Attribute=attr)[key]["Value"]
            if created and attr == "enableDnsSupport":
                value = True  # AWS default
            if not value:
                self.change(f"enable {attr} on {self.vpc_id}")
                if not self.check:
                    self.call("modify_vpc_attribute", VpcId=self.vpc_id, **{key: {"Value": True}})
        return self.vpc_id

    def ensure_subnets(self):
        azs = self.params["availability_zones"]
        existing = {}
        if self.vpc_id:
            for s in self.list_all("describe_subnets", "Subnets", Filters=[{"Name": "vpc-id", "Values": [self.vpc_id]}]):
                existing[s["CidrBlock"]] = s
        ids = {}
        for tier in TIERS:
            ids[tier] = []
            for index, cidr in enumerate(self.params[f"{tier}_subnet_cidrs"]):
                az = azs[index]
                name = f"{self.name}-{tier}-{az}"
                subnet = existing.get(cidr)
                if subnet and subnet["AvailabilityZone"] != az:
                    self.module.fail_json(msg=(f"subnet {subnet['SubnetId']} ({cidr}) is in {subnet['AvailabilityZone']}, "
                                               f"the inventory puts it in {az}: a subnet cannot move; tear it down first"))
                if not subnet:
                    self.change(f"create subnet {name} {cidr}")
                    if self.check:
                        ids[tier].append(f"subnet-(new {cidr})")
                        continue
                    subnet = self.call("create_subnet", VpcId=self.vpc_id, CidrBlock=cidr, AvailabilityZone=az,
                                       TagSpecifications=self.tag_spec("subnet", name))["Subnet"]
                else:
                    self.ensure_tags(subnet["SubnetId"], _tags_of(subnet), name)
                ids[tier].append(subnet["SubnetId"])
        wanted = {c for t in TIERS for c in self.params[f"{t}_subnet_cidrs"]}
        extra = sorted(c for c in existing if c not in wanted and _tags_of(existing[c]).get("Name", "").startswith(self.name + "-"))
        if extra:
            # Never delete a subnet implicitly: it may hold workloads. Report it.
            self.module.warn(f"subnets not in the inventory are kept: {', '.join(extra)}")
        return ids

    def ensure_igw(self):
        igws = []
        if self.vpc_id:
            igws = self.list_all("describe_internet_gateways", "InternetGateways",
                                 Filters=[{"Name": "attachment.vpc-id", "Values": [self.vpc_id]}])
        if igws:
            self.ensure_tags(igws[0]["InternetGatewayId"], _tags_of(igws[0]), f"{self.name}-igw")
            return igws[0]["InternetGatewayId"]
        self.change(f"create and attach internet gateway {self.name}-igw")
        if self.check:
            return "igw-(new)"
        igw = self.call("create_internet_gateway", TagSpecifications=self.tag_spec("internet-gateway", f"{self.name}-igw"))
        igw_id = igw["InternetGateway"]["InternetGatewayId"]
        self.call("attach_internet_gateway", InternetGatewayId=igw_id, VpcId=self.vpc_id)
        return igw_id

    def ensure_nats(self, subnet_ids):
        mode = self.params["nat_gateways"]
        azs = self.params["availability_zones"]
        wanted_azs = azs if mode == "per_az" else azs[:1] if mode == "single" else []
        nats = []
        if self.vpc_id:
            nats = [n for n in self.list_all("describe_nat_gateways", "NatGateways",
                                             Filters=[{"Name": "vpc-id", "Values": [self.vpc_id]}])
                    if n["State"] in ("pending", "available")]
        by_subnet = {n["SubnetId"]: n for n in nats}
        addresses = []
        if wanted_azs:
            addresses = self.call("describe_addresses",
                                  Filters=[{"Name": "tag:Name", "Values": [f"{self.name}-nat-{az}" for az in wanted_azs]}])["Addresses"]
        eip_by_name = {_tags_of(a).get("Name"): a for a in addresses}
        result = {}
        created = []
        for az in wanted_azs:
            index = azs.index(az)
            subnet_id = subnet_ids["public"][index]
            name = f"{self.name}-nat-{az}"
            nat = by_subnet.get(subnet_id)
            if nat:
                self.ensure_tags(nat["NatGatewayId"], _tags_of(nat), name)
                result[az] = nat["NatGatewayId"]
                if nat["State"] == "pending":
                    # left pending by an interrupted run: a route to it is a black hole until it is available
                    created.append(nat["NatGatewayId"])
                continue
            self.change(f"create NAT gateway {name} (with Elastic IP)")
            if self.check:
                result[az] = f"nat-(new {az})"
                continue
            eip = eip_by_name.get(name)
            if not eip:
                eip = self.call("allocate_address", Domain="vpc", TagSpecifications=self.tag_spec("elastic-ip", name))
            nat = self.call("create_nat_gateway", client=self.ec2_fresh, SubnetId=subnet_id, AllocationId=eip["AllocationId"],
                            TagSpecifications=self.tag_spec("natgateway", name))["NatGateway"]
            result[az] = nat["NatGatewayId"]
            created.append(nat["NatGatewayId"])
        unwanted = [n for n in nats if n["NatGatewayId"] not in result.values()]
        for nat in unwanted:
            self.change(f"delete NAT gateway {nat['NatGatewayId']} (nat_gateways={mode})")
            if not self.check:
                self.call("delete_nat_gateway", NatGatewayId=nat["NatGatewayId"])
        if created and not self.check:
            self.wait_nats(created, "available")
        if unwanted and not self.check:
            self.wait_nats([n["NatGatewayId"] for n in unwanted], "deleted")
            self.release_eips([a["AllocationId"] for n in unwanted for a in n.get("NatGatewayAddresses", [])
                               if a.get("AllocationId")])
        return result

    def wait_nats(self, nat_ids, state):
        waiter = self.waiter(interval=5)
        while True:
            nats = self.call("describe_nat_gateways", client=self.ec2_fresh, NatGatewayIds=nat_ids)["NatGateways"]
            if all(n["State"] == state for n in nats):
                return
            if any(n["State"] == "failed" for n in nats) and state == "available":
                self.module.fail_json(msg="a NAT gateway failed", nat_gateways=nats, changes=self.changes)
            if not waiter.sleep():
                self.module.fail_json(msg=f"NAT gateways not {state} after {self.params['wait_timeout']}s",
                                      nat_gateways=nats, changes=self.changes)

    def release_eips(self, allocation_ids):
        # An address stays associated for a moment after its NAT gateway is deleted (InvalidIPAddress.InUse).
        for allocation_id in allocation_ids:
            try:
                self.waiter().retry_on(lambda aid=allocation_id: self.ec2.release_address(aws_retry=True, AllocationId=aid),
                                       ("InvalidIPAddress.InUse", "AuthFailure"))
            except is_boto3_error_code("InvalidAllocationID.NotFound"):
                pass

    def ensure_route_tables(self, subnet_ids, igw_id, nat_by_az):
        azs = self.params["availability_zones"]
        tables = []
        if self.vpc_id:
            tables = self.list_all("describe_route_tables", "RouteTables",
                                   Filters=[{"Name": "vpc-id", "Values": [self.vpc_id]}])
        by_name = {_tags_of(t).get("Name"): t for t in tables}
        nat_list = list(nat_by_az.values())
        wanted = [(f"{self.name}-public", igw_id, "GatewayId", subnet_ids["public"])]
        for index, az in enumerate(azs[:len(subnet_ids["private"])]):
            nat = nat_by_az.get(az) or (nat_list[0] if nat_list else None)
            wanted.append((f"{self.name}-private-{az}", nat, "NatGatewayId", [subnet_ids["private"][index]]))
        wanted.append((f"{self.name}-database", None, None, subnet_ids["database"]))
        ids = {"public": None, "private": [], "database": None}
        for name, target, target_key, subnets in wanted:
            table = by_name.get(name)
            if not table:
                self.change(f"create route table {name}")
                if self.check:
                    table_id, routes, assocs = f"rtb-(new {name})", [], {}
                else:
                    table = self.call("create_route_table", VpcId=self.vpc_id,
                                      TagSpecifications=self.tag_spec("route-table", name))["RouteTable"]
                    table_id, routes, assocs = table["RouteTableId"], [], {}
            else:
                table_id = table["RouteTableId"]
                self.ensure_tags(table_id, _tags_of(table), name)
                routes = table.get("Routes", [])
                assocs = {a["SubnetId"]: a for a in table.get("Associations", []) if a.get("SubnetId")}
            default = [r for r in routes if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
            if target:
                if not default:
                    self.change(f"route 0.0.0.0/0 -> {target} in {name}")
                    if not self.check:
                        self.call("create_route", RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0", **{target_key: target})
                elif default[0].get(target_key) != target or default[0].get("State") == "blackhole":
                    self.change(f"replace route 0.0.0.0/0 -> {target} in {name} (was {default[0].get('GatewayId') or default[0].get('NatGatewayId')})")
                    if not self.check:
                        self.call("replace_route", RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0", **{target_key: target})
            elif default:
                self.change(f"delete route 0.0.0.0/0 from {name} (isolated tier)")
                if not self.check:
                    self.call("delete_route", RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0")
            for subnet_id in subnets:
                if subnet_id in assocs:
                    continue
                self.change(f"associate {subnet_id} with {name}")
                if self.check:
                    continue
                # A subnet has one explicit association: move it if it is elsewhere.
                current = [a for t in tables for a in t.get("Associations", []) if a.get("SubnetId") == subnet_id]
                if current:
                    self.call("replace_route_table_association", AssociationId=current[0]["RouteTableAssociationId"],
                              RouteTableId=table_id)
                else:
                    self.call("associate_route_table", RouteTableId=table_id, SubnetId=subnet_id)
            if name.endswith("-public"):
                ids["public"] = table_id
            elif name.endswith("-database"):
                ids["database"] = table_id
            else:
                ids["private"].append(table_id)
        return ids

    def ensure_default_sg_empty(self):
        if not self.vpc_id:
            self.change("empty the default security group of the new VPC")
            return "sg-(new default)"
        groups = self.call("describe_security_groups", Filters=[{"Name": "vpc-id", "Values": [self.vpc_id]},
                                                                {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
        group = groups[0]
        for direction, key in (("ingress", "IpPermissions"), ("egress", "IpPermissionsEgress")):
            perms = group.get(key) or []
            if not perms:
                continue
            self.change(f"revoke {len(perms)} {direction} rule(s) of the default security group {group['GroupId']}")
            if not self.check:
                clean = [{k: v for k, v in p.items() if k in ("IpProtocol", "FromPort", "ToPort", "IpRanges", "Ipv6Ranges",
                                                               "UserIdGroupPairs", "PrefixListIds")} for p in perms]
                for p in clean:
                    for pair in p.get("UserIdGroupPairs", []):
                        pair.pop("GroupName", None)
                method = "revoke_security_group_ingress" if direction == "ingress" else "revoke_security_group_egress"
                self.call(method, GroupId=group["GroupId"], IpPermissions=clean)
        self.ensure_tags(group["GroupId"], _tags_of(group), f"{self.name}-default-no-rules")
        return group["GroupId"]

    def ensure_flow_logs(self):
        cfg = self.params["flow_logs"] or {}
        if not cfg.get("enabled", True) and not self.vpc_id:
            return None
        logs = []
        if self.vpc_id:
            logs = self.call("describe_flow_logs", Filters=[{"Name": "resource-id", "Values": [self.vpc_id]}])["FlowLogs"]
        enabled = cfg.get("enabled", True) and bool(cfg)
        dest_type = cfg.get("destination_type") or "s3"
        dest = cfg.get("destination_arn")
        traffic = cfg.get("traffic_type") or "ALL"

        def matches(log):
            return (log.get("LogDestinationType") == dest_type and log.get("TrafficType") == traffic
                    and (log.get("LogDestination") or "").rstrip("/") == (dest or "").rstrip("/")
                    and (dest_type == "s3" or log.get("DeliverLogsPermissionArn") == cfg.get("iam_role_arn")))

        keep = [log for log in logs if enabled and matches(log)][:1]
        for log in logs:
            if log not in keep:
                self.change(f"delete flow log {log['FlowLogId']} ({log.get('LogDestination')})")
                if not self.check:
                    self.call("delete_flow_logs", FlowLogIds=[log["FlowLogId"]])
        if enabled and not keep:
            self.change(f"create flow log ({traffic}) of the VPC to {dest}")
            if not self.check:
                kwargs = dict(ResourceIds=[self.vpc_id], ResourceType="VPC", TrafficType=traffic,
                              LogDestinationType=dest_type, LogDestination=dest,
                              TagSpecifications=self.tag_spec("vpc-flow-log", f"{self.name}-flow-logs"))
                if dest_type == "cloud-watch-logs":
                    kwargs["DeliverLogsPermissionArn"] = cfg.get("iam_role_arn")
                result = self.call("create_flow_logs", **kwargs)
                if result.get("Unsuccessful"):
                    self.module.fail_json(msg="creating the flow log failed", unsuccessful=result["Unsuccessful"],
                                          changes=self.changes)
        return True

    def ensure_subnet_groups(self, database_subnet_ids):
        tags = [{"Key": k, "Value": str(v)} for k, v in self.base_tags.items()]
        wanted = sorted(database_subnet_ids)
        name = self.params["db_subnet_group_name"]
        if name:
            rds = self.client("rds")
            try:
                group = rds.describe_db_subnet_groups(aws_retry=True, DBSubnetGroupName=name)["DBSubnetGroups"][0]
            except is_boto3_error_code("DBSubnetGroupNotFoundFault"):
                group = None
            except Exception as e:  # pylint: disable=broad-except
                self.module.fail_json_aws(e, msg="describe_db_subnet_groups failed")
            current = sorted(s["SubnetIdentifier"] for s in group["Subnets"]) if group else None
            if current != wanted:
                self.change(f"{'update' if group else 'create'} DB subnet group {name}")
                if not self.check:
                    try:
                        if group:
                            rds.modify_db_subnet_group(aws_retry=True, DBSubnetGroupName=name, SubnetIds=wanted)
                        else:
                            rds.create_db_subnet_group(aws_retry=True, DBSubnetGroupName=name, SubnetIds=wanted, Tags=tags,
                                                       DBSubnetGroupDescription=f"{self.name} database subnets")
                    except Exception as e:  # pylint: disable=broad-except
                        self.module.fail_json_aws(e, msg="DB subnet group failed", changes=self.changes)
        name = self.params["cache_subnet_group_name"]
        if name:
            cache = self.client("elasticache")
            try:
                group = cache.describe_cache_subnet_groups(aws_retry=True, CacheSubnetGroupName=name)["CacheSubnetGroups"][0]
            except is_boto3_error_code("CacheSubnetGroupNotFoundFault"):
                group = None
            except Exception as e:  # pylint: disable=broad-except
                self.module.fail_json_aws(e, msg="describe_cache_subnet_groups failed")
            current = sorted(s["SubnetIdentifier"] for s in group["Subnets"]) if group else None
            if current != wanted:
                self.change(f"{'update' if group else 'create'} cache subnet group {name}")
                if not self.check:
                    try:
                        if group:
                            cache.modify_cache_subnet_group(aws_retry=True, CacheSubnetGroupName=name, SubnetIds=wanted)
                        else:
                            cache.create_cache_subnet_group(aws_retry=True, CacheSubnetGroupName=name, SubnetIds=wanted,
                                                            CacheSubnetGroupDescription=f"{self.name} database subnets",
                                                            Tags=tags)
                    except Exception as e:  # pylint: disable=broad-except
                        self.module.fail_json_aws(e, msg="cache subnet group failed", changes=self.changes)

    def present(self):
        self.ensure_vpc()
        subnet_ids = self.ensure_subnets()
        igw_id = self.ensure_igw()
        nat_by_az = self.ensure_nats(subnet_ids)
        rt_ids = self.ensure_route_tables(subnet_ids, igw_id, nat_by_az)
        sg_id = self.ensure_default_sg_empty()
        self.ensure_flow_logs()
        self.ensure_subnet_groups(subnet_ids["database"])
        return dict(vpc_id=self.vpc_id or "vpc-(new)", subnet_ids=subnet_ids, internet_gateway_id=igw_id,
                    nat_gateway_ids=list(nat_by_az.values()), route_table_ids=rt_ids, default_security_group_id=sg_id)

    # -- absent ---------------------------------------------------------------------------------------
    def absent(self):
        for name, service, describe, delete, missing in (
            ("db_subnet_group_name", "rds", "describe_db_subnet_groups", "delete_db_subnet_group", "DBSubnetGroupNotFoundFault"),
            ("cache_subnet_group_name", "elasticache", "describe_cache_subnet_groups", "delete_cache_subnet_group",
             "CacheSubnetGroupNotFoundFault"),
        ):
            group = self.params[name]
            if not group:
                continue
            client = self.client(service)
            key = "DBSubnetGroupName" if service == "rds" else "CacheSubnetGroupName"
            try:
                getattr(client, describe)(aws_retry=True, **{key: group})
            except is_boto3_error_code(missing):
                continue
            self.change(f"delete {service} subnet group {group}")
            if not self.check:
                try:
                    getattr(client, delete)(aws_retry=True, **{key: group})
                except botocore.parsers.ResponseParserError as e:
                    # An endpoint that answers with a server error page instead of an AWS error (the emulator does
                    # not implement DeleteCacheSubnetGroup): report it and go on with the rest of the network.
                    self.module.warn(f"could not delete {service} subnet group {group}: {e}")
        vpc = self.find_vpc()
        if not vpc:
            return {}
        vpc_id = vpc["VpcId"]
        self.change(f"delete VPC {vpc_id} ({self.name}) and everything in it")
        if self.check:
            return {}
        flt = [{"Name": "vpc-id", "Values": [vpc_id]}]
        logs = self.call("describe_flow_logs", Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["FlowLogs"]
        if logs:
            self.call("delete_flow_logs", FlowLogIds=[log["FlowLogId"] for log in logs])
        nats = [n for n in self.list_all("describe_nat_gateways", "NatGateways", Filters=flt) if n["State"] != "deleted"]
        for nat in nats:
            if nat["State"] != "deleting":
                self.call("delete_nat_gateway", NatGatewayId=nat["NatGatewayId"])
        if nats:
            self.wait_nats([n["NatGatewayId"] for n in nats], "deleted")
        allocations = [a["AllocationId"] for n in nats for a in n.get("NatGatewayAddresses", []) if a.get("AllocationId")]
        tagged = self.call("describe_addresses", Filters=[{"Name": "tag:Name", "Values": [f"{self.name}-nat-*"]}])["Addresses"]
        self.release_eips(sorted(set(allocations + [a["AllocationId"] for a in tagged if "AssociationId" not in a])))
        for table in self.list_all("describe_route_tables", "RouteTables", Filters=flt):
            if any(a.get("Main") for a in table.get("Associations", [])):
                continue
            for assoc in table.get("Associations", []):
                self.call("disassociate_route_table", AssociationId=assoc["RouteTableAssociationId"])
            self.call("delete_route_table", RouteTableId=table["RouteTableId"])
        # The network interfaces of load balancers, Fargate tasks and RDS are released minutes after their owner:
        # until then AWS answers DependencyViolation (and detaching the gateway, while public addresses are mapped).
        for igw in self.list_all("describe_internet_gateways", "InternetGateways",
                                 Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}]):
            self.call_while(DEPENDENCY, "detach_internet_gateway", InternetGatewayId=igw["InternetGatewayId"], VpcId=vpc_id)
            self.call("delete_internet_gateway", InternetGatewayId=igw["InternetGatewayId"])
        for subnet in self.list_all("describe_subnets", "Subnets", Filters=flt):
            self.call_while(DEPENDENCY, "delete_subnet", SubnetId=subnet["SubnetId"])
        for group in self.list_all("describe_security_groups", "SecurityGroups", Filters=flt):
            if group["GroupName"] != "default":
                self.call_while(DEPENDENCY, "delete_security_group", GroupId=group["GroupId"])
        self.call_while(DEPENDENCY, "delete_vpc", VpcId=vpc_id)
        return {}


def validate(module):
    p = module.params
    if p["state"] == "absent":
        return
    if not p["cidr_block"]:
        module.fail_json(msg="cidr_block is required with state=present")
    azs = p["availability_zones"]
    if not 2 <= len(azs) <= 3:
        module.fail_json(msg="availability_zones needs 2 or 3 zones")
    for tier in TIERS:
        if len(p[f"{tier}_subnet_cidrs"]) != len(azs):
            module.fail_json(msg=f"{tier}_subnet_cidrs needs one CIDR per availability zone ({len(azs)})")
    flow = p["flow_logs"] or {}
    if flow and flow.get("enabled", True):
        if not flow.get("destination_arn"):
            module.fail_json(msg="flow_logs.destination_arn is required when flow logs are enabled")
        if flow.get("destination_type") == "cloud-watch-logs" and not flow.get("iam_role_arn"):
            module.fail_json(msg="flow_logs.iam_role_arn is required for destination_type=cloud-watch-logs")


Network.argument_spec = dict(
    name=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    cidr_block=dict(type="str"),
    availability_zones=dict(type="list", elements="str", default=[]),
    public_subnet_cidrs=dict(type="list", elements="str", default=[]),
    private_subnet_cidrs=dict(type="list", elements="str", default=[]),
    database_subnet_cidrs=dict(type="list", elements="str", default=[]),
    nat_gateways=dict(type="str", choices=["per_az", "single", "none"], default="per_az"),
    flow_logs=dict(type="dict", default={}, options=dict(
        enabled=dict(type="bool", default=True),
        destination_type=dict(type="str", choices=["s3", "cloud-watch-logs"], default="s3"),
        destination_arn=dict(type="str"),
        iam_role_arn=dict(type="str"),
        traffic_type=dict(type="str", choices=["ACCEPT", "REJECT", "ALL"], default="ALL"),
    )),
    db_subnet_group_name=dict(type="str"),
    cache_subnet_group_name=dict(type="str"),
    tags=dict(type="dict", default={}),
    wait_timeout=dict(type="int", default=600),
    poll_interval=dict(type="int", default=15),
)


def main():
    Network.main()


if __name__ == "__main__":
    main()
