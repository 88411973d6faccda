"""Cognito user pools: MFA required means no tokens before a factor, token lifetimes, pool tags, and
token refresh with refresh token rotation (GetTokensFromRefreshToken)."""

from __future__ import annotations

import json

from . import Fix, extend_backend, route_responses

INITIATE_AUTH = (
    "https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_InitiateAuth.html"
)
ADMIN_INITIATE_AUTH = (
    "https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_AdminInitiateAuth.html"
)
CLIENT = "https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_CreateUserPoolClient.html"
TAG_RESOURCE = (
    "https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_TagResource.html"
)
UNTAG_RESOURCE = (
    "https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_UntagResource.html"
)
REFRESH_API = (
    "https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/"
    "API_GetTokensFromRefreshToken.html"
)
ROTATION_TYPE = (
    "https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/"
    "API_RefreshTokenRotationType.html"
)
LIST_TAGS = (
    "https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_ListTagsForResource.html"
)

# The password flows after which a pool with MfaConfiguration ON asks for a factor.
PASSWORD_FLOWS = frozenset({"USER_PASSWORD_AUTH", "ADMIN_USER_PASSWORD_AUTH", "ADMIN_NO_SRP_AUTH"})
# CreateUserPoolClient's defaults: access and ID tokens 60 minutes, unit hours when none is given.
SECONDS_PER_UNIT = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


def _has_factor(user) -> bool:
    return bool(user.software_token_mfa_enabled or user.sms_mfa_enabled or user.token_verified)


class MfaRequiredAsAWS:
    """A pool with MfaConfiguration ON gives no tokens to a user without a factor (moto: it does).

    AWS answers a password sign-in (InitiateAuth USER_PASSWORD_AUTH, AdminInitiateAuth
    ADMIN_USER_PASSWORD_AUTH) of such a user with the MFA_SETUP challenge (MFAS_CAN_SETUP lists the
    pool's factors) and a session; tokens come only after the factor is set up and verified. moto
    returns tokens at once unless the user already has a factor.
    """

    def _mfa_setup_instead(self, user_pool_id: str, username: str, answer: dict) -> dict:
        user_pool = self.describe_user_pool(user_pool_id)
        if "AuthenticationResult" not in answer or user_pool.mfa_config != "ON":
            return answer
        user = self.admin_get_user(user_pool_id, username)
        if _has_factor(user):
            return answer
        issued = answer["AuthenticationResult"]
        user_pool.access_tokens.pop(issued.get("AccessToken"), None)
        user_pool.id_tokens.pop(issued.get("IdToken"), None)
        user_pool.refresh_tokens.pop(issued.get("RefreshToken"), None)
        can_setup = []
        if user_pool.token_mfa_config == {"Enabled": True}:
            can_setup.append("SOFTWARE_TOKEN_MFA")
        if user_pool.sms_mfa_config:
            can_setup.append("SMS_MFA")
        from moto.moto_api._internal import mock_random

        session = str(mock_random.uuid4())
        self.sessions[session] = (username, user_pool)
        return {
            "ChallengeName": "MFA_SETUP",
            "ChallengeParameters": {"MFAS_CAN_SETUP": json.dumps(can_setup)},
            "Session": session,
        }

    def initiate_auth(self, client_id, auth_flow, auth_parameters):
        answer = super().initiate_auth(client_id, auth_flow, auth_parameters)
        if auth_flow not in PASSWORD_FLOWS:
            return answer
        user_pool = next(
            (pool for pool in self.user_pools.values() if client_id in pool.clients),
            None,
        )
        if user_pool is None:
            return answer
        return self._mfa_setup_instead(user_pool.id, auth_parameters.get("USERNAME"), answer)

    def admin_initiate_auth(self, user_pool_id, client_id, auth_flow, auth_parameters):
        answer = super().admin_initiate_auth(user_pool_id, client_id, auth_flow, auth_parameters)
        if auth_flow not in PASSWORD_FLOWS:
            return answer
        return self._mfa_setup_instead(user_pool_id, auth_parameters.get("USERNAME"), answer)


