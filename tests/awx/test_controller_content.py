"""The controller content (controller/): generated from the model and the argument specs, every object valid for
its awx.awx module (offline), every key applied by controller/configure.yml, surveys in agreement with the specs,
and the release workflow red after a rollback under the controller's workflow rules."""
import copy
import re
from pathlib import Path

import pytest
import yaml

import controller_content
import controller_validate

ROOT = Path(__file__).resolve().parents[2]
MODEL = yaml.safe_load((ROOT / "controller" / "model.yml").read_text(encoding="utf-8"))
OBJECTS = controller_validate.load()
ENVS = list(MODEL["environments"])


def test_objects_are_generated_from_the_model_and_specs():
    expected = controller_content.render(controller_content.build(MODEL))
    assert (ROOT / "controller" / "objects.yml").read_text(encoding="utf-8") == expected, \
        "controller/objects.yml is stale: run scripts/controller-content"


@pytest.mark.parametrize("key", list(controller_validate.MODULES))
def test_every_object_is_valid_for_its_awx_module(key):
    module = controller_validate.MODULES[key]
    assert OBJECTS[key], f"no {key}"
    errors = {o.get("name", o.get("identifier")): controller_validate.validate_object(module, o) for o in OBJECTS[key]}
    assert {k: v for k, v in errors.items() if v} == {}


def test_the_validator_rejects_what_the_modules_reject():
    bad = copy.deepcopy(OBJECTS)
    bad["controller_templates"][0]["allow_simultanous"] = False
    bad["controller_templates"][1]["job_type"] = "walk"
    bad["controller_workflow_nodes"][0]["approval_node"] = {"name": "x"}
    bad["controller_templates"][2]["inventory"] = "webstack nowhere"
    found = "\n".join(controller_validate.problems(bad))
    for text in ("allow_simultanous", "job_type must be one of", "mutually exclusive", "webstack nowhere"):
        assert text in found


def test_every_reference_resolves_and_every_schedule_parses():
    assert controller_validate.reference_problems(OBJECTS) == []


def test_configure_applies_every_key_of_every_object():
    tasks = yaml.safe_load((ROOT / "controller" / "configure.yml").read_text(encoding="utf-8"))[0]["tasks"]
    applied = {}
    for task in tasks:
        m = re.match(r"\{\{ (controller_\w+) \}\}", str(task.get("loop", "")))
        if not m:
            continue
        module = next(k for k in task if k.startswith("awx.awx."))
        assert module == "awx.awx." + controller_validate.MODULES[m.group(1)], task["name"]
        applied[m.group(1)] = set(re.findall(r"item\.(\w+)", yaml.safe_dump(task[module])))
    assert set(applied) == set(controller_validate.MODULES)
    for key, objects in OBJECTS.items():
        keys = set().union(*(o.keys() for o in objects))
        assert keys - applied[key] == set(), f"{key}: configure.yml drops {keys - applied[key]}"


def test_a_job_template_per_playbook_and_environment():
    names = {t["name"]: t for t in OBJECTS["controller_templates"]}
    operations = ["provision", "deploy", "migrate", "rollback", "restore", "backup", "status", "teardown"]
    for env in ENVS:
        for op in operations:
            name = f"webstack {env} {op}"
            if env == "prod" and op == "teardown":
                assert name not in names, "teardown refuses prod: no template for it"
                continue
            assert names[name]["playbook"] == f"playbooks/{op}.yml"
            assert names[name]["inventory"] == f"webstack {env}"
            assert f"webstack aws {env}" in names[name]["credentials"]
    assert all(t["allow_simultaneous"] is False for t in OBJECTS["controller_templates"] + OBJECTS["controller_workflows"])
    assert all(t["execution_environment"] == "webstack EE" for t in OBJECTS["controller_templates"])


