"""giftcrypto.platform.ec2_vpc_flow_log against moto, in the style of an amazon.aws integration target.

The module's ``main()`` runs in-process with its arguments exposed by ``patch_module_args``; its
result is the JSON it prints before exiting. Every test runs under ``mock_aws`` with dummy
credentials, so nothing leaves the process.
"""

from __future__ import annotations

import json
from unittest import mock

import boto3
import botocore.loaders
import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.giftcrypto.platform.plugins.modules import ec2_vpc_flow_log
from moto import mock_aws

from tests.unit import moto_modules

REGION = moto_modules.REGION
LOG_GROUP = "/giftcrypto/test/vpc-flow-logs"


@pytest.fixture(autouse=True)
def dummy_aws_environment(monkeypatch, tmp_path):
    """Dummy credentials and region; no profile, config file or endpoint of the machine leaks in."""
    moto_modules.dummy_environment(monkeypatch, tmp_path)
    # Flow logs need no AMIs: loading moto's catalogue costs seconds per test.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


@pytest.fixture(scope="module")
def shared_botocore_loader():
    """One loader of botocore's service models for all the sessions of this file.

    Each run of the module builds a new boto3 session, which would parse the (large) EC2 model again;
    the models do not change between tests, so they are parsed once.
    """
    loader = botocore.loaders.create_loader()
    with mock.patch("botocore.session.create_loader", lambda *_args, **_kwargs: loader):
        yield


@pytest.fixture
def run_module(capsys, shared_botocore_loader):
    """Runs the module's main() with the given options and returns its result (exit code in `rc`)."""

    def run(args: dict, check_mode: bool = False) -> dict:
        module_args = {**args, "_ansible_check_mode": check_mode, "_ansible_diff": True}
        with patch_module_args(module_args), pytest.raises(SystemExit) as exited:
            ec2_vpc_flow_log.main()
        result = json.loads(capsys.readouterr().out)
        result["rc"] = exited.value.code
        return result

    return run


