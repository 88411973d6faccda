"""giftcrypto.platform.guardduty_detector against moto: create, no-op, update, check mode, delete."""

from __future__ import annotations

import boto3
from ansible_collections.giftcrypto.platform.plugins.modules import guardduty_detector
from moto import mock_aws

from tests.unit import moto_modules
from tests.unit.moto_modules import ACCOUNT_ID, REGION

aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(guardduty_detector)


PRESENT = {
    "finding_publishing_frequency": "FIFTEEN_MINUTES",
    "features": [{"name": "S3_DATA_EVENTS"}, {"name": "EKS_AUDIT_LOGS", "status": "DISABLED"}],
    "tags": {"Project": "GiftCrypto", "Layer": "security"},
}


def _detectors() -> list[dict]:
    client = boto3.client("guardduty", region_name=REGION)
    return [client.get_detector(DetectorId=i) for i in client.list_detectors()["DetectorIds"]]


@mock_aws
def test_lifecycle_check_create_noop_update_delete(run_module):
    # Check mode on nothing: a creation is planned, nothing is created.
    result = run_module(PRESENT, check_mode=True)
    assert result["rc"] == 0, result
    assert result["changed"] is True
    assert result["detector_id"] == ""
    assert result["diff"]["before"] == {}
    assert result["diff"]["after"]["status"] == "ENABLED"
    assert result["diff"]["after"]["finding_publishing_frequency"] == "FIFTEEN_MINUTES"
    assert result["diff"]["after"]["features"] == {"S3_DATA_EVENTS": "ENABLED", "EKS_AUDIT_LOGS": "DISABLED"}
    assert result["diff"]["after"]["tags"] == PRESENT["tags"]
    assert _detectors() == []

    # Create.
    result = run_module(PRESENT)
    assert result["changed"] is True, result
    detector_id = result["detector_id"]
    assert detector_id
    assert result["detector"]["status"] == "ENABLED"
    assert result["detector"]["tags"] == PRESENT["tags"]
    assert result["diff"] == {"before": {}, "after": result["detector"]}
    (created,) = _detectors()
    assert created["Status"] == "ENABLED"
    assert created["FindingPublishingFrequency"] == "FIFTEEN_MINUTES"
    assert {f["Name"]: f["Status"] for f in created["Features"]} == {
        "S3_DATA_EVENTS": "ENABLED",
        "EKS_AUDIT_LOGS": "DISABLED",
    }

    # No-op, in check mode and for real.
    result = run_module(PRESENT, check_mode=True)
    assert result["changed"] is False
    assert result["detector_id"] == detector_id
    result = run_module(PRESENT)
    assert result["changed"] is False
    assert result["diff"]["before"] == result["diff"]["after"]

    # Options left unset are not compared.
    assert run_module({})["changed"] is False

    # Update in check mode: planned, not applied.
    update = {**PRESENT, "finding_publishing_frequency": "ONE_HOUR", "features": [{"name": "EKS_AUDIT_LOGS"}]}
    result = run_module(update, check_mode=True)
    assert result["changed"] is True
    assert result["diff"]["before"]["finding_publishing_frequency"] == "FIFTEEN_MINUTES"
    assert result["diff"]["after"]["finding_publishing_frequency"] == "ONE_HOUR"
    assert result["diff"]["after"]["features"]["EKS_AUDIT_LOGS"] == "ENABLED"
    assert _detectors()[0]["FindingPublishingFrequency"] == "FIFTEEN_MINUTES"

    # Update.
    result = run_module(update)
    assert result["changed"] is True
    assert result["detector_id"] == detector_id
    assert result["detector"]["finding_publishing_frequency"] == "ONE_HOUR"
    assert _detectors()[0]["FindingPublishingFrequency"] == "ONE_HOUR"
    assert run_module(update)["changed"] is False

    # Suspend.
    result = run_module({**update, "enable": False})
    assert result["changed"] is True
    assert _detectors()[0]["Status"] == "DISABLED"
    assert run_module({**update, "enable": False})["changed"] is False

    # Absent: planned in check mode, then deleted, then nothing to do.
    result = run_module({"state": "absent"}, check_mode=True)
    assert result["changed"] is True
    assert result["diff"]["before"]["detector_id"] == detector_id
    assert len(_detectors()) == 1
    result = run_module({"state": "absent"})
    assert result["changed"] is True
    assert result["diff"]["after"] == {}
    assert _detectors() == []
    assert run_module({"state": "absent"})["changed"] is False


@mock_aws
def test_sub_features_are_compared_by_feature_and_name(run_module):
    runtime = {
        "features": [
            {
                "name": "RUNTIME_MONITORING",
                "additional_configuration": [{"name": "EKS_ADDON_MANAGEMENT", "status": "DISABLED"}],
            }
        ]
    }
    assert run_module(runtime)["changed"] is True
    assert run_module(runtime)["changed"] is False
    runtime["features"][0]["additional_configuration"][0]["status"] = "ENABLED"
    result = run_module(runtime)
    assert result["changed"] is True
    assert result["detector"]["additional_configuration"] == {
        "RUNTIME_MONITORING/EKS_ADDON_MANAGEMENT": "ENABLED"
    }


@mock_aws
def test_tags_are_changed_with_tag_and_untag_on_the_detector_arn(run_module):
    # moto's GuardDuty has no TagResource/UntagResource: those two calls are answered here.
    detector_id = run_module(PRESENT)["detector_id"]
    arn = f"arn:aws:guardduty:{REGION}:{ACCOUNT_ID}:detector/{detector_id}"
    handlers = {"TagResource": lambda _params: {}, "UntagResource": lambda _params: {}}

    with moto_modules.fake_operations(handlers) as calls:
        result = run_module(
            {**PRESENT, "tags": {"Project": "GiftCrypto", "Owner": "platform"}}, check_mode=True
        )
    assert result["changed"] is True
    assert result["diff"]["after"]["tags"] == {"Project": "GiftCrypto", "Owner": "platform"}
    assert calls == []

    with moto_modules.fake_operations(handlers) as calls:
        result = run_module({**PRESENT, "tags": {"Project": "GiftCrypto", "Owner": "platform"}})
    assert result["changed"] is True
    assert calls == [
        ("UntagResource", {"ResourceArn": arn, "TagKeys": ["Layer"]}),
        ("TagResource", {"ResourceArn": arn, "Tags": {"Owner": "platform"}}),
    ]

    with moto_modules.fake_operations(handlers) as calls:
        result = run_module({**PRESENT, "tags": {"Owner": "platform"}, "purge_tags": False})
    assert calls == [("TagResource", {"ResourceArn": arn, "Tags": {"Owner": "platform"}})]

    # tags unset: not managed, nothing called.
    with moto_modules.fake_operations(handlers) as calls:
        result = run_module({"finding_publishing_frequency": "FIFTEEN_MINUTES"})
    assert result["changed"] is False
    assert calls == []


@mock_aws
def test_bad_choices_are_refused_before_any_call(run_module):
    result = run_module({"finding_publishing_frequency": "EVERY_MINUTE"})
    assert result["failed"] is True
    assert "finding_publishing_frequency" in result["msg"]
    result = run_module({"features": [{"name": "S3_DATA_EVENTS", "status": "ON"}]})
    assert result["failed"] is True
    assert "status" in result["msg"]
    assert _detectors() == []
