#!/usr/bin/python
# -*- coding: utf-8 -*-
# GPL-3.0-or-later
"""webstack.platform.ecs_app: the whole ECS application layer in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
module: ecs_app
short_description: Manage a webstack ECS application (cluster, IAM roles, log groups, task definitions, services, autoscaling)
description:
  - Creates, checks or deletes the ECS layer of one webstack environment with one module execution (the
    community.aws modules need about 15 executions for the same, one second of start-up each).
  - An ECS cluster with Container Insights and Fargate capacity providers; a task execution role (the AWS
    managed execution policy plus read access to exactly the secrets the containers reference) and a task
    role; one CloudWatch log group per process with a retention; one Fargate task definition per process
    (non-root user, read-only root filesystem with a writable C(/tmp) volume, secrets only as C(valueFrom),
    container memory equal to the task's,
    awslogs); one service per process in private subnets without public IP, deployment circuit breaker with
    rollback, minimum 100% / maximum 200%, health-check grace period and load balancer for web-facing
    processes; a CPU target-tracking scaling policy with min/max tasks per service.
  - Drift in any of these settings is detected and repaired (services are compared field by field; the
    running task count is left alone while it is inside min/max, so autoscaling is not fought).
  - Check mode reports what would change and changes nothing (log-group retention included); C(--diff)
    lists the changes.
  - I(state=absent) scales the services to 0 and deletes them, their scaling policies, the task definitions
    (deregistered), the IAM roles and the cluster; log groups are kept unless I(delete_log_groups=true). The
    cluster is deleted once the deleted services drained (C(INACTIVE)), retried while ECS still counts services or
    tasks in it, within I(wait_timeout).
  - The first cluster of an account needs the ECS service-linked role for its capacity providers; when
    CreateCluster says the role cannot be assumed, the module creates it (C(iam:CreateServiceLinkedRole)) and
    retries while it propagates.
version_added: 0.1.0
author: webstack maintainers
options:
  name:
    description: Prefix of the task-definition families, IAM roles and log groups (e.g. C(webstack-prod)).
    type: str
    required: true
  cluster_name:
    description: Name of the ECS cluster.
    type: str
    required: true
  state:
    description: Whether the application layer should exist.
    type: str
    choices: [present, absent]
    default: present
  container_insights:
    description: Container Insights setting of the cluster.
    type: str
    choices: [enabled, disabled, enhanced]
    default: enabled
  capacity_providers:
    description: Capacity providers of the cluster; the first one is the default strategy.
    type: list
    elements: str
    default: [FARGATE]
  execution_role_name:
    description: Name of the task execution role (pulls the image, writes logs, reads the secrets).
    type: str
    required: true
  execution_role_managed_policies:
    description: Managed policies attached to the execution role.
    type: list
    elements: str
    default: [arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy]
  secrets_kms_key_arns:
    description: KMS keys the execution role may decrypt secrets with (customer-managed keys only).
    type: list
    elements: str
    default: []
  task_role_name:
    description: Name of the role the application's own AWS calls run as.
    type: str
    required: true
  task_role_managed_policies:
    description: Managed policies attached to the task role.
    type: list
    elements: str
    default: []
  task_role_policy:
    description: Inline policy document of the task role (empty = none).
    type: dict
    default: {}
  log_group_prefix:
    description: Log group of a process is I(log_group_prefix) + process name.
    type: str
    required: true
  log_retention_days:
    description: Retention of the log groups, in days.
    type: int
    default: 30
  delete_log_groups:
    description: With I(state=absent), delete the log groups too.
    type: bool
    default: false
  image:
    description:
      - Container image (repository URI and tag) of the processes whose service does not exist yet.
      - The application version belongs to the deploy (M(webstack.platform.ecs_rollout)), not to provisioning. For a
        service that exists, the image is the one of the task-definition revision the service runs now, whatever
        I(image) says, so a re-provision after a deploy of 2.0.0 never puts the inventory's 1.0.0 back. The
        desired definition is compared with the service's current revision first and then with the family's
        latest ACTIVE revision, so a service a rollback put on an older revision stays on it; a provisioned
        setting that differs (cpu, environment...) registers a new revision that keeps the running image.
    type: str
  user:
    description: User (uid or uid:gid) the containers run as; never root.
    type: str
    default: "10001"
  readonly_root_filesystem:
    description:
      - Mount the root filesystem read-only (a writable volume is mounted on C(/tmp)).
      - On Fargate that bind mount is owned by root with mode 0755 unless the image declares C(/tmp) a C(VOLUME) with
        its own mode (for example C(chmod 1777 /tmp) then C(VOLUME ["/tmp"])); a non-root I(user) cannot write to it
        otherwise.
    type: bool
    default: true
  environment:
    description: Plain environment values of every container (no secrets).
    type: dict
    default: {}
  secrets:
    description: Secrets of every container, C(name) (variable) and C(value_from) (Secrets Manager or SSM ARN).
    type: list
    elements: dict
    default: []
  subnets:
    description: Subnets of the tasks (private).
    type: list
    elements: str
    default: []
  security_groups:
    description: Security groups of the tasks.
    type: list
    elements: str
    default: []
  assign_public_ip:
    description: Give tasks a public IP (never for webstack; kept for completeness).
    type: bool
    default: false
  platform_version:
    description: Fargate platform version.
    type: str
    default: LATEST
  cpu_architecture:
    description: CPU architecture of the tasks.
    type: str
    choices: [X86_64, ARM64]
    default: X86_64
  minimum_healthy_percent:
    description: Deployment minimum healthy percent.
    type: int
    default: 100
  maximum_percent:
    description: Deployment maximum percent.
    type: int
    default: 200
  circuit_breaker:
    description: Deployment circuit breaker with rollback.
    type: bool
    default: true
  enable_execute_command:
    description: Allow ECS Exec into the tasks.
    type: bool
    default: false
  processes:
    description:
      - One task definition and service per process. Keys C(name), C(command) (list; empty = the image's own),
        C(cpu), C(memory), C(port) (0 = a worker without port mapping or load balancer), C(target_group_arn)
        (empty = not load balanced), C(min_tasks), C(max_tasks), C(cpu_target) (percent),
        C(health_check_grace_period) (seconds), C(scale_in_cooldown), C(scale_out_cooldown).
      - Per-process settings of the application description (all optional) - C(image) (repository and tag of a
        new service; default I(image)), C(environment) (dict, over I(environment)), C(secrets) (list of C(name),
        C(value_from), an existing Secrets Manager/SSM ARN, over I(secrets)), C(app_secret_keys) (names of keys of
        I(app_secret_name) injected as the variable of the same name with C(valueFrom) C(<arn>:<key>::)),
        C(singleton) (exactly one task, never two; deployment maximum 100 %, minimum 0 %, 1 task),
        C(minimum_healthy_percent) / C(maximum_percent) (over the module's), C(stop_timeout) (seconds, at most
        120 on Fargate), C(health_check) (a container health check, C(command) list plus optional C(interval),
        C(timeout), C(retries), C(start_period); it runs INSIDE the image, so its command needs the image's
        own tools - empty = none, the default; the load balancer's target-group health check replaces tasks).
    type: list
    elements: dict
    default: []
  writable_paths:
    description:
      - With I(readonly_root_filesystem), the paths the containers may write to, each an ephemeral task volume
        (C(/tmp) is the volume C(tmp); others are named after their path).
      - On Fargate such a volume is root-owned with mode 0755 unless the image declares the path as a C(VOLUME)
        with its own owner and mode; a non-root process can only write there if the image does.
    type: list
    elements: str
    default: [/tmp]
  app_secret_name:
    description:
      - Name of the stack's application secret in Secrets Manager (e.g. C(webstack-prod/app)), a JSON object of
        I(app_secret_values); created or updated here, its ARN is what C(app_secret_keys) are injected from, and
        the execution role may read it. Empty = no application secret.
      - When its value changes, the services that read a key of it start a new deployment (ECS reads secrets
        only when a task starts).
    type: str
    default: ""
  app_secret_values:
    description: Key -> value of the application secret. Never logged (no_log).
    type: dict
    default: {}
  app_secret_kms_key_id:
    description: KMS key of the application secret (empty = the account's aws/secretsmanager key).
    type: str
    default: ""
  app_secret_recovery_window_days:
    description: With I(state=absent), days the deleted application secret can be restored (0 = deleted at once).
    type: int
    default: 7
  tags:
    description: Tags of every resource.
    type: dict
    default: {}
  wait_timeout:
    description:
      - Seconds I(state=absent) waits for the deleted services to drain (a deleted service stays C(DRAINING) until
        its tasks stop; the cluster cannot be deleted before) and retries the cluster deletion; also how long
        I(state=present) retries the cluster creation while a just-created ECS service-linked role propagates.
    type: int
    default: 900
  poll_interval:
    description: Seconds between two polls of those waits.
    type: int
    default: 15
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: ECS layer
  webstack.platform.ecs_app:
    name: webstack-prod
    cluster_name: webstack-prod
    execution_role_name: webstack-prod-ecs-execution
    task_role_name: webstack-prod-ecs-task
    log_group_prefix: /ecs/webstack-prod/
    image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/webstack-prod/app:1.4.2
    secrets:
      - name: APP_DATABASE_PASSWORD
        value_from: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:webstack-prod/db-AbCdEf:password::"
    subnets: [subnet-1, subnet-2]
    security_groups: [sg-app]
    processes:
      - {name: web, command: [python3, -m, webstack_app, web], cpu: 1024, memory: 2048, port: 8000,
         target_group_arn: "arn:aws:elasticloadbalancing:...", min_tasks: 2, max_tasks: 10, cpu_target: 70}
"""

