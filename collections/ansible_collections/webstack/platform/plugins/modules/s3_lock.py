#!/usr/bin/python
# -*- coding: utf-8 -*-
# GPL-3.0-or-later
"""webstack.platform.s3_lock: the deploy lock of a stack as an S3 object written with conditional PUTs."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: s3_lock
short_description: Take or release a stack's deploy lock, an S3 object written with conditional requests
version_added: 0.4.0
description:
  - The C(s3) backend of the C(release) role's deploy lock (the aws platform). Deploy, rollback, migrate and restore
    of one stack take the same lock, so they exclude each other. Same options and behaviour as
    M(webstack.platform.release_lock), with an S3 object (O(bucket), O(key)) instead of a file.
  - O(state=present) puts the holder document (O(operation), O(user), O(host), O(version), the time taken, the
    expiry, O(run_id)) with C(If-None-Match=*) - atomic, of two runs exactly one creates the object; S3 answers the
    other C(412 PreconditionFailed), and the module then reads the lock and fails naming its holder.
  - A lock that has expired (older than its O(ttl)) or that O(break_lock) takes over is replaced with
    C(If-Match=<ETag of the stale lock>) (compare-and-swap), so two runs that find the same stale lock cannot both
    take it; the previous holder is returned as RV(broken).
  - O(state=absent) deletes the lock when it holds O(run_id) (a run never removes another run's lock; with
    O(break_lock) it removes any), with C(If-Match=<its ETag>) so that a lock taken over in between stays.
  - O(read_json_key) reads a JSON object of the same bucket (the release ledger, which only lock holders write) once
    the lock is held, in the same module run.
author:
  - webstack maintainers
options:
  bucket:
    description: The bucket of the lock (the environment's bucket, where the release ledger lives).
    type: str
    required: true
  key:
    description: The lock object's key.
    type: str
    required: true
  read_json_key:
    description:
      - O(state=present) only. The key of a JSON object in O(bucket) to read once the lock is held (the release
        ledger), returned as RV(document), so the lock and the first read cost one module run. Empty = none.
    type: str
    default: ""
  encryption:
    description: Server-side encryption of the lock object.
    type: str
    choices: [AES256, "aws:kms"]
    default: AES256
  kms_key_id:
    description: KMS key for O(encryption=aws:kms) (empty = the AWS managed key).
    type: str
    default: ""
extends_documentation_fragment:
  - webstack.platform.release_lock
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - "IAM: C(s3:GetObject), C(s3:PutObject), C(s3:DeleteObject) on the lock key (and C(s3:GetObject) on
    O(read_json_key)); C(s3:ListBucket) on the bucket makes a missing object read as missing, not as access denied."
"""

EXAMPLES = r"""
- name: Take the deploy lock of the stack
  webstack.platform.s3_lock:
    bucket: webstack-prod-backups-logs
    key: lock/webstack-prod.json
    run_id: "{{ release_lock_run_id }}"
    operation: deploy
    user: alice
    host: laptop
    version: 2.0.0
    read_json_key: ledger/webstack-prod.json

- name: Release it
  webstack.platform.s3_lock:
    bucket: webstack-prod-backups-logs
    key: lock/webstack-prod.json
    run_id: "{{ release_lock_run_id }}"
    state: absent
"""

RETURN = r"""
holder:
  description: The lock's content after the run (this run's when it took the lock; the other holder when refused).
  returned: always
  type: dict
  sample: {operation: deploy, user: alice, host: laptop, version: 2.0.0, taken_at: "2026-12-04T18:40:00Z",
           expires_at: "2026-12-04T19:10:00Z", run_id: "1764873600-12345"}
broken:
  description: The previous holder when an expired lock was taken over or O(break_lock) was used, else null.
  returned: always
  type: dict
document:
  description: The content of O(read_json_key) (null when the object does not exist).
  returned: when read_json_key is set and the lock is held (or would be, in check mode)
  type: dict
"""

import json

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.webstack.platform.plugins.module_utils.base import Layer
from ansible_collections.webstack.platform.plugins.module_utils.release_lock import (
    FREE, HELD, LOCK_OPTIONS, OURS, STALE, dump, judge_take, left_alone, new_holder, parse, refusal, releasable,
    taken_over)

MISSING = ["NoSuchKey", "404", "NotFound"]
# A conditional write lost: the object is not what the condition expected (412), or another conditional write on
# the same key was in flight (409).
CONFLICT = ["PreconditionFailed", "412", "ConditionalRequestConflict", "409"]


