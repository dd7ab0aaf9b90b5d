#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ecs_run_task
short_description: Run a one-off ECS task with a service's network and wait for its exit code
version_added: 0.2.0
description:
  - Runs one task (C(RunTask)) in the way an ECS service runs its tasks, for one-off jobs such as
    database migrations. From the service it copies the C(awsvpcConfiguration) (subnets,
    security groups, C(assignPublicIp)), the launch type or the capacity provider strategy, the
    platform version, and (unless O(task_definition) is given) the task definition. Secrets
    come with the task definition (C(valueFrom)), so the job sees what the service sees.
  - The command of container O(container) is replaced with O(command)
    (C(overrides.containerOverrides)).
  - Then reads the task (C(DescribeTasks)) every O(poll_interval) seconds until it is
    V(STOPPED), and fails when the container's exit code is not 0, with the task's
    C(stoppedReason) and the container's C(reason), or when the container has no exit code
    (it never ran, for example C(CannotPullContainerError)).
  - A task that does not stop within O(wait_timeout) seconds is stopped (C(StopTask)) and the
    module fails. A task ECS refuses to start (C(failures) in the C(RunTask) answer, for example
    no capacity or a missing ENI quota) makes the module fail too.
  - Not idempotent by nature, each run starts a task, so it always reports RV(ignore:changed=true).
    The job itself must be safe to run twice (migrations are, applied ones are skipped).
    C(RunTask) is sent with a C(clientToken), so a retried request (throttling) never starts a
    second task.
author:
  - webstack maintainers
options:
  cluster:
    description:
      - ECS cluster name or ARN.
    type: str
    required: true
  service:
    description:
      - Service whose network configuration, launch type or capacity provider strategy, platform
        version and (unless O(task_definition) is set) task definition the task gets.
    type: str
    required: true
  task_definition:
    description:
      - Task definition (C(family:revision) or ARN) to run instead of the service's, for example
        the new revision of a release whose migrations run before the service switches.
    type: str
  container:
    description:
      - Name of the container whose command is replaced and whose exit code counts. Defaults to
        O(service).
    type: str
  command:
    description:
      - Command of the container, as an exec-form list.
    type: list
    elements: str
    required: true
  started_by:
    description:
      - C(startedBy) of the task (up to 36 characters), to find it in the console or with
        C(ListTasks).
    type: str
    default: webstack
  wait_timeout:
    description:
      - Seconds from the start until the task must have stopped; then it is stopped and the module
        fails.
    type: int
    default: 900
  poll_interval:
    description:
      - Seconds between two C(DescribeTasks) reads.
    type: int
    default: 5
notes:
  - "Check mode: no task is run; the module reports RV(ignore:changed=true) and what it would run
    (RV(task_definition), RV(command), RV(run_request))."
  - "IAM permissions: C(ecs:DescribeServices), C(ecs:RunTask), C(ecs:DescribeTasks), C(ecs:StopTask),
    C(iam:PassRole) on the task definition's task role and execution role."
  - Against the moto 5.2.5 emulator a task goes C(RUNNING), C(DEACTIVATING), C(STOPPING),
    C(DEPROVISIONING), C(STOPPED), one state per C(DescribeTasks), and always exits 0, so a
    non-zero exit, a start failure and the timeout are covered by unit tests with stubbed AWS
    responses. C(RunTask) there needs a VPC with DNS hostnames enabled (otherwise HTTP 500).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Apply the migrations of release 1.4.0 from its image, with the api service's network and secrets
  webstack.platform.ecs_run_task:
    cluster: webstack-prod
    service: api
    task_definition: webstack-prod-api:42
    command: [python3, -m, webstack_app, migrate]
    started_by: webstack-migrate-1.4.0
    wait_timeout: 900
  register: migration
"""

RETURN = r"""
task_arn:
  description: ARN of the task (empty in check mode).
  returned: always
  type: str
  sample: arn:aws:ecs:us-east-1:123456789012:task/webstack-prod/0123456789abcdef0123456789abcdef
task_definition:
  description: Task definition the task runs (or would run).
  returned: always
  type: str
command:
  description: The command of O(container).
  returned: always
  type: list
  elements: str
last_status:
  description: Last C(lastStatus) of the task, V(STOPPED) after a normal end.
  returned: always
  type: str
exit_code:
  description: Exit code of O(container); null when it has none (never ran) or in check mode.
  returned: always
  type: int
stopped_reason:
  description: C(stoppedReason) of the task.
  returned: always
  type: str
  sample: Essential container in task exited
stop_code:
  description: C(stopCode) of the task, for example V(EssentialContainerExited) or V(TaskFailedToStart).
  returned: always
  type: str
container_reason:
  description: C(reason) of O(container), for example C(OutOfMemoryError) details.
  returned: always
  type: str
elapsed:
  description: Seconds from C(RunTask) to the end of the wait.
  returned: always
  type: float
run_request:
  description: The C(RunTask) parameters sent (or that would be sent), without the client token.
  returned: always
  type: dict
