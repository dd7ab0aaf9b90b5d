"""Build the webstack execution environment locally (image webstack/ee) from the debootstrapped Debian base.

The inputs are those of execution-environment.yml (ansible-builder v3): the ansible-core and ansible-runner pins,
the Python requirements file, the bindep file (its [platform:dpkg] packages) and collections/requirements.yml; the
build itself is ee/Dockerfile, because ansible-builder's helper scripts need an RPM base and pip finds nothing inside
a `docker build` here. So:

- Python wheels are fetched on the host (`pip wheel`, cached in .build/ee/wheels-<hash>) and copied into the context;
  the direct pins are those of execution-environment.yml, the transitive ones are constrained to this virtualenv's
  versions (`pip freeze`), so the EE runs the library versions the test suite runs with;
- the collections are the ones the pinned `ansible` package of the virtualenv bundles, checked against the versions of
  collections/requirements.yml, plus the in-repo webstack.platform;
- the image carries the label org.webstack.ee.inputs = a hash of every input (base image id included): when the
  existing image has the same label, nothing is rebuilt.

    scripts/build-ee [--force] [--no-cache] [--json FILE] [--tag webstack/ee:latest]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / ".build" / "ee"
LABEL = "org.webstack.ee.inputs"
DEFAULT_TAG = "webstack/ee:latest"
BASE_IMAGE = "webstack/base:bookworm"
# What the EE needs besides the bindep packages: a venv for the wheels, and an init process (PID 1) for the runner.
EE_SYSTEM_PACKAGES = ["python3-venv", "dumb-init"]


def ee_definition() -> dict:
    return yaml.safe_load((ROOT / "execution-environment.yml").read_text(encoding="utf-8"))


def python_requirements(definition: dict) -> list[str]:
    """ansible-core, ansible-runner and the Python requirements file, as pinned lines."""
    deps = definition["dependencies"]
    lines = [deps["ansible_core"]["package_pip"], deps["ansible_runner"]["package_pip"]]
    for line in (ROOT / deps["python"]).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def system_packages(definition: dict) -> list[str]:
    pkgs = list(EE_SYSTEM_PACKAGES)
    for line in (ROOT / definition["dependencies"]["system"]).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and "platform:dpkg" in line:
            pkgs.append(line.split()[0])
    return pkgs


def galaxy_collections(definition: dict) -> dict[str, str]:
    """name -> pinned version from the galaxy requirements file."""
    req = yaml.safe_load((ROOT / definition["dependencies"]["galaxy"]).read_text(encoding="utf-8"))
    return {c["name"]: str(c["version"]) for c in req["collections"] if c.get("type", "galaxy") == "galaxy"}


def bundled_collection_dir(name: str) -> Path:
    """The collection as the pinned `ansible` package of this virtualenv bundles it."""
    import ansible_collections  # noqa: PLC0415 - the bundled collections' namespace package

    namespace, coll = name.split(".")
    for base in ansible_collections.__path__:
        path = Path(base) / namespace / coll
        if (path / "MANIFEST.json").is_file():
            return path
    raise SystemExit(f"collection {name} is not in this virtualenv (install requirements.txt)")


def manifest_version(path: Path) -> str:
    return json.loads((path / "MANIFEST.json").read_text(encoding="utf-8"))["collection_info"]["version"]


def tree_digest(path: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts and "tests" not in p.parts):
        digest.update(str(file.relative_to(path)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def docker(*args: str, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], check=check, capture_output=capture, text=True,
                          env=dict(os.environ, DOCKER_BUILDKIT="0"))


def image_label(tag: str) -> str | None:
    res = docker("image", "inspect", "--format", f'{{{{ index .Config.Labels "{LABEL}" }}}}', tag, check=False)
    return res.stdout.strip() if res.returncode == 0 else None


def ensure_base_image() -> str:
    res = docker("image", "inspect", "--format", "{{.Id}}", BASE_IMAGE, check=False)
    if res.returncode != 0:
        print(f"[build-ee] {BASE_IMAGE} missing: building the images (playbooks/build_images.yml)", file=sys.stderr)
        subprocess.run(["ansible-playbook", "-i", "inventories/local", "playbooks/build_images.yml"], cwd=ROOT, check=True)
        res = docker("image", "inspect", "--format", "{{.Id}}", BASE_IMAGE)
    return res.stdout.strip()


def inputs() -> dict:
    """Every input of the image, and their hash."""
    definition = ee_definition()
    reqs = python_requirements(definition)
    collections = {}
    for name, version in galaxy_collections(definition).items():
        path = bundled_collection_dir(name)
        found = manifest_version(path)
        if found != version:
            raise SystemExit(f"{name}: {definition['dependencies']['galaxy']} pins {version}, the virtualenv has {found}")
        collections[name] = {"version": version, "path": str(path)}
    platform = ROOT / "collections" / "ansible_collections" / "webstack" / "platform"
    collections["webstack.platform"] = {"version": tree_digest(platform), "path": str(platform)}
    files = {name: hashlib.sha256((ROOT / "ee" / name).read_bytes()).hexdigest() for name in ("Dockerfile", "entrypoint.sh")}
    wheels, wheels_s = fetch_wheels(reqs)
    data = {"python": reqs, "wheels": sorted(p.name for p in wheels.glob("*.whl")), "system": system_packages(definition),
            "collections": {k: v["version"] for k, v in collections.items()}, "files": files,
            "base_image": ensure_base_image()}
    data["hash"] = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    data["_collection_paths"] = {k: v["path"] for k, v in collections.items()}
    data["_wheels"], data["_wheels_s"] = wheels, wheels_s
    return data


def venv_constraints() -> list[str]:
    """The exact versions of this virtualenv (what the test suite runs with): the EE's transitive dependencies
    resolve to the same ones."""
    res = subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude-editable", "--disable-pip-version-check"],
                         check=True, capture_output=True, text=True)
    return sorted(line for line in res.stdout.splitlines() if re.match(r"^[A-Za-z0-9_.\-\[\]]+==\S+$", line))


def fetch_wheels(reqs: list[str]) -> tuple[Path, float]:
    constraints = venv_constraints()
    key = hashlib.sha256("\n".join(reqs + ["--"] + constraints).encode()).hexdigest()[:16]
    wheels = BUILD / f"wheels-{key}"
    if (wheels / ".complete").is_file():
        return wheels, 0.0
    start = time.monotonic()
    shutil.rmtree(wheels, ignore_errors=True)
    wheels.mkdir(parents=True)
    (wheels / "requirements-ee.txt").write_text("\n".join(reqs) + "\n", encoding="utf-8")
    (wheels / "constraints.txt").write_text("\n".join(constraints) + "\n", encoding="utf-8")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "--wheel-dir", str(wheels),
                    "-r", str(wheels / "requirements-ee.txt"), "-c", str(wheels / "constraints.txt")], check=True)
    (wheels / ".complete").write_text("\n".join(reqs) + "\n", encoding="utf-8")
    return wheels, time.monotonic() - start


def make_context(data: dict, wheels: Path) -> Path:
    context = BUILD / "context"
    shutil.rmtree(context, ignore_errors=True)
    context.mkdir(parents=True)
    shutil.copytree(wheels, context / "wheels", ignore=shutil.ignore_patterns(".complete", "requirements-ee.txt", "constraints.txt"))
    (context / "requirements-ee.txt").write_text("\n".join(data["python"]) + "\n", encoding="utf-8")
    for name in ("Dockerfile", "entrypoint.sh"):
        shutil.copy2(ROOT / "ee" / name, context / name)
    for name, path in data["_collection_paths"].items():
        namespace, coll = name.split(".")
        shutil.copytree(path, context / "collections" / "ansible_collections" / namespace / coll, symlinks=False,
                        ignore=shutil.ignore_patterns("__pycache__", "tests", "*.pyc"))
    return context


def image_size(tag: str) -> int:
    return int(docker("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip())


def build(tag: str = DEFAULT_TAG, force: bool = False, no_cache: bool = False) -> dict:
    start = time.monotonic()
    data = inputs()
    result = {"tag": tag, "inputs_hash": data["hash"], "built": False, "wheels_s": round(data["_wheels_s"], 1)}
    if not force and image_label(tag) == data["hash"]:
        result.update(seconds=round(time.monotonic() - start, 1), size_bytes=image_size(tag))
        return result
    context = make_context(data, data["_wheels"])
    cmd = ["build", "-q", "--label", f"{LABEL}={data['hash']}", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}",
           "--build-arg", "SYSTEM_PACKAGES=" + " ".join(data["system"]), "-t", tag,
           "-t", f"{tag.rsplit(':', 1)[0]}:{data['hash'][:12]}"]
    if no_cache:
        cmd.append("--no-cache")
    res = docker(*cmd, str(context), check=False)
    if res.returncode != 0:
        raise SystemExit(f"docker build failed:\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}")
    shutil.rmtree(context, ignore_errors=True)
    result.update(built=True, seconds=round(time.monotonic() - start, 1), size_bytes=image_size(tag))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tag", default=DEFAULT_TAG)
    parser.add_argument("--force", action="store_true", help="build even when the image's inputs label matches")
    parser.add_argument("--no-cache", action="store_true", help="docker build --no-cache (a fresh build)")
    parser.add_argument("--json", type=Path, help="write the result (seconds, size) as JSON here")
    args = parser.parse_args()
    result = build(args.tag, force=args.force or args.no_cache, no_cache=args.no_cache)
    print(f"[build-ee] {result['tag']}: {'built' if result['built'] else 'up to date (inputs label matches)'} in "
          f"{result['seconds']} s (wheels {result['wheels_s']} s), {result['size_bytes'] / 1e6:.0f} MB, "
          f"inputs {result['inputs_hash'][:12]}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
