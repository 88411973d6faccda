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
  - Nothing of a running replication can be changed (AWS has no such call); a different
    O(backup_retention_period) gives a warning, a stop (O(state=absent)) then a start applies it.
  - The local AWS endpoint (moto 5.2) does not implement the start and stop calls (it answers 500);
    the module then fails with that answer, so roles skip it there.
author:
  - GiftCrypto platform team (@giftcrypto)
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
extends_documentation_fragment: [giftcrypto.platform.aws_resource, giftcrypto.platform.aws_resource.state,
  amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
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
planned:
  description: C(create) for a start of the replication, C(delete) for a stop, otherwise C(none).
  returned: always
  type: str
  sample: create
changes:
  description: Every setting for a start; never anything else, nothing changes in place.
  returned: always
  type: list
  elements: str
  sample: []
unverified:
  description: Always empty.
  returned: always
  type: list
  elements: str
  sample: []
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
from typing import ClassVar

from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_resource import AWSResource, run

SOURCE_ARN = re.compile(
    r"^arn:aws[a-z-]*:rds:(?P<region>[a-z]{2}(-[a-z]+)+-[0-9]):[0-9]{12}:db:[a-z][a-z0-9-]{0,62}$"
)
KEY = re.compile(
    r"^(arn:aws[a-z-]*:kms:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:(key|alias)/\S{1,256}"
    r"|alias/\S{1,250}|[0-9a-f-]{36})$"
)
# Replications that stopped or are being deleted are not "running".
GONE = ("deleting", "stopped", "retained")


class Replication(AWSResource):
    service = "rds"
    resource = "replication"
    noun = "replication of the automated backups"
    not_found = ("DBInstanceAutomatedBackupNotFound",)
    options: ClassVar[dict] = {
        "source_db_instance_arn": {"type": "str", "required": True},
        "kms_key_id": {"type": "str", "no_log": False},
        "backup_retention_period": {"type": "int", "default": 7},
    }
    started = None  # what StartDBInstanceAutomatedBackupsReplication answered, until a read lists it

    def validate(self):
        problems = {}
        arn = self.params["source_db_instance_arn"] or ""
        found = SOURCE_ARN.fullmatch(arn)
        if not found:
            problems["source_db_instance_arn"] = (
                f"the ARN of a DB instance, arn:<partition>:rds:<region>:<account>:db:<id>, got {arn}"
            )
        elif found.group("region") == self.module.region:
            problems["source_db_instance_arn"] = (
                f"the source must be in another region than the destination {self.module.region}, got {arn}"
            )
        key = self.params["kms_key_id"]
        if key is not None and not KEY.fullmatch(key):
            problems["kms_key_id"] = f"a KMS key id, key ARN, alias or alias ARN, got {key}"
        days = self.params["backup_retention_period"]
        if not 1 <= days <= 35:
            problems["backup_retention_period"] = f"1 to 35 days, got {days}"
        return problems

    def describe(self):
        arn = self.params["source_db_instance_arn"]
        filters = [{"Name": "db-instance-id", "Values": [arn]}]
        answer = self.paginate("describe_db_instance_automated_backups", Filters=filters)
        for backup in answer.get("DBInstanceAutomatedBackups") or []:
            if backup.get("DBInstanceArn") == arn and backup.get("Status") not in GONE:
                return backup
        return self.started

    def view(self, described):
        return {
            "arn": described.get("DBInstanceAutomatedBackupsArn", ""),
            "source_db_instance_arn": self.params["source_db_instance_arn"],
            "status": described.get("Status", ""),
            "backup_retention_period": int(described.get("BackupRetentionPeriod") or 0),
            "kms_key_id": described.get("KmsKeyId", ""),
        }

    def plan(self, current):
        days = self.params["backup_retention_period"]
        if current is None:
            return {
                "arn": "",
                "source_db_instance_arn": self.params["source_db_instance_arn"],
                "status": "pending",
                "backup_retention_period": days,
                "kms_key_id": self.params["kms_key_id"] or "",
            }
        if current["backup_retention_period"] != days:
            self.module._module.warn(
                f"backup_retention_period={days}: the replication of {self.params['source_db_instance_arn']} "
                f"keeps {current['backup_retention_period']} days, which AWS cannot change while it runs "
                "(stop it with state=absent, then start it again)"
            )
        return current

    def create(self, planned):
        arn = self.params["source_db_instance_arn"]
        request = {
            "SourceDBInstanceArn": arn,
            "BackupRetentionPeriod": planned["backup_retention_period"],
            "SourceRegion": SOURCE_ARN.fullmatch(arn).group("region"),
        }
        if planned["kms_key_id"]:
            request["KmsKeyId"] = planned["kms_key_id"]
        answer = self.client.start_db_instance_automated_backups_replication(aws_retry=True, **request)
        self.started = answer.get("DBInstanceAutomatedBackup") or None

    def delete(self, current):
        self.client.stop_db_instance_automated_backups_replication(
            aws_retry=True, SourceDBInstanceArn=self.params["source_db_instance_arn"]
        )

    def name(self, view):
        return f"of {self.params['source_db_instance_arn']}"


def main():
    run(Replication)


if __name__ == "__main__":
    main()
