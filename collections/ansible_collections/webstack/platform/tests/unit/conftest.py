"""Shared fixtures for the webstack.platform module unit tests.

Makes `ansible_collections.webstack.platform` importable next to the bundled collections
(amazon.aws, ...) that the `ansible` package installs in site-packages, so the tests run with a
plain `pytest collections/ansible_collections/webstack/platform/tests/unit` from the repository.
"""

from __future__ import annotations

import json
import os
import sys

import boto3
import pytest
from botocore.stub import Stubber

_COLLECTIONS = os.path.abspath(os.path.join(os.path.dirname(__file__), *([os.pardir] * 5)))
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)

import ansible_collections  # noqa: E402  pylint: disable=wrong-import-position

if os.path.join(_COLLECTIONS, "ansible_collections") not in list(ansible_collections.__path__):
    # `ansible_collections` was imported from site-packages before the path was added.
    ansible_collections.__path__.append(os.path.join(_COLLECTIONS, "ansible_collections"))

from ansible.module_utils.testing import patch_module_args  # noqa: E402
from ansible_collections.amazon.aws.plugins.module_utils import cloud  # noqa: E402
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper  # noqa: E402


class ModuleExit(Exception):
    """Result of one module run: `result` is the parsed JSON, `failed` tells fail_json from exit_json."""

    def __init__(self, result):
        super().__init__(result.get("msg", ""))
        self.result = result
        self.failed = bool(result.get("failed"))


@pytest.fixture
def aws_stub(monkeypatch):
    """A factory: aws_stub('elasticache') -> botocore Stubber whose client the module will use.

    The module gets the stubbed client wrapped in its own retry decorator, exactly like
    AnsibleAWSModule.client() would return it; sleeping in retries is disabled.
    """
    stubbers = {}

    def fake_client(self, service, retry_decorator=None, **_kwargs):
        client = stubbers[service].client
        return client if retry_decorator is None else RetryingBotoClientWrapper(client, retry_decorator)

    monkeypatch.setattr(AnsibleAWSModule, "client", fake_client)
    monkeypatch.setattr(cloud.time, "sleep", lambda _s: None)

    def factory(service):
        client = boto3.client(service, region_name="us-east-1", aws_access_key_id="testing",
                              aws_secret_access_key="testing")
        stubber = Stubber(client)
        stubber.activate()
        stubbers[service] = stubber
        return stubber

    yield factory
    for stubber in stubbers.values():
        stubber.deactivate()
    for stubber in stubbers.values():
        stubber.assert_no_pending_responses()


@pytest.fixture
def run_module(capsys):
    """run_module(module, args, check_mode=False, diff=False) -> ModuleExit (result dict + failed flag)."""

    def runner(module, args, check_mode=False, diff=False):
        args = dict(args, region="us-east-1", access_key="testing", secret_key="testing")
        args["_ansible_check_mode"] = check_mode
        args["_ansible_diff"] = diff
        capsys.readouterr()
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                module.main()
        out = capsys.readouterr().out
        return ModuleExit(json.loads(out))

    return runner
