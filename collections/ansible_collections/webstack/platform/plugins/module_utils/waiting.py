# -*- coding: utf-8 -*-
# GPL-3.0-or-later
"""Retry an AWS call while AWS says "not yet", up to a deadline.

AWS releases some dependencies minutes after their owner is gone: the network interfaces of a load balancer, of
Fargate tasks or of an RDS instance keep a security group or a subnet "in use" (DependencyViolation) for a while;
an Elastic IP stays associated for a moment after its NAT gateway is deleted; a deleted ECS service stays DRAINING
until its tasks stop (the cluster cannot be deleted before). AWSRetry's backoff gives up after about a minute, far
too early for these; `retry_on` keeps trying until a deadline in seconds and then raises the last error.
"""

from __future__ import annotations

import time

try:
    import botocore
except ImportError:
    pass  # the calling module's AnsibleAWSModule reports it


def error_code(exc):
    return (getattr(exc, "response", None) or {}).get("Error", {}).get("Code", "")


def retry_on(call, codes, timeout, interval=15, on_retry=None):
    """`call()` until it does not fail with one of `codes` (ClientError codes, or a predicate of the error), for at
    most `timeout` seconds.

    `on_retry(code, attempt)` is called before each wait (for reporting). Returns what `call()` returns; re-raises
    the last error when the deadline is reached or the error is another one.
    """
    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        try:
            return call()
        except botocore.exceptions.ClientError as exc:
            code = error_code(exc)
            remaining = deadline - time.monotonic()
            retryable = codes(exc) if callable(codes) else code in codes
            if not retryable or remaining <= 0:
                raise
            attempt += 1
            if on_retry is not None:
                on_retry(code, attempt)
            time.sleep(max(0.0, min(interval, remaining)))


def wait_until(probe, timeout, interval=15):
    """Poll `probe()` until it returns a true value (returned) or `timeout` seconds passed (returns None)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        time.sleep(max(0.0, min(interval, remaining)))
