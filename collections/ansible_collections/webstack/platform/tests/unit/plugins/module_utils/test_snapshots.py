"""module_utils.snapshots: the wait, retention and API-call logic shared by rds_snapshot and redis_snapshot.

The module-level behaviour (options, messages, return values) is tested per module in
tests/unit/plugins/modules/test_{rds,redis}_snapshot.py; here the shared pieces are driven directly,
with a small service whose field names differ from both real ones (so nothing RDS-specific leaks
into the shared code) and, for the API calls, a botocore Stubber on a real RDS client."""

from __future__ import annotations

import datetime

import botocore.exceptions
import pytest

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry, RetryingBotoClientWrapper
from ansible_collections.webstack.platform.plugins.module_utils import snapshots
from ansible_collections.webstack.platform.plugins.modules.rds_snapshot import RDSSnapshots
from ansible_collections.webstack.platform.plugins.modules.redis_snapshot import ElastiCacheSnapshots

T0 = datetime.datetime(2026, 11, 22, 9, 30, tzinfo=datetime.timezone.utc)


class Service(snapshots.SnapshotService):
    """Fields named unlike any AWS service; answers of `describe` come from a list."""

    owner_option, id_option = "owner", "snap"
    owner_key, id_key, arn_key, status_key = "Owner", "Id", "Arn", "State"
    failed_states = ("broken",)

    def __init__(self, answers=()):
        self.answers = list(answers)
        self.described = []

    def describe(self, client, snapshot_id):
        self.described.append(snapshot_id)
        return self.answers.pop(0)

    def created_at(self, snapshot):
        return snapshot.get("At")

    def progress_text(self, snapshot):
        return f", step {snapshot.get('Step')}"


class Failed(Exception):
    pass


class FakeModule:
    def __init__(self, check_mode=False, **params):
        self.params = dict({"owner": "db1", "snap": "", "wait": True, "wait_timeout": 30, "poll_interval": 10,
                            "tags": {}, "keep": 0, "prefix": "db1-", "protected": []}, **params)
        self.check_mode = check_mode
        self.failure = None

    def fail_json(self, **kwargs):
        self.failure = kwargs
        raise Failed(kwargs["msg"])


def snap(snap_id, state="available", days_ago=None):
    data = {"Id": snap_id, "Owner": "db1", "State": state, "Arn": f"arn:{snap_id}"}
    if days_ago is not None:
        data["At"] = T0 - datetime.timedelta(days=days_ago)
    return data


@pytest.fixture
def clock(fake_clock):
    return fake_clock(start=100.0)


# --- retention --------------------------------------------------------------------------------

def test_keeps_newest_by_count_and_deletes_older():
    deleted, kept = snapshots.select_for_deletion(
        Service(), [snap("db1-c", days_ago=3), snap("db1-a", days_ago=1), snap("db1-b", days_ago=2),
                    snap("db1-d", days_ago=4)], "", keep=2, protected=[])
    assert kept == ["db1-a", "db1-b"]
    assert deleted == ["db1-c", "db1-d"]


def test_protected_are_kept_and_not_counted():
    deleted, kept = snapshots.select_for_deletion(
        Service(), [snap("db1-a", days_ago=1), snap("db1-b", days_ago=2), snap("db1-c", days_ago=3)], "",
        keep=1, protected=["db1-a", "elsewhere"])
    assert kept == ["db1-a", "db1-b"]  # db1-a protected, db1-b is the one counted
    assert deleted == ["db1-c"]


def test_not_available_are_kept_and_not_counted():
    deleted, kept = snapshots.select_for_deletion(
        Service(), [snap("db1-a", days_ago=1), snap("db1-new", state="creating"), snap("db1-bad", "broken", 2),
                    snap("db1-c", days_ago=3)], "", keep=1, protected=[])
    assert kept == ["db1-new", "db1-a", "db1-bad"]
    assert deleted == ["db1-c"]


def test_current_is_never_deleted_even_when_oldest():
    deleted, kept = snapshots.select_for_deletion(
        Service(), [snap("db1-a", days_ago=1), snap("db1-cur", days_ago=9), snap("db1-b", days_ago=2)],
        "db1-cur", keep=1, protected=[])
    assert kept == ["db1-a", "db1-cur"]
    assert deleted == ["db1-b"]


