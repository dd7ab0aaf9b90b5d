"""Fixtures of the AWX/AAP tests.

- `ee_image` (session): the execution-environment image webstack/ee, built by scripts/build_ee.py once per session
  and only when its inputs changed (the image's org.webstack.ee.inputs label is compared first: a no-op takes about
  a second); a file lock serialises xdist workers.
"""
from __future__ import annotations

import fcntl
from pathlib import Path

import build_ee
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def ee_image(docker_images):
    lock_path = ROOT / "artifacts" / ".ee-image.lock"
    lock_path.parent.mkdir(exist_ok=True)
    with open(lock_path, "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = build_ee.build()
    (ROOT / "artifacts" / "ee-image.txt").write_text(f"{result}\n", encoding="utf-8")
    return result["tag"]
