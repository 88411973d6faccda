"""Authentication (auth.py): Cognito access tokens checked against a pool's key set served on loopback.

The keys are real RSA keys, the key set is served over HTTP by a real server on 127.0.0.1 (what
PyJWKClient fetches), and one test signs in against moto's Cognito and verifies the token it issues
with the key set moto publishes.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from giftcrypto_api import auth
from giftcrypto_api.app import create_app
from giftcrypto_api.auth import Authenticator, AuthSettings, Unauthorized
from giftcrypto_api.config import ConfigError, Settings
from moto import mock_aws
from moto.utilities.utils import load_resource

POOL = "eu-west-1_AbCdEf123"
CLIENT = "1example23456789abcdefghij"
ISSUER = f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL}"
KID = "key-1"


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def pool_key():
    return rsa_key()


class KeySet:
    """A pool's /.well-known/jwks.json on a loopback HTTP server; counts the fetches."""

    def __init__(self, document: dict) -> None:
        self.document = document
        self.fetches = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                owner.fetches += 1
                if self.path != f"/{owner.pool}/.well-known/jwks.json":
                    self.send_error(404)
                    return
                body = json.dumps(owner.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.pool = POOL
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def jwk_of(private_key, kid: str = KID) -> dict:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key()))
    return {**public, "kid": kid, "alg": "RS256", "use": "sig"}


@pytest.fixture
def key_set(pool_key):
    served = KeySet({"keys": [jwk_of(pool_key)]})
    yield served
    served.close()


def token(private_key, *, kid: str = KID, algorithm: str = "RS256", **overrides) -> str:
    now = int(time.time())
    claims = {
        "sub": "0f9e8d7c-1111-2222-3333-444455556666",
        "iss": ISSUER,
        "client_id": CLIENT,
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin",
        "auth_time": now,
        "iat": now,
        "exp": now + 900,
        "jti": "a1b2c3",
        "username": "alice",
    }
    claims.update(overrides)
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(claims, private_key, algorithm=algorithm, headers={"kid": kid})


@pytest.fixture
def authenticator(key_set):
    return Authenticator(
        AuthSettings(pools={POOL: CLIENT}), endpoint_for=lambda region: key_set.url, refetch_cooldown=0
    )


@pytest.fixture
def client(database, cache, clock, authenticator):
    settings = Settings(colour="blue", auth=AuthSettings(pools={POOL: CLIENT}))
    return create_app(settings, database, cache, clock=clock, authenticator=authenticator).test_client()


def bearer(value: str) -> dict:
    return {"Authorization": f"Bearer {value}"}


def test_a_valid_access_token_is_accepted(client, pool_key):
    response = client.get("/api/v1/stats", headers=bearer(token(pool_key)))
    assert response.status_code == 200, response.json


def test_no_token_is_401_with_a_bearer_challenge(client):
    response = client.get("/api/v1/stats")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="giftcrypto"'
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json == {"error": "unauthorized", "reason": "no bearer token"}


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda key: token(key, exp=int(time.time()) - 1), "token expired"),
        (lambda key: token(rsa_key()), "bad signature"),  # another key, the pool's kid
        (lambda key: token(rsa_key(), kid="other"), "unknown signing key"),
        (
            lambda key: token(key, iss="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Other"),
            "unknown issuer",
        ),
        (lambda key: token(key, iss="https://evil.example/eu-west-1_AbCdEf123"), "unknown issuer"),
        (lambda key: token(key, token_use="id", aud=CLIENT), "not an access token"),  # noqa: S106
        (lambda key: token(key, client_id="another-client"), "token of another app client"),
        (lambda key: token(key, client_id=None), "token of another app client"),
        (lambda key: token(key, exp=None), "invalid claims"),
        (lambda key: token(key, iat=int(time.time()) + 3600), "invalid claims"),
        (
            lambda key: jwt.encode({"iss": ISSUER}, "secret-of-32-bytes-at-the-least!!", algorithm="HS256"),
            "unexpected signing algorithm",
        ),
        (lambda key: "not.a.jwt", "malformed token"),
    ],
    ids=[
        "expired",
        "other-key-same-kid",
        "other-key-unknown-kid",
        "other-pool",
        "foreign-issuer",
        "id-token",
        "other-client",
        "no-client-id",
        "no-expiry",
        "issued-in-the-future",
        "hs256",
        "garbage",
    ],
)
def test_a_bad_token_is_401_invalid_token(client, pool_key, make, reason):
    value = make(pool_key)
    response = client.get("/api/v1/stats", headers=bearer(value))
    assert response.status_code == 401
    assert response.json["reason"] == reason
    challenge = response.headers["WWW-Authenticate"]
    assert challenge == f'Bearer realm="giftcrypto", error="invalid_token", error_description="{reason}"'
    assert value not in response.get_data(as_text=True)


def test_an_unsigned_token_is_refused(client):
    unsigned = jwt.encode({"iss": ISSUER, "client_id": CLIENT, "token_use": "access"}, None, algorithm="none")
    response = client.get("/api/v1/stats", headers=bearer(unsigned))
    assert response.status_code == 401
    assert response.json["reason"] == "unexpected signing algorithm"


def test_another_scheme_is_invalid_request(client, pool_key):
    response = client.get("/api/v1/stats", headers={"Authorization": f"Basic {token(pool_key)}"})
    assert response.status_code == 401
    assert 'error="invalid_request"' in response.headers["WWW-Authenticate"]


def test_probes_version_and_metrics_answer_without_a_token(client):
    for path in ("/healthz", "/readyz", "/version", "/metrics"):
        assert client.get(path).status_code == 200, path
    assert client.get("/nowhere").status_code == 404


