#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""webstack.platform.release_lock: the deploy lock of a stack as a file on the inventory host."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_lock
short_description: Take or release a stack's deploy lock, a file created atomically on the inventory host
version_added: 0.3.0
description:
  - The C(file) backend of the C(release) role's deploy lock. Deploy, rollback, migrate and restore of one
    stack take the same lock, so they exclude each other.
  - O(state=present) creates O(path) with C(O_CREAT|O_EXCL) (atomic - of two runs, exactly one creates it), holding
    JSON with the holder (O(operation), O(user), O(host), O(version), the time taken, the expiry, O(run_id)).
    When the file exists the module fails naming the holder, unless the lock has expired (older than its
    O(ttl)) or O(break_lock) is set - then it takes the lock over and returns the previous holder
    (RV(broken)). Checking and taking over happen under an C(flock) on C(<path>.guard), so two runs that find
    the same stale lock cannot both take it.
  - O(state=absent) removes the lock when it holds O(run_id) (a run never removes another run's lock; with
    O(break_lock) it removes any).
author:
  - webstack maintainers
options:
  path:
    description: The lock file (on the docker host, under the stack's state directory).
    type: path
    required: true
  read_json:
    description:
      - O(state=present) only. A JSON file to read once the lock is held (the release ledger, which only lock holders
        write), returned as RV(document), so the lock and the first read cost one module run. Empty = none.
    type: path
    default: ""
extends_documentation_fragment:
  - webstack.platform.release_lock
"""

EXAMPLES = r"""
- name: Take the deploy lock of the stack
  webstack.platform.release_lock:
    path: /var/lib/webstack/webstack-local/release.lock
    run_id: "{{ release_lock_run_id }}"
    operation: deploy
    user: alice
    host: laptop
    version: 2.0.0

- name: Release it
  webstack.platform.release_lock:
    path: /var/lib/webstack/webstack-local/release.lock
    run_id: "{{ release_lock_run_id }}"
    state: absent
"""

RETURN = r"""
holder:
  description: The lock's content after the run (this run's when it took the lock; the other holder when refused).
  returned: always
  type: dict
  sample: {operation: deploy, user: alice, host: laptop, version: 2.0.0, taken_at: "2026-12-04T18:40:00Z",
           expires_at: "2026-12-04T19:10:00Z", run_id: "1764873600-12345"}
broken:
  description: The previous holder when an expired lock was taken over or O(break_lock) was used, else null.
  returned: always
  type: dict
document:
  description: The content of O(read_json) (null when the file does not exist).
  returned: when read_json is set and the lock is held (or would be, in check mode)
  type: dict
"""

import fcntl
import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.webstack.platform.plugins.module_utils.waiter import Waiter
from ansible_collections.webstack.platform.plugins.module_utils.release_lock import (
    HELD, LOCK_OPTIONS, OURS, STALE, dump, judge_take, left_alone, new_holder, parse, refusal, releasable, taken_over)


def read_lock(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return parse(handle.read())
    except FileNotFoundError:
        return None


def main():
    module = AnsibleModule(
        argument_spec={"path": {"type": "path", "required": True}, **LOCK_OPTIONS,
                       "read_json": {"type": "path", "default": ""}},
        supports_check_mode=True,
    )
    p = module.params
    path = p["path"]
    where = f"lock file {path}"
    now = Waiter.clock.time()  # wall time: the lock's epochs are read by other runs
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        if p["state"] == "absent" or module.check_mode:
            module.exit_json(changed=False, holder={}, broken=None)
        module.fail_json(msg=f"the lock's directory {directory} does not exist (is the stack provisioned?)")
    guard = os.open(path + ".guard", os.O_RDWR | os.O_CREAT, 0o600) if not module.check_mode or os.path.exists(
        path + ".guard") else None
    try:
        if guard is not None:
            fcntl.flock(guard, fcntl.LOCK_EX)
        current = read_lock(path)
        if p["state"] == "absent":
            if current is None:
                module.exit_json(changed=False, holder={}, broken=None)
            if not releasable(current, p):
                module.warn(left_alone(current, now, path))
                module.exit_json(changed=False, holder=current, broken=None)
            if not module.check_mode:
                os.unlink(path)
            module.exit_json(changed=True, holder={}, broken=None if current.get("run_id") == p["run_id"] else current)

        extra = {}
        if p["read_json"]:
            try:
                with open(p["read_json"], encoding="utf-8") as handle:
                    extra["document"] = json.load(handle)
            except FileNotFoundError:
                extra["document"] = None
            except ValueError as exc:
                module.fail_json(msg=f"{p['read_json']} is not valid JSON: {exc}")
        verdict = judge_take(current, p, now)
        if verdict == OURS:
            module.exit_json(changed=False, holder=current, broken=None, **extra)
        if verdict == HELD:
            module.fail_json(msg=refusal(current, now, p["operation"], where), holder=current, broken=None)
        broken = current if verdict == STALE else None
        holder = new_holder(p, now)
        if module.check_mode:
            module.exit_json(changed=True, holder=holder, broken=broken, **extra)
        if broken is not None:
            os.unlink(path)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        except FileExistsError:
            module.fail_json(msg=refusal(read_lock(path) or {}, now, p["operation"], where, just_taken=True),
                             holder=read_lock(path) or {}, broken=None)
        try:
            os.write(fd, dump(holder).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        if broken is not None:
            module.warn(taken_over(broken, now))
        module.exit_json(changed=True, holder=holder, broken=broken, **extra)
    finally:
        if guard is not None:
            os.close(guard)


if __name__ == "__main__":
    main()
