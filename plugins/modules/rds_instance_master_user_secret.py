#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: rds_instance_master_user_secret
short_description: Have RDS manage (and rotate) the master password of a DB instance in Secrets Manager
version_added: 0.1.0
description:
  - Turns on RDS's management of the master user password of an existing DB instance
    (C(ModifyDBInstance) with C(ManageMasterUserPassword) and C(MasterUserSecretKmsKeyId)); RDS
    generates a new password, keeps it in a secret it owns (C(rds!db-<id>), JSON C(username) and
    C(password)) encrypted with O(kms_key_id), and rotates it itself.
  - Keeps the rotation schedule of that secret (C(RotateSecret) with C(RotationRules) and
    C(RotateImmediately=false), which changes the schedule without rotating; RDS's default is every
    7 days).
  - The gap it fills (amazon.aws 11.4, community.aws 11) - C(amazon.aws.rds_instance) has no
    option for C(ManageMasterUserPassword) nor C(MasterUserSecretKmsKeyId) (it only sets a
    C(master_user_password) that the caller must generate and store), and no module keeps the
    rotation schedule of a secret a service owns (C(community.aws.secretsmanager_secret)'s rotation
    options need a rotation Lambda of the caller's).
  - Once RDS manages the password, turning management off needs a new password of the caller's
    (C(ManageMasterUserPassword=false) with C(MasterUserPassword)); this module does not do that, and
    AWS cannot change the key of a managed secret, so a different O(kms_key_id) is refused with a message
    (turn management off and on again, deliberately, to change it).
  - The instance must exist (C(amazon.aws.rds_instance) creates it); in check mode before it exists
    the module reports the instance as unverified and plans nothing.
author:
  - GiftCrypto platform team (@giftcrypto)
options:
  db_instance_identifier:
    description: Identifier of the DB instance (a primary; a read replica has no master password of its own).
    type: str
    required: true
  kms_key_id:
    description:
      - KMS key (ID, ARN, alias or alias ARN) that encrypts the secret RDS creates. Default the AWS
        managed key C(aws/secretsmanager). Compared by key ARN once the secret exists.
    type: str
  rotation_days:
    description:
      - Days between two rotations of the secret (C(RotationRules.AutomaticallyAfterDays)), 1 to 1000.
        Omit to leave the schedule as RDS set it.
    type: int
  apply_immediately:
    description:
      - Whether the change applies now rather than in the next maintenance window
        (C(ApplyImmediately)). The password changes when it applies.
    type: bool
    default: true
extends_documentation_fragment: [giftcrypto.platform.aws_resource, giftcrypto.platform.aws_resource.wait,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
notes:
  - Migration of an instance whose password a secret of the caller's holds - that secret holds the
    old password once this module has run; delete it only after the result shows
    RV(master_user_secret.secret_arn) and clients read that secret.
"""

EXAMPLES = r"""
- name: RDS manages and rotates the master password, encrypted with our rds key, every 7 days
  giftcrypto.platform.rds_instance_master_user_secret:
    db_instance_identifier: giftcrypto-production
    kms_key_id: alias/giftcrypto-production-rds
    rotation_days: 7
  register: master_secret

- name: Read the managed secret's ARN
  ansible.builtin.debug:
    msg: "{{ master_secret.master_user_secret.secret_arn }}"
"""

RETURN = r"""
planned:
  description: C(update) when management is turned on or the schedule changes, otherwise C(none).
  returned: always
  type: str
  sample: update
changes:
  description: The settings that differ (C(managed), C(rotation_days)).
  returned: always
  type: list
  elements: str
  sample: [managed, rotation_days]
unverified:
  description: C(db_instance) in check mode when the instance does not exist yet, otherwise empty.
  returned: always
  type: list
  elements: str
  sample: []
master_user_secret:
  description: The instance's managed master password after the run (planned, in check mode); no password.
  returned: always
  type: dict
  contains:
    db_instance_identifier:
      description: The instance.
      type: str
      sample: giftcrypto-production
    managed:
      description: Whether RDS manages the master password.
      type: bool
      sample: true
    secret_arn:
      description: ARN of the secret RDS owns; empty before it exists (in check mode).
      type: str
      sample: arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1234abcd-AbCdEf
    secret_status:
      description: C(creating), C(active), C(rotating) or C(impaired), as RDS gives it.
      type: str
      sample: active
    kms_key_id:
      description: ARN of the key that encrypts the secret.
      type: str
      sample: arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab
    rotation_enabled:
      description: Whether Secrets Manager rotates the secret.
      type: bool
      sample: true
    rotation_days:
      description: Days between rotations (0 when the secret has no such rule).
      type: int
      sample: 7
"""

import re
from typing import ClassVar

from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_resource import (
    AWSResource,
    ResourceProblem,
    retrying_client,
    run,
)

IDENTIFIER = re.compile(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,62}(?<!-)$")
KEY = re.compile(
    r"^(arn:aws[a-z-]*:kms:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:(key|alias)/\S{1,256}"
    r"|alias/\S{1,250}|[0-9a-f-]{36}|mrk-[0-9a-f]{32})$"
)


class MasterUserSecret(AWSResource):
    service = "rds"
    resource = "master_user_secret"
    noun = "managed master password of"
    shared: ClassVar[tuple[str, ...]] = ("wait", "wait_timeout")
    not_found = ("DBInstanceNotFound", "DBInstanceNotFoundFault")
    options: ClassVar[dict] = {
        "db_instance_identifier": {"type": "str", "required": True},
        "kms_key_id": {"type": "str", "no_log": False},
        "rotation_days": {"type": "int"},
        "apply_immediately": {"type": "bool", "default": True},
    }
    named_by = "db_instance_identifier"

    def __init__(self, module=None):
        super().__init__(module)
        self._secrets = None
        self._kms = None
        self._key_arns: dict[str, str] = {}

    @property
    def secrets(self):
        if self._secrets is None:
            self._secrets = retrying_client(self.module, "secretsmanager")
        return self._secrets

    def validate(self):
        problems = {}
        identifier = self.params["db_instance_identifier"] or ""
        if not IDENTIFIER.fullmatch(identifier):
            problems["db_instance_identifier"] = (
                "1 to 63 letters, digits or hyphens, starting with a letter, no two hyphens in a row nor "
                f"one at the end, got {identifier}"
            )
        key = self.params["kms_key_id"]
        if key is not None and not KEY.fullmatch(key):
            problems["kms_key_id"] = f"a KMS key id, key ARN, alias or alias ARN, got {key}"
        days = self.params["rotation_days"]
        if days is not None and not 1 <= days <= 1000:
            problems["rotation_days"] = f"1 to 1000 days, got {days}"
        return problems

    def describe(self):
        answer = self.client.describe_db_instances(
            aws_retry=True, DBInstanceIdentifier=self.params["db_instance_identifier"]
        )
        instance = answer["DBInstances"][0]
        secret = instance.get("MasterUserSecret") or {}
        described = {"instance": instance, "secret": secret, "rotation": {}}
        if secret.get("SecretArn"):
            described["rotation"] = self.secrets.describe_secret(aws_retry=True, SecretId=secret["SecretArn"])
        return described

    def view(self, described):
        secret = described["secret"]
        rotation = described["rotation"]
        return {
            "db_instance_identifier": described["instance"]["DBInstanceIdentifier"],
            "managed": bool(secret.get("SecretArn")),
            "secret_arn": secret.get("SecretArn", ""),
            "secret_status": secret.get("SecretStatus", ""),
            "kms_key_id": secret.get("KmsKeyId", ""),
            "rotation_enabled": bool(rotation.get("RotationEnabled")),
            "rotation_days": int((rotation.get("RotationRules") or {}).get("AutomaticallyAfterDays") or 0),
        }

    def key_arn(self, key: str) -> str:
        """The ARN of a key given by id, ARN, alias or alias ARN (as RDS reports the secret's key)."""
        if key not in self._key_arns:
            if self._kms is None:
                self._kms = retrying_client(self.module, "kms")
            self._key_arns[key] = self._kms.describe_key(aws_retry=True, KeyId=key)["KeyMetadata"]["Arn"]
        return self._key_arns[key]

    def plan(self, current):
        if current is None:
            # The instance does not exist: a check run before amazon.aws.rds_instance creates it (a
            # real run fails in create()). What the options ask for, as given (the key too: a plan
            # before the key exists names a placeholder), the rest unknown until then.
            self.unverified.append("db_instance")
            return {
                "db_instance_identifier": self.params["db_instance_identifier"],
                "managed": True,
                "secret_arn": "",
                "secret_status": "creating",  # pragma: allowlist secret
                "kms_key_id": self.params["kms_key_id"] or "",
                "rotation_enabled": self.params["rotation_days"] is not None,
                "rotation_days": self.params["rotation_days"] or 0,
            }
        planned = dict(current, managed=True)
        key = self.params["kms_key_id"]
        if key:
            wanted = self.key_arn(key)
            if current["managed"] and current["kms_key_id"] and current["kms_key_id"] != wanted:
                raise ResourceProblem(
                    f"kms_key_id={key}: the secret {current['secret_arn']} is encrypted with "
                    f"{current['kms_key_id']}, and AWS cannot change the key of a managed secret (turn "
                    "management off and on again to change it)"
                )
            planned["kms_key_id"] = wanted
        days = self.params["rotation_days"]
        if days is not None:
            planned["rotation_days"] = days
            planned["rotation_enabled"] = True
        if not current["managed"]:
            planned["secret_status"] = "creating"  # noqa: S105  # pragma: allowlist secret
        return planned

    def differences(self, current, planned):
        return sorted(key for key in ("managed", "rotation_days") if current.get(key) != planned.get(key))

    def create(self, planned):
        raise ResourceProblem(
            f"the DB instance {self.params['db_instance_identifier']} does not exist (create it first, with "
            "amazon.aws.rds_instance)"
        )

    def update(self, current, planned, changes):
        identifier = self.params["db_instance_identifier"]
        secret_arn = current["secret_arn"]
        if "managed" in changes:
            request = {
                "DBInstanceIdentifier": identifier,
                "ManageMasterUserPassword": True,
                "ApplyImmediately": self.params["apply_immediately"],
            }
            if self.params["kms_key_id"]:
                request["MasterUserSecretKmsKeyId"] = self.params["kms_key_id"]
            answer = self.client.modify_db_instance(aws_retry=True, **request)
            secret_arn = (answer["DBInstance"].get("MasterUserSecret") or {}).get("SecretArn", "")
            if not secret_arn:
                secret_arn = self.poll(lambda view: view.get("secret_arn"), "given its secret")["secret_arn"]
        days = planned["rotation_days"]
        if self.params["rotation_days"] is not None and (
            "managed" in changes or current["rotation_days"] != days
        ):
            rotation = self.secrets.describe_secret(aws_retry=True, SecretId=secret_arn)
            if int((rotation.get("RotationRules") or {}).get("AutomaticallyAfterDays") or 0) != days:
                self.secrets.rotate_secret(
                    aws_retry=True,
                    SecretId=secret_arn,
                    RotationRules={"AutomaticallyAfterDays": days},
                    RotateImmediately=False,
                )

    def wait(self, goal):
        if self.params["apply_immediately"]:
            self.poll(lambda view: view.get("secret_status") == "active", "active")


def main():
    run(MasterUserSecret)


if __name__ == "__main__":
    main()
