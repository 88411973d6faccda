"""giftcrypto.platform.cloudwatch_dashboard against moto: create, no-op, update, check mode, delete,
bad bodies refused, throttling retried."""

from __future__ import annotations

import json

import boto3
import botocore.client
import botocore.exceptions
import pytest
from ansible_collections.giftcrypto.platform.plugins.modules import cloudwatch_dashboard
from moto import mock_aws

from tests.unit import moto_modules
from tests.unit.moto_modules import ACCOUNT_ID, REGION

NAME = "giftcrypto-test-overview"


aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(cloudwatch_dashboard)


def _widget(title: str, metric: str) -> dict:
    return {
        "type": "metric",
        "x": 0,
        "y": 0,
        "width": 12,
        "height": 6,
        "properties": {
            "title": title,
            "region": REGION,
            "metrics": [["AWS/RDS", metric, "DBInstanceIdentifier", "giftcrypto-test"]],
        },
    }


BODY = {"widgets": [_widget("RDS CPU", "CPUUtilization")]}
UPDATED = {"widgets": [_widget("RDS CPU", "CPUUtilization"), _widget("Connections", "DatabaseConnections")]}


def _stored(name: str = NAME) -> dict | None:
    client = boto3.client("cloudwatch", region_name=REGION)
    try:
        return json.loads(client.get_dashboard(DashboardName=name)["DashboardBody"])
    except client.exceptions.ResourceNotFound:
        return None


@mock_aws
def test_lifecycle_check_create_noop_update_delete(run_module):
    # Check mode on nothing: a creation is planned, nothing is stored.
    result = run_module({"name": NAME, "body": BODY}, check_mode=True)
    assert result["rc"] == 0, result
    assert result["changed"] is True
    assert result["arn"] == ""
    assert result["body"] == BODY
    assert result["planned"] == "create"
    assert result["diff"]["before"] == {}
    assert result["diff"]["after"] == {"name": NAME, "arn": "", "body": BODY}
    assert _stored() is None

    # Create.
    result = run_module({"name": NAME, "body": BODY})
    assert result["changed"] is True, result
    assert result["arn"] == f"arn:aws:cloudwatch::{ACCOUNT_ID}:dashboard/{NAME}"
    assert result["body"] == BODY
    assert _stored() == BODY

    # No-op, in check mode and for real, the body given as a JSON string with other key order
    # and whitespace this time.
    text = json.dumps({"widgets": [dict(reversed(list(BODY["widgets"][0].items())))]}, indent=4)
    result = run_module({"name": NAME, "body": text}, check_mode=True)
    assert result["changed"] is False, result
    result = run_module({"name": NAME, "body": text})
    assert result["changed"] is False, result
    assert result["diff"]["before"] == result["diff"]["after"]
    assert result["arn"].endswith(f":dashboard/{NAME}")

    # Update: check mode plans it and leaves the stored body alone, then it is applied.
    result = run_module({"name": NAME, "body": UPDATED}, check_mode=True)
    assert result["changed"] is True
    assert result["changes"] == ["body"]
    assert result["diff"]["before"]["body"] == BODY
    assert result["diff"]["after"]["body"] == UPDATED
    assert _stored() == BODY
    result = run_module({"name": NAME, "body": UPDATED})
    assert result["changed"] is True
    assert result["body"] == UPDATED
    assert _stored() == UPDATED
    assert run_module({"name": NAME, "body": UPDATED})["changed"] is False

    # Delete: check mode first, then for real, then nothing left to delete.
    result = run_module({"name": NAME, "state": "absent"}, check_mode=True)
    assert result["changed"] is True
    assert result["diff"]["before"]["body"] == UPDATED
    assert result["diff"]["after"] == {}
    assert _stored() == UPDATED
    result = run_module({"name": NAME, "state": "absent"})
    assert result["changed"] is True
    assert result["arn"] == ""
    assert _stored() is None
    assert run_module({"name": NAME, "state": "absent"})["changed"] is False


