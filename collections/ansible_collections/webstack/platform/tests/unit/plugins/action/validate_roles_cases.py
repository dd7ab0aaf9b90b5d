"""The preflight interpreter (action plugin webstack.platform.validate_roles): each role's `validate` argument spec
and its tasks/validate.yml in one task, with the messages of the tasks it replaces and no secret in its output.

These cases install ansible's collection loader (as ansible-playbook does, for the lookups and filters the roles
use), which the other test files of a session must not see: test_validate_roles.py runs this file in an interpreter
of its own."""

from __future__ import annotations

import json
import os
import textwrap
from types import SimpleNamespace

import pytest
from ansible import constants as C
from ansible.errors import AnsibleActionFail
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.template import Templar
from ansible.utils import vars as ansible_vars
from ansible_collections.webstack.platform.plugins.action import validate_roles
from ansible_collections.webstack.platform.plugins.action.validate_roles import CENSORED, ActionModule

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), *([os.pardir] * 8)))
REPO_ROLES = [os.path.join(REPO, "roles", layer) for layer in ("shared", "docker", "aws")]
# the plugin needs no connection (_requires_connection = False); ActionBase only reads its shell's tmpdir
CONNECTION = SimpleNamespace(_shell=SimpleNamespace(tmpdir="/nonexistent"))
SECRET = "Sup3rSecretValue-" + "x" * 20  # what must never appear in a result


@pytest.fixture(scope="module", autouse=True)
def _plugin_loader():
    """Lookups (ansible.builtin.vars) and the collections' filters, as ansible-playbook sets them up."""
    init_plugin_loader([os.path.join(REPO, "collections")])


@pytest.fixture(autouse=True)
def _no_extra_vars(monkeypatch):
    monkeypatch.setattr(ansible_vars.load_extra_vars, "extra_vars", {}, raising=False)


@pytest.fixture
def roles_dir(tmp_path, monkeypatch):
    """A roles path: tmp_path/roles (the test's own roles) first, then the repository's."""
    path = tmp_path / "roles"
    path.mkdir()
    monkeypatch.setattr(C, "DEFAULT_ROLES_PATH", [str(path)] + REPO_ROLES)
    return path


def make_role(base, name, validate, defaults=None, role_vars=None, spec=None, files=None):
    role = base / name
    (role / "tasks").mkdir(parents=True)
    (role / "tasks" / "validate.yml").write_text("---\n" + textwrap.dedent(validate))
    for sub, data in (("defaults", defaults), ("vars", role_vars)):
        if data is not None:
            (role / sub).mkdir()
            (role / sub / "main.yml").write_text(json.dumps(data))
    if spec is not None:
        (role / "meta").mkdir()
        (role / "meta" / "argument_specs.yml").write_text(json.dumps({"argument_specs": {"validate": spec}}))
    for fname, text in (files or {}).items():
        (role / "tasks" / fname).write_text("---\n" + textwrap.dedent(text))
    return role


def run(roles, task_vars, check_mode=False):
    loader = DataLoader()
    task = Task()
    task.args = {"roles": roles}
    task.action = "webstack.platform.validate_roles"
    task.check_mode = check_mode
    variables = {"playbook_dir": os.path.join(REPO, "playbooks"), "inventory_hostname": "h1",
                 "group_names": ["docker_hosts"], **task_vars}
    action = ActionModule(task, CONNECTION, PlayContext(), loader, Templar(loader=loader, variables=variables), None)
    return action.run(task_vars=variables)


def text_of(result):
    return json.dumps(result, default=str)


# ---- the task kinds -------------------------------------------------------------------------------------------
def test_assert_passes_and_fails_with_its_fail_msg(roles_dir):
    make_role(roles_dir, "r1", """
        - name: Check r1_port
          ansible.builtin.assert:
            that:
              - r1_port | int > 0
              - r1_port | int < 65536
            fail_msg: "r1_port ({{ r1_port }}) must be 1-65535"
            quiet: true
        """, defaults={"r1_port": 80})
    assert not run(["r1"], {}).get("failed")
    result = run(["r1"], {"r1_port": 70000})
    assert result["failed"] and result["role"] == "r1"
    assert result["msg"] == "r1 : Check r1_port: r1_port (70000) must be 1-65535"
    assert result["problems"] == [{"role": "r1", "task": "Check r1_port", "msg": "r1_port (70000) must be 1-65535"}]


