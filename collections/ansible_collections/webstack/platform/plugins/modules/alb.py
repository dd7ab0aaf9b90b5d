#!/usr/bin/python
# -*- coding: utf-8 -*-
# GPL-3.0-or-later
"""webstack.platform.alb: the edge layer (application load balancer) of an environment in one module execution."""

from __future__ import annotations

DOCUMENTATION = r"""
module: alb
short_description: The application load balancer of an environment in one execution (listeners, target groups, rules, attributes)
description:
  - Manages the whole edge layer of a webstack environment in one module execution, reading the current state in a
    few calls and writing only what differs, in this order - target groups, the load balancer, its listeners
    (HTTP redirected to HTTPS, HTTPS with a certificate and a TLS policy), the listener rules, the attributes, the tags.
  - One target group per routed process (C(processes) with a C(port) and a C(route)), type C(ip), named
    C(<target_group_prefix><process>), health-checked on the process's C(health.readiness) path (else
    C(health.liveness), else C(/) with C(health_check_any_answer_matcher)).
  - Listener rules by C(route.host) (host-header) and/or C(route.path) (path-pattern C(<prefix>) and C(<prefix>/*)),
    most specific first (host before no host, longer path before shorter, then name), priorities 10, 20, ... in
    that order. The process routed at C(/) without a host is the HTTPS listener's default action; without one the
    listener answers a fixed 404.
  - Sandbox certificate (C(self_signed_certificate)) - looked up in ACM by its C(Name) tag; when ACM has none, a
    self-signed certificate is generated once into a directory of the controller (key mode 0600) and imported.
  - Check mode reports every difference (one line each in C(changes), e.g. C(target group x - health_check_path -
    / -> /health/ready)) and writes nothing; C(--diff) shows the same lines.
  - C(state=absent) lifts deletion protection, deletes the load balancer (its listeners and rules go with it), the
    target groups and the sandbox certificate.
version_added: 0.2.0
author: webstack maintainers
options:
  name:
    description: Name of the load balancer (32 characters at most).
    type: str
    required: true
  state:
    description: C(present) creates or updates the layer, C(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  scheme:
    description: Scheme of the load balancer (cannot change once created).
    type: str
    choices: [internet-facing, internal]
    default: internet-facing
  subnets:
    description: Subnet ids of the load balancer (two or more, in different zones). Required with C(state=present).
    type: list
    elements: str
    default: []
  security_groups:
    description: Security group ids of the load balancer.
    type: list
    elements: str
    default: []
  vpc_id:
    description: VPC of the target groups.
    type: str
    default: ""
  processes:
    description:
      - The processes of the application description (C(name), C(port), C(route.path), C(route.host),
        C(health.readiness), C(health.liveness)); those without a port or a route get no target group.
    type: list
    elements: dict
    default: []
  target_group_prefix:
    description: Prefix of the target group names (default C(<name>-)).
    type: str
    default: ""
  health_check:
    description:
      - Health-check settings of every target group - C(interval), C(timeout), C(healthy_threshold),
        C(unhealthy_threshold) (seconds, counts), C(matcher) (HTTP codes on a health path) and
        C(any_answer_matcher) (codes on C(/) of a process without health path).
    type: dict
    default: {}
  deregistration_delay:
    description: Seconds a deregistered target keeps serving in-flight requests.
    type: int
    default: 30
  ssl_policy:
    description: TLS policy of the HTTPS listener.
    type: str
    default: ELBSecurityPolicy-TLS13-1-2-2021-06
  certificate_arn:
    description: ACM certificate of the HTTPS listener. Empty with C(self_signed_certificate) set.
    type: str
    default: ""
  self_signed_certificate:
    description:
      - Sandbox only - C(domain) and C(dir) (a directory of the controller). The certificate tagged
        C(Name=<name>) in ACM is used; when there is none, C(<dir>/<name>-alb.key) and C(<dir>/<name>-alb.crt)
        are read, or generated (RSA 2048, self-signed for C(domain), 365 days) when missing, and imported.
    type: dict
  attributes:
    description: Load balancer attributes (values compared as lowercase strings, e.g. C(true), C(60)).
    type: dict
    default: {}
  tags:
    description: Tags of the load balancer, its target groups and the sandbox certificate (added or updated, never purged).
    type: dict
    default: {}
  wait_timeout:
    description: Seconds C(state=absent) waits for the load balancer to be gone before deleting the target groups.
    type: int
    default: 600
  poll_interval:
    description: Seconds between the polls of that wait.
    type: int
    default: 5
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Edge layer
  webstack.platform.alb:
    name: webstack-prod
    subnets: [subnet-0a, subnet-0b]
    security_groups: [sg-0a]
    vpc_id: vpc-0a
    processes:
      - {name: web, port: 8000, route: {path: /}, health: {readiness: /health/ready}}
      - {name: api, port: 8000, route: {path: /api}, health: {readiness: /health/ready}}
      - {name: worker}
    health_check: {interval: 10, timeout: 5, healthy_threshold: 2, unhealthy_threshold: 3, matcher: "200",
                   any_answer_matcher: "200-499"}
    certificate_arn: arn:aws:acm:eu-west-1:123456789012:certificate/abc
    attributes:
      access_logs.s3.enabled: true
      access_logs.s3.bucket: webstack-prod-logs
      access_logs.s3.prefix: alb
      deletion_protection.enabled: true
    tags: {Environment: prod}
"""

