"""Documentation of every module agrees with its argument spec (a small stand-in for ansible-test's
validate-modules, which needs network access to bootstrap), and ansible-doc renders it."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest
import yaml

from ansible.module_utils import basic
from ansible_collections.amazon.aws.plugins.module_utils import modules as aws_modules

MODULES_DIR = os.path.join(os.path.dirname(__file__), *([os.pardir] * 4), "plugins", "modules")
MODULES = sorted(f[:-3] for f in os.listdir(MODULES_DIR) if f.endswith(".py") and not f.startswith("_"))
REPO = os.path.abspath(os.path.join(MODULES_DIR, *([os.pardir] * 6)))


# Fragments of the options AnsibleAWSModule adds itself (not in a module's argument_spec).
AWS_MODULE_FRAGMENTS = {"amazon.aws.common.modules", "amazon.aws.region.modules", "amazon.aws.boto3"}


class _Captured(Exception):
    pass


def argument_spec_of(module, monkeypatch):
    captured = {}

    def fake_init(self, **kwargs):
        captured.update(kwargs)
        raise _Captured()

    monkeypatch.setattr(aws_modules.AnsibleAWSModule, "__init__", fake_init)
    monkeypatch.setattr(basic.AnsibleModule, "__init__", fake_init)  # the docker host's modules
    with pytest.raises(_Captured):
        module.main()
    return captured


def test_there_are_modules():
    assert {"elasticache_replication_group", "rds_parameter_group",
            "vpc_network", "security_groups", "storage"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_documentation_matches_argument_spec(name, monkeypatch):
    module = importlib.import_module(f"ansible_collections.webstack.platform.plugins.modules.{name}")
    doc = yaml.safe_load(module.DOCUMENTATION)
    yaml.safe_load(module.EXAMPLES)
    yaml.safe_load(module.RETURN)
    assert doc["module"] == name
    for fragment in doc.get("extends_documentation_fragment", []):
        if fragment not in AWS_MODULE_FRAGMENTS:  # e.g. amazon.aws.tags, webstack.platform.*: their options are the module's
            namespace, collection, name = fragment.split(".", 2)
            shared = importlib.import_module(
                f"ansible_collections.{namespace}.{collection}.plugins.doc_fragments.{name.split('.')[0]}")
            doc["options"] = {**yaml.safe_load(shared.ModuleDocFragment.DOCUMENTATION)["options"], **doc["options"]}
    captured = argument_spec_of(module, monkeypatch)
    assert captured.get("supports_check_mode") is True, "every module supports check mode"
    spec = captured["argument_spec"]
    options = doc["options"]
    assert set(spec) == set(options), f"documented {sorted(options)} vs spec {sorted(spec)}"
    for option, arg in spec.items():
        documented = options[option]
        assert documented.get("description"), f"{option}: no description"
        assert documented.get("type", "str") == arg.get("type", "str"), option
        assert documented.get("default") == arg.get("default"), option
        assert documented.get("choices") == arg.get("choices"), option
        assert documented.get("required", False) == arg.get("required", False), option
        assert sorted(documented.get("aliases", [])) == sorted(arg.get("aliases", [])), option
        assert documented.get("elements") == arg.get("elements"), option
        if option.endswith(("token", "password", "secret")):
            assert arg.get("no_log") is True, f"{option} must be no_log"


@pytest.mark.parametrize("name", MODULES)
def test_ansible_doc_renders(name):
    ansible_doc = os.path.join(os.path.dirname(sys.executable), "ansible-doc")
    res = subprocess.run([ansible_doc, f"webstack.platform.{name}"], cwd=REPO, capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg")))
    assert res.returncode == 0, res.stderr
    assert "EXAMPLES" in res.stdout and "RETURN VALUES" in res.stdout


# Modules that run on the docker host (Docker SDK, files), not against the AWS APIs.
NOT_AWS = {"docker_release", "release_lock", "http_checks"}


def test_modules_are_in_the_aws_action_group():
    with open(os.path.join(MODULES_DIR, os.pardir, os.pardir, "meta", "runtime.yml"), encoding="utf-8") as f:
        runtime = yaml.safe_load(f)
    group = [entry for entry in runtime["action_groups"]["aws"] if isinstance(entry, str)]
    assert sorted(group) == [m for m in MODULES if m not in NOT_AWS]