RETURN = r"""
cluster_arn:
  description: ARN of the cluster.
  type: str
  returned: state=present
execution_role_arn:
  description: ARN of the task execution role.
  type: str
  returned: state=present
task_role_arn:
  description: ARN of the task role.
  type: str
  returned: state=present
services:
  description: Per process, C(service_name), C(service_arn), C(task_definition_arn), C(log_group), C(resource_id).
  type: dict
  returned: state=present
app_secret_arn:
  description: ARN of the application secret (empty without I(app_secret_name)).
  type: str
  returned: state=present
changes:
  description: What was (or, in check mode, would be) changed, one line each.
  type: list
  elements: str
  returned: always
"""

import json
import re

try:
    import botocore  # noqa: F401  imported for AnsibleAWSModule's error handling
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.webstack.platform.plugins.module_utils.base import Layer
from ansible_collections.webstack.platform.plugins.module_utils.compare import empty, same
from ansible_collections.webstack.platform.plugins.module_utils.waiter import error_code

ASSUME_ECS_TASKS = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}
EXEC_POLICY_NAME = "webstack-read-secrets"
TASK_POLICY_NAME = "webstack-task"
SCALABLE_DIMENSION = "ecs:service:DesiredCount"
# Container settings a process may leave out: a revision that still has one of them differs (e.g. a removed command).
OPTIONAL_CONTAINER_KEYS = ("command", "stopTimeout", "healthCheck")


def _by_name(items):
    return sorted(items or [], key=lambda i: i.get("name", ""))


def secret_resource(value_from):
    """The IAM resource of a valueFrom: a Secrets Manager ARN without a JSON-key suffix, or an SSM ARN."""
    parts = value_from.split(":")
    if len(parts) >= 7 and parts[2] == "secretsmanager":
        arn = ":".join(parts[:7])
        # a partial ARN (no random 6-character suffix) matches in IAM only with the suffix wildcard
        return "secretsmanager", arn if re.search(r"-[A-Za-z0-9]{6}$", parts[6]) else arn + "-??????"
    return "ssm", value_from


def volume_name(path):
    """Task volume of a writable path: C(/tmp) is C(tmp) (the name revisions before writable_paths used)."""
    name = "-".join(part for part in path.strip("/").split("/") if part)
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:255] or "root"


def app_secret_value_from(arn, key):
    return f"{arn}:{key}::"


