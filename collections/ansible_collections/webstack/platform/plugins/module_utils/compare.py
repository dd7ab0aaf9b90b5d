# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One definition of "the same" for comparing what a module wants with what AWS returns.

`empty(value)`: None, "", [], {}, False and zero (0, 0.0: numbers equal to False) are empty. AWS leaves unset, false
and zero settings out of many answers (a container without `readonlyRootFilesystem`, a service without
`healthCheckGracePeriodSeconds`, an alarm without `Dimensions`), so a wanted empty value and an absent one mean the
same. (ecs_app always compared so; alarms did not count False and 0 as empty, but every alarm field it compares that
could hold them is one CloudWatch always returns, so its results are the same.)

`same(current, desired)`: `desired` (what the module sets) is contained in `current` (what AWS answers, with its
defaults added): both empty; or dicts whose every desired key is the same in current (current may have more
keys); or lists of the same length, item by item; or numbers of the same value (an int and a float alike, bools
are not numbers); or equal values.
"""
from __future__ import annotations


def empty(value):
    return value in (None, False, "", [], {})  # False == 0 == 0.0, so zero is empty too


def same(current, desired):
    if empty(desired) and empty(current):
        return True
    if isinstance(desired, dict):
        return isinstance(current, dict) and all(same(current.get(k), v) for k, v in desired.items())
    if isinstance(desired, list):
        return isinstance(current, list) and len(current) == len(desired) and all(same(c, d) for c, d in zip(current, desired))
    if isinstance(desired, (int, float)) and not isinstance(desired, bool) and isinstance(current, (int, float)) \
            and not isinstance(current, bool):
        return float(current) == float(desired)
    return current == desired


def differences(current, desired):
    """Sorted keys of `desired` whose value is not the same in `current`."""
    return sorted(k for k, v in desired.items() if not same(current.get(k), v))
