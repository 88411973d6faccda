"""giftcrypto.platform.secretsmanager_rotation_schedule: check mode, the schedule set without a
rotation (RotateImmediately=false), the no-op, a new period, turning rotation off, missing secrets
and the input guards, against moto in process.

https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html (RotationLambdaARN,
RotationRules.AutomaticallyAfterDays, RotateImmediately) and API_CancelRotateSecret.html.
"""

from __future__ import annotations

import io
import json
import zipfile
from unittest import mock

import boto3
import pytest
from ansible_collections.giftcrypto.platform.plugins.modules import secretsmanager_rotation_schedule
from moto import mock_aws

from tests.unit import moto_modules
from tests.unit.moto_modules import ACCOUNT_ID, REGION

PREFIX = "giftcrypto/test"
SECRETS = [f"{PREFIX}/postgres/app_rw", f"{PREFIX}/redis/app"]
FUNCTION = "giftcrypto-test-secret-rotation"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{FUNCTION}"
VALUE = {"username": "app_rw", "password": "initial-password-1"}  # pragma: allowlist secret

aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(secretsmanager_rotation_schedule)


@pytest.fixture(autouse=True)
def invocations():
    """moto invokes the function's steps through Docker, absent here (and printing on the module's
    output): the invocations are recorded instead, as a function that succeeds."""
    events: list[dict] = []

    def invoke(function, event=None):
        events.append(event)
        return "null", False, ""

    with mock.patch("moto.awslambda.models.LambdaFunction._invoke_lambda", invoke):
        yield events


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("secret_rotation.py", "def lambda_handler(event, context):\n    return None\n")
    return buffer.getvalue()


def _platform(secrets=SECRETS) -> None:
    role = boto3.client("iam", region_name=REGION).create_role(
        RoleName=FUNCTION,
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    boto3.client("lambda", region_name=REGION).create_function(
        FunctionName=FUNCTION,
        Runtime="python3.13",
        Role=role,
        Handler="secret_rotation.lambda_handler",
        Code={"ZipFile": _zip()},
    )
    client = boto3.client("secretsmanager", region_name=REGION)
    for secret in secrets:
        client.create_secret(Name=secret, SecretString=json.dumps(VALUE))


def _current(secret: str) -> dict:
    return json.loads(
        boto3.client("secretsmanager", region_name=REGION).get_secret_value(SecretId=secret)["SecretString"]
    )


@mock_aws
def test_check_set_noop_then_a_new_period_and_off(run_module, invocations):
    _platform()
    args = {"secrets": SECRETS, "rotation_lambda_arn": FUNCTION_ARN, "rotation_days": 30}

    result = run_module(args, check_mode=True)
    assert result["rc"] == 0 and result["changed"] is True, result
    assert result["planned"] == "update" and result["changes"] == SECRETS
    assert result["diff"]["before"][SECRETS[0]]["rotation_enabled"] is False
    assert result["rotation_schedules"][SECRETS[0]]["rotation_days"] == 30
    described = boto3.client("secretsmanager", region_name=REGION).describe_secret(SecretId=SECRETS[0])
    assert not described.get("RotationEnabled")

    assert invocations == []

    result = run_module(args)
    assert result["changed"] is True, result
    # As AWS does with RotateImmediately=false: only the function's testSecret step runs.
    assert sorted(event["SecretId"] for event in invocations) == SECRETS
    assert {event["Step"] for event in invocations} == {"testSecret"}
    for secret in SECRETS:
        schedule = result["rotation_schedules"][secret]
        assert schedule["rotation_enabled"] is True
        assert schedule["rotation_lambda_arn"] == FUNCTION_ARN
        assert schedule["rotation_days"] == 30
        assert schedule["arn"].split(":secret:")[1].startswith(secret)
        # RotateImmediately=false: the schedule only, the value unchanged.
        assert _current(secret) == VALUE

    for check_mode in (True, False):
        again = run_module(args, check_mode=check_mode)
        assert again["changed"] is False and again["planned"] == "none", again

    one = {**args, "rotation_days": 7}
    result = run_module(one, check_mode=True)
    assert result["changed"] is True and result["changes"] == SECRETS, result
    result = run_module(one)
    assert {entry["rotation_days"] for entry in result["rotation_schedules"].values()} == {7}
    assert run_module(one)["changed"] is False

    off = {"secrets": [SECRETS[1]], "state": "absent"}
    result = run_module(off, check_mode=True)
    assert result["changed"] is True and result["planned"] == "delete", result
    result = run_module(off)
    assert result["changed"] is True and result["rotation_schedules"] == {}, result
    described = boto3.client("secretsmanager", region_name=REGION).describe_secret(SecretId=SECRETS[1])
    assert not described.get("RotationEnabled")
    assert run_module(off)["changed"] is False
    assert _current(SECRETS[1]) == VALUE
    # The other secret keeps its schedule.
    assert run_module({**one, "secrets": SECRETS[:1]})["changed"] is False


@mock_aws
def test_a_missing_secret_is_unverified_in_check_mode_and_refused_before_any_change(run_module):
    _platform(secrets=SECRETS[:1])
    args = {"secrets": SECRETS, "rotation_lambda_arn": FUNCTION_ARN}
    result = run_module(args, check_mode=True)
    assert result["changed"] is True and result["unverified"] == [f"secret {SECRETS[1]}"], result
    result = run_module(args)
    assert result["rc"] == 1 and result["failed"] is True
    assert f"no secret {SECRETS[1]}" in result["msg"]
    # Refused before any change: the existing secret has no schedule either.
    described = boto3.client("secretsmanager", region_name=REGION).describe_secret(SecretId=SECRETS[0])
    assert not described.get("RotationEnabled")


@mock_aws
def test_no_value_in_the_result(run_module):
    _platform()
    result = run_module({"secrets": SECRETS, "rotation_lambda_arn": FUNCTION_ARN})
    assert VALUE["password"] not in json.dumps(result)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"rotation_days": 0}, "rotation_days: 1 to 1000 days, got 0"),
        ({"rotation_days": 1001}, "rotation_days: 1 to 1000 days, got 1001"),
        ({"rotation_lambda_arn": f"{FUNCTION_ARN}:live"}, "rotation_lambda_arn: a Lambda function ARN"),
        ({"rotation_lambda_arn": FUNCTION}, "rotation_lambda_arn: a Lambda function ARN"),
        ({"secrets": []}, "secrets: one or more secret names"),
        ({"secrets": ["a", ""]}, "secrets: one or more secret names"),
        ({"secrets": ["a", "a"]}, "secrets: each secret once, got a"),
    ],
)
@mock_aws
def test_bad_input_is_refused_by_name(run_module, changes, named):
    with moto_modules.fake_operations({"DescribeSecret": lambda p: {}}) as calls:
        result = run_module({"secrets": SECRETS, "rotation_lambda_arn": FUNCTION_ARN, **changes})
    assert result["rc"] == 1 and result["failed"] is True
    assert named in result["msg"]
    assert calls == []


@mock_aws
def test_present_needs_the_function(run_module):
    result = run_module({"secrets": SECRETS})
    assert result["rc"] == 1 and "rotation_lambda_arn" in result["msg"]
