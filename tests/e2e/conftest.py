"""Fixtures of the docker end-to-end suite.

- `stack` (module): the overrides of the suite's stack `e2e-webstack` (removed before and after the module).
- `stack_state` (module): a `support.docker.StackState` of the module's `stack` (a module or class with a stack of
  its own overrides `stack` or `stack_state`).
- state of a test: `@pytest.mark.state(release="2.0.0", previous="1.0.0", backup=False)` before a test brings the
  stack there first (provisioned, that release current with that previous one, a backup taken) doing only what its
  containers and ledger do not show yet; `@pytest.mark.state()`: provisioned. So any test runs alone
  (`scripts/test tests/e2e -k rollback`), and the file in order runs no extra playbook.
"""
from pathlib import Path

import pytest
import yaml

from support.docker import StackState, remove_stack, run_playbook

STACK = "e2e-webstack"
PORTS = {"proxy": 28180, "postgres": 28432, "redis": 28379}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, docker_images):  # docker_images: built (or found cached) first
    """Overrides that put the suite's stack beside (never on top of) a user's `webstack-local`."""
    state_dir = f"/var/lib/webstack/{STACK}"
    remove_stack(STACK, state_dir)
    overrides = tmp_path_factory.mktemp("e2e") / "overrides.yml"
    overrides.write_text(yaml.safe_dump({
        "webstack_name": STACK,
        "docker_proxy_published_port": PORTS["proxy"],
        "docker_postgres_published_port": PORTS["postgres"],
        "docker_redis_published_port": PORTS["redis"],
        # the local inventory's generated secrets (secrets/<webstack_name>.yml is looked up by stack name)
        "webstack_secrets_file": str(Path(__file__).resolve().parents[2] / "secrets" / "webstack-local.yml"),
    }))
    yield {"name": STACK, "overrides": overrides, "state_dir": state_dir, "ports": PORTS}
    remove_stack(STACK, state_dir)


@pytest.fixture(scope="module")
def stack_state(stack):
    return StackState(stack["name"], stack["state_dir"],
                      lambda playbook, extra_vars: run_playbook(playbook, stack["overrides"], extra_vars=extra_vars))


@pytest.fixture(autouse=True)
def _state(request):
    """Applies the test's `state` marker (see the module docstring)."""
    marker = request.node.get_closest_marker("state")
    if marker is not None:
        request.getfixturevalue("stack_state").ensure(*marker.args, test=request.node.name, **marker.kwargs)
