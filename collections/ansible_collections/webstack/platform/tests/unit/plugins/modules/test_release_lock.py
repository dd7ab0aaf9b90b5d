"""webstack.platform.release_lock on real files: atomic take, refusal naming the holder, expiry, break, release."""

from __future__ import annotations

import json
import multiprocessing
import os

import pytest

from ansible.module_utils.testing import patch_module_args
from ansible_collections.webstack.platform.plugins.modules import release_lock as mod


def run(capsys, check_mode=False, **args):
    args.update(_ansible_check_mode=check_mode)
    capsys.readouterr()
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            mod.main()
    return json.loads(capsys.readouterr().out)


def test_take_refuse_naming_the_holder_release(tmp_path, capsys):
    path = str(tmp_path / "release.lock")
    first = run(capsys, path=path, run_id="a", operation="deploy", user="alice", host="laptop", version="2.0.0")
    assert not first.get("failed") and first["holder"]["run_id"] == "a"
    assert oct(os.stat(path).st_mode & 0o777) == "0o640"
    refused = run(capsys, path=path, run_id="b", operation="rollback", user="bob", host="ci")
    assert refused["failed"]
    for part in ("deploy of 2.0.0", "alice", "laptop", first["holder"]["taken_at"], "release_lock_break"):
        assert part in refused["msg"], (part, refused["msg"])
    # the same run asking again keeps it
    assert not run(capsys, path=path, run_id="a", operation="deploy").get("failed")
    # another run cannot release it
    other = run(capsys, path=path, run_id="b", state="absent")
    assert other["changed"] is False and os.path.exists(path) and other["holder"]["run_id"] == "a"
    released = run(capsys, path=path, run_id="a", state="absent")
    assert released["changed"] is True and not os.path.exists(path)


def test_an_expired_lock_is_taken_over_and_a_fresh_one_broken_only_on_request(tmp_path, capsys, clock_ahead):
    path = str(tmp_path / "release.lock")
    run(capsys, path=path, run_id="dead", operation="deploy", user="alice", host="h", ttl=60)
    still = run(capsys, path=path, run_id="new", operation="deploy", ttl=60)
    assert still["failed"]
    broke = run(capsys, path=path, run_id="new", operation="deploy", break_lock=True)
    assert not broke.get("failed") and broke["broken"]["run_id"] == "dead"
    clock_ahead(7200)
    later = run(capsys, path=path, run_id="third", operation="restore")
    assert not later.get("failed") and later["broken"]["run_id"] == "new"
    assert json.load(open(path))["run_id"] == "third"


def test_check_mode_writes_nothing_but_refuses_a_held_lock(tmp_path, capsys):
    path = str(tmp_path / "release.lock")
    res = run(capsys, check_mode=True, path=path, run_id="a", operation="deploy")
    assert not res.get("failed") and not os.path.exists(path)
    run(capsys, path=path, run_id="a", operation="deploy", user="alice")
    refused = run(capsys, check_mode=True, path=path, run_id="b", operation="deploy")
    assert refused["failed"] and "alice" in refused["msg"]


def test_reads_the_ledger_in_the_same_run(tmp_path, capsys):
    path, ledger = str(tmp_path / "release.lock"), tmp_path / "ledger.json"
    assert run(capsys, path=path, run_id="a", read_json=str(ledger))["document"] is None
    run(capsys, path=path, run_id="a", state="absent")
    ledger.write_text(json.dumps({"current": "1.0.0", "releases": [{"version": "1.0.0"}]}))
    assert run(capsys, path=path, run_id="a", read_json=str(ledger))["document"]["current"] == "1.0.0"


def _take(path, token, queue):
    import io
    import sys
    from unittest import mock

    out = io.StringIO()
    with mock.patch.object(sys, "stdout", out), patch_module_args({"path": path, "run_id": token, "operation": "deploy"}):
        try:
            mod.main()
        except SystemExit:
            pass
    queue.put(json.loads(out.getvalue()))


def test_of_concurrent_runs_exactly_one_takes_the_lock(tmp_path):
    path = str(tmp_path / "release.lock")
    queue = multiprocessing.get_context("fork").Queue()
    procs = [multiprocessing.get_context("fork").Process(target=_take, args=(path, f"t{i}", queue)) for i in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    results = [queue.get(timeout=5) for _ in procs]
    assert sum(1 for r in results if not r.get("failed")) == 1, results
    assert all("locked by deploy" in r["msg"] for r in results if r.get("failed"))