def test_no_secret_value_in_the_content():
    for cred in OBJECTS["controller_credentials"]:
        for field, value in cred["inputs"].items():
            assert re.fullmatch(r"\{\{ lookup\('ansible\.builtin\.env', '[A-Z0-9_]+'\) \}\}", value), (cred["name"], field)
    for n in OBJECTS["controller_notifications"]:
        assert n["notification_configuration"]["url"].startswith("{{ lookup('ansible.builtin.env'")
    aws = next(t for t in OBJECTS["controller_credential_types"] if t["name"] == "webstack aws secrets")
    assert all(f["secret"] for f in aws["inputs"]["fields"])


def test_inventory_sources_are_the_projects_inventories_without_secrets():
    for src in OBJECTS["controller_inventory_sources"]:
        directory = (ROOT / src["source_path"]).parent
        assert src["source"] == "scm" and directory.parent.name == "inventories"
        assert not [p for p in directory.rglob("*") if p.is_file() and p.read_text(errors="replace").startswith("$ANSIBLE_VAULT")]


# --- surveys and the argument specs -------------------------------------------------------------------------------

def survey_questions():
    """(owner, question, model entry) of every survey of the content."""
    entries = {}
    for pb, conf in MODEL["playbooks"].items():
        for q in conf["survey"]:
            entries[(pb, q["variable"])] = q
    for q in MODEL["release"]["survey"]:
        entries[("release", q["variable"])] = q
    out = []
    for t in OBJECTS["controller_templates"] + OBJECTS["controller_workflows"]:
        playbook = Path(t.get("playbook", "release")).stem
        for q in t.get("survey_spec", {}).get("spec", []):
            out.append((t["name"], q, entries[(playbook, q["variable"])]))
    return out


def disagreements(question: dict, option: dict, required_override=None) -> list[str]:
    """Where a survey question and the argument-spec option it stands for disagree (a reading of the spec of its own,
    not the generator's)."""
    out = []
    typ = option.get("type", "str")
    secret = option.get("no_log", False)
    expected_type = ("password" if secret else "multiplechoice" if typ == "bool" or option.get("choices") and typ != "list"
                     else "multiselect" if option.get("choices") else {"str": "text", "int": "integer", "float": "float"}.get(typ))
    if question["type"] != expected_type:
        out.append(f"type {question['type']} for a {typ} option (expected {expected_type})")
    choices = ["false", "true"] if typ == "bool" else [str(c) for c in option.get("choices") or []]
    if sorted(question.get("choices") or []) != sorted(choices):
        out.append(f"choices {question.get('choices')} vs {choices}")
    default = option.get("default")
    if typ == "bool":
        default = "true" if default else "false"
    elif isinstance(default, str) and "{{" in default:
        default = ""
    elif default is None:
        default = ""
    if not secret and question.get("default") != default:
        out.append(f"default {question.get('default')!r} vs spec {default!r}")
    required = option.get("required", False) if required_override is None else required_override
    if question["required"] != required:
        out.append(f"required {question['required']} vs {required}")
    return out


@pytest.mark.parametrize("owner, question, entry", survey_questions(), ids=lambda v: v if isinstance(v, str) else "")
def test_survey_question_agrees_with_its_argument_spec(owner, question, entry):
    if entry["spec"] is None:
        assert entry["variable"] not in {opt for role in ROOT.glob("roles/*/*") if (role / "meta" / "argument_specs.yml").exists()
                                         for ep in controller_content.argument_specs(role.name).values()
                                         for opt in (ep.get("options") or {})}, "a spec owns it: name the spec"
        return
    option = controller_content.spec_option(entry["spec"])
    assert disagreements(question, option, entry.get("required")) == []


def test_a_survey_that_disagrees_with_its_spec_is_caught():
    owner, question, entry = next(q for q in survey_questions() if q[2]["spec"] and q[1]["type"] == "text")
    option = copy.deepcopy(controller_content.spec_option(entry["spec"]))
    option["choices"] = ["1.0.0", "2.0.0"]
    assert disagreements(question, option, entry.get("required"))
    option = {"type": "int", "default": 3}
    assert disagreements(question, option, entry.get("required"))


