"""giftcrypto.platform.rds_parameter_group against moto: create, no-op, update, check mode, tags,
purge (ResetDBParameterGroup, which moto lacks, answered by a stand-in), the family guard, the
catalogue checks of real RDS, batches of 20, delete, throttling retried."""

from __future__ import annotations

import json

import boto3
import botocore.client
import botocore.exceptions
import pytest
from ansible_collections.giftcrypto.platform.plugins.modules import rds_parameter_group
from moto import mock_aws

from tests.unit import moto_modules
from tests.unit.moto_modules import ACCOUNT_ID, REGION

NAME = "giftcrypto-test-postgres14"
ARN = f"arn:aws:rds:{REGION}:{ACCOUNT_ID}:pg:{NAME}"
PARAMETERS = {
    "rds.force_ssl": 1,
    "shared_preload_libraries": "pgaudit,pg_stat_statements",
    "pgaudit.log": "ddl,role",
    "log_min_duration_statement": 1000,
}
STORED = {key: str(value) for key, value in PARAMETERS.items()}
TAGS = {"Project": "GiftCrypto", "Environment": "test"}


aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(rds_parameter_group)


def _rds():
    return boto3.client("rds", region_name=REGION)


def _stored(name: str = NAME) -> dict | None:
    try:
        parameters = _rds().describe_db_parameters(DBParameterGroupName=name)["Parameters"]
    except _rds().exceptions.DBParameterGroupNotFoundFault:
        return None
    return {p["ParameterName"]: p["ParameterValue"] for p in parameters}


def _tags(name: str = NAME) -> dict:
    arn = f"arn:aws:rds:{REGION}:{ACCOUNT_ID}:pg:{name}"
    return {t["Key"]: t["Value"] for t in _rds().list_tags_for_resource(ResourceName=arn)["TagList"]}


def _args(**changes) -> dict:
    return {
        "name": NAME,
        "family": "postgres14",
        "description": "GiftCrypto PostgreSQL 14",
        "parameters": PARAMETERS,
        "tags": TAGS,
        **changes,
    }


@mock_aws
def test_lifecycle_check_create_noop_update_delete(run_module):
    # Check mode on nothing: the group and every parameter are planned, nothing is stored.
    result = run_module(_args(), check_mode=True)
    assert result["rc"] == 0, result
    assert result["changed"] is True
    assert result["modified"] == sorted(PARAMETERS)
    assert result["parameters"] == STORED
    assert result["parameter_group"]["arn"] == ""
    assert result["diff"]["before"]["parameter_group"] == {}
    assert result["diff"]["after"]["parameters"] == STORED
    assert _stored() is None

    # Create: the group, its tags and its parameters.
    result = run_module(_args())
    assert result["changed"] is True, result
    assert result["parameter_group"] == {
        "name": NAME,
        "family": "postgres14",
        "description": "GiftCrypto PostgreSQL 14",
        "arn": ARN,
        "tags": TAGS,
    }
    assert result["parameters"] == STORED
    assert _stored() == STORED
    assert _tags() == TAGS

    # No-op, in check mode and for real (values given as text this time, same meaning).
    as_text = _args(parameters=STORED)
    for check_mode in (True, False):
        result = run_module(as_text, check_mode=check_mode)
        assert result["changed"] is False, result
        assert result["modified"] == [] and result["reset"] == []
        assert result["diff"]["before"]["parameters"] == result["diff"]["after"]["parameters"]

    # Update one value and a tag: check mode plans exactly that and stores nothing.
    updated = _args(
        parameters={**PARAMETERS, "log_min_duration_statement": 500}, tags={**TAGS, "Owner": "dba"}
    )
    result = run_module(updated, check_mode=True)
    assert result["changed"] is True
    assert result["modified"] == ["log_min_duration_statement"]
    assert result["diff"]["before"]["parameters"]["log_min_duration_statement"] == "1000"
    assert result["diff"]["after"]["parameters"]["log_min_duration_statement"] == "500"
    assert result["parameter_group"]["tags"] == {**TAGS, "Owner": "dba"}
    assert _stored() == STORED
    assert _tags() == TAGS
    result = run_module(updated)
    assert result["changed"] is True
    assert result["modified"] == ["log_min_duration_statement"]
    assert _stored()["log_min_duration_statement"] == "500"
    assert _tags() == {**TAGS, "Owner": "dba"}
    assert run_module(updated)["changed"] is False

    # Tags purged back to the listed ones.
    result = run_module(_args(parameters={**PARAMETERS, "log_min_duration_statement": 500}))
    assert result["changed"] is True
    assert result["modified"] == []
    assert _tags() == TAGS

    # Delete: check mode first, then for real, then nothing left.
    result = run_module({"name": NAME, "state": "absent"}, check_mode=True)
    assert result["changed"] is True
    assert _stored() is not None
    assert run_module({"name": NAME, "state": "absent"})["changed"] is True
    assert _stored() is None
    assert run_module({"name": NAME, "state": "absent"})["changed"] is False


