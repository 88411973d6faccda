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
  - GiftCrypto platform team
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
  - Supports check mode, which reports what would be created, changed, started or stopped without
    calling a write API.
  - Supports diff (the recorder, the delivery channel and the recording status before and after).
  - Recorders and delivery channels carry no tags.
  - Lives in the collection's C(aws) action group so that C(module_defaults) for
    C(group/amazon.aws.aws) give it region, endpoint and credentials.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
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

try:  # noqa: SIM105 -- the usual optional-import guard of Ansible modules
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


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


def _wanted_recorder(params):
    group = params["recording_group"]
    all_supported = group["all_supported"]
    return {
        "name": params["name"],
        "role_arn": params["role_arn"],
        "all_supported": all_supported,
        # AWS refuses global resource types with a list of types (they are implied by the list).
        "include_global_resource_types": group["include_global_resource_types"] if all_supported else False,
        "resource_types": [] if all_supported else sorted(group["resource_types"]),
    }


def _wanted_channel(params):
    channel = params["delivery_channel"]
    if channel is None:
        return None
    return {
        "name": channel["name"],
        "s3_bucket_name": channel["s3_bucket_name"],
        "s3_key_prefix": channel["s3_key_prefix"] or "",
        "s3_kms_key_arn": channel["s3_kms_key_arn"] or "",
        "sns_topic_arn": channel["sns_topic_arn"] or "",
        "delivery_frequency": channel["delivery_frequency"],
    }


def _put_recorder(client, wanted):
    group = {"allSupported": wanted["all_supported"]}
    if wanted["all_supported"]:
        group["includeGlobalResourceTypes"] = wanted["include_global_resource_types"]
    else:
        group["resourceTypes"] = wanted["resource_types"]
    client.put_configuration_recorder(
        aws_retry=True,
        ConfigurationRecorder={
            "name": wanted["name"],
            "roleARN": wanted["role_arn"],
            "recordingGroup": group,
        },
    )


def _put_channel(client, wanted):
    channel = {
        "name": wanted["name"],
        "s3BucketName": wanted["s3_bucket_name"],
        "configSnapshotDeliveryProperties": {"deliveryFrequency": wanted["delivery_frequency"]},
    }
    for key, api_key in (
        ("s3_key_prefix", "s3KeyPrefix"),
        ("s3_kms_key_arn", "s3KmsKeyArn"),
        ("sns_topic_arn", "snsTopicARN"),
    ):
        if wanted[key]:
            channel[api_key] = wanted[key]
    client.put_delivery_channel(aws_retry=True, DeliveryChannel=channel)


def _describe(client, name, channel_name):
    try:
        recorders = client.describe_configuration_recorders(aws_retry=True, ConfigurationRecorderNames=[name])
        recorder = recorders["ConfigurationRecorders"][0]
        statuses = client.describe_configuration_recorder_status(
            aws_retry=True, ConfigurationRecorderNames=[name]
        )
        recording = bool(statuses["ConfigurationRecordersStatus"][0].get("recording"))
    except is_boto3_error_code("NoSuchConfigurationRecorderException"):
        recorder, recording = None, False
    try:
        channels = client.describe_delivery_channels(aws_retry=True, DeliveryChannelNames=[channel_name])
        channel = channels["DeliveryChannels"][0]
    except is_boto3_error_code("NoSuchDeliveryChannelException"):
        channel = None
    return recorder, channel, recording


def _absent(module, client, recorder, channel, recording, before):
    changed = bool(recorder or channel)
    if changed and not module.check_mode:
        try:
            if recording:
                client.stop_configuration_recorder(aws_retry=True, ConfigurationRecorderName=recorder["name"])
            if channel:
                client.delete_delivery_channel(aws_retry=True, DeliveryChannelName=channel["name"])
            if recorder:
                client.delete_configuration_recorder(
                    aws_retry=True, ConfigurationRecorderName=recorder["name"]
                )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg="Could not delete the Config recorder and its delivery channel")
    module.exit_json(
        changed=changed,
        recorder={},
        delivery_channel={},
        recording=False,
        diff={"before": before, "after": {"recorder": {}, "delivery_channel": {}, "recording": False}},
    )


def main():
    argument_spec = dict(
        name=dict(type="str", default="default"),
        role_arn=dict(type="str"),
        recording_group=dict(
            type="dict",
            default={},
            options=dict(
                all_supported=dict(type="bool", default=True),
                include_global_resource_types=dict(type="bool", default=True),
                resource_types=dict(type="list", elements="str", default=[]),
            ),
        ),
        delivery_channel=dict(
            type="dict",
            options=dict(
                name=dict(type="str", default="default"),
                s3_bucket_name=dict(type="str", required=True),
                s3_key_prefix=dict(type="str"),
                s3_kms_key_arn=dict(type="str"),
                sns_topic_arn=dict(type="str"),
                delivery_frequency=dict(
                    type="str",
                    default="TwentyFour_Hours",
                    choices=["One_Hour", "Three_Hours", "Six_Hours", "Twelve_Hours", "TwentyFour_Hours"],
                ),
            ),
        ),
        recording=dict(type="bool", default=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_if=[("state", "present", ["role_arn"])],
    )
    params = module.params
    group = params["recording_group"]
    if params["state"] == "present":
        if not group["all_supported"] and not group["resource_types"]:
            module.fail_json(
                msg="recording_group.resource_types is required when recording_group.all_supported is false"
            )
        if params["recording"] and params["delivery_channel"] is None:
            module.fail_json(
                msg="delivery_channel is required to record: AWS Config cannot start without one"
            )
    client = module.client("config", retry_decorator=AWSRetry.jittered_backoff(retries=10))
    channel_name = (params["delivery_channel"] or {}).get("name") or "default"

    try:
        recorder, channel, recording = _describe(client, params["name"], channel_name)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Could not describe the Config recorder")
    before = {
        "recorder": _recorder_view(recorder),
        "delivery_channel": _channel_view(channel),
        "recording": recording,
    }

    if params["state"] == "absent":
        _absent(module, client, recorder, channel, recording, before)

    wanted_recorder = _wanted_recorder(params)
    wanted_channel = _wanted_channel(params)
    recorder_changes = wanted_recorder != before["recorder"]
    channel_changes = wanted_channel is not None and wanted_channel != before["delivery_channel"]
    start = params["recording"] and not recording
    stop = not params["recording"] and recording
    changed = recorder_changes or channel_changes or start or stop
    planned = {
        "recorder": wanted_recorder,
        "delivery_channel": wanted_channel if wanted_channel is not None else before["delivery_channel"],
        "recording": params["recording"],
    }

    if module.check_mode or not changed:
        after = planned if changed else before
        module.exit_json(changed=changed, diff={"before": before, "after": after}, **after)

    try:
        if stop:
            client.stop_configuration_recorder(aws_retry=True, ConfigurationRecorderName=params["name"])
        if recorder_changes:
            _put_recorder(client, wanted_recorder)
        if channel_changes:
            _put_channel(client, wanted_channel)
        if start:
            client.start_configuration_recorder(aws_retry=True, ConfigurationRecorderName=params["name"])
        recorder, channel, recording = _describe(client, params["name"], channel_name)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Could not apply the Config recorder {params['name']}")
    after = {
        "recorder": _recorder_view(recorder),
        "delivery_channel": _channel_view(channel),
        "recording": recording,
    }
    module.exit_json(changed=True, diff={"before": before, "after": after}, **after)


if __name__ == "__main__":
    main()
