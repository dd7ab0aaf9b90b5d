#!/usr/bin/python
# -*- coding: utf-8 -*-
# GPL-3.0-or-later
"""webstack.platform.ecs_rollout: deploy / roll back ECS services and wait for the rollout."""

from __future__ import annotations

DOCUMENTATION = r"""
module: ecs_rollout
short_description: Deploy an image (or a task-definition revision) to ECS services and wait for the rollout
description:
  - Points one or more ECS services of a cluster at a new task-definition revision and waits until every
    rollout is C(COMPLETED), C(FAILED) (deployment circuit breaker) or a timeout, whichever comes first.
    C(community.aws.ecs_service) does not wait for a rollout; this module does.
  - With I(services[].image), a new revision of the service's B(current) task definition is registered in which
    only the image of one container changes (and, with I(services[].environment), those environment values);
    every other registrable field (roles, network mode, container definitions, volumes, placement constraints,
    compatibilities, cpu, memory, runtime platform, pid/ipc mode, proxy configuration, ephemeral storage) is
    copied. When the family's latest ACTIVE revision already is exactly that definition it is reused, so a
    re-run after a failure does not pile up revisions. A service already on a revision with that image is
    left alone (C(UNCHANGED)) unless I(force_new_deployment=true) - and unless its PRIMARY deployment on that
    revision is still C(IN_PROGRESS) or C(FAILED) (AWS switches C(taskDefinition) at UpdateService, long before
    the deployment completes, so a re-run after a killed run finds the target already set); that deployment is then
    tracked like one of this run's (waited for, its failure reported; not rolled back, as this run did not start it).
  - With I(services[].task_definition), the service is pointed at that revision (a rollback).
  - With neither, the current image is kept; I(services[].environment) and/or I(force_new_deployment) still
    apply (used to repoint the application after a database restore).
  - All changed services are polled together with DescribeServices (10 services per call). On real ECS a
    service's rollout is the deployment UpdateService created (the new PRIMARY deployment on the target
    revision), which is done when its C(rolloutState) is C(COMPLETED) or C(FAILED); when the circuit breaker
    rolls back (that deployment disappears or turns FAILED and a PRIMARY deployment on another revision
    appears) the service FAILED "rolled back by the circuit breaker". A tracked deployment that disappears is a
    failure even when the new PRIMARY is on the same revision (the breaker's rollback of a forced deployment on
    one revision is a new deployment on that revision); the tracked id is never swapped. The reason reported is the deployment's
    C(rolloutStateReason) plus the service events that appeared since the module started.
  - B(Emulator fallback.) moto 5.2.5 never changes a service's deployments on UpdateService (the PRIMARY
    deployment stays on the revision the service was created with, C(rolloutState) stays what it was, only the
    service's C(taskDefinition) changes; no events). When UpdateService returns no new PRIMARY deployment on
    the target revision the module falls back to the service fields, done when the service's
    C(taskDefinition) is the target and C(runningCount >= desiredCount) with no pending task; failed when the
    service's C(taskDefinition) is another revision (a new PRIMARY deployment on the target that shows up
    later is adopted and tracked). A tracked deployment without C(rolloutState) counts as done when it is the
    only deployment and its running count reached its desired count.
  - On C(FAILED) or C(TIMEOUT) of ANY service, with I(rollback_on_failure=true), EVERY service this run
    updated is put back on its previous revision and waited for (a fresh I(wait_timeout)); the first FAILED
    service ends the wait at once (the services still rolling out are reported C(IN_PROGRESS)); the module then
    fails with a message naming the failed services, their rollout state and reason, and the outcome of the
    rollback.
  - After a successful rollout, with I(keep_revisions) > 0, ACTIVE revisions of each family beyond the newest
    I(keep_revisions) are deregistered, except I(protected_task_definitions) and the revisions the services
    (or any of their deployments) are on.
  - With I(verify_image=true), every distinct target image that is an ECR URI
    (C(<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>) or C(@<digest>)) is looked up with ECR
    DescribeImages before any change (in check mode too); a missing one fails the module and is listed in
    C(missing_images). Images outside ECR are not checked.
  - Check mode only reads and returns the plan (per service the current revision, whether it would change,
    the target image and revision, or C(<family>:new) when a revision would be registered); C(--diff) shows
    each changed service's revision and image before and after.
version_added: 0.2.0
author: webstack maintainers
options:
  cluster:
    description: Name or ARN of the ECS cluster.
    type: str
    required: true
  services:
    description:
      - The services to deploy, each with at most one of I(image) or I(task_definition) (neither keeps the current
        image).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the service.
        type: str
        required: true
      image:
        description: Image (repository URI and tag or digest) the container I(container) gets in a new revision.
        type: str
      task_definition:
        description: Revision (C(family:revision) or ARN) to point the service at; must be ACTIVE.
        type: str
      container:
        description: Container whose image (and environment) changes; default the service name.
        type: str
      environment:
        description:
          - Environment values to set or replace in that container (plain values only, never secrets); not with
            I(task_definition).
        type: dict
      desired_count:
        description:
          - Task count set in the same UpdateService (for example to start services a restore stopped); the
            rollout is then waited for with that count. Makes the service change even on the same revision.
        type: int
  force_new_deployment:
    description: Start a new deployment (new tasks) even for services whose revision does not change.
    type: bool
    default: false
  wait:
    description: Wait for the rollouts (without waiting, C(rollout_state) is C(IN_PROGRESS) and no rollback happens).
    type: bool
    default: true
  wait_timeout:
    description: Seconds the whole rollout may take (and again the rollback, if one is needed).
    type: int
    default: 600
  poll_interval:
    description: Seconds between two DescribeServices rounds.
    type: int
    default: 10
  rollback_on_failure:
    description: On FAILED or TIMEOUT of any service, put every service this run changed back on its previous revision and wait.
    type: bool
    default: true
  keep_revisions:
    description: After a successful rollout, deregister ACTIVE revisions of each family beyond the newest N (0 = never).
    type: int
    default: 0
  protected_task_definitions:
    description: Revisions (ARN or C(family:revision)) never deregistered, for example those a release ledger may roll back to.
    type: list
    elements: str
    default: []
  tags:
    description: Tags of the revisions this module registers (added to the tags copied from the current revision).
    type: dict
    default: {}
  verify_image:
    description: Check that every target ECR image exists (ECR DescribeImages) before any change.
    type: bool
    default: true
  register_only:
    description:
      - Register (or reuse) the image-only revisions and return them in C(services[].task_definition), but do
        not update the services nor wait (C(rollout_state) is C(REGISTERED)). A later call without it reuses
        the identical revisions.
    type: bool
    default: false
notes:
  - C(rollout_state) is one of C(COMPLETED), C(FAILED), C(TIMEOUT), C(UNCHANGED); C(PLANNED) in check mode,
    C(REGISTERED) with I(register_only), C(IN_PROGRESS) with I(wait=false).
  - "Permissions: ecs:DescribeServices, ecs:DescribeTaskDefinition, ecs:RegisterTaskDefinition, ecs:TagResource,
    ecs:UpdateService, ecs:ListTaskDefinitions, ecs:DeregisterTaskDefinition, iam:PassRole (task and execution
    roles), ecr:DescribeImages."
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Deploy 1.4.2 to every process
  webstack.platform.ecs_rollout:
    cluster: webstack-prod
    services:
      - {name: web, image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/webstack-prod/app:1.4.2}
      - {name: api, image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/webstack-prod/app:1.4.2}
      - {name: worker, image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/webstack-prod/app:1.4.2}
    wait_timeout: 900
    keep_revisions: 5
    protected_task_definitions:
      - arn:aws:ecs:eu-west-1:123456789012:task-definition/webstack-prod-web:41

- name: Roll back to recorded revisions
  webstack.platform.ecs_rollout:
    cluster: webstack-prod
    services:
      - {name: web, task_definition: webstack-prod-web:41}
      - {name: api, task_definition: webstack-prod-api:40}

- name: Repoint the database host and roll the tasks
  webstack.platform.ecs_rollout:
    cluster: webstack-prod
    force_new_deployment: true
    services:
      - {name: web, environment: {APP_DATABASE_HOST: db.internal.example}}
"""

