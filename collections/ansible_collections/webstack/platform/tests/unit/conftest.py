"""Shared fixtures for the webstack.platform module unit tests.

Makes `ansible_collections.webstack.platform` importable next to the bundled collections
(amazon.aws, ...) that the `ansible` package installs in site-packages, so the tests run with a
plain `pytest collections/ansible_collections/webstack/platform/tests/unit` from the repository.
"""

from __future__ import annotations

import json
import os

import boto3
import pytest
from botocore.stub import Stubber

_COLLECTIONS = os.path.abspath(os.path.join(os.path.dirname(__file__), *([os.pardir] * 5)))

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


class SnapshotApi:
    """Queues DescribeXxxSnapshots answers of one snapshot API (RDS, ElastiCache) on a Stubber."""

    def __init__(self, stub, operation, id_key, list_key, not_found_code, listing_params):
        self.stub, self.operation, self.id_key, self.list_key = stub, operation, id_key, list_key
        self.not_found_code, self.listing_params = not_found_code, listing_params

    def describe(self, snap_id, snap=None):
        """The describe-by-id call: answers `snap`, or the not-found error when it is None."""
        if snap is None:
            self.stub.add_client_error(self.operation, service_error_code=self.not_found_code,
                                       service_message=f"Snapshot {snap_id} not found.", http_status_code=404,
                                       expected_params={self.id_key: snap_id})
        else:
            self.stub.add_response(self.operation, {self.list_key: [snap]}, {self.id_key: snap_id})

    def listing(self, snaps):
        """The listing of the owner's manual snapshots (one page)."""
        self.stub.add_response(self.operation, {self.list_key: snaps}, dict(self.listing_params))


@pytest.fixture
def snapshot_api():
    """snapshot_api(stub, operation, id_key, list_key, not_found_code, listing_params) -> SnapshotApi."""
    return SnapshotApi
