"""module_utils/base.py: the Layer base of the modules (state picks the method, changes, diff, errors, exit)."""
import botocore.exceptions
import pytest

from ansible_collections.webstack.platform.plugins.module_utils.base import Layer


class Exit(Exception):
    pass


class FakeModule:
    def __init__(self, state):
        self.params = {"state": state}
        self.check_mode = False
        self.exited = self.failed = None

    def exit_json(self, **kwargs):
        self.exited = kwargs
        raise Exit()

    def fail_json_aws(self, exc, msg, **_result):
        self.failed = (exc, msg)
        raise Exit()


class Manager(Layer):
    label = "alarms"

    def __init__(self, changes=(), error_after=None):
        self._planned, self._error_after = list(changes), error_after

    def bind(self, module):
        super().__init__(module)
        return self

    def _run(self, result):
        for i, change in enumerate(self._planned):
            if self._error_after is not None and i == self._error_after:
                raise botocore.exceptions.ClientError({"Error": {"Code": "Throttling", "Message": "slow down"}}, "PutMetricAlarm")
            self.change(change)
        return result

    def present(self):
        return self._run({"state": "present"})

    def absent(self):
        return self._run({"state": "absent"})


def run_layer(module, manager, label):
    """What Layer.main() does once the module exists."""
    manager.bind(module)
    manager.label = label
    manager.exit(manager.guarded(manager.run))


def test_no_change_reports_unchanged_without_diff():
    module = FakeModule("present")
    with pytest.raises(Exit):
        run_layer(module, Manager(), "alarms")
    assert module.exited == {"changed": False, "changes": [], "diff": {}, "state": "present"}


def test_changes_become_the_diff_and_state_picks_the_method():
    module = FakeModule("absent")
    with pytest.raises(Exit):
        run_layer(module, Manager(["delete alarm a", "delete topic t"]), "alarms")
    assert module.exited["changed"] is True and module.exited["state"] == "absent"
    assert module.exited["diff"] == {"before": "", "after": "delete alarm a\ndelete topic t\n"}


@pytest.mark.parametrize("error_after,expected", [(0, "alarms: reading the current state"), (1, "alarms: create alarm a")])
def test_api_error_names_the_last_step(error_after, expected):
    module = FakeModule("present")
    with pytest.raises(Exit):
        run_layer(module, Manager(["create alarm a", "create alarm b"], error_after=error_after), "alarms")
    assert module.failed[1] == expected and module.exited is None


class _Client:
    def __init__(self, service, retry_decorator, **extra):
        self.service, self.retry_decorator, self.extra = service, retry_decorator, extra


class Clients(FakeModule):
    def __init__(self, check_mode=False):
        super().__init__("present")
        self.check_mode = check_mode
        self.made = []

    def client(self, service, retry_decorator=None, **extra):
        self.made.append(service)
        return _Client(service, retry_decorator, **extra)


def test_one_client_per_service_region_and_retried_codes():
    layer = Layer(Clients())
    assert layer.client("ec2") is layer.client("ec2")
    assert layer.client("ec2", retry_codes=("X",)) is not layer.client("ec2")
    assert layer.client("ecr", region="us-east-1") is not layer.client("ecr")
    assert layer.client("ecr", region="us-east-1").extra == {"region": "us-east-1"}
    assert layer.module.made == ["ec2", "ec2", "ecr", "ecr"]


def test_change_calls_only_outside_check_mode():
    calls = []
    assert Layer(Clients()).change("create x", calls.append, "x") is None and calls == ["x"]
    checked = Layer(Clients(check_mode=True))
    checked.change("create y", calls.append, "y")
    assert calls == ["x"] and checked.changes == ["create y"]


def test_recorded_fields_are_the_diff():
    layer = Layer(Clients())
    layer.change("bucket b: set versioning")
    layer.record("bucket.versioning", "Suspended", "Enabled")
    assert layer.diff() == {"before": {"bucket.versioning": "Suspended"}, "after": {"bucket.versioning": "Enabled"}}
