"""Run a playbook the way AWX/AAP runs a job on a container group, without a controller.

`AwxJob` builds the private data dir the controller builds for a job:
  project/          a copy of the project as the project sync leaves it (the tracked files, links kept)
  inventory/hosts   an executable script printing the environment's inventory as JSON (what the controller stores
                    from an inventory source sourced from the project: `ansible-inventory --list` of it)
  env/extravars     survey answers, the credential-injected extra vars and the controller's awx_* variables
  env/envvars       the controller's job environment: its collection and role paths (requirements directories
                    first), the AWS credential's keys (no region: AWX's AWS credential injects none) ...
  env/cmdline       extra ansible-playbook arguments of the template
  env/settings      the template's timeout
then runs `ansible-runner transmit <dir> | docker run -i <EE> ansible-runner worker | ansible-runner process <dir>`,
the container-group path, and reads back the artifacts (status, rc, events).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def project_copy(dest: Path) -> Path:
    """The tracked files of the project (what an SCM sync checks out), symbolic links kept as links."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        src, dst = ROOT / name, dest / name
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the work tree
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        else:
            shutil.copy2(src, dst)
    return dest


def inventory_script(inventory: str) -> str:
    res = subprocess.run([str(VENV_BIN / "ansible-inventory"), "-i", f"inventories/{inventory}", "--list", "--export"],
                         cwd=ROOT, check=True, capture_output=True, text=True, env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg")))
    data = json.loads(res.stdout)
    return ("#!/usr/bin/env python3\n# -*- coding: utf-8 -*-\n# inventory of the job (written by the controller)\n"
            "import json\nprint(json.dumps(" + repr(data) + "))\n")


@dataclass
class JobResult:
    job_id: int
    status: str
    rc: int
    seconds: float
    events: list = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""

    def task_results(self, task_suffix: str) -> list[dict]:
        return [e["event_data"].get("res", {}) for e in self.events
                if e.get("event") in ("runner_on_ok", "runner_on_failed")
                and str(e["event_data"].get("task", "")).endswith(task_suffix)]

    @property
    def stats(self) -> dict:
        done = [e for e in self.events if e.get("event") == "playbook_on_stats"]
        return done[-1]["event_data"] if done else {}

    def summary(self) -> str:
        failed = [f"{e['event_data'].get('task')}: {str(e['event_data'].get('res', {}).get('msg', ''))[:1500]}"
                  for e in self.events if e.get("event") == "runner_on_failed"]
        return (f"status={self.status} rc={self.rc} in {self.seconds:.1f}s\nFAILED: " + "\nFAILED: ".join(failed)
                + f"\n--- stdout (tail) ---\n{self.stdout[-3000:]}\n--- stderr ---\n{self.stderr[-3000:]}")


@dataclass
class AwxJob:
    image: str
    workdir: Path
    project: Path
    inventory: str = "sandbox"
    job_id: int = 1
    user: str = "admin"
    network: str = "host"

    def run(self, playbook: str, *, template: dict | None = None, answers: dict | None = None,
            credential_vars: dict | None = None, envvars: dict | None = None, timeout: int = 900) -> JobResult:
        pdd = self.workdir / f"job_{self.job_id}"
        shutil.copytree(self.project, pdd / "project", symlinks=True)
        (pdd / "inventory").mkdir(parents=True)
        script = pdd / "inventory" / "hosts"
        script.write_text(inventory_script(self.inventory), encoding="utf-8")
        script.chmod(0o755)
        (pdd / "env").mkdir()
        template = template or {}
        extravars = dict(answers or {})
        extravars.update(credential_vars or {})
        extravars.update({
            "awx_job_id": self.job_id, "tower_job_id": self.job_id, "awx_user_name": self.user,
            "awx_user_id": 1, "awx_job_launch_type": "manual", "awx_job_template_name": template.get("name", playbook),
            "awx_project_revision": subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                                                   text=True).stdout.strip(),
            "awx_inventory_name": f"webstack {self.inventory}", "awx_execution_node": "container-group",
        })
        (pdd / "env" / "extravars").write_text(yaml.safe_dump(extravars), encoding="utf-8")
        env = {
            # the controller's paths: its requirements directories first, then the defaults (and the project's
            # roles_path from its ansible.cfg, which the controller reads and keeps)
            "ANSIBLE_COLLECTIONS_PATH": "/runner/requirements_collections:~/.ansible/collections:/usr/share/ansible/collections",
            "ANSIBLE_ROLES_PATH": "/runner/requirements_roles:roles/shared:roles/docker:roles/aws:~/.ansible/roles:/usr/share/ansible/roles:/etc/ansible/roles",
            "ANSIBLE_FORCE_COLOR": "False", "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
            "ANSIBLE_PARAMIKO_RECORD_HOST_KEYS": "False", "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "JOB_ID": str(self.job_id), "INVENTORY_ID": "1", "PROJECT_REVISION": extravars["awx_project_revision"],
            "AWX_HOST": "https://awx.example.invalid", "PYTHONUNBUFFERED": "1",
        }
        env.update(envvars or {})
        (pdd / "env" / "envvars").write_text(yaml.safe_dump(env), encoding="utf-8")
        (pdd / "env" / "cmdline").write_text(f"--forks {template.get('forks', 5)}", encoding="utf-8")
        (pdd / "env" / "settings").write_text(yaml.safe_dump({"job_timeout": template.get("timeout", timeout)}),
                                              encoding="utf-8")
        name = f"awxtest-job-{self.job_id}-{uuid.uuid4().hex[:6]}"
        start = time.monotonic()
        transmit = subprocess.Popen([str(VENV_BIN / "ansible-runner"), "transmit", str(pdd), "-p", playbook,
                                     "--ident", str(self.job_id)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        worker = subprocess.Popen(["docker", "run", "-i", "--rm", "--name", name, f"--network={self.network}",
                                   "--user", "1000740000:0", self.image, "ansible-runner", "worker",
                                   "--private-data-dir", "/runner"],
                                  stdin=transmit.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        transmit.stdout.close()
        process = subprocess.Popen([str(VENV_BIN / "ansible-runner"), "process", str(pdd), "--ident", str(self.job_id)],
                                   stdin=worker.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        worker.stdout.close()
        try:
            out, err = process.communicate(timeout=timeout)
            worker.wait(timeout=60)
            transmit.wait(timeout=60)
        except subprocess.TimeoutExpired:
            subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
            for p in (process, worker, transmit):
                p.kill()
            raise
        seconds = time.monotonic() - start
        err += worker.stderr.read().decode(errors="replace") + transmit.stderr.read().decode(errors="replace")
        artifacts = pdd / "artifacts" / str(self.job_id)
        status = (artifacts / "status").read_text().strip() if (artifacts / "status").exists() else "missing"
        rc = int((artifacts / "rc").read_text().strip()) if (artifacts / "rc").exists() else -1
        events = [json.loads(p.read_text()) for p in sorted((artifacts / "job_events").glob("*.json"),
                                                             key=lambda p: int(p.name.split("-", 1)[0]))]
        stdout = (artifacts / "stdout").read_text(errors="replace") if (artifacts / "stdout").exists() else out
        self.job_id += 1
        return JobResult(job_id=self.job_id - 1, status=status, rc=rc, seconds=seconds, events=events, stdout=stdout, stderr=err)
