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
