#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: rds_automated_backups_replication
short_description: Replicate the automated backups of an RDS instance to another region
version_added: 0.1.0
description:
  - Starts or stops the cross-region replication of a DB instance's automated backups
    (C(StartDBInstanceAutomatedBackupsReplication), C(StopDBInstanceAutomatedBackupsReplication)),
    called in the destination region (O(region)); the current state is read there with
    C(DescribeDBInstanceAutomatedBackups) filtered by the source instance's ARN.
  - No module of amazon.aws or community.aws manages this API.
  - The local AWS endpoint (moto 5.2) does not implement the start and stop calls (it answers 500);
    the module then fails with that answer, so roles skip it there.
author:
  - GiftCrypto platform team
options:
  source_db_instance_arn:
    description:
      - ARN of the source DB instance (C(arn:<partition>:rds:<region>:<account>:db:<identifier>)), in a
        region other than O(region). Its region is the C(SourceRegion) of the presigned request.
    type: str
    required: true
  kms_key_id:
    description:
      - KMS key in the destination region that encrypts the replicated backups (required by AWS for an
        encrypted source). Used when the replication starts.
    type: str
  backup_retention_period:
    description:
      - Days the replicated automated backups are kept, 1 to 35. Used when the replication starts;
        AWS cannot change it on a running replication (a different value gives a warning).
    type: int
    default: 7
  state:
    description: Whether the replication runs.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Supports check mode, which reports whether the replication would start or stop.
  - Supports diff (the replication before and after).
  - Calls are retried with a jittered exponential backoff when RDS throttles them.
  - Lives in the collection's C(aws) action group so that C(module_defaults) for
    C(group/amazon.aws.aws) give it region, endpoint and credentials.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Replicate the primary's automated backups to the DR region, 7 days
  giftcrypto.platform.rds_automated_backups_replication:
    region: us-west-2
    source_db_instance_arn: arn:aws:rds:us-east-1:123456789012:db:giftcrypto-production
    kms_key_id: arn:aws:kms:us-west-2:123456789012:key/5678abcd-12ab-34cd-56ef-1234567890ab
    backup_retention_period: 7

- name: Stop the replication
  giftcrypto.platform.rds_automated_backups_replication:
    region: us-west-2
    source_db_instance_arn: arn:aws:rds:us-east-1:123456789012:db:giftcrypto-production
    state: absent
"""

RETURN = r"""
replication:
  description: The replicated automated backups in the destination region after the run (planned, in
    check mode); empty when none.
  returned: always
  type: dict
  contains:
    arn:
      description: ARN of the replicated automated backups; empty before they exist.
      type: str
      sample: arn:aws:rds:us-west-2:123456789012:auto-backup:ab-xyz
    source_db_instance_arn:
      description: ARN of the source instance.
      type: str
      sample: arn:aws:rds:us-east-1:123456789012:db:giftcrypto-production
    status:
      description: Status AWS gives (for example C(pending), C(replicating)).
      type: str
      sample: replicating
    backup_retention_period:
      description: Days kept.
      type: int
      sample: 7
    kms_key_id:
      description: Key of the replicated backups.
      type: str
      sample: arn:aws:kms:us-west-2:123456789012:key/5678abcd-12ab-34cd-56ef-1234567890ab