RETURN = r"""
load_balancer_arn:
  description: ARN of the load balancer (empty in check mode before it exists, and after state=absent).
  type: str
  returned: always
dns_name:
  description: DNS name of the load balancer (empty in check mode before it exists).
  type: str
  returned: always
canonical_hosted_zone_id:
  description: Route 53 zone of the load balancer's DNS name (for alias records).
  type: str
  returned: always
target_group_arns:
  description: Target group ARN per routed process name (empty strings in check mode for groups not created yet).
  type: dict
  returned: always
certificate_arn:
  description: Certificate of the HTTPS listener.
  type: str
  returned: always
changes:
  description: What changed (or would change in check mode), one line per action or difference.
  type: list
  elements: str
  returned: always
"""

import datetime
import os
import re

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.webstack.platform.plugins.module_utils.base import Layer

HEALTH_DEFAULTS = {"interval": 10, "timeout": 5, "healthy_threshold": 2, "unhealthy_threshold": 3, "matcher": "200",
                   "any_answer_matcher": "200-499"}
HTTP_REDIRECT = {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "Host": "#{host}",
                                                        "Path": "/#{path}", "Query": "#{query}", "StatusCode": "HTTP_301"}}
NOT_FOUND = {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain",
                                                               "MessageBody": "no route"}}


