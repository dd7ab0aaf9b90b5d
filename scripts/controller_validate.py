"""Offline checks of the controller content (controller/objects.yml), without a controller:

- every object against the argument spec of the awx.awx module that applies it (the spec is read from the module
  itself, in the pinned collection: unknown parameters, types, choices, required, mutually exclusive);
- every reference between objects (inventory, project, credentials, execution environment, notification templates,
  workflow node targets and edges, schedule targets) names an object of the content or a built-in of the controller;
- surveys are well formed (types, choices, defaults) and schedules parse as iCalendar rules;
- `run_workflow` walks a workflow's nodes with the controller's rules (awx WorkflowDAG): a node runs when its
  relevant parents finished and one of their success/failure/always edges to it holds, nodes that can no longer run
  are "do not run", and the workflow fails when a failed node has no failure or always child.

    scripts/controller_validate.py        exit 1 and list the problems, if any
"""
from __future__ import annotations

import importlib
import sys
from functools import lru_cache
from pathlib import Path

import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

ROOT = Path(__file__).resolve().parents[1]
OBJECTS = ROOT / "controller" / "objects.yml"
MODULES = {
    "controller_organizations": "organization",
    "controller_credential_types": "credential_type",
    "controller_credentials": "credential",
    "controller_execution_environments": "execution_environment",
    "controller_projects": "project",
    "controller_inventories": "inventory",
    "controller_inventory_sources": "inventory_source",
    "controller_notifications": "notification_template",
    "controller_templates": "job_template",
    "controller_workflows": "workflow_job_template",
    "controller_workflow_nodes": "workflow_job_template_node",
    "controller_schedules": "schedule",
}
# Credential types every controller has (managed by it).
BUILTIN_CREDENTIAL_TYPES = {"Amazon Web Services", "Vault", "Machine", "Source Control",
                            "Red Hat Ansible Automation Platform", "Container Registry"}
SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}


class _Captured(Exception):
    pass


@lru_cache(maxsize=None)
def module_argspec(name: str) -> tuple[dict, dict]:
    """(argument_spec, other AnsibleModule keyword arguments) of an awx.awx module, read by running its main() up
    to the point where it builds its module object."""
    module = importlib.import_module(f"ansible_collections.awx.awx.plugins.modules.{name}")
    box: dict = {}

    class Capture:
        def __init__(self, argument_spec=None, **kwargs):
            box["spec"], box["kwargs"] = dict(argument_spec or {}), kwargs
            raise _Captured

    for attr in ("ControllerAPIModule", "ControllerAWXKitModule"):
        if hasattr(module, attr):
            setattr(module, attr, Capture)
    try:
        module.main()
    except _Captured:
        pass
    finally:
        importlib.reload(module)
    if "spec" not in box:
        raise RuntimeError(f"could not read the argument spec of awx.awx.{name}")
    return box["spec"], box["kwargs"]


def validate_object(module: str, obj: dict) -> list[str]:
    spec, kwargs = module_argspec(module)
    keys = {"mutually_exclusive", "required_together", "required_one_of", "required_if", "required_by"}
    result = ArgumentSpecValidator(spec, **{k: v for k, v in kwargs.items() if k in keys}).validate(obj)
    return [str(e) for e in result.errors]


