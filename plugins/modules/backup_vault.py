#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: backup_vault
short_description: Manage an AWS Backup vault, its KMS key and its tags
version_added: 0.1.0
description:
  - Creates or deletes an AWS Backup vault (C(CreateBackupVault), C(DeleteBackupVault)) encrypted
    with the given KMS key, and keeps its tags (C(ListTags), C(TagResource), C(UntagResource)).
  - Fills a measured gap. C(amazon.aws.backup_vault) (10.1.2) treats only C(AccessDeniedException)
    from C(DescribeBackupVault) as "no such vault" and fails on C(ResourceNotFoundException), which
    the API reference lists among that call's errors and which the local AWS endpoint (moto 5.2)
    answers for a vault that does not exist yet, so it cannot create a vault there; it also ignores
    a different C(encryption_key_arn) on an existing vault silently, and its check mode does not
    show which tags would change. This module treats
    both errors as "absent", refuses a vault whose key differs from the one asked for (AWS cannot
    change a vault's key), and reports the tags before and after (diff).
author:
  - GiftCrypto platform team
options:
  name:
    description:
      - Name of the vault, 2 to 50 letters, digits, hyphens or underscores.
    type: str
    required: true
    aliases: [backup_vault_name]
  encryption_key_arn:
    description:
      - ARN of the KMS key (C(arn:<partition>:kms:<region>:<account>:key/<id>)) the vault encrypts
        its recovery points with; a key in the vault's own region.
      - Required to create the vault unless O(allow_aws_managed_key=true) (then AWS uses its
        C(aws/backup) key).
      - A vault that exists with another key is refused, because the key of a vault cannot be changed.
    type: str
  allow_aws_managed_key:
    description:
      - Allow creating the vault without O(encryption_key_arn), with the AWS managed C(aws/backup) key.
    type: bool
    default: false
  state:
    description: Whether the vault exists.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Supports check mode, which reports the vault and the tags that would change without calling a
    write API.
  - Supports diff (the vault and its tags, before and after).
  - AWS refuses to delete a vault that holds recovery points; the module then fails with its message.
  - Calls are retried with a jittered exponential backoff when AWS Backup throttles them.
  - Lives in the collection's C(aws) action group so that C(module_defaults) for
    C(group/amazon.aws.aws) give it region, endpoint and credentials.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: The platform's vault, encrypted with its backup key
  giftcrypto.platform.backup_vault:
    name: giftcrypto-production
    encryption_key_arn: arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab
    tags:
      Project: GiftCrypto

- name: The disaster recovery copy's vault, in the DR region with a key of that region
  giftcrypto.platform.backup_vault:
    name: giftcrypto-production-dr
    region: us-west-2
    encryption_key_arn: arn:aws:kms:us-west-2:123456789012:key/5678abcd-12ab-34cd-56ef-1234567890ab
    tags:
      Project: GiftCrypto

- name: Delete the vault (it must hold no recovery points)
  giftcrypto.platform.backup_vault:
    name: giftcrypto-production
    state: absent
"""

RETURN = r"""
backup_vault:
  description: The vault after the run (planned, in check mode); empty when absent.
  returned: always
  type: dict
  contains:
    name:
      description: Name of the vault.
      type: str
      sample: giftcrypto-production
    arn:
      description: ARN of the vault; empty in check mode before the vault exists.
      type: str
      sample: arn:aws:backup:us-east-1:123456789012:backup-vault:giftcrypto-production
    encryption_key_arn:
      description: ARN of the KMS key of the vault (empty when planned with the AWS managed key).
      type: str
      sample: arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab
    number_of_recovery_points:
      description: Recovery points in the vault.
      type: int
      sample: 0
    tags:
      description: Tags of the vault.
      type: dict
      sample: {Project: GiftCrypto}
"""

import re
import uuid

try:  # noqa: SIM105 -- the usual optional-import guard of Ansible modules
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.giftcrypto.platform.plugins.module_utils.tag_plan import plan_tags, settable

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{2,50}$")
KEY_ARN_PATTERN = re.compile(
    r"^arn:aws[a-z-]*:kms:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:key/(mrk-)?[0-9a-f-]{32,36}$"
)
# DescribeBackupVault answers ResourceNotFoundException for a missing vault (the gap this module
# fills); AccessDeniedException is what amazon.aws.backup_vault expects for it.
NOT_FOUND = ["ResourceNotFoundException", "AccessDeniedException"]


def check_input(params):
    """Problems with the options, each naming the option; an empty list means the input is fine."""
    problems = []
    name = params["name"]
    if not NAME_PATTERN.fullmatch(name or ""):
        problems.append(f"name={name}: 2 to 50 letters, digits, hyphens or underscores")
    key = params["encryption_key_arn"]
    if key is not None and not KEY_ARN_PATTERN.fullmatch(key):
        problems.append(
            f"encryption_key_arn={key}: the ARN of a KMS key, arn:<partition>:kms:<region>:<account>:key/<id>"
        )
    return problems


def _describe(client, name):
    try:
        return client.describe_backup_vault(aws_retry=True, BackupVaultName=name)
    except is_boto3_error_code(NOT_FOUND):
        return None


def _tags(client, arn):
    if not arn:
        return {}
    tags = {}
    request = {"ResourceArn": arn}
    while True:
        page = client.list_tags(aws_retry=True, **request)
        tags.update(page.get("Tags") or {})
        token = page.get("NextToken")
        if not token:
            return tags
        request["NextToken"] = token


def _view(vault, tags):
    if not vault:
        return {}
    return {
        "name": vault.get("BackupVaultName", ""),
        "arn": vault.get("BackupVaultArn", ""),
        "encryption_key_arn": vault.get("EncryptionKeyArn", ""),
        "number_of_recovery_points": int(vault.get("NumberOfRecoveryPoints") or 0),
        "tags": tags,
    }


def _region_of(arn):
    parts = (arn or "").split(":")
    return parts[3] if len(parts) > 3 else ""


def main():
    argument_spec = dict(
        name=dict(type="str", required=True, aliases=["backup_vault_name"]),
        encryption_key_arn=dict(type="str", no_log=False),
        allow_aws_managed_key=dict(type="bool", default=False),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    problems = check_input(params)
    if problems:
        module.fail_json(msg="Refused the backup vault: " + "; ".join(problems))
    name = params["name"]
    client = module.client("backup", retry_decorator=AWSRetry.jittered_backoff(retries=10))

    try:
        vault = _describe(client, name)
        tags_before = _tags(client, vault.get("BackupVaultArn")) if vault else {}
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Could not read the backup vault {name}")
    before = _view(vault, tags_before)

    if params["state"] == "absent":
        if vault and not module.check_mode:
            try:
                client.delete_backup_vault(aws_retry=True, BackupVaultName=name)
            except is_boto3_error_code(NOT_FOUND):
                pass  # deleted meanwhile: the wanted state
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
                module.fail_json_aws(e, msg=f"Could not delete the backup vault {name}")
        module.exit_json(changed=vault is not None, backup_vault={}, diff={"before": before, "after": {}})

    key = params["encryption_key_arn"]
    if vault is None and not key and not params["allow_aws_managed_key"]:
        module.fail_json(
            msg=(
                f"encryption_key_arn is required to create the backup vault {name} "
                "(or allow_aws_managed_key=true for the AWS managed aws/backup key)"
            )
        )
    if vault and key and vault.get("EncryptionKeyArn") and vault["EncryptionKeyArn"] != key:
        module.fail_json(
            msg=(
                f"encryption_key_arn={key}: the backup vault {name} exists encrypted with "
                f"{vault['EncryptionKeyArn']}, which AWS cannot change (use another vault name)"
            )
        )
    region = module.region or ""
    if key and region and _region_of(key) != region:
        module.fail_json(msg=f"encryption_key_arn={key}: the key must be in the vault's region {region}")

    tags_after, tags_to_set, tags_to_unset = plan_tags(tags_before, params["tags"], params["purge_tags"])
    changed = vault is None or bool(tags_to_set or tags_to_unset)

    if module.check_mode or not changed:
        planned = {
            "name": name,
            "arn": (vault or {}).get("BackupVaultArn", ""),
            "encryption_key_arn": (vault or {}).get("EncryptionKeyArn") or key or "",
            "number_of_recovery_points": int((vault or {}).get("NumberOfRecoveryPoints") or 0),
            "tags": tags_after,
        }
        module.exit_json(changed=changed, backup_vault=planned, diff={"before": before, "after": planned})

    try:
        if vault is None:
            request = {"BackupVaultName": name, "CreatorRequestId": str(uuid.uuid4())}
            if key:
                request["EncryptionKeyArn"] = key
            if settable(tags_after):
                request["BackupVaultTags"] = settable(tags_after)
            client.create_backup_vault(aws_retry=True, **request)
        else:
            arn = vault["BackupVaultArn"]
            if tags_to_unset:
                client.untag_resource(aws_retry=True, ResourceArn=arn, TagKeyList=tags_to_unset)
            if tags_to_set:
                client.tag_resource(aws_retry=True, ResourceArn=arn, Tags=tags_to_set)
        vault = _describe(client, name) or vault
        tags_final = _tags(client, (vault or {}).get("BackupVaultArn"))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Could not write the backup vault {name}")
    after = _view(vault, tags_final)
    module.exit_json(changed=True, backup_vault=after, diff={"before": before, "after": after})


if __name__ == "__main__":
    main()
