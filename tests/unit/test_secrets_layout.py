"""Secrets live in secrets/<webstack_name>.yml, never in an inventory's group_vars (an AWX inventory sourced from the project
would import them), and every secrets file other than the generated local/sandbox ones is vault-encrypted."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GENERATED = {"webstack-local.yml", "webstack-sandbox.yml"}


def test_no_vault_file_or_vault_variable_in_any_inventory():
    offenders = []
    for path in (ROOT / "inventories").rglob("*"):
        text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
        if path.is_file() and (path.name.startswith("vault") or text.startswith("$ANSIBLE_VAULT")
                               or re.search(r"^\s*vault_\w+\s*:", text, re.M)):
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, f"secrets belong in secrets/<webstack_name>.yml (see secrets/README.md), not in: {offenders}"


def test_secrets_files_are_generated_or_encrypted():
    files = sorted((ROOT / "secrets").glob("*.yml"))
    assert {p.name for p in files} >= GENERATED
    for path in files:
        text = path.read_text(encoding="utf-8")
        if path.name in GENERATED:
            # only password lookups into the git-ignored .secrets/<env>/, never a literal value
            values = [line for line in text.splitlines() if line.startswith("vault_")]
            assert values and all(line.rstrip().endswith(">-") for line in values), path.name
            assert text.count("lookup('ansible.builtin.password'") == len(values), path.name
        else:
            assert text.startswith("$ANSIBLE_VAULT;"), f"secrets/{path.name} must be ansible-vault encrypted"


def test_secrets_file_names_match_the_environments():
    """secrets/<webstack_name>.yml: preflight looks the file up by the stack's name (unique, unlike webstack_env,
    which examples reuse)."""
    import yaml

    envs = {yaml.safe_load(p.read_text(encoding="utf-8")).get("webstack_name")
            for p in (ROOT / "inventories").glob("*/group_vars/all/webstack.yml")}
    assert {p.stem for p in (ROOT / "secrets").glob("*.yml")} <= envs
