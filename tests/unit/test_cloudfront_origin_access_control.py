"""giftcrypto.platform.cloudfront_origin_access_control against moto: create, no-op, update, delete."""

from __future__ import annotations

import boto3
from ansible_collections.giftcrypto.platform.plugins.modules import cloudfront_origin_access_control
from moto import mock_aws

from tests.unit import moto_modules
from tests.unit.moto_modules import REGION

aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(cloudfront_origin_access_control)

PRESENT = {"name": "giftcrypto-local-assets", "description": "CloudFront to the assets bucket"}


def _oacs() -> list[dict]:
    answer = boto3.client("cloudfront", region_name=REGION).list_origin_access_controls()
    return answer["OriginAccessControlList"].get("Items") or []


@mock_aws
def test_lifecycle_check_create_noop_update_delete(run_module):
    result = run_module(PRESENT, check_mode=True)
    assert result["rc"] == 0, result
    assert result["changed"] is True
    assert result["diff"]["before"] == {}
    assert result["diff"]["after"]["signing_behavior"] == "always"
    assert _oacs() == []

    result = run_module(PRESENT)
    assert result["changed"] is True, result
    oac_id = result["id"]
    (created,) = _oacs()
    assert created["Id"] == oac_id
    assert created["SigningBehavior"] == "always"
    assert created["SigningProtocol"] == "sigv4"
    assert created["OriginAccessControlOriginType"] == "s3"

    assert run_module(PRESENT, check_mode=True)["changed"] is False
    result = run_module(PRESENT)
    assert result["changed"] is False
    assert result["id"] == oac_id
    assert result["diff"]["before"] == result["diff"]["after"]

    update = {**PRESENT, "description": "changed"}
    result = run_module(update, check_mode=True)
    assert result["changed"] is True
    assert result["changes"] == ["description"] and result["id"] == oac_id
    assert result["diff"]["after"]["description"] == "changed"
    assert _oacs()[0].get("Description") == PRESENT["description"]
    result = run_module(update)
    assert result["changed"] is True
    assert result["id"] == oac_id
    assert _oacs()[0].get("Description") == "changed"
    assert run_module(update)["changed"] is False

    result = run_module({**PRESENT, "state": "absent"}, check_mode=True)
    assert result["changed"] is True
    assert len(_oacs()) == 1
    assert run_module({**PRESENT, "state": "absent"})["changed"] is True
    assert _oacs() == []
    assert run_module({**PRESENT, "state": "absent"})["changed"] is False


@mock_aws
def test_bad_names_are_refused_before_any_call(run_module):
    for name in ("", "x" * 65, "two words"):
        result = run_module({"name": name})
        assert result["failed"] is True
        assert "Refused before any change: name: " in result["msg"]
    result = run_module({"name": "ok", "signing_behavior": "sometimes"})
    assert result["failed"] is True
    assert "signing_behavior" in result["msg"]
    assert _oacs() == []
