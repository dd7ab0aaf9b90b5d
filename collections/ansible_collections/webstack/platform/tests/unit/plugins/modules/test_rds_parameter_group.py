"""Unit tests for webstack.platform.rds_parameter_group (botocore Stubber, no emulator)."""

from __future__ import annotations

from ansible_collections.webstack.platform.plugins.modules import rds_parameter_group as mod

NAME = "webstack-prod-postgres15"
ARN = f"arn:aws:rds:us-east-1:123456789012:pg:{NAME}"
GROUP = {"DBParameterGroupName": NAME, "DBParameterGroupFamily": "postgres15",
         "Description": "webstack prod", "DBParameterGroupArn": ARN}
TAGS = [{"Key": "Project", "Value": "webstack"}]
ARGS = {"name": NAME, "family": "postgres15", "description": "webstack prod",
        "parameters": {"rds.force_ssl": True, "log_min_duration_statement": 500,
                       "shared_preload_libraries": "pg_stat_statements"},
        "tags": {"Project": "webstack"}}


def param(name, value=None, source="user", apply_type="dynamic", modifiable=True):
    """A DescribeDBParameters item shaped like the RDS API reference."""
    data = {"ParameterName": name, "Source": source, "ApplyType": apply_type, "DataType": "string",
            "IsModifiable": modifiable, "ApplyMethod": "pending-reboot" if apply_type == "static" else "immediate"}
    if value is not None:
        data["ParameterValue"] = value
    return data


ENGINE_LISTING = [
    param("rds.force_ssl", "0", source="engine-default"),
    param("log_min_duration_statement", source="engine-default"),
    param("shared_preload_libraries", "pg_stat_statements", source="engine-default", apply_type="static"),
    param("rds.extensions", "a,b", source="system", modifiable=False),
]
USER = [param("rds.force_ssl", "1"), param("log_min_duration_statement", "500"),
        param("shared_preload_libraries", "pg_stat_statements", apply_type="static")]


def describe(stub, groups):
    stub.add_response("describe_db_parameter_groups", {"DBParameterGroups": groups}, {"DBParameterGroupName": NAME})


def test_create_sets_parameters_with_apply_type(aws_stub, run_module):
    stub = aws_stub("rds")
    stub.add_client_error("describe_db_parameter_groups", service_error_code="DBParameterGroupNotFound",
                          service_message="not found", http_status_code=404)
    stub.add_response("create_db_parameter_group", {"DBParameterGroup": GROUP},
                      {"DBParameterGroupName": NAME, "DBParameterGroupFamily": "postgres15",
                       "Description": "webstack prod", "Tags": TAGS})
    stub.add_response("describe_db_parameters", {"Parameters": ENGINE_LISTING}, {"DBParameterGroupName": NAME})
    stub.add_response("modify_db_parameter_group", {"DBParameterGroupName": NAME}, {
        "DBParameterGroupName": NAME, "Parameters": [
            {"ParameterName": "log_min_duration_statement", "ParameterValue": "500", "ApplyMethod": "immediate"},
            {"ParameterName": "rds.force_ssl", "ParameterValue": "1", "ApplyMethod": "immediate"},
            {"ParameterName": "shared_preload_libraries", "ParameterValue": "pg_stat_statements",
             "ApplyMethod": "pending-reboot"},
        ]})
    res = run_module(mod, ARGS)
    assert not res.failed, res.result
    assert res.result["changed"] is True
    assert res.result["parameter_group"]["parameters"]["rds.force_ssl"] == "1"


def test_empty_describe_answer_means_not_found(aws_stub, run_module):
    """moto answers DescribeDBParameterGroups for an unknown name with an empty list."""
    stub = aws_stub("rds")
    describe(stub, [])
    res = run_module(mod, ARGS, check_mode=True)
    assert res.result["changed"] is True and res.result["changes"] == ["state"]


def test_noop_reads_only_user_parameters(aws_stub, run_module):
    stub = aws_stub("rds")
    describe(stub, [GROUP])
    stub.add_response("describe_db_parameters", {"Parameters": USER}, {"DBParameterGroupName": NAME, "Source": "user"})
    stub.add_response("list_tags_for_resource", {"TagList": TAGS}, {"ResourceName": ARN})
    res = run_module(mod, ARGS)
    assert not res.failed, res.result
    assert res.result["changed"] is False


