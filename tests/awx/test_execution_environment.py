"""The execution environment: execution-environment.yml (ansible-builder v3) pins what requirements.txt pins, the
builder accepts it, and the image scripts/build-ee makes meets the EE contract with those same versions."""
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

import build_ee

ROOT = Path(__file__).resolve().parents[2]


def pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        m = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==(\S+)$", line)
        if m:
            out[m.group(1).lower()] = m.group(3)
        elif line:
            pytest.fail(f"{path.name}: '{line}' is not pinned with ==")
    return out


def test_the_ee_pins_are_the_requirements_pins():
    definition = build_ee.ee_definition()
    host = pins(ROOT / "requirements.txt")
    ee = {}
    for line in build_ee.python_requirements(definition):
        name, version = line.split("==")
        ee[name.lower()] = version
    assert {"ansible-core", "ansible-runner", "boto3", "botocore"} <= set(ee)
    assert {name: (version, host.get(name)) for name, version in ee.items() if host.get(name) != version} == {}
    assert definition["version"] == 3
    assert definition["dependencies"]["galaxy"] == "collections/requirements.yml"


def test_the_ee_collections_are_the_bundled_versions():
    """collections/requirements.yml (the EE's galaxy requirements) names the versions the pinned `ansible` bundles."""
    for name, version in build_ee.galaxy_collections(build_ee.ee_definition()).items():
        assert build_ee.manifest_version(build_ee.bundled_collection_dir(name)) == version, name


def test_ansible_builder_accepts_the_definition(tmp_path):
    res = subprocess.run(["ansible-builder", "create", "-f", "execution-environment.yml", "--context", str(tmp_path / "ctx"),
                          "--output-filename", "Containerfile"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    containerfile = (tmp_path / "ctx" / "Containerfile").read_text(encoding="utf-8")
    assert "ansible-core==2.19.14" in containerfile and "ansible-runner==2.4.3" in containerfile
    assert "/usr/share/ansible/collections/ansible_collections/webstack/platform" in containerfile
    assert (tmp_path / "ctx" / "_build" / "webstack_platform" / "galaxy.yml").is_file()
    assert "boto3==1.44.5" in (tmp_path / "ctx" / "_build" / "requirements.txt").read_text(encoding="utf-8")


PROBE = r"""
set -e
python3 - <<'PY'
import json, os, subprocess, importlib.metadata as md
out = {"user": subprocess.run(["whoami"], capture_output=True, text=True).stdout.strip(), "home": os.environ["HOME"],
       "uid": os.getuid(), "runner_writable": os.access("/runner", os.W_OK),
       "python": {d: md.version(d) for d in ("ansible-core", "ansible-runner", "boto3", "botocore", "requests", "docker",
                                             "psycopg2-binary")},
       "collections": {}, "tools": {t: bool(subprocess.run(["sh", "-c", f"command -v {t}"], capture_output=True).returncode == 0)
                                    for t in ("ansible-runner", "ansible-playbook", "pg_dump", "ssh", "git", "dumb-init")}}
base = "/usr/share/ansible/collections/ansible_collections"
for ns in os.listdir(base):
    for name in os.listdir(f"{base}/{ns}"):
        manifest = f"{base}/{ns}/{name}/MANIFEST.json"
        galaxy = f"{base}/{ns}/{name}/galaxy.yml"
        if os.path.exists(manifest):
            out["collections"][f"{ns}.{name}"] = json.load(open(manifest))["collection_info"]["version"]
        elif os.path.exists(galaxy):
            out["collections"][f"{ns}.{name}"] = "in-repo"
print(json.dumps(out))
PY
"""


@pytest.mark.docker
def test_the_image_meets_the_ee_contract_with_the_pinned_versions(ee_image):
    """Runs as an arbitrary uid in group 0 (as OpenShift/Kubernetes do): a passwd entry, HOME=/runner writable,
    ansible-runner on PATH, the pinned Python libraries and collections baked in."""
    res = subprocess.run(["docker", "run", "--rm", "--user", "1000740000:0", ee_image, "sh", "-c", PROBE],
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    probe = json.loads(res.stdout.strip().splitlines()[-1])
    assert probe["uid"] == 1000740000 and probe["user"] == "runner" and probe["home"] == "/runner"
    assert probe["runner_writable"]
    assert all(probe["tools"].values()), probe["tools"]
    host = pins(ROOT / "requirements.txt")
    assert {k: v for k, v in probe["python"].items() if host[k] != v} == {}
    wanted = build_ee.galaxy_collections(build_ee.ee_definition())
    assert {k: probe["collections"].get(k) for k in wanted} == wanted
    assert probe["collections"]["webstack.platform"] == "in-repo"
