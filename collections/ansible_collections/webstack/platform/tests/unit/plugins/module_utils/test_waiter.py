"""Unit tests of module_utils/waiter.py (retry while AWS says "not yet", wait until done, up to a deadline) on a fake clock."""
from __future__ import annotations

import pytest
from ansible_collections.webstack.platform.plugins.module_utils import waiter as waiting
from botocore.exceptions import ClientError


@pytest.fixture
def clock(fake_clock):
    return fake_clock()


def error(code):
    return ClientError({"Error": {"Code": code, "Message": f"{code} (test)"}}, "DeleteSubnet")


def failing(*codes, result="done"):
    """A call that raises each code in turn, then returns `result`; `calls` counts the attempts."""
    left = list(codes)

    def call():
        call.calls += 1
        if left:
            raise error(left.pop(0))
        return result
    call.calls = 0
    return call


def test_retries_the_listed_code_until_it_passes(clock):
    call = failing("DependencyViolation", "DependencyViolation")
    seen = []
    assert waiting.retry_on(call, ("DependencyViolation",), 120, 15, on_retry=lambda c, n: seen.append((c, n))) == "done"
    assert call.calls == 3 and clock.sleeps == [15, 15] and seen == [("DependencyViolation", 1), ("DependencyViolation", 2)]


def test_other_errors_are_raised_at_once(clock):
    call = failing("AccessDenied")
    with pytest.raises(ClientError, match="AccessDenied"):
        waiting.retry_on(call, ("DependencyViolation",), 120, 15)
    assert call.calls == 1 and clock.sleeps == []


def test_the_deadline_raises_the_last_error(clock):
    call = failing(*["DependencyViolation"] * 100)
    with pytest.raises(ClientError, match="DependencyViolation"):
        waiting.retry_on(call, ("DependencyViolation",), 40, 15)
    assert clock.sleeps == [15, 15, 10] and call.calls == 4


def test_a_predicate_decides_too(clock):
    call = failing("InvalidParameterException")
    assert waiting.retry_on(call, lambda exc: "Parameter" in str(exc), 60, 5) == "done"


def test_wait_until_returns_the_value_or_none_at_the_deadline(clock):
    values = iter([None, [], "ready"])
    assert waiting.wait_until(lambda: next(values), 100, 10) == "ready" and clock.sleeps == [10, 10]
    assert waiting.wait_until(lambda: None, 25, 10) is None and clock.sleeps[-3:] == [10, 10, 5]


def test_a_whole_interval_is_slept_only_when_it_ends_by_the_deadline(clock):
    waiter = waiting.Waiter(25, 10)
    assert waiter.sleep(whole=True) and waiter.sleep(whole=True) and not waiter.sleep(whole=True)
    assert clock.sleeps == [10, 10] and waiter.sleep() and clock.sleeps == [10, 10, 5] and not waiter.sleep()


def test_a_waiter_given_its_own_clock_leaves_the_default_alone(fake_clock):
    shared = fake_clock()
    own = type(shared)(start=50.0)
    waiter = waiting.Waiter(30, 10, clock=own)
    assert waiter.until(lambda: None) is None
    assert own.sleeps == [10, 10, 10] and waiter.elapsed() == 30 and shared.sleeps == []