def test_every_problem_of_the_role_is_reported_and_the_next_roles_are_not_run(roles_dir):
    make_role(roles_dir, "r1", """
        - name: First
          assert: {that: [r1_a > 0], fail_msg: r1_a is wrong}
        - name: Second (passes)
          assert: {that: [true]}
        - name: Third
          ansible.builtin.assert: {that: "r1_b > 0", msg: r1_b is wrong}
        """, defaults={"r1_a": 0, "r1_b": 0})
    make_role(roles_dir, "r2", """
        - name: Never reached
          ansible.builtin.fail: {msg: r2 ran}
        """)
    result = run(["r1", "r2"], {})
    assert [p["msg"] for p in result["problems"]] == ["r1_a is wrong", "r1_b is wrong"]
    assert result["msg"].startswith("2 problems of role r1:\n- r1 : First: r1_a is wrong\n- r1 : Third: r1_b is wrong")
    assert result["checked"] == ["r1"]


def test_fail_when_and_task_vars(roles_dir):
    make_role(roles_dir, "r1", """
        - name: Refuse prod without a waiver
          ansible.builtin.fail:
            msg: "{{ __what }} is refused in {{ r1_tier }}"
          when:
            - r1_tier == 'production'
            - "'x' not in r1_waivers"
          vars:
            __what: r1_thing
        """, defaults={"r1_tier": "dev", "r1_waivers": []})
    assert not run(["r1"], {}).get("failed")
    assert not run(["r1"], {"r1_tier": "production", "r1_waivers": ["x"]}).get("failed")
    assert run(["r1"], {"r1_tier": "production"})["msg"] == "r1 : Refuse prod without a waiver: r1_thing is refused in production"


def test_set_fact_is_seen_by_later_tasks_and_roles_and_published(roles_dir):
    make_role(roles_dir, "r1", """
        - name: Compute
          ansible.builtin.set_fact:
            r1_published: "{{ r1_list | map('upper') | list }}"
        - name: Use it
          assert: {that: [r1_published | length == 2], fail_msg: "got {{ r1_published }}"}
        """, defaults={"r1_list": ["a", "b"]})
    make_role(roles_dir, "r2", """
        - name: Use the fact of r1
          assert: {that: ["r1_published == ['A', 'B']"], fail_msg: "r2 got {{ r1_published }}"}
        """)
    result = run(["r1", "r2"], {})
    assert not result.get("failed"), result
    assert result["ansible_facts"] == {"r1_published": ["A", "B"]}
    assert "_ansible_no_log" not in result  # nothing came from a no_log task
    assert result["checked"] == ["r1", "r2"] and result["deferred"] == []


def test_loop_reports_each_failing_item_with_its_label(roles_dir):
    make_role(roles_dir, "r1", """
        - name: Check the files
          ansible.builtin.assert:
            that: [(role_path ~ '/' ~ item.f) is file]
            fail_msg: "{{ item.f }} is missing ({{ idx }})"
          loop: "{{ r1_files }}"
          loop_control: {label: "{{ item.f }}", index_var: idx}
        """, defaults={"r1_files": [{"f": "tasks/validate.yml"}, {"f": "nope1"}, {"f": "nope2"}]})
    result = run(["r1"], {})
    assert result["problems"] == [
        {"role": "r1", "task": "Check the files", "msg": "nope1 is missing (1)", "item": "nope1"},
        {"role": "r1", "task": "Check the files", "msg": "nope2 is missing (2)", "item": "nope2"}]
    assert "- r1 : Check the files (item=nope1): nope1 is missing (1)" in result["msg"]


def test_role_vars_defaults_role_path_and_role_filter_plugins(roles_dir):
    role = make_role(roles_dir, "r1", """
        - name: Check with a role var, a default and a role filter
          assert:
            that: [r1_name is match(__r1_re), (r1_name | r1_double) == r1_name ~ r1_name, role_path.endswith('/r1')]
            fail_msg: "r1_name '{{ r1_name }}' does not match"
        """, defaults={"r1_name": "abc"}, role_vars={"__r1_re": "^[a-z]+$"})
    (role / "filter_plugins").mkdir()
    (role / "filter_plugins" / "r1_filters.py").write_text(
        "class FilterModule:\n    def filters(self):\n        return {'r1_double': lambda v: v + v}\n")
    assert not run(["r1"], {}).get("failed")
    assert run(["r1"], {"r1_name": "ABC"})["problems"][0]["msg"] == "r1_name 'ABC' does not match"


