"""Role docker_images, entry point `release`: the images of an app description are made present on the docker
host from where app_image_source says (build from a context on the controller; pull; present), never fetched
again once there, and a missing image is refused naming app_version. Real engine, nothing mocked."""
import json
import os
import subprocess

import pytest
import yaml

from support.docker import ROOT, RECAP, docker

REPO = "wsimg-e2e/app"
PLAYBOOK = """
- name: Make the release's images present
  hosts: docker_hosts
  gather_facts: false
  tasks:
    - name: Plan
      ansible.builtin.include_role:
        name: app
        tasks_from: plan
      vars:
        app_stack_tokens: {stack: {name: wsimg-e2e, env: test}}
    - name: Images
      ansible.builtin.include_role:
        name: docker_images
        tasks_from: release
"""


def _run(tmp_path, description):
    playbook = tmp_path / "release_images.yml"
    playbook.write_text(PLAYBOOK)
    extra = tmp_path / "app.json"
    extra.write_text(json.dumps({"webstack_name": "wsimg-e2e", "app_env": {}, "app_secrets": [],
                                 "app_migrations": {}, "app_smoke_checks": [], **description}))
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    res = subprocess.run(["ansible-playbook", str(playbook), "-i", str(ROOT / "inventories" / "local"),
                          "-e", f"@{extra}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    out = res.stdout + res.stderr
    return res.returncode, out, sum(int(m[2]) for m in RECAP.findall(out))


@pytest.fixture
def clean_images():
    def remove():
        for tag in docker("images", REPO, "--format", "{{.Repository}}:{{.Tag}}", check=False).split():
            docker("rmi", "-f", tag, check=False)
    remove()
    yield
    remove()


def _description(version, source, context=None):
    processes = [{"name": "web", "port": 8080, "route": {"path": "/"}},
                 {"name": "worker", "command": ["sleep", "60"]}]
    desc = {"app_version": version, "app_image": REPO, "app_image_source": source, "app_processes": processes}
    if context:
        desc["app_build"] = {"context": str(context), "dockerfile": "Dockerfile.app", "args": {"GREETING": "hi"}}
    return desc


def test_build_from_a_context_once(tmp_path, clean_images, docker_images):
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile.app").write_text(
        "FROM webstack/base:bookworm\nARG APP_VERSION\nARG GREETING\n"
        "LABEL org.example.version=$APP_VERSION org.example.greeting=$GREETING\nCOPY hello.txt /hello.txt\n")
    (context / "hello.txt").write_text("hello\n")
    rc, out, changed = _run(tmp_path, _description("1.0.0", "build", context))
    assert rc == 0, out[-3000:]
    assert changed > 0
    labels = yaml.safe_load(docker("image", "inspect", f"{REPO}:1.0.0", "--format", "{{json .Config.Labels}}"))
    assert labels["org.example.version"] == "1.0.0" and labels["org.example.greeting"] == "hi"
    image_id = docker("image", "inspect", f"{REPO}:1.0.0", "--format", "{{.Id}}")
    rc, out, changed = _run(tmp_path, _description("1.0.0", "build", context))
    assert rc == 0 and changed == 0, out[-3000:]
    assert docker("image", "inspect", f"{REPO}:1.0.0", "--format", "{{.Id}}") == image_id


def test_present_refuses_a_missing_image_naming_the_version(tmp_path, clean_images):
    rc, out, changed = _run(tmp_path, _description("9.9.9", "present"))
    assert rc != 0 and changed == 0
    assert "app_version 9.9.9" in out and f"{REPO}:9.9.9" in out, out[-3000:]


def test_pull_from_an_unreachable_registry_fails(tmp_path, clean_images):
    desc = _description("1.0.0", "pull")
    desc["app_image"] = "127.0.0.1:1/wsimg-e2e/app"
    rc, out, changed = _run(tmp_path, desc)
    assert rc != 0 and changed == 0
    assert "Pull the missing images" in out, out[-3000:]
