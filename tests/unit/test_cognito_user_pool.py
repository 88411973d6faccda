"""giftcrypto.platform.cognito_user_pool and cognito_user_pool_client against moto: check mode,
create, no-op, update (settings the modules do not manage are kept), refusals, delete."""

from __future__ import annotations

import boto3
from ansible_collections.giftcrypto.platform.plugins.modules import (
    cognito_user_pool,
    cognito_user_pool_client,
)
from moto import mock_aws

from tests.unit import moto_modules
from tests.unit.moto_modules import REGION

aws_environment, botocore_loader, run_pool = moto_modules.module_fixtures(cognito_user_pool)

ADMINS = {
    "name": "giftcrypto-test-admins",
    "password_policy": {"minimum_length": 14, "password_history_size": 5},
    "mfa": "ON",
    "tier": "PLUS",
    "advanced_security_mode": "ENFORCED",
    "deletion_protection": False,
    "tags": {"Project": "GiftCrypto"},
}


def idp():
    return boto3.client("cognito-idp", region_name=REGION)


def _pools() -> list[dict]:
    return idp().list_user_pools(MaxResults=60)["UserPools"]


@mock_aws
def test_pool_lifecycle(run_pool):
    result = run_pool(ADMINS, check_mode=True)
    assert result["changed"] is True, result
    assert result["planned"] == "create"
    assert result["user_pool_id"] == ""
    assert result["diff"]["after"]["mfa"] == "ON"
    assert _pools() == []

    result = run_pool(ADMINS)
    assert result["changed"] is True, result
    pool_id = result["user_pool_id"]
    assert pool_id.startswith(f"{REGION}_")
    assert result["issuer"] == f"https://cognito-idp.{REGION}.amazonaws.com/{pool_id}"
    pool = result["user_pool"]
    assert pool["mfa"] == "ON"
    assert pool["software_token_mfa"] is True
    assert pool["tier"] == "PLUS"
    assert pool["advanced_security_mode"] == "ENFORCED"
    assert pool["password_policy"]["minimum_length"] == 14
    assert pool["password_policy"]["password_history_size"] == 5
    assert pool["admin_create_user_only"] is True
    assert pool["tags"] == {"Project": "GiftCrypto"}
    described = idp().describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert described["Policies"]["PasswordPolicy"]["RequireSymbols"] is True
    mfa = idp().get_user_pool_mfa_config(UserPoolId=pool_id)
    assert mfa["MfaConfiguration"] == "ON"
    assert mfa["SoftwareTokenMfaConfiguration"] == {"Enabled": True}

    assert run_pool(ADMINS, check_mode=True)["changed"] is False
    result = run_pool(ADMINS)
    assert result["changed"] is False
    assert result["planned"] == "none"

    # A setting the module does not manage survives an update (UpdateUserPool resets what it is not sent).
    idp().update_user_pool(
        UserPoolId=pool_id,
        MfaConfiguration="ON",
        AutoVerifiedAttributes=["email"],
        Policies=described["Policies"],
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": True},
        UserPoolTier="PLUS",
        UserPoolAddOns={"AdvancedSecurityMode": "ENFORCED"},
        DeletionProtection="INACTIVE",
        UserPoolTags={"Project": "GiftCrypto"},
    )
    changed = {
        **ADMINS,
        "password_policy": {"minimum_length": 16},
        "mfa": "OPTIONAL",
        "deletion_protection": True,
    }
    result = run_pool(changed, check_mode=True)
    assert result["changed"] is True
    assert sorted(result["changes"]) == ["deletion_protection", "mfa", "password_policy"]
    assert idp().describe_user_pool(UserPoolId=pool_id)["UserPool"]["DeletionProtection"] == "INACTIVE"
    result = run_pool(changed)
    assert result["changed"] is True
    assert result["user_pool"]["mfa"] == "OPTIONAL"
    assert result["user_pool"]["deletion_protection"] is True
    described = idp().describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert described["Policies"]["PasswordPolicy"]["MinimumLength"] == 16
    assert described["AutoVerifiedAttributes"] == ["email"]
    assert run_pool(changed)["changed"] is False

    # Tags: moto has no TagResource / UntagResource (the endpoint's fidelity layer adds them), so
    # their calls are answered here and checked.
    with moto_modules.fake_operations({"TagResource": lambda p: {}, "UntagResource": lambda p: {}}) as calls:
        result = run_pool({**changed, "tags": {"Layer": "auth"}})
    assert result["changes"] == ["tags"]
    arn = result["user_pool"]["arn"]
    assert calls == [
        ("UntagResource", {"ResourceArn": arn, "TagKeys": ["Project"]}),
        ("TagResource", {"ResourceArn": arn, "Tags": {"Layer": "auth"}}),
    ]

    # Deletion.
    unprotected = {**changed, "deletion_protection": False}
    run_pool(unprotected)
    assert run_pool({"name": ADMINS["name"], "state": "absent"}, check_mode=True)["planned"] == "delete"
    assert len(_pools()) == 1
    result = run_pool({"name": ADMINS["name"], "state": "absent"})
    assert result["planned"] == "delete"
    assert _pools() == []
    assert run_pool({"name": ADMINS["name"], "state": "absent"})["changed"] is False


