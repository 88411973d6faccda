#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: cognito_user_pool_client
short_description: Manage a public app client of an Amazon Cognito user pool
version_added: 0.1.0
description:
  - Creates, updates or deletes an app client of a Cognito user pool, found by its name in the pool,
    for a caller that cannot keep a secret (a browser, a mobile app, a command line), so the client
    never has a client secret; it manages the token lifetimes, the sign-in flows allowed, refresh token
    rotation, token revocation and whether sign-in hides which users exist.
  - Fills a gap, neither amazon.aws nor community.aws ships a module for Cognito app clients (the
    C(CreateUserPoolClient), C(UpdateUserPoolClient) and C(DeleteUserPoolClient) APIs).
  - C(UpdateUserPoolClient) resets every setting a request leaves out to its default, so an update
    sends the client's current settings with the managed ones changed; settings this module does
    not manage (OAuth flows, callback URLs, attributes) are kept as they are.
author:
  - GiftCrypto platform team (@giftcrypto)
options:
  user_pool_id:
    description: ID of the pool.
    type: str
    required: true
  name:
    description: Name of the client, unique in the pool for this module (it refuses to act on two).
    type: str
    required: true
  access_token_validity_minutes:
    description: Lifetime of access tokens, 5 to 1440 minutes.
    type: int
    default: 15
  id_token_validity_minutes:
    description: Lifetime of ID tokens, 5 to 1440 minutes.
    type: int
    default: 15
  refresh_token_validity_minutes:
    description: Lifetime of refresh tokens, 60 minutes to 3650 days (in minutes).
    type: int
    default: 480
  auth_session_validity_minutes:
    description: Lifetime of a sign-in session between challenges (MFA), 3 to 15 minutes.
    type: int
    default: 3
  explicit_auth_flows:
    description:
      - Sign-in flows the client allows, compared as a set.
      - The C(ALLOW_) values only. Cognito's legacy ones (C(ADMIN_NO_SRP_AUTH), C(CUSTOM_AUTH_FLOW_ONLY),
        C(USER_PASSWORD_AUTH)) cannot be mixed with them and are refused.
    type: list
    elements: str
    choices:
      - ALLOW_USER_SRP_AUTH
      - ALLOW_USER_PASSWORD_AUTH
      - ALLOW_REFRESH_TOKEN_AUTH
      - ALLOW_ADMIN_USER_PASSWORD_AUTH
      - ALLOW_CUSTOM_AUTH
      - ALLOW_USER_AUTH
    default: [ALLOW_USER_SRP_AUTH, ALLOW_REFRESH_TOKEN_AUTH]
  refresh_token_rotation:
    description:
      - Whether a refresh returns a new refresh token and retires the one used
        (C(GetTokensFromRefreshToken)); needs the pool's C(ESSENTIALS) or C(PLUS) feature plan.
    type: bool
    default: true
  refresh_token_retry_grace_seconds:
    description: Seconds the retired refresh token still works (client retries), 0 to 60.
    type: int
    default: 0
  enable_token_revocation:
    description: Whether refresh tokens can be revoked (C(RevokeToken)).
    type: bool
    default: true
  prevent_user_existence_errors:
    description: Whether sign-in answers the same for an unknown user and a wrong password.
    type: bool
    default: true
extends_documentation_fragment:
  - giftcrypto.platform.aws_resource
  - giftcrypto.platform.aws_resource.state
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: The API's app client, 15-minute tokens, 8-hour rotated refresh tokens
  giftcrypto.platform.cognito_user_pool_client:
    user_pool_id: "{{ users.user_pool_id }}"
    name: giftcrypto-api
    access_token_validity_minutes: 15
    refresh_token_validity_minutes: 480
  register: api_client
