#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: sns_topic_encryption
short_description: Set the KMS key that encrypts an SNS topic at rest
version_added: 0.1.0
description:
  - Sets, changes or removes the KMS key (the C(KmsMasterKeyId) attribute) with which SNS encrypts
    the messages of an existing topic at rest.
  - Fills a gap, C(community.aws.sns_topic) manages a topic's policy, subscriptions and tags but
    cannot set its encryption key; use it first to create the topic, then this module.
  - A setting of the topic, not a resource of its own, this module neither creates nor deletes
    anything. A topic that does not exist fails the run; in check mode (a plan made before
    C(community.aws.sns_topic) has created it) the key is planned and the topic listed in
    RV(unverified).
author:
  - GiftCrypto platform team (@giftcrypto)
options:
  topic_arn:
    description: ARN of the topic.
    type: str
    required: true
  kms_master_key_id:
    description:
      - KMS key (ID, ARN, alias name or alias ARN) that encrypts the topic, compared as given with
        what the topic holds, so always give the same form.
      - The empty string removes server-side encryption.
      - The publishers (for example C(events.amazonaws.com), C(cloudwatch.amazonaws.com)) need
        C(kms:GenerateDataKey*) and C(kms:Decrypt) on the key, through its key policy.
    type: str
    required: true
notes:
  - Tags are not this module's, C(community.aws.sns_topic) manages them.
extends_documentation_fragment: [giftcrypto.platform.aws_resource, amazon.aws.common.modules,
  amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Create the topic
  community.aws.sns_topic:
    name: giftcrypto-production-critical
  register: critical

- name: Encrypt it with the logs key
  giftcrypto.platform.sns_topic_encryption:
    topic_arn: "{{ critical.sns_arn }}"
    kms_master_key_id: "{{ logs_key_arn }}"

- name: Back to no encryption
  giftcrypto.platform.sns_topic_encryption:
    topic_arn: "{{ critical.sns_arn }}"
    kms_master_key_id: ""
"""

RETURN = r"""
planned:
  description:
    - C(update) when the topic's key changes; C(create) only in a check run before the topic exists
      (a real run then fails).
  returned: always
  type: str
  sample: update
changes:
  description: C(kms_master_key_id) when the key differs.
  returned: always
  type: list
  elements: str
  sample: [kms_master_key_id]
unverified:
  description: In check mode, the topic when it does not exist yet.
  returned: always
  type: list
  elements: str
  sample: []
encryption:
  description: The topic's encryption after the run (planned, in check mode).
  returned: always
  type: dict
  sample:
    topic_arn: arn:aws:sns:us-east-1:123456789012:giftcrypto-production-critical
    kms_master_key_id: arn:aws:kms:us-east-1:123456789012:key/0c7a3c0b-1234-4321-abcd-0123456789ab
topic_arn:
  description: ARN of the topic.
  returned: always
  type: str
  sample: arn:aws:sns:us-east-1:123456789012:giftcrypto-production-critical
kms_master_key_id:
  description: The topic's key after the run (planned, in check mode); empty when not encrypted.
  returned: always
  type: str
  sample: arn:aws:kms:us-east-1:123456789012:key/0c7a3c0b-1234-4321-abcd-0123456789ab
"""

from typing import ClassVar

from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_resource import (
    AWSResource,
    ResourceProblem,
    run,
)


class Encryption(AWSResource):
    service = "sns"
    resource = "encryption"
    noun = "encryption of the topic"
    named_by = "topic_arn"
    shared = ()
    not_found = ("NotFound",)
    options: ClassVar[dict] = {
        "topic_arn": {"type": "str", "required": True},
        "kms_master_key_id": {"type": "str", "required": True, "no_log": False},
    }

    def describe(self):
        return self.client.get_topic_attributes(aws_retry=True, TopicArn=self.params["topic_arn"])

    def view(self, described):
        return {
            "topic_arn": self.params["topic_arn"],
            "kms_master_key_id": described["Attributes"].get("KmsMasterKeyId") or "",
        }

    def plan(self, current):
        if current is None:
            self.unverified.append(
                f"topic_arn: the topic {self.params['topic_arn']} does not exist (yet): "
                "community.aws.sns_topic creates it"
            )
        return {
            "topic_arn": self.params["topic_arn"],
            "kms_master_key_id": self.params["kms_master_key_id"].strip(),
        }

    def create(self, planned):
        raise ResourceProblem("the topic does not exist: create it first (community.aws.sns_topic)")

    def update(self, current, planned, changes):
        self.client.set_topic_attributes(
            aws_retry=True,
            TopicArn=self.params["topic_arn"],
            AttributeName="KmsMasterKeyId",
            AttributeValue=planned["kms_master_key_id"],
        )

    def outputs(self, view):
        return {"topic_arn": self.params["topic_arn"], "kms_master_key_id": view.get("kms_master_key_id", "")}


def main():
    run(Encryption)


if __name__ == "__main__":
    main()