@mock_aws
def test_bad_options_are_refused_before_any_call(run_pool):
    result = run_pool(
        {
            "name": "p",
            "tier": "ESSENTIALS",
            "advanced_security_mode": "ENFORCED",
            "password_policy": {"minimum_length": 5, "temporary_password_validity_days": 400},
        }
    )
    assert result["failed"] is True
    problems = result["problems"]
    assert (
        problems["advanced_security_mode"] == "ENFORCED (threat protection) needs tier PLUS, not ESSENTIALS"
    )
    assert problems["password_policy.minimum_length"] == "5 is not within 6 to 99"
    assert "password_policy.temporary_password_validity_days" in problems
    result = run_pool({"name": "p", "tier": "LITE", "password_policy": {"password_history_size": 3}})
    needs = "a password history needs tier ESSENTIALS or PLUS"
    assert result["problems"] == {"password_policy.password_history_size": needs}
    assert _pools() == []


@mock_aws
def test_two_pools_of_one_name_are_refused(run_pool):
    idp().create_user_pool(PoolName="twice")
    idp().create_user_pool(PoolName="twice")
    result = run_pool({"name": "twice"})
    assert result["failed"] is True
    assert "2 pools are named twice" in result["msg"]


CLIENT = {
    "name": "giftcrypto-api",
    "access_token_validity_minutes": 15,
    "id_token_validity_minutes": 15,
    "refresh_token_validity_minutes": 480,
    "explicit_auth_flows": ["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
}


@mock_aws
def test_client_lifecycle(capsys, monkeypatch):
    run_client = moto_modules.runner(cognito_user_pool_client, capsys)
    pool_id = idp().create_user_pool(PoolName="users")["UserPool"]["Id"]
    args = {**CLIENT, "user_pool_id": pool_id}

    result = run_client(args, check_mode=True)
    assert result["planned"] == "create", result
    assert idp().list_user_pool_clients(UserPoolId=pool_id)["UserPoolClients"] == []

    result = run_client(args)
    assert result["changed"] is True, result
    client_id = result["client_id"]
    view = result["user_pool_client"]
    assert view["has_secret"] is False
    assert view["access_token_validity_minutes"] == 15
    assert view["refresh_token_validity_minutes"] == 480
    assert view["refresh_token_rotation"] is True
    assert view["prevent_user_existence_errors"] is True
    described = idp().describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)["UserPoolClient"]
    assert "ClientSecret" not in described
    assert described["TokenValidityUnits"] == {
        "AccessToken": "minutes",
        "IdToken": "minutes",
        "RefreshToken": "minutes",
    }
    assert described["RefreshTokenRotation"] == {"Feature": "ENABLED", "RetryGracePeriodSeconds": 0}

    assert run_client(args, check_mode=True)["changed"] is False
    assert run_client(args)["changed"] is False

    # Flows compare as a set; a managed change keeps what the module does not manage.
    idp().update_user_pool_client(
        UserPoolId=pool_id,
        ClientId=client_id,
        **{**_client_request(described), "CallbackURLs": ["https://app.example/cb"]},
    )
    shuffled = {**args, "explicit_auth_flows": list(reversed(CLIENT["explicit_auth_flows"]))}
    assert run_client(shuffled)["changed"] is False
    result = run_client({**args, "access_token_validity_minutes": 30}, check_mode=True)
    assert result["changes"] == ["access_token_validity_minutes"]
    result = run_client({**args, "access_token_validity_minutes": 30})
    assert result["user_pool_client"]["access_token_validity_minutes"] == 30
    described = idp().describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)["UserPoolClient"]
    assert described["CallbackURLs"] == ["https://app.example/cb"]

    result = run_client({**args, "access_token_validity_minutes": 2, "refresh_token_retry_grace_seconds": 61})
    assert result["failed"] is True
    assert result["problems"] == {
        "access_token_validity_minutes": "2 is not within 5 to 1440 minutes",
        "refresh_token_retry_grace_seconds": "61 is not within 0 to 60",
    }

    result = run_client({**args, "state": "absent"})
    assert result["planned"] == "delete"
    assert idp().list_user_pool_clients(UserPoolId=pool_id)["UserPoolClients"] == []


@mock_aws
def test_a_client_with_a_secret_is_refused(capsys):
    run_client = moto_modules.runner(cognito_user_pool_client, capsys)
    pool_id = idp().create_user_pool(PoolName="users")["UserPool"]["Id"]
    idp().create_user_pool_client(UserPoolId=pool_id, ClientName="giftcrypto-api", GenerateSecret=True)
    result = run_client({**CLIENT, "user_pool_id": pool_id})
    assert result["failed"] is True
    assert "client secret" in result["msg"]


def _client_request(described: dict) -> dict:
    keep = set(cognito_user_pool_client.KEPT) | {
        "ClientName",
        "AccessTokenValidity",
        "IdTokenValidity",
        "RefreshTokenValidity",
        "TokenValidityUnits",
        "ExplicitAuthFlows",
        "RefreshTokenRotation",
        "PreventUserExistenceErrors",
        "EnableTokenRevocation",
        "AuthSessionValidity",
    }
    return {key: value for key, value in described.items() if key in keep}