def load(path: Path = OBJECTS) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def survey_problems(owner: str, survey: dict) -> list[str]:
    problems = []
    if not isinstance(survey, dict) or not {"name", "description", "spec"} <= set(survey):
        return [f"{owner}: survey_spec needs name, description and spec"]
    seen = set()
    for q in survey["spec"]:
        where = f"{owner}: survey question {q.get('variable')}"
        missing = {"question_name", "variable", "type", "required"} - set(q)
        if missing:
            problems.append(f"{where}: missing {sorted(missing)}")
            continue
        if q["variable"] in seen:
            problems.append(f"{where}: asked twice")
        seen.add(q["variable"])
        if q["type"] not in SURVEY_TYPES:
            problems.append(f"{where}: type {q['type']} unknown")
        if q["type"] in ("multiplechoice", "multiselect"):
            choices = q.get("choices") or []
            defaults = [d for d in str(q.get("default", "")).split("\n") if d] if q["type"] == "multiselect" else \
                [q.get("default")] if q.get("default") not in (None, "") else []
            if not choices or any(d not in choices for d in defaults):
                problems.append(f"{where}: default {q.get('default')!r} not among choices {choices}")
        if q["type"] in ("text", "textarea", "password") and q.get("default") and not \
                q.get("min", 0) <= len(q["default"]) <= q.get("max", 1024):
            problems.append(f"{where}: default outside min/max")
        if q["type"] == "password" and q.get("default"):
            problems.append(f"{where}: a password question must have no default")
    return problems


def reference_problems(objects: dict) -> list[str]:
    names = {key: {o.get("name") for o in objects.get(key, [])} for key in MODULES}
    problems = []

    def need(owner, kind, value):
        if value not in names[kind]:
            problems.append(f"{owner}: {MODULES[kind].replace('_', ' ')} '{value}' is not defined")

    for c in objects["controller_credentials"]:
        if c["credential_type"] not in names["controller_credential_types"] | BUILTIN_CREDENTIAL_TYPES:
            problems.append(f"credential {c['name']}: credential type {c['credential_type']} unknown")
        need(f"credential {c['name']}", "controller_organizations", c["organization"])
    for s in objects["controller_inventory_sources"]:
        need(f"inventory source {s['name']}", "controller_inventories", s["inventory"])
        need(f"inventory source {s['name']}", "controller_projects", s["source_project"])
        if not (ROOT / s["source_path"]).is_file():
            problems.append(f"inventory source {s['name']}: {s['source_path']} is not in the project")
        if any(p.name.startswith("vault") for p in (ROOT / s["source_path"]).parent.rglob("*")):
            problems.append(f"inventory source {s['name']}: a vault file sits in the sourced inventory")
    for p in objects["controller_projects"]:
        need(f"project {p['name']}", "controller_execution_environments", p["default_environment"])
    for owner_key in ("controller_templates", "controller_workflows"):
        for t in objects[owner_key]:
            owner = f"{owner_key.removeprefix('controller_')[:-1]} {t['name']}"
            if "inventory" in t:
                need(owner, "controller_inventories", t["inventory"])
            if "project" in t:
                need(owner, "controller_projects", t["project"])
                if not (ROOT / t["playbook"]).is_file():
                    problems.append(f"{owner}: playbook {t['playbook']} is not in the project")
            if "execution_environment" in t:
                need(owner, "controller_execution_environments", t["execution_environment"])
            for cred in t.get("credentials", []):
                need(owner, "controller_credentials", cred)
            for key in ("notification_templates_started", "notification_templates_success", "notification_templates_error",
                        "notification_templates_approvals"):
                for n in t.get(key, []):
                    need(owner, "controller_notifications", n)
            if t.get("survey_enabled"):
                problems += survey_problems(owner, t.get("survey_spec"))
            elif t.get("survey_spec"):
                problems.append(f"{owner}: a survey that is not enabled")
    for wf in objects["controller_workflows"]:
        wf_nodes = [n for n in objects["controller_workflow_nodes"] if n["workflow_job_template"] == wf["name"]]
        ids = [n["identifier"] for n in wf_nodes]
        if len(ids) != len(set(ids)):
            problems.append(f"workflow {wf['name']}: duplicate node identifiers")
        created = set()
        for n in wf_nodes:
            if "unified_job_template" in n and n["unified_job_template"] not in names["controller_templates"]:
                problems.append(f"workflow {wf['name']} node {n['identifier']}: job template {n['unified_job_template']} unknown")
            for edge in ("success_nodes", "failure_nodes", "always_nodes"):
                for child in n.get(edge, []):
                    if child not in ids:
                        problems.append(f"workflow {wf['name']} node {n['identifier']}: {edge} {child} is not a node")
                    elif child not in created:
                        problems.append(f"workflow {wf['name']} node {n['identifier']}: {edge} {child} is created after it")
            created.add(n["identifier"])
    for n in objects["controller_workflow_nodes"]:
        need(f"workflow node {n['identifier']}", "controller_workflows", n["workflow_job_template"])
    for s in objects["controller_schedules"]:
        if s["unified_job_template"] not in names["controller_templates"] | names["controller_workflows"]:
            problems.append(f"schedule {s['name']}: {s['unified_job_template']} unknown")
        problems += rrule_problems(s)
        template = next((t for t in objects["controller_templates"] if t["name"] == s["unified_job_template"]), {})
        for var in s.get("extra_data", {}):
            asked = {q["variable"] for q in template.get("survey_spec", {}).get("spec", [])}
            if var not in asked and not template.get("ask_variables_on_launch"):
                problems.append(f"schedule {s['name']}: extra_data {var} is neither a survey answer nor prompted for")
    return problems


