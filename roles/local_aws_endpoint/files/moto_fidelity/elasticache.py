"""ElastiCache: ModifyReplicationGroup changes the AUTH token as the API reference documents it
(AuthToken with AuthTokenUpdateStrategy ROTATE, SET or DELETE); moto 5.2 ignores both parameters, so a
rotation of the token changed nothing."""

from __future__ import annotations

from . import Fix, extend_backend, route_responses

REFERENCE = (
    "https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_ModifyReplicationGroup.html"
)
AUTH_GUIDE = "https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth.html"
STRATEGIES = ("ROTATE", "SET", "DELETE")
# AuthToken's constraints (API reference): printable ASCII, 16 to 128 characters, none of / " @ %
# (and no space: the user guide's "printable characters" exclude it from the allowed punctuation).
_FORBIDDEN = set('/"@% ')


def _valid_token(token: str) -> bool:
    return (
        16 <= len(token) <= 128
        and all(33 <= ord(character) <= 126 for character in token)
        and not _FORBIDDEN & set(token)
    )


class AuthTokenUpdateAsAWS:
    """ElastiCache backend that keeps the AUTH tokens a replication group accepts and changes them as
    ModifyReplicationGroup's AuthTokenUpdateStrategy says.

    AWS (API reference, ModifyReplicationGroup; user guide "Authenticating with the AUTH command"):
    ROTATE (the default with an AuthToken) adds the new token, the previous one still valid; SET,
    "allowed only after ROTATE", leaves the given token the only one; DELETE, "allowed only when
    transitioning to RBAC" (with UserGroupIdsToAdd, without an AuthToken), removes AUTH. AUTH needs
    in-transit encryption. The answer never holds a token: AuthTokenEnabled, AuthTokenLastModifiedDate,
    and while the change applies Status ``modifying`` with PendingModifiedValues.AuthTokenStatus
    (ROTATING or SETTING); a group that is not ``available`` refuses a modification
    (InvalidReplicationGroupState).

    Here: the valid tokens are ``auth_tokens`` on the group (moto's /moto-api/data.json shows them, the
    way tests read the data plane's state); a change with ApplyImmediately applies at the next
    DescribeReplicationGroups (the group is ``modifying`` until then), one without it stays pending
    (the next maintenance window, which never comes here). Not documented, so chosen conservatively:
    ROTATE to a token already valid changes nothing; ROTATE to a third token while two are valid is
    refused (InvalidParameterCombination) rather than guessing which one AWS would drop.
    """

    def create_replication_group(self, *args, **kwargs):
        group = super().create_replication_group(*args, **kwargs)
        token = kwargs.get("auth_token")
        group.auth_tokens = [token] if token else []
        group.pending_auth_token_change = None
        return group

    def modify_replication_group(self, replication_group_id, *args, **kwargs):
        self._available_group(replication_group_id)
        return super().modify_replication_group(replication_group_id, *args, **kwargs)

    def describe_replication_groups(self, replication_group_id=None):
        groups = super().describe_replication_groups(replication_group_id)
        for group in groups:
            change = getattr(group, "pending_auth_token_change", None)
            if change and change["immediate"]:
                self._apply_auth_token_change(group, change)
        return groups

    def _available_group(self, replication_group_id):
        from moto.elasticache.exceptions import ElastiCacheException, ReplicationGroupNotFound

        group = self.replication_groups.get(replication_group_id)
        if group is None:
            raise ReplicationGroupNotFound(replication_group_id)
        if group.status != "available":
            raise ElastiCacheException(
                "InvalidReplicationGroupState",
                f"Replication group {replication_group_id} is not in available state.",
            )
        return group

    def check_auth_token_change(self, replication_group_id, token, strategy, user_groups_to_add):
        """The change ModifyReplicationGroup asks for, or AWS's error; nothing changes yet."""
        from moto.elasticache.exceptions import (
            InvalidParameterCombinationException,
            InvalidParameterValueException,
        )

        group = self._available_group(replication_group_id)
        strategy = strategy or "ROTATE"
        if strategy not in STRATEGIES:
            raise InvalidParameterValueException(
                f"Invalid AuthTokenUpdateStrategy {strategy}: must be one of {', '.join(STRATEGIES)}."
            )
        if strategy == "DELETE":
            if token is not None:
                raise InvalidParameterCombinationException(
                    "AuthToken must not be specified with AuthTokenUpdateStrategy DELETE."
                )
            if not user_groups_to_add:
                raise InvalidParameterCombinationException(
                    "AuthTokenUpdateStrategy DELETE is allowed only when transitioning to RBAC "
                    "(UserGroupIdsToAdd)."
                )
            return {"strategy": strategy, "token": None}
        if token is None:
            raise InvalidParameterValueException(
                f"AuthToken must be specified with AuthTokenUpdateStrategy {strategy}."
            )
        if not _valid_token(token):
            raise InvalidParameterValueException(
                "Invalid AuthToken: it must be 16 to 128 printable ASCII characters, none of "
                "'/', '\"', '@', '%' or space."
            )
        if not group.transit_encryption_enabled:
            raise InvalidParameterCombinationException(
                "AuthToken can only be used with in-transit encryption (TransitEncryptionEnabled)."
            )
        tokens = getattr(group, "auth_tokens", [])
        if strategy == "SET" and len(tokens) < 2:
            raise InvalidParameterCombinationException(
                "AuthTokenUpdateStrategy SET is allowed only after ROTATE."
            )
        if strategy == "ROTATE" and len(tokens) >= 2 and token not in tokens:
            raise InvalidParameterCombinationException(
                "The replication group already has two AUTH tokens: SET one of them first."
            )
        return {"strategy": strategy, "token": token}

    def start_auth_token_change(self, replication_group_id, change, apply_immediately):
        group = self.replication_groups[replication_group_id]
        group.pending_auth_token_change = {**change, "immediate": bool(apply_immediately)}
        status = "SETTING" if change["strategy"] == "SET" else "ROTATING"
        group.pending_modified_values = {"AuthTokenStatus": status}
        if apply_immediately:
            group.status = "modifying"

    @staticmethod
    def _apply_auth_token_change(group, change):
        from moto.core.utils import utcnow

        tokens = list(getattr(group, "auth_tokens", []))
        if change["strategy"] == "ROTATE":
            tokens = tokens if change["token"] in tokens else [*tokens, change["token"]]
        elif change["strategy"] == "SET":
            tokens = [change["token"]]
        else:
            tokens = []
        group.auth_tokens = tokens
        group.auth_token_enabled = bool(tokens)
        group.auth_token_last_modified_date = utcnow()
        group.pending_auth_token_change = None
        group.pending_modified_values = {}
        group.status = "available"


