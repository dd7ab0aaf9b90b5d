"""The test support package: everything tests, the collection's tests and the benchmark scripts share.

Importable as `support` under pytest (pytest.ini `pythonpath = collections tests scripts app`) and from the scripts
(their launchers put `tests` on PYTHONPATH; nothing edits sys.path).

- `support.playbook`: THE ansible-playbook runner (`run_playbook`) and its result (`PlaybookResult`), for every
  platform: the emulator endpoint, inventory, JSON or text output, log file are arguments.
- `support.moto`: THE moto server wrapper (`MotoServer`: start, reset, recorder), the recorded `ApiCall`s and the one
  `MUTATING_PREFIXES` list (`mutating`).
- `support.aws`: the aws sandbox on the emulator (its database stand-in `sandbox_pg`, ECR manifests, preflight
  refusals); re-exports the two above for the aws tests.
- `support.awsproxy`: AWS's documented lags in front of the emulator.
- `support.docker`: the docker end-to-end pieces (docker CLI, stack snapshots, HTTP, load loops, `run_playbook` on
  `inventories/local`); `support.examples`: the examples' harness built on them.
- `support.pgcontainer`: a real PostgreSQL container; `support.awxjob`: an AWX/AAP job through the EE.
- here: the repository root, the virtualenv's bin directory and where a role lives (`roles/<layer>/<role>`).
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin" if (ROOT / ".venv" / "bin" / "ansible-playbook").exists() else Path(sys.executable).parent
# roles/<layer>/<role>: shared (both platforms), docker, aws; the order of ANSIBLE_ROLES_PATH
ROLE_LAYERS = ("shared", "docker", "aws")
ROLES_PATH = ":".join(str(ROOT / "roles" / layer) for layer in ROLE_LAYERS)


def role_dir(name: str) -> Path:
    """roles/<layer>/<name>, whichever layer holds it."""
    for layer in ROLE_LAYERS:
        path = ROOT / "roles" / layer / name
        if path.is_dir():
            return path
    raise LookupError(f"no role {name} under roles/{{{','.join(ROLE_LAYERS)}}}")


def roles() -> list[Path]:
    """Every role directory (roles/<layer>/<role>), sorted."""
    return sorted(p for layer in ROLE_LAYERS for p in (ROOT / "roles" / layer).glob("*") if p.is_dir())
