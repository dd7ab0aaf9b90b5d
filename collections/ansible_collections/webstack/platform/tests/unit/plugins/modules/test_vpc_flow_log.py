"""Unit tests for webstack.platform.vpc_flow_log (botocore Stubber, no emulator)."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.webstack.platform.plugins.modules import vpc_flow_log as mod

VPC = "vpc-0123456789abcdef0"
ROLE = "arn:aws:iam::123456789012:role/webstack-flow-logs"
GROUP = "/webstack/prod/vpc-flow-logs"
FL_ID = "fl-0123456789abcdef0"
FILTER = {"Filters": [{"Name": "resource-id", "Values": [VPC]}]}

ARGS = {
    "resource_id": VPC,
    "log_group_name": GROUP,
    "deliver_logs_permission_arn": ROLE,
    "traffic_type": "ALL",
    "max_aggregation_interval": 60,
    "tags": {"Project": "webstack"},
}


def flow_log(**overrides):
    """A DescribeFlowLogs item shaped like the EC2 API reference."""
    data = {
        "CreationTime": datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
        "DeliverLogsPermissionArn": ROLE,
        "DeliverLogsStatus": "SUCCESS",
        "FlowLogId": FL_ID,
        "FlowLogStatus": "ACTIVE",
        "LogGroupName": GROUP,
        "LogDestination": f"arn:aws:logs:us-east-1:123456789012:log-group:{GROUP}",
        "ResourceId": VPC,
        "TrafficType": "ALL",
        "LogDestinationType": "cloud-watch-logs",
        "LogFormat": "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr}",
        "Tags": [{"Key": "Project", "Value": "webstack"}],
        "MaxAggregationInterval": 60,
    }
    data.update(overrides)
    return data


def expected_create(**overrides):
    data = {
        "ResourceIds": [VPC], "ResourceType": "VPC", "TrafficType": "ALL",
        "LogDestinationType": "cloud-watch-logs", "MaxAggregationInterval": 60,
        "LogGroupName": GROUP, "DeliverLogsPermissionArn": ROLE,
        "TagSpecifications": [{"ResourceType": "vpc-flow-log", "Tags": [{"Key": "Project", "Value": "webstack"}]}],
    }
    data.update(overrides)
    return data


def test_create(aws_stub, run_module):
    stub = aws_stub("ec2")
    stub.add_response("describe_flow_logs", {"FlowLogs": []}, FILTER)
    stub.add_response("create_flow_logs", {"FlowLogIds": [FL_ID], "Unsuccessful": []}, expected_create())
    stub.add_response("describe_flow_logs", {"FlowLogs": [flow_log()]}, {"FlowLogIds": [FL_ID]})
    res = run_module(mod, ARGS, diff=True)
    assert not res.failed, res.result
    assert res.result["changed"] is True
    assert res.result["flow_log"]["flow_log_id"] == FL_ID
    assert res.result["flow_log"]["tags"] == {"Project": "webstack"}


def test_noop_when_converged_ignores_other_destinations(aws_stub, run_module):
    stub = aws_stub("ec2")
    other = flow_log(FlowLogId="fl-0ther", LogGroupName="/other", LogDestination="arn:aws:logs:us-east-1:1:log-group:/other")
    stub.add_response("describe_flow_logs", {"FlowLogs": [other, flow_log()]}, FILTER)
    res = run_module(mod, ARGS)
    assert not res.failed, res.result
    assert res.result["changed"] is False
    assert res.result["flow_log"]["flow_log_id"] == FL_ID


def test_matches_destination_reported_only_as_arn():
    params = dict(ARGS, destination_type="cloud-watch-logs", log_destination=None)
    assert mod.matches_destination(flow_log(LogGroupName=None), params)
    assert not mod.matches_destination(flow_log(LogGroupName="/x", LogDestination="arn:aws:logs:r:1:log-group:/x"), params)


def test_changed_traffic_type_replaces_flow_log(aws_stub, run_module):
    stub = aws_stub("ec2")
    stub.add_response("describe_flow_logs", {"FlowLogs": [flow_log(TrafficType="REJECT")]}, FILTER)
    stub.add_response("delete_flow_logs", {"Unsuccessful": []}, {"FlowLogIds": [FL_ID]})
    stub.add_response("create_flow_logs", {"FlowLogIds": ["fl-new"], "Unsuccessful": []}, expected_create())
    stub.add_response("describe_flow_logs", {"FlowLogs": [flow_log(FlowLogId="fl-new")]}, {"FlowLogIds": ["fl-new"]})
    res = run_module(mod, ARGS, diff=True)
    assert not res.failed, res.result
    assert res.result["changes"] == ["traffic_type"]
    assert res.result["deleted"] == [FL_ID]
    assert res.result["diff"]["before"]["traffic_type"] == "REJECT"
    assert res.result["diff"]["after"]["traffic_type"] == "ALL"


def test_tag_drift_updates_tags_in_place(aws_stub, run_module):
    stub = aws_stub("ec2")
    stub.add_response("describe_flow_logs", {"FlowLogs": [flow_log(Tags=[{"Key": "Old", "Value": "1"}])]}, FILTER)
    stub.add_response("delete_tags", {}, {"Resources": [FL_ID], "Tags": [{"Key": "Old"}]})
    stub.add_response("create_tags", {}, {"Resources": [FL_ID], "Tags": [{"Key": "Project", "Value": "webstack"}]})
    stub.add_response("describe_flow_logs", {"FlowLogs": [flow_log()]}, {"FlowLogIds": [FL_ID]})
    res = run_module(mod, ARGS)
    assert not res.failed, res.result
    assert res.result["changes"] == ["tags"]
    assert res.result["deleted"] == []


def test_check_mode_reports_and_changes_nothing(aws_stub, run_module):
    stub = aws_stub("ec2")
    stub.add_response("describe_flow_logs", {"FlowLogs": [flow_log(MaxAggregationInterval=600)]}, FILTER)
    res = run_module(mod, ARGS, check_mode=True, diff=True)
    assert res.result["changed"] is True
    assert res.result["changes"] == ["max_aggregation_interval"]
    stub.add_response("describe_flow_logs", {"FlowLogs": []}, FILTER)
    res = run_module(mod, ARGS, check_mode=True)
    assert res.result["changed"] is True and res.result["flow_log"] == {}


def test_s3_destination(aws_stub, run_module):
    stub = aws_stub("ec2")
    bucket = "arn:aws:s3:::webstack-logs/vpc/"
    stub.add_response("describe_flow_logs", {"FlowLogs": [flow_log()]}, FILTER)
    stub.add_response("create_flow_logs", {"FlowLogIds": ["fl-s3"], "Unsuccessful": []},
                      {"ResourceIds": [VPC], "ResourceType": "VPC", "TrafficType": "ALL", "LogDestinationType": "s3",
                       "MaxAggregationInterval": 600, "LogDestination": bucket})
    s3_log = flow_log(FlowLogId="fl-s3", LogDestinationType="s3", LogDestination="arn:aws:s3:::webstack-logs/vpc",
                      LogGroupName=None, DeliverLogsPermissionArn=None, MaxAggregationInterval=600)
    s3_log = {k: v for k, v in s3_log.items() if v is not None}
    stub.add_response("describe_flow_logs", {"FlowLogs": [s3_log]}, {"FlowLogIds": ["fl-s3"]})
    args = {"resource_id": VPC, "destination_type": "s3", "log_destination": bucket}
    res = run_module(mod, args)
    assert not res.failed, res.result
    assert res.result["changed"] is True
    # Second run: the trailing slash AWS drops is not a difference.
    stub.add_response("describe_flow_logs", {"FlowLogs": [flow_log(), s3_log]}, FILTER)
    res = run_module(mod, args)
    assert res.result["changed"] is False


def test_absent_deletes_only_matching_and_is_idempotent(aws_stub, run_module):
    stub = aws_stub("ec2")
    other = flow_log(FlowLogId="fl-0ther", LogGroupName="/other", LogDestination="arn:aws:logs:us-east-1:1:log-group:/other")
    stub.add_response("describe_flow_logs", {"FlowLogs": [other, flow_log()]}, FILTER)
    stub.add_response("delete_flow_logs", {"Unsuccessful": []}, {"FlowLogIds": [FL_ID]})
    res = run_module(mod, {"resource_id": VPC, "state": "absent", "log_group_name": GROUP})
    assert res.result["changed"] is True and res.result["deleted"] == [FL_ID]
    stub.add_response("describe_flow_logs", {"FlowLogs": [other]}, FILTER)
    res = run_module(mod, {"resource_id": VPC, "state": "absent", "log_group_name": GROUP})
    assert res.result["changed"] is False


def test_absent_without_destination_deletes_all(aws_stub, run_module):
    stub = aws_stub("ec2")
    other = flow_log(FlowLogId="fl-0ther", LogGroupName="/other")
    stub.add_response("describe_flow_logs", {"FlowLogs": [other, flow_log()]}, FILTER)
    stub.add_response("delete_flow_logs", {"Unsuccessful": []}, {"FlowLogIds": ["fl-0ther", FL_ID]})
    res = run_module(mod, {"resource_id": VPC, "state": "absent"})
    assert res.result["deleted"] == ["fl-0ther", FL_ID]


def test_unsuccessful_create_fails(aws_stub, run_module):
    stub = aws_stub("ec2")
    stub.add_response("describe_flow_logs", {"FlowLogs": []}, FILTER)
    stub.add_response("create_flow_logs", {"FlowLogIds": [], "Unsuccessful": [
        {"ResourceId": VPC, "Error": {"Code": "400", "Message": "Access Denied for LogDestination"}}]},
        expected_create())
    res = run_module(mod, ARGS)
    assert res.failed
    assert "Access Denied for LogDestination" in res.result["msg"]


def test_api_error_is_reported(aws_stub, run_module):
    stub = aws_stub("ec2")
    stub.add_client_error("describe_flow_logs", service_error_code="UnauthorizedOperation",
                          service_message="You are not authorized", http_status_code=403)
    res = run_module(mod, ARGS)
    assert res.failed
    assert res.result["error"]["code"] == "UnauthorizedOperation"


@pytest.mark.parametrize("args, fragment", [
    ({"resource_id": VPC, "log_group_name": GROUP}, "requires deliver_logs_permission_arn"),
    ({"resource_id": VPC, "destination_type": "s3"}, "requires log_destination"),
    ({"resource_id": VPC, "destination_type": "s3", "log_destination": "my-bucket"}, "must be an S3 bucket ARN"),
])
def test_invalid_input_fails_before_any_call(aws_stub, run_module, args, fragment):
    aws_stub("ec2")
    res = run_module(mod, args)
    assert res.failed
    assert fragment in res.result["msg"]
