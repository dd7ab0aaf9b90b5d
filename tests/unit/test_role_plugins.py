"""Plugins live in the in-repo collection (webstack.platform, called by FQCN, unit-tested there), never in a role:
no role has its own filter_plugins/, library/, module_utils/ or other plugin directory."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIRS = ("library", "module_utils", "filter_plugins", "test_plugins", "lookup_plugins", "action_plugins",
               "callback_plugins", "connection_plugins", "inventory_plugins", "vars_plugins", "strategy_plugins")


def test_no_role_level_plugins():
    found = sorted(str(d.relative_to(ROOT)) for name in PLUGIN_DIRS for d in ROOT.glob(f"roles/*/*/{name}") if d.is_dir())
    assert not found, (f"role-level plugin directories {found}: move them into "
                       "collections/ansible_collections/webstack/platform/plugins/ and call them by FQCN")