def _world() -> dict:
    """A VPC, a log group and the IAM role the flow logs service assumes (inside mock_aws)."""
    vpc_id = boto3.client("ec2", region_name=REGION).create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    boto3.client("logs", region_name=REGION).create_log_group(logGroupName=LOG_GROUP)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role_arn = boto3.client("iam", region_name=REGION).create_role(
        RoleName="giftcrypto-test-flow-logs", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    return {
        "vpc_id": vpc_id,
        "role_arn": role_arn,
        "options": {
            "resource_id": vpc_id,
            "log_group_name": LOG_GROUP,
            "deliver_logs_permission_arn": role_arn,
        },
    }


def _flow_logs(vpc_id: str) -> list[dict]:
    ec2 = boto3.client("ec2", region_name=REGION)
    return ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["FlowLogs"]


def _tags(flow_log: dict) -> dict:
    return {tag["Key"]: tag["Value"] for tag in flow_log.get("Tags", [])}


@mock_aws
def test_lifecycle_create_idempotence_tags_replace_and_delete(run_module):
    world = _world()
    vpc_id = world["vpc_id"]
    present = {
        **world["options"],
        "traffic_type": "ALL",
        "tags": {"Project": "GiftCrypto", "Layer": "network"},
    }

    # Check mode on nothing: a creation is planned, nothing is created.
    result = run_module(present, check_mode=True)
    assert result["rc"] == 0, result
    assert result["changed"] is True
    assert result["flow_log_id"] == ""
    assert result["planned"] == "create"
    assert result["flow_log"] == result["diff"]["after"]
    assert result["replaced"] is False
    assert result["diff"]["before"] == {}
    assert result["diff"]["after"]["traffic_type"] == "ALL"
    assert result["diff"]["after"]["log_group_name"] == LOG_GROUP
    assert result["diff"]["after"]["tags"] == {"Project": "GiftCrypto", "Layer": "network"}
    assert _flow_logs(vpc_id) == []

    # Create.
    result = run_module(present)
    assert result["rc"] == 0, result
    assert result["changed"] is True
    assert result["replaced"] is False
    flow_log_id = result["flow_log_id"]
    assert flow_log_id.startswith("fl-")
    assert result["flow_log"]["flow_log_id"] == flow_log_id
    assert result["flow_log"]["traffic_type"] == "ALL"
    assert result["flow_log"]["tags"] == {"Project": "GiftCrypto", "Layer": "network"}
    assert result["diff"] == {"before": {}, "after": result["flow_log"]}
    (created,) = _flow_logs(vpc_id)
    assert created["FlowLogId"] == flow_log_id
    assert created["TrafficType"] == "ALL"
    assert created["LogDestinationType"] == "cloud-watch-logs"
    assert created["LogGroupName"] == LOG_GROUP
    assert created["DeliverLogsPermissionArn"] == world["role_arn"]
    assert created["MaxAggregationInterval"] == 600
    assert _tags(created) == {"Project": "GiftCrypto", "Layer": "network"}

    # Check mode on the converged state: nothing to do.
    result = run_module(present, check_mode=True)
    assert result["changed"] is False
    assert result["flow_log_id"] == flow_log_id

    # Apply again: idempotent, same flow log.
    result = run_module(present)
    assert result["changed"] is False
    assert result["replaced"] is False
    assert result["flow_log_id"] == flow_log_id
    assert result["diff"]["before"] == result["diff"]["after"]
    assert [log["FlowLogId"] for log in _flow_logs(vpc_id)] == [flow_log_id]

    # Tags: purge_tags=false only adds and updates.
    result = run_module({**present, "tags": {"Layer": "net", "Owner": "platform"}, "purge_tags": False})
    assert result["changed"] is True
    assert result["flow_log_id"] == flow_log_id
    assert result["flow_log"]["tags"] == {"Project": "GiftCrypto", "Layer": "net", "Owner": "platform"}
    assert result["diff"]["before"]["tags"] == {"Project": "GiftCrypto", "Layer": "network"}
    assert _tags(_flow_logs(vpc_id)[0]) == {"Project": "GiftCrypto", "Layer": "net", "Owner": "platform"}

    # Tags: purge_tags=true (the default) removes the ones not listed, in place.
    result = run_module({**present, "tags": {"Project": "GiftCrypto"}})
    assert result["changed"] is True
    assert result["replaced"] is False
    assert result["flow_log_id"] == flow_log_id
    assert result["flow_log"]["tags"] == {"Project": "GiftCrypto"}
    assert _tags(_flow_logs(vpc_id)[0]) == {"Project": "GiftCrypto"}
    assert run_module({**present, "tags": {"Project": "GiftCrypto"}})["changed"] is False

    # tags unset: the tags are left alone.
    assert run_module(world["options"])["changed"] is False
    assert _tags(_flow_logs(vpc_id)[0]) == {"Project": "GiftCrypto"}

    # A setting AWS cannot change in place (traffic_type): the flow log is replaced.
    rejected = {**present, "tags": {"Project": "GiftCrypto"}, "traffic_type": "REJECT"}
    result = run_module(rejected)
    assert result["changed"] is True
    assert result["replaced"] is True
    assert result["changes"] == ["traffic_type"]
    new_id = result["flow_log_id"]
    assert new_id.startswith("fl-")
    assert new_id != flow_log_id
    assert result["flow_log"]["traffic_type"] == "REJECT"
    assert result["diff"]["before"]["flow_log_id"] == flow_log_id
    assert result["diff"]["after"]["flow_log_id"] == new_id
    (replacement,) = _flow_logs(vpc_id)
    assert replacement["FlowLogId"] == new_id
    assert replacement["TrafficType"] == "REJECT"
    assert _tags(replacement) == {"Project": "GiftCrypto"}
    assert run_module(rejected)["changed"] is False

    # Check mode absent: a deletion is planned, the flow log stays.
    absent = {**world["options"], "state": "absent"}
    result = run_module(absent, check_mode=True)
    assert result["changed"] is True
    assert result["diff"]["before"]["flow_log_id"] == new_id
    assert result["diff"]["after"] == {}
    assert [log["FlowLogId"] for log in _flow_logs(vpc_id)] == [new_id]

    # Absent: gone.
    result = run_module(absent)
    assert result["changed"] is True
    assert result["flow_log"] == {}
    assert result["flow_log_id"] == ""
    assert result["diff"]["before"]["flow_log_id"] == new_id
    assert _flow_logs(vpc_id) == []

    # Absent again: nothing to do, in check mode or not.
    assert run_module(absent, check_mode=True)["changed"] is False
    result = run_module(absent)
    assert result["changed"] is False
    assert result["diff"] == {"before": {}, "after": {}}


@mock_aws
def test_check_mode_plans_a_replacement_without_touching_it(run_module):
    world = _world()
    created = run_module({**world["options"], "tags": {"Project": "GiftCrypto"}})
    result = run_module({**world["options"], "traffic_type": "ACCEPT"}, check_mode=True)
    assert result["changed"] is True
    assert result["replaced"] is True
    assert result["flow_log_id"] == ""
    assert result["diff"]["before"]["traffic_type"] == "ALL"
    assert result["diff"]["after"]["traffic_type"] == "ACCEPT"
    # tags unset: the replacement would keep the tags of the flow log it replaces.
    assert result["diff"]["after"]["tags"] == {"Project": "GiftCrypto"}
    (still,) = _flow_logs(world["vpc_id"])
    assert still["FlowLogId"] == created["flow_log_id"]
    assert still["TrafficType"] == "ALL"


@mock_aws
def test_replacement_keeps_the_tags_when_tags_are_not_managed(run_module):
    world = _world()
    first = run_module({**world["options"], "tags": {"Project": "GiftCrypto", "Owner": "platform"}})
    result = run_module({**world["options"], "max_aggregation_interval": 60})
    assert result["replaced"] is True
    assert result["flow_log_id"] != first["flow_log_id"]
    (replacement,) = _flow_logs(world["vpc_id"])
    assert replacement["MaxAggregationInterval"] == 60
    assert _tags(replacement) == {"Project": "GiftCrypto", "Owner": "platform"}


@mock_aws
def test_check_mode_tag_update_reports_the_merged_tags_and_changes_nothing(run_module):
    world = _world()
    run_module({**world["options"], "tags": {"Project": "GiftCrypto"}})
    result = run_module(
        {**world["options"], "tags": {"Owner": "platform"}, "purge_tags": False}, check_mode=True
    )
    assert result["changed"] is True
    assert result["diff"]["before"]["tags"] == {"Project": "GiftCrypto"}
    assert result["diff"]["after"]["tags"] == {"Project": "GiftCrypto", "Owner": "platform"}
    assert _tags(_flow_logs(world["vpc_id"])[0]) == {"Project": "GiftCrypto"}

    result = run_module({**world["options"], "tags": {"Owner": "platform"}}, check_mode=True)
    assert result["changed"] is True
    assert result["diff"]["after"]["tags"] == {"Owner": "platform"}
    assert _tags(_flow_logs(world["vpc_id"])[0]) == {"Project": "GiftCrypto"}


@mock_aws
def test_flow_logs_to_other_destinations_are_left_alone(run_module):
    world = _world()
    other_group = "/giftcrypto/test/other"
    boto3.client("logs", region_name=REGION).create_log_group(logGroupName=other_group)
    other = run_module({**world["options"], "log_group_name": other_group})
    ours = run_module(world["options"])
    assert ours["changed"] is True
    assert ours["flow_log_id"] != other["flow_log_id"]
    assert run_module({**world["options"], "state": "absent"})["changed"] is True
    assert [log["FlowLogId"] for log in _flow_logs(world["vpc_id"])] == [other["flow_log_id"]]


@mock_aws
def test_s3_destination(run_module):
    world = _world()
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="giftcrypto-test-flow-logs")
    s3 = {
        "resource_id": world["vpc_id"],
        "log_destination_type": "s3",
        "log_destination": "arn:aws:s3:::giftcrypto-test-flow-logs",
        "region": REGION,
    }
    result = run_module(s3)
    assert result["changed"] is True
    assert result["flow_log"]["log_destination_type"] == "s3"
    assert result["flow_log"]["log_destination"] == "arn:aws:s3:::giftcrypto-test-flow-logs"
    assert run_module(s3)["changed"] is False
    assert run_module({**s3, "state": "absent"})["changed"] is True
    assert _flow_logs(world["vpc_id"]) == []