"""

import uuid

from ansible_collections.webstack.platform.plugins.module_utils.base import Layer
from ansible_collections.webstack.platform.plugins.module_utils.waiter import Waiter


def task_id(arn):
    return arn.rsplit("/", 1)[-1]


def describe_service(module, client):
    p = module.params
    answer = client.describe_services(cluster=p["cluster"], services=[p["service"]], aws_retry=True)
    services = [s for s in answer.get("services", []) if s.get("status") != "INACTIVE"]
    if not services:
        reasons = ", ".join(f.get("reason", "") for f in answer.get("failures", [])) or "INACTIVE"
        module.fail_json(msg=f"service {p['service']} not found in cluster {p['cluster']} ({reasons})")
    return services[0]


def run_request(module, service):
    p = module.params
    request = {"cluster": p["cluster"], "taskDefinition": p["task_definition"] or service["taskDefinition"],
               "count": 1, "startedBy": p["started_by"],
               "overrides": {"containerOverrides": [{"name": p["container"], "command": p["command"]}]}}
    network = (service.get("networkConfiguration") or {}).get("awsvpcConfiguration")
    if network:
        request["networkConfiguration"] = {"awsvpcConfiguration": {
            key: network[key] for key in ("subnets", "securityGroups", "assignPublicIp") if network.get(key)}}
    if service.get("capacityProviderStrategy"):
        request["capacityProviderStrategy"] = service["capacityProviderStrategy"]
    elif service.get("launchType"):
        request["launchType"] = service["launchType"]
    fargate = request.get("launchType") == "FARGATE" or any(
        s.get("capacityProvider", "").startswith("FARGATE") for s in request.get("capacityProviderStrategy", []))
    if service.get("platformVersion") and fargate:
        request["platformVersion"] = service["platformVersion"]
    return request


def container_of(task, name):
    for container in task.get("containers", []):
        if container.get("name") == name:
            return container
    return {}


def outcome(task, name, waiter, request):
    container = container_of(task, name)
    return {"task_arn": task.get("taskArn", ""), "task_definition": request["taskDefinition"],
            "command": request["overrides"]["containerOverrides"][0]["command"],
            "last_status": task.get("lastStatus", ""), "exit_code": container.get("exitCode"),
            "stopped_reason": task.get("stoppedReason", ""), "stop_code": task.get("stopCode", ""),
            "container_reason": container.get("reason", ""), "elapsed": round(waiter.elapsed(), 1),
            "run_request": request}


def run(module, client):
    p = module.params
    service = describe_service(module, client)
    request = run_request(module, service)
    command = " ".join(p["command"])
    if module.check_mode:
        module.exit_json(changed=True, task_arn="", task_definition=request["taskDefinition"], command=p["command"],
                         last_status="", exit_code=None, stopped_reason="", stop_code="", container_reason="",
                         elapsed=0.0, run_request=request)

    waiter = Waiter(p["wait_timeout"], p["poll_interval"])
    answer = client.run_task(clientToken=str(uuid.uuid4()), aws_retry=True, **request)
    if answer.get("failures") or not answer.get("tasks"):
        reasons = "; ".join(f"{f.get('arn', '')} {f.get('reason', '')} {f.get('detail', '')}".strip()
                            for f in answer.get("failures", [])) or "no task returned"
        module.fail_json(msg=f"task ({command}) of service {p['service']} failed to start: {reasons}",
                         failures=answer.get("failures", []), run_request=request, changed=False)
    task = answer["tasks"][0]
    arn = task["taskArn"]
    while task.get("lastStatus") != "STOPPED":
        if not waiter.sleep():
            client.stop_task(cluster=p["cluster"], task=arn, aws_retry=True,
                             reason=f"webstack: wait_timeout of {p['wait_timeout']} s exceeded")
            result = outcome(task, p["container"], waiter, request)
            module.fail_json(msg=f"task {task_id(arn)} ({command}) did not stop within {p['wait_timeout']} s "
                                 f"(wait_timeout; last status {task.get('lastStatus')}): stopped it",
                             changed=True, **result)
        described = client.describe_tasks(cluster=p["cluster"], tasks=[arn], aws_retry=True)
        if described.get("tasks"):
            task = described["tasks"][0]
        # else: MISSING right after RunTask (eventual consistency) -> read again until the deadline

    result = outcome(task, p["container"], waiter, request)
    reasons = f"{result['stopped_reason']}; {result['container_reason']}"
    if result["exit_code"] is None:
        module.fail_json(msg=f"task {task_id(arn)} ({command}) stopped without an exit code of container "
                             f"{p['container']} ({result['stop_code'] or 'no stop code'}): {reasons}",
                         changed=True, **result)
    if result["exit_code"] != 0:
        module.fail_json(msg=f"task {task_id(arn)} ({command}) exited {result['exit_code']}: {reasons}",
                         changed=True, **result)
    module.exit_json(changed=True, **result)


class RunTask(Layer):
    retries = {"retries": 10, "delay": 3}
    argument_spec = dict(
        cluster=dict(type="str", required=True),
        service=dict(type="str", required=True),
        task_definition=dict(type="str"),
        container=dict(type="str"),
        command=dict(type="list", elements="str", required=True),
        started_by=dict(type="str", default="webstack"),
        wait_timeout=dict(type="int", default=900),
        poll_interval=dict(type="int", default=5),
    )

    @classmethod
    def validate(cls, module):
        p = module.params
        p["container"] = p["container"] or p["service"]
        if not p["command"]:
            module.fail_json(msg="command must not be empty")
        if len(p["started_by"]) > 36:
            module.fail_json(msg=f"started_by must be at most 36 characters (ECS limit), got {len(p['started_by'])}")
        if p["wait_timeout"] < 0 or p["poll_interval"] < 0:
            module.fail_json(msg="wait_timeout and poll_interval must not be negative")

    def fail_aws(self, exc, msg, **result):
        self.module.fail_json_aws(exc, msg=f"Failed to run a task of service {self.p['service']} in cluster {self.p['cluster']}")

    def run(self):
        run(self.module, self.client("ecs"))


def main():
    RunTask.main()


if __name__ == "__main__":
    main()
