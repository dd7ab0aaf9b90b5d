"""webstack.platform.vpc_flow_log through ansible-playbook against moto."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.aws


def test_cloudwatch_flow_log_create_converge_check_drift_delete(moto, run_playbook):
    moto.reset()
    ec2, logs, iam = moto.client("ec2"), moto.client("logs"), moto.client("iam")
    vpc_id = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    logs.create_log_group(logGroupName="/h4-it/flow")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "vpc-flow-logs.amazonaws.com"}}]}
    role_arn = iam.create_role(RoleName="h4-it-flow", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]

    def task(**overrides):
        args = {"resource_id": vpc_id, "log_group_name": "/h4-it/flow", "deliver_logs_permission_arn": role_arn,
                "traffic_type": "ALL", "max_aggregation_interval": 60, "tags": {"Project": "webstack"}}
        args.update(overrides)
        return {"name": "flow log", "webstack.platform.vpc_flow_log": args}

    moto.start_recording()
    stats, results = run_playbook([task()])
    assert stats["changed"] == 1 and stats["failures"] == 0, results
    assert moto.recorded_actions().count("CreateFlowLogs") == 1
    flow_logs = ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["FlowLogs"]
    assert len(flow_logs) == 1
    assert flow_logs[0]["LogGroupName"] == "/h4-it/flow"
    assert flow_logs[0]["DeliverLogsPermissionArn"] == role_arn
    assert flow_logs[0]["MaxAggregationInterval"] == 60
    assert {t["Key"]: t["Value"] for t in flow_logs[0]["Tags"]} == {"Project": "webstack"}

    moto.start_recording()
    stats, results = run_playbook([task()])
    assert stats["changed"] == 0, results
    assert moto.recorded_actions() == ["DescribeFlowLogs"]  # a no-op is one read call

    moto.start_recording()
    stats, results = run_playbook([task()], check=True, diff=True)
    assert stats["changed"] == 0, results
    assert moto.mutating(moto.recorded_actions()) == []

    # Drift (tag removed): check mode reports it only; a normal run repairs it in place.
    ec2.delete_tags(Resources=[flow_logs[0]["FlowLogId"]], Tags=[{"Key": "Project"}])
    moto.start_recording()
    stats, results = run_playbook([task()], check=True, diff=True)
    assert stats["changed"] == 1 and results[0]["changes"] == ["tags"], results
    assert moto.mutating(moto.recorded_actions()) == []
    stats, results = run_playbook([task()])
    assert stats["changed"] == 1, results
    after = ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["FlowLogs"]
    assert [fl["FlowLogId"] for fl in after] == [flow_logs[0]["FlowLogId"]]
    assert {t["Key"]: t["Value"] for t in after[0]["Tags"]} == {"Project": "webstack"}

    # A changed traffic type replaces the flow log (AWS cannot modify one).
    stats, results = run_playbook([task(traffic_type="REJECT")])
    assert stats["changed"] == 1 and results[0]["deleted"] == [flow_logs[0]["FlowLogId"]], results
    after = ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["FlowLogs"]
    assert len(after) == 1 and after[0]["TrafficType"] == "REJECT"

    stats, results = run_playbook([{"webstack.platform.vpc_flow_log": {"resource_id": vpc_id, "state": "absent"}}])
    assert stats["changed"] == 1, results
    stats, results = run_playbook([{"webstack.platform.vpc_flow_log": {"resource_id": vpc_id, "state": "absent"}}])
    assert stats["changed"] == 0, results
    assert ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["FlowLogs"] == []


def test_s3_flow_log_is_idempotent(moto, run_playbook):
    moto.reset()
    ec2, s3 = moto.client("ec2"), moto.client("s3")
    vpc_id = ec2.create_vpc(CidrBlock="10.43.0.0/16")["Vpc"]["VpcId"]
    s3.create_bucket(Bucket="h4-it-logs")
    task = {"webstack.platform.vpc_flow_log": {"resource_id": vpc_id, "destination_type": "s3",
                                               "log_destination": "arn:aws:s3:::h4-it-logs"}}
    stats, results = run_playbook([task, task])
    assert stats["changed"] == 1 and stats["failures"] == 0, results
    assert [r["changed"] for r in results] == [True, False]
