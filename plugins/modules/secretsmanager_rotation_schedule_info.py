#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: secretsmanager_rotation_schedule_info
short_description: The rotation schedules of Secrets Manager secrets, read-only
version_added: 0.1.0
description:
  - Reads, for each secret of O(secrets), whether Secrets Manager rotates it, with which function and
    rules (C(DescribeSecret)); a secret that does not exist is reported as such, not as an error.
  - Answers also the rotation arguments under which C(community.aws.secretsmanager_secret) leaves
    that schedule alone (RV(rotation_schedules.kept)), for the roles that generate secrets and keep
    their value, resource policy and tags with that module.
  - The gap it fills (community.aws 11.2) - C(community.aws.secretsmanager_secret) owns rotation too.
    Run on a secret with a schedule and without its C(rotation_lambda), it calls C(CancelRotateSecret),
    in check mode as well; given a C(rotation_lambda) that differs from the schedule, it calls
    C(RotateSecret) with C(RotateImmediately=true), which rotates at once. Handing it the schedule in
    place, as read here, is the only way it changes neither
    (M(giftcrypto.platform.secretsmanager_rotation_schedule) owns the schedules).
  - Answers each secret's resource policy as well (C(GetResourcePolicy),
    RV(rotation_schedules.resource_policy)).
    Given no C(resource_policy), C(community.aws.secretsmanager_secret) deletes the secret's policy; a
    role run outside the platform's playbook, which does not know the secret's readers, hands it the
    policy in place instead.
author:
  - GiftCrypto platform team (@giftcrypto)
options:
  secrets:
    description: Names or ARNs of the secrets. Each one's entry in the result is keyed by the name given here.
    type: list
    elements: str
    required: true
notes:
  - Needs C(secretsmanager:DescribeSecret) and C(secretsmanager:GetResourcePolicy) on the secrets.
extends_documentation_fragment: [giftcrypto.platform.aws_resource.info, amazon.aws.common.modules,
  amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Read the schedules of the login secrets
  giftcrypto.platform.secretsmanager_rotation_schedule_info:
    secrets: [giftcrypto/staging/postgres/app_rw, giftcrypto/staging/postgres/app_ro]
  register: schedules

- name: Keep a login's value, policy and tags, and leave its schedule as it is
  community.aws.secretsmanager_secret:
    name: giftcrypto/staging/postgres/app_rw
    json_secret: {username: app_rw, password: "{{ generated }}"}
    overwrite: false
    rotation_lambda: "{{ kept.rotation_lambda | default(omit, true) }}"
    rotation_interval: "{{ kept.rotation_interval | default(omit, true) }}"
    # The policy of the readers when known, else the one in place (never none: that deletes it).
    resource_policy: >-
      {{ readers_policy
         or schedules.rotation_schedules['giftcrypto/staging/postgres/app_rw'].resource_policy or omit }}
  when: kept is not none
  vars:
    kept: "{{ schedules.rotation_schedules['giftcrypto/staging/postgres/app_rw'].kept }}"
  no_log: true
"""

RETURN = r"""
rotation_schedules:
  description: Each secret's schedule, keyed by the name given.
  returned: always
  type: dict
  contains:
    exists:
      description: Whether the secret exists (not scheduled for deletion counts as existing).
      type: bool
      sample: true
    arn:
      description: ARN of the secret (empty when it does not exist).
      type: str
      sample: arn:aws:secretsmanager:us-east-1:123456789012:secret:giftcrypto/staging/postgres/app_rw-AbCdEf
    rotation_enabled:
      description: Whether Secrets Manager rotates the secret.
      type: bool
      sample: true
    rotation_lambda_arn:
      description: The rotation function (empty when none).
      type: str
      sample: arn:aws:lambda:us-east-1:123456789012:function:giftcrypto-staging-secret-rotation
    rotation_rules:
      description: The rotation rules as Secrets Manager answers them (empty when none).
      type: dict
      sample: {AutomaticallyAfterDays: 30}
    kept:
      description:
        - The C(rotation_lambda) and C(rotation_interval) under which C(community.aws.secretsmanager_secret)
          changes nothing of this schedule; both null for a secret without rotation (or that does not
          exist). Null itself when that module cannot leave the schedule alone (rules other than
          C(AutomaticallyAfterDays), or rotation without a function), and that module must then not
          run on that secret.
      type: dict
      sample: {rotation_lambda: "arn:aws:lambda:us-east-1:123456789012:function:x", rotation_interval: 30}
    resource_policy:
      description:
        - The secret's resource policy as Secrets Manager answers it (a JSON string), null when it
          has none or does not exist.
      type: str
      sample: '{"Version": "2012-10-17", "Statement": []}'
"""

from typing import ClassVar

from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_resource import AWSInfo, none_on, run
from ansible_collections.giftcrypto.platform.plugins.module_utils.rotation_schedule import kept, schedule_view

NOT_FOUND = ("ResourceNotFoundException",)


class RotationSchedulesInfo(AWSInfo):
    options: ClassVar[dict] = {
        "secrets": {"type": "list", "elements": "str", "required": True, "no_log": False},
    }

    def validate(self):
        secrets = self.params["secrets"]
        if not secrets or any(not (name or "").strip() for name in secrets):
            return {"secrets": "one or more secret names or ARNs, none of them empty"}
        return {}

    def answer(self):
        client = self.client("secretsmanager")
        schedules = {}
        for secret in self.params["secrets"]:
            described = self.ask(
                f"the rotation schedule of {secret} (DescribeSecret)",
                none_on,
                NOT_FOUND,
                client.describe_secret,
                aws_retry=True,
                SecretId=secret,
            )
            policy = None
            if described:
                answer = self.ask(
                    f"the resource policy of {secret} (GetResourcePolicy)",
                    none_on,
                    NOT_FOUND,
                    client.get_resource_policy,
                    aws_retry=True,
                    SecretId=secret,
                )
                policy = (answer or {}).get("ResourcePolicy") or None
            schedules[secret] = {
                **schedule_view(described),
                "exists": bool(described),
                "kept": kept(described),
                "resource_policy": policy,
            }
        return {"rotation_schedules": schedules}


def main():
    run(RotationSchedulesInfo)


if __name__ == "__main__":
    main()
