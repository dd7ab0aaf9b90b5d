"""The network-plan filter (webstack.platform.cidr_problems, role vpc's validate): every problem names the variable."""

from __future__ import annotations

import pytest
from ansible_collections.webstack.platform.plugins.filter.network import FilterModule, cidr_problems

ZONES = ["a", "b"]


def test_filter_registered_under_its_name():
    assert FilterModule().filters() == {"cidr_problems": cidr_problems}


@pytest.mark.parametrize("vpc, tiers, expected", [
    ("10.0.0.0/16", {"pub": ["10.0.0.0/24", "10.0.1.0/24"]}, []),
    ("10.0.0.0/33", {"pub": ["10.0.0.0/24", "10.0.1.0/24"]}, ["vpc_cidr"]),
    ("10.0.0.1/16", {"pub": ["10.0.0.0/24", "10.0.1.0/24"]}, ["vpc_cidr"]),
    ("8.8.0.0/16", {"pub": ["8.8.0.0/24", "8.8.1.0/24"]}, ["RFC 1918"]),
    ("10.0.0.0/8", {"pub": ["10.0.0.0/24", "10.0.1.0/24"]}, ["/16 and /24"]),
    ("10.0.0.0/16", {"pub": ["10.0.0.0/24", "10.1.1.0/24"]}, ["pub: 10.1.1.0/24 is not inside"]),
    ("10.0.0.0/16", {"pub": ["10.0.0.0/24", "10.0.1.0/24"], "priv": ["10.0.0.0/20", "10.0.32.0/20"]},
     ["priv: 10.0.0.0/20 overlaps 10.0.0.0/24 of pub"]),
    ("10.0.0.0/16", {"pub": ["10.0.0.0/24"]}, ["pub needs one CIDR per availability zone"]),
    ("10.0.0.0/16", {"pub": ["10.0.0.0/24", "banana"]}, ["pub: 'banana'"]),
])
def test_cidr_problems(vpc, tiers, expected):
    problems = cidr_problems(vpc, tiers, ZONES)
    if not expected:
        assert problems == []
    for word in expected:
        assert any(word in p for p in problems), problems


def test_cidr_problems_zones():
    assert any("2 or 3 distinct zones" in p for p in cidr_problems("10.0.0.0/16", {}, ["a"]))
    assert any("2 or 3 distinct zones" in p for p in cidr_problems("10.0.0.0/16", {}, ["a", "a"]))
