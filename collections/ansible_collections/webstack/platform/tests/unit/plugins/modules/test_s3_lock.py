"""webstack.platform.s3_lock with botocore's Stubber, S3 answers shaped like AWS's: a free lock taken with
If-None-Match=*, a held one (412 PreconditionFailed on the PUT, or found on the GET) refused naming the holder, an
expired or broken one taken over with If-Match=<ETag>, a lost race, the release of this run's lock only, check mode.
The same module runs against the emulator in tests/integration/test_network_storage_lock_moto.py."""

from __future__ import annotations

import io
import json
import time

import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY

from ansible_collections.webstack.platform.plugins.modules import s3_lock as mod

BUCKET, KEY, LEDGER = "webstack-prod-backups-logs", "lock/webstack-prod.json", "ledger/webstack-prod.json"
ETAG = '"0f1e2d3c4b5a69788796a5b4c3d2e1f0"'


def holder(run_id="other", age=10, ttl=1800, **over):
    now = time.time()
    doc = {"operation": "deploy", "user": "alice", "host": "laptop", "version": "2.0.0",
           "taken_at": "2026-12-04T18:40:00Z", "taken_epoch": now - age, "expires_at": "2026-12-04T19:10:00Z",
           "expires_epoch": now - age + ttl, "ttl": ttl, "run_id": run_id}
    doc.update(over)
    return doc


def body(doc):
    raw = (json.dumps(doc) if not isinstance(doc, str) else doc).encode()
    return {"Body": StreamingBody(io.BytesIO(raw), len(raw)), "ETag": ETAG, "ContentLength": len(raw)}


def get(stub, doc, key=KEY):
    stub.add_response("get_object", body(doc), {"Bucket": BUCKET, "Key": key})


def get_missing(stub, key=KEY):
    stub.add_client_error("get_object", service_error_code="NoSuchKey", service_message="The specified key does not exist.",
                          http_status_code=404, expected_params={"Bucket": BUCKET, "Key": key})


def put(stub, condition, error=None):
    params = {"Bucket": BUCKET, "Key": KEY, "Body": ANY, "ServerSideEncryption": "AES256",
              "ContentType": "application/json", **condition}
    if error:
        stub.add_client_error("put_object", service_error_code=error, http_status_code=412 if error == "PreconditionFailed" else 409,
                              service_message="At least one of the pre-conditions you specified did not hold",
                              expected_params=params)
    else:
        stub.add_response("put_object", {"ETag": '"aaaa"', "ServerSideEncryption": "AES256"}, params)


ARGS = dict(bucket=BUCKET, key=KEY, run_id="mine", operation="rollback", user="bob", host="ci", version="1.0.0")


@pytest.fixture
def s3(aws_stub):
    return aws_stub("s3")


def test_a_free_lock_is_taken_with_if_none_match_and_the_ledger_read_after_it(s3, run_module):
    get_missing(s3)
    put(s3, {"IfNoneMatch": "*"})
    get(s3, {"schema": 1, "current": "2.0.0", "releases": []}, key=LEDGER)
    res = run_module(mod, dict(ARGS, read_json_key=LEDGER))
    assert not res.failed and res.result["changed"]
    assert res.result["holder"]["run_id"] == "mine" and res.result["holder"]["operation"] == "rollback"
    assert res.result["broken"] is None and res.result["document"]["current"] == "2.0.0"


def test_a_missing_ledger_reads_as_none(s3, run_module):
    get_missing(s3)
    put(s3, {"IfNoneMatch": "*"})
    get_missing(s3, key=LEDGER)
    assert run_module(mod, dict(ARGS, read_json_key=LEDGER)).result["document"] is None


def test_a_held_lock_is_refused_naming_the_holder(s3, run_module):
    get(s3, holder())
    res = run_module(mod, ARGS)
    assert res.failed
    for part in ("deploy of 2.0.0", "alice", "laptop", "2026-12-04T18:40:00Z", "release_lock_break",
                 f"s3://{BUCKET}/{KEY}", "rollback refused"):
        assert part in res.result["msg"], (part, res.result["msg"])
    assert res.result["holder"]["run_id"] == "other"


