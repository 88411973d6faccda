"""giftcrypto.platform.securityhub_hub against moto: enable, no-op, standards, tags, check mode, disable.

moto enables and describes the hub but has no standards API (GetEnabledStandards,
BatchEnableStandards, BatchDisableStandards) nor tagging API (ListTagsForResource, TagResource,
UntagResource): those operations are answered by the small fake below, on top of moto's state
(the hub's tags are the ones moto keeps from EnableSecurityHub), everything else by moto.
"""

from __future__ import annotations

import boto3
from ansible_collections.giftcrypto.platform.plugins.modules import securityhub_hub
from moto import mock_aws
from moto.securityhub.models import securityhub_backends

from tests.unit import moto_modules
from tests.unit.moto_modules import ACCOUNT_ID, REGION

FSBP = f"arn:aws:securityhub:{REGION}::standards/aws-foundational-security-best-practices/v/1.0.0"
CIS = f"arn:aws:securityhub:{REGION}::standards/cis-aws-foundations-benchmark/v/3.0.0"
HUB_ARN = f"arn:aws:securityhub:{REGION}:{ACCOUNT_ID}:hub/default"


aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(securityhub_hub)


class FakeStandards:
    """The standards and tagging operations of Security Hub, in memory."""

    def __init__(self):
        self.enabled: dict[str, str] = {}  # standards ARN -> status

    @staticmethod
    def subscription_arn(standards_arn: str) -> str:
        return (
            f"arn:aws:securityhub:{REGION}:{ACCOUNT_ID}:subscription/" + standards_arn.split("standards/")[1]
        )

    def get_enabled(self, _params):
        return {
            "StandardsSubscriptions": [
                {
                    "StandardsArn": arn,
                    "StandardsSubscriptionArn": self.subscription_arn(arn),
                    "StandardsInput": {},
                    "StandardsStatus": status,
                }
                for arn, status in self.enabled.items()
            ]
        }

    def batch_enable(self, params):
        for request in params["StandardsSubscriptionRequests"]:
            self.enabled[request["StandardsArn"]] = "PENDING"
        return {"StandardsSubscriptions": []}

    def batch_disable(self, params):
        for arn in list(self.enabled):
            if self.subscription_arn(arn) in params["StandardsSubscriptionArns"]:
                self.enabled[arn] = "DELETING"
        return {"StandardsSubscriptions": []}

    @staticmethod
    def _backend():
        return securityhub_backends[ACCOUNT_ID][REGION]

    def list_tags(self, params):
        assert params["ResourceArn"] == HUB_ARN
        return {"Tags": dict(self._backend().tags)}

    def tag(self, params):
        self._backend().tags.update(params["Tags"])
        return {}

    def untag(self, params):
        for key in params["TagKeys"]:
            self._backend().tags.pop(key, None)
        return {}

    def handlers(self):
        return {
            "GetEnabledStandards": self.get_enabled,
            "BatchEnableStandards": self.batch_enable,
            "BatchDisableStandards": self.batch_disable,
            "ListTagsForResource": self.list_tags,
            "TagResource": self.tag,
            "UntagResource": self.untag,
        }


def _writes(calls: list) -> list:
    return [call for call in calls if not call[0].startswith(("Get", "List"))]


def _hub() -> dict | None:
    client = boto3.client("securityhub", region_name=REGION)
    try:
        return client.describe_hub()
    except client.exceptions.InvalidAccessException:
        return None