def test_drift_check_mode_then_repair(aws_stub, run_module):
    stub = aws_stub("rds")
    drifted = [param("rds.force_ssl", "0"), USER[1], USER[2]]
    for _ in range(2):
        describe(stub, [GROUP])
        stub.add_response("describe_db_parameters", {"Parameters": drifted},
                          {"DBParameterGroupName": NAME, "Source": "user"})
        stub.add_response("describe_db_parameters", {"Parameters": ENGINE_LISTING}, {"DBParameterGroupName": NAME})
        stub.add_response("list_tags_for_resource", {"TagList": TAGS}, {"ResourceName": ARN})
        if _ == 1:
            stub.add_response("modify_db_parameter_group", {"DBParameterGroupName": NAME}, {
                "DBParameterGroupName": NAME, "Parameters": [
                    {"ParameterName": "rds.force_ssl", "ParameterValue": "1", "ApplyMethod": "immediate"}]})
    res = run_module(mod, ARGS, check_mode=True, diff=True)
    assert res.result["changed"] is True
    assert res.result["changes"] == ["parameters.rds.force_ssl"]
    assert res.result["diff"] == {"before": {"parameters": {"rds.force_ssl": "0"}},
                                  "after": {"parameters": {"rds.force_ssl": "1"}}}
    res = run_module(mod, ARGS)
    assert not res.failed, res.result
    assert res.result["changed"] is True


def test_purge_parameters_resets_unlisted(aws_stub, run_module):
    stub = aws_stub("rds")
    describe(stub, [GROUP])
    stub.add_response("describe_db_parameters", {"Parameters": USER + [param("work_mem", "65536")]},
                      {"DBParameterGroupName": NAME, "Source": "user"})
    stub.add_response("reset_db_parameter_group", {"DBParameterGroupName": NAME}, {
        "DBParameterGroupName": NAME, "ResetAllParameters": False,
        "Parameters": [{"ParameterName": "work_mem", "ApplyMethod": "pending-reboot"}]})
    stub.add_response("list_tags_for_resource", {"TagList": TAGS}, {"ResourceName": ARN})
    res = run_module(mod, dict(ARGS, purge_parameters=True, tags=None))
    assert not res.failed, res.result
    assert res.result["changes"] == ["parameters.work_mem"]
    assert "work_mem" not in res.result["parameter_group"]["parameters"]


def test_not_modifiable_parameter_fails_naming_it(aws_stub, run_module):
    stub = aws_stub("rds")
    describe(stub, [GROUP])
    stub.add_response("describe_db_parameters", {"Parameters": USER}, {"DBParameterGroupName": NAME, "Source": "user"})
    stub.add_response("describe_db_parameters", {"Parameters": ENGINE_LISTING}, {"DBParameterGroupName": NAME})
    res = run_module(mod, dict(ARGS, parameters=dict(ARGS["parameters"], **{"rds.extensions": "c"})))
    assert res.failed
    assert "rds.extensions" in res.result["msg"]


def test_family_change_fails(aws_stub, run_module):
    stub = aws_stub("rds")
    describe(stub, [GROUP])
    res = run_module(mod, dict(ARGS, family="postgres16"))
    assert res.failed and "family" in res.result["msg"]


def test_modify_api_error_is_reported(aws_stub, run_module):
    stub = aws_stub("rds")
    describe(stub, [GROUP])
    stub.add_response("describe_db_parameters", {"Parameters": []}, {"DBParameterGroupName": NAME, "Source": "user"})
    stub.add_response("describe_db_parameters", {"Parameters": []}, {"DBParameterGroupName": NAME})
    stub.add_client_error("modify_db_parameter_group", service_error_code="InvalidParameterValue",
                          service_message="Could not find parameter with name: bogus", http_status_code=400)
    res = run_module(mod, {"name": NAME, "parameters": {"bogus": 1}})
    assert res.failed
    assert res.result["error"]["code"] == "InvalidParameterValue"


def test_delete_and_idempotent_delete(aws_stub, run_module):
    stub = aws_stub("rds")
    describe(stub, [GROUP])
    stub.add_response("delete_db_parameter_group", {}, {"DBParameterGroupName": NAME})
    res = run_module(mod, {"name": NAME, "state": "absent"})
    assert res.result["changed"] is True
    describe(stub, [])
    res = run_module(mod, {"name": NAME, "state": "absent"})
    assert res.result["changed"] is False


def test_values_are_converted_like_aws_stores_them():
    assert mod.to_aws_value(True) == "1"
    assert mod.to_aws_value(False) == "0"
    assert mod.to_aws_value(500) == "500"
    assert mod.to_aws_value(0.5) == "0.5"
    assert mod.to_aws_value(2.0) == "2"
