# -*- coding: utf-8 -*-
# GPL-3.0-or-later
"""Options shared by the deploy lock's modules (webstack.platform.release_lock, webstack.platform.s3_lock)."""

from __future__ import annotations


class ModuleDocFragment:  # pylint: disable=too-few-public-methods
    DOCUMENTATION = r"""
options:
  state:
    description: C(present) takes the lock, C(absent) releases it.
    type: str
    default: present
    choices: [present, absent]
  run_id:
    description: Identifies this run's lock (a random string made once per run); required to release it.
    type: str
    required: true
  operation:
    description: What the holder does (deploy, rollback, migrate, restore), shown to whoever is refused.
    type: str
    default: ""
  user:
    description: Who runs it (the controller's user).
    type: str
    default: ""
  host:
    description: Where it runs from (the controller's host name).
    type: str
    default: ""
  version:
    description: The version the holder works on, if any.
    type: str
    default: ""
  ttl:
    description: Seconds after which a lock left by a killed run expires and may be taken over.
    type: int
    default: 1800
  break_lock:
    description: Take over (or remove) the lock whoever holds it. For a lock whose run is known to be dead.
    type: bool
    default: false
notes:
  - "Check mode: nothing is written; a lock held by another run still fails the module (it names the holder), so a
    check run says whether the real run would start."
"""