class TokenLifetimesAsAWS:
    """Access and ID tokens live as long as their app client says (moto: always 3600 s).

    AccessTokenValidity and IdTokenValidity (CreateUserPoolClient) with TokenValidityUnits (hours
    when unset; 60 minutes when the validity is unset) set ``exp - iat`` of the tokens and the
    ``ExpiresIn`` of the sign-in's answer.
    """

    def create_jwt(self, client_id, username, token_use, expires_in=60 * 60, extra_data=None):
        client = self.clients.get(client_id)
        key = {"access": "AccessToken", "id": "IdToken"}.get(token_use)
        if client is not None and key:
            config = client.extended_config
            validity = config.get(f"{key}Validity")
            unit = ((config.get("TokenValidityUnits") or {}).get(key) or "hours").lower()
            if validity is not None:
                expires_in = int(validity) * SECONDS_PER_UNIT[unit]
        return super().create_jwt(client_id, username, token_use, expires_in, extra_data)


class PoolTagsAsAWS:
    """TagResource, UntagResource and ListTagsForResource of a user pool, by its ARN (moto: none).

    The tags are the pool's UserPoolTags, which DescribeUserPool returns.
    """

    def _pool_by_arn(self, arn: str):
        from moto.cognitoidp.exceptions import ResourceNotFoundError

        for pool in self.user_pools.values():
            if pool.arn == arn:
                return pool
        raise ResourceNotFoundError(arn)

    def create_user_pool(self, name, extended_config):
        pool = super().create_user_pool(name, extended_config)
        if not isinstance(pool, TokenLifetimesAsAWS):
            pool.__class__ = _faithful_pool_class(type(pool))
        return pool

    def tag_resource(self, arn: str, tags: dict) -> None:
        pool = self._pool_by_arn(arn)
        pool.extended_config["UserPoolTags"] = {**(pool.extended_config.get("UserPoolTags") or {}), **tags}

    def untag_resource(self, arn: str, keys: list) -> None:
        pool = self._pool_by_arn(arn)
        current = pool.extended_config.get("UserPoolTags") or {}
        pool.extended_config["UserPoolTags"] = {
            key: value for key, value in current.items() if key not in keys
        }

    def list_tags_for_resource(self, arn: str) -> dict:
        return dict(self._pool_by_arn(arn).extended_config.get("UserPoolTags") or {})


class RefreshTokenRotationAsAWS:
    """GetTokensFromRefreshToken (moto: not implemented), with the app client's refresh token rotation.

    New access and ID tokens for a valid refresh token of the client. With RefreshTokenRotation
    Feature ENABLED the answer also carries a new refresh token, and the one submitted stops working
    at once (RetryGracePeriodSeconds 0) or after that many seconds (at most 60); with rotation
    disabled the refresh token stays as it is and none is returned.
    """

    def get_tokens_from_refresh_token(self, refresh_token: str, client_id: str) -> dict:
        import time

        from moto.cognitoidp.exceptions import NotAuthorizedError, ResourceNotFoundError

        user_pool = next((pool for pool in self.user_pools.values() if client_id in pool.clients), None)
        if user_pool is None:
            raise ResourceNotFoundError(client_id)
        retiring = user_pool.__dict__.setdefault("giftcrypto_retiring_refresh_tokens", {})
        if refresh_token in retiring and time.monotonic() >= retiring.pop(refresh_token):
            user_pool.refresh_tokens[refresh_token] = None
        issued = user_pool.refresh_tokens.get(refresh_token)
        if issued is None or issued[0] != client_id:
            raise NotAuthorizedError("Invalid Refresh Token")
        access_token, id_token, expires_in = user_pool.create_tokens_from_refresh_token(refresh_token)
        result = {
            "AccessToken": access_token,
            "IdToken": id_token,
            "ExpiresIn": expires_in,
            "TokenType": "Bearer",
        }
        rotation = user_pool.clients[client_id].extended_config.get("RefreshTokenRotation") or {}
        if rotation.get("Feature") == "ENABLED":
            result["RefreshToken"] = user_pool.create_refresh_token(client_id, issued[1])[0]
            grace = int(rotation.get("RetryGracePeriodSeconds") or 0)
            if grace:
                retiring[refresh_token] = time.monotonic() + grace
            else:
                user_pool.refresh_tokens[refresh_token] = None
        return {"AuthenticationResult": result}


