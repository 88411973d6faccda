"""The resource policy every generated secret carries (plugins/filter/secrets.py, ADR 0017)."""

from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.giftcrypto.platform.plugins.filter.secrets import (
    FilterModule,
    as_aws_returns_it,
    secret_read_policy,
)

ACCOUNT = "123456789012"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/giftcrypto-local-admin"
APP = f"arn:aws:iam::{ACCOUNT}:role/giftcrypto-local-app"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_Deploy_0123/alice@example.com"


def _statement(policy: str) -> dict:
    (statement,) = json.loads(policy)["Statement"]
    return statement


def test_only_reading_is_denied_to_all_but_the_readers():
    statement = _statement(secret_read_policy("p/e/rds/master", {"*": [ADMIN]}))
    assert statement["Effect"] == "Deny"
    assert statement["Principal"] == "*"
    # Nothing but the value: the deploy keeps describing, updating and re-setting this policy.
    assert statement["Action"] == "secretsmanager:GetSecretValue"
    assert list(statement["Condition"]) == ["ArnNotLike"]
    assert statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"] == [
        f"arn:aws:iam::{ACCOUNT}:role/*/giftcrypto-local-admin",
        ADMIN,
    ]


def test_an_assumed_roles_session_is_named_by_its_role_with_or_without_a_path():
    """aws:PrincipalArn of a role session is the role's ARN with its path (IAM Identity Center's
    aws-reserved/sso.amazonaws.com/...), which the session's ARN does not carry."""
    readers = _statement(secret_read_policy("s", {"*": [SESSION]}))["Condition"]["ArnNotLike"][
        "aws:PrincipalArn"
    ]
    assert readers == [
        f"arn:aws:iam::{ACCOUNT}:role/*/AWSReservedSSO_Deploy_0123",
        f"arn:aws:iam::{ACCOUNT}:role/AWSReservedSSO_Deploy_0123",
    ]


def test_a_role_with_a_path_users_and_the_root_are_named_as_given():
    named = [
        f"arn:aws:iam::{ACCOUNT}:role/service-role/ci",
        f"arn:aws:iam::{ACCOUNT}:user/ops/bob",
        f"arn:aws:iam::{ACCOUNT}:root",
    ]
    readers = _statement(secret_read_policy("s", {"*": named}))["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
    assert readers == sorted(named)


def test_a_secrets_own_readers_add_to_everyones_and_only_for_that_secret():
    readers = {"*": [ADMIN], "p/e/postgres/app_rw": [APP]}
    own = _statement(secret_read_policy("p/e/postgres/app_rw", readers))["Condition"]["ArnNotLike"][
        "aws:PrincipalArn"
    ]
    other = _statement(secret_read_policy("p/e/postgres/migrator", readers))["Condition"]["ArnNotLike"][
        "aws:PrincipalArn"
    ]
    assert APP in own and ADMIN in own
    assert APP not in other and ADMIN in other


def test_the_same_readers_give_the_same_document():
    """A second run compares equal (changed=0): order and repeats of the readers do not matter."""
    assert secret_read_policy("s", {"*": [APP, ADMIN, APP]}) == secret_read_policy("s", {"*": [ADMIN, APP]})


def test_nobody_named_means_no_policy_rather_than_a_deny_of_everyone():
    assert secret_read_policy("s", {}) is None
    assert secret_read_policy("s", {"other": [ADMIN]}) is None


@pytest.mark.parametrize(
    ("name", "readers", "message"),
    [
        ("", {"*": [ADMIN]}, "the secret's name"),
        ("s", [ADMIN], "must map a secret's name"),
        ("s", {"*": ADMIN}, "must be a list of ARNs"),
        ("s", {"*": ["giftcrypto-local-admin"]}, "must be the ARN of an IAM principal"),
        ("s", {"*": ["arn:aws:s3:::bucket"]}, "must be the ARN of an IAM principal"),
    ],
)
def test_bad_input_is_refused_naming_the_rule(name, readers, message):
    with pytest.raises(AnsibleFilterError, match=message):
        secret_read_policy(name, readers)


def test_the_collection_exposes_the_filter():
    assert FilterModule().filters()["secret_read_policy"] is secret_read_policy


def test_the_policy_is_written_as_secrets_manager_returns_it():
    """community.aws.secretsmanager_secret compares the policy with GetResourcePolicy's answer as text.
    AWS answers re-serialized (crossplane-contrib/provider-aws issue 1804 shows a policy sent with a
    one-element principal list coming back like this), so the filter writes that form: a second run
    on AWS then finds the same text (changed=0)."""
    sent = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ["arn:aws:iam::ACCOUNTID:role/random/aws/role"]},
                "Action": "secretsmanager:GetSecretValue",
                "Resource": "*",
            }
        ],
    }
    assert as_aws_returns_it(sent) == (
        "{\n"
        '  "Version" : "2012-10-17",\n'
        '  "Statement" : [ {\n'
        '    "Effect" : "Allow",\n'
        '    "Principal" : {\n'
        '      "AWS" : "arn:aws:iam::ACCOUNTID:role/random/aws/role"\n'
        "    },\n"
        '    "Action" : "secretsmanager:GetSecretValue",\n'
        '    "Resource" : "*"\n'
        "  } ]\n"
        "}"
    )
    policy = secret_read_policy("s", {"*": [ADMIN]})
    assert as_aws_returns_it(json.loads(policy)) == policy
    assert '"aws:PrincipalArn" : [ "arn:aws:iam::123456789012:role/*/giftcrypto-local-admin", ' in policy
