#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: cognito_user_pool
short_description: Manage an Amazon Cognito user pool's sign-in security
version_added: 0.1.0
description:
  - Creates, updates or deletes an Amazon Cognito user pool, found by its name, with the settings
    that decide how its users sign in (the password policy, multi-factor authentication by
    authenticator app, TOTP), whether only administrators create users, the feature plan, threat
    protection, deletion protection and tags.
  - Fills a gap, neither amazon.aws nor community.aws ships a module for Cognito user pools (the
    C(CreateUserPool), C(UpdateUserPool), C(SetUserPoolMfaConfig) and C(DeleteUserPool) APIs).
  - C(UpdateUserPool) resets every setting a request leaves out to its default, so an update sends
    the pool's current settings with the managed ones changed; settings this module does not manage
    (email, SMS, triggers, schema) are kept as they are.
author:
  - GiftCrypto platform team (@giftcrypto)
options:
  name:
    description:
      - Name of the pool. Cognito does not make names unique, the module refuses to act when two
        pools have the name.
    type: str
    required: true
  password_policy:
    description: The password policy of the pool's users.
    type: dict
    default: {}
    suboptions:
      minimum_length:
        description: Minimum length, 6 to 99 (Cognito's range).
        type: int
        default: 14
      require_uppercase:
        description: At least one uppercase letter.
        type: bool
        default: true
      require_lowercase:
        description: At least one lowercase letter.
        type: bool
        default: true
      require_numbers:
        description: At least one digit.
        type: bool
        default: true
      require_symbols:
        description: At least one symbol.
        type: bool
        default: true
      temporary_password_validity_days:
        description: Days a temporary password (set by an administrator) stays valid, 0 to 365.
        type: int
        default: 1
      password_history_size:
        description:
          - Previous passwords a user cannot reuse, 0 to 24 (0, off). Cognito accepts a history only
            in the C(ESSENTIALS) and C(PLUS) feature plans.
        type: int
        default: 0
  mfa:
    description:
      - Multi-factor authentication. C(ON), every user signs in with a second factor (a user without
        one is asked to set up TOTP, and receives no tokens before); C(OPTIONAL), users who set one
        up use it; C(OFF), none.
      - The only factor this module configures is TOTP (an authenticator app), no SMS.
    type: str
    choices: ['OFF', 'ON', 'OPTIONAL']
    default: 'OFF'
  admin_create_user_only:
    description: Whether only administrators create users (no self sign-up).
    type: bool
    default: true
  tier:
    description:
      - The feature plan (C(UserPoolTier)). Threat protection needs C(PLUS); refresh token rotation
        and password history need C(ESSENTIALS) or C(PLUS).
    type: str
    choices: [LITE, ESSENTIALS, PLUS]
    default: ESSENTIALS
  advanced_security_mode:
    description:
      - Threat protection (compromised credentials, adaptive authentication). C(ENFORCED) acts on the
        risks it finds, C(AUDIT) only records them; both need O(tier=PLUS).
    type: str
    choices: ['OFF', AUDIT, ENFORCED]
    default: 'OFF'
  deletion_protection:
    description: Whether Cognito refuses to delete the pool (V(absent) fails while it is on).
    type: bool
    default: false
extends_documentation_fragment:
  - giftcrypto.platform.aws_resource
  - giftcrypto.platform.aws_resource.state
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: The administrators' pool, TOTP required, threat protection enforced, protected from deletion
  giftcrypto.platform.cognito_user_pool:
    name: giftcrypto-production-admins
    password_policy:
      minimum_length: 14
      password_history_size: 5
    mfa: 'ON'
    tier: PLUS
    advanced_security_mode: ENFORCED
    deletion_protection: true
    tags:
      Project: GiftCrypto
  register: admins

- name: Delete a pool (refused by Cognito while deletion protection is on)
  giftcrypto.platform.cognito_user_pool:
    name: giftcrypto-local-users
    state: absent
"""

RETURN = r"""
planned:
  description: What the run did or would do to the pool (the collection's result contract).
  returned: always
  type: str
  sample: update
changes:
  description: The pool's settings that differ (C(tags) for its tags).
  returned: always
  type: list
  elements: str
  sample: [mfa]
unverified:
  description: What the run could not verify (nothing, for a pool).
  returned: always
  type: list
  elements: str
  sample: []
user_pool_id:
  description: ID of the pool (empty when absent, or in check mode before it exists).
  returned: always
  type: str
  sample: eu-west-1_AbCdEf123
issuer:
  description: The C(iss) claim of the pool's tokens (empty when the pool does not exist).
  returned: always
  type: str
  sample: https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123
user_pool:
  description: The pool's settings as compared by the module; empty when absent.
  returned: always
  type: dict
  sample:
    id: eu-west-1_AbCdEf123
    arn: arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbCdEf123
    name: giftcrypto-production-admins
    password_policy: {minimum_length: 14, require_uppercase: true, require_lowercase: true,
                      require_numbers: true, require_symbols: true, temporary_password_validity_days: 1,
                      password_history_size: 5}
    mfa: 'ON'
    software_token_mfa: true
    admin_create_user_only: true
    tier: PLUS
    advanced_security_mode: ENFORCED
    deletion_protection: true
    tags: {Project: GiftCrypto}
"""

from typing import ClassVar

from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_resource import (
    AWSResource,
    ResourceProblem,
    run,
    tag_by_arn_dict,
)
from ansible_collections.giftcrypto.platform.plugins.module_utils.tag_plan import settable

POLICY = {
    "minimum_length": ("MinimumLength", {"type": "int", "default": 14}),
    "require_uppercase": ("RequireUppercase", {"type": "bool", "default": True}),
    "require_lowercase": ("RequireLowercase", {"type": "bool", "default": True}),
    "require_numbers": ("RequireNumbers", {"type": "bool", "default": True}),
    "require_symbols": ("RequireSymbols", {"type": "bool", "default": True}),
    # Numbers about passwords, no password (no_log said explicitly: Ansible flags the names).
    "temporary_password_validity_days": (
        "TemporaryPasswordValidityDays",
        {"type": "int", "default": 1, "no_log": False},
    ),
    "password_history_size": ("PasswordHistorySize", {"type": "int", "default": 0, "no_log": False}),
}
# What UpdateUserPool accepts: the current pool's values of these are sent back unchanged.
UPDATABLE = (
    "LambdaConfig",
    "AutoVerifiedAttributes",
    "SmsVerificationMessage",
    "EmailVerificationMessage",
    "EmailVerificationSubject",
    "VerificationMessageTemplate",
    "SmsAuthenticationMessage",
    "UserAttributeUpdateSettings",
    "DeviceConfiguration",
    "EmailConfiguration",
    "SmsConfiguration",
    "AccountRecoverySetting",
    # Tags are changed by TagResource; an update sends them as they are (it would reset them otherwise).
    "UserPoolTags",
)


class UserPool(AWSResource):
    service = "cognito-idp"
    resource = "user_pool"
    noun = "Cognito user pool"
    named_by = "name"
    shared = ("state", "tags", "purge_tags")
    not_found = ("ResourceNotFoundException",)
    options: ClassVar[dict] = {
        "name": {"type": "str", "required": True},
        "password_policy": {
            "type": "dict",
            "default": {},
            # The rules of passwords, no password: said explicitly (Ansible warns on the option's name).
            "no_log": False,
            "options": {name: spec for name, (_, spec) in POLICY.items()},
        },
        "mfa": {"type": "str", "choices": ["OFF", "ON", "OPTIONAL"], "default": "OFF"},
        "admin_create_user_only": {"type": "bool", "default": True},
        "tier": {"type": "str", "choices": ["LITE", "ESSENTIALS", "PLUS"], "default": "ESSENTIALS"},
        "advanced_security_mode": {"type": "str", "choices": ["OFF", "AUDIT", "ENFORCED"], "default": "OFF"},
        "deletion_protection": {"type": "bool", "default": False},
    }

    def validate(self):
        problems = {}
        policy = self.params["password_policy"]
        if not 6 <= policy["minimum_length"] <= 99:
            problems["password_policy.minimum_length"] = f"{policy['minimum_length']} is not within 6 to 99"
        if not 0 <= policy["temporary_password_validity_days"] <= 365:
            problems["password_policy.temporary_password_validity_days"] = (
                f"{policy['temporary_password_validity_days']} is not within 0 to 365"
            )
        if not 0 <= policy["password_history_size"] <= 24:
            problems["password_policy.password_history_size"] = (
                f"{policy['password_history_size']} is not within 0 to 24"
            )
        elif policy["password_history_size"] and self.params["tier"] == "LITE":
            needs = "a password history needs tier ESSENTIALS or PLUS"
            problems["password_policy.password_history_size"] = needs
        if self.params["advanced_security_mode"] != "OFF" and self.params["tier"] != "PLUS":
            problems["advanced_security_mode"] = (
                f"{self.params['advanced_security_mode']} (threat protection) needs tier PLUS,"
                f" not {self.params['tier']}"
            )
        return problems

    def describe(self):
        pools = [
            pool
            for pool in self.paginate("list_user_pools", MaxResults=60)["UserPools"]
            if pool["Name"] == self.params["name"]
        ]
        if not pools:
            return None
        if len(pools) > 1:
            ids = ", ".join(pool["Id"] for pool in pools)
            raise ResourceProblem(
                f"{len(pools)} pools are named {self.params['name']} ({ids}): delete all but one"
            )
        pool = self.client.describe_user_pool(aws_retry=True, UserPoolId=pools[0]["Id"])["UserPool"]
        mfa = self.client.get_user_pool_mfa_config(aws_retry=True, UserPoolId=pool["Id"])
        return {**pool, "MfaConfig": mfa}

    def _describe(self):  # a duplicate name is a problem of the read, reported as such
        try:
            return super()._describe()
        except ResourceProblem as problem:
            self.module.fail_json(msg=f"Read the {self.noun} {self.params['name']}: {problem}")

    def view(self, described):
        policy = (described.get("Policies") or {}).get("PasswordPolicy") or {}
        mfa = described.get("MfaConfig") or {}
        return {
            "id": described["Id"],
            "arn": described.get("Arn", ""),
            "name": described["Name"],
            "password_policy": {
                name: policy.get(key, spec["default"] if name == "password_history_size" else None)
                for name, (key, spec) in POLICY.items()
            },
            "mfa": mfa.get("MfaConfiguration") or described.get("MfaConfiguration") or "OFF",
            "software_token_mfa": bool((mfa.get("SoftwareTokenMfaConfiguration") or {}).get("Enabled")),
            "admin_create_user_only": bool(
                (described.get("AdminCreateUserConfig") or {}).get("AllowAdminCreateUserOnly")
            ),
            "tier": described.get("UserPoolTier") or "ESSENTIALS",
            "advanced_security_mode": (described.get("UserPoolAddOns") or {}).get("AdvancedSecurityMode")
            or "OFF",
            "deletion_protection": described.get("DeletionProtection") == "ACTIVE",
            "tags": dict(described.get("UserPoolTags") or {}),
        }

    def plan(self, current):
        base = current or {"id": "", "arn": "", "name": self.params["name"]}
        return {
            **base,
            "password_policy": dict(self.params["password_policy"]),
            "mfa": self.params["mfa"],
            # TOTP is the pool's factor whenever MFA is not off (SMS is never configured).
            "software_token_mfa": self.params["mfa"] != "OFF",
            "admin_create_user_only": self.params["admin_create_user_only"],
            "tier": self.params["tier"],
            "advanced_security_mode": self.params["advanced_security_mode"],
            "deletion_protection": self.params["deletion_protection"],
        }

    def _settings(self, planned):
        return {
            "Policies": {
                "PasswordPolicy": {key: planned["password_policy"][name] for name, (key, _) in POLICY.items()}
            },
            "DeletionProtection": "ACTIVE" if planned["deletion_protection"] else "INACTIVE",
            "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": planned["admin_create_user_only"]},
            "UserPoolTier": planned["tier"],
            "UserPoolAddOns": {"AdvancedSecurityMode": planned["advanced_security_mode"]},
        }

    def _set_mfa(self, pool_id, planned):
        request = {"UserPoolId": pool_id, "MfaConfiguration": planned["mfa"]}
        if planned["mfa"] != "OFF":
            request["SoftwareTokenMfaConfiguration"] = {"Enabled": True}
        self.client.set_user_pool_mfa_config(aws_retry=True, **request)

    def create(self, planned):
        request = {"PoolName": self.params["name"], **self._settings(planned)}
        if settable(planned["tags"]):
            request["UserPoolTags"] = settable(planned["tags"])
        created = self.client.create_user_pool(aws_retry=True, **request)["UserPool"]
        # ON needs a configured factor: TOTP is enabled with it, after the pool exists.
        if planned["mfa"] != "OFF":
            self._set_mfa(created["Id"], planned)

    def update(self, current, planned, changes):
        pool_id = current["id"]
        if set(changes) - {"mfa", "software_token_mfa"}:
            described = self.client.describe_user_pool(aws_retry=True, UserPoolId=pool_id)["UserPool"]
            kept = {key: described[key] for key in UPDATABLE if described.get(key)}
            self.client.update_user_pool(
                aws_retry=True,
                UserPoolId=pool_id,
                MfaConfiguration=current["mfa"],
                **kept,
                **self._settings(planned),
            )
        if {"mfa", "software_token_mfa"} & set(changes):
            self._set_mfa(pool_id, planned)

    def delete(self, current):
        self.client.delete_user_pool(aws_retry=True, UserPoolId=current["id"])

    def tag(self, current, to_set, to_unset):
        tag_by_arn_dict(self.client, current["arn"], to_set, to_unset)

    def outputs(self, view):
        pool_id = view.get("id", "")
        region = pool_id.split("_", 1)[0] if pool_id else ""
        return {
            "user_pool_id": pool_id,
            "issuer": f"https://cognito-idp.{region}.amazonaws.com/{pool_id}" if pool_id else "",
        }

    def name(self, view):
        return (view or {}).get("name") or self.params["name"]


def main():
    run(UserPool)


if __name__ == "__main__":
    main()
