"""Run Molecule scenarios (molecule/<name>/) from pytest, so the suite has one entry point.

A scenario's molecule.yml holds only what differs from the shared base configs (molecule/base.yml, then
molecule/docker.yml or molecule/aws.yml, and molecule/aws-network.yml for the storage, network and data scenarios);
its header names the command that merges them, `#   molecule -c molecule/base.yml -c ... test -s <name>`, and that is
the command run here.
"""
import os
import re
import subprocess
from pathlib import Path

import pytest

from support import ROLES_PATH

ROOT = Path(__file__).resolve().parents[2]


def scenarios(names):
    """The scenarios among `names` that exist in molecule/."""
    return [n for n in names if (ROOT / "molecule" / n / "molecule.yml").exists()]


def base_configs(name):
    """The `-c <base config>` arguments of the scenario's own command line (the header of its molecule.yml)."""
    text = (ROOT / "molecule" / name / "molecule.yml").read_text()
    match = re.search(rf"^#\s+molecule ((?:-c \S+ )+)test -s {re.escape(name)}$", text, re.M)
    assert match, f"molecule/{name}/molecule.yml: no '#   molecule -c molecule/base.yml ... test -s {name}' line"
    return match[1].split()


def run_scenario(name, timeout=900):
    env = dict(os.environ, ANSIBLE_ROLES_PATH=ROLES_PATH, ANSIBLE_FORCE_COLOR="0",
               PY_COLORS="0", MOLECULE_NO_LOG="false")
    res = subprocess.run(["molecule", *base_configs(name), "test", "-s", name], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=timeout)
    log = ROOT / "artifacts" / f"molecule-{name}.log"
    log.parent.mkdir(exist_ok=True)
    log.write_text(res.stdout + "\n--- stderr ---\n" + res.stderr)
    assert res.returncode == 0, f"molecule test -s {name} failed (log: {log}):\n{res.stdout[-5000:]}\n{res.stderr[-3000:]}"


def scenario_test(names, platform):
    """The parametrized pytest test running Molecule scenarios `names` of `platform` (docker or aws).

    A test file is one unit of work for the pytest-xdist workers (--dist loadfile), so the scenarios are
    split over a few files, each `test_scenario = scenario_test([...], platform)`. Docker scenarios get
    the images built (or found cached) first."""
    def test_scenario(name):
        run_scenario(name)

    marks = [pytest.mark.slow, getattr(pytest.mark, platform), pytest.mark.parametrize("name", scenarios(names))]
    if platform == "docker":
        marks.append(pytest.mark.usefixtures("docker_images"))
    for mark in marks:
        test_scenario = mark(test_scenario)
    return test_scenario
