"""giftcrypto.platform.aws_cognito on the scenario's endpoint: the users' and the administrators' pools
with the password policy, MFA required for administrators (no tokens before a factor), the API's public
app client of each with short-lived tokens."""

from __future__ import annotations

import base64
import json
import secrets
import string

import pytest

PREFIX = "giftcrypto-molecule-runner"


def _pool(aws, name: str) -> dict:
    idp = aws("cognito-idp")
    (pool,) = [p for p in idp.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == name]
    return idp.describe_user_pool(UserPoolId=pool["Id"])["UserPool"]


def _client(aws, pool_id: str) -> dict:
    idp = aws("cognito-idp")
    (client,) = idp.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
    assert client["ClientName"] == f"{PREFIX}-api"
    return idp.describe_user_pool_client(UserPoolId=pool_id, ClientId=client["ClientId"])["UserPoolClient"]


def _password() -> str:
    alphabet = string.ascii_letters + string.digits
    return "Aa1!" + "".join(secrets.choice(alphabet) for _ in range(20))


@pytest.mark.parametrize("kind", ["users", "admins"])
def test_each_pool_has_the_password_policy_and_a_public_client_with_short_tokens(aws, kind):
    pool = _pool(aws, f"{PREFIX}-{kind}")
    policy = pool["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] >= 12
    assert all(
        policy[k] for k in ("RequireUppercase", "RequireLowercase", "RequireNumbers", "RequireSymbols")
    )
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["UserPoolTags"]["Project"] == "GiftCrypto"
    client = _client(aws, pool["Id"])
    assert "ClientSecret" not in client
    assert client["AccessTokenValidity"] == 15
    assert client["TokenValidityUnits"]["AccessToken"] == "minutes"
    assert client["PreventUserExistenceErrors"] == "ENABLED"
    assert client["RefreshTokenRotation"]["Feature"] == "ENABLED"


def test_mfa_is_required_in_the_administrators_pool_and_optional_in_the_users(aws):
    idp = aws("cognito-idp")
    admins = idp.get_user_pool_mfa_config(UserPoolId=_pool(aws, f"{PREFIX}-admins")["Id"])
    assert admins["MfaConfiguration"] == "ON"
    assert admins["SoftwareTokenMfaConfiguration"] == {"Enabled": True}
    users = idp.get_user_pool_mfa_config(UserPoolId=_pool(aws, f"{PREFIX}-users")["Id"])
    assert users["MfaConfiguration"] == "OPTIONAL"


@pytest.mark.parametrize(("kind", "gets_tokens"), [("users", True), ("admins", False)])
def test_a_user_without_a_factor_signs_in_except_an_administrator(aws, kind, gets_tokens):
    idp = aws("cognito-idp")
    pool_id = _pool(aws, f"{PREFIX}-{kind}")["Id"]
    client_id = _client(aws, pool_id)["ClientId"]
    username, password = f"molecule-{secrets.token_hex(4)}", _password()
    idp.admin_create_user(UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS")
    try:
        idp.admin_set_user_password(UserPoolId=pool_id, Username=username, Password=password, Permanent=True)
        answer = idp.initiate_auth(
            ClientId=client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )
        if gets_tokens:
            token = answer["AuthenticationResult"]["AccessToken"]
            payload = token.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            assert claims["exp"] - claims["iat"] == 15 * 60
            assert claims["client_id"] == client_id
        else:
            assert answer["ChallengeName"] == "MFA_SETUP"
            assert "AuthenticationResult" not in answer
    finally:
        idp.admin_delete_user(UserPoolId=pool_id, Username=username)
