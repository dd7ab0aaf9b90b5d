"""Fixtures of the aws tests.

- `moto_server` (session): a moto server on a free 127.0.0.1 port, started here and stopped at the end.
- `moto` (function): the same server, reset (no resources, empty recording) before the test.
- `ansible`: runs a playbook against the emulator, e.g. `ansible("playbooks/provision.yml", check=True)`;
  with `record=True` the API calls the run made are in `result.calls` (the recorder, started and stopped around it).
- `provisioned` (module scope): a converged sandbox for read-back tests.
- `ec2`, `ecs`, `elasticache`, `elbv2`, `cloudwatch`, `rds`, `s3` (module scope): boto3 clients of the emulator
  that depend on `provisioned`, so a test or fixture asking for one reads back the module's provisioned sandbox.

Recorder: `result = ansible(..., record=True)` then `mutating(result.calls)`; or `moto.recorder_start()`,
`calls = moto.recorder_stop()`.
"""
from __future__ import annotations

import pytest

from support.aws import MotoServer, mutating, run_playbook

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
    """`ansible(playbook, check=False, diff=False, extra_vars=None, tags=None, inventory="sandbox", record=False)`."""
    def run(playbook: str, *, record: bool = False, **kwargs):
        if record:
            moto_server.recorder_start()
        result = run_playbook(playbook, endpoint_url=moto_server.url, **kwargs)
        if record:
            result.calls = moto_server.recorder_stop()
        return result
    return run


@pytest.fixture(scope="module")
def provisioned(moto_server, ansible):
    """A sandbox provisioned once for a test module (emulator reset first).

    Returns the first run's result; `result.calls` holds the API calls it made (recorder).
    """
    moto_server.reset()
    result = ansible("playbooks/provision.yml", record=True)
    assert result.rc == 0, result.summary()
    return result


def _sandbox_client(service: str):
    def client(provisioned, moto_server):
        return moto_server.client(service)
    client.__doc__ = f"A boto3 {service} client of the emulator, after the module's sandbox is provisioned."
    return pytest.fixture(scope="module", name=service)(client)


SANDBOX_CLIENTS = ("ec2", "ecs", "elasticache", "elbv2", "cloudwatch", "rds", "s3")
globals().update({f"{service}_client": _sandbox_client(service) for service in SANDBOX_CLIENTS})