class S3Lock(Layer):
    label = "s3_lock"
    retries = {"retries": 10, "delay": 3}
    argument_spec = {
        "bucket": {"type": "str", "required": True},
        "key": {"type": "str", "required": True, "no_log": False},
        **LOCK_OPTIONS,
        "read_json_key": {"type": "str", "default": "", "no_log": False},
        "encryption": {"type": "str", "default": "AES256", "choices": ["AES256", "aws:kms"]},
        "kms_key_id": {"type": "str", "default": ""},
    }

    def __init__(self, module):
        super().__init__(module)
        self.where = f"lock object s3://{self.p['bucket']}/{self.p['key']}"
        self.s3 = self.client("s3")

    def run(self):
        now = self.clock.time()  # wall time: the lock's epochs are read by other runs
        if self.p["state"] == "absent":
            self.release(now)
        self.take(now)

    def get(self, key):
        """(text, ETag) of an object, (None, None) when it does not exist."""
        try:
            obj = self.s3.get_object(aws_retry=True, Bucket=self.p["bucket"], Key=key)
            return obj["Body"].read().decode("utf-8", "replace"), obj.get("ETag")
        except is_boto3_error_code(MISSING):
            return None, None
        except Exception as e:  # pylint: disable=broad-except
            self.module.fail_json_aws(e, msg=f"cannot read s3://{self.p['bucket']}/{key}")

    def read_lock(self):
        text, etag = self.get(self.p["key"])
        return (None if text is None else parse(text)), etag

    def document(self):
        if not self.p["read_json_key"]:
            return {}
        text, _etag = self.get(self.p["read_json_key"])
        if text is None:
            return {"document": None}
        try:
            return {"document": json.loads(text)}
        except ValueError as exc:
            return self.module.fail_json(msg=f"s3://{self.p['bucket']}/{self.p['read_json_key']} is not valid JSON: {exc}")

    def put(self, holder, condition):
        """Write the lock if `condition` (IfNoneMatch / IfMatch) holds; False when S3 says it does not."""
        kwargs = {"ServerSideEncryption": self.p["encryption"], "ContentType": "application/json", **condition}
        if self.p["encryption"] == "aws:kms" and self.p["kms_key_id"]:
            kwargs["SSEKMSKeyId"] = self.p["kms_key_id"]
        try:
            self.s3.put_object(aws_retry=True, Bucket=self.p["bucket"], Key=self.p["key"], Body=dump(holder).encode(),
                               **kwargs)
            return True
        except is_boto3_error_code(CONFLICT + MISSING):  # MISSING: IfMatch on a lock deleted meanwhile
            return False
        except Exception as e:  # pylint: disable=broad-except
            return self.module.fail_json_aws(e, msg=f"cannot write the {self.where}")

    def take(self, now):
        p = self.p
        current, etag = self.read_lock()
        verdict = judge_take(current, p, now)
        if verdict == OURS:
            self.module.exit_json(changed=False, holder=current, broken=None, **self.document())
        if verdict == HELD:
            self.module.fail_json(msg=refusal(current, now, p["operation"], self.where), holder=current, broken=None)
        broken = current if verdict == STALE else None
        holder = new_holder(p, now)
        if self.module.check_mode:
            self.module.exit_json(changed=True, holder=holder, broken=broken, **self.document())
        if not self.put(holder, {"IfNoneMatch": "*"} if verdict == FREE else {"IfMatch": etag}):
            # another run took (or took over, or released) it between the read and the write
            current, _etag = self.read_lock()
            if current is not None:
                self.module.fail_json(msg=refusal(current, now, p["operation"], self.where, just_taken=True),
                                      holder=current, broken=None)
            if not self.put(holder, {"IfNoneMatch": "*"}):
                current, _etag = self.read_lock()
                self.module.fail_json(msg=refusal(current or {}, now, p["operation"], self.where, just_taken=True),
                                      holder=current or {}, broken=None)
            broken = None
        if broken is not None:
            self.module.warn(taken_over(broken, now))
        # read under the lock: only lock holders write the ledger
        self.module.exit_json(changed=True, holder=holder, broken=broken, **self.document())

    def release(self, now):
        current, etag = self.read_lock()
        if current is None:
            self.module.exit_json(changed=False, holder={}, broken=None)
        if not releasable(current, self.p):
            self.module.warn(left_alone(current, now, self.where))
            self.module.exit_json(changed=False, holder=current, broken=None)
        if not self.module.check_mode:
            try:
                self.s3.delete_object(aws_retry=True, Bucket=self.p["bucket"], Key=self.p["key"], IfMatch=etag)
            except is_boto3_error_code(MISSING):
                self.module.exit_json(changed=False, holder={}, broken=None)
            except is_boto3_error_code(CONFLICT):
                current, _etag = self.read_lock()
                self.module.warn(left_alone(current or {}, now, self.where))
                self.module.exit_json(changed=False, holder=current or {}, broken=None)
            except Exception as e:  # pylint: disable=broad-except
                self.module.fail_json_aws(e, msg=f"cannot delete the {self.where}")
        self.module.exit_json(changed=True, holder={},
                              broken=None if current.get("run_id") == self.p["run_id"] else current)


def main():
    S3Lock.main()

if __name__ == "__main__":
    main()
