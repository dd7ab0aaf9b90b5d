"""THE ansible-playbook runner of the tests and benchmarks, for every platform.

    run_playbook("playbooks/provision.yml", endpoint_url=moto.url)                # aws sandbox, JSON callback
    run_playbook("deploy", inventory="local", extra_vars_files=[overrides], json_output=False, log=...)   # docker
    run_playbook(play_file, inventory=inventory_file, env={...})                   # a collection module's play

Runs from the repository root the way a user does, with the project's ansible.cfg, no colour, and the emulator's
credentials (AWS_ACCESS_KEY_ID/SECRET=testing, region eu-west-1; AWS_ENDPOINT_URL and AWS_PROFILE removed: only the
inventory's `WEBSTACK_AWS_ENDPOINT_URL`, set from `endpoint_url`, points at an emulator, no test reaches an account).
`support.docker.run_playbook` binds the docker platform's options (inventories/local, text output, artifacts/e2e.log).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from support import ROOT, VENV_BIN

REGION = "eu-west-1"
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


@dataclass
class PlaybookResult:
    rc: int
    stdout: str
    stderr: str
    seconds: float
    data: dict = field(default_factory=dict)   # the JSON callback's document (json_output)
    calls: list = field(default_factory=list)  # API calls recorded during the run (when recorded)
    started: float = 0.0                       # time.time() at the start (to compare with load loops' clocks)
    cmd: list = field(default_factory=list)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def stats(self) -> dict:
        return self.data.get("stats", {})

    def stat(self, key: str) -> int:
        return sum(host.get(key, 0) for host in self.stats.values())

    @property
    def changed(self) -> int:
        if self.data:
            return self.stat("changed")
        return sum(int(m[2]) for m in RECAP.findall(self.output))

    @property
    def failed(self) -> int:
        return self.stat("failures") + self.stat("unreachable")

    def tasks(self):
        for play in self.data.get("plays", []):
            for task in play.get("tasks", []):
                for host, res in task.get("hosts", {}).items():
                    yield task["task"]["name"], host, res

    def changed_tasks(self) -> list[str]:
        return [name for name, _h, res in self.tasks() if res.get("changed")]

    def failed_tasks(self) -> list[tuple[str, str]]:
        return [(name, str(res.get("msg", ""))) for name, _h, res in self.tasks()
                if res.get("failed") and not res.get("ignore_errors")]

    def result_of(self, task_name: str) -> dict:
        for name, _h, res in self.tasks():
            if name == task_name or name.endswith(f" : {task_name}"):
                return res
        raise KeyError(task_name)

    def summary(self) -> str:
        lines = [f"rc={self.rc} changed={self.changed} failed={self.failed} in {self.seconds:.1f}s"]
        lines += [f"CHANGED: {n}" for n in self.changed_tasks()]
        lines += [f"FAILED: {n}: {m[:1500]}" for n, m in self.failed_tasks()]
        if not self.data:
            lines += ["STDOUT:", self.stdout[-4000:], "STDERR:", self.stderr[-4000:]]
        elif self.stderr.strip():
            lines += ["STDERR:", self.stderr[-2000:]]
        return "\n".join(lines)

    # -- text output (json_output=False) ------------------------------------------------------------------
    def tail(self, n=6000):
        return self.output[-n:]

    def failures(self, limit=6000):
        """The failed tasks' messages (the `msg:` blocks after each `fatal:`/`failed:` line, without the -vvv
        invocation noise) and the recap: what a reader needs when a run fails."""
        out, keep = [], 0
        for line in self.output.splitlines():
            if line.startswith(("fatal: [", "failed: [")) or line.startswith("TASK [") and keep:
                keep = 0
            if line.startswith(("fatal: [", "failed: [")):
                out.append(line)
                keep = 1
                continue
            if keep:
                if line.startswith("    msg:") or (keep == 2 and line.startswith("        ")):
                    keep = 2
                    out.append(line)
                elif keep == 2:
                    keep = 1
        recap = self.output[self.output.rfind("PLAY RECAP"):][:600] if "PLAY RECAP" in self.output else ""
        return ("\n".join(out)[-limit:] + "\n" + recap) if out else self.tail(limit)


def _redacted(args: list) -> list:
    return [re.sub(r'("vault_[a-z0-9_]+": )"[^"]*"', r'\1"<redacted>"', str(part)) for part in args]


def run_playbook(playbook: str | Path, *extra_args: str, inventory: str | Path = "sandbox",
                 endpoint_url: str | None = None, extra_vars: dict | None = None, extra_vars_files=(),
                 check: bool = False, diff: bool = False, tags: str | None = None, skip_tags: str | None = None,
                 json_output: bool = True, callback: str = "ansible.posix.json", verbosity: int = 0,
                 env: dict | None = None, log: Path | None = None, cwd: Path = ROOT,
                 timeout: int = 1200) -> PlaybookResult:
    """`ansible-playbook <playbook> -i <inventory> [-e @file ...] [-e {key: value} ...] [--check] [--diff] [...]`.

    playbook: a path (relative to the repository root or absolute) or a bare name `deploy` = playbooks/deploy.yml.
    inventory: a name under inventories/ or a path.  endpoint_url: the emulator (WEBSTACK_AWS_ENDPOINT_URL).
    json_output: parse the JSON callback (`callback`) into `result.data`; else the default text output.
    env: added to the run's environment.  log: file the (secret-redacted) command and its output are appended to.
    skip_tags defaults to $WEBSTACK_TEST_SKIP_TAGS (work on one layer at a time)."""
    playbook = str(playbook)
    if "/" not in playbook and not playbook.endswith((".yml", ".yaml")):
        playbook = str(ROOT / "playbooks" / f"{playbook}.yml")
    inventory = str(inventory)
    if "/" not in inventory:
        inventory = f"inventories/{inventory}"
    run_env = dict(os.environ)
    run_env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{run_env.get('PATH', '')}",
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
    )
    run_env.pop("AWS_ENDPOINT_URL", None)  # only the inventory's setting may point at the emulator
    run_env.pop("AWS_PROFILE", None)
    if endpoint_url:
        run_env["WEBSTACK_AWS_ENDPOINT_URL"] = endpoint_url
    if json_output:
        run_env["ANSIBLE_STDOUT_CALLBACK"] = callback
    run_env.update(env or {})
    cmd = [str(VENV_BIN / "ansible-playbook"), playbook, "-i", inventory]
    for path in extra_vars_files:
        cmd += ["-e", f"@{path}"]
    for key, value in (extra_vars or {}).items():
        cmd += ["-e", json.dumps({key: value})]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if tags:
        cmd += ["--tags", tags]
    skip_tags = skip_tags or os.environ.get("WEBSTACK_TEST_SKIP_TAGS")
    if skip_tags:
        cmd += ["--skip-tags", skip_tags]
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    cmd += list(extra_args)
    started, start = time.time(), time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, env=run_env, capture_output=True, text=True, timeout=timeout, check=False)
    seconds = time.monotonic() - start
    data: dict = {}
    if json_output:
        brace = proc.stdout.find("{")
        if brace >= 0:
            try:
                data, _end = json.JSONDecoder().raw_decode(proc.stdout[brace:])
            except json.JSONDecodeError:
                data = {}
    result = PlaybookResult(rc=proc.returncode, stdout=proc.stdout, stderr=proc.stderr, seconds=seconds, data=data,
                            started=started, cmd=cmd)
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as fh:
            shown = ["ansible-playbook", *_redacted(cmd[1:])]
            fh.write(f"\n===== {' '.join(shown[1:])} rc={result.rc} {result.seconds:.1f}s\n{result.output}\n")
    return result
