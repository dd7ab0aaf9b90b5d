#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""webstack.platform.http_checks: a list of HTTP checks retried until they all pass or a deadline."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: http_checks
short_description: Run a list of HTTP checks (status, body text, a JSON field) against a base URL until all pass
version_added: 0.3.0
description:
  - The smoke checks of a release, through the proxy or the load balancer, in one module run.
  - Each round sends every check that has not passed yet (C(GET base_url + path), with the check's C(host) as
    C(Host) header); a check passes when the status is C(status), the body contains C(body_contains) and the
    (dotted) C(json_field) of the JSON body equals C(json_equals). Rounds repeat every O(delay) seconds until all
    passed or O(deadline) seconds have gone by; then the module fails naming each failing check and what it got.
  - Read-only; runs the same in check mode.
author:
  - webstack maintainers
options:
  base_url:
    description: Base URL without trailing slash, e.g. C(http://127.0.0.1:8080).
    type: str
    required: true
  checks:
    description:
      - The checks, each with C(path) (required), C(host), C(status) (default 200), C(body_contains), C(json_field),
        C(json_equals), C(process) (shown in messages).
    type: list
    elements: dict
    required: true
  deadline:
    description: Seconds all checks together may take, retries included.
    type: float
    default: 20
  delay:
    description: Seconds between two rounds.
    type: float
    default: 0.5
  timeout:
    description: Seconds per request.
    type: float
    default: 5
  validate_certs:
    description: Validate TLS certificates of an https base URL.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Smoke checks through the proxy
  webstack.platform.http_checks:
    base_url: http://127.0.0.1:8080
    checks:
      - {path: /health/ready}
      - {path: /version, json_field: version, json_equals: 2.0.0}
      - {path: /, host: dashboard.example.com, body_contains: Dashboard}
"""

RETURN = r"""
results:
  description: Per check, whether it passed, the attempts it took and what the last answer was.
  returned: always
  type: list
  elements: dict
  sample: [{path: /version, passed: true, attempts: 1, status: 200, detail: "version = 2.0.0"}]
seconds:
  description: Seconds the checks took.
  returned: always
  type: float
"""

import json
import ssl
import urllib.error
import urllib.request

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.webstack.platform.plugins.module_utils.waiter import Waiter

MISSING = object()


def dig(data, dotted):
    for part in dotted.split("."):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return MISSING
    return data


def fetch(url, host, timeout, context):
    request = urllib.request.Request(url, headers={"User-Agent": "webstack-smoke", **({"Host": host} if host else {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as resp:  # noqa: S310 - http(s) only
            return resp.status, resp.read(1 << 20).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(1 << 20).decode("utf-8", "replace")


def judge(check, status, body):
    """(passed, detail)"""
    want = int(check.get("status") or 200)
    if status != want:
        return False, f"status {status} (expected {want}): {body[:200]!r}"
    text = check.get("body_contains") or ""
    if text and text not in body:
        return False, f"the body does not contain {text!r}: {body[:200]!r}"
    field = check.get("json_field") or ""
    if field:
        try:
            data = json.loads(body)
        except ValueError:
            return False, f"the body is not JSON: {body[:200]!r}"
        value = dig(data, field)
        if value is MISSING:
            return False, f"the JSON body has no field {field}: {body[:200]!r}"
        expected = str(check.get("json_equals") or "")
        shown = value if isinstance(value, str) else json.dumps(value)
        if check.get("json_equals") not in (None, "") and shown != expected:
            return False, f"{field} = {shown!r} (expected {expected!r})"
        return True, f"{field} = {shown}"
    return True, f"status {status}"


def main():
    module = AnsibleModule(
        argument_spec={
            "base_url": {"type": "str", "required": True},
            "checks": {"type": "list", "elements": "dict", "required": True},
            "deadline": {"type": "float", "default": 20},
            "delay": {"type": "float", "default": 0.5},
            "timeout": {"type": "float", "default": 5},
            "validate_certs": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    p = module.params
    base = p["base_url"].rstrip("/")
    if not base.startswith(("http://", "https://")):
        module.fail_json(msg=f"base_url {base!r} is not an http(s) URL")
    context = None
    if base.startswith("https://") and not p["validate_certs"]:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    results = []
    for check in p["checks"]:
        if not str(check.get("path") or "").startswith("/"):
            module.fail_json(msg=f"smoke check {check!r}: path must start with /")
        results.append({"process": check.get("process") or "", "path": check["path"], "host": check.get("host") or "",
                        "passed": False, "attempts": 0, "status": None, "detail": "not run"})
    waiter = Waiter(p["deadline"], p["delay"])
    while True:
        for check, res in zip(p["checks"], results):
            if res["passed"]:
                continue
            res["attempts"] += 1
            try:
                status, body = fetch(base + check["path"], check.get("host") or "", p["timeout"], context)
                res["status"] = status
                res["passed"], res["detail"] = judge(check, status, body)
            except (OSError, ValueError) as exc:
                res["status"], res["detail"] = None, f"{exc.__class__.__name__}: {exc}"
        # the next round must start by the deadline: only a whole delay is slept
        if all(r["passed"] for r in results) or not waiter.sleep(whole=True):
            break
    seconds = round(waiter.elapsed(), 2)
    failed = [r for r in results if not r["passed"]]
    if failed:
        module.fail_json(
            msg="smoke test of {} failed after {}s: {}".format(base, seconds, "; ".join(
                f"GET {r['path']}{' (Host ' + r['host'] + ')' if r['host'] else ''}"
                f"{' [' + r['process'] + ']' if r['process'] else ''}: {r['detail']}" for r in failed)),
            results=results, seconds=seconds)
    module.exit_json(changed=False, results=results, seconds=seconds)


if __name__ == "__main__":
    main()
