"""Authentication of the API's callers: Cognito access tokens (JWTs), checked on every request.

A caller sends ``Authorization: Bearer <access token>``, the token Amazon Cognito issues at sign-in
(InitiateAuth). The token is accepted when, in this order:

1. it is a JWT whose ``iss`` is one of the configured user pools' issuers
   (``https://cognito-idp.<region>.amazonaws.com/<pool id>``; an unknown issuer is refused before any
   key is fetched, so a token cannot make the service fetch from a URL of its choosing);
2. its signature verifies (RS256 only) against the key of its ``kid`` in that pool's JSON Web Key
   Set, fetched from ``<cognito-idp endpoint>/<pool id>/.well-known/jwks.json`` and cached (PyJWT's
   PyJWKClient: the set is kept 5 minutes, re-read for an unknown ``kid`` at most once every 30
   seconds, which is how a key rotation is picked up);
3. it has not expired (``exp``, no leeway) and was issued in the past (``iat``);
4. ``token_use`` is ``access`` (an ID token is for the client, not for the API) and ``client_id`` is
   the API's app client of that pool (access tokens carry ``client_id``, not ``aud``).

That is AWS's own procedure ("Verifying a JSON web token", Amazon Cognito developer guide). Anything
else is a 401 with ``WWW-Authenticate: Bearer`` (RFC 6750): ``error="invalid_token"`` and a short
reason when a token was sent, no error when none was. The reason never echoes the token.

The cognito-idp endpoint is the one boto3 resolves (``https://cognito-idp.<region>.amazonaws.com``
on AWS, which is also the issuer's host; ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_COGNITO_IDP``
when set), so the key set comes from where the pool's API is, with the same CA bundle
(``AWS_CA_BUNDLE``).

Configuration (service/README.md):

- ``GIFTCRYPTO_AUTH``: ``required`` (the default) or ``off`` (an explicit, documented opt-out);
- ``GIFTCRYPTO_AUTH_POOLS``: the accepted pools as ``<pool id>:<app client id>`` pairs separated by
  commas or spaces (the users' pool and the administrators' pool); required unless ``off``.
"""

from __future__ import annotations

import logging
import re
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

import jwt

log = logging.getLogger("giftcrypto_api.auth")

REQUIRED, OFF = "required", "off"
# A pool id is <region>_<9 or more letters and digits>; an app client id 1-128 word characters.
_POOL = re.compile(r"^(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)_[0-9A-Za-z]+$")
_CLIENT = re.compile(r"^[\w+]{1,128}$")
ALGORITHMS = ["RS256"]
REALM = "giftcrypto"


@dataclass(frozen=True)
class AuthSettings:
    """Whether tokens are required, and the pools (id -> the API's app client id) they may come from."""

    mode: str = REQUIRED
    pools: Mapping[str, str] = field(default_factory=dict)

    @property
    def required(self) -> bool:
        return self.mode == REQUIRED

    @classmethod
    def from_env(cls, env: Mapping[str, str], errors: list[str]) -> AuthSettings:
        """The settings of GIFTCRYPTO_AUTH and GIFTCRYPTO_AUTH_POOLS; problems appended to errors."""
        mode = env.get("GIFTCRYPTO_AUTH", "").strip().lower() or REQUIRED
        if mode not in (REQUIRED, OFF):
            errors.append(f"GIFTCRYPTO_AUTH={mode!r}: expected required or off")
            mode = REQUIRED
        pools: dict[str, str] = {}
        raw = env.get("GIFTCRYPTO_AUTH_POOLS", "").strip()
        for item in filter(None, re.split(r"[,\s]+", raw)):
            pool_id, _, client_id = item.partition(":")
            if not _POOL.fullmatch(pool_id) or not _CLIENT.fullmatch(client_id):
                errors.append(
                    f"GIFTCRYPTO_AUTH_POOLS item {item!r}: expected <user pool id>:<app client id>"
                    " (e.g. eu-west-1_AbCdEf123:1example23456789)"
                )
                continue
            pools[pool_id] = client_id
        if mode == REQUIRED and not pools and not errors:
            errors.append(
                "GIFTCRYPTO_AUTH_POOLS is empty: name the Cognito user pools whose tokens the API accepts,"
                " or set GIFTCRYPTO_AUTH=off (no authentication) explicitly"
            )
        return cls(mode=mode, pools=pools)


def issuer(pool_id: str) -> str:
    """The ``iss`` of a pool's tokens (AWS: https://cognito-idp.<region>.amazonaws.com/<pool id>)."""
    region = _POOL.fullmatch(pool_id)["region"]  # type: ignore[index]
    return f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"


class Unauthorized(Exception):
    """The request carries no acceptable token; ``error`` is RFC 6750's code (None: no token sent)."""

    def __init__(self, reason: str, error: str | None = "invalid_token") -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error

    @property
    def challenge(self) -> str:
        """The WWW-Authenticate header's value."""
        if self.error is None:
            return f'Bearer realm="{REALM}"'
        return f'Bearer realm="{REALM}", error="{self.error}", error_description="{self.reason}"'


class KeysUnavailable(Exception):
    """The pool's key set could not be fetched: the service cannot decide (503, not 401)."""


def endpoint_url(region: str) -> str:
    """The cognito-idp endpoint boto3 resolves for region (honours AWS_ENDPOINT_URL[_COGNITO_IDP])."""
    import boto3  # the service's AWS SDK: the same endpoint resolution as every other call

    # Making a client resolves its endpoint; no call is made, so no credentials are needed.
    client = boto3.session.Session().client("cognito-idp", region_name=region)
    return client.meta.endpoint_url.rstrip("/")


def ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """Verifying TLS context: the system's CAs, or AWS_CA_BUNDLE's when set (as boto3 does)."""
    return ssl.create_default_context(cafile=ca_bundle or None)


class Authenticator:
    """Verifies Cognito access tokens of the configured pools (see the module's docstring)."""

    def __init__(
        self,
        settings: AuthSettings,
        *,
        endpoint_for=endpoint_url,
        ca_bundle: str | None = None,
        timeout: float = 5.0,
        refetch_cooldown: float = 30.0,
    ) -> None:
        self.settings = settings
        self._issuers = {
            issuer(pool_id): (pool_id, client_id) for pool_id, client_id in settings.pools.items()
        }
        self._endpoint_for = endpoint_for
        self._ca_bundle = ca_bundle
        self._timeout = timeout
        # An unknown kid re-reads the set at most once per cooldown (PyJWKClient's default), so that
        # tokens with made-up kids cannot turn every request into a fetch.
        self._refetch_cooldown = refetch_cooldown
        self._clients: dict[str, jwt.PyJWKClient] = {}
        self._lock = threading.Lock()

    def _keys(self, pool_id: str) -> jwt.PyJWKClient:
        with self._lock:
            client = self._clients.get(pool_id)
            if client is None:
                region = _POOL.fullmatch(pool_id)["region"]  # type: ignore[index]
                url = f"{self._endpoint_for(region)}/{pool_id}/.well-known/jwks.json"
                client = jwt.PyJWKClient(
                    url,
                    cooldown_duration=self._refetch_cooldown,
                    cache_jwk_set=True,
                    lifespan=300,
                    timeout=self._timeout,
                    ssl_context=ssl_context(self._ca_bundle),
                )
                self._clients[pool_id] = client
            return client

    def verify(self, authorization: str | None) -> dict:
        """The claims of the bearer token in an Authorization header; Unauthorized otherwise."""
        if not authorization:
            raise Unauthorized("no bearer token", error=None)
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("expected the Bearer scheme", error="invalid_request")
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("malformed token") from None
        if header.get("alg") not in ALGORITHMS:
            raise Unauthorized("unexpected signing algorithm")
        accepted = self._issuers.get(unverified.get("iss"))
        if accepted is None:
            raise Unauthorized("unknown issuer")
        pool_id, client_id = accepted
        try:
            key = self._keys(pool_id).get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as error:
            raise KeysUnavailable(f"the key set of {pool_id} could not be fetched: {error}") from None
        except jwt.PyJWTError:
            raise Unauthorized("unknown signing key") from None
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=ALGORITHMS,
                issuer=self._issuer_of(pool_id),
                options={"require": ["exp", "iat", "iss", "token_use"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token expired") from None
        except jwt.InvalidSignatureError:
            raise Unauthorized("bad signature") from None
        except jwt.PyJWTError:
            raise Unauthorized("invalid claims") from None
        if claims["token_use"] != "access":  # noqa: S105 - a claim's value, not a password
            raise Unauthorized("not an access token")
        if claims.get("client_id") != client_id:
            raise Unauthorized("token of another app client")
        return claims

    @staticmethod
    def _issuer_of(pool_id: str) -> str:
        return issuer(pool_id)


# Routes answered without a token: the probes (the load balancer, Kubernetes and the release gate read
# /healthz and /readyz), the release's identity (/version: each colour's version, read by the
# blue-green switch) and /metrics (Prometheus's scrape). None serves user data; every other route,
# /api/... and any added later, requires a token.
PUBLIC_ENDPOINTS = frozenset({"healthz", "readyz", "version", "metrics"})


def install(app, settings: AuthSettings, authenticator: Authenticator | None = None) -> Authenticator | None:
    """Checks the token of every request to a non-public route of app (nothing when auth is off).

    The claims of an accepted token are in ``flask.g.auth`` (``sub``, ``username``, ``cognito:groups``).
    """
    from flask import g, jsonify, request

    if not settings.required:
        log.warning("authentication is off (GIFTCRYPTO_AUTH=off): every route answers without a token")
        return None
    authenticator = authenticator or Authenticator(settings, ca_bundle=_ca_bundle())

    @app.before_request
    def authenticate():
        if request.endpoint in PUBLIC_ENDPOINTS or request.url_rule is None:
            return None  # a public route, or an unknown one (404 for everybody)
        try:
            g.auth = authenticator.verify(request.headers.get("Authorization"))
        except Unauthorized as refusal:
            log.info(
                "request refused",
                extra={"fields": {"request_id": g.get("request_id"), "reason": refusal.reason}},
            )
            response = jsonify(error="unauthorized", reason=refusal.reason)
            response.status_code = 401
            response.headers["WWW-Authenticate"] = refusal.challenge
            response.headers["Cache-Control"] = "no-store"
            return response
        except KeysUnavailable as error:
            log.warning(
                "token not verifiable",
                extra={"fields": {"request_id": g.get("request_id"), "error": str(error)}},
            )
            response = jsonify(error="authentication unavailable")
            response.status_code = 503
            return response
        return None

    return authenticator


def _ca_bundle() -> str | None:
    import os

    return os.environ.get("AWS_CA_BUNDLE") or None
