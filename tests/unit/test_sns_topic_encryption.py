"""giftcrypto.platform.sns_topic_encryption against moto: set, no-op, change, remove, check mode."""

from __future__ import annotations

import boto3
from ansible_collections.giftcrypto.platform.plugins.modules import sns_topic_encryption
from moto import mock_aws

from tests.unit import moto_modules
from tests.unit.moto_modules import ACCOUNT_ID, REGION

aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(sns_topic_encryption)


def _world() -> tuple[str, str, str]:
    topic = boto3.client("sns", region_name=REGION).create_topic(Name="giftcrypto-test-critical")["TopicArn"]
    kms = boto3.client("kms", region_name=REGION)
    first = kms.create_key(Description="logs")["KeyMetadata"]["Arn"]
    second = kms.create_key(Description="other")["KeyMetadata"]["Arn"]
    return topic, first, second


def _key(topic: str) -> str:
    attributes = boto3.client("sns", region_name=REGION).get_topic_attributes(TopicArn=topic)["Attributes"]
    return attributes.get("KmsMasterKeyId", "")


@mock_aws
def test_lifecycle_check_set_noop_change_remove(run_module):
    topic, first, second = _world()

    result = run_module({"topic_arn": topic, "kms_master_key_id": first}, check_mode=True)
    assert result["rc"] == 0, result
    assert result["changed"] is True
    assert result["planned"] == "update" and result["changes"] == ["kms_master_key_id"]
    assert result["diff"] == {
        "before": {"topic_arn": topic, "kms_master_key_id": ""},
        "after": {"topic_arn": topic, "kms_master_key_id": first},
    }
    assert result["kms_master_key_id"] == first and result["topic_arn"] == topic
    assert _key(topic) == ""

    result = run_module({"topic_arn": topic, "kms_master_key_id": first})
    assert result["changed"] is True
    assert result["kms_master_key_id"] == first
    assert _key(topic) == first

    assert run_module({"topic_arn": topic, "kms_master_key_id": first}, check_mode=True)["changed"] is False
    result = run_module({"topic_arn": topic, "kms_master_key_id": first})
    assert result["changed"] is False
    assert result["diff"]["before"] == result["diff"]["after"]

    result = run_module({"topic_arn": topic, "kms_master_key_id": second}, check_mode=True)
    assert result["changed"] is True
    assert _key(topic) == first
    assert run_module({"topic_arn": topic, "kms_master_key_id": second})["changed"] is True
    assert _key(topic) == second

    result = run_module({"topic_arn": topic, "kms_master_key_id": ""})
    assert result["changed"] is True
    assert result["kms_master_key_id"] == ""
    assert _key(topic) == ""
    assert run_module({"topic_arn": topic, "kms_master_key_id": ""})["changed"] is False


@mock_aws
def test_missing_topic_says_so(run_module):
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:no-such-topic"
    result = run_module({"topic_arn": topic, "kms_master_key_id": "alias/x"})
    assert result["failed"] is True
    assert result["msg"] == (
        f"Create the encryption of the topic {topic}: the topic does not exist: "
        "create it first (community.aws.sns_topic)"
    )


@mock_aws
def test_a_plan_before_the_topic_exists_says_what_it_could_not_verify(run_module):
    # A check run of a playbook whose community.aws.sns_topic task has not created the topic yet.
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:not-yet"
    result = run_module({"topic_arn": topic, "kms_master_key_id": "alias/x"}, check_mode=True)
    assert result["rc"] == 0, result
    assert result["planned"] == "create"
    assert result["encryption"] == {"topic_arn": topic, "kms_master_key_id": "alias/x"}
    assert result["unverified"] == [
        f"topic_arn: the topic {topic} does not exist (yet): community.aws.sns_topic creates it"
    ]


@mock_aws
def test_both_options_are_required(run_module):
    result = run_module({"topic_arn": "arn:aws:sns:us-east-1:123456789012:t"})
    assert result["failed"] is True
    assert result["msg"] == "missing required arguments: kms_master_key_id"
