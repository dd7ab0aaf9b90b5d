# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One waiter for every wait loop of the webstack.platform modules.

A `Waiter` holds a deadline (`timeout` seconds from its creation) and a poll interval; `sleep()` sleeps the
interval, or what is left before the deadline if that is shorter, and returns False (without sleeping) once the
deadline has passed. Every loop has the same shape::

    waiter = Waiter(timeout, interval)
    while not done(state):
        if not waiter.sleep():
            fail(...)            # timed out
        state = read()

`until(probe)` and `retry_on(call, codes)` are that loop for a probe that returns a true value when done, and for
an AWS call refused with "not yet" codes (AWS releases some dependencies minutes after their owner is gone: the
network interfaces of a load balancer, of Fargate tasks or of an RDS instance keep a security group or a subnet
"in use" (DependencyViolation) for a while; a deleted ECS service stays DRAINING until its tasks stop). AWSRetry's
backoff gives up after about a minute, far too early for these.

Time comes from a `Clock` (monotonic `now()` and `sleep()`). The default is `Waiter.clock`; a test gives a fake
clock to one waiter (`Waiter(..., clock=fake)`) or to every waiter of a run (`monkeypatch.setattr(Waiter, "clock",
fake)`), and the modules read elapsed times from the same clock (`Waiter.clock.now()`), so a fake clock
drives waits and reported durations alike.
"""
from __future__ import annotations

import time

try:
    import botocore
except ImportError:
    pass  # the calling module's AnsibleAWSModule reports it


class Clock:
    """Monotonic seconds, wall-clock seconds (for a time handed to another module run) and a real sleep."""

    def now(self):
        return time.monotonic()

    def time(self):
        return time.time()

    def sleep(self, seconds):
        time.sleep(seconds)


def error_code(exc):
    """The AWS error code of a botocore ClientError ("" for anything else)."""
    return (getattr(exc, "response", None) or {}).get("Error", {}).get("Code", "")


class Waiter:
    """A deadline `timeout` seconds from now and a poll `interval` (seconds)."""

    clock = Clock()

    def __init__(self, timeout, interval, clock=None, start=None):
        self.clock = clock or type(self).clock
        self.timeout = timeout
        self.interval = interval
        self.started = self.clock.now() if start is None else start
        self.deadline = self.started + timeout

    def elapsed(self):
        return self.clock.now() - self.started

    def remaining(self):
        return self.deadline - self.clock.now()

    def expired(self):
        return self.remaining() <= 0

    def sleep(self, interval=None, whole=False):
        """Sleep one interval (at most until the deadline) and return True; False at or after the deadline.

        With `whole`, only a whole interval that ends by the deadline is slept (False when less is left): for a
        loop whose next attempt must still start before the deadline."""
        remaining = self.remaining()
        interval = self.interval if interval is None else interval
        if remaining <= 0 or (whole and remaining < interval):
            return False
        self.clock.sleep(max(0.0, min(interval, remaining)))
        return True

    def until(self, probe):
        """Poll `probe()` until it returns a true value (returned) or the deadline passed (returns None)."""
        while True:
            value = probe()
            if value:
                return value
            if not self.sleep():
                return None

    def retry_on(self, call, codes, on_retry=None):
        """`call()` until it does not fail with one of `codes` (ClientError codes, or a predicate of the error).

        `on_retry(code, attempt)` is called before each wait (for reporting). Returns what `call()` returns;
        re-raises the last error at the deadline or when the error is another one.
        """
        attempt = 0
        while True:
            try:
                return call()
            except botocore.exceptions.ClientError as exc:
                code = error_code(exc)
                retryable = codes(exc) if callable(codes) else code in codes
                if not retryable or self.expired():
                    raise
                attempt += 1
                if on_retry is not None:
                    on_retry(code, attempt)
                self.sleep()


def retry_on(call, codes, timeout, interval=15, on_retry=None):
    """`Waiter(timeout, interval).retry_on(call, codes, on_retry)`."""
    return Waiter(timeout, interval).retry_on(call, codes, on_retry)


def wait_until(probe, timeout, interval=15):
    """`Waiter(timeout, interval).until(probe)`."""
    return Waiter(timeout, interval).until(probe)
