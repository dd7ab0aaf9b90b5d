from pathlib import Path

import pytest
import yaml

from support.docker import remove_stack

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
