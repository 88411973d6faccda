#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: config_recorder
short_description: Manage the AWS Config recorder, its delivery channel and whether it records
version_added: 0.1.0
description:
  - Keeps the AWS Config configuration recorder of the account and region as described, with its
    delivery channel (the S3 bucket, and optionally the SNS topic, that receive the configuration
    history and snapshots), and starts or stops the recording.
  - The three are one module because AWS ties them together, a delivery channel cannot be created
    before the recorder exists and the recorder cannot start before a delivery channel exists.
  - Fills a gap, C(community.aws.config_recorder) reports a change on every run against the same
    settings and never starts the recording (so Config records nothing), and
    C(community.aws.config_delivery_channel) fails when it runs before the recorder exists (measured).
author:
  - GiftCrypto platform team (@giftcrypto)
options:
  name:
    description: Name of the recorder (AWS allows one per account and region).
    type: str
    default: default
  role_arn:
    description:
      - IAM role that AWS Config assumes to read the resources' configuration.
      - Required when O(state=present).
    type: str
  recording_group:
    description: Which resources are recorded.
    type: dict
    default: {}
    suboptions:
      all_supported:
        description: Record every resource type Config supports in the region.
        type: bool
        default: true
      include_global_resource_types:
        description:
          - Also record global resources (IAM users, groups, roles, policies).
          - Only with O(recording_group.all_supported=true).
        type: bool
        default: true
      resource_types:
        description:
          - Resource types to record (for example V(AWS::S3::Bucket)).
          - Only with O(recording_group.all_supported=false), and then required.
        type: list
        elements: str
        default: []
  delivery_channel:
    description:
      - Where Config delivers the configuration history and snapshots.
      - Required when O(state=present) and O(recording=true); unset leaves the channel alone.
    type: dict
    suboptions:
      name:
        description: Name of the delivery channel (AWS allows one per account and region).
        type: str
        default: default
      s3_bucket_name:
        description: Bucket that receives the files; its policy must let Config write to it.
        type: str
        required: true
      s3_key_prefix:
        description: Prefix of the files in the bucket.
        type: str
      s3_kms_key_arn:
        description: KMS key that encrypts the delivered files.
        type: str
      sns_topic_arn:
        description: SNS topic notified of deliveries and compliance changes.
        type: str
      delivery_frequency:
        description: How often Config delivers configuration snapshots.
        type: str
        choices: [One_Hour, Three_Hours, Six_Hours, Twelve_Hours, TwentyFour_Hours]
        default: TwentyFour_Hours
  recording:
    description: Whether the recorder records (started) or not (stopped).
    type: bool
    default: true
  state:
    description:
      - V(present) applies the settings above; V(absent) stops the recorder and deletes the delivery
        channel and the recorder.
    type: str
    choices: [present, absent]
    default: present
notes:
  - The view (RV(configuration)) holds the recorder, the delivery channel and the recording status.
  - Recorders and delivery channels carry no tags.
