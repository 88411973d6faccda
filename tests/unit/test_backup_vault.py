"""giftcrypto.platform.backup_vault against moto: create (where amazon.aws.backup_vault fails on the
NotFound answer), no-op, tags updated and purged, check mode, the key guards, delete."""

from __future__ import annotations

import boto3
import pytest
from ansible_collections.giftcrypto.platform.plugins.modules import backup_vault
from moto import mock_aws

from tests.unit import moto_modules
from tests.unit.moto_modules import ACCOUNT_ID, REGION

NAME = "giftcrypto-test"
ARN = f"arn:aws:backup:{REGION}:{ACCOUNT_ID}:backup-vault:{NAME}"
TAGS = {"Project": "GiftCrypto", "Environment": "test"}

aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(backup_vault)


def _backup(region: str = REGION):
    return boto3.client("backup", region_name=region)


def _key(region: str = REGION) -> str:
    return boto3.client("kms", region_name=region).create_key(Description="backups")["KeyMetadata"]["Arn"]


def _vault(name: str = NAME) -> dict | None:
    try:
        return _backup().describe_backup_vault(BackupVaultName=name)
    except _backup().exceptions.ResourceNotFoundException:
        return None


def _tags() -> dict:
    return _backup().list_tags(ResourceArn=ARN)["Tags"]


@mock_aws
def test_lifecycle_check_create_noop_tags_delete(run_module):
    key = _key()
    args = {"name": NAME, "encryption_key_arn": key, "tags": TAGS}

    # Check mode on nothing: planned, not stored.
    result = run_module(args, check_mode=True)
    assert result["rc"] == 0, result
    assert result["changed"] is True
    assert result["backup_vault"]["arn"] == ""
    assert result["backup_vault"]["encryption_key_arn"] == key
    assert result["backup_vault"]["tags"] == TAGS
    assert result["diff"]["before"] == {}
    assert _vault() is None

    # Create: the vault with its key and tags.
    result = run_module(args)
    assert result["rc"] == 0 and result["changed"] is True, result
    assert result["backup_vault"] == {
        "name": NAME,
        "arn": ARN,
        "encryption_key_arn": key,
        "number_of_recovery_points": 0,
        "tags": TAGS,
    }
    assert _vault()["EncryptionKeyArn"] == key
    assert _tags() == TAGS

    # No-op, in check mode and for real.
    for check_mode in (True, False):
        result = run_module(args, check_mode=check_mode)
        assert result["changed"] is False, result
        assert result["diff"]["before"] == result["diff"]["after"]

    # A tag added: check mode plans it and stores nothing; then for real; then a no-op.
    more = {**args, "tags": {**TAGS, "Owner": "sre"}}
    result = run_module(more, check_mode=True)
    assert result["changed"] is True
    assert result["diff"]["before"]["tags"] == TAGS
    assert result["diff"]["after"]["tags"] == {**TAGS, "Owner": "sre"}
    assert _tags() == TAGS
    assert run_module(more)["changed"] is True
    assert _tags() == {**TAGS, "Owner": "sre"}
    assert run_module(more)["changed"] is False

    # Not purging keeps the extra tag; purging removes it.
    assert run_module({**args, "purge_tags": False})["changed"] is False
    assert run_module(args)["changed"] is True
    assert _tags() == TAGS

    # Tags not managed (tags omitted): nothing changes.
    assert run_module({"name": NAME, "encryption_key_arn": key, "tags": None})["changed"] is False
    assert _tags() == TAGS

    # Delete: check mode first, then for real, then nothing left to delete.
    result = run_module({"name": NAME, "state": "absent"}, check_mode=True)
    assert result["changed"] is True
    assert _vault() is not None
    result = run_module({"name": NAME, "state": "absent"})
    assert result["changed"] is True
    assert result["diff"]["before"]["arn"] == ARN
    assert _vault() is None
    assert run_module({"name": NAME, "state": "absent"})["changed"] is False


@mock_aws
def test_the_key_of_an_existing_vault_cannot_change(run_module):
    first, second = _key(), _key()
    run_module({"name": NAME, "encryption_key_arn": first})
    result = run_module({"name": NAME, "encryption_key_arn": second})
    assert result["rc"] == 1 and result["failed"] is True
    assert f"encryption_key_arn={second}" in result["msg"]
    assert "cannot change" in result["msg"]
    assert _vault()["EncryptionKeyArn"] == first


@mock_aws
def test_a_new_vault_needs_a_customer_key_unless_allowed(run_module):
    result = run_module({"name": NAME})
    assert result["rc"] == 1
    assert "encryption_key_arn is required" in result["msg"]
    assert _vault() is None
    result = run_module({"name": NAME, "allow_aws_managed_key": True})
    assert result["rc"] == 0 and result["changed"] is True, result
    assert _vault() is not None


@mock_aws
def test_a_key_of_another_region_is_refused(run_module):
    key = _key("us-west-2")
    result = run_module({"name": NAME, "encryption_key_arn": key})
    assert result["rc"] == 1
    assert f"encryption_key_arn={key}" in result["msg"]
    assert f"the vault's region {REGION}" in result["msg"]
    assert _vault() is None


@mock_aws
def test_the_vault_goes_to_the_region_asked(run_module):
    key = _key("us-west-2")
    result = run_module({"name": NAME, "encryption_key_arn": key, "region": "us-west-2"})
    assert result["changed"] is True, result
    assert result["backup_vault"]["arn"].startswith("arn:aws:backup:us-west-2:")
    assert _backup("us-west-2").describe_backup_vault(BackupVaultName=NAME)["EncryptionKeyArn"] == key
    assert _vault() is None


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ({"name": "x"}, "name=x"),
        ({"name": "has space"}, "name=has space"),
        ({"name": NAME, "encryption_key_arn": "alias/backup"}, "encryption_key_arn=alias/backup"),
    ],
)
@mock_aws
def test_bad_input_is_refused_by_name(run_module, args, named):
    result = run_module(args)
    assert result["rc"] == 1 and result["failed"] is True
    assert named in result["msg"]
    assert _backup().list_backup_vaults()["BackupVaultList"] == []