@mock_aws
def test_lifecycle_enable_standards_noop_purge_disable(run_module):
    fake = FakeStandards()
    present = {
        "standards": ["aws-foundational-security-best-practices/v/1.0.0"],
        "tags": {"Project": "GiftCrypto"},
    }

    with moto_modules.fake_operations(fake.handlers()) as calls:
        # Check mode on nothing: enabling and subscribing are planned, nothing is called.
        result = run_module(present, check_mode=True)
        assert result["rc"] == 0, result
        assert result["changed"] is True
        assert result["hub_arn"] == ""
        assert result["diff"]["before"] == {}
        assert result["diff"]["after"] == {
            "hub_arn": "",
            "standards": [FSBP],
            "tags": {"Project": "GiftCrypto"},
        }
        assert _hub() is None
        assert _writes(calls) == []

        # Enable and subscribe.
        result = run_module(present)
        assert result["changed"] is True, result
        assert result["hub_arn"] == HUB_ARN
        assert result["hub"] == {"hub_arn": HUB_ARN, "standards": [FSBP], "tags": {"Project": "GiftCrypto"}}
        assert result["standards_subscriptions"][0]["standards_arn"] == FSBP
        assert _hub()["HubArn"] == HUB_ARN
        assert fake.enabled == {FSBP: "PENDING"}
        assert ("BatchEnableStandards", {"StandardsSubscriptionRequests": [{"StandardsArn": FSBP}]}) in calls

        # No-op: a pending subscription counts as subscribed.
        assert run_module(present, check_mode=True)["changed"] is False
        result = run_module(present)
        assert result["changed"] is False
        assert result["diff"]["before"] == result["diff"]["after"]
        fake.enabled[FSBP] = "READY"
        assert run_module({**present, "standards": [FSBP]})["changed"] is False

        # Another standard is added; without purge_standards nothing is removed.
        both = {**present, "standards": [FSBP, "cis-aws-foundations-benchmark/v/3.0.0"]}
        result = run_module(both, check_mode=True)
        assert result["changed"] is True
        assert result["diff"]["after"]["standards"] == sorted([FSBP, CIS])
        assert CIS not in fake.enabled
        assert run_module(both)["changed"] is True
        assert set(fake.enabled) == {FSBP, CIS}
        assert run_module(present)["changed"] is False

        # purge_standards unsubscribes from what is not listed.
        purge = {**present, "purge_standards": True}
        result = run_module(purge, check_mode=True)
        assert result["changed"] is True
        assert result["diff"]["after"]["standards"] == [FSBP]
        assert fake.enabled[CIS] == "PENDING"
        result = run_module(purge)
        assert result["changed"] is True
        assert fake.enabled[CIS] == "DELETING"
        assert [s["standards_arn"] for s in result["standards_subscriptions"]] == [FSBP]
        assert run_module(purge)["changed"] is False

    # standards and tags unset: neither read nor changed (works on moto alone).
    result = run_module({})
    assert result["changed"] is False
    assert result["hub"] == {"hub_arn": HUB_ARN}

    # Disable: planned in check mode, then done, then nothing to do.
    result = run_module({"state": "absent"}, check_mode=True)
    assert result["changed"] is True
    assert _hub() is not None
    result = run_module({"state": "absent"})
    assert result["changed"] is True
    assert result["diff"]["before"]["hub_arn"] == HUB_ARN
    assert _hub() is None
    assert run_module({"state": "absent"})["changed"] is False


@mock_aws
def test_enable_without_standards_nor_tags_works_on_moto_alone(run_module):
    result = run_module({}, check_mode=True)
    assert result["changed"] is True
    assert result["diff"]["after"] == {"hub_arn": ""}
    assert _hub() is None
    result = run_module({})
    assert result["changed"] is True
    assert result["hub"] == {"hub_arn": HUB_ARN}
    assert _hub()["HubArn"] == HUB_ARN
    assert run_module({})["changed"] is False


@mock_aws
def test_tags_are_updated_on_the_hub_arn(run_module):
    fake = FakeStandards()
    with moto_modules.fake_operations(fake.handlers()) as calls:
        run_module({"tags": {"Project": "GiftCrypto", "Layer": "security"}})
        assert fake.list_tags({"ResourceArn": HUB_ARN})["Tags"] == {
            "Project": "GiftCrypto",
            "Layer": "security",
        }
        del calls[:]
        result = run_module({"tags": {"Project": "GiftCrypto", "Owner": "platform"}}, check_mode=True)
        assert result["changed"] is True
        assert result["diff"]["before"]["tags"] == {"Project": "GiftCrypto", "Layer": "security"}
        assert result["diff"]["after"]["tags"] == {"Project": "GiftCrypto", "Owner": "platform"}
        assert _writes(calls) == []
        result = run_module({"tags": {"Project": "GiftCrypto", "Owner": "platform"}})
        assert result["changed"] is True
        assert result["hub"]["tags"] == {"Project": "GiftCrypto", "Owner": "platform"}
        assert _writes(calls) == [
            ("UntagResource", {"ResourceArn": HUB_ARN, "TagKeys": ["Layer"]}),
            ("TagResource", {"ResourceArn": HUB_ARN, "Tags": {"Owner": "platform"}}),
        ]
        assert run_module({"tags": {"Project": "GiftCrypto", "Owner": "platform"}})["changed"] is False


@mock_aws
def test_failed_subscription_is_requested_again(run_module):
    fake = FakeStandards()
    with moto_modules.fake_operations(fake.handlers()):
        run_module({"standards": [FSBP]})
        fake.enabled[FSBP] = "FAILED"
        result = run_module({"standards": [FSBP]})
    assert result["changed"] is True
    assert fake.enabled[FSBP] == "PENDING"
