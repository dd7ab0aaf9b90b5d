"""Fixtures of every test of the collection (unit and integration): the modules' clock.

Every wait, retry deadline and reported duration of the modules goes through `Waiter.clock`
(plugins/module_utils/waiter.py); these fixtures replace it for one test.
"""

from __future__ import annotations

import time

import pytest


def _waiter():
    # imported when used: tests/unit/conftest.py makes the collection importable first
    from ansible_collections.webstack.platform.plugins.module_utils.waiter import Waiter
    return Waiter


class FakeClock:
    """A monotonic clock that advances only when something sleeps on it: `t` (also `now()` and `time()`), `sleeps`
    (every sleep, in order). `clock["sleeps"]` / `clock["t"]` read the same (the dict-shaped state some tests use)."""

    def __init__(self, start=0.0):
        self.t, self.sleeps = float(start), []

    def now(self):
        return self.t

    def time(self):
        return self.t

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.t += seconds

    def __getitem__(self, key):
        return getattr(self, key)


class AheadClock:
    """The real clock with the wall time `seconds` later."""

    def __init__(self, seconds):
        self.seconds = seconds

    def now(self):
        return time.monotonic()

    def time(self):
        return time.time() + self.seconds

    def sleep(self, seconds):
        time.sleep(seconds)


@pytest.fixture
def fake_clock(monkeypatch):
    """fake_clock(start=0.0) -> FakeClock: the clock of every Waiter of the test, and so of every wait loop and every
    elapsed time the modules report; nothing really sleeps."""

    def install(start=0.0):
        clock = FakeClock(start)
        monkeypatch.setattr(_waiter(), "clock", clock)
        return clock

    return install


@pytest.fixture
def clock_ahead(monkeypatch):
    """clock_ahead(seconds): from now on the modules' wall clock (Waiter.clock.time()) runs `seconds` ahead."""

    def install(seconds):
        monkeypatch.setattr(_waiter(), "clock", AheadClock(seconds))

    return install
