"""giftcrypto.platform.secretsmanager_rotation_schedule_info: the rotation schedules of secrets,
read-only, and the arguments under which community.aws.secretsmanager_secret leaves them alone.

The shapes are DescribeSecret's (Secrets Manager API reference, API_DescribeSecret.html: RotationEnabled,
RotationLambdaARN, RotationRules with AutomaticallyAfterDays, Duration, ScheduleExpression). The stock
module's own comparison (community.aws 11.2 secretsmanager_secret.rotation_match) is asked directly:
that is the behaviour the module works around (a schedule cancelled when no rotation_lambda is given,
in check mode too; a RotateSecret that rotates at once when the arguments differ from the schedule).
"""

from __future__ import annotations

import json

import boto3
import pytest
from ansible_collections.amazon.aws.plugins.module_utils.policy import compare_policies
from ansible_collections.community.aws.plugins.modules.secretsmanager_secret import Secret, rotation_match
from ansible_collections.giftcrypto.platform.plugins.module_utils.rotation_schedule import kept
from ansible_collections.giftcrypto.platform.plugins.modules import (
    secretsmanager_rotation_schedule_info as info,
)
from moto import mock_aws

from tests.unit import moto_modules
from tests.unit.moto_modules import REGION

aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(info)

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:giftcrypto-staging-secret-rotation"
SCHEDULED = {
    "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:giftcrypto/staging/postgres/app_rw-AbCdEf",
    "Name": "giftcrypto/staging/postgres/app_rw",
    "RotationEnabled": True,
    "RotationLambdaARN": FUNCTION,
    "RotationRules": {"AutomaticallyAfterDays": 30},
}


def _stock(kept):
    """The desired secret as community.aws.secretsmanager_secret builds it from these arguments."""
    kept = kept or {}
    return Secret(
        "giftcrypto/staging/postgres/app_rw",
        "string",
        "{}",
        lambda_arn=kept.get("rotation_lambda"),
        rotation_interval=kept.get("rotation_interval") or 30,
    )


def test_the_stock_module_cancels_a_schedule_it_is_not_told_about():
    # The behaviour this module exists for: no rotation_lambda, a schedule in place: no match, so the
    # stock module calls CancelRotateSecret (and in check mode too).
    assert not rotation_match(_stock(None), SCHEDULED)


@pytest.mark.parametrize(
    "described",
    [
        SCHEDULED,
        {**SCHEDULED, "RotationRules": {"AutomaticallyAfterDays": 7}},
        {"ARN": SCHEDULED["ARN"], "RotationEnabled": False},
        {"ARN": SCHEDULED["ARN"]},
        {},
    ],
)
def test_kept_arguments_make_the_stock_module_change_nothing(described):
    arguments = kept(described)
    assert arguments is not None
    assert rotation_match(_stock(arguments), described)


@pytest.mark.parametrize(
    "described",
    [
        # Rules the stock module cannot express: it would RotateSecret (at once) whatever it is given.
        {**SCHEDULED, "RotationRules": {"ScheduleExpression": "rate(10 days)"}},
        {**SCHEDULED, "RotationRules": {"AutomaticallyAfterDays": 30, "Duration": "2h"}},
        # Managed rotation without a function (RDS's own secrets).
        {**SCHEDULED, "RotationLambdaARN": ""},
    ],
)
def test_no_kept_arguments_where_the_stock_module_cannot_leave_the_schedule(described):
    assert kept(described) is None


@mock_aws
def test_reads_existing_and_missing_secrets_without_changing_anything(run_module):
    secrets = boto3.client("secretsmanager", region_name=REGION)
    arn = secrets.create_secret(Name="giftcrypto/staging/postgres/app_ro", SecretString="{}")["ARN"]
    result = run_module(
        {"secrets": ["giftcrypto/staging/postgres/app_ro", "giftcrypto/staging/postgres/gone"]}
    )
    assert result["rc"] == 0, result
    assert result["changed"] is False
    assert result["rotation_schedules"] == {
        "giftcrypto/staging/postgres/app_ro": {
            "exists": True,
            "arn": arn,
            "rotation_enabled": False,
            "rotation_lambda_arn": "",
            "rotation_rules": {},
            "kept": {"rotation_lambda": None, "rotation_interval": None},
            "resource_policy": None,
        },
        "giftcrypto/staging/postgres/gone": {
            "exists": False,
            "arn": "",
            "rotation_enabled": False,
            "rotation_lambda_arn": "",
            "rotation_rules": {},
            "kept": {"rotation_lambda": None, "rotation_interval": None},
            "resource_policy": None,
        },
    }


@mock_aws
def test_the_policy_in_place_is_answered_and_keeps_the_stock_module_from_deleting_it(run_module):
    """Handed the policy read here, community.aws.secretsmanager_secret neither deletes nor rewrites
    it (given none, it deletes it: a role run without its readers)."""
    secrets = boto3.client("secretsmanager", region_name=REGION)
    name = "giftcrypto/staging/postgres/app_rw"
    secrets.create_secret(Name=name, SecretString="{}")
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "OnlyTheNamedPrincipalsReadTheValue",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "secretsmanager:GetSecretValue",
                    "Resource": "*",
                    "Condition": {"ArnNotLike": {"aws:PrincipalArn": ["arn:aws:iam::123456789012:role/x"]}},
                }
            ],
        }
    )
    secrets.put_resource_policy(SecretId=name, ResourcePolicy=policy)
    result = run_module({"secrets": [name]})
    assert result["rc"] == 0, result
    answered = result["rotation_schedules"][name]["resource_policy"]
    assert json.loads(answered) == json.loads(policy)
    current = secrets.get_resource_policy(SecretId=name)["ResourcePolicy"]
    assert not compare_policies(answered, current), "the stock module would rewrite the policy"
    assert compare_policies(None, current), "given none, the stock module deletes the policy"


@mock_aws
def test_a_schedule_is_read_as_describe_secret_answers_it(run_module):
    with moto_modules.fake_operations({"DescribeSecret": lambda _params: SCHEDULED}):
        result = run_module({"secrets": ["giftcrypto/staging/postgres/app_rw"]})
    assert result["rc"] == 0, result
    (schedule,) = result["rotation_schedules"].values()
    assert schedule["rotation_enabled"] is True
    assert schedule["rotation_lambda_arn"] == FUNCTION
    assert schedule["rotation_rules"] == {"AutomaticallyAfterDays": 30}
    assert schedule["kept"] == {"rotation_lambda": FUNCTION, "rotation_interval": 30}


@mock_aws
def test_an_empty_name_is_refused_before_asking_aws(run_module):
    result = run_module({"secrets": ["giftcrypto/staging/postgres/app_rw", " "]})
    assert result["rc"] == 1
    assert result["problems"] == {"secrets": "one or more secret names or ARNs, none of them empty"}


@mock_aws
def test_an_aws_error_names_the_secret(run_module):
    def denied(_params):
        import botocore.exceptions

        raise botocore.exceptions.ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, "DescribeSecret"
        )

    with moto_modules.fake_operations({"DescribeSecret": denied}):
        result = run_module({"secrets": ["giftcrypto/staging/postgres/app_rw"]})
    assert result["rc"] == 1
    assert "the rotation schedule of giftcrypto/staging/postgres/app_rw (DescribeSecret)" in result["msg"]
