"""Every role's typed meta/argument_specs.yml mirrors its defaults/main.yml, and every role is
documented. Modelled on prometheus-community/ansible's CI check."""
from pathlib import Path

import pytest
import yaml

import support

ROOT = Path(__file__).resolve().parents[2]
ROLES = [p for p in support.roles() if (p / "tasks").is_dir()]
VALID_TYPES = {"str", "int", "float", "bool", "list", "dict", "path", "raw", "jsonarg", "json", "bytes", "bits"}


def _load(path):
    return yaml.safe_load(path.read_text()) if path.exists() else None


def _specs(role):
    specs = _load(role / "meta" / "argument_specs.yml")
    assert specs and "argument_specs" in specs, f"{role.name}: meta/argument_specs.yml missing"
    return specs["argument_specs"]


def _primary(role):
    """The entry point defaults/main.yml mirrors: `main` (a layer: converge it), else the role's first entry point,
    its primary verb (docker_release/ecs_release `deploy`, docker_backup/rds_backup `backup`, release_ledger `read`;
    docs/ARCHITECTURE.md, Conventions)."""
    specs = _specs(role)
    return specs["main"] if "main" in specs else next(iter(specs.values()))


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_defaults_mirror_main_spec(role):
    defaults = _load(role / "defaults" / "main.yml") or {}
    options = _primary(role).get("options") or {}
    assert set(defaults) == set(options), (
        f"{role.name}: only in defaults {sorted(set(defaults) - set(options))}, "
        f"only in argument_specs {sorted(set(options) - set(defaults))}")
    for name, value in defaults.items():
        spec = options[name]
        assert "default" in spec and spec["default"] == value, f"{role.name}: default of {name} differs"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_option_typed_and_described(role):
    for entry, spec in _specs(role).items():
        for name, option in (spec.get("options") or {}).items():
            assert option.get("type") in VALID_TYPES, f"{role.name}:{entry}:{name} has no valid type"
            assert option.get("description"), f"{role.name}:{entry}:{name} has no description"
            if option.get("type") in ("list",) and "elements" not in option:
                pytest.fail(f"{role.name}:{entry}:{name} is a list without `elements`")


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_entry_points_have_task_files(role):
    for entry in _specs(role):
        assert (role / "tasks" / f"{entry}.yml").exists(), f"{role.name}: entry point {entry} has no tasks file"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_public_variables_carry_role_prefix(role):
    defaults = _load(role / "defaults" / "main.yml") or {}
    bad = [n for n in defaults if not n.startswith(f"{role.name}_")]
    assert not bad, f"{role.name}: defaults without the role prefix: {bad}"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_is_documented(role):
    readme = role / "README.md"
    assert readme.exists(), f"{role.name}: README.md missing"
    text = readme.read_text().lower()
    for section in ("variable", "example"):
        assert section in text, f"{role.name}: README has no '{section}' section"
    assert (role / "meta" / "main.yml").exists()


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_has_validate_entry_point(role):
    assert "validate" in _specs(role) or role.name == "webstack", f"{role.name}: no `validate` entry point"