def test_current_not_listed_counts_as_newest_available():
    """Check mode: the snapshot that would be created takes one place of `keep`."""
    deleted, kept = snapshots.select_for_deletion(
        Service(), [snap("db1-a", days_ago=1), snap("db1-b", days_ago=2)], "db1-cur", keep=2, protected=[])
    assert kept == ["db1-cur", "db1-a"]
    assert deleted == ["db1-b"]


def test_without_times_the_id_orders_and_unstamped_are_newer():
    deleted, kept = snapshots.select_for_deletion(
        Service(), [snap("db1-20261101"), snap("db1-20261103"), snap("db1-old", days_ago=30), snap("db1-20261102")],
        "", keep=2, protected=[])
    assert kept == ["db1-20261103", "db1-20261102"]
    assert deleted == ["db1-20261101", "db1-old"]


def test_prune_filters_by_prefix_and_deletes_only_outside_check_mode():
    class Listed(Service):
        def __init__(self):
            super().__init__()
            self.deleted = []

        def manual_snapshots(self, client, owner):
            assert owner == "db1"
            return [snap("db1-a", days_ago=1), snap("db1-b", days_ago=2), snap("other-c", days_ago=3)]

        def delete(self, client, snapshot_id):
            self.deleted.append(snapshot_id)

    service = Listed()
    assert snapshots.prune(FakeModule(check_mode=True, keep=1), service, None, "") == (["db1-b"], ["db1-a"])
    assert service.deleted == []
    assert snapshots.prune(FakeModule(keep=1), service, None, "") == (["db1-b"], ["db1-a"])
    assert service.deleted == ["db1-b"]
    # a current id outside the prefix is neither added nor counted
    assert snapshots.prune(FakeModule(check_mode=True, keep=1), service, None, "x-1") == (["db1-b"], ["db1-a"])


# --- waiting ----------------------------------------------------------------------------------

def test_wait_polls_until_available(clock):
    service = Service([snap("db1-a", "creating"), snap("db1-a", days_ago=0)])
    module = FakeModule()
    assert snapshots.wait_available(module, service, None, snap("db1-a", "creating"))["State"] == "available"
    assert clock["sleeps"] == [10, 10]
    assert service.described == ["db1-a", "db1-a"]


def test_wait_last_sleep_stops_at_the_deadline_then_reports_stuck(clock):
    service = Service([dict(snap("db1-a", "creating"), Step=s) for s in (1, 2, 3)])
    module = FakeModule(wait_timeout=25)
    with pytest.raises(Failed):
        snapshots.wait_available(module, service, None, dict(snap("db1-a", "creating"), Step=0))
    assert clock["sleeps"] == [10, 10, 5]
    assert module.failure["msg"] == ("snapshot db1-a of db1 stuck: status creating, step 3 after 25 s (wait_timeout); "
                                     "it was left as it is")
    assert module.failure["snapshot"]["status"] == "creating"


def test_wait_fails_on_a_failed_state_without_sleeping(clock):
    module = FakeModule()
    with pytest.raises(Failed):
        snapshots.wait_available(module, Service(), None, snap("db1-a", "broken"))
    assert module.failure["msg"] == "snapshot db1-a of db1 is broken"
    assert clock["sleeps"] == []


def test_wait_fails_when_the_snapshot_disappears(clock):
    module = FakeModule()
    with pytest.raises(Failed):
        snapshots.wait_available(module, Service([None]), None, snap("db1-a", "creating"))
    assert module.failure["msg"] == "snapshot db1-a disappeared while waiting for it to become available"


def test_zero_timeout_reports_stuck_at_once(clock):
    module = FakeModule(wait_timeout=0)
    with pytest.raises(Failed):
        snapshots.wait_available(module, Service(), None, snap("db1-a", "creating"))
    assert "stuck: status creating" in module.failure["msg"] and clock["sleeps"] == []


# --- fields -----------------------------------------------------------------------------------

def test_summary_formats_times_and_names_the_owner_option():
    service = Service()
    assert service.summary(snap("db1-a", days_ago=0)) == {
        "id": "db1-a", "arn": "arn:db1-a", "status": "available", "created": "2026-11-22T09:30:00+00:00",
        "owner": "db1"}
    assert service.summary({"Id": "db1-b"}) == {"id": "db1-b", "arn": "", "status": "", "created": "", "owner": ""}