extends_documentation_fragment: [giftcrypto.platform.aws_resource, amazon.aws.common.modules,
  amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Record every resource, global ones included, and deliver to the audit bucket
  giftcrypto.platform.config_recorder:
    role_arn: "{{ config_role_arn }}"
    recording_group:
      all_supported: true
      include_global_resource_types: true
    delivery_channel:
      s3_bucket_name: giftcrypto-production-audit-logs-123456789012
      s3_key_prefix: config
      s3_kms_key_arn: "{{ logs_key_arn }}"
      delivery_frequency: TwentyFour_Hours

- name: Stop recording (the settings stay)
  giftcrypto.platform.config_recorder:
    role_arn: "{{ config_role_arn }}"
    recording: false

- name: Remove the recorder and its delivery channel
  giftcrypto.platform.config_recorder:
    state: absent
"""

RETURN = r"""
planned:
  description: What the run did or would do to the recorder, its delivery channel and its recording.
  returned: always
  type: str
  sample: update
changes:
  description: Which of C(recorder), C(delivery_channel) and C(recording) differ.
  returned: always
  type: list
  elements: str
  sample: [delivery_channel]
unverified:
  description: Always empty, as the recorder, its channel and its status are read on every run.
  returned: always
  type: list
  elements: str
  sample: []
configuration:
  description:
    - The recorder, its delivery channel and whether it records, after the run (planned, in check
      mode); empty when absent. The same as RV(recorder), RV(delivery_channel) and RV(recording).
  returned: always
  type: dict
recorder:
  description: The recorder as compared by the module; empty when absent.
  returned: always
  type: dict
  sample:
    name: default
    role_arn: arn:aws:iam::123456789012:role/giftcrypto-production-config
    all_supported: true
    include_global_resource_types: true
    resource_types: []
delivery_channel:
  description: The delivery channel as compared by the module; empty when absent.
  returned: always
  type: dict
  sample:
    name: default
    s3_bucket_name: giftcrypto-production-audit-logs-123456789012
    s3_key_prefix: config
    s3_kms_key_arn: arn:aws:kms:us-east-1:123456789012:key/0c7a3c0b-1234-4321-abcd-0123456789ab
    sns_topic_arn: ""
    delivery_frequency: TwentyFour_Hours
recording:
  description: Whether the recorder records after the run (planned, in check mode).
  returned: always
  type: bool
"""

from typing import ClassVar

from ansible_collections.giftcrypto.platform.plugins.module_utils.aws_resource import AWSResource, run

FREQUENCIES = ["One_Hour", "Three_Hours", "Six_Hours", "Twelve_Hours", "TwentyFour_Hours"]
NOTHING = {"recorder": {}, "delivery_channel": {}, "recording": False}


def _recorder_view(recorder):
    if not recorder:
        return {}
    group = recorder.get("recordingGroup") or {}
    return {
        "name": recorder["name"],
        "role_arn": recorder.get("roleARN", ""),
        "all_supported": bool(group.get("allSupported", False)),
        "include_global_resource_types": bool(group.get("includeGlobalResourceTypes", False)),
        "resource_types": sorted(group.get("resourceTypes") or []),
    }


def _channel_view(channel):
    if not channel:
        return {}
    return {
        "name": channel["name"],
        "s3_bucket_name": channel.get("s3BucketName", ""),
        "s3_key_prefix": channel.get("s3KeyPrefix") or "",
        "s3_kms_key_arn": channel.get("s3KmsKeyArn") or "",
        "sns_topic_arn": channel.get("snsTopicARN") or "",
        "delivery_frequency": (channel.get("configSnapshotDeliveryProperties") or {}).get("deliveryFrequency")
        or "TwentyFour_Hours",
    }


class Recorder(AWSResource):
    service = "config"
    resource = "configuration"
    noun = "AWS Config recorder"
    named_by = "name"
    options: ClassVar[dict] = {
        "name": {"type": "str", "default": "default"},
        "role_arn": {"type": "str"},
        "recording_group": {
            "type": "dict",
            "default": {},
            "options": {
                "all_supported": {"type": "bool", "default": True},
                "include_global_resource_types": {"type": "bool", "default": True},
                "resource_types": {"type": "list", "elements": "str", "default": []},
            },
        },
        "delivery_channel": {
            "type": "dict",
            "options": {
                "name": {"type": "str", "default": "default"},
                "s3_bucket_name": {"type": "str", "required": True},
                # A key prefix and a KMS key's ARN name things; neither is a secret ("key" in their
                # names is what ansible-test's no-log-needed check looks for).
                "s3_key_prefix": {"type": "str", "no_log": False},
                "s3_kms_key_arn": {"type": "str", "no_log": False},
                "sns_topic_arn": {"type": "str"},
                "delivery_frequency": {"type": "str", "default": "TwentyFour_Hours", "choices": FREQUENCIES},
            },
        },
        "recording": {"type": "bool", "default": True},
    }
    module_kwargs: ClassVar[dict] = {"required_if": [("state", "present", ["role_arn"])]}

    def validate(self):
        problems = {}
        if self.params["state"] == "present":
            group = self.params["recording_group"]
            if not group["all_supported"] and not group["resource_types"]:
                problems["recording_group.resource_types"] = (
                    "required when recording_group.all_supported is false"
                )
            if self.params["recording"] and self.params["delivery_channel"] is None:
                problems["delivery_channel"] = "required to record: AWS Config cannot start without one"
        return problems

    def describe(self):
        name = self.params["name"]
        channel_name = (self.params["delivery_channel"] or {}).get("name") or "default"
        recorders = self.or_none(
            ("NoSuchConfigurationRecorderException",),
            self.client.describe_configuration_recorders,
            ConfigurationRecorderNames=[name],
        )
        statuses = recorders and self.client.describe_configuration_recorder_status(
            aws_retry=True, ConfigurationRecorderNames=[name]
        )
        channels = self.or_none(
            ("NoSuchDeliveryChannelException",),
            self.client.describe_delivery_channels,
            DeliveryChannelNames=[channel_name],
        )
        if not (recorders or channels):
            return None
        return {
            "recorder": recorders and recorders["ConfigurationRecorders"][0],
            "channel": channels and channels["DeliveryChannels"][0],
            "recording": bool(statuses and statuses["ConfigurationRecordersStatus"][0].get("recording")),
        }

    def view(self, described):
        return {
            "recorder": _recorder_view(described["recorder"]),
            "delivery_channel": _channel_view(described["channel"]),
            "recording": described["recording"],
        }

    def plan(self, current):
        params = self.params
        group = params["recording_group"]
        all_supported = group["all_supported"]
        recorder = {
            "name": params["name"],
            "role_arn": params["role_arn"],
            "all_supported": all_supported,
            # AWS refuses global resource types with a list of types (they are implied by the list).
            "include_global_resource_types": all_supported and group["include_global_resource_types"],
            "resource_types": [] if all_supported else sorted(group["resource_types"]),
        }
        channel = (current or NOTHING)["delivery_channel"]
        wanted = params["delivery_channel"]
        if wanted is not None:
            channel = {
                "name": wanted["name"],
                "s3_bucket_name": wanted["s3_bucket_name"],
                "s3_key_prefix": wanted["s3_key_prefix"] or "",
                "s3_kms_key_arn": wanted["s3_kms_key_arn"] or "",
                "sns_topic_arn": wanted["sns_topic_arn"] or "",
                "delivery_frequency": wanted["delivery_frequency"],
            }
        return {"recorder": recorder, "delivery_channel": channel, "recording": params["recording"]}

    def _put_recorder(self, recorder):
        group = {"allSupported": recorder["all_supported"]}
        if recorder["all_supported"]:
            group["includeGlobalResourceTypes"] = recorder["include_global_resource_types"]
        else:
            group["resourceTypes"] = recorder["resource_types"]
        self.client.put_configuration_recorder(
            aws_retry=True,
            ConfigurationRecorder={
                "name": recorder["name"],
                "roleARN": recorder["role_arn"],
                "recordingGroup": group,
            },
        )

    def _put_channel(self, channel):
        request = {
            "name": channel["name"],
            "s3BucketName": channel["s3_bucket_name"],
            "configSnapshotDeliveryProperties": {"deliveryFrequency": channel["delivery_frequency"]},
        }
        for key, api_key in (
            ("s3_key_prefix", "s3KeyPrefix"),
            ("s3_kms_key_arn", "s3KmsKeyArn"),
            ("sns_topic_arn", "snsTopicARN"),
        ):
            if channel[key]:
                request[api_key] = channel[key]
        self.client.put_delivery_channel(aws_retry=True, DeliveryChannel=request)

    def create(self, planned):
        self.update(NOTHING, planned, self.differences(NOTHING, planned))

    def update(self, current, planned, changes):
        # A delivery channel needs the recorder, and the recorder cannot start without a channel.
        name = self.params["name"]
        if current["recording"] and not planned["recording"]:
            self.client.stop_configuration_recorder(aws_retry=True, ConfigurationRecorderName=name)
        if "recorder" in changes:
            self._put_recorder(planned["recorder"])
        if "delivery_channel" in changes:
            self._put_channel(planned["delivery_channel"])
        if planned["recording"] and not current["recording"]:
            self.client.start_configuration_recorder(aws_retry=True, ConfigurationRecorderName=name)

    def delete(self, current):
        recorder, channel = current["recorder"], current["delivery_channel"]
        if current["recording"]:
            self.client.stop_configuration_recorder(
                aws_retry=True, ConfigurationRecorderName=recorder["name"]
            )
        if channel:
            self.client.delete_delivery_channel(aws_retry=True, DeliveryChannelName=channel["name"])
        if recorder:
            self.client.delete_configuration_recorder(
                aws_retry=True, ConfigurationRecorderName=recorder["name"]
            )

    def outputs(self, view):
        return {**NOTHING, **view}


def main():
    run(Recorder)


if __name__ == "__main__":
    main()