def test_include_of_interpretable_tasks_is_followed(roles_dir):
    make_role(roles_dir, "r1", """
        - name: More checks
          ansible.builtin.import_tasks: more.yml
          when: r1_on
        """, defaults={"r1_on": True, "r1_v": 0}, files={"more.yml": """
        - name: Check r1_v
          assert: {that: [r1_v > 0], fail_msg: r1_v must be positive}
        """})
    assert run(["r1"], {})["problems"][0]["msg"] == "r1_v must be positive"
    assert not run(["r1"], {"r1_on": False}).get("failed")


def test_tasks_of_other_modules_behind_an_include_are_deferred(roles_dir):
    make_role(roles_dir, "r1", """
        - name: Host checks
          ansible.builtin.include_tasks: host.yml
          when: r1_version | length > 0
        """, defaults={"r1_version": ""}, files={"host.yml": """
        - name: Ask the host
          community.docker.docker_image_info: {name: x}
        """})
    assert run(["r1"], {})["deferred"] == []
    result = run(["r1"], {"r1_version": "1.0"})
    assert not result.get("failed") and result["deferred"] == [{"role": "r1", "tasks_from": "host.yml"}]


def test_an_unsupported_module_is_refused_naming_it(roles_dir):
    make_role(roles_dir, "r1", """
        - name: Ask the host
          community.docker.docker_image_info: {name: x}
        """)
    result = run(["r1"], {})
    assert result["failed"]
    assert "module community.docker.docker_image_info cannot be interpreted in-process" in result["msg"]
    assert "Ask the host" in result["msg"] and "r1" in result["msg"]


@pytest.mark.parametrize("task, word", [
    ("- name: Registered\n  assert: {that: [true]}\n  register: x\n", "register"),
    ("- name: A block\n  block: [{name: inner, assert: {that: [true]}}]\n", "blocks"),
    ("- name: Delegated\n  assert: {that: [true]}\n  delegate_to: other\n", "delegate_to"),
])
def test_an_unsupported_keyword_is_refused_naming_it(roles_dir, task, word):
    make_role(roles_dir, "r1", task)
    result = run(["r1"], {})
    assert result["failed"] and word in result["msg"], result["msg"]


def test_an_unknown_role_is_refused(roles_dir):
    result = run(["no_such_role"], {})
    assert result["failed"] and "no_such_role" in result["msg"] and "not found" in result["msg"]


# ---- argument specs -------------------------------------------------------------------------------------------
def test_argument_spec_failure_has_the_automatic_validation_message_and_skips_the_tasks(roles_dir):
    make_role(roles_dir, "r1", """
        - name: Would crash on a wrong type
          assert: {that: ["r1_count + 1 > 0"]}
        """, defaults={"r1_count": 1, "r1_tier": "a"},
        spec={"short_description": "Check r1.", "options": {
            "r1_count": {"type": "int", "description": "x"},
            "r1_tier": {"type": "str", "choices": ["a", "b"], "description": "x"}}})
    assert not run(["r1"], {}).get("failed")
    result = run(["r1"], {"r1_count": "many", "r1_tier": "c"})
    assert len(result["problems"]) == 1
    problem = result["problems"][0]
    assert problem["task"] == "Validating arguments against arg spec 'validate' - Check r1."
    assert problem["msg"].startswith("Validation of arguments failed:\n")
    assert "r1_count" in problem["msg"] and "value of r1_tier must be one of: a, b, got: c" in problem["msg"]


# ---- secrets --------------------------------------------------------------------------------------------------
def test_no_log_assert_failure_is_censored(roles_dir):
    make_role(roles_dir, "r1", """
        - name: Check the password is set
          ansible.builtin.assert:
            that: [r1_password | length > 40]
            fail_msg: "r1_password {{ r1_password }} is too short"
          no_log: true
        """)
    result = run(["r1"], {"r1_password": SECRET})
    assert result["failed"] and result["problems"][0]["msg"] == CENSORED
    assert "Check the password is set" in result["msg"]
    assert SECRET not in text_of(result)


def test_no_log_set_fact_value_never_leaks_and_the_result_is_censored(roles_dir):
    make_role(roles_dir, "r1", """
        - name: Find the bad secrets (reads them)
          ansible.builtin.set_fact:
            __r1_bad: "{{ [] if vault_r1 | length >= 16 else ['vault_r1'] }}"
            r1_copy: "{{ vault_r1 }}"
          no_log: true
        - name: Check the secret
          assert: {that: [__r1_bad | length == 0], fail_msg: "{{ __r1_bad | join(', ') }} is too short"}
        - name: Check something else
          assert: {that: [r1_other > 0], fail_msg: r1_other must be positive}
        """, defaults={"r1_other": 1})
    ok = run(["r1"], {"vault_r1": SECRET})
    assert not ok.get("failed") and ok["_ansible_no_log"] is True  # the executor censors it like a no_log set_fact
    failed = run(["r1"], {"vault_r1": SECRET, "r1_other": 0})
    assert failed["failed"] and "ansible_facts" not in failed
    assert SECRET not in text_of(failed)
    short = run(["r1"], {"vault_r1": "tiny"})
    assert short["problems"][0]["msg"] == "vault_r1 is too short" and "tiny" not in text_of(short)


