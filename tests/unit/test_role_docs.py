"""Every role README's variable section is the one scripts/role-docs generates from meta/argument_specs.yml: every
option of every entry point, nothing hand-written in between. (That the spec's defaults equal defaults/main.yml is
tests/unit/test_argument_specs.py's check.)"""
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("role_docs", ROOT / "scripts" / "role_docs.py")
role_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(role_docs)

ROLES = role_docs.roles(ROOT)


def test_roles_found():
    assert len(ROLES) >= 20, ROLES


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_readme_variable_section_is_generated(role):
    text = (role / "README.md").read_text()
    assert text.count(role_docs.BEGIN) == 1 and text.count(role_docs.END) == 1, (
        f"{role.relative_to(ROOT)}/README.md needs exactly one generated variable section: run `{role_docs.FIX}`")
    difference = role_docs.drift(role)
    assert not difference, (
        f"{role.relative_to(ROOT)}/README.md: its variable section differs from meta/argument_specs.yml.\n"
        f"Fix: run `{role_docs.FIX}` and commit the README.\n{difference}")


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_option_of_every_entry_point_listed(role):
    section = role_docs.SECTION_RE.search((role / "README.md").read_text()).group(0)
    for entry, spec in role_docs.load_specs(role).items():
        assert f"`{entry}`" in section, f"{role.name}: entry point {entry} not in the README"
        for name in (spec or {}).get("options") or {}:
            assert f"| `{name}` |" in section, f"{role.name}: option {name} ({entry}) not in the README"


def test_generator_replaces_only_its_section(tmp_path):
    readme = ("# r\n\nPurpose.\n\n## Outputs\n\n`r_out`\n\n## Variables\n\n" + role_docs.BEGIN + "\nold table\n"
              + role_docs.END + "\n\nPer environment: ...\n\n## Example\n\nx\n")
    new = role_docs.updated(readme, role_docs.BEGIN + "\nnew\n" + role_docs.END)
    assert new == readme.replace("old table", "new")
    assert role_docs.updated(new, role_docs.BEGIN + "\nnew\n" + role_docs.END) == new  # rerunnable


def test_generator_adds_a_missing_section():
    section = role_docs.BEGIN + "\nnew\n" + role_docs.END
    with_heading = role_docs.updated("# r\n\n## Variables\n\nhand table\n\n## Example\n", section)
    assert with_heading == "# r\n\n## Variables\n\n" + section + "\n\nhand table\n\n## Example\n"
    without = role_docs.updated("# r\n\nPurpose.\n\n## Example\n\nx\n", section)
    assert without == "# r\n\nPurpose.\n\n## Variables\n\n" + section + "\n\n## Example\n\nx\n"


def test_rendering_of_types_defaults_choices_and_suboptions(tmp_path):
    role = tmp_path / "roles" / "shared" / "r"
    (role / "meta").mkdir(parents=True)
    (role / "meta" / "argument_specs.yml").write_text("""
argument_specs:
  main:
    short_description: Main <thing>.
    options: &o
      r_list:
        type: list
        elements: dict
        default: [{name: a}]
        description: [First C(part) |, second.]
        options:
          name: {type: str, required: true, description: Name.}
      r_mode: {type: str, default: "", choices: [a, b], description: "Mode; `x|y`."}
      r_expr: {type: str, default: "{{ a | default('b') }}", description: Expr.}
  validate:
    short_description: Check.
    options: *o
  other:
    short_description: Nothing.
""")
    out = role_docs.render(role)
    assert out.startswith(role_docs.BEGIN) and out.endswith(role_docs.END)
    assert "| `main` | `tasks/main.yml` | Main &lt;thing&gt;. |" in out
    assert "Options of entry points `main`, `validate` (3):" in out
    assert "Options of entry point `other`: none." in out
    assert "| `r_list` | list[dict] | no | `[{name: a}]` |  | First `part` \\| second. |" in out
    assert "| `r_list[].name` | str | yes |  |  | Name. |" in out
    assert "| `r_mode` | str | no | `\"\"` | `a`, `b` | Mode; `x\\|y`. |" in out
    assert "| `r_expr` | str | no | `{{ a \\| default('b') }}` |  | Expr. |" in out