@mock_aws
def test_booleans_become_one_and_zero(run_module):
    result = run_module(_args(parameters={"rds.force_ssl": True, "log_connections": False}, tags=None))
    assert result["changed"] is True, result
    assert _stored() == {"rds.force_ssl": "1", "log_connections": "0"}
    assert (
        run_module(_args(parameters={"rds.force_ssl": "1", "log_connections": 0}, tags=None))["changed"]
        is False
    )


@mock_aws
def test_unlisted_parameters_are_kept_unless_purged(run_module):
    run_module(_args(parameters={**PARAMETERS, "work_mem": "65536"}))
    # Not purging: work_mem stays and nothing changes.
    assert run_module(_args())["changed"] is False
    # Purging: work_mem is reset (moto has no ResetDBParameterGroup: a stand-in records the call).
    with moto_modules.fake_operations(
        {"ResetDBParameterGroup": lambda p: {"DBParameterGroupName": NAME}}
    ) as calls:
        planned = run_module(_args(purge_parameters=True), check_mode=True)
        assert calls == []
        result = run_module(_args(purge_parameters=True))
    assert planned["changed"] is True and planned["reset"] == ["work_mem"]
    assert result["changed"] is True, result
    assert result["reset"] == ["work_mem"]
    assert calls == [
        (
            "ResetDBParameterGroup",
            {
                "DBParameterGroupName": NAME,
                "ResetAllParameters": False,
                "Parameters": [{"ParameterName": "work_mem", "ApplyMethod": "immediate"}],
            },
        )
    ]


@mock_aws
def test_more_than_twenty_parameters_go_in_batches(run_module):
    many = {f"param_{n:02d}": n for n in range(45)}
    original = botocore.client.BaseClient._make_api_call
    sizes = []

    def counting(self, operation_name, api_params):
        if operation_name == "ModifyDBParameterGroup":
            sizes.append(len(api_params["Parameters"]))
        return original(self, operation_name, api_params)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.client.BaseClient, "_make_api_call", counting)
        assert run_module(_args(parameters=many, tags=None))["changed"] is True
    assert sizes == [20, 20, 5]
    assert _stored() == {key: str(value) for key, value in many.items()}


@mock_aws
def test_a_family_cannot_change(run_module):
    run_module(_args())
    result = run_module(_args(family="postgres15"))
    assert result["rc"] == 1 and result["failed"] is True
    assert "family=postgres15" in result["msg"]
    assert "exists with the family postgres14" in result["msg"]
    assert _stored() == STORED


@mock_aws
def test_a_new_group_needs_its_family(run_module):
    result = run_module({"name": NAME, "parameters": PARAMETERS})
    assert result["rc"] == 1
    assert "family is required to create the parameter group" in result["msg"]
    assert _stored() is None