RETURN = r"""
services:
  description:
    - Per service name, C(previous_task_definition), C(task_definition) (target revision ARN), C(image) (target
      image), C(changed), C(action) (C(register), C(reuse), C(point), C(force) or C(none)), C(rollout_state),
      C(reason), C(events) (up to 5 newest service event messages since the start), C(running_count),
      C(desired_count).
  type: dict
  returned: always
rolled_back:
  description: Whether the services were put back on their previous revisions.
  type: bool
  returned: always
rollback:
  description: Per rolled-back service, C(task_definition), C(rollout_state), C(reason).
  type: dict
  returned: always
deregistered:
  description: Revisions deregistered (or, in check mode, that would be).
  type: list
  elements: str
  returned: always
missing_images:
  description: Target ECR images that do not exist.
  type: list
  elements: str
  returned: always
changes:
  description: What was (or, in check mode, would be) changed, one line each.
  type: list
  elements: str
  returned: always
elapsed:
  description: Seconds the module ran.
  type: float
  returned: always
"""

import copy
import json
import re

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.webstack.platform.plugins.module_utils.base import AWS_ERRORS, Layer

# Fields of DescribeTaskDefinition's output that RegisterTaskDefinition accepts (tags come separately).
REGISTRABLE = ("family", "taskRoleArn", "executionRoleArn", "networkMode", "containerDefinitions", "volumes",
               "placementConstraints", "requiresCompatibilities", "cpu", "memory", "runtimePlatform", "pidMode",
               "ipcMode", "proxyConfiguration", "ephemeralStorage", "inferenceAccelerators", "enableFaultInjection")
