#!/usr/bin/python
# -*- coding: utf-8 -*-
# GPL-3.0-or-later
"""webstack.platform.ecs_scale: set the task count of ECS services (e.g. stop them), optionally holding autoscaling."""

from __future__ import annotations

DOCUMENTATION = r"""
module: ecs_scale
short_description: Set the desired task count of ECS services and wait until their tasks reached it
description:
  - Sets C(desiredCount) of each listed service with C(UpdateService) (no new deployment) and waits until every
    service's running and pending task counts reached it - for C(0), until every task of every deployment stopped.
    Used by the restore to stop the application's writes before the database swap (AWS's procedure for replacing
    a DB instance by renaming stops all traffic to it first).
  - With I(autoscaling=suspend), the services' Application Auto Scaling targets get their dynamic and scheduled
    scaling suspended first (C(RegisterScalableTarget) C(SuspendedState)), so a target-tracking policy or the
    target's minimum does not start the tasks again; I(autoscaling=resume) lifts the suspension.
  - Returns each service's count before the change (C(previous)) and its scalable target's minimum
    (C(min_capacity)), so that a caller can put the services back.
  - Check mode reads only and reports what would change.
version_added: 0.3.0
author: webstack maintainers
options:
  cluster:
    description: Name or ARN of the ECS cluster.
    type: str
    required: true
  services:
    description: The services, each with C(name) and C(desired_count) (omit C(desired_count) to leave the count alone).
    type: list
    elements: dict
    required: true
  autoscaling:
    description: Leave the scalable targets alone (C(keep)), suspend their scaling before the change, or resume it after.
    type: str
    choices: [keep, suspend, resume]
    default: keep
  wait:
    description: Wait until the running and pending counts reached the desired counts.
    type: bool
    default: true
  wait_timeout:
    description: Seconds the wait may take.
    type: int
    default: 600
  poll_interval:
    description: Seconds between two DescribeServices rounds.
    type: int
    default: 10
notes:
  - "Permissions: ecs:DescribeServices, ecs:UpdateService, application-autoscaling:DescribeScalableTargets,
    application-autoscaling:RegisterScalableTarget."
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Stop writes (services to 0, autoscaling held)
  webstack.platform.ecs_scale:
    cluster: webstack-prod
    services: [{name: web, desired_count: 0}, {name: worker, desired_count: 0}]
    autoscaling: suspend
  register: stopped
"""

RETURN = r"""
services:
  description: Per service C(previous) (desired count before), C(desired_count), C(running_count), C(min_capacity).
  type: dict
  returned: always
elapsed:
  description: Seconds the module took (the wait included).
  type: float
  returned: always
changes:
  description: What changed (or would change in check mode).
  type: list
  elements: str
  returned: always
"""

from ansible_collections.webstack.platform.plugins.module_utils.base import Layer

DIMENSION = "ecs:service:DesiredCount"
SUSPENDED = {"DynamicScalingInSuspended": True, "DynamicScalingOutSuspended": True, "ScheduledScalingSuspended": True}
RESUMED = {"DynamicScalingInSuspended": False, "DynamicScalingOutSuspended": False, "ScheduledScalingSuspended": False}


def cluster_name(ref):
    return ref.split("/")[-1]


def describe(ecs, cluster, names):
    found = {}
    for start in range(0, len(names), 10):
        res = ecs.describe_services(aws_retry=True, cluster=cluster, services=names[start:start + 10])
        found.update({s["serviceName"]: s for s in res.get("services", []) if s.get("status") == "ACTIVE"})
    return found


def settled(service, desired):
    """The service's running and pending counts (every deployment's tasks) reached `desired`."""
    running, pending = service.get("runningCount", 0), service.get("pendingCount", 0)
    if desired == 0:
        return running == 0 and pending == 0
    return running >= desired and not pending