def execution_policy(secrets, kms_key_arns):
    statements = []
    sm = sorted({secret_resource(s["value_from"])[1] for s in secrets if secret_resource(s["value_from"])[0] == "secretsmanager"})
    ssm = sorted({secret_resource(s["value_from"])[1] for s in secrets if secret_resource(s["value_from"])[0] == "ssm"})
    if sm:
        statements.append({"Sid": "ReadSecrets", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": sm})
    if ssm:
        statements.append({"Sid": "ReadParameters", "Effect": "Allow", "Action": ["ssm:GetParameters"], "Resource": ssm})
    if kms_key_arns and statements:
        statements.append({"Sid": "DecryptSecrets", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": sorted(kms_key_arns)})
    return {"Version": "2012-10-17", "Statement": statements} if statements else {}


class EcsApp(Layer):
    label = "ECS application layer"

    def __init__(self, module):
        super().__init__(module)
        self.ecs = self.client("ecs")
        self.logs = self.client("logs")
        self.iam = self.client("iam")
        self.aas = self.client("application-autoscaling")
        self.region = self.ecs.meta.region_name
        self.tags = self.p["tags"] or {}
        self.app_secret_arn = ""

    @property
    def sm(self):
        return self.client("secretsmanager")

    @classmethod
    def validate(cls, module):
        validate(module)

    # -- names ------------------------------------------------------------------------------------------
    def family(self, proc):
        return f"{self.p['name']}-{proc['name']}"

    def log_group(self, proc):
        return f"{self.p['log_group_prefix']}{proc['name']}"

    def resource_id(self, proc):
        return f"service/{self.p['cluster_name']}/{proc['name']}"

    # -- cluster ----------------------------------------------------------------------------------------
    def find_cluster(self):
        res = self.ecs.describe_clusters(aws_retry=True, clusters=[self.p["cluster_name"]], include=["SETTINGS"])
        active = [c for c in res.get("clusters", []) if c.get("status") == "ACTIVE"]
        return active[0] if active else None

    def ensure_cluster(self):
        name = self.p["cluster_name"]
        settings = [{"name": "containerInsights", "value": self.p["container_insights"]}]
        providers = self.p["capacity_providers"]
        strategy = [{"capacityProvider": providers[0], "weight": 1, "base": 0}] if providers else []
        cluster = self.find_cluster()
        if cluster is None:
            self.change(f"create ECS cluster {name} (Container Insights {self.p['container_insights']}, {', '.join(providers)})")
            if self.check:
                return None
            res = self.create_cluster(
                clusterName=name, settings=settings, capacityProviders=providers,
                defaultCapacityProviderStrategy=strategy,
                tags=[{"key": k, "value": str(v)} for k, v in self.tags.items()],
            )
            return res["cluster"]["clusterArn"]
        current = {s["name"]: s["value"] for s in cluster.get("settings", [])}
        if current.get("containerInsights") != self.p["container_insights"]:
            self.change(f"cluster {name}: containerInsights {current.get('containerInsights')} -> {self.p['container_insights']}")
            if not self.check:
                self.ecs.update_cluster(aws_retry=True, cluster=name, settings=settings)
        cur_strategy = [{"capacityProvider": s.get("capacityProvider"), "weight": s.get("weight", 0), "base": s.get("base", 0)}
                        for s in cluster.get("defaultCapacityProviderStrategy", [])]
        if sorted(cluster.get("capacityProviders", [])) != sorted(providers) or cur_strategy != strategy:
            self.change(f"cluster {name}: capacity providers {cluster.get('capacityProviders', [])} -> {providers}")
            if not self.check:
                self.ecs.put_cluster_capacity_providers(
                    aws_retry=True, cluster=name, capacityProviders=providers, defaultCapacityProviderStrategy=strategy)
        return cluster["clusterArn"]

    def create_cluster(self, **kwargs):
        """CreateCluster; in an account where ECS was never used, the capacity providers need the ECS service-linked
        role, which may not exist yet (AWS: "Unable to assume the service linked role"): create it, then retry while
        IAM propagates it (up to wait_timeout)."""
        def role_missing(exc):
            return error_code(exc) == "InvalidParameterException" and "service linked role" in str(exc).lower().replace("-", " ")
        try:
            return self.ecs.create_cluster(aws_retry=True, **kwargs)
        except botocore.exceptions.ClientError as exc:
            if not role_missing(exc):
                raise
        self.change("create the ECS service-linked role AWSServiceRoleForECS (first cluster of the account)")
        try:
            self.iam.create_service_linked_role(aws_retry=True, AWSServiceName="ecs.amazonaws.com")
        except is_boto3_error_code("InvalidInput"):  # "...has been taken in this account": it exists now
            pass
        return self.waiter(interval=min(self.p["poll_interval"], 5)).retry_on(
            lambda: self.ecs.create_cluster(aws_retry=True, **kwargs), role_missing)

    # -- log groups -------------------------------------------------------------------------------------
    def current_log_groups(self):
        groups = {}
        paginator = self.logs.get_paginator("describe_log_groups")
        for page in paginator.paginate(logGroupNamePrefix=self.p["log_group_prefix"]):
            for group in page.get("logGroups", []):
                groups[group["logGroupName"]] = group
        return groups

    def ensure_log_groups(self):
        current = self.current_log_groups()
        retention = self.p["log_retention_days"]
        for proc in self.p["processes"]:
            name = self.log_group(proc)
            group = current.get(name)
            if group is None:
                self.change(f"create log group {name} (retention {retention} days)")
                if not self.check:
                    kwargs = {"logGroupName": name}
                    if self.tags:
                        kwargs["tags"] = {k: str(v) for k, v in self.tags.items()}
                    self.logs.create_log_group(aws_retry=True, **kwargs)
                    self.logs.put_retention_policy(aws_retry=True, logGroupName=name, retentionInDays=retention)
            elif group.get("retentionInDays") != retention:
                self.change(f"log group {name}: retention {group.get('retentionInDays')} -> {retention} days")
                if not self.check:
                    self.logs.put_retention_policy(aws_retry=True, logGroupName=name, retentionInDays=retention)

    # -- IAM --------------------------------------------------------------------------------------------
    def get_role(self, name):
        try:
            return self.iam.get_role(aws_retry=True, RoleName=name)["Role"]
        except is_boto3_error_code("NoSuchEntity"):
            return None

    def ensure_role(self, name, description, managed, inline_name, inline_doc):
        role = self.get_role(name)
        if role is None:
            self.change(f"create IAM role {name}")
            if self.check:
                return f"arn:aws:iam::000000000000:role/{name}"
            kwargs = {"RoleName": name, "AssumeRolePolicyDocument": json.dumps(ASSUME_ECS_TASKS), "Description": description}
            if self.tags:
                kwargs["Tags"] = [{"Key": k, "Value": str(v)} for k, v in self.tags.items()]
            role = self.iam.create_role(aws_retry=True, **kwargs)["Role"]
            attached, inline = [], []
        else:
            doc = role.get("AssumeRolePolicyDocument")
            if isinstance(doc, str):
                doc = json.loads(doc)
            if doc != ASSUME_ECS_TASKS:
                self.change(f"IAM role {name}: trust policy reset to ecs-tasks.amazonaws.com only")
                if not self.check:
                    self.iam.update_assume_role_policy(aws_retry=True, RoleName=name, PolicyDocument=json.dumps(ASSUME_ECS_TASKS))
            attached = [p["PolicyArn"] for p in self.iam.list_attached_role_policies(aws_retry=True, RoleName=name)["AttachedPolicies"]]
            inline = self.iam.list_role_policies(aws_retry=True, RoleName=name)["PolicyNames"]
        for arn in sorted(set(managed) - set(attached)):
            self.change(f"IAM role {name}: attach {arn}")
            if not self.check:
                self.iam.attach_role_policy(aws_retry=True, RoleName=name, PolicyArn=arn)
        for arn in sorted(set(attached) - set(managed)):
            self.change(f"IAM role {name}: detach {arn}")
            if not self.check:
                self.iam.detach_role_policy(aws_retry=True, RoleName=name, PolicyArn=arn)
        for policy in inline:
            if policy != inline_name or not inline_doc:
                self.change(f"IAM role {name}: delete inline policy {policy}")
                if not self.check:
                    self.iam.delete_role_policy(aws_retry=True, RoleName=name, PolicyName=policy)
        if inline_doc:
            current = None
            if inline_name in inline:
                current = self.iam.get_role_policy(aws_retry=True, RoleName=name, PolicyName=inline_name)["PolicyDocument"]
                if isinstance(current, str):
                    current = json.loads(current)
            if current != inline_doc:
                self.change(f"IAM role {name}: {'update' if current else 'add'} inline policy {inline_name}")
                if not self.check:
                    self.iam.put_role_policy(aws_retry=True, RoleName=name, PolicyName=inline_name, PolicyDocument=json.dumps(inline_doc))
        return role["Arn"]

    # -- task definitions -------------------------------------------------------------------------------
    def secrets_of(self, proc):
        """The valueFrom secrets of a process: the module's, the process's own ARNs, its keys of the app secret."""
        out = {s["name"]: s["value_from"] for s in self.p["secrets"]}
        out.update({s["name"]: s["value_from"] for s in proc.get("secrets") or []})
        arn = self.app_secret_arn or f"arn:aws:secretsmanager:{self.region}:000000000000:secret:{self.p['app_secret_name']}-pending"
        out.update({key: app_secret_value_from(arn, key) for key in proc.get("app_secret_keys") or []})
        return [{"name": k, "value_from": v} for k, v in sorted(out.items())]

    def all_secrets(self):
        return [s for proc in self.p["processes"] for s in self.secrets_of(proc)]

    def environment_of(self, proc):
        env = dict(self.p["environment"] or {})
        env.update(proc.get("environment") or {})
        return env

    def container(self, proc, image=None):
        ro = self.p["readonly_root_filesystem"]
        health = proc.get("health_check") or {}
        definition = {
            "name": proc["name"],
            "image": image or proc.get("image") or self.p["image"],
            "essential": True,
            # The container's hard limit is the whole task's memory: no limit beyond the task size on Fargate,
            # and one-off tasks (migrations, RunTask) get an explicit container size (the emulator needs it).
            "memory": int(proc["memory"]),
            "user": self.p["user"],
            "readonlyRootFilesystem": ro,
            "environment": _by_name([{"name": k, "value": str(v)} for k, v in self.environment_of(proc).items()]),
            "secrets": _by_name([{"name": s["name"], "valueFrom": s["value_from"]} for s in self.secrets_of(proc)]),
            "portMappings": ([{"containerPort": int(proc["port"]), "hostPort": int(proc["port"]), "protocol": "tcp"}]
                             if proc.get("port") else []),
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {"awslogs-group": self.log_group(proc), "awslogs-region": self.region,
                            "awslogs-stream-prefix": proc["name"]},
            },
            "mountPoints": ([{"sourceVolume": volume_name(path), "containerPath": path, "readOnly": False}
                             for path in self.p["writable_paths"]] if ro else []),
            # absent when None; td_matches treats a current value of an absent key as drift (OPTIONAL_CONTAINER_KEYS)
            "command": [str(c) for c in proc["command"]] if proc.get("command") else None,
            "stopTimeout": int(proc["stop_timeout"]) if proc.get("stop_timeout") else None,
            "healthCheck": {
                "command": [str(c) for c in health["command"]],
                "interval": int(health.get("interval", 30)),
                "timeout": int(health.get("timeout", 5)),
                "retries": int(health.get("retries", 3)),
                "startPeriod": int(health.get("start_period", 0)),
            } if health.get("command") else None,
        }
        return {k: v for k, v in definition.items() if v is not None}

    def task_definition(self, proc, execution_role_arn, task_role_arn, image=None):
        return {
            "family": self.family(proc),
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": str(proc["cpu"]),
            "memory": str(proc["memory"]),
            "executionRoleArn": execution_role_arn,
            "taskRoleArn": task_role_arn,
            "runtimePlatform": {"cpuArchitecture": self.p["cpu_architecture"], "operatingSystemFamily": "LINUX"},
            "volumes": ([{"name": volume_name(path)} for path in self.p["writable_paths"]]
                        if self.p["readonly_root_filesystem"] else []),
            "containerDefinitions": [self.container(proc, image)],
        }

    def td_matches(self, current, desired):
        for key, value in desired.items():
            if key == "containerDefinitions":
                cur = current.get("containerDefinitions") or []
                if len(cur) != 1:
                    return False
                cur = dict(cur[0])
                cur["environment"] = _by_name(cur.get("environment"))
                cur["secrets"] = _by_name(cur.get("secrets"))
                if not same(cur, value[0]):
                    return False
                if any(key not in value[0] and not empty(cur.get(key)) for key in OPTIONAL_CONTAINER_KEYS):
                    return False
            elif key == "volumes":
                if sorted(v.get("name") for v in current.get("volumes") or []) != sorted(v["name"] for v in value):
                    return False
            elif key == "requiresCompatibilities":
                if sorted(current.get(key) or []) != sorted(value):
                    return False
            elif not same(current.get(key), value):
                return False
        return True

    def describe_task_definition(self, ref):
        try:
            return self.ecs.describe_task_definition(aws_retry=True, taskDefinition=ref)["taskDefinition"]
        except is_boto3_error_code(("ClientException", "InvalidParameterException")):
            return None

    def ensure_task_definition(self, proc, execution_role_arn, task_role_arn, service=None):
        """ARN of the revision the service should run; registers one when none matches.

        The application version belongs to deploy.yml: for an existing service the image is the one of the
        revision the service runs now (I(image) only seeds new services), and that revision is compared first,
        so provisioning never changes the version and a service a rollback put on an older revision stays
        there unless a provisioned setting really differs."""
        running = self.describe_task_definition(service["taskDefinition"]) if service and service.get("taskDefinition") else None
        image = None
        if running is not None:
            containers = running.get("containerDefinitions") or []
            mine = [c for c in containers if c.get("name") == proc["name"]] or containers[:1]
            image = mine[0].get("image") if mine else None
        desired = self.task_definition(proc, execution_role_arn, task_role_arn, image)
        if running is not None and running.get("family") == desired["family"] and self.td_matches(running, desired):
            return running["taskDefinitionArn"]
        current = self.describe_task_definition(desired["family"])
        if current is not None and current.get("status") != "ACTIVE":
            current = None
        if current is not None and self.td_matches(current, desired):
            return current["taskDefinitionArn"]
        revision = current.get("revision") if current else None
        self.change(f"register task definition {desired['family']} (" + (f"differs from revision {revision}" if revision else "new")
                    + (f", keeping the running image {image}" if image and image != (proc.get("image") or self.p["image"]) else "") + ")")
        if self.check:
            return f"{desired['family']}:pending"
        kwargs = dict(desired)
        if self.tags:
            kwargs["tags"] = [{"key": k, "value": str(v)} for k, v in self.tags.items()]
        return self.ecs.register_task_definition(aws_retry=True, **kwargs)["taskDefinition"]["taskDefinitionArn"]

    # -- services ---------------------------------------------------------------------------------------
    def current_services(self, cluster_known=None):
        names = [proc["name"] for proc in self.p["processes"]]
        found = {}
        if not (cluster_known if cluster_known is not None else self.find_cluster() is not None):
            return found
        for start in range(0, len(names), 10):
            res = self.ecs.describe_services(aws_retry=True, cluster=self.p["cluster_name"], services=names[start:start + 10])
            for service in res.get("services", []):
                if service.get("status") == "ACTIVE":
                    found[service["serviceName"]] = service
        return found

    def deployment_percent(self, proc, key):
        """A singleton never runs two tasks, not even during a deployment: stop the old one, then start the new."""
        if proc.get("singleton"):
            return {"minimum_healthy_percent": 0, "maximum_percent": 100}[key]
        value = proc.get(key)
        return int(value) if value not in (None, "") else self.p[key]

    def service_spec(self, proc, td_arn):
        spec = {
            "taskDefinition": td_arn,
            "networkConfiguration": {"awsvpcConfiguration": {
                "subnets": sorted(self.p["subnets"]), "securityGroups": sorted(self.p["security_groups"]),
                "assignPublicIp": "ENABLED" if self.p["assign_public_ip"] else "DISABLED"}},
            "deploymentConfiguration": {
                "minimumHealthyPercent": self.deployment_percent(proc, "minimum_healthy_percent"),
                "maximumPercent": self.deployment_percent(proc, "maximum_percent"),
                "deploymentCircuitBreaker": {"enable": self.p["circuit_breaker"], "rollback": self.p["circuit_breaker"]}},
            "enableExecuteCommand": self.p["enable_execute_command"],
            "loadBalancers": [],
        }
        if proc.get("target_group_arn"):
            spec["loadBalancers"] = [{"targetGroupArn": proc["target_group_arn"], "containerName": proc["name"],
                                      "containerPort": int(proc["port"])}]
            spec["healthCheckGracePeriodSeconds"] = int(proc.get("health_check_grace_period", 60))
        return spec

    def service_differences(self, current, spec):
        diffs = []
        if current.get("taskDefinition") != spec["taskDefinition"]:
            diffs.append(f"task definition {current.get('taskDefinition', '').split('/')[-1]} -> {spec['taskDefinition'].split('/')[-1]}")
        net = (current.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
        want = spec["networkConfiguration"]["awsvpcConfiguration"]
        if (sorted(net.get("subnets") or []) != want["subnets"] or sorted(net.get("securityGroups") or []) != want["securityGroups"]
                or net.get("assignPublicIp", "DISABLED") != want["assignPublicIp"]):
            diffs.append("network configuration")
        dep = current.get("deploymentConfiguration") or {}
        wdep = spec["deploymentConfiguration"]
        breaker = dep.get("deploymentCircuitBreaker") or {}
        if (dep.get("minimumHealthyPercent") != wdep["minimumHealthyPercent"] or dep.get("maximumPercent") != wdep["maximumPercent"]
                or bool(breaker.get("enable")) != wdep["deploymentCircuitBreaker"]["enable"]
                or bool(breaker.get("rollback")) != wdep["deploymentCircuitBreaker"]["rollback"]):
            diffs.append("deployment configuration")
        if "healthCheckGracePeriodSeconds" in spec and current.get("healthCheckGracePeriodSeconds") != spec["healthCheckGracePeriodSeconds"]:
            diffs.append(f"health check grace period {current.get('healthCheckGracePeriodSeconds')} -> {spec['healthCheckGracePeriodSeconds']}")
        lbs = sorted((lb.get("targetGroupArn"), lb.get("containerName"), lb.get("containerPort")) for lb in current.get("loadBalancers") or [])
        wlbs = sorted((lb["targetGroupArn"], lb["containerName"], lb["containerPort"]) for lb in spec["loadBalancers"])
        if lbs != wlbs:
            diffs.append("load balancers")
        if bool(current.get("enableExecuteCommand")) != spec["enableExecuteCommand"]:
            diffs.append("execute command")
        return diffs

    def ensure_service(self, proc, current, td_arn, secret_changed=False):
        name = proc["name"]
        spec = self.service_spec(proc, td_arn)
        low, high = int(proc["min_tasks"]), int(proc["max_tasks"])
        if current is None:
            self.change(f"create ECS service {name} ({low} task(s))")
            if self.check:
                return None
            kwargs = dict(spec)
            if not kwargs["loadBalancers"]:
                kwargs.pop("loadBalancers")
            kwargs.update(cluster=self.p["cluster_name"], serviceName=name, desiredCount=low, launchType="FARGATE",
                          platformVersion=self.p["platform_version"], schedulingStrategy="REPLICA",
                          deploymentController={"type": "ECS"}, propagateTags="SERVICE")
            if self.tags:
                kwargs["tags"] = [{"key": k, "value": str(v)} for k, v in self.tags.items()]
            created = self.ecs.create_service(aws_retry=True, **kwargs)["service"]
            if self.service_differences(created, spec):
                # Some implementations (the emulator among them) drop settings on create: set them again.
                update = dict(spec, cluster=self.p["cluster_name"], service=name)
                self.ecs.update_service(aws_retry=True, **update)
            return created["serviceArn"]
        diffs = self.service_differences(current, spec)
        kwargs = {}
        desired_count = current.get("desiredCount", 0)
        if not low <= desired_count <= high:
            clamped = min(max(desired_count, low), high)
            diffs.append(f"desired count {desired_count} -> {clamped} (outside {low}-{high})")
            kwargs["desiredCount"] = clamped
        if secret_changed and proc.get("app_secret_keys") and current.get("taskDefinition") == spec["taskDefinition"]:
            diffs.append(f"new deployment: the application secret {self.p['app_secret_name']} changed")
            kwargs["forceNewDeployment"] = True
        if diffs:
            self.change(f"update ECS service {name}: " + "; ".join(diffs))
            if not self.check:
                kwargs.update(spec)
                kwargs.update(cluster=self.p["cluster_name"], service=name)
                self.ecs.update_service(aws_retry=True, **kwargs)
        return current["serviceArn"]

    # -- autoscaling ------------------------------------------------------------------------------------
    def ensure_scaling(self, services_exist):
        procs = self.p["processes"]
        ids = [self.resource_id(p) for p in procs]
        targets, policies = {}, {}
        if services_exist:
            for start in range(0, len(ids), 50):
                res = self.aas.describe_scalable_targets(aws_retry=True, ServiceNamespace="ecs", ResourceIds=ids[start:start + 50],
                                                         ScalableDimension=SCALABLE_DIMENSION)
                for target in res.get("ScalableTargets", []):
                    targets[target["ResourceId"]] = target
            if targets:
                # one paged read of the namespace's policies instead of one call per service
                for page in self.aas.get_paginator("describe_scaling_policies").paginate(ServiceNamespace="ecs"):
                    for policy in page.get("ScalingPolicies", []):
                        if policy.get("ResourceId") in targets and policy.get("ScalableDimension") == SCALABLE_DIMENSION:
                            policies[(policy["ResourceId"], policy["PolicyName"])] = policy
        for proc in procs:
            rid = self.resource_id(proc)
            low, high = int(proc["min_tasks"]), int(proc["max_tasks"])
            target = targets.get(rid)
            if target is None or target.get("MinCapacity") != low or target.get("MaxCapacity") != high:
                self.change(f"scalable target {rid}: {low}-{high} tasks")
                if not self.check:
                    self.aas.register_scalable_target(aws_retry=True, ServiceNamespace="ecs", ResourceId=rid,
                                                      ScalableDimension=SCALABLE_DIMENSION, MinCapacity=low, MaxCapacity=high)
            name = f"{proc['name']}-cpu-target-tracking"
            config = {
                "TargetValue": float(proc["cpu_target"]),
                "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
                "ScaleOutCooldown": int(proc.get("scale_out_cooldown", 60)),
                "ScaleInCooldown": int(proc.get("scale_in_cooldown", 300)),
                "DisableScaleIn": False,
            }
            policy = policies.get((rid, name))
            if policy is None or not same(policy.get("TargetTrackingScalingPolicyConfiguration"), config):
                self.change(f"scaling policy {name}: CPU target {config['TargetValue']}%")
                if not self.check:
                    self.aas.put_scaling_policy(aws_retry=True, PolicyName=name, ServiceNamespace="ecs", ResourceId=rid,
                                                ScalableDimension=SCALABLE_DIMENSION, PolicyType="TargetTrackingScaling",
                                                TargetTrackingScalingPolicyConfiguration=config)
            for (prid, pname) in list(policies):
                if prid == rid and pname != name:
                    self.change(f"delete scaling policy {pname} of {rid}")
                    if not self.check:
                        self.aas.delete_scaling_policy(aws_retry=True, PolicyName=pname, ServiceNamespace="ecs", ResourceId=rid,
                                                       ScalableDimension=SCALABLE_DIMENSION)

    # -- application secret -----------------------------------------------------------------------------
    def describe_secret(self, name):
        try:
            return self.sm.describe_secret(aws_retry=True, SecretId=name)
        except is_boto3_error_code("ResourceNotFoundException"):
            return None

    def ensure_app_secret(self):
        """ARN of the application secret and whether its value changed (key names are reported, never values)."""
        name = self.p["app_secret_name"]
        if not name:
            return "", False
        values = {k: str(v) for k, v in (self.p["app_secret_values"] or {}).items()}
        meta = self.describe_secret(name)
        if meta is None:
            self.change(f"create Secrets Manager secret {name} (keys {', '.join(sorted(values)) or 'none'})")
            if self.check:
                return "", False
            kwargs = {"Name": name, "SecretString": json.dumps(values, sort_keys=True),
                      "Description": f"Application secrets of {self.p['name']} (webstack)"}
            if self.p["app_secret_kms_key_id"]:
                kwargs["KmsKeyId"] = self.p["app_secret_kms_key_id"]
            if self.tags:
                kwargs["Tags"] = [{"Key": k, "Value": str(v)} for k, v in self.tags.items()]
            return self.sm.create_secret(aws_retry=True, **kwargs)["ARN"], False
        arn = meta["ARN"]
        current = None
        if meta.get("DeletedDate"):
            self.change(f"restore Secrets Manager secret {name} (scheduled for deletion)")
            if not self.check:
                self.sm.restore_secret(aws_retry=True, SecretId=arn)
        else:
            try:
                current = json.loads(self.sm.get_secret_value(aws_retry=True, SecretId=arn).get("SecretString") or "null")
            except ValueError:
                current = None
        if current != values:
            current = current if isinstance(current, dict) else {}
            keys = sorted(k for k in set(current) | set(values) if current.get(k) != values.get(k))
            self.change(f"Secrets Manager secret {name}: new value of {', '.join(keys) or 'the secret'}")
            if not self.check:
                self.sm.put_secret_value(aws_retry=True, SecretId=arn, SecretString=json.dumps(values, sort_keys=True))
            return arn, True
        return arn, False

    # -- present / absent -------------------------------------------------------------------------------
    def present(self):
        cluster_arn = self.ensure_cluster()
        self.ensure_log_groups()
        self.app_secret_arn, secret_changed = self.ensure_app_secret()
        execution_role_arn = self.ensure_role(
            self.p["execution_role_name"], f"ECS task execution role of {self.p['name']}",
            self.p["execution_role_managed_policies"], EXEC_POLICY_NAME,
            execution_policy(self.all_secrets(), self.p["secrets_kms_key_arns"]))
        task_role_arn = self.ensure_role(
            self.p["task_role_name"], f"ECS task role of {self.p['name']}",
            self.p["task_role_managed_policies"], TASK_POLICY_NAME, self.p["task_role_policy"] or {})
        current = self.current_services(cluster_known=True) if cluster_arn else {}
        services = {}
        for proc in self.p["processes"]:
            td_arn = self.ensure_task_definition(proc, execution_role_arn, task_role_arn, current.get(proc["name"]))
            service_arn = self.ensure_service(proc, current.get(proc["name"]), td_arn, secret_changed)
            services[proc["name"]] = {"service_name": proc["name"], "service_arn": service_arn, "task_definition_arn": td_arn,
                                      "log_group": self.log_group(proc), "resource_id": self.resource_id(proc)}
        self.ensure_scaling(bool(current) or not self.check)
        return {"cluster_arn": cluster_arn, "execution_role_arn": execution_role_arn, "task_role_arn": task_role_arn,
                "services": services, "app_secret_arn": self.app_secret_arn}

    def described_services(self, names):
        """Name -> service as DescribeServices returns it, whatever its status (ACTIVE, DRAINING, INACTIVE)."""
        found = {}
        for start in range(0, len(names), 10):
            res = self.ecs.describe_services(aws_retry=True, cluster=self.p["cluster_name"], services=names[start:start + 10])
            found.update({svc["serviceName"]: svc for svc in res.get("services", [])})
        return found

    def services_gone(self, names):
        """Names of `names` that are still ACTIVE or DRAINING (a deleted service drains until its tasks stop)."""
        return [n for n, svc in self.described_services(names).items() if svc.get("status") in ("ACTIVE", "DRAINING")]

    def delete_cluster(self, services):
        """Wait until the deleted services have drained (INACTIVE), then delete the cluster, retrying while ECS still
        counts services or tasks in it; both within wait_timeout."""
        waiter = self.waiter()
        names = [proc["name"] for proc in self.p["processes"]] if services else []
        if names:
            last = {"left": names}

            def drained():
                last["left"] = self.services_gone(names)
                return not last["left"]
            if not waiter.until(drained):
                self.module.fail_json(msg=f"ECS services {', '.join(last['left'])} of cluster {self.p['cluster_name']} still "
                                          f"DRAINING after {self.p['wait_timeout']}s (their tasks have not stopped); the "
                                          f"cluster was not deleted. Run the teardown again later.", changes=self.changes)
        waiter.retry_on(lambda: self.ecs.delete_cluster(aws_retry=True, cluster=self.p["cluster_name"]),
                        ("ClusterContainsServicesException", "ClusterContainsTasksException"))

    def absent(self):
        cluster = self.find_cluster()
        draining = []
        if cluster is not None:
            described = self.described_services([proc["name"] for proc in self.p["processes"]])
            current = {n: svc for n, svc in described.items() if svc.get("status") == "ACTIVE"}
            draining = [n for n, svc in described.items() if svc.get("status") == "DRAINING"]
            for proc in self.p["processes"]:
                rid = self.resource_id(proc)
                res = self.aas.describe_scalable_targets(aws_retry=True, ServiceNamespace="ecs", ResourceIds=[rid],
                                                         ScalableDimension=SCALABLE_DIMENSION)
                if res.get("ScalableTargets"):
                    self.change(f"deregister scalable target {rid} and its policies")
                    if not self.check:
                        for policy in self.aas.describe_scaling_policies(aws_retry=True, ServiceNamespace="ecs", ResourceId=rid,
                                                                         ScalableDimension=SCALABLE_DIMENSION).get("ScalingPolicies", []):
                            self.aas.delete_scaling_policy(aws_retry=True, PolicyName=policy["PolicyName"], ServiceNamespace="ecs",
                                                           ResourceId=rid, ScalableDimension=SCALABLE_DIMENSION)
                        self.aas.deregister_scalable_target(aws_retry=True, ServiceNamespace="ecs", ResourceId=rid,
                                                            ScalableDimension=SCALABLE_DIMENSION)
                if proc["name"] in current:
                    self.change(f"delete ECS service {proc['name']}")
                    if not self.check:
                        self.ecs.update_service(aws_retry=True, cluster=self.p["cluster_name"], service=proc["name"], desiredCount=0)
                        self.ecs.delete_service(aws_retry=True, cluster=self.p["cluster_name"], service=proc["name"], force=True)
        for proc in self.p["processes"]:
            family = self.family(proc)
            arns = []
            for page in self.ecs.get_paginator("list_task_definitions").paginate(familyPrefix=family, status="ACTIVE"):
                arns += [a for a in page.get("taskDefinitionArns", []) if a.split("/")[-1].rsplit(":", 1)[0] == family]
            if arns:
                self.change(f"deregister {len(arns)} revision(s) of task definition {family}")
                if not self.check:
                    for arn in arns:
                        self.ecs.deregister_task_definition(aws_retry=True, taskDefinition=arn)
        if self.p["delete_log_groups"]:
            current = self.current_log_groups()
            for proc in self.p["processes"]:
                if self.log_group(proc) in current:
                    self.change(f"delete log group {self.log_group(proc)}")
                    if not self.check:
                        self.logs.delete_log_group(aws_retry=True, logGroupName=self.log_group(proc))
        for name in (self.p["execution_role_name"], self.p["task_role_name"]):
            if self.get_role(name) is not None:
                self.change(f"delete IAM role {name}")
                if not self.check:
                    for policy in self.iam.list_attached_role_policies(aws_retry=True, RoleName=name)["AttachedPolicies"]:
                        self.iam.detach_role_policy(aws_retry=True, RoleName=name, PolicyArn=policy["PolicyArn"])
                    for policy in self.iam.list_role_policies(aws_retry=True, RoleName=name)["PolicyNames"]:
                        self.iam.delete_role_policy(aws_retry=True, RoleName=name, PolicyName=policy)
                    self.iam.delete_role(aws_retry=True, RoleName=name)
        if self.p["app_secret_name"]:
            meta = self.describe_secret(self.p["app_secret_name"])
            if meta is not None and not meta.get("DeletedDate"):
                window = self.p["app_secret_recovery_window_days"]
                self.change(f"delete Secrets Manager secret {self.p['app_secret_name']}"
                            + (f" (recoverable for {window} days)" if window else ""))
                if not self.check:
                    kwargs = {"RecoveryWindowInDays": window} if window else {"ForceDeleteWithoutRecovery": True}
                    self.sm.delete_secret(aws_retry=True, SecretId=meta["ARN"], **kwargs)
        if cluster is not None:
            self.change(f"delete ECS cluster {self.p['cluster_name']}")
            if not self.check:
                self.delete_cluster(bool(current) or bool(draining))
        return {}


def validate(module):
    p = module.params
    if p["state"] != "present":
        return
    if not p["image"] and not all(proc.get("image") for proc in p["processes"]):
        module.fail_json(msg="image (or every process's image) is required with state=present")
    if p["user"] in ("", "0", "root", "0:0"):
        module.fail_json(msg=f"user '{p['user']}' runs the containers as root; give a non-root uid")
    required = ("name", "cpu", "memory", "min_tasks", "max_tasks", "cpu_target")
    for proc in p["processes"]:
        missing = [k for k in required if proc.get(k) in (None, "")]
        if missing:
            module.fail_json(msg=f"process {proc.get('name')!r} lacks {', '.join(missing)}")
        if proc.get("target_group_arn") and not proc.get("port"):
            module.fail_json(msg=f"process {proc['name']} has a target group but no port")
        if not 0 <= int(proc["min_tasks"]) <= int(proc["max_tasks"]):
            module.fail_json(msg=f"process {proc['name']}: min_tasks must be between 0 and max_tasks")
        if proc.get("singleton") and int(proc["max_tasks"]) > 1:
            module.fail_json(msg=f"process {proc['name']} is a singleton: max_tasks must be 1")
        if proc.get("stop_timeout") and not 2 <= int(proc["stop_timeout"]) <= 120:
            module.fail_json(msg=f"process {proc['name']}: stop_timeout must be 2-120 seconds on Fargate")
        if proc.get("health_check") and not isinstance((proc["health_check"] or {}).get("command"), list):
            module.fail_json(msg=f"process {proc['name']}: health_check needs a command list")
        unknown = [k for k in proc.get("app_secret_keys") or [] if k not in (p["app_secret_values"] or {})]
        if unknown or (proc.get("app_secret_keys") and not p["app_secret_name"]):
            module.fail_json(msg=f"process {proc['name']}: app_secret_keys {unknown or proc['app_secret_keys']} are not keys of "
                                 f"app_secret_values (app_secret_name {p['app_secret_name']!r})")
        for secret in proc.get("secrets") or []:
            if not secret.get("name") or not str(secret.get("value_from", "")).startswith("arn:"):
                module.fail_json(msg=f"process {proc['name']}: secret {secret.get('name')!r} needs a name and a value_from ARN")
    for path in p["writable_paths"]:
        if not path.startswith("/") or path.strip("/") == "":
            module.fail_json(msg=f"writable path {path!r} must be an absolute path below /")
    names = [volume_name(path) for path in p["writable_paths"]]
    if len(set(names)) != len(names):
        module.fail_json(msg=f"writable_paths {p['writable_paths']} name the same volume twice")
    for secret in p["secrets"]:
        if not secret.get("name") or not str(secret.get("value_from", "")).startswith("arn:"):
            module.fail_json(msg=f"secret {secret.get('name')!r} needs a name and a value_from ARN")


EcsApp.argument_spec = dict(
    name=dict(type="str", required=True),
    cluster_name=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    container_insights=dict(type="str", choices=["enabled", "disabled", "enhanced"], default="enabled"),
    capacity_providers=dict(type="list", elements="str", default=["FARGATE"]),
    execution_role_name=dict(type="str", required=True),
    execution_role_managed_policies=dict(type="list", elements="str",
                                         default=["arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"]),
    secrets_kms_key_arns=dict(type="list", elements="str", default=[]),
    task_role_name=dict(type="str", required=True),
    task_role_managed_policies=dict(type="list", elements="str", default=[]),
    task_role_policy=dict(type="dict", default={}),
    log_group_prefix=dict(type="str", required=True),
    log_retention_days=dict(type="int", default=30),
    delete_log_groups=dict(type="bool", default=False),
    image=dict(type="str"),
    user=dict(type="str", default="10001"),
    readonly_root_filesystem=dict(type="bool", default=True),
    environment=dict(type="dict", default={}),
    secrets=dict(type="list", elements="dict", default=[], no_log=False),
    subnets=dict(type="list", elements="str", default=[]),
    security_groups=dict(type="list", elements="str", default=[]),
    assign_public_ip=dict(type="bool", default=False),
    platform_version=dict(type="str", default="LATEST"),
    cpu_architecture=dict(type="str", choices=["X86_64", "ARM64"], default="X86_64"),
    minimum_healthy_percent=dict(type="int", default=100),
    maximum_percent=dict(type="int", default=200),
    circuit_breaker=dict(type="bool", default=True),
    enable_execute_command=dict(type="bool", default=False),
    processes=dict(type="list", elements="dict", default=[]),
    writable_paths=dict(type="list", elements="str", default=["/tmp"]),
    app_secret_name=dict(type="str", default=""),
    app_secret_values=dict(type="dict", default={}, no_log=True),
    app_secret_kms_key_id=dict(type="str", default=""),
    app_secret_recovery_window_days=dict(type="int", default=7),
    tags=dict(type="dict", default={}),
    wait_timeout=dict(type="int", default=900),
    poll_interval=dict(type="int", default=15),
)


def main():
    EcsApp.main()


if __name__ == "__main__":
    main()
