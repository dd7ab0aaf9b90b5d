# -*- coding: utf-8 -*-
# GPL-3.0-or-later
"""The deploy lock of a stack, whatever holds it: the holder document, how it reads to whoever is refused, when it
expires, and what a run does with the lock it finds. Shared by the lock backends' modules,
webstack.platform.release_lock (a file on the inventory host) and webstack.platform.s3_lock (an S3 object)."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone

# Options every backend's module takes besides where the lock lives (path; bucket and key).
LOCK_OPTIONS = {
    "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
    "run_id": {"type": "str", "required": True},
    "operation": {"type": "str", "default": ""},
    "user": {"type": "str", "default": ""},
    "host": {"type": "str", "default": ""},
    "version": {"type": "str", "default": ""},
    "ttl": {"type": "int", "default": 1800},
    "break_lock": {"type": "bool", "default": False},
}

# What a run finds when it wants the lock (judge_take).
FREE, OURS, STALE, HELD = "free", "ours", "stale", "held"


def iso(epoch):
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(text):
    """The holder document of a lock's content; {"unreadable": <start of it>} when it is not a JSON object."""
    try:
        data = json.loads(text)
        return data if isinstance(data, dict) else {"unreadable": text[:200]}
    except ValueError:
        return {"unreadable": text[:200]}


def new_holder(params, now):
    """This run's holder document (what the lock holds once taken)."""
    return {"operation": params["operation"], "user": params["user"], "host": params["host"],
            "version": params["version"], "taken_at": iso(now), "taken_epoch": round(now, 3),
            "expires_at": iso(now + params["ttl"]), "expires_epoch": round(now + params["ttl"], 3),
            "ttl": params["ttl"], "run_id": params["run_id"], "pid_host": os.uname()[1]}


def dump(holder):
    return json.dumps(holder, indent=2) + "\n"


def describe(holder, now):
    if "unreadable" in holder:
        return f"an unreadable lock ({holder['unreadable']!r})"
    age = int(now - holder.get("taken_epoch", now))
    return (f"{holder.get('operation') or '?'}{' of ' + holder['version'] if holder.get('version') else ''} by "
            f"{holder.get('user') or '?'} on {holder.get('host') or '?'} since {holder.get('taken_at', '?')} "
            f"({age}s ago; the lock expires at {holder.get('expires_at', '?')})")


def expired(holder, now):
    """An unreadable lock never expires (break it); a readable one at its expires_epoch."""
    return "unreadable" not in holder and now >= float(holder.get("expires_epoch", 0))


def judge_take(current, params, now):
    """FREE (no lock), OURS (this run's), STALE (expired, or break_lock: take it over) or HELD (refuse)."""
    if current is None:
        return FREE
    if current.get("run_id") == params["run_id"]:
        return OURS
    if expired(current, now) or params["break_lock"]:
        return STALE
    return HELD


def releasable(current, params):
    """Whether state=absent removes `current` (this run's lock, or any with break_lock)."""
    return current.get("run_id") == params["run_id"] or params["break_lock"]


def refusal(holder, now, operation, where, just_taken=False):
    """The message of a run refused the lock `holder` holds (`where`: the lock's location, for whoever breaks it)."""
    if just_taken:
        return (f"the stack is locked by {describe(holder, now)} (taken a moment ago, while this run was taking it): "
                f"{operation or 'this run'} refused ({where}).")
    return (f"the stack is locked by {describe(holder, now)}: {operation or 'this run'} refused. "
            "Wait for it to finish; if that run is dead (killed), wait for the lock to expire or take "
            f"it over with -e release_lock_break=true ({where}).")


def left_alone(holder, now, where):
    return f"the lock {where} is not this run's any more (held by {describe(holder, now)}); left alone"


def taken_over(holder, now):
    return f"took over the lock of {describe(holder, now)}"