def rrule_problems(schedule: dict) -> list[str]:
    from dateutil.rrule import rrulestr  # noqa: PLC0415 - python-dateutil comes with botocore

    rule = schedule["rrule"]
    if not rule.startswith("DTSTART") or " RRULE:" not in rule:
        return [f"schedule {schedule['name']}: rrule must be 'DTSTART...' then ' RRULE:...'"]
    try:
        rrulestr(rule.replace(" RRULE:", "\nRRULE:"), forceset=True)
    except (ValueError, TypeError) as exc:
        return [f"schedule {schedule['name']}: rrule does not parse: {exc}"]
    return []


def problems(objects: dict | None = None) -> list[str]:
    objects = objects if objects is not None else load()
    found = []
    unknown = set(objects) - set(MODULES)
    if unknown:
        found.append(f"object lists with no module: {sorted(unknown)}")
    for key, module in MODULES.items():
        for obj in objects.get(key, []):
            found += [f"{module} {obj.get('name', obj.get('identifier'))}: {e}" for e in validate_object(module, obj)]
    return found + reference_problems(objects)


def run_workflow(nodes: list[dict], outcome) -> tuple[str, list[str]]:
    """Walk a workflow like the controller. `outcome(identifier)` -> 'successful' or 'failed' for each node that runs
    (an approval node: 'successful' = approved, 'failed' = denied or timed out). Returns (workflow status, the
    identifiers that ran, in order)."""
    by_id = {n["identifier"]: n for n in nodes}
    parents: dict[str, list[tuple[str, str]]] = {i: [] for i in by_id}
    for n in nodes:
        for edge in ("success_nodes", "failure_nodes", "always_nodes"):
            for child in n.get(edge, []):
                parents[child].append((n["identifier"], edge))
    status: dict[str, str] = {}
    dnr: set[str] = set()

    def edge_holds(parent: str, edge: str) -> bool | None:
        """True/False once the parent is decided; None while it may still run."""
        if parent in dnr:
            return False
        if parent not in status:
            return None
        return edge == "always_nodes" or (edge == "success_nodes") == (status[parent] == "successful")

    while True:
        progressed = False
        for ident in by_id:
            if ident in status or ident in dnr:
                continue
            holds = [edge_holds(p, e) for p, e in parents[ident]]
            if not holds or (None not in holds and any(holds)):
                status[ident] = outcome(ident)
                progressed = True
            elif None not in holds:
                dnr.add(ident)
                progressed = True
        if not progressed:
            break
    ran = list(status)
    failed = any(s == "failed" and not (by_id[i].get("failure_nodes") or by_id[i].get("always_nodes"))
                 for i, s in status.items())
    return ("failed" if failed else "successful"), ran


def main() -> int:
    found = problems()
    for p in found:
        print(p)
    print(f"{len(found)} problem(s) in {OBJECTS.relative_to(ROOT)}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
