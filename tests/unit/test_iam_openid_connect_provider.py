"""giftcrypto.platform.iam_openid_connect_provider against moto: create, no-op, update, check mode, delete."""

from __future__ import annotations

import boto3
import pytest
from ansible_collections.giftcrypto.platform.plugins.modules import iam_openid_connect_provider
from moto import mock_aws
from moto.iam.models import iam_backends

from tests.unit import moto_modules
from tests.unit.moto_modules import ACCOUNT_ID, REGION

URL = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
ARN = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{URL}"
THUMB_A = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280"
THUMB_B = "a" * 40
PRESENT = {
    "url": f"https://{URL}",
    "client_ids": ["sts.amazonaws.com"],
    "thumbprints": [THUMB_A],
    "tags": {"Project": "GiftCrypto"},
}


aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(iam_openid_connect_provider)


def _providers() -> dict[str, dict]:
    iam = boto3.client("iam", region_name=REGION)
    arns = [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    return {arn: iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn) for arn in arns}


@mock_aws
def test_lifecycle_check_create_noop_update_delete(run_module):
    # Check mode on nothing.
    result = run_module(PRESENT, check_mode=True)
    assert result["rc"] == 0, result
    assert result["changed"] is True
    assert result["arn"] == ""
    assert result["planned"] == "create"
    assert (
        result["diff"]["after"]
        == result["provider"]
        == {
            "arn": "",
            "url": URL,
            "client_ids": ["sts.amazonaws.com"],
            "thumbprints": [THUMB_A],
            "tags": {"Project": "GiftCrypto"},
        }
    )
    assert _providers() == {}

    # Create.
    result = run_module(PRESENT)
    assert result["changed"] is True, result
    assert result["arn"] == ARN
    assert result["provider"]["url"] == URL
    created = _providers()[ARN]
    assert created["ClientIDList"] == ["sts.amazonaws.com"]
    assert created["ThumbprintList"] == [THUMB_A]
    assert created["Tags"] == [{"Key": "Project", "Value": "GiftCrypto"}]

    # No-op, the URL given with or without its scheme.
    assert run_module(PRESENT, check_mode=True)["changed"] is False
    assert run_module({**PRESENT, "url": URL + "/"})["changed"] is False
    assert run_module({"url": URL})["changed"] is False

    # Thumbprints and tags: check mode, then for real.
    update = {**PRESENT, "thumbprints": [THUMB_B], "tags": {"Project": "GiftCrypto", "Layer": "security"}}
    result = run_module(update, check_mode=True)
    assert result["changed"] is True
    assert result["changes"] == ["thumbprints", "tags"]
    assert result["diff"]["after"]["thumbprints"] == [THUMB_B]
    assert _providers()[ARN]["ThumbprintList"] == [THUMB_A]
    result = run_module(update)
    assert result["changed"] is True
    assert result["provider"]["thumbprints"] == [THUMB_B]
    assert result["provider"]["tags"] == {"Project": "GiftCrypto", "Layer": "security"}
    assert run_module(update)["changed"] is False
    result = run_module({**update, "tags": {"Layer": "security"}})
    assert result["provider"]["tags"] == {"Layer": "security"}

    # Absent.
    result = run_module({"url": URL, "state": "absent"}, check_mode=True)
    assert result["changed"] is True
    assert ARN in _providers()
    result = run_module({"url": URL, "state": "absent"})
    assert result["changed"] is True
    assert result["diff"]["before"]["arn"] == ARN
    assert _providers() == {}
    assert run_module({"url": URL, "state": "absent"})["changed"] is False


@mock_aws
def test_audiences_are_added_and_removed(run_module):
    # moto answers AddClientIDToOpenIDConnectProvider and RemoveClientIDFromOpenIDConnectProvider
    # with an error: they are applied here to moto's own record of the provider.
    run_module(PRESENT)
    provider = iam_backends[ACCOUNT_ID]["global"].get_open_id_connect_provider(ARN)

    def add(params):
        provider.client_id_list.append(params["ClientID"])
        return {}

    def remove(params):
        provider.client_id_list.remove(params["ClientID"])
        return {}

    handlers = {"AddClientIDToOpenIDConnectProvider": add, "RemoveClientIDFromOpenIDConnectProvider": remove}
    with moto_modules.fake_operations(handlers) as calls:
        result = run_module({**PRESENT, "client_ids": ["github", "sts.amazonaws.com"]}, check_mode=True)
        assert result["diff"]["after"]["client_ids"] == ["github", "sts.amazonaws.com"]
        assert calls == []
        result = run_module({**PRESENT, "client_ids": ["github"]})
        assert result["changed"] is True
        assert result["provider"]["client_ids"] == ["github"]
        assert [name for name, _params in calls] == [
            "AddClientIDToOpenIDConnectProvider",
            "RemoveClientIDFromOpenIDConnectProvider",
        ]
        assert run_module({**PRESENT, "client_ids": ["github"]})["changed"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"url": "https://"}, "Refused before any change: url: must not be empty"),
        ({"url": URL}, f"Plan the OIDC provider {URL}: client_ids is required to create an OIDC provider"),
        (
            {**PRESENT, "thumbprints": ["abc"]},
            "Refused before any change: thumbprints: must be 40 hexadecimal digits (SHA-1): abc",
        ),
    ],
    ids=["url", "client_ids", "thumbprints"],
)
@mock_aws
def test_bad_arguments_create_nothing(run_module, args, message):
    result = run_module(args)
    assert result["failed"] is True
    assert result["msg"] == message
    assert _providers() == {}