class AuthTokenParameters:
    """ElastiCache responses whose ModifyReplicationGroup reads AuthToken, AuthTokenUpdateStrategy and
    ApplyImmediately (moto's drops them): the change is checked first (an error changes nothing),
    then moto's modification, then the token change starts."""

    def modify_replication_group(self):
        token = self._get_param("AuthToken")
        strategy = self._get_param("AuthTokenUpdateStrategy")
        if token is None and strategy is None:
            return super().modify_replication_group()
        group_id = self._get_param("ReplicationGroupId")
        user_groups = self._get_params().get("UserGroupIdsToAdd") or []
        change = self.elasticache_backend.check_auth_token_change(group_id, token, strategy, user_groups)
        answer = super().modify_replication_group()
        self.elasticache_backend.start_auth_token_change(
            group_id, change, self._get_bool_param("ApplyImmediately", False)
        )
        return answer


def _apply() -> None:
    from moto.elasticache.responses import ElastiCacheResponse

    extend_backend("moto.elasticache.models", "elasticache_backends", AuthTokenUpdateAsAWS)
    response = type("FaithfulElastiCacheResponse", (AuthTokenParameters, ElastiCacheResponse), {})
    route_responses("moto.elasticache.urls", ElastiCacheResponse, response)


FIXES = [
    Fix(
        service="elasticache",
        name="auth-token-update-strategy",
        summary=(
            "ModifyReplicationGroup with AuthToken and AuthTokenUpdateStrategy changes the tokens the group "
            "accepts: ROTATE adds one (the previous still valid), SET (only after ROTATE) leaves the given "
            "one only, DELETE (with UserGroupIdsToAdd, no AuthToken) removes AUTH; AUTH needs in-transit "
            "encryption; invalid combinations and tokens fail with InvalidParameterCombination or "
            "InvalidParameterValue, a group not available with InvalidReplicationGroupState; the group is "
            "modifying (PendingModifiedValues.AuthTokenStatus) until the change applies, and "
            "AuthTokenLastModifiedDate follows; no answer holds a token (moto: both parameters ignored)"
        ),
        reference=f"{REFERENCE}; {AUTH_GUIDE}",
        upstream="not in moto 5.2.6 (elasticache/responses.py modify_replication_group)",
        apply=_apply,
    ),
]
