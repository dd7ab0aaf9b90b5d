"""Static checks of examples/ (issue 8 section 6): each system is described once (app.yml) and both of its
inventories read that one file; the stand-in images are built FROM the debootstrapped base with Debian packages
only and share no code with webstack's reference app; stack names and ports stay in the examples' ranges; no
secret value is committed."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SYSTEMS = ["petforce", "household", "sports-nutrition", "propflow", "meal-planner"]


def _vars(system, platform):
    out = {}
    for path in sorted((EXAMPLES / system / platform / "group_vars" / "all").glob("*.yml")):
        out.update(yaml.safe_load(path.read_text()) or {})
    return out


def test_every_system_has_an_example():
    # and standin/: the files every stand-in image shares (linked from each image's build context)
    assert sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir()) == sorted(SYSTEMS + ["standin"])


@pytest.mark.parametrize("system", SYSTEMS)
def test_both_inventories_read_the_one_description(system):
    for platform, group in (("docker", "docker_hosts"), ("aws", "aws")):
        link = EXAMPLES / system / platform / "group_vars" / "all" / "app.yml"
        assert link.is_symlink() and link.resolve() == (EXAMPLES / system / "app.yml").resolve(), link
        hosts = yaml.safe_load((EXAMPLES / system / platform / "hosts.yml").read_text())
        assert list(hosts["all"]["children"]) == [group]
        assert _vars(system, platform)["webstack_name"] == f"wsx-{system}"


@pytest.mark.parametrize("system", SYSTEMS)
def test_docker_ports_in_the_examples_ranges(system):
    v = _vars(system, "docker")
    n = SYSTEMS.index(system) + 1
    assert (v["docker_proxy_published_port"], v["docker_postgres_published_port"], v["docker_redis_published_port"]) \
        == (18080 + n, 15440 + n, 16380 + n)
    assert {v["docker_proxy_bind_address"], v["docker_postgres_bind_address"], v["docker_redis_bind_address"]} == {"127.0.0.1"}


@pytest.mark.parametrize("system", SYSTEMS)
def test_secrets_are_vault_variables_generated_outside_the_repo(system):
    desc = yaml.safe_load((EXAMPLES / system / "app.yml").read_text())
    for platform in ("docker", "aws"):
        vault = (EXAMPLES / system / platform / "group_vars" / "all" / "vault.yml").read_text()
        v = yaml.safe_load(vault)
        for name, value in v.items():
            if name.startswith("vault_"):
                assert "lookup('ansible.builtin.password'" in value, f"{platform}/{name} must be generated, not committed"
        assert f".secrets/wsx-{system}" in vault
        for secret in desc["app_secrets"]:
            if "var" in secret and (platform == "docker" or "arn" not in secret):
                assert secret["var"] in v, f"{platform}: {secret['var']} (secret {secret['name']}) is not defined"


def _image_dirs():
    return sorted(p.parent for p in EXAMPLES.glob("*/image*/Dockerfile"))


def test_seven_stand_in_images():
    assert [str(p.relative_to(EXAMPLES)) for p in _image_dirs()] == [
        "household/image", "meal-planner/image", "petforce/image-api", "petforce/image-web",
        "propflow/image-backend", "propflow/image-dashboard", "sports-nutrition/image"]


SHARED = EXAMPLES / "standin"


@pytest.mark.parametrize("image", _image_dirs(), ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_stand_in_images_are_debian_only_and_not_the_reference_app(image):
    dockerfile = (image / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=webstack/base:bookworm\nFROM \$\{BASE_IMAGE\}$", dockerfile, re.M)
    assert "ARG APP_VERSION" in dockerfile
    for word in ("pip install", "npm install", "curl ", "wget ", "ADD http"):
        assert word not in dockerfile, f"{image}: {word!r}: nothing is fetched outside Debian's packages"
    for path in list(image.rglob("*")) + list(SHARED.rglob("*")):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert "webstack_app" not in text and "APP_DATABASE_" not in text, f"{path}: reference-app code or contract"


@pytest.mark.parametrize("image", _image_dirs(), ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_stand_in_images_share_one_copy_of_the_common_files(image):
    """standin-build.sh (every image) and standin.js (every Node.js image) exist once, in examples/standin/: each
    image's build context links to them, so the context the platform copies (links followed) holds them."""
    links = {p.name: p for p in image.iterdir() if p.is_symlink()}
    assert "standin-build.sh" in links, f"{image}: standin-build.sh must link to ../../standin/standin-build.sh"
    if "node" in (image / "Dockerfile").read_text().rsplit("CMD", 1)[-1]:
        assert "standin.js" in links, f"{image}: a Node.js stand-in links standin.js"
    for name, link in links.items():
        assert link.resolve().parent == SHARED and link.readlink() == Path("../../standin") / link.resolve().name, link
    shared = {p.read_bytes() for p in SHARED.iterdir()}
    for path in image.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert path.read_bytes() not in shared, f"{path}: a copy of a shared stand-in file (link it instead)"


def test_no_image_tag_in_descriptions_and_one_migration_command_each():
    shapes = {}
    for system in SYSTEMS:
        desc = yaml.safe_load((EXAMPLES / system / "app.yml").read_text())
        assert ":" not in desc["app_image"].rsplit("/", 1)[-1]
        shapes[system] = desc["app_migrations"]["command"]
    assert shapes == {
        "petforce": ["supabase", "db", "push"],
        "household": ["npm", "run", "migrate"],
        "sports-nutrition": ["sh", "database/migrate.sh"],
        "propflow": ["alembic", "upgrade", "head"],
        "meal-planner": ["npx", "prisma", "migrate", "deploy"],
    }
