"""giftcrypto.platform.config_recorder against moto: create and start, no-op, update, stop, delete."""

from __future__ import annotations

import boto3
import pytest
from ansible_collections.giftcrypto.platform.plugins.modules import config_recorder
from moto import mock_aws

from tests.unit import moto_modules
from tests.unit.moto_modules import ACCOUNT_ID, REGION

ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/giftcrypto-test-config"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/0c7a3c0b-1234-4321-abcd-0123456789ab"
PRESENT = {
    "role_arn": ROLE,
    "recording_group": {"all_supported": True, "include_global_resource_types": True},
    "delivery_channel": {
        "s3_bucket_name": "giftcrypto-test-audit-logs",
        "s3_key_prefix": "config",
        "s3_kms_key_arn": KEY,
    },
}


aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(config_recorder)


def _config():
    return boto3.client("config", region_name=REGION)


def _state() -> dict:
    client = _config()
    return {
        "recorders": client.describe_configuration_recorders()["ConfigurationRecorders"],
        "channels": client.describe_delivery_channels()["DeliveryChannels"],
        "status": client.describe_configuration_recorder_status()["ConfigurationRecordersStatus"],
    }


@mock_aws
def test_lifecycle_check_create_start_noop_update_stop_delete(run_module):
    # Check mode on nothing: everything planned, nothing created.
    result = run_module(PRESENT, check_mode=True)
    assert result["rc"] == 0, result
    assert result["changed"] is True
    assert result["planned"] == "create"
    assert result["diff"]["before"] == {}
    assert result["diff"]["after"]["recorder"]["role_arn"] == ROLE
    assert result["diff"]["after"]["delivery_channel"]["s3_bucket_name"] == "giftcrypto-test-audit-logs"
    assert result["recording"] is True
    assert _state() == {"recorders": [], "channels": [], "status": []}

    # Create, deliver and start in one run (the stock modules need three and never start).
    result = run_module(PRESENT)
    assert result["changed"] is True, result
    assert result["recording"] is True
    assert result["recorder"] == {
        "name": "default",
        "role_arn": ROLE,
        "all_supported": True,
        "include_global_resource_types": True,
        "resource_types": [],
    }
    assert result["delivery_channel"] == {
        "name": "default",
        "s3_bucket_name": "giftcrypto-test-audit-logs",
        "s3_key_prefix": "config",
        "s3_kms_key_arn": KEY,
        "sns_topic_arn": "",
        "delivery_frequency": "TwentyFour_Hours",
    }
    state = _state()
    assert state["recorders"][0]["recordingGroup"]["includeGlobalResourceTypes"] is True
    assert state["channels"][0]["s3KmsKeyArn"] == KEY
    assert state["status"][0]["recording"] is True

    # No-op, in check mode and for real.
    assert run_module(PRESENT, check_mode=True)["changed"] is False
    result = run_module(PRESENT)
    assert result["changed"] is False
    assert result["diff"]["before"] == result["diff"]["after"]

    # Update the channel in check mode (planned only), then for real.
    hourly = {
        **PRESENT,
        "delivery_channel": {**PRESENT["delivery_channel"], "delivery_frequency": "One_Hour"},
    }
    result = run_module(hourly, check_mode=True)
    assert result["changed"] is True
    assert result["changes"] == ["delivery_channel"]
    assert result["diff"]["after"]["delivery_channel"]["delivery_frequency"] == "One_Hour"
    assert (
        _state()["channels"][0]["configSnapshotDeliveryProperties"]["deliveryFrequency"] == "TwentyFour_Hours"
    )
    assert run_module(hourly)["changed"] is True
    assert _state()["channels"][0]["configSnapshotDeliveryProperties"]["deliveryFrequency"] == "One_Hour"
    assert run_module(hourly)["changed"] is False

    # Update the recorder: only some resource types, no global ones.
    some = {**hourly, "recording_group": {"all_supported": False, "resource_types": ["AWS::S3::Bucket"]}}
    result = run_module(some)
    assert result["changed"] is True
    assert result["recorder"]["resource_types"] == ["AWS::S3::Bucket"]
    assert result["recorder"]["include_global_resource_types"] is False
    assert result["recording"] is True
    assert run_module(some)["changed"] is False

    # delivery_channel unset while stopping: the channel is left alone.
    stop = {"role_arn": ROLE, "recording_group": some["recording_group"], "recording": False}
    result = run_module(stop, check_mode=True)
    assert result["changed"] is True
    assert _state()["status"][0]["recording"] is True
    result = run_module(stop)
    assert result["changed"] is True
    assert result["recording"] is False
    assert result["delivery_channel"]["delivery_frequency"] == "One_Hour"
    assert _state()["status"][0]["recording"] is False
    assert run_module(stop)["changed"] is False

    # Started again by the full settings.
    assert run_module(some)["changed"] is True
    assert _state()["status"][0]["recording"] is True

    # Absent: planned in check mode; then stopped and deleted; then nothing to do.
    result = run_module({"state": "absent"}, check_mode=True)
    assert result["changed"] is True
    assert len(_state()["recorders"]) == 1
    result = run_module({"state": "absent"})
    assert result["changed"] is True
    assert result["diff"]["before"]["recorder"]["name"] == "default"
    assert _state() == {"recorders": [], "channels": [], "status": []}
    assert run_module({"state": "absent"})["changed"] is False


@mock_aws
def test_role_change_is_an_update_in_place(run_module):
    run_module(PRESENT)
    other = f"arn:aws:iam::{ACCOUNT_ID}:role/other"
    result = run_module({**PRESENT, "role_arn": other})
    assert result["changed"] is True
    assert result["diff"]["before"]["recorder"]["role_arn"] == ROLE
    assert _state()["recorders"][0]["roleARN"] == other
    assert _state()["status"][0]["recording"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({**PRESENT, "role_arn": None}, "state is present but all of the following are missing: role_arn"),
        ({"role_arn": ROLE}, "delivery_channel: required to record: AWS Config cannot start without one"),
        (
            {**PRESENT, "recording_group": {"all_supported": False}},
            "recording_group.resource_types: required when recording_group.all_supported is false",
        ),
        (
            {**PRESENT, "delivery_channel": {"s3_bucket_name": "b", "delivery_frequency": "Daily"}},
            "delivery_frequency must be one of",
        ),
    ],
    ids=["role_arn", "delivery_channel", "resource_types", "delivery_frequency"],
)
@mock_aws
def test_bad_arguments_are_refused_before_any_call(run_module, args, message):
    result = run_module({k: v for k, v in args.items() if v is not None})
    assert result["failed"] is True
    assert message in result["msg"]
    assert _state() == {"recorders": [], "channels": [], "status": []}