@mock_aws
def test_a_description_change_only_warns(run_module):
    run_module(_args())
    result = run_module(_args(description="another text"))
    assert result["changed"] is False
    assert "cannot be changed by RDS" in json.dumps(result.get("warnings", []))


def _catalogue(extra: dict | None = None) -> dict:
    """DescribeDBParameters as real RDS answers it: every parameter of the family, with its source."""

    def parameter(name, source, apply_type, value=None, modifiable=True):
        found = {"ParameterName": name, "Source": source, "ApplyType": apply_type, "IsModifiable": modifiable}
        if value is not None:
            found["ParameterValue"] = value
        return found

    parameters = [
        parameter("rds.force_ssl", "system", "dynamic", "0"),
        parameter("shared_preload_libraries", "system", "static", "pg_stat_statements"),
        parameter("pgaudit.log", "engine-default", "dynamic"),
        parameter("log_min_duration_statement", "engine-default", "dynamic"),
        parameter("rds.extensions", "system", "static", "pgaudit", modifiable=False),
    ]
    for parameter in parameters:
        parameter.update((extra or {}).get(parameter["ParameterName"], {}))
    return {"Parameters": parameters}


@mock_aws
def test_on_real_rds_static_parameters_wait_for_a_reboot(run_module):
    run_module(_args(parameters={}, tags=None))
    with moto_modules.fake_operations(
        {
            "DescribeDBParameters": lambda p: _catalogue(),
            "ModifyDBParameterGroup": lambda p: {"DBParameterGroupName": NAME},
        }
    ) as calls:
        result = run_module(_args(tags=None))
    assert result["changed"] is True, result
    methods = {p["ParameterName"]: p["ApplyMethod"] for _, params in calls[1:2] for p in params["Parameters"]}
    assert methods == {
        "log_min_duration_statement": "immediate",
        "pgaudit.log": "immediate",
        "rds.force_ssl": "immediate",
        "shared_preload_libraries": "pending-reboot",
    }


@mock_aws
@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"rds.force_sll": 1}, "not parameters of family postgres14: rds.force_sll"),
        ({"rds.extensions": "pgcrypto"}, "cannot be modified: rds.extensions"),
    ],
)
def test_on_real_rds_unknown_or_fixed_parameters_are_refused(run_module, parameters, message):
    run_module(_args(parameters={}, tags=None))
    with moto_modules.fake_operations({"DescribeDBParameters": lambda p: _catalogue()}) as calls:
        result = run_module(_args(parameters=parameters, tags=None))
    assert result["rc"] == 1, result
    assert message in result["msg"]
    assert [name for name, _ in calls] == ["DescribeDBParameters"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"name": "1abc"}, "name=1abc: a letter then"),
        ({"name": "two--hyphens"}, "name=two--hyphens"),
        ({"name": "ends-"}, "name=ends-"),
        ({"family": "Postgres 14"}, "family=Postgres 14"),
        ({"parameters": {"bad name; DROP": 1}}, "is not a parameter name"),
        ({"parameters": {"work_mem": [1, 2]}}, "parameters.work_mem: a value must be text"),
    ],
)
@mock_aws
def test_bad_input_is_refused_before_any_call(run_module, args, message):
    result = run_module(_args(**args))
    assert result["rc"] == 1, result
    assert message in result["msg"]
    assert _rds().describe_db_parameter_groups()["DBParameterGroups"] == [] or all(
        g["DBParameterGroupName"].startswith("default.")
        for g in _rds().describe_db_parameter_groups()["DBParameterGroups"]
    )


@mock_aws
def test_throttling_is_retried(run_module, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda _s: None)
    original = botocore.client.BaseClient._make_api_call
    throttled = []

    def throttle_once(self, operation_name, api_params):
        if operation_name == "CreateDBParameterGroup" and not throttled:
            throttled.append(operation_name)
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, operation_name
            )
        return original(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", throttle_once)
    result = run_module(_args())
    assert throttled == ["CreateDBParameterGroup"]
    assert result["changed"] is True, result
    assert _stored() == STORED
