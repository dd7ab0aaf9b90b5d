"""module_utils/compare.py: the one definition of "the same" (desired contained in what AWS answers)."""
from __future__ import annotations

import pytest

from ansible_collections.webstack.platform.plugins.module_utils.compare import differences, empty, same


@pytest.mark.parametrize("value", [None, "", [], {}, False, 0, 0.0])
def test_empty_values(value):
    assert empty(value)


@pytest.mark.parametrize("value", ["0", [None], {"a": None}, True, 1, " "])
def test_values_that_are_not_empty(value):
    assert not empty(value)


def test_an_absent_setting_is_the_same_as_an_empty_or_false_one():
    assert same(None, False) and same(None, []) and same({}, None) and same(None, 0)
    assert not same(None, True) and not same(None, "x")


def test_desired_dicts_are_contained_in_current_ones():
    assert same({"a": 1, "b": 2, "added_by_aws": "x"}, {"a": 1, "b": 2})
    assert not same({"a": 1}, {"a": 1, "b": 2})
    assert same({"a": {"b": [1, 2]}}, {"a": {"b": [1, 2]}})
    assert not same({"a": [1, 2]}, {"a": [2, 1]})


def test_numbers_compare_by_value_bools_do_not_count_as_numbers():
    assert same(80, 80.0) and same(80.0, 80)
    assert same(True, True) and not same(False, True) and not same(2, True)
    assert not same("80", 80)


def test_differences_lists_the_keys_that_differ():
    assert differences({"A": 1, "B": "x", "C": None}, {"A": 1.0, "B": "y", "C": False, "D": 5}) == ["B", "D"]
