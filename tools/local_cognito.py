"""Signed-in test users of the local environment's Cognito pools (issue 24, ADR 0022).

The locally deployed API requires a Cognito access token on every route but its probes, /version and
/metrics, as on AWS. Its local clients that call a protected route (the DAST scan, tools/dast.py;
the integration tests of feature flags, secret rotation and authentication) sign in as a user of
the pool `giftcrypto.platform.aws_cognito` made on the local endpoint:

    with signed_in("users") as user:      # a confirmed user with a generated password
        headers = {"Authorization": f"Bearer {user.access_token}"}
        ...                               # user.sub: the subject the API sees (feature flags bucket it)

The user exists only inside the block: it is signed out globally (its refresh token revoked) and
deleted after. The password is generated, never printed nor written; the access token lives for the
pool client's 15 minutes. Only for the local endpoint (loopback); nothing here reaches AWS.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import string
from collections.abc import Iterator

import boto3

ENDPOINT = "http://127.0.0.1:4566"
REGION = "us-east-1"
PREFIX = "giftcrypto-local"  # <platform_name>-<platform_environment> of inventories/local
# The local endpoint takes any key; these say what they are.
DUMMY_KEYS = {
    "aws_access_key_id": "local-dummy-access-key",
    "aws_secret_access_key": "local-dummy-secret-key",  # pragma: allowlist secret
}


def client(endpoint: str = ENDPOINT, region: str = REGION):
    return boto3.client("cognito-idp", endpoint_url=endpoint, region_name=region, **DUMMY_KEYS)


def find_pool(kind: str, prefix: str = PREFIX, endpoint: str = ENDPOINT) -> tuple[str, str]:
    """(pool id, the API's app client id) of the deployed pool <prefix>-<kind> (users or admins)."""
    idp = client(endpoint)
    pools = [p for p in idp.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == f"{prefix}-{kind}"]
    if len(pools) != 1:
        raise LookupError(
            f"{endpoint}: expected one user pool {prefix}-{kind} (giftcrypto.platform.aws_cognito), "
            f"found {len(pools)}: deploy the local platform first (nox -s deploy-local)"
        )
    clients = idp.list_user_pool_clients(UserPoolId=pools[0]["Id"], MaxResults=60)["UserPoolClients"]
    api = [c for c in clients if c["ClientName"] == f"{prefix}-api"]
    if len(api) != 1:
        raise LookupError(
            f"{endpoint}: expected one app client {prefix}-api in {pools[0]['Id']}, found {len(api)}"
        )
    return pools[0]["Id"], api[0]["ClientId"]


def generated_password() -> str:
    """A password the pools' policy accepts (14+ characters, every class)."""
    body = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(20))
    return f"Aa1!{body}"


@contextlib.contextmanager
def throwaway_user(pool_id: str, prefix: str = "it", endpoint: str = ENDPOINT) -> Iterator[tuple[str, str]]:
    """A confirmed user of pool_id with a generated password, (username, password); signed out
    globally and deleted after."""
    idp = client(endpoint)
    username, password = f"{prefix}-{secrets.token_hex(6)}", generated_password()
    idp.admin_create_user(UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS")
    try:
        idp.admin_set_user_password(UserPoolId=pool_id, Username=username, Password=password, Permanent=True)
        yield username, password
    finally:
        with contextlib.suppress(idp.exceptions.UserNotFoundException):
            idp.admin_user_global_sign_out(UserPoolId=pool_id, Username=username)
        idp.admin_delete_user(UserPoolId=pool_id, Username=username)


def sign_in(client_id: str, username: str, password: str, endpoint: str = ENDPOINT) -> dict:
    """Cognito's answer to a password sign-in (tokens, or a challenge such as MFA_SETUP)."""
    return client(endpoint).initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )


@dataclasses.dataclass(frozen=True)
class SignedIn:
    username: str
    sub: str
    access_token: str = dataclasses.field(repr=False)

    @property
    def authorization(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


@contextlib.contextmanager
def signed_in(kind: str = "users", prefix: str = "it", endpoint: str = ENDPOINT) -> Iterator[SignedIn]:
    """A new user of the deployed pool <PREFIX>-<kind>, signed in: its subject and access token."""
    pool_id, client_id = find_pool(kind, endpoint=endpoint)
    with throwaway_user(pool_id, prefix, endpoint) as (username, password):
        answer = sign_in(client_id, username, password, endpoint)
        if "AuthenticationResult" not in answer:
            raise RuntimeError(f"{kind} pool: sign-in answered the challenge {answer.get('ChallengeName')}")
        attributes = client(endpoint).admin_get_user(UserPoolId=pool_id, Username=username)["UserAttributes"]
        sub = next(a["Value"] for a in attributes if a["Name"] == "sub")
        yield SignedIn(username, sub, answer["AuthenticationResult"]["AccessToken"])