def test_losing_the_race_to_if_none_match_412_refuses_naming_the_winner(s3, run_module):
    get_missing(s3)
    put(s3, {"IfNoneMatch": "*"}, error="PreconditionFailed")
    get(s3, holder(run_id="winner", user="carol"))
    res = run_module(mod, ARGS)
    assert res.failed and "carol" in res.result["msg"] and "a moment ago" in res.result["msg"]


def test_an_expired_lock_is_taken_over_with_if_match_its_etag(s3, run_module):
    get(s3, holder(age=7200))
    put(s3, {"IfMatch": ETAG})
    res = run_module(mod, ARGS)
    assert not res.failed and res.result["broken"]["run_id"] == "other"
    assert "took over the lock of deploy of 2.0.0 by alice" in json.dumps(res.result.get("warnings", []))


def test_two_runs_taking_over_the_same_stale_lock_one_loses_on_if_match(s3, run_module):
    get(s3, holder(age=7200))
    put(s3, {"IfMatch": ETAG}, error="PreconditionFailed")
    get(s3, holder(run_id="faster", user="dave"))
    res = run_module(mod, ARGS)
    assert res.failed and "dave" in res.result["msg"]


def test_break_lock_takes_over_a_fresh_lock(s3, run_module):
    get(s3, holder())
    put(s3, {"IfMatch": ETAG})
    res = run_module(mod, dict(ARGS, break_lock=True))
    assert not res.failed and res.result["broken"]["user"] == "alice"


def test_an_unreadable_lock_never_expires(s3, run_module):
    get(s3, "not json")
    res = run_module(mod, ARGS)
    assert res.failed and "unreadable" in res.result["msg"]


def test_our_own_lock_is_kept(s3, run_module):
    get(s3, holder(run_id="mine"))
    res = run_module(mod, ARGS)
    assert not res.failed and res.result["changed"] is False


def test_check_mode_writes_nothing_and_still_refuses(s3, run_module):
    get_missing(s3)
    assert run_module(mod, ARGS, check_mode=True).result["changed"] is True
    get(s3, holder())
    assert run_module(mod, ARGS, check_mode=True).failed


def test_kms_encryption_is_passed_on(s3, run_module):
    get_missing(s3)
    s3.add_response("put_object", {"ETag": '"aaaa"'},
                    {"Bucket": BUCKET, "Key": KEY, "Body": ANY, "ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "alias/x",
                     "ContentType": "application/json", "IfNoneMatch": "*"})
    assert not run_module(mod, dict(ARGS, encryption="aws:kms", kms_key_id="alias/x")).failed


def test_release_deletes_only_our_lock_with_if_match(s3, run_module):
    get(s3, holder(run_id="other"))
    left = run_module(mod, dict(ARGS, state="absent"))
    assert left.result["changed"] is False and left.result["holder"]["run_id"] == "other"
    get(s3, holder(run_id="mine"))
    s3.add_response("delete_object", {}, {"Bucket": BUCKET, "Key": KEY, "IfMatch": ETAG})
    assert run_module(mod, dict(ARGS, state="absent")).result["changed"] is True
    get_missing(s3)
    assert run_module(mod, dict(ARGS, state="absent")).result["changed"] is False


def test_release_of_a_lock_taken_over_meanwhile_leaves_it(s3, run_module):
    get(s3, holder(run_id="mine"))
    s3.add_client_error("delete_object", service_error_code="PreconditionFailed", http_status_code=412,
                        expected_params={"Bucket": BUCKET, "Key": KEY, "IfMatch": ETAG})
    get(s3, holder(run_id="breaker"))
    res = run_module(mod, dict(ARGS, state="absent"))
    assert res.result["changed"] is False and res.result["holder"]["run_id"] == "breaker"


def test_access_denied_fails_naming_the_object(s3, run_module):
    s3.add_client_error("get_object", service_error_code="AccessDenied", http_status_code=403)
    res = run_module(mod, ARGS)
    assert res.failed and f"s3://{BUCKET}/{KEY}" in res.result["msg"]
