#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: secretsmanager_rotation_schedule
short_description: Keep the rotation schedule of Secrets Manager secrets without rotating them
version_added: 0.1.0
description:
  - Sets, for each secret of O(secrets), the rotation Lambda (C(RotationLambdaARN)) and the days
    between two rotations (C(RotationRules.AutomaticallyAfterDays)) with C(RotateSecret) and
    C(RotateImmediately=false), which changes the schedule without rotating (Secrets Manager only
    runs the function's C(testSecret) step to check the configuration). The first rotation comes
    when the schedule says, never during a deploy.
  - A secret whose schedule is already the one asked for is not called at all (two calls per run and
    secret are reads only, C(DescribeSecret)); one task keeps the schedules of every secret listed.
  - O(state=absent) turns rotation off (C(CancelRotateSecret)) for the listed secrets that have it.
  - The gap it fills (amazon.aws 11.4, community.aws 11) - C(community.aws.secretsmanager_secret)'s
    C(rotation_lambda) and C(rotation_interval) call C(RotateSecret) with Secrets Manager's default,
    C(RotateImmediately=true), so the secret rotates at once (on creation, before the login it holds
    may exist on the server); and it keeps the schedule only together with the secret's value, which
    the roles that generate the secrets own.
  - Every listed secret must exist; a missing one is refused, named, before any change (in check
    mode it is reported in RV(unverified)).
author:
  - GiftCrypto platform team (@giftcrypto)
options:
  secrets:
    description:
      - Names or ARNs of the secrets. Each one's entry in the result is keyed by the name given here.
    type: list
    elements: str
    required: true
  rotation_lambda_arn:
    description:
      - ARN of the rotation function (C(arn:<partition>:lambda:<region>:<account>:function:<name>)),
        without a version or alias qualifier. Required with O(state=present). The function must let
        C(secretsmanager.amazonaws.com) invoke it (C(amazon.aws.lambda_policy)).
    type: str
  rotation_days:
    description:
      - Days between two rotations (C(RotationRules.AutomaticallyAfterDays)), 1 to 1000 (Security
        Hub's SecretsManager.4 asks for 90 at most).
    type: int
    default: 30
extends_documentation_fragment: [giftcrypto.platform.aws_resource, giftcrypto.platform.aws_resource.state,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
notes:
  - With O(state=present), AWS invokes the function's C(testSecret) step when it sets a schedule, so
    the function must reach the secret's server by then (run this after the logins exist).
  - A secret whose previous rotation did not finish (C(AWSPENDING) on a version that is not
    C(AWSCURRENT)) is refused by AWS; finish or cancel that rotation first.
"""

EXAMPLES = r"""
- name: Rotate the PostgreSQL logins every 30 days with the platform's rotation function (no rotation now)
  giftcrypto.platform.secretsmanager_rotation_schedule:
    secrets:
      - giftcrypto/production/postgres/app_rw
      - giftcrypto/production/postgres/app_ro
    rotation_lambda_arn: arn:aws:lambda:us-east-1:123456789012:function:giftcrypto-production-secret-rotation
    rotation_days: 30

- name: Turn the rotation of a secret off
  giftcrypto.platform.secretsmanager_rotation_schedule:
    secrets: [giftcrypto/production/postgres/app_ro]
    state: absent
"""

RETURN = r"""
planned:
  description: C(update) when a schedule is set or changed, C(delete) when rotation is turned off,
    otherwise C(none).
  returned: always
  type: str
  sample: update
changes:
  description: The secrets (as given) whose schedule differs.
  returned: always
  type: list
  elements: str
  sample: [giftcrypto/production/postgres/app_rw]
unverified:
  description: C(secret <name>) for each listed secret that does not exist, in check mode; otherwise empty.
  returned: always
  type: list
  elements: str
  sample: []
rotation_schedules:
  description: Each secret's schedule after the run (as planned, in check mode), keyed by the name given.
  returned: always
  type: dict
  contains:
    arn:
      description: ARN of the secret (empty for a secret that does not exist yet, in check mode).
      type: str
      sample: arn:aws:secretsmanager:us-east-1:123456789012:secret:giftcrypto/staging/postgres/app_rw-AbCdEf
    rotation_enabled:
      description: Whether Secrets Manager rotates the secret.
      type: bool
      sample: true
    rotation_lambda_arn:
      description: The rotation function (empty when none).
      type: str
      sample: arn:aws:lambda:us-east-1:123456789012:function:giftcrypto-production-secret-rotation
    rotation_days:
      description: Days between two rotations (0 when the secret has no such rule).
      type: int
      sample: 30
"""

import re
from typing import ClassVar

from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_resource import (
    AWSResource,
    ResourceProblem,
    run,
)
from ansible_collections.giftcrypto.platform.plugins.module_utils.rotation_schedule import schedule_view

FUNCTION_ARN = re.compile(
    r"^arn:aws[a-z-]*:lambda:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:function:[A-Za-z0-9_-]{1,64}$"
)
NOT_FOUND = ("ResourceNotFoundException",)


class RotationSchedules(AWSResource):
    service = "secretsmanager"
    resource = "rotation_schedules"
    noun = "rotation schedules of"
    shared: ClassVar[tuple[str, ...]] = ("state",)
    options: ClassVar[dict] = {
        "secrets": {"type": "list", "elements": "str", "required": True, "no_log": False},
        "rotation_lambda_arn": {"type": "str"},
        "rotation_days": {"type": "int", "default": 30},
    }
    module_kwargs: ClassVar[dict] = {"required_if": [("state", "present", ["rotation_lambda_arn"])]}

    def name(self, view):
        secrets = self.params.get("secrets") or []
        return secrets[0] if len(secrets) == 1 else f"{len(secrets)} secrets"

    def validate(self):
        problems = {}
        secrets = self.params["secrets"]
        if not secrets or any(not (name or "").strip() for name in secrets):
            problems["secrets"] = "one or more secret names or ARNs, none of them empty"
        elif len(set(secrets)) != len(secrets):
            problems["secrets"] = "each secret once, got " + ", ".join(
                sorted({s for s in secrets if secrets.count(s) > 1})
            )
        arn = self.params["rotation_lambda_arn"]
        if arn is not None and not FUNCTION_ARN.fullmatch(arn):
            problems["rotation_lambda_arn"] = (
                "a Lambda function ARN without qualifier "
                f"(arn:aws:lambda:<region>:<account>:function:<name>), got {arn}"
            )
        days = self.params["rotation_days"]
        if not 1 <= days <= 1000:
            problems["rotation_days"] = f"1 to 1000 days, got {days}"
        return problems

    def describe(self):
        described = {
            secret: self.or_none(NOT_FOUND, self.client.describe_secret, SecretId=secret)
            for secret in self.params["secrets"]
        }
        if self.params["state"] == "absent" and not any(
            (answer or {}).get("RotationEnabled") for answer in described.values()
        ):
            return None  # no schedule to turn off: as wanted
        return described

    def view(self, described):
        view = {}
        for secret, answer in described.items():
            entry = schedule_view(answer)
            rules = entry.pop("rotation_rules")
            view[secret] = {**entry, "rotation_days": int(rules.get("AutomaticallyAfterDays") or 0)}
        return view

    def plan(self, current):
        missing = [secret for secret, entry in (current or {}).items() if not entry["arn"]]
        if missing and not self.module.check_mode:
            raise ResourceProblem(
                "no secret " + ", ".join(missing) + " (create the secrets first; nothing was changed)"
            )
        self.unverified.extend(f"secret {secret}" for secret in missing)
        return {
            secret: {
                "arn": entry["arn"],
                "rotation_enabled": True,
                "rotation_lambda_arn": self.params["rotation_lambda_arn"],
                "rotation_days": self.params["rotation_days"],
            }
            for secret, entry in (current or {}).items()
        }

    def differences(self, current, planned):
        return [secret for secret in self.params["secrets"] if current.get(secret) != planned.get(secret)]

    def update(self, current, planned, changes):
        for secret in changes:
            self.client.rotate_secret(
                aws_retry=True,
                SecretId=current[secret]["arn"],
                RotationLambdaARN=planned[secret]["rotation_lambda_arn"],
                RotationRules={"AutomaticallyAfterDays": planned[secret]["rotation_days"]},
                RotateImmediately=False,
            )

    def delete(self, current):
        for entry in current.values():
            if entry["rotation_enabled"]:
                self.client.cancel_rotate_secret(aws_retry=True, SecretId=entry["arn"])


def main():
    run(RotationSchedules)


if __name__ == "__main__":
    main()
