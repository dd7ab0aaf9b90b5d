"""Fixtures of the aws tests.

- `moto_server` (session): a moto server on a free 127.0.0.1 port, started here and stopped at the end.
- `moto` (function): the same server, reset (no resources, empty recording) before the test.
- `ansible`: runs a playbook against the emulator, e.g. `ansible("playbooks/provision.yml", check=True)`.
- `provisioned` (module scope helper `provision_sandbox`): a converged sandbox for read-back tests.

Recorder: `moto.recorder_start()`, `calls = moto.recorder_stop()`, `mutating(calls)`.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from awsharness import MotoServer, mutating, run_playbook  # noqa: E402

__all__ = ["mutating"]


@pytest.fixture(scope="session")
def moto_server():
    server = MotoServer(ecs_service_running=1).start()
    yield server
    server.stop()


@pytest.fixture
def moto(moto_server):
    moto_server.reset()
    yield moto_server
    moto_server.recorder_stop()


@pytest.fixture(scope="session")
def ansible(moto_server):
    """`ansible(playbook, check=False, diff=False, extra_vars=None, tags=None, inventory="sandbox")`."""
    return functools.partial(run_playbook, endpoint_url=moto_server.url)


@pytest.fixture(scope="module")
def provisioned(moto_server, ansible):
    """A sandbox provisioned once for a test module (emulator reset first).

    Returns the first run's result; `result.calls` holds the API calls it made (recorder).
    """
    moto_server.reset()
    moto_server.recorder_start()
    result = ansible("playbooks/provision.yml")
    result.calls = moto_server.recorder_stop()
    assert result.rc == 0, result.summary()
    return result