def normalize(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def routed(processes, prefix, health):
    """The routed processes, normalised: [{name, target_group, port, path ('' = '/'), host, health_check_path, matcher}]."""
    out = []
    for p in processes or []:
        route = p.get("route") or {}
        checks = p.get("health") or {}
        port = int(p.get("port") or 0)
        if not (route.get("path") or route.get("host")) or port <= 0:
            continue
        check = checks.get("readiness") or checks.get("liveness") or ""
        out.append({"name": p["name"], "target_group": prefix + p["name"], "port": port,
                    "path": re.sub("/+$", "", route.get("path") or "/"), "host": (route.get("host") or "").lower(),
                    "health_check_path": check or "/",
                    "matcher": str(health["matcher"] if check else health["any_answer_matcher"])})
    return out


def rules_of(routes):
    """One rule per routed process other than the default, most specific first, priorities 10, 20, ..."""
    ranked = sorted((r for r in routes if r["host"] or r["path"]),
                    key=lambda r: ("0" if r["host"] else "1") + "%05d" % (9999 - len(r["path"])) + r["name"])
    rules = []
    for index, r in enumerate(ranked, start=1):
        conditions = []
        if r["host"]:
            conditions.append(("host-header", (r["host"],)))
        if r["path"]:
            conditions.append(("path-pattern", (r["path"], r["path"] + "/*")))
        rules.append({"priority": str(10 * index), "conditions": tuple(conditions), "target_group": r["target_group"]})
    return rules


def action_key(action, tg_names_by_arn):
    """A comparable form of a listener/rule action."""
    kind = action.get("Type")
    if kind == "forward":
        arn = action.get("TargetGroupArn") or ((action.get("ForwardConfig") or {}).get("TargetGroups") or [{}])[0].get("TargetGroupArn")
        return ("forward", tg_names_by_arn.get(arn, arn))
    if kind == "redirect":
        cfg = action.get("RedirectConfig") or {}
        return ("redirect",) + tuple(str(cfg.get(k, "")) for k in ("Protocol", "Port", "Host", "Path", "Query", "StatusCode"))
    if kind == "fixed-response":
        cfg = action.get("FixedResponseConfig") or {}
        return ("fixed-response",) + tuple(str(cfg.get(k, "")) for k in ("StatusCode", "ContentType", "MessageBody"))
    return (kind,)


def conditions_key(conditions):
    out = []
    for c in conditions or []:
        field = c.get("Field")
        cfg = c.get("HostHeaderConfig") if field == "host-header" else c.get("PathPatternConfig") if field == "path-pattern" else None
        values = (cfg or {}).get("Values") or c.get("Values") or []
        out.append((field, tuple(values)))
    return tuple(sorted(out))


def conditions_api(conditions):
    out = []
    for field, values in conditions:
        key = "HostHeaderConfig" if field == "host-header" else "PathPatternConfig"
        out.append({"Field": field, key: {"Values": list(values)}})
    return out


class Alb(Layer):
    argument_spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        scheme=dict(type="str", choices=["internet-facing", "internal"], default="internet-facing"),
        subnets=dict(type="list", elements="str", default=[]),
        security_groups=dict(type="list", elements="str", default=[]),
        vpc_id=dict(type="str", default=""),
        processes=dict(type="list", elements="dict", default=[]),
        target_group_prefix=dict(type="str", default=""),
        health_check=dict(type="dict", default={}),
        deregistration_delay=dict(type="int", default=30),
        ssl_policy=dict(type="str", default="ELBSecurityPolicy-TLS13-1-2-2021-06"),
        certificate_arn=dict(type="str", default=""),
        self_signed_certificate=dict(type="dict"),
        attributes=dict(type="dict", default={}),
        tags=dict(type="dict", default={}),
        wait_timeout=dict(type="int", default=600),
        poll_interval=dict(type="int", default=5),
    )

    def __init__(self, module):
        super().__init__(module)
        self.name = self.p["name"]
        self.label = f"load balancer {self.name}"
        self.prefix = self.p["target_group_prefix"] or f"{self.name}-"
        self.health = dict(HEALTH_DEFAULTS, **{k: v for k, v in (self.p["health_check"] or {}).items() if v is not None})
        self.routes = routed(self.p["processes"], self.prefix, self.health)
        self.tags = {k: str(v) for k, v in (self.p["tags"] or {}).items()}
        self.elb = self.client("elbv2")

    @property
    def acm(self):
        return self.client("acm")

    # -- reads -------------------------------------------------------------------------------------------
    def load_balancer(self):
        try:
            lbs = self.elb.describe_load_balancers(aws_retry=True, Names=[self.name])["LoadBalancers"]
        except is_boto3_error_code("LoadBalancerNotFound"):
            return None
        return lbs[0] if lbs else None

    def target_groups(self, names):
        """Existing target groups of `names` by name (one call when all exist)."""
        if not names:
            return {}
        try:
            found = self.elb.describe_target_groups(aws_retry=True, Names=names)["TargetGroups"]
        except is_boto3_error_code("TargetGroupNotFound"):
            found = []
            for name in names:
                try:
                    found += self.elb.describe_target_groups(aws_retry=True, Names=[name])["TargetGroups"]
                except is_boto3_error_code("TargetGroupNotFound"):
                    pass
        return {tg["TargetGroupName"]: tg for tg in found}

    def tags_of(self, arns):
        if not arns:
            return {}
        out = {}
        for start in range(0, len(arns), 20):
            for desc in self.elb.describe_tags(aws_retry=True, ResourceArns=arns[start:start + 20])["TagDescriptions"]:
                out[desc["ResourceArn"]] = {t["Key"]: t["Value"] for t in desc.get("Tags", [])}
        return out

    # -- certificate ---------------------------------------------------------------------------------------
    def certificate(self, current_arn):
        """The HTTPS listener's certificate ARN ('' in check mode when it would be imported)."""
        if self.p["certificate_arn"]:
            return self.p["certificate_arn"]
        spec = self.p["self_signed_certificate"] or {}
        if not spec.get("domain"):
            self.fail("certificate_arn or self_signed_certificate (domain, dir) is needed")
        if current_arn and self._certificate_is_ours(current_arn):
            return current_arn
        found = self._find_certificate(spec["domain"])
        if found:
            return found
        self.change(f"import self-signed certificate {spec['domain']} into ACM (Name={self.name})")
        if self.check:
            return ""
        cert, key = self._self_signed_files(spec)
        arn = self.acm.import_certificate(aws_retry=True, Certificate=cert, PrivateKey=key,
                                          Tags=[{"Key": k, "Value": v} for k, v in dict(self.tags, Name=self.name).items()])
        return arn["CertificateArn"]

    def _certificate_is_ours(self, arn):
        try:
            tags = self.acm.list_tags_for_certificate(aws_retry=True, CertificateArn=arn).get("Tags", [])
        except is_boto3_error_code("ResourceNotFoundException"):
            return False
        return any(t["Key"] == "Name" and t.get("Value") == self.name for t in tags)

    def _find_certificate(self, domain):
        paginator = self.acm.get_paginator("list_certificates")
        for summary in paginator.paginate().build_full_result().get("CertificateSummaryList", []):
            if summary.get("DomainName") == domain and self._certificate_is_ours(summary["CertificateArn"]):
                return summary["CertificateArn"]
        return ""

    def _self_signed_files(self, spec):
        directory = spec.get("dir") or "."
        key_path = os.path.join(directory, f"{self.name}-alb.key")
        cert_path = os.path.join(directory, f"{self.name}-alb.crt")
        if os.path.exists(key_path) and os.path.exists(cert_path):
            with open(cert_path, "rb") as c, open(key_path, "rb") as k:
                return c.read(), k.read()
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        os.makedirs(directory, mode=0o700, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, spec["domain"])])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now)
                .not_valid_after(now + datetime.timedelta(days=365))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(spec["domain"])]), critical=False)
                .sign(key, hashes.SHA256()))
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key_pem)
        with open(cert_path, "wb") as handle:
            handle.write(cert_pem)
        return cert_pem, key_pem

    # -- present -------------------------------------------------------------------------------------------
    def ensure_target_groups(self):
        existing = self.target_groups([r["target_group"] for r in self.routes])
        attrs = {}
        for route in self.routes:
            tg = existing.get(route["target_group"])
            want = {"health_check_path": route["health_check_path"],
                    "health_check_interval_seconds": int(self.health["interval"]),
                    "health_check_timeout_seconds": int(self.health["timeout"]),
                    "healthy_threshold_count": int(self.health["healthy_threshold"]),
                    "unhealthy_threshold_count": int(self.health["unhealthy_threshold"]),
                    "matcher": route["matcher"]}
            if tg is None:
                self.change(f"create target group {route['target_group']} (ip, HTTP:{route['port']}, health {route['health_check_path']})")
                if self.check:
                    continue
                tg = self.elb.create_target_group(
                    aws_retry=True, Name=route["target_group"], Protocol="HTTP", Port=route["port"], VpcId=self.p["vpc_id"],
                    TargetType="ip", HealthCheckEnabled=True, HealthCheckProtocol="HTTP", HealthCheckPort="traffic-port",
                    HealthCheckPath=want["health_check_path"],
                    HealthCheckIntervalSeconds=want["health_check_interval_seconds"],
                    HealthCheckTimeoutSeconds=want["health_check_timeout_seconds"],
                    HealthyThresholdCount=want["healthy_threshold_count"],
                    UnhealthyThresholdCount=want["unhealthy_threshold_count"], Matcher={"HttpCode": want["matcher"]},
                    **({"Tags": [{"Key": k, "Value": v} for k, v in self.tags.items()]} if self.tags else {}))["TargetGroups"][0]
                existing[route["target_group"]] = tg
                self.ensure_target_group_attributes(tg, route, {})
                continue
            fixed = {"port": (tg.get("Port"), route["port"]), "protocol": (tg.get("Protocol"), "HTTP"),
                     "target_type": (tg.get("TargetType"), "ip"), "vpc_id": (tg.get("VpcId"), self.p["vpc_id"] or tg.get("VpcId"))}
            moved = [f"{k}: {a} -> {b}" for k, (a, b) in fixed.items() if a != b]
            if moved:
                self.fail(f"target group {route['target_group']}: {', '.join(moved)} cannot change in place; "
                                          "delete the target group (teardown --tags edge) and provision again",
                                      changes=self.changes)
            current = {"health_check_path": tg.get("HealthCheckPath"),
                       "health_check_interval_seconds": tg.get("HealthCheckIntervalSeconds"),
                       "health_check_timeout_seconds": tg.get("HealthCheckTimeoutSeconds"),
                       "healthy_threshold_count": tg.get("HealthyThresholdCount"),
                       "unhealthy_threshold_count": tg.get("UnhealthyThresholdCount"),
                       "matcher": (tg.get("Matcher") or {}).get("HttpCode")}
            diff = {k: v for k, v in want.items() if current.get(k) != v}
            if diff:
                self.change(f"target group {route['target_group']}: "
                            + ", ".join(f"{k}: {current.get(k)} -> {v}" for k, v in diff.items()))
                if not self.check:
                    self.elb.modify_target_group(
                        aws_retry=True, TargetGroupArn=tg["TargetGroupArn"], HealthCheckPath=want["health_check_path"],
                        HealthCheckIntervalSeconds=want["health_check_interval_seconds"],
                        HealthCheckTimeoutSeconds=want["health_check_timeout_seconds"],
                        HealthyThresholdCount=want["healthy_threshold_count"],
                        UnhealthyThresholdCount=want["unhealthy_threshold_count"], Matcher={"HttpCode": want["matcher"]})
            attrs[route["target_group"]] = self.elb.describe_target_group_attributes(
                aws_retry=True, TargetGroupArn=tg["TargetGroupArn"])["Attributes"]
            self.ensure_target_group_attributes(tg, route, {a["Key"]: a["Value"] for a in attrs[route["target_group"]]})
        return existing

    def ensure_target_group_attributes(self, tg, route, current):
        want = str(int(self.p["deregistration_delay"]))
        have = current.get("deregistration_delay.timeout_seconds")
        if have != want:
            if current:
                self.change(f"target group {route['target_group']}: deregistration_delay_timeout_seconds: {have} -> {want}")
            if not self.check:
                self.elb.modify_target_group_attributes(aws_retry=True, TargetGroupArn=tg["TargetGroupArn"], Attributes=[
                    {"Key": "deregistration_delay.timeout_seconds", "Value": want}])

    def ensure_load_balancer(self):
        lb = self.load_balancer()
        if lb is None:
            self.change(f"create load balancer {self.name} ({self.p['scheme']}, {len(self.p['subnets'])} subnets)")
            if self.check:
                return None
            lb = self.elb.create_load_balancer(
                aws_retry=True, Name=self.name, Subnets=self.p["subnets"], SecurityGroups=self.p["security_groups"],
                Scheme=self.p["scheme"], Type="application", IpAddressType="ipv4",
                **({"Tags": [{"Key": k, "Value": v} for k, v in self.tags.items()]} if self.tags else {}))["LoadBalancers"][0]
            return dict(lb, __created=True)
        if lb.get("Scheme") != self.p["scheme"]:
            self.fail(f"load balancer {self.name} is {lb.get('Scheme')}, not {self.p['scheme']}: the scheme "
                                      "cannot change; tear the edge layer down first", changes=self.changes)
        subnets = sorted(az["SubnetId"] for az in lb.get("AvailabilityZones", []) if az.get("SubnetId"))
        if self.p["subnets"] and subnets != sorted(self.p["subnets"]):
            self.change(f"load balancer {self.name}: subnets {subnets} -> {sorted(self.p['subnets'])}")
            if not self.check:
                self.elb.set_subnets(aws_retry=True, LoadBalancerArn=lb["LoadBalancerArn"], Subnets=self.p["subnets"])
        groups = sorted(lb.get("SecurityGroups", []))
        if self.p["security_groups"] and groups != sorted(self.p["security_groups"]):
            self.change(f"load balancer {self.name}: security groups {groups} -> {sorted(self.p['security_groups'])}")
            if not self.check:
                self.elb.set_security_groups(aws_retry=True, LoadBalancerArn=lb["LoadBalancerArn"],
                                             SecurityGroups=self.p["security_groups"])
        return lb

    def ensure_tags(self, arns_by_label):
        arns = [arn for arn in arns_by_label.values() if arn]
        if not self.tags or not arns:
            return
        current = self.tags_of(arns)
        for label, arn in arns_by_label.items():
            if not arn:
                continue
            missing = {k: v for k, v in self.tags.items() if current.get(arn, {}).get(k) != v}
            if missing:
                self.change(f"tag {label}: {sorted(missing)}")
                if not self.check:
                    self.elb.add_tags(aws_retry=True, ResourceArns=[arn], Tags=[{"Key": k, "Value": v} for k, v in missing.items()])

    def ensure_listeners(self, lb, current, tgs, certificate_arn):
        arn_of = {name: tg["TargetGroupArn"] for name, tg in tgs.items()}
        name_of = {v: k for k, v in arn_of.items()}
        default = next((r["target_group"] for r in self.routes if r["path"] == "" and not r["host"]), "")
        https_default = ({"Type": "forward", "TargetGroupArn": arn_of.get(default, "")} if default else NOT_FOUND)
        want = {
            80: {"Protocol": "HTTP", "DefaultActions": [HTTP_REDIRECT]},
            443: {"Protocol": "HTTPS", "SslPolicy": self.p["ssl_policy"], "Certificates": [{"CertificateArn": certificate_arn}],
                  "DefaultActions": [https_default]},
        }
        for port, lst in sorted(current.items()):
            if port not in want:
                self.change(f"delete listener {lst.get('Protocol')}:{port}")
                if not self.check:
                    self.elb.delete_listener(aws_retry=True, ListenerArn=lst["ListenerArn"])
        arns = {}
        for port, spec in want.items():
            lst = current.get(port)
            if lst is None:
                self.change(f"create listener {spec['Protocol']}:{port}"
                            + (f" (default {default or 'fixed 404'})" if port == 443 else " (redirect to HTTPS)"))
                if not self.check:
                    arns[port] = self.elb.create_listener(aws_retry=True, LoadBalancerArn=lb["LoadBalancerArn"], Port=port,
                                                          **spec)["Listeners"][0]["ListenerArn"]
                continue
            arns[port] = lst["ListenerArn"]
            diffs = []
            if lst.get("Protocol") != spec["Protocol"]:
                diffs.append(f"protocol {lst.get('Protocol')} -> {spec['Protocol']}")
            if port == 443:
                if lst.get("SslPolicy") != spec["SslPolicy"]:
                    diffs.append(f"ssl policy {lst.get('SslPolicy')} -> {spec['SslPolicy']}")
                have_cert = ((lst.get("Certificates") or [{}])[0]).get("CertificateArn", "")
                if certificate_arn and have_cert != certificate_arn:
                    diffs.append(f"certificate {have_cert} -> {certificate_arn}")
            have = [action_key(a, name_of) for a in lst.get("DefaultActions", [])]
            wanted = [action_key(a, name_of) for a in spec["DefaultActions"]]
            if port == 443 and default and not arn_of.get(default):
                wanted = [("forward", default)]
            if have != wanted:
                diffs.append(f"default action {have} -> {wanted}")
            if diffs:
                self.change(f"listener {spec['Protocol']}:{port}: " + ", ".join(diffs))
                if not self.check:
                    args = dict(spec)
                    if not certificate_arn:
                        args.pop("Certificates", None)
                    self.elb.modify_listener(aws_retry=True, ListenerArn=lst["ListenerArn"], Port=port, **args)
        return arns.get(443, "")

    def ensure_rules(self, listener_arn, tgs):
        arn_of = {name: tg["TargetGroupArn"] for name, tg in tgs.items()}
        name_of = {v: k for k, v in arn_of.items()}
        want = {r["priority"]: r for r in rules_of(self.routes)}
        current = {}
        if listener_arn:
            for rule in self.elb.get_paginator("describe_rules").paginate(ListenerArn=listener_arn).build_full_result()["Rules"]:
                if not rule.get("IsDefault"):
                    current[rule["Priority"]] = rule
        for priority, rule in sorted(current.items()):
            if priority not in want:
                self.change(f"delete rule {priority}")
                if not self.check:
                    self.elb.delete_rule(aws_retry=True, RuleArn=rule["RuleArn"])
        for priority, rule in want.items():
            conditions = tuple(sorted(rule["conditions"]))
            action = [{"Type": "forward", "TargetGroupArn": arn_of.get(rule["target_group"], "")}]
            have = current.get(priority)
            if have is None:
                self.change(f"create rule {priority}: {list(rule['conditions'])} -> {rule['target_group']}")
                if not self.check:
                    self.elb.create_rule(aws_retry=True, ListenerArn=listener_arn, Priority=int(priority),
                                         Conditions=conditions_api(rule["conditions"]), Actions=action)
                continue
            have_actions = [action_key(a, name_of) for a in have.get("Actions", [])]
            if conditions_key(have.get("Conditions")) != conditions or have_actions != [("forward", rule["target_group"])]:
                self.change(f"rule {priority}: {conditions_key(have.get('Conditions'))} {have_actions} -> "
                            f"{list(rule['conditions'])} {rule['target_group']}")
                if not self.check:
                    self.elb.modify_rule(aws_retry=True, RuleArn=have["RuleArn"], Conditions=conditions_api(rule["conditions"]),
                                         Actions=action)

    def ensure_attributes(self, lb):
        desired = {k: normalize(v) for k, v in (self.p["attributes"] or {}).items()}
        if not desired:
            return
        current = {}
        if lb and not lb.get("__created"):
            current = {a["Key"]: a["Value"] for a in self.elb.describe_load_balancer_attributes(
                aws_retry=True, LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]}
        diff = {k: v for k, v in desired.items() if current.get(k) != v}
        if not diff:
            return
        if lb and not lb.get("__created"):
            self.change("attributes: " + ", ".join(f"{k}: {current.get(k, '(unset)')} -> {v}" for k, v in sorted(diff.items())))
        if not self.check:
            self.elb.modify_load_balancer_attributes(aws_retry=True, LoadBalancerArn=lb["LoadBalancerArn"],
                                                     Attributes=[{"Key": k, "Value": v} for k, v in sorted(diff.items())])

    def present(self):
        if not self.check and (len(self.p["subnets"]) < 2 or not self.p["security_groups"] or not self.p["vpc_id"]):
            self.fail("state=present needs subnets (2+), security_groups and vpc_id")
        tgs = self.ensure_target_groups()
        lb = self.ensure_load_balancer()
        existing = lb is not None and not lb.get("__created")
        listeners = {}
        if existing:
            listeners = {lst["Port"]: lst for lst in self.elb.get_paginator("describe_listeners").paginate(
                LoadBalancerArn=lb["LoadBalancerArn"]).build_full_result()["Listeners"]}
        https = listeners.get(443) or {}
        certificate_arn = self.certificate(((https.get("Certificates") or [{}])[0]).get("CertificateArn", ""))
        https_arn = self.ensure_listeners(lb, listeners, tgs, certificate_arn)
        self.ensure_rules(https_arn, tgs)
        self.ensure_attributes(lb)
        if existing:
            routed_names = {r["target_group"] for r in self.routes}
            self.ensure_tags(dict({f"load balancer {self.name}": lb["LoadBalancerArn"]},
                                  **{f"target group {n}": tg["TargetGroupArn"] for n, tg in tgs.items() if n in routed_names}))
        return {
            "load_balancer_arn": (lb or {}).get("LoadBalancerArn", ""),
            "dns_name": (lb or {}).get("DNSName", ""),
            "canonical_hosted_zone_id": (lb or {}).get("CanonicalHostedZoneId", ""),
            "target_group_arns": {r["name"]: tgs.get(r["target_group"], {}).get("TargetGroupArn", "") for r in self.routes},
            "certificate_arn": certificate_arn,
        }

    # -- absent --------------------------------------------------------------------------------------------
    def absent(self):
        lb = self.load_balancer()
        if lb:
            attrs = {a["Key"]: a["Value"] for a in self.elb.describe_load_balancer_attributes(
                aws_retry=True, LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]}
            if attrs.get("deletion_protection.enabled") == "true":
                self.change(f"lift deletion protection of {self.name}")
                if not self.check:
                    self.elb.modify_load_balancer_attributes(aws_retry=True, LoadBalancerArn=lb["LoadBalancerArn"],
                                                             Attributes=[{"Key": "deletion_protection.enabled", "Value": "false"}])
            self.change(f"delete load balancer {self.name}")
            if not self.check:
                self.elb.delete_load_balancer(aws_retry=True, LoadBalancerArn=lb["LoadBalancerArn"])
                self.waiter().until(lambda: self.load_balancer() is None)
        names = [r["target_group"] for r in self.routes]
        for name, tg in sorted(self.target_groups(names).items()):
            self.change(f"delete target group {name}")
            if not self.check:
                self._delete_target_group(tg["TargetGroupArn"])
        spec = self.p["self_signed_certificate"] or {}
        if spec.get("domain") and not self.p["certificate_arn"]:
            arn = self._find_certificate(spec["domain"])
            if arn:
                self.change(f"delete self-signed certificate {spec['domain']}")
                if not self.check:
                    self.acm.delete_certificate(aws_retry=True, CertificateArn=arn)
        return {"load_balancer_arn": "", "dns_name": "", "canonical_hosted_zone_id": "", "target_group_arns": {},
                "certificate_arn": ""}

    def _delete_target_group(self, arn):
        """A target group is in use until the load balancer's deletion has propagated (ResourceInUse)."""
        self.waiter().retry_on(lambda: self.elb.delete_target_group(aws_retry=True, TargetGroupArn=arn), ["ResourceInUse"])


def main():
    Alb.main()


if __name__ == "__main__":
    main()