def test_argument_spec_uses_the_service_option_names():
    spec = snapshots.argument_spec(Service())
    assert spec["owner"] == {"type": "str", "required": True}
    assert spec["snap"] == {"type": "str", "default": ""}
    assert set(spec) == {"owner", "snap", "wait", "wait_timeout", "poll_interval", "tags", "keep", "prefix",
                         "protected"}


def test_rds_progress_text_and_summary():
    rds = RDSSnapshots()
    assert rds.progress_text({"PercentProgress": 37}) == ", 37% progress"
    assert rds.progress_text({}) == ", unknown% progress"
    assert rds.extra_summary({"PercentProgress": 0}) == {"percent_progress": 0}
    assert rds.extra_summary({}) == {}


def test_elasticache_ownership_and_creation_time():
    ec = ElastiCacheSnapshots()
    assert ec.belongs_to({"ReplicationGroupId": "g"}, "g")
    assert not ec.belongs_to({"ReplicationGroupId": "g2"}, "g")
    assert ec.belongs_to({"CacheClusterId": "g-002"}, "g")
    assert not ec.belongs_to({"CacheClusterId": "gx-002"}, "g")
    assert ec.owner_of({"CacheClusterId": "g-002"}) == "g-002"
    assert not ec.is_manual({"SnapshotSource": "automated"}) and ec.is_manual({})
    later = T0 + datetime.timedelta(minutes=3)
    assert ec.created_at({"NodeSnapshots": [{"SnapshotCreateTime": T0}, {"SnapshotCreateTime": later}, {}]}) == later
    assert ec.created_at({"NodeSnapshots": [{}]}) is None
    assert ec.progress_text({}) == ""


# --- API calls (SnapshotService defaults, on a stubbed RDS client) ----------------------------

@pytest.fixture
def rds_client(aws_stub):
    """(stub, client): the client wrapped in AWSRetry like AnsibleAWSModule.client() returns it."""
    stub = aws_stub("rds")
    return stub, RetryingBotoClientWrapper(stub.client, AWSRetry.jittered_backoff())


def test_describe_returns_none_when_not_found(rds_client, snapshot_api):
    stub, client = rds_client
    api = snapshot_api(stub, "describe_db_snapshots", "DBSnapshotIdentifier", "DBSnapshots", "DBSnapshotNotFound", {})
    api.describe("a", None)
    api.describe("b", {"DBSnapshotIdentifier": "b", "Status": "available"})
    assert RDSSnapshots().describe(client, "a") is None
    assert RDSSnapshots().describe(client, "b")["Status"] == "available"


def test_describe_other_errors_propagate(rds_client):
    stub, client = rds_client
    stub.add_client_error("describe_db_snapshots", service_error_code="AccessDenied", http_status_code=403)
    with pytest.raises(botocore.exceptions.ClientError):
        RDSSnapshots().describe(client, "a")


def test_create_sends_tags_and_delete_ignores_not_found(rds_client):
    stub, client = rds_client
    stub.add_response("create_db_snapshot", {"DBSnapshot": {"DBSnapshotIdentifier": "s1", "Status": "creating"}},
                      {"DBInstanceIdentifier": "db1", "DBSnapshotIdentifier": "s1",
                       "Tags": [{"Key": "k", "Value": "v"}]})
    stub.add_client_error("delete_db_snapshot", service_error_code="DBSnapshotNotFound", http_status_code=404,
                          expected_params={"DBSnapshotIdentifier": "gone"})
    assert RDSSnapshots().create(client, "db1", "s1", {"k": "v"})["Status"] == "creating"
    RDSSnapshots().delete(client, "gone")


def test_manual_snapshots_keeps_the_owners_only(rds_client, snapshot_api):
    stub, client = rds_client
    snapshot_api(stub, "describe_db_snapshots", "DBSnapshotIdentifier", "DBSnapshots", "DBSnapshotNotFound",
                 {"DBInstanceIdentifier": "db1", "SnapshotType": "manual"}).listing(
        [{"DBSnapshotIdentifier": "s1", "DBInstanceIdentifier": "db1"},
         {"DBSnapshotIdentifier": "s2", "DBInstanceIdentifier": "db10"}])
    assert [s["DBSnapshotIdentifier"] for s in RDSSnapshots().manual_snapshots(client, "db1")] == ["s1"]