def test_an_error_in_a_no_log_task_is_censored(roles_dir):
    make_role(roles_dir, "r1", """
        - name: Reads a secret badly
          assert: {that: ["vault_r1 | int > 0"]}
          no_log: true
        """)
    result = run(["r1"], {"vault_r1": {"nested": SECRET}})
    assert result["failed"] and SECRET not in text_of(result)


def test_errors_after_a_problem_of_the_same_role_are_not_reported(roles_dir):
    make_role(roles_dir, "r1", """
        - name: Check r1_x is defined
          assert: {that: [r1_x is defined], fail_msg: r1_x is not defined}
        - name: Check r1_x
          assert: {that: [r1_x > 0], fail_msg: r1_x must be positive}
        """)
    assert [p["msg"] for p in run(["r1"], {})["problems"]] == ["r1_x is not defined"]
    make_role(roles_dir, "r2", """
        - name: Check r2_x
          assert: {that: [r2_x > 0], fail_msg: r2_x must be positive}
        """)
    alone = run(["r2"], {})["problems"][0]["msg"]
    assert "r2_x" in alone and "undefined" in alone


def test_check_mode_is_supported(roles_dir):
    make_role(roles_dir, "r1", "- name: Ok\n  assert: {that: [true]}\n")
    result = run(["r1"], {}, check_mode=True)
    assert not result.get("failed") and result["changed"] is False


# ---- the repository's roles -----------------------------------------------------------------------------------
REDIS_OK = {"vault_redis_password": SECRET, "webstack_name": "t1"}


def test_real_role_docker_redis(roles_dir):
    assert not run(["docker_redis"], REDIS_OK).get("failed")
    result = run(["docker_redis"], {**REDIS_OK, "docker_redis_maxmemory": "lots", "docker_redis_bind_address": "x"})
    assert [p["task"] for p in result["problems"]] == ["Check the published port and address", "Check the memory limit"]
    assert "docker_redis_maxmemory 'lots' must be a size like 256mb or 1gb." in result["msg"]
    assert SECRET not in text_of(result)


def test_real_role_docker_redis_argument_spec(roles_dir):
    result = run(["docker_redis"], {**REDIS_OK, "docker_redis_published_port": "not-a-port"})
    assert result["problems"][0]["task"].startswith("Validating arguments against arg spec 'validate'")
    assert "docker_redis_published_port" in result["msg"]


def test_real_role_release_defers_its_image_check(roles_dir):
    base = {"webstack_name": "t1", "app_description": {"image_source": "present"}}
    assert run(["release"], base)["deferred"] == []
    result = run(["release"], {**base, "release_preflight_version": "1.2.3"})
    assert not result.get("failed"), result.get("msg")
    assert result["deferred"] == [{"role": "release", "tasks_from": "validate_images.yml"}]


def test_the_module_refuses_bad_arguments(roles_dir):
    loader = DataLoader()
    task = Task()
    task.args = {"roles": ["r1"], "bogus": 1}
    task.action = "webstack.platform.validate_roles"
    action = ActionModule(task, CONNECTION, PlayContext(), loader, Templar(loader=loader, variables={}), None)
    with pytest.raises(AnsibleActionFail, match="bogus"):
        action.run(task_vars={})


def test_plugin_docstring_names_the_supported_kinds():
    assert all(word in validate_roles.__doc__ for word in ("assert", "set_fact", "fail", "include_tasks", "deferred"))


def test_a_template_compiled_once_renders_with_each_roles_variables(roles_dir):
    """The run compiles each distinct template once: the same check text in two roles sees each role's own values."""
    check = """
        - name: Check the shared rule
          assert: {that: ["shared_limit | int > 0"], fail_msg: "shared_limit is {{ shared_limit }}"}
        """
    make_role(roles_dir, "r1", check, defaults={"shared_limit": 5})
    make_role(roles_dir, "r2", check, role_vars={"shared_limit": 0})
    result = run(["r1", "r2"], {})
    assert result["checked"] == ["r1", "r2"] and result["problems"] == [
        {"role": "r2", "task": "Check the shared rule", "msg": "shared_limit is 0"}]