def test_every_survey_variable_is_read_by_its_playbook():
    for t in OBJECTS["controller_templates"]:
        text = (ROOT / t["playbook"]).read_text(encoding="utf-8")
        for q in t.get("survey_spec", {}).get("spec", []):
            assert re.search(rf"\b{q['variable']}\b", text), f"{t['playbook']} never reads {q['variable']}"
            if q["choices"] if q["type"] == "multiplechoice" else False:
                if q["choices"] == ["false", "true"]:
                    assert re.search(rf"{q['variable']} \| default\([^)]*\) \| bool", text), \
                        f"{t['playbook']}: the answer '{q['variable']}' is a string: cast it with | bool"


# --- the release workflow under the controller's rules ------------------------------------------------------------

def workflow_nodes(env):
    return [n for n in OBJECTS["controller_workflow_nodes"] if n["workflow_job_template"] == f"webstack {env} release"]


def outcomes(failing):
    return lambda ident: "failed" if ident in failing or ident == "release-failed" else "successful"


@pytest.mark.parametrize("env", ENVS)
def test_release_workflow_graph(env):
    nodes = workflow_nodes(env)
    gate = ["approval"] if env == "prod" else []
    assert controller_validate.run_workflow(nodes, outcomes(set())) == ("successful", gate + ["backup", "migrate", "deploy"])
    status, ran = controller_validate.run_workflow(nodes, outcomes({"deploy"}))
    assert status == "failed" and ran[-2:] == ["rollback", "release-failed"], "a rolled-back release must be red"
    status, ran = controller_validate.run_workflow(nodes, outcomes({"deploy", "rollback"}))
    assert status == "failed" and ran[-2:] == ["rollback", "release-failed"]
    status, ran = controller_validate.run_workflow(nodes, outcomes({"migrate"}))
    assert status == "failed" and "deploy" not in ran and ran[-2:] == ["rollback", "release-failed"]
    status, ran = controller_validate.run_workflow(nodes, outcomes({"backup"}))
    assert status == "failed" and ran == gate + ["backup", "release-failed"], "no migration without a backup"
    if env == "prod":
        assert controller_validate.run_workflow(nodes, outcomes({"approval"})) == ("failed", ["approval"])
    else:
        assert not any("approval_node" in n for n in nodes)


def test_the_walk_follows_the_controllers_failure_rule():
    """Without the final failing node, a successful rollback would leave the workflow green: the rule the node is for."""
    nodes = [dict(n) for n in workflow_nodes("dev") if n["identifier"] != "release-failed"]
    for n in nodes:
        for edge in ("success_nodes", "failure_nodes", "always_nodes"):
            if "release-failed" in n.get(edge, []):
                n[edge] = [c for c in n[edge] if c != "release-failed"]
                if not n[edge]:
                    del n[edge]
    assert controller_validate.run_workflow(nodes, outcomes({"deploy"}))[0] == "successful"


def test_schedules_nightly_backups_and_a_weekly_restore_drill():
    by_template = {}
    for s in OBJECTS["controller_schedules"]:
        by_template.setdefault(s["unified_job_template"], []).append(s)
    for env in ENVS:
        assert "FREQ=DAILY" in by_template[f"webstack {env} backup"][0]["rrule"]
    drills = [s for s in OBJECTS["controller_schedules"] if "restore" in s["unified_job_template"]]
    assert [d["unified_job_template"] for d in drills] == ["webstack staging restore"]
    staging = yaml.safe_load((ROOT / "inventories" / "staging" / "group_vars" / "all" / "webstack.yml").read_text())
    assert "FREQ=WEEKLY" in drills[0]["rrule"] and drills[0]["extra_data"] == {"confirm_restore": staging["webstack_name"]}
    restore = next(t for t in OBJECTS["controller_templates"] if t["name"] == "webstack staging restore")
    assert controller_content.validate_answers(restore["survey_spec"], drills[0]["extra_data"]) == []


def test_notifications_on_start_success_and_failure_of_every_template():
    names = {n["name"] for n in OBJECTS["controller_notifications"]}
    assert len(names) == 3
    for t in OBJECTS["controller_templates"] + OBJECTS["controller_workflows"]:
        if "release failed" in t["name"]:
            continue
        for event in ("started", "success", "error"):
            assert t[f"notification_templates_{event}"], (t["name"], event)