"""

import re

try:  # noqa: SIM105 -- the usual optional-import guard of Ansible modules
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

SOURCE_ARN = re.compile(
    r"^arn:aws[a-z-]*:rds:(?P<region>[a-z]{2}(-[a-z]+)+-[0-9]):[0-9]{12}:db:[a-z][a-z0-9-]{0,62}$"
)
KEY = re.compile(
    r"^(arn:aws[a-z-]*:kms:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:(key|alias)/\S{1,256}"
    r"|alias/\S{1,250}|[0-9a-f-]{36})$"
)
# Replications that stopped or are being deleted are not "running".
GONE = ("deleting", "stopped", "retained")


def check_input(params, region):
    """Problems with the options, each naming the option; an empty list means the input is fine."""
    problems = []
    arn = params["source_db_instance_arn"] or ""
    found = SOURCE_ARN.fullmatch(arn)
    if not found:
        problems.append(
            f"source_db_instance_arn={arn}: the ARN of a DB instance, "
            "arn:<partition>:rds:<region>:<account>:db:<id>"
        )
    elif region and found.group("region") == region:
        problems.append(
            f"source_db_instance_arn={arn}: the source must be in another region "
            f"than the destination {region}"
        )
    key = params["kms_key_id"]
    if key is not None and not KEY.fullmatch(key):
        problems.append(f"kms_key_id={key}: a KMS key id, key ARN, alias or alias ARN")
    days = params["backup_retention_period"]
    if days is not None and not 1 <= days <= 35:
        problems.append(f"backup_retention_period={days}: 1 to 35 days")
    return problems


def _current(client, arn):
    try:
        answer = client.describe_db_instance_automated_backups(
            aws_retry=True, Filters=[{"Name": "db-instance-id", "Values": [arn]}]
        )
    except is_boto3_error_code("DBInstanceAutomatedBackupNotFound"):
        return None
    for backup in answer.get("DBInstanceAutomatedBackups") or []:
        if backup.get("DBInstanceArn") == arn and backup.get("Status") not in GONE:
            return backup
    return None


def _view(backup, arn):
    if not backup:
        return {}
    return {
        "arn": backup.get("DBInstanceAutomatedBackupsArn", ""),
        "source_db_instance_arn": arn,
        "status": backup.get("Status", ""),
        "backup_retention_period": int(backup.get("BackupRetentionPeriod") or 0),
        "kms_key_id": backup.get("KmsKeyId", ""),
    }


def main():
    argument_spec = dict(
        source_db_instance_arn=dict(type="str", required=True),
        kms_key_id=dict(type="str", no_log=False),
        backup_retention_period=dict(type="int", default=7),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    problems = check_input(params, module.region)
    if problems:
        module.fail_json(msg="Refused the backup replication: " + "; ".join(problems))
    arn = params["source_db_instance_arn"]
    source_region = SOURCE_ARN.fullmatch(arn).group("region")
    client = module.client("rds", retry_decorator=AWSRetry.jittered_backoff(retries=10))

    try:
        backup = _current(client, arn)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Could not read the replicated automated backups of {arn}")
    before = _view(backup, arn)

    if params["state"] == "absent":
        if backup and not module.check_mode:
            try:
                client.stop_db_instance_automated_backups_replication(aws_retry=True, SourceDBInstanceArn=arn)
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                module.fail_json_aws(e, msg=f"Could not stop the replication of {arn}")
        module.exit_json(changed=backup is not None, replication={}, diff={"before": before, "after": {}})

    if backup:
        days = params["backup_retention_period"]
        if int(backup.get("BackupRetentionPeriod") or 0) != days:
            module.warn(
                f"backup_retention_period={days}: the replication of {arn} keeps "
                f"{backup.get('BackupRetentionPeriod')} days, which AWS cannot change while it runs "
                "(stop it with state=absent, then start it again)"
            )
        module.exit_json(changed=False, replication=before, diff={"before": before, "after": before})

    planned = {
        "arn": "",
        "source_db_instance_arn": arn,
        "status": "pending",
        "backup_retention_period": params["backup_retention_period"],
        "kms_key_id": params["kms_key_id"] or "",
    }
    if module.check_mode:
        module.exit_json(changed=True, replication=planned, diff={"before": before, "after": planned})
    request = {
        "SourceDBInstanceArn": arn,
        "BackupRetentionPeriod": params["backup_retention_period"],
        "SourceRegion": source_region,
    }
    if params["kms_key_id"]:
        request["KmsKeyId"] = params["kms_key_id"]
    try:
        started = client.start_db_instance_automated_backups_replication(aws_retry=True, **request)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Could not start the replication of {arn}")
    after = _view(started.get("DBInstanceAutomatedBackup") or {}, arn) or planned
    module.exit_json(changed=True, replication=after, diff={"before": before, "after": after})


if __name__ == "__main__":
    main()
