"""giftcrypto.platform.config_rules against moto: create, no-op, update, tags, purge, check mode, delete."""

from __future__ import annotations

import json

import boto3
from ansible_collections.giftcrypto.platform.plugins.modules import config_rules
from moto import mock_aws

from tests.unit import moto_modules
from tests.unit.moto_modules import REGION

RULES = [
    {
        "name": "cloudtrail-enabled",
        "source_identifier": "CLOUD_TRAIL_ENABLED",
        "description": "A trail records",
    },
    {
        "name": "iam-password-policy",
        "source_identifier": "IAM_PASSWORD_POLICY",
        "input_parameters": {"MinimumPasswordLength": 14, "RequireSymbols": True},
        "maximum_execution_frequency": "TwentyFour_Hours",
    },
    {
        "name": "s3-bucket-ssl-requests-only",
        "source_identifier": "S3_BUCKET_SSL_REQUESTS_ONLY",
        "resource_types": ["AWS::S3::Bucket"],
    },
]
TAGS = {"Project": "GiftCrypto", "Layer": "security"}


aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(config_rules)


def _rules() -> dict[str, dict]:
    client = boto3.client("config", region_name=REGION)
    return {rule["ConfigRuleName"]: rule for rule in client.describe_config_rules()["ConfigRules"]}


def _tags(arn: str) -> dict:
    client = boto3.client("config", region_name=REGION)
    return {t["Key"]: t["Value"] for t in client.list_tags_for_resource(ResourceArn=arn)["Tags"]}


@mock_aws
def test_lifecycle_check_create_noop_update_delete(run_module):
    present = {"rules": RULES, "tags": TAGS}

    # Check mode on nothing: every rule planned, none created.
    result = run_module(present, check_mode=True)
    assert result["rc"] == 0, result
    assert result["changed"] is True
    assert result["created"] == [r["name"] for r in RULES]
    assert result["diff"]["before"] == {}
    planned = result["diff"]["after"]["iam-password-policy"]
    assert planned["input_parameters"] == {"MinimumPasswordLength": "14", "RequireSymbols": "true"}
    assert planned["tags"] == TAGS
    assert _rules() == {}

    # Create.
    result = run_module(present)
    assert result["changed"] is True, result
    assert result["created"] == [r["name"] for r in RULES]
    rules = _rules()
    assert set(rules) == {r["name"] for r in RULES}
    assert rules["cloudtrail-enabled"]["Source"] == {
        "Owner": "AWS",
        "SourceIdentifier": "CLOUD_TRAIL_ENABLED",
    }
    assert json.loads(rules["iam-password-policy"]["InputParameters"]) == {
        "MinimumPasswordLength": "14",
        "RequireSymbols": "true",
    }
    assert rules["s3-bucket-ssl-requests-only"]["Scope"]["ComplianceResourceTypes"] == ["AWS::S3::Bucket"]
    assert _tags(rules["cloudtrail-enabled"]["ConfigRuleArn"]) == TAGS
    assert all(rule["arn"].startswith("arn:aws:config:") for rule in result["rules"])

    # No-op, in check mode and for real (the stock module fails here).
    assert run_module(present, check_mode=True)["changed"] is False
    result = run_module(present)
    assert result["changed"] is False
    assert result["created"] == result["updated"] == result["deleted"] == []
    assert result["diff"]["before"] == result["diff"]["after"]

    # Update one rule's parameters: check mode first, then for real.
    changed_rules = [RULES[0], {**RULES[1], "input_parameters": {"MinimumPasswordLength": 16}}, RULES[2]]
    result = run_module({**present, "rules": changed_rules}, check_mode=True)
    assert result["changed"] is True
    assert result["updated"] == ["iam-password-policy"]
    assert json.loads(_rules()["iam-password-policy"]["InputParameters"])["MinimumPasswordLength"] == "14"
    result = run_module({**present, "rules": changed_rules})
    assert result["updated"] == ["iam-password-policy"]
    assert json.loads(_rules()["iam-password-policy"]["InputParameters"]) == {"MinimumPasswordLength": "16"}
    assert run_module({**present, "rules": changed_rules})["changed"] is False

    # Tags: purge_tags=false only adds; tags unset leaves them alone.
    result = run_module({"rules": changed_rules, "tags": {"Owner": "platform"}, "purge_tags": False})
    assert result["updated"] == [r["name"] for r in RULES]
    assert _tags(_rules()["cloudtrail-enabled"]["ConfigRuleArn"]) == {**TAGS, "Owner": "platform"}
    assert run_module({"rules": changed_rules})["changed"] is False

    # Absent: planned in check mode, deleted, then nothing to do.
    absent = {"rules": RULES[:2], "state": "absent"}
    result = run_module(absent, check_mode=True)
    assert result["deleted"] == ["cloudtrail-enabled", "iam-password-policy"]
    assert len(_rules()) == 3
    result = run_module(absent)
    assert result["changed"] is True
    assert set(_rules()) == {"s3-bucket-ssl-requests-only"}
    assert run_module(absent)["changed"] is False


@mock_aws
def test_purge_rules_deletes_what_is_not_listed(run_module):
    run_module({"rules": RULES})
    result = run_module({"rules": RULES[:1], "purge_rules": True}, check_mode=True)
    assert result["changed"] is True
    assert result["deleted"] == ["iam-password-policy", "s3-bucket-ssl-requests-only"]
    assert len(_rules()) == 3
    result = run_module({"rules": RULES[:1], "purge_rules": True})
    assert result["deleted"] == ["iam-password-policy", "s3-bucket-ssl-requests-only"]
    assert set(_rules()) == {"cloudtrail-enabled"}
    assert run_module({"rules": RULES[:1], "purge_rules": True})["changed"] is False


@mock_aws
def test_unset_frequency_keeps_the_current_one(run_module):
    run_module({"rules": RULES})
    unset = {**RULES[1]}
    del unset["maximum_execution_frequency"]
    assert run_module({"rules": [unset]})["changed"] is False


@mock_aws
def test_aws_refusal_is_reported_with_its_message(run_module):
    result = run_module({"rules": [{"name": "nope", "source_identifier": "NO_SUCH_MANAGED_RULE"}]})
    assert result["failed"] is True
    assert "Could not apply the Config rules" in result["msg"]
    assert "NO_SUCH_MANAGED_RULE" in result["msg"]


@mock_aws
def test_repeated_names_are_refused_before_any_call(run_module):
    result = run_module({"rules": [RULES[0], RULES[0]]})
    assert result["failed"] is True
    assert result["msg"] == "rules: each name must appear once, repeated: cloudtrail-enabled"
    assert _rules() == {}