@mock_aws
def test_other_dashboards_are_left_alone(run_module):
    other = {"widgets": [_widget("Other", "FreeStorageSpace")]}
    assert run_module({"name": "someone-elses", "body": other})["changed"] is True
    assert run_module({"name": NAME, "body": BODY})["changed"] is True
    assert run_module({"name": NAME, "state": "absent"})["changed"] is True
    assert _stored("someone-elses") == other


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('{"widgets": [', "not valid JSON"),
        ("not json at all", "not valid JSON"),
        ("[1, 2]", "must be a JSON object with a widgets list, not list"),
        ('{"widget": []}', "must be a JSON object with a widgets list"),
        ({"widgets": {"type": "text"}}, "must be a JSON object with a widgets list"),
    ],
)
@mock_aws
def test_bad_body_is_refused_before_any_call(run_module, body, problem):
    result = run_module({"name": NAME, "body": body})
    assert result["failed"] is True
    assert result["msg"].startswith("Refused before any change: body: ")
    assert problem in result["msg"]
    assert boto3.client("cloudwatch", region_name=REGION).list_dashboards()["DashboardEntries"] == []


@mock_aws
def test_bad_name_and_missing_body_are_refused(run_module):
    result = run_module({"name": "has spaces", "body": BODY})
    assert result["failed"] is True
    assert "letters, digits, hyphens or underscores" in result["msg"]
    result = run_module({"name": NAME})
    assert result["failed"] is True
    assert result["msg"] == "state is present but all of the following are missing: body"


@mock_aws
def test_throttled_calls_are_retried(run_module, monkeypatch):
    # No real sleeping between the attempts of the jittered backoff.
    monkeypatch.setattr("time.sleep", lambda _seconds: None)
    client = boto3.client("cloudwatch", region_name=REGION)
    store = botocore.client.BaseClient._make_api_call  # moto's answer, before the fake is in place

    def put_throttled_once(params):
        if len(calls) == 1:
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "PutDashboard"
            )
        store(client, "PutDashboard", params)
        return {"DashboardValidationMessages": [{"DataPath": "/widgets/0", "Message": "looks odd"}]}

    with moto_modules.fake_operations({"PutDashboard": put_throttled_once}) as calls:
        result = run_module({"name": NAME, "body": BODY})
    assert result["changed"] is True, result
    assert [operation for operation, _ in calls] == ["PutDashboard", "PutDashboard"]
    assert result["validation_messages"] == [{"data_path": "/widgets/0", "message": "looks odd"}]
    assert _stored() == BODY


@pytest.mark.parametrize(
    ("operation", "state", "message"),
    [
        ("GetDashboard", "present", f"Could not read the CloudWatch dashboard {NAME}"),
        ("PutDashboard", "present", f"Could not update the CloudWatch dashboard {NAME}"),
        ("DeleteDashboards", "absent", f"Could not delete the CloudWatch dashboard {NAME}"),
    ],
)
@mock_aws
def test_api_failures_are_reported(run_module, operation, state, message):
    boto3.client("cloudwatch", region_name=REGION).put_dashboard(DashboardName=NAME, DashboardBody="{}")

    def denied(_params):
        raise botocore.exceptions.ClientError(
            {"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, operation
        )

    args = {"name": NAME, "state": state, **({"body": UPDATED} if state == "present" else {})}
    with moto_modules.fake_operations({operation: denied}):
        result = run_module(args)
    assert result["failed"] is True
    assert result["msg"].startswith(message), result["msg"]
    assert "AccessDenied" in str(result.get("error", result))


@mock_aws
def test_a_dashboard_deleted_meanwhile_is_deleted(run_module):
    boto3.client("cloudwatch", region_name=REGION).put_dashboard(DashboardName=NAME, DashboardBody="{}")

    def gone(_params):
        raise botocore.exceptions.ClientError(
            {"Error": {"Code": "ResourceNotFound", "Message": "Dashboard does not exist"}}, "DeleteDashboards"
        )

    with moto_modules.fake_operations({"DeleteDashboards": gone}):
        result = run_module({"name": NAME, "state": "absent"})
    assert result["changed"] is True, result
