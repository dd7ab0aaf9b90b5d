# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared tail of the webstack.platform modules that manage one layer in one execution.

A layer manager records every change it makes (or would make, in check mode) as a line in
`manager.changes` and returns its result dict from `present()` / `absent()`."""
from __future__ import annotations

try:
    import botocore
except ImportError:  # AnsibleAWSModule reports the missing dependency itself
    pass


def run_layer(module, manager, label):
    """Apply `manager` for module.params['state'] and exit with changed/changes/diff and its result."""
    try:
        result = manager.present() if module.params["state"] == "present" else manager.absent()
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:  # pylint: disable=used-before-assignment
        module.fail_json_aws(exc, msg=f"{label}: " + (manager.changes[-1] if manager.changes else "reading the current state"))
    changed = bool(manager.changes)
    diff = {"before": "", "after": "".join(f"{line}\n" for line in manager.changes)} if changed else {}
    module.exit_json(changed=changed, changes=manager.changes, diff=diff, **result)
