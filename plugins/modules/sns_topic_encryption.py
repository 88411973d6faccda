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
author:
  - GiftCrypto platform team
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
  - Supports check mode, which reports the change without calling C(SetTopicAttributes).
  - Supports diff (the key before and after).
  - Tags are not this module's, C(community.aws.sns_topic) manages them.
  - Lives in the collection's C(aws) action group so that C(module_defaults) for
    C(group/amazon.aws.aws) give it region, endpoint and credentials.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
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

try:  # noqa: SIM105 -- the usual optional-import guard of Ansible modules
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def _key_of(client, topic_arn):
    attributes = client.get_topic_attributes(aws_retry=True, TopicArn=topic_arn)["Attributes"]
    return attributes.get("KmsMasterKeyId") or ""


def main():
    argument_spec = dict(
        topic_arn=dict(type="str", required=True),
        kms_master_key_id=dict(type="str", required=True, no_log=False),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    topic_arn = module.params["topic_arn"]
    wanted = module.params["kms_master_key_id"].strip()
    client = module.client("sns", retry_decorator=AWSRetry.jittered_backoff(retries=10))

    try:
        have = _key_of(client, topic_arn)
    except is_boto3_error_code("NotFound") as e:
        module.fail_json_aws(
            e, msg=f"The topic {topic_arn} does not exist: create it first (community.aws.sns_topic)"
        )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f"Could not read the attributes of {topic_arn}")

    changed = have != wanted
    if changed and not module.check_mode:
        try:
            client.set_topic_attributes(
                aws_retry=True, TopicArn=topic_arn, AttributeName="KmsMasterKeyId", AttributeValue=wanted
            )
            wanted = _key_of(client, topic_arn)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Could not set the encryption key of {topic_arn}")
    after = wanted if changed else have
    module.exit_json(
        changed=changed,
        topic_arn=topic_arn,
        kms_master_key_id=after,
        diff={"before": {"kms_master_key_id": have}, "after": {"kms_master_key_id": after}},
    )


if __name__ == "__main__":
    main()
