# GPL-3.0-or-later
"""The network plan of an inventory checked before any API call (role `vpc`, entry point `validate`; no netaddr needed).

Filters:
  cidr_problems(vpc_cidr, tiers, azs) -> [messages naming the inventory variable at fault]

`tiers` maps each subnet variable to its CIDRs, e.g. {'vpc_public_subnet_cidrs': [...], ...}; `azs` is the list of
availability zones (one subnet of every tier per zone).
"""

from __future__ import annotations

import ipaddress


def cidr_problems(vpc_cidr, tiers, azs):
    """Return a list of human-readable problems, each naming the inventory variable at fault.

    vpc_cidr: the VPC CIDR; tiers: {variable name: [CIDR, ...]}; azs: list of availability zones.
    """
    problems = []
    try:
        vpc = ipaddress.IPv4Network(str(vpc_cidr), strict=True)
    except ValueError as exc:
        return [f"vpc_cidr '{vpc_cidr}' is not an IPv4 network CIDR ({exc})"]
    if not 16 <= vpc.prefixlen <= 24:
        problems.append(f"vpc_cidr '{vpc_cidr}' must be between /16 and /24 (AWS limits)")
    if not vpc.is_private:
        problems.append(f"vpc_cidr '{vpc_cidr}' is not a private (RFC 1918) range")
    azs = list(azs or [])
    if not 2 <= len(azs) <= 3 or len(set(azs)) != len(azs):
        problems.append(f"vpc_availability_zones needs 2 or 3 distinct zones, got {azs}")
    seen = []
    for variable, cidrs in (tiers or {}).items():
        cidrs = list(cidrs or [])
        if len(cidrs) != len(azs):
            problems.append(f"{variable} needs one CIDR per availability zone ({len(azs)}), got {len(cidrs)}")
        for cidr in cidrs:
            try:
                net = ipaddress.IPv4Network(str(cidr), strict=True)
            except ValueError as exc:
                problems.append(f"{variable}: '{cidr}' is not an IPv4 network CIDR ({exc})")
                continue
            if not net.subnet_of(vpc):
                problems.append(f"{variable}: {cidr} is not inside vpc_cidr {vpc_cidr}")
            if not 16 <= net.prefixlen <= 28:
                problems.append(f"{variable}: {cidr} must be between /16 and /28 (AWS limits)")
            for other_variable, other in seen:
                if net.overlaps(other):
                    problems.append(f"{variable}: {cidr} overlaps {other} of {other_variable}")
            seen.append((variable, net))
    return problems


class FilterModule:  # pylint: disable=too-few-public-methods
    """webstack.platform network-plan filters."""

    def filters(self):
        return {"cidr_problems": cidr_problems}