class Scale(Layer):
    label = "ecs_scale"
    argument_spec = dict(
        cluster=dict(type="str", required=True),
        services=dict(type="list", elements="dict", required=True),
        autoscaling=dict(type="str", choices=["keep", "suspend", "resume"], default="keep"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=600),
        poll_interval=dict(type="int", default=10),
    )

    @classmethod
    def validate(cls, module):
        for item in module.params["services"]:
            if not item.get("name"):
                module.fail_json(msg="services: every item needs a name")
            count = item.get("desired_count")
            if count is not None and (not str(count).isdigit()):
                module.fail_json(msg=f"services: {item['name']}: desired_count must be a whole number >= 0, got {count!r}")

    def current_step(self):
        return self.changes[-1] if self.changes else "reading the services"

    def set_suspension(self, state, label):
        for name in self.names:
            target = self.targets.get(self.rid[name])
            if target is None:
                continue
            current = {k: bool((target.get("SuspendedState") or {}).get(k)) for k in state}
            if current != state:
                self.change(f"{label} autoscaling of {name}", self.aas.register_scalable_target, aws_retry=True,
                            ServiceNamespace="ecs", ResourceId=self.rid[name], ScalableDimension=DIMENSION,
                            SuspendedState=state)

    def run(self):
        p, cluster = self.p, self.p["cluster"]
        wanted = {i["name"]: None if i.get("desired_count") is None else int(i["desired_count"]) for i in p["services"]}
        ecs = self.client("ecs")
        self.aas = self.client("application-autoscaling")
        self.names = names = list(wanted)
        found = describe(ecs, cluster, names)
        missing = [n for n in names if n not in found]
        if missing:
            self.fail(f"service(s) not found (ACTIVE) in cluster {cluster}: {', '.join(missing)}", changed=False)
        self.rid = rid = {n: f"service/{cluster_name(cluster)}/{n}" for n in names}
        self.targets = {}
        res = self.aas.describe_scalable_targets(aws_retry=True, ServiceNamespace="ecs", ResourceIds=list(rid.values()),
                                                 ScalableDimension=DIMENSION)
        for target in res.get("ScalableTargets", []):
            self.targets[target["ResourceId"]] = target
        out = {n: {"previous": found[n].get("desiredCount", 0),
                   "desired_count": found[n].get("desiredCount", 0) if wanted[n] is None else wanted[n],
                   "running_count": found[n].get("runningCount", 0),
                   "min_capacity": (self.targets.get(rid[n]) or {}).get("MinCapacity", 0)} for n in names}
        if p["autoscaling"] == "suspend":
            self.set_suspension(SUSPENDED, "suspend")
        for name in names:
            if wanted[name] is not None and found[name].get("desiredCount", 0) != wanted[name]:
                self.change(f"scale {name} from {found[name].get('desiredCount', 0)} to {wanted[name]} task(s)",
                            ecs.update_service, aws_retry=True, cluster=cluster, service=name, desiredCount=wanted[name])
        if p["wait"] and not self.check:
            waiter = self.waiter()
            pending = [n for n in names if wanted[n] is not None]
            while pending:
                now = describe(ecs, cluster, pending)
                for name in list(pending):
                    service = now.get(name, {})
                    out[name]["running_count"] = service.get("runningCount", 0)
                    if settled(service, wanted[name]):
                        pending.remove(name)
                if pending and not waiter.sleep():
                    self.fail(f"services {', '.join(pending)} of cluster {cluster} did not reach their task count "
                              f"within {p['wait_timeout']}s: " + ", ".join(
                                  f"{n} {out[n]['running_count']} running of {wanted[n]} wanted" for n in pending),
                              changed=bool(self.changes), changes=self.changes, services=out)
        if p["autoscaling"] == "resume":
            self.set_suspension(RESUMED, "resume")
        return {"services": out, "elapsed": self.elapsed()}


def main():
    Scale.main()


if __name__ == "__main__":
    main()