def test_the_key_set_is_fetched_once_and_again_for_an_unknown_kid(client, key_set, pool_key):
    for _ in range(3):
        assert client.get("/api/v1/stats", headers=bearer(token(pool_key))).status_code == 200
    assert key_set.fetches == 1
    # A rotated key: its kid is unknown to the cached set, which is read again at once.
    rotated = rsa_key()
    key_set.document = {"keys": [jwk_of(pool_key), jwk_of(rotated, kid="key-2")]}
    assert client.get("/api/v1/stats", headers=bearer(token(rotated, kid="key-2"))).status_code == 200
    assert key_set.fetches == 2


def test_an_unreachable_key_set_is_503_not_401(database, cache, clock, pool_key):
    unreachable = Authenticator(
        AuthSettings(pools={POOL: CLIENT}), endpoint_for=lambda region: "http://127.0.0.1:9", timeout=1
    )
    settings = Settings(auth=AuthSettings(pools={POOL: CLIENT}))
    app = create_app(settings, database, cache, clock=clock, authenticator=unreachable)
    response = app.test_client().get("/api/v1/stats", headers=bearer(token(pool_key)))
    assert response.status_code == 503
    assert response.json == {"error": "authentication unavailable"}


def test_off_answers_without_a_token(database, cache, clock):
    app = create_app(Settings(auth=AuthSettings(mode="off")), database, cache, clock=clock)
    assert app.test_client().get("/api/v1/stats").status_code == 200


def test_required_without_pools_refuses_every_protected_call(database, cache, clock):
    app = create_app(Settings(), database, cache, clock=clock)
    assert app.test_client().get("/api/v1/stats").status_code == 401


def test_settings_from_the_environment():
    settings = Settings.from_env(
        {"GIFTCRYPTO_AUTH_POOLS": f"{POOL}:{CLIENT}, us-east-1_Admins987:2example98765432"}
    )
    assert settings.auth.required
    assert settings.auth.pools == {POOL: CLIENT, "us-east-1_Admins987": "2example98765432"}
    assert Settings.from_env({"GIFTCRYPTO_AUTH": "OFF"}).auth.required is False


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "GIFTCRYPTO_AUTH_POOLS is empty"),
        (
            {"GIFTCRYPTO_AUTH": "maybe", "GIFTCRYPTO_AUTH_POOLS": f"{POOL}:{CLIENT}"},
            "GIFTCRYPTO_AUTH='maybe'",
        ),
        ({"GIFTCRYPTO_AUTH_POOLS": "https://evil.example/x:abc"}, "expected <user pool id>:<app client id>"),
        ({"GIFTCRYPTO_AUTH_POOLS": POOL}, f"GIFTCRYPTO_AUTH_POOLS item '{POOL}'"),
    ],
)
def test_bad_settings_are_refused_naming_the_variable(env, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("?", r"\?")):
        Settings.from_env(env)


def test_the_issuer_is_aws_cognito_of_the_pools_region():
    assert auth.issuer(POOL) == ISSUER


def test_the_key_set_is_fetched_from_the_cognito_idp_endpoint(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_COGNITO_IDP", raising=False)
    assert auth.endpoint_url("eu-west-1") == "https://cognito-idp.eu-west-1.amazonaws.com"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://127.0.0.1:4566/")
    assert auth.endpoint_url("eu-west-1") == "https://127.0.0.1:4566"


def test_unauthorized_without_error_has_a_bare_challenge():
    assert Unauthorized("x", error=None).challenge == 'Bearer realm="giftcrypto"'


@mock_aws
def test_a_token_issued_by_cognito_sign_in_is_accepted(database, cache, clock):
    """moto's Cognito signs in a user; its access token verifies against the key set moto publishes."""
    idp = boto3.client("cognito-idp", region_name="us-east-1")
    pool_id = idp.create_user_pool(PoolName="users")["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName="api", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    password = "Aa1!" + "x" * 16  # pragma: allowlist secret
    idp.admin_create_user(UserPoolId=pool_id, Username="alice", MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool_id, Username="alice", Password=password, Permanent=True)
    signed_in = idp.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "alice", "PASSWORD": password},
    )["AuthenticationResult"]
    published = load_resource("cognitoidp/resources/jwks-public.json")
    served = KeySet(published)
    served.pool = pool_id
    try:
        checker = Authenticator(
            AuthSettings(pools={pool_id: client_id}), endpoint_for=lambda region: served.url
        )
        app = create_app(Settings(), database, cache, clock=clock, authenticator=checker)
        answer = app.test_client().get("/api/v1/stats", headers=bearer(signed_in["AccessToken"]))
        assert answer.status_code == 200, answer.json
        # The ID token of the same sign-in is not an access token.
        answer = app.test_client().get("/api/v1/stats", headers=bearer(signed_in["IdToken"]))
        assert answer.status_code == 401
        assert answer.json["reason"] == "not an access token"
    finally:
        served.close()


def test_an_unknown_kid_refetches_at_most_once_per_cooldown(key_set, pool_key, database, cache, clock):
    checker = Authenticator(AuthSettings(pools={POOL: CLIENT}), endpoint_for=lambda region: key_set.url)
    app = create_app(Settings(), database, cache, clock=clock, authenticator=checker)
    assert app.test_client().get("/api/v1/stats", headers=bearer(token(pool_key))).status_code == 200
    for kid in ("made-up-1", "made-up-2", "made-up-3"):
        answer = app.test_client().get("/api/v1/stats", headers=bearer(token(rsa_key(), kid=kid)))
        assert answer.json["reason"] == "unknown signing key"
    assert key_set.fetches == 1
