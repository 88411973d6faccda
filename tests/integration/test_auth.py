"""Authentication of the API (issue 24 item 1, ADR 0022) against the deployed platform's Cognito pools.

The pools are those `giftcrypto.platform.aws_cognito` made on the local endpoint (deploy-local); the
API is the service itself (`python -m giftcrypto_api`, gunicorn) started here on a free loopback port
with authentication required and those pools (GIFTCRYPTO_AUTH_POOLS), reading its credentials from
the endpoint and talking to the real pgBouncer and Redis, as a colour does. Nothing of the deployed
platform is changed but a test user per test, created with a generated password and deleted after.
Each test costs about a second (the server starts once for the module).
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from moto.utilities.utils import load_resource

from tests.integration.conftest import load_tool

local_cognito = load_tool("local_cognito")

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENDPOINT = "http://127.0.0.1:4566"
REGION = "us-east-1"


# The endpoint's Cognito fixes these tests rely on (local_aws_endpoint: moto_fidelity/cognito_idp.py).
COGNITO_FIXES = {
    "cognito-idp:mfa-required-before-tokens",
    "cognito-idp:token-lifetimes-and-pool-tags",
    "cognito-idp:refresh-token-rotation",
}


@pytest.fixture(scope="module")
def pools(platform_deployed) -> dict[str, tuple[str, str]]:
    # An endpoint started before those fixes existed keeps running (its resources live in its memory):
    # it would give an administrator tokens and every token an hour. Say so instead of failing on it.
    with urllib.request.urlopen(f"{ENDPOINT}/_giftcrypto/fidelity", timeout=10) as answer:  # noqa: S310
        served = {f"{fix['service']}:{fix['name']}" for fix in json.load(answer)["fixes"]}
    missing = COGNITO_FIXES - served
    assert not missing, (
        f"the local endpoint on {ENDPOINT} was started before its fidelity layer had {sorted(missing)}: "
        "`nox -s destroy-local`, then deploy again (a fresh clone's integration run starts from there)"
    )
    return {kind: local_cognito.find_pool(kind) for kind in ("users", "admins")}


_user = local_cognito.throwaway_user
_sign_in = local_cognito.sign_in


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, token: str | None = None) -> tuple[int, dict[str, str]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback http
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback http
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


@pytest.fixture(scope="module")
def api(pools):
    """The service with authentication required, accepting the tokens of both deployed pools."""
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "service" / "src"),
        "AWS_ENDPOINT_URL": ENDPOINT,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "local-dummy-access-key",
        "AWS_SECRET_ACCESS_KEY": "local-dummy-secret-key",  # pragma: allowlist secret
        "GIFTCRYPTO_ENVIRONMENT": "local",
        "GIFTCRYPTO_PLATFORM": "giftcrypto",
        "GIFTCRYPTO_THREADS": "2",
        "GIFTCRYPTO_AUTH": "required",
        "GIFTCRYPTO_AUTH_POOLS": " ".join(f"{pool}:{client}" for pool, client in pools.values()),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "giftcrypto_api", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stdout.read()
            with contextlib.suppress(OSError):
                if _get(f"{url}/readyz")[0] == 200:
                    break
            assert time.monotonic() < deadline, "the API did not get ready within 60 s"
            time.sleep(0.25)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def test_sign_in_and_a_protected_call_succeed(api, pools):
    pool_id, client_id = pools["users"]
    with _user(pool_id) as (username, password):
        result = _sign_in(client_id, username, password)["AuthenticationResult"]
        assert result["ExpiresIn"] == 15 * 60  # the pool's client: 15-minute access tokens
        status, _ = _get(f"{api}/api/v1/stats", result["AccessToken"])
        assert status == 200
        # The ID token of the same sign-in is not for the API.
        assert _get(f"{api}/api/v1/stats", result["IdToken"])[0] == 401


def test_a_refresh_rotates_the_refresh_token_and_the_old_one_is_refused(api, pools):
    """The API's app client rotates refresh tokens (aws_cognito_refresh_token_rotation, grace 0): a
    refresh gives a new access token the API accepts and a new refresh token, and the one used
    stops working at once (GetTokensFromRefreshToken, the endpoint's cognito-idp:refresh-token-rotation)."""
    pool_id, client_id = pools["users"]
    idp = local_cognito.client()
    with _user(pool_id) as (username, password):
        first = _sign_in(client_id, username, password)["AuthenticationResult"]
        renewed = idp.get_tokens_from_refresh_token(RefreshToken=first["RefreshToken"], ClientId=client_id)[
            "AuthenticationResult"
        ]
        assert renewed["RefreshToken"] != first["RefreshToken"]
        assert _get(f"{api}/api/v1/stats", renewed["AccessToken"])[0] == 200
        with pytest.raises(idp.exceptions.NotAuthorizedException):
            idp.get_tokens_from_refresh_token(RefreshToken=first["RefreshToken"], ClientId=client_id)


def test_no_token_is_refused_with_a_bearer_challenge(api):
    status, headers = _get(f"{api}/api/v1/stats")
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Bearer realm="giftcrypto"'
    # The probes answer without a token.
    assert _get(f"{api}/healthz")[0] == 200


def _claims(pool_id: str, client_id: str, **overrides) -> dict:
    now = int(time.time())
    return {
        "sub": "00000000-0000-0000-0000-000000000000",
        "iss": f"https://cognito-idp.{REGION}.amazonaws.com/{pool_id}",
        "client_id": client_id,
        "token_use": "access",
        "username": "nobody",
        "iat": now - 3600,
        "exp": now + 900,
        **overrides,
    }


def test_an_expired_token_is_refused(api, pools):
    """A token of the pool's own key (the endpoint's signing key, which moto publishes) whose time is up."""
    pool_id, client_id = pools["users"]
    pool_key = jwt.PyJWK(load_resource("cognitoidp/resources/jwks-private.json"))
    expired = jwt.encode(
        _claims(pool_id, client_id, exp=int(time.time()) - 60),
        pool_key.key,
        algorithm="RS256",
        headers={"kid": pool_key.key_id},
    )
    status, headers = _get(f"{api}/api/v1/stats", expired)
    assert status == 401
    assert 'error_description="token expired"' in headers["WWW-Authenticate"]
    # The same claims, still valid, are accepted: what is refused above is the expiry alone.
    valid = jwt.encode(
        _claims(pool_id, client_id), pool_key.key, algorithm="RS256", headers={"kid": pool_key.key_id}
    )
    assert _get(f"{api}/api/v1/stats", valid)[0] == 200


def test_a_token_signed_by_another_key_is_refused(api, pools):
    pool_id, client_id = pools["users"]
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = jwt.PyJWK(load_resource("cognitoidp/resources/jwks-private.json")).key_id
    forged = jwt.encode(_claims(pool_id, client_id), other, algorithm="RS256", headers={"kid": kid})
    status, headers = _get(f"{api}/api/v1/stats", forged)
    assert status == 401
    assert 'error_description="bad signature"' in headers["WWW-Authenticate"]


def test_an_administrator_without_mfa_cannot_sign_in(pools):
    pool_id, client_id = pools["admins"]
    with _user(pool_id) as (username, password):
        answer = _sign_in(client_id, username, password)
        assert answer["ChallengeName"] == "MFA_SETUP"
        assert "AuthenticationResult" not in answer


DEPLOYED = "https://127.0.0.1:8443"
CA = "/etc/giftcrypto/pki/ca.crt"


def test_the_deployed_api_requires_a_token_as_on_aws(pools):
    """The API deploy-local serves through HAProxy (app_deploy_auth required, the default): no
    token is refused, a signed-in user's access token is accepted; the probes need none."""
    context = ssl.create_default_context(cafile=CA)

    def get(path: str, headers: dict[str, str]) -> int:
        request = urllib.request.Request(f"{DEPLOYED}{path}", headers=headers)  # noqa: S310 - loopback
        try:
            with urllib.request.urlopen(request, timeout=10, context=context) as response:  # noqa: S310
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    assert get("/api/v1/stats", {}) == 401
    assert get("/healthz", {}) == 200
    with local_cognito.signed_in("users") as user:
        assert get("/api/v1/stats", user.authorization) == 200