"""

RETURN = r"""
planned:
  description: What the run did or would do to the client (the collection's result contract).
  returned: always
  type: str
  sample: update
changes:
  description: The client's settings that differ.
  returned: always
  type: list
  elements: str
  sample: [access_token_validity_minutes]
unverified:
  description: What the run could not verify (nothing, for a client).
  returned: always
  type: list
  elements: str
  sample: []
client_id:
  description: ID of the client (empty when absent, or in check mode before it exists).
  returned: always
  type: str
  sample: 1example23456789abcdefghij
user_pool_client:
  description: The client's settings as compared by the module; empty when absent.
  returned: always
  type: dict
  sample:
    client_id: 1example23456789abcdefghij
    name: giftcrypto-api
    has_secret: false
    access_token_validity_minutes: 15
    id_token_validity_minutes: 15
    refresh_token_validity_minutes: 480
    auth_session_validity_minutes: 3
    explicit_auth_flows: [ALLOW_REFRESH_TOKEN_AUTH, ALLOW_USER_SRP_AUTH]
    refresh_token_rotation: true
    refresh_token_retry_grace_seconds: 0
    enable_token_revocation: true
    prevent_user_existence_errors: true
"""

from typing import ClassVar

from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_resource import (
    AWSResource,
    ResourceProblem,
    run,
)

# What UpdateUserPoolClient accepts beyond what this module manages: sent back unchanged.
KEPT = (
    "ReadAttributes",
    "WriteAttributes",
    "SupportedIdentityProviders",
    "CallbackURLs",
    "LogoutURLs",
    "DefaultRedirectURI",
    "AllowedOAuthFlows",
    "AllowedOAuthScopes",
    "AllowedOAuthFlowsUserPoolClient",
    "AnalyticsConfiguration",
    "EnablePropagateAdditionalUserContextData",
)
MINUTES_PER_UNIT = {"seconds": 1 / 60, "minutes": 1, "hours": 60, "days": 1440}
# Cognito's ranges (CreateUserPoolClient), in minutes.
# ExplicitAuthFlows (API_CreateUserPoolClient): the ALLOW_ values; the legacy ones do not mix with them.
AUTH_FLOWS = [
    "ALLOW_USER_SRP_AUTH",
    "ALLOW_USER_PASSWORD_AUTH",
    "ALLOW_REFRESH_TOKEN_AUTH",
    "ALLOW_ADMIN_USER_PASSWORD_AUTH",
    "ALLOW_CUSTOM_AUTH",
    "ALLOW_USER_AUTH",
]
RANGES = {
    "access_token_validity_minutes": (5, 1440),
    "id_token_validity_minutes": (5, 1440),
    "refresh_token_validity_minutes": (60, 3650 * 1440),
    "auth_session_validity_minutes": (3, 15),
}


def minutes(value, unit: str, default_unit: str):
    """A validity in minutes, from Cognito's value and its unit (TokenValidityUnits)."""
    if value is None:
        return None
    return round(value * MINUTES_PER_UNIT[(unit or default_unit).lower()])


class UserPoolClient(AWSResource):
    service = "cognito-idp"
    resource = "user_pool_client"
    noun = "Cognito app client"
    named_by = "name"
    not_found = ("ResourceNotFoundException",)
    options: ClassVar[dict] = {
        "user_pool_id": {"type": "str", "required": True},
        "name": {"type": "str", "required": True},
        # Lifetimes of tokens, no token (no_log said explicitly: Ansible flags the names).
        "access_token_validity_minutes": {"type": "int", "default": 15, "no_log": False},
        "id_token_validity_minutes": {"type": "int", "default": 15, "no_log": False},
        "refresh_token_validity_minutes": {"type": "int", "default": 480, "no_log": False},
        "auth_session_validity_minutes": {"type": "int", "default": 3},
        "explicit_auth_flows": {
            "type": "list",
            "elements": "str",
            "choices": AUTH_FLOWS,
            "default": ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        },
        "refresh_token_rotation": {"type": "bool", "default": True},
        "refresh_token_retry_grace_seconds": {"type": "int", "default": 0, "no_log": False},
        "enable_token_revocation": {"type": "bool", "default": True},
        "prevent_user_existence_errors": {"type": "bool", "default": True},
    }

    def validate(self):
        problems = {}
        for option, (low, high) in RANGES.items():
            if not low <= self.params[option] <= high:
                problems[option] = f"{self.params[option]} is not within {low} to {high} minutes"
        if not 0 <= self.params["refresh_token_retry_grace_seconds"] <= 60:
            problems["refresh_token_retry_grace_seconds"] = (
                f"{self.params['refresh_token_retry_grace_seconds']} is not within 0 to 60"
            )
        return problems

    def describe(self):
        clients = [
            client
            for client in self.paginate(
                "list_user_pool_clients", UserPoolId=self.params["user_pool_id"], MaxResults=60
            )["UserPoolClients"]
            if client["ClientName"] == self.params["name"]
        ]
        if not clients:
            return None
        if len(clients) > 1:
            raise ResourceProblem(
                f"{len(clients)} app clients are named {self.params['name']}: delete all but one"
            )
        return self.client.describe_user_pool_client(
            aws_retry=True, UserPoolId=self.params["user_pool_id"], ClientId=clients[0]["ClientId"]
        )["UserPoolClient"]

    def _describe(self):
        try:
            return super()._describe()
        except ResourceProblem as problem:
            self.module.fail_json(msg=f"Read the {self.noun} {self.params['name']}: {problem}")

    def view(self, described):
        units = described.get("TokenValidityUnits") or {}
        rotation = described.get("RefreshTokenRotation") or {}
        return {
            "client_id": described["ClientId"],
            "name": described["ClientName"],
            "has_secret": bool(described.get("ClientSecret")),
            "access_token_validity_minutes": minutes(
                described.get("AccessTokenValidity", 60), units.get("AccessToken"), "hours"
            ),
            "id_token_validity_minutes": minutes(
                described.get("IdTokenValidity", 60), units.get("IdToken"), "hours"
            ),
            "refresh_token_validity_minutes": minutes(
                described.get("RefreshTokenValidity", 30), units.get("RefreshToken"), "days"
            ),
            "auth_session_validity_minutes": described.get("AuthSessionValidity", 3),
            "explicit_auth_flows": sorted(described.get("ExplicitAuthFlows") or []),
            "refresh_token_rotation": rotation.get("Feature") == "ENABLED",
            "refresh_token_retry_grace_seconds": rotation.get("RetryGracePeriodSeconds", 0),
            "enable_token_revocation": bool(described.get("EnableTokenRevocation", True)),
            "prevent_user_existence_errors": described.get("PreventUserExistenceErrors") == "ENABLED",
        }

    def plan(self, current):
        planned = {
            "client_id": (current or {}).get("client_id", ""),
            "name": self.params["name"],
            "has_secret": (current or {}).get("has_secret", False),
            "explicit_auth_flows": sorted(set(self.params["explicit_auth_flows"])),
        }
        for option in (
            *RANGES,
            "refresh_token_rotation",
            "refresh_token_retry_grace_seconds",
            "enable_token_revocation",
            "prevent_user_existence_errors",
        ):
            planned[option] = self.params[option]
        return planned

    def differences(self, current, planned):
        changes = super().differences(current, planned)
        if current.get("has_secret"):
            raise ResourceProblem(
                "it has a client secret, which Cognito cannot remove: delete it (state=absent) and run again"
            )
        return changes

    def _settings(self, planned):
        return {
            "ClientName": planned["name"],
            "AccessTokenValidity": planned["access_token_validity_minutes"],
            "IdTokenValidity": planned["id_token_validity_minutes"],
            "RefreshTokenValidity": planned["refresh_token_validity_minutes"],
            "TokenValidityUnits": {"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "minutes"},
            "AuthSessionValidity": planned["auth_session_validity_minutes"],
            "ExplicitAuthFlows": planned["explicit_auth_flows"],
            "RefreshTokenRotation": {
                "Feature": "ENABLED" if planned["refresh_token_rotation"] else "DISABLED",
                "RetryGracePeriodSeconds": planned["refresh_token_retry_grace_seconds"],
            },
            "EnableTokenRevocation": planned["enable_token_revocation"],
            "PreventUserExistenceErrors": "ENABLED" if planned["prevent_user_existence_errors"] else "LEGACY",
        }

    def create(self, planned):
        self.client.create_user_pool_client(
            aws_retry=True,
            UserPoolId=self.params["user_pool_id"],
            GenerateSecret=False,
            **self._settings(planned),
        )

    def update(self, current, planned, changes):
        described = self.client.describe_user_pool_client(
            aws_retry=True, UserPoolId=self.params["user_pool_id"], ClientId=current["client_id"]
        )["UserPoolClient"]
        kept = {key: described[key] for key in KEPT if key in described}
        self.client.update_user_pool_client(
            aws_retry=True,
            UserPoolId=self.params["user_pool_id"],
            ClientId=current["client_id"],
            **kept,
            **self._settings(planned),
        )

    def delete(self, current):
        self.client.delete_user_pool_client(
            aws_retry=True, UserPoolId=self.params["user_pool_id"], ClientId=current["client_id"]
        )

    def outputs(self, view):
        return {"client_id": view.get("client_id", "")}


def main():
    run(UserPoolClient)


if __name__ == "__main__":
    main()
