"""collections/requirements.yml must pin exactly the collection versions the pinned `ansible`
package bundles (AWX/Galaxy users install the former, CLI users the latter)."""
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _pinned_ansible():
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        m = re.match(r"^ansible==(\S+)", line.strip())
        if m:
            return m.group(1)
    raise AssertionError("requirements.txt does not pin ansible==X")


def _bundled_collections():
    """Versions of the collections shipped in the installed `ansible` package."""
    import json
    from importlib.metadata import distribution

    # the bundle's own directory, not the in-repo collection that may be earlier on sys.path
    base = Path(distribution("ansible").locate_file("ansible_collections"))
    found = {}
    for manifest in base.glob("*/*/MANIFEST.json"):
        info = json.loads(manifest.read_text())["collection_info"]
        found[f"{info['namespace']}.{info['name']}"] = info["version"]
    return found


def test_installed_ansible_is_the_pinned_one():
    from importlib.metadata import version

    assert version("ansible") == _pinned_ansible()


def test_collections_requirements_match_bundle():
    reqs = yaml.safe_load((ROOT / "collections" / "requirements.yml").read_text())["collections"]
    bundled = _bundled_collections()
    assert reqs, "collections/requirements.yml lists no collection"
    mismatches = {
        r["name"]: (r["version"], bundled.get(r["name"]))
        for r in reqs
        if bundled.get(r["name"]) != str(r["version"])
    }
    assert not mismatches, f"requirements.yml vs ansible=={_pinned_ansible()} bundle: {mismatches}"


@pytest.mark.parametrize("name", ["amazon.aws", "community.aws", "community.docker",
                                  "community.postgresql", "awx.awx"])
def test_core_collections_are_pinned(name):
    reqs = yaml.safe_load((ROOT / "collections" / "requirements.yml").read_text())["collections"]
    assert name in {r["name"] for r in reqs}


def _referenced_collections():
    """Collections named by FQCN in roles, playbooks, molecule scenarios and ansible.cfg."""
    known_prefixes = {"ansible.builtin", "webstack.platform"}
    used = set()
    files = [ROOT / "ansible.cfg"]
    for sub in ("roles", "playbooks", "molecule"):
        files += [p for p in (ROOT / sub).rglob("*.yml")]
    for path in files:
        for line in path.read_text().splitlines():
            stripped = line.strip()
            m = re.match(r"^-?\s*([a-z_]+\.[a-z_]+\.[a-z_0-9]+):", stripped)
            if m:
                used.add(".".join(m.group(1).split(".")[:2]))
            for cb in re.findall(r"callbacks_enabled\s*=\s*(.*)", line):
                used |= {".".join(c.strip().split(".")[:2]) for c in cb.split(",") if c.count(".") == 2}
    return used - known_prefixes


def test_every_collection_used_is_pinned():
    reqs = yaml.safe_load((ROOT / "collections" / "requirements.yml").read_text())["collections"]
    pinned = {r["name"] for r in reqs}
    missing = _referenced_collections() - pinned
    assert not missing, f"collections used but not pinned in collections/requirements.yml: {sorted(missing)}"