ECR_IMAGE = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
                       r"(?P<repo>[^:@]+)(?::(?P<tag>[^@]+))?(?:@(?P<digest>sha256:[0-9a-f]+))?$")
DONE = ("COMPLETED", "FAILED", "TIMEOUT")


class RolloutError(Exception):
    """An AWS call failed while services were being changed (they get rolled back)."""


def td_key(ref):
    """'family:revision' of a task-definition ARN or of 'family:revision' itself."""
    return (ref or "").split("/")[-1]


def td_family(ref):
    return td_key(ref).rsplit(":", 1)[0]


def td_revision(ref):
    try:
        return int(td_key(ref).rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return 0


def same_td(a, b):
    return bool(a) and bool(b) and td_key(a) == td_key(b)


def registrable(definition):
    """The RegisterTaskDefinition arguments reproducing `definition`, normalised for comparison."""
    out = {}
    for key in REGISTRABLE:
        value = definition.get(key)
        if value not in (None, "", [], {}):
            out[key] = copy.deepcopy(value)
    for container in out.get("containerDefinitions", []):
        if container.get("environment"):
            container["environment"] = sorted(container["environment"], key=lambda e: e.get("name", ""))
    return out


def canonical(kwargs):
    return json.dumps(kwargs, sort_keys=True, default=str)


def container_image(definition, container):
    containers = definition.get("containerDefinitions") or []
    for item in containers:
        if item.get("name") == container:
            return item.get("image")
    return containers[0].get("image") if containers else None


class Rollout(Layer):
    label = "ecs_rollout"

    @classmethod
    def validate(cls, module):
        if not module.params["services"]:
            module.fail_json(msg="services must list at least one service")
        if module.params["wait_timeout"] < 0 or module.params["poll_interval"] < 1 or module.params["keep_revisions"] < 0:
            module.fail_json(msg="wait_timeout and keep_revisions must be >= 0 and poll_interval >= 1")

    def __init__(self, module):
        super().__init__(module)
        self.ecs = self.client("ecs")
        self.cluster = self.p["cluster"]
        self.plans = {}          # name -> plan dict (becomes the returned services entry)
        self.td_cache = {}       # ARN / family -> described task definition
        self.tags_cache = {}     # ARN -> tags list
        self.known_events = {}   # name -> event ids seen before any change
        self.known_deployments = {}  # name -> deployment ids seen before the update
        self.last_seen = {}      # name -> the service as the last DescribeServices of a wait returned it
        self.initial = {}        # name -> the service before any change
        self.updated = []        # names of services this run called UpdateService on
        self.deregistered = []
        self.missing_images = []
        self.rolled_back = False
        self.rollback = {}
        self.desired_counts = {item["name"]: item.get("desired_count") for item in self.p["services"] if item.get("name")}

    # -- helpers ------------------------------------------------------------------------------------
    def current_step(self):
        return self.changes[-1] if self.changes else "reading the services"

    def fail_aws(self, exc, msg, **result):
        self.module.fail_json_aws(exc, msg=msg, **self.result())

    def result(self, **extra):
        services = {}
        for name, plan in self.plans.items():
            services[name] = {k: v for k, v in plan.items() if not k.startswith("_")}
        out = dict(changed=bool(self.changes), changes=self.changes, services=services, rolled_back=self.rolled_back,
                   rollback=self.rollback, deregistered=self.deregistered, missing_images=self.missing_images,
                   elapsed=self.elapsed())
        moved = [(n, p) for n, p in self.plans.items() if p["changed"]]
        if moved or self.deregistered:
            out["diff"] = {
                "before": "".join(f"{n}: {td_key(p['previous_task_definition'])}"
                                  + (f" ({p['_previous_image']})" if p.get("_previous_image") else "") + "\n" for n, p in moved),
                "after": "".join(f"{n}: {td_key(p['task_definition'])} ({p['image']}){' forced' if p['action'] == 'force' else ''}\n"
                                 for n, p in moved) + "".join(f"deregistered {td_key(a)}\n" for a in self.deregistered)}
        out.update(extra)
        return out

    def fail(self, msg, **extra):
        self.module.fail_json(msg=msg, **self.result(**extra))

    def describe_services(self, names):
        found, failures = {}, []
        for start in range(0, len(names), 10):
            res = self.ecs.describe_services(aws_retry=True, cluster=self.cluster, services=names[start:start + 10])
            for service in res.get("services", []):
                found[service["serviceName"]] = service
            failures += res.get("failures", [])
        return found, failures

    def describe_td(self, ref):
        if ref in self.td_cache:
            return self.td_cache[ref]
        try:
            res = self.ecs.describe_task_definition(aws_retry=True, taskDefinition=ref, include=["TAGS"])
        except is_boto3_error_code(("ClientException", "InvalidParameterException")):
            self.td_cache[ref] = None
            return None
        definition = res["taskDefinition"]
        self.tags_cache[definition["taskDefinitionArn"]] = res.get("tags") or []
        self.td_cache[ref] = definition
        self.td_cache[definition["taskDefinitionArn"]] = definition
        return definition

    # -- plan -----------------------------------------------------------------------------------------
    def plan(self):
        items = self.p["services"]
        names = []
        for item in items:
            name = item.get("name")
            if not name:
                self.module.fail_json(msg="services: every item needs a name")
            if name in names:
                self.module.fail_json(msg=f"services: {name} is listed twice")
            if item.get("image") and item.get("task_definition"):
                self.module.fail_json(msg=f"services: {name} gives both image and task_definition; give one")
            if item.get("task_definition") and item.get("environment"):
                self.module.fail_json(msg=f"services: {name}: environment cannot be combined with task_definition")
            names.append(name)
        found, failures = self.describe_services(names)
        missing = [n for n in names if n not in found or found[n].get("status") != "ACTIVE"]
        if missing:
            reasons = {f.get("arn", "").split("/")[-1]: f.get("reason") for f in failures}
            detail = ", ".join(f"{n} ({reasons.get(n) or (found[n].get('status') if n in found else 'MISSING')})" for n in missing)
            self.module.fail_json(msg=f"service(s) not found in cluster {self.cluster}: {detail}", changed=False)
        registrations = {}
        for item in items:
            name = item["name"]
            service = found[name]
            self.known_events[name] = {e.get("id") for e in service.get("events") or []}
            self.known_deployments[name] = {d.get("id") for d in service.get("deployments") or []}
            self.initial[name] = service
            current_ref = service["taskDefinition"]
            plan = {"previous_task_definition": current_ref, "task_definition": current_ref, "image": None,
                    "changed": False, "action": "none", "rollout_state": "UNCHANGED", "reason": "",
                    "events": [], "running_count": service.get("runningCount", 0),
                    "desired_count": service.get("desiredCount", 0), "_register": None, "_previous_image": None}
            container = item.get("container") or name
            if item.get("task_definition"):
                target = self.describe_td(item["task_definition"])
                if target is None:
                    self.module.fail_json(msg=f"service {name}: task definition {item['task_definition']} does not exist")
                if target.get("status") != "ACTIVE":
                    self.module.fail_json(msg=f"service {name}: task definition {item['task_definition']} is "
                                              f"{target.get('status')} (deregistered); ECS cannot deploy it")
                plan["task_definition"] = target["taskDefinitionArn"]
                plan["image"] = container_image(target, container)
                if not same_td(current_ref, target["taskDefinitionArn"]):
                    plan["action"] = "point"
            else:
                current = self.image_plan(name, item, container, current_ref, plan, registrations)
                plan["image"] = container_image(current, container) if plan["image"] is None else plan["image"]
                plan["_previous_image"] = container_image(current, container)
            count = item.get("desired_count")
            if plan["action"] == "none" and (self.p["force_new_deployment"]
                                             or (count is not None and count != service.get("desiredCount"))):
                plan["action"] = "force" if self.p["force_new_deployment"] else "scale"
            if plan["action"] == "none":
                # The service is on the target revision already. AWS switches a service's taskDefinition at
                # UpdateService, long before the deployment completes: a re-run after a killed run (or after ECS
                # began its own rollback) sees the target while the PRIMARY deployment is still IN_PROGRESS or
                # FAILED. That deployment is tracked (waited for, its failure reported), not called UNCHANGED.
                primary = next((d for d in service.get("deployments") or [] if d.get("status") == "PRIMARY"), None)
                if (primary is not None and primary.get("rolloutState") in ("IN_PROGRESS", "FAILED")
                        and same_td(primary.get("taskDefinition"), plan["task_definition"])):
                    plan["action"] = "track"
                    plan["_deployment"] = primary.get("id")
                    plan["rollout_state"] = primary.get("rolloutState")
            plan["changed"] = plan["action"] not in ("none", "track")
            self.plans[name] = plan

    def image_plan(self, name, item, container, current_ref, plan, registrations):
        family = td_family(current_ref)
        latest = self.describe_td(family)
        if latest is not None and same_td(latest["taskDefinitionArn"], current_ref):
            current = latest
        else:
            current = self.describe_td(current_ref)
            if current is None:
                self.module.fail_json(msg=f"service {name}: its task definition {current_ref} cannot be described")
        names = [c.get("name") for c in current.get("containerDefinitions") or []]
        if container not in names:
            self.module.fail_json(msg=f"service {name}: task definition {td_key(current_ref)} has no container "
                                      f"{container!r} (containers: {', '.join(names)}); set services[].container")
        desired = registrable(current)
        for definition in desired["containerDefinitions"]:
            if definition["name"] != container:
                continue
            if item.get("image"):
                definition["image"] = item["image"]
            if item.get("environment"):
                env = {e["name"]: e.get("value", "") for e in definition.get("environment") or []}
                env.update({k: str(v) for k, v in item["environment"].items()})
                definition["environment"] = [{"name": k, "value": v} for k, v in sorted(env.items())]
            plan["image"] = definition["image"]
        key = canonical(desired)
        if key == canonical(registrable(current)):
            return current
        if latest is not None and key == canonical(registrable(latest)):
            plan["task_definition"] = latest["taskDefinitionArn"]
            plan["action"] = "reuse"
        elif key in registrations:
            # another service of this run registers exactly this definition
            plan["_register"] = registrations[key]
            plan["task_definition"] = f"{family}:new"
            plan["action"] = "register"
        else:
            tags = {t["key"]: t["value"] for t in self.tags_cache.get(current["taskDefinitionArn"], [])}
            tags.update({k: str(v) for k, v in (self.p["tags"] or {}).items()})
            registration = {"kwargs": desired, "tags": tags, "arn": None}
            registrations[key] = registration
            plan["_register"] = registration
            plan["task_definition"] = f"{family}:new"
            plan["action"] = "register"
        return current

    # -- images ---------------------------------------------------------------------------------------
    def verify_images(self):
        images = sorted({plan["image"] for plan in self.plans.values() if plan["image"]})
        clients = {}
        for image in images:
            match = ECR_IMAGE.match(image)
            if not match or not (match.group("tag") or match.group("digest")):
                continue
            region = match.group("region")
            if region not in clients:
                clients[region] = self.client("ecr", region=region)
            image_id = {"imageDigest": match.group("digest")} if match.group("digest") else {"imageTag": match.group("tag")}
            try:
                clients[region].describe_images(aws_retry=True, registryId=match.group("account"),
                                                repositoryName=match.group("repo"), imageIds=[image_id])
            except is_boto3_error_code(("ImageNotFoundException", "RepositoryNotFoundException")):
                self.missing_images.append(image)
        if self.missing_images:
            messages = []
            for image in self.missing_images:
                match = ECR_IMAGE.match(image)
                ref = f"tag {match.group('tag')}" if match.group("tag") and not match.group("digest") else f"digest {match.group('digest')}"
                messages.append(f"image {image} does not exist in ECR repository {match.group('repo')} ({ref})")
            self.module.fail_json(msg="; ".join(messages), **self.result(changed=False, changes=[]))

    # -- changes --------------------------------------------------------------------------------------
    def describe_plan_changes(self):
        for name, plan in self.plans.items():
            if plan["action"] == "register":
                self.change(f"register a new revision of {td_family(plan['previous_task_definition'])} (image "
                            f"{plan['image']}) and point service {name} at it (from {td_key(plan['previous_task_definition'])})")
            elif plan["action"] in ("reuse", "point"):
                self.change(f"point service {name} at {td_key(plan['task_definition'])} (from "
                            f"{td_key(plan['previous_task_definition'])}, image {plan['image']})")
            elif plan["action"] == "force":
                self.change(f"force a new deployment of service {name} on {td_key(plan['task_definition'])}")
            elif plan["action"] == "scale":
                self.change(f"set service {name} to {self.desired_counts[name]} task(s) on {td_key(plan['task_definition'])}")

    def register(self):
        for plan in self.plans.values():
            registration = plan["_register"]
            if registration is None:
                continue
            if registration["arn"] is None:
                kwargs = dict(registration["kwargs"])
                if registration["tags"]:
                    kwargs["tags"] = [{"key": k, "value": v} for k, v in sorted(registration["tags"].items())]
                res = self.ecs.register_task_definition(aws_retry=True, **kwargs)
                registration["arn"] = res["taskDefinition"]["taskDefinitionArn"]
            plan["task_definition"] = registration["arn"]

    def update(self, name, target, force=False):
        kwargs = {"cluster": self.cluster, "service": name, "taskDefinition": target}
        if force:
            kwargs["forceNewDeployment"] = True
        count = self.desired_counts.get(name)
        if count is not None and not self.rolled_back:
            kwargs["desiredCount"] = count
        service = self.ecs.update_service(aws_retry=True, **kwargs)["service"]
        return self.new_primary(name, service, target)

    def new_primary(self, name, service, target):
        """Id of the PRIMARY deployment on `target` that did not exist before the update, else None (emulator)."""
        known = self.known_deployments.get(name, set())
        for deployment in service.get("deployments") or []:
            if (deployment.get("status") == "PRIMARY" and same_td(deployment.get("taskDefinition"), target)
                    and deployment.get("id") not in known):
                return deployment.get("id")
        return None

    # -- waiting --------------------------------------------------------------------------------------
    def new_events(self, name, service):
        known = self.known_events.get(name, set())
        return [e.get("message", "") for e in service.get("events") or [] if e.get("id") not in known][:5]

    def evaluate(self, name, service, target):
        """(state, reason) when the service's rollout to target['td'] is over, else None."""
        deployments = service.get("deployments") or []
        primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
        events = self.new_events(name, service)
        detail = f"; events: {' | '.join(events[:3])}" if events else ""
        if target["deployment"]:
            dep = next((d for d in deployments if d.get("id") == target["deployment"]), None)
            if dep is None and primary is not None and same_td(primary.get("taskDefinition"), target["td"]):
                # The tracked deployment is gone, replaced by a newer PRIMARY on the same revision: the circuit
                # breaker's rollback of a forced deployment (a new deployment on that revision) or someone else's
                # UpdateService. Never adopt it: the breaker's rollback would read COMPLETED.
                return "FAILED", (f"deployment {target['deployment']} disappeared, replaced by {primary.get('id')} on "
                                  f"{td_key(primary.get('taskDefinition'))} (rolled back by the circuit breaker or "
                                  f"changed by someone else){detail}")
            if dep is None or (dep.get("status") != "PRIMARY" and dep.get("rolloutState") != "FAILED" and primary is not None
                               and not same_td(primary.get("taskDefinition"), target["td"])):
                now_on = td_key(primary.get("taskDefinition")) if primary else td_key(service.get("taskDefinition"))
                reason = (dep or {}).get("rolloutStateReason") or ""
                return "FAILED", f"rolled back by the circuit breaker to {now_on}" + (f": {reason}" if reason else "") + detail
            state = dep.get("rolloutState")
            if state == "FAILED":
                return "FAILED", (dep.get("rolloutStateReason") or "deployment failed") + detail
            if state == "COMPLETED":
                return "COMPLETED", dep.get("rolloutStateReason") or "completed"
            if state is None and dep.get("status") == "PRIMARY" and len(deployments) == 1 \
                    and dep.get("runningCount", 0) >= dep.get("desiredCount", 0):
                return "COMPLETED", f"{dep.get('runningCount', 0)} of {dep.get('desiredCount', 0)} tasks running (no rolloutState)"
            return None
        # No deployment of ours known yet: adopt a new PRIMARY on the target as soon as one shows up.
        known = self.known_deployments.get(name, set())
        adopted = next((d for d in deployments if d.get("status") == "PRIMARY" and d.get("id") not in known
                        and same_td(d.get("taskDefinition"), target["td"])), None)
        if adopted is not None:
            target["deployment"] = adopted.get("id")
            return self.evaluate(name, service, target)
        # Emulator fallback: UpdateService produced no deployment for the target revision.
        if not same_td(service.get("taskDefinition"), target["td"]):
            return "FAILED", (f"service is now on {td_key(service.get('taskDefinition'))}, not {td_key(target['td'])} "
                              f"(rolled back by the circuit breaker or changed by someone else){detail}")
        if primary is not None and same_td(primary.get("taskDefinition"), target["td"]) and primary.get("rolloutState") == "FAILED":
            return "FAILED", (primary.get("rolloutStateReason") or "deployment failed") + detail
        running, desired = service.get("runningCount", 0), service.get("desiredCount", 0)
        # pendingCount: AWS never reports it negative; moto does (desired - its fixed running count): nothing pending
        if running >= desired and service.get("pendingCount", 0) <= 0 and len(deployments) <= 1:
            return "COMPLETED", f"{running} of {desired} tasks running on {td_key(target['td'])}"
        return None

    def wait_for(self, targets, stop_on_failure=False):
        """targets: name -> {'td', 'deployment'}; returns name -> {rollout_state, reason, events, running/desired}.

        With stop_on_failure, the first FAILED service ends the wait: the others are left IN_PROGRESS (they are
        about to be rolled back, waiting for them would only delay that)."""
        outcome = {}
        pending = list(targets)
        waiter = self.waiter()
        last = {}
        while pending:
            found, _failures = self.describe_services(pending)
            for name in list(pending):
                service = found.get(name)
                if service is None:
                    outcome[name] = {"rollout_state": "FAILED", "reason": "service disappeared", "events": []}
                    pending.remove(name)
                    continue
                last[name] = self.last_seen[name] = service
                verdict = self.evaluate(name, service, targets[name])
                if verdict:
                    outcome[name] = {"rollout_state": verdict[0], "reason": verdict[1]}
                    pending.remove(name)
            if not pending:
                break
            if stop_on_failure and any(o["rollout_state"] == "FAILED" for o in outcome.values()):
                failed = [n for n, o in outcome.items() if o["rollout_state"] == "FAILED"]
                for name in pending:
                    outcome[name] = {"rollout_state": "IN_PROGRESS",
                                     "reason": f"not waited for: {', '.join(failed)} failed, rolling back"}
                break
            if not waiter.sleep():
                for name in pending:
                    service = last.get(name, {})
                    dep = next((d for d in service.get("deployments") or [] if d.get("id") == targets[name]["deployment"]), None)
                    if dep is not None:
                        progress = (f"{dep.get('rolloutState') or 'no rolloutState'}, {dep.get('runningCount', 0)} of "
                                    f"{dep.get('desiredCount', 0)} tasks of {td_key(dep.get('taskDefinition'))} running"
                                    + (f", {dep['failedTasks']} failed to start" if dep.get("failedTasks") else ""))
                    else:
                        progress = (f"service on {td_key(service.get('taskDefinition'))}, {service.get('runningCount', 0)} of "
                                    f"{service.get('desiredCount', 0)} tasks running")
                    events = self.new_events(name, service)
                    outcome[name] = {"rollout_state": "TIMEOUT", "reason": (
                        f"not COMPLETED within {self.p['wait_timeout']}s ({progress})"
                        + (f"; events: {' | '.join(events[:3])}" if events else ""))}
                break
        for name, service in last.items():
            outcome[name].update(events=self.new_events(name, service), running_count=service.get("runningCount", 0),
                                 desired_count=service.get("desiredCount", 0), task_definition=service.get("taskDefinition"))
        return outcome

    # -- rollback -------------------------------------------------------------------------------------
    def roll_back(self):
        self.rolled_back = True
        targets = {}
        unseen = [name for name in self.updated if name not in self.last_seen]
        found = dict(self.last_seen)
        if unseen:
            found.update(self.describe_services(unseen)[0])
        for name in self.updated:
            previous = self.plans[name]["previous_task_definition"]
            service = found.get(name, {})
            self.known_deployments[name] = {d.get("id") for d in service.get("deployments") or []}
            self.initial[name] = service
            if same_td(service.get("taskDefinition"), previous):
                primary = next((d for d in service.get("deployments") or [] if d.get("status") == "PRIMARY"), None)
                deployment = primary.get("id") if primary and same_td(primary.get("taskDefinition"), previous) else None
                target = {"td": previous, "deployment": deployment}
                verdict = self.evaluate(name, service, target) if name in self.last_seen else None
                if verdict is not None and verdict[0] == "COMPLETED":
                    self.rollback[name] = {"task_definition": previous, "rollout_state": "COMPLETED",
                                           "reason": f"back on {td_key(previous)} by the circuit breaker: {verdict[1]}"}
                    continue
                self.change(f"service {name} is back on {td_key(previous)} (circuit breaker); waiting for it")
                targets[name] = target
                continue
            self.change(f"roll service {name} back to {td_key(previous)}")
            try:
                targets[name] = {"td": previous, "deployment": self.update(name, previous)}
            except AWS_ERRORS as exc:
                self.rollback[name] = {"task_definition": previous, "rollout_state": "FAILED", "reason": f"UpdateService failed: {exc}"}
        for name, item in self.wait_for(targets).items():
            self.rollback[name] = {"task_definition": targets[name]["td"], "rollout_state": item["rollout_state"], "reason": item["reason"]}

    # -- deregistration -------------------------------------------------------------------------------
    def deregister_old(self, services_after=None):
        keep = self.p["keep_revisions"]
        if keep <= 0:
            return
        protected = {td_key(t) for t in self.p["protected_task_definitions"]}
        in_use = set()
        for plan in self.plans.values():
            in_use.add(td_key(plan["task_definition"]))
        for service in (services_after or {}).values():
            in_use.add(td_key(service.get("taskDefinition")))
            for deployment in service.get("deployments") or []:
                in_use.add(td_key(deployment.get("taskDefinition")))
        families = []
        for plan in self.plans.values():
            for ref in (plan["previous_task_definition"], plan["task_definition"]):
                if td_family(ref) not in families:
                    families.append(td_family(ref))
        for family in families:
            arns = []
            for page in self.ecs.get_paginator("list_task_definitions").paginate(familyPrefix=family, status="ACTIVE", sort="DESC"):
                arns += [a for a in page.get("taskDefinitionArns", []) if td_family(a) == family]
            revisions = sorted(arns, key=td_revision, reverse=True)
            if self.check and any(p["action"] == "register" and td_family(p["previous_task_definition"]) == family
                                  for p in self.plans.values()):
                revisions.insert(0, f"{family}:new")
            for arn in revisions[keep:]:
                if td_key(arn) in protected or td_key(arn) in in_use:
                    continue
                self.change(f"deregister {td_key(arn)} (beyond the newest {keep} of {family})")
                self.deregistered.append(arn)
                if not self.check:
                    self.ecs.deregister_task_definition(aws_retry=True, taskDefinition=arn)

    # -- main -----------------------------------------------------------------------------------------
    def run(self):
        self.plan()
        if self.p["verify_image"]:
            self.verify_images()
        self.describe_plan_changes()
        changing = [name for name, plan in self.plans.items() if plan["changed"]]
        tracked = [name for name, plan in self.plans.items() if plan["action"] == "track"]
        if self.check:
            for name in changing:
                self.plans[name]["rollout_state"] = "PLANNED"
            if self.p["wait"] and not self.p["register_only"]:
                # after the rollout the changed services are no longer on their current revisions
                self.deregister_old({n: s for n, s in self.initial.items() if not self.plans[n]["changed"]})
            self.module.exit_json(**self.result())
        self.register()
        if self.p["register_only"]:
            self.changes = [c for c in self.changes if c.startswith("register")]
            for name in changing:
                if self.plans[name]["action"] in ("register", "reuse"):
                    self.plans[name]["rollout_state"] = "REGISTERED"
            self.module.exit_json(**self.result())
        targets, failure = {}, None
        for name in changing:
            plan = self.plans[name]
            try:
                deployment = self.update(name, plan["task_definition"], force=self.p["force_new_deployment"])
            except AWS_ERRORS as exc:
                failure = f"service {name}: UpdateService failed ({exc})"
                plan.update(rollout_state="FAILED", reason=str(exc))
                break
            self.updated.append(name)
            targets[name] = {"td": plan["task_definition"], "deployment": deployment}
        if not self.p["wait"] and failure is None:
            for name in targets:
                self.plans[name]["rollout_state"] = "IN_PROGRESS"
            self.module.exit_json(**self.result())
        if failure is None:
            # deployments this run did not start but found unfinished on the target revision
            for name in tracked:
                targets[name] = {"td": self.plans[name]["task_definition"], "deployment": self.plans[name]["_deployment"]}
        outcome = self.wait_for(targets, stop_on_failure=self.p["rollback_on_failure"]) if failure is None else {}
        for name, item in outcome.items():
            self.plans[name].update(rollout_state=item["rollout_state"], reason=item["reason"], events=item.get("events", []),
                                    running_count=item.get("running_count", 0), desired_count=item.get("desired_count", 0))
        failed = [n for n in changing + tracked if self.plans[n]["rollout_state"] in ("FAILED", "TIMEOUT")]
        if failure is None and not failed:
            self.deregister_old(dict(self.initial, **self.last_seen))
            self.module.exit_json(**self.result())
        parts = [failure] if failure else [
            f"service {n}: rollout {self.plans[n]['rollout_state']} ({self.plans[n]['reason']})" for n in failed]
        msg = "; ".join(parts)
        if not self.p["rollback_on_failure"]:
            msg += "; not rolled back (rollback_on_failure=false)"
        elif not self.updated:
            msg += "; nothing to roll back (no service was changed)"
        else:
            self.roll_back()
            bad = [n for n in self.updated if self.rollback.get(n, {}).get("rollout_state") != "COMPLETED"]
            if not bad:
                msg += f"; rolled back {', '.join(self.updated)} to their previous revisions (COMPLETED)"
            else:
                ok = [n for n in self.updated if n not in bad]
                lines = []
                for n in bad:
                    back = self.rollback.get(n, {})
                    target = td_key(back.get("task_definition") or self.plans[n]["previous_task_definition"])
                    lines.append(f"service {n} back to {target}: {back.get('rollout_state', 'FAILED')} ({back.get('reason', '')})")
                msg += "; ROLLBACK FAILED: " + "; ".join(lines)
                if ok:
                    msg += f" (rolled back: {', '.join(ok)})"
        self.fail(msg)


Rollout.argument_spec = dict(
    cluster=dict(type="str", required=True),
    services=dict(type="list", elements="dict", required=True, options=dict(
        name=dict(type="str", required=True),
        image=dict(type="str"),
        task_definition=dict(type="str"),
        container=dict(type="str"),
        environment=dict(type="dict"),
        desired_count=dict(type="int"),
    )),
    force_new_deployment=dict(type="bool", default=False),
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="int", default=600),
    poll_interval=dict(type="int", default=10),
    rollback_on_failure=dict(type="bool", default=True),
    keep_revisions=dict(type="int", default=0),
    protected_task_definitions=dict(type="list", elements="str", default=[]),
    tags=dict(type="dict", default={}),
    verify_image=dict(type="bool", default=True),
    register_only=dict(type="bool", default=False),
)


def main():
    Rollout.main()

if __name__ == "__main__":
    main()