class RefreshTokenResponses:
    """The response of GetTokensFromRefreshToken."""

    def get_tokens_from_refresh_token(self):
        params = json.loads(self.body)
        return json.dumps(
            self.backend.get_tokens_from_refresh_token(params["RefreshToken"], params["ClientId"])
        )


_POOL_CLASSES: dict[type, type] = {}


def _faithful_pool_class(base: type) -> type:
    """The pool class with TokenLifetimesAsAWS over it (one per base class)."""
    if base not in _POOL_CLASSES:
        _POOL_CLASSES[base] = type(f"Faithful{base.__name__}", (TokenLifetimesAsAWS, base), {})
    return _POOL_CLASSES[base]


class PoolTagsResponses:
    """Responses of TagResource, UntagResource and ListTagsForResource."""

    def tag_resource(self):
        params = json.loads(self.body)
        self.backend.tag_resource(params["ResourceArn"], params.get("Tags") or {})
        return "{}"

    def untag_resource(self):
        params = json.loads(self.body)
        self.backend.untag_resource(params["ResourceArn"], params.get("TagKeys") or [])
        return "{}"

    def list_tags_for_resource(self):
        params = json.loads(self.body)
        return json.dumps({"Tags": self.backend.list_tags_for_resource(params["ResourceArn"])})


def _apply_mfa() -> None:
    extend_backend("moto.cognitoidp.models", "cognitoidp_backends", MfaRequiredAsAWS)


def _apply_lifetimes_and_tags() -> None:
    from moto.cognitoidp.responses import CognitoIdpResponse

    extend_backend("moto.cognitoidp.models", "cognitoidp_backends", PoolTagsAsAWS)
    response = type("FaithfulCognitoIdpResponse", (PoolTagsResponses, CognitoIdpResponse), {})
    route_responses("moto.cognitoidp.urls", CognitoIdpResponse, response)


def _apply_refresh_rotation() -> None:
    import importlib

    extend_backend("moto.cognitoidp.models", "cognitoidp_backends", RefreshTokenRotationAsAWS)
    # On top of the responses class the URL table holds now (the tagging fix's, when it is applied).
    handler = next(iter(importlib.import_module("moto.cognitoidp.urls").url_paths.values()))
    owner = handler.__self__
    current = owner if isinstance(owner, type) else type(owner)
    response = type("RefreshingCognitoIdpResponse", (RefreshTokenResponses, current), {})
    route_responses("moto.cognitoidp.urls", current, response)


FIXES = [
    Fix(
        service="cognito-idp",
        name="mfa-required-before-tokens",
        summary=(
            "a password sign-in to a pool with MfaConfiguration ON, by a user without a factor, answers "
            "the MFA_SETUP challenge and no tokens (moto: tokens)"
        ),
        reference=f"{INITIATE_AUTH}; {ADMIN_INITIATE_AUTH}",
        upstream="not in moto 5.2.6 (cognitoidp/models.py initiate_auth issues tokens without a factor)",
        apply=_apply_mfa,
    ),
    Fix(
        service="cognito-idp",
        name="token-lifetimes-and-pool-tags",
        summary=(
            "access and ID tokens expire after the app client's AccessTokenValidity / IdTokenValidity in "
            "TokenValidityUnits (moto: always 3600 s); TagResource, UntagResource and ListTagsForResource "
            "of a user pool (moto: none)"
        ),
        reference=f"{CLIENT}; {TAG_RESOURCE}; {UNTAG_RESOURCE}; {LIST_TAGS}",
        upstream="not in moto 5.2.6 (create_jwt's expires_in is fixed; no tagging operations)",
        apply=_apply_lifetimes_and_tags,
    ),
    Fix(
        service="cognito-idp",
        name="refresh-token-rotation",
        summary=(
            "GetTokensFromRefreshToken gives new access and ID tokens, and with the app client's refresh "
            "token rotation a new refresh token, the submitted one refused at once or after "
            "RetryGracePeriodSeconds (moto: the operation is not implemented)"
        ),
        reference=f"{REFRESH_API}; {ROTATION_TYPE}",
        upstream="not in moto 5.2.6 (cognitoidp/responses.py has no get_tokens_from_refresh_token)",
        apply=_apply_refresh_rotation,
    ),
]