@mock_aws
def test_a_missing_s3_bucket_fails_with_the_aws_message(run_module):
    world = _world()
    result = run_module(
        {
            "resource_id": world["vpc_id"],
            "log_destination_type": "s3",
            "log_destination": "arn:aws:s3:::no-such-bucket",
        }
    )
    assert result["failed"] is True
    assert result["rc"] == 1
    assert "AWS refused to create the flow log" in result["msg"]
    assert "no-such-bucket" in result["msg"]


@mock_aws
def test_absent_does_not_need_the_delivery_role(run_module):
    world = _world()
    run_module(world["options"])
    result = run_module({"resource_id": world["vpc_id"], "log_group_name": LOG_GROUP, "state": "absent"})
    assert result["changed"] is True
    assert _flow_logs(world["vpc_id"]) == []


@pytest.mark.parametrize("check_mode", [False, True])
@pytest.mark.parametrize(
    ("drop", "extra", "message"),
    [
        (
            "log_group_name",
            {},
            "log_destination_type is cloud-watch-logs but all of the following are missing: log_group_name",
        ),
        (
            "deliver_logs_permission_arn",
            {},
            "Refused before any change: deliver_logs_permission_arn: "
            "required to deliver flow logs to CloudWatch Logs",
        ),
        (
            "log_group_name",
            {"log_destination_type": "s3"},
            "log_destination_type is s3 but all of the following are missing: log_destination",
        ),
    ],
    ids=["log_group_name", "deliver_logs_permission_arn", "s3-log_destination"],
)
@mock_aws
def test_argument_errors_are_clear_and_create_nothing(run_module, drop, extra, message, check_mode):
    world = _world()
    options = {key: value for key, value in world["options"].items() if key != drop}
    result = run_module({**options, **extra}, check_mode=check_mode)
    assert result["rc"] == 1
    assert result["failed"] is True
    assert result["msg"] == message
    assert _flow_logs(world["vpc_id"]) == []


@mock_aws
def test_bad_choice_is_refused(run_module):
    world = _world()
    result = run_module({**world["options"], "traffic_type": "SOME"})
    assert result["failed"] is True
    assert "traffic_type" in result["msg"]
    assert _flow_logs(world["vpc_id"]) == []
