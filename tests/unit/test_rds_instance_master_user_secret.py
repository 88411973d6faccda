"""giftcrypto.platform.rds_instance_master_user_secret: check mode, turning management on, the no-op,
the rotation schedule, the key that cannot change and the input guards, against moto (which
implements ManageMasterUserPassword: it creates the rds!db- secret and returns MasterUserSecret)."""

from __future__ import annotations

import boto3
import pytest
from ansible_collections.giftcrypto.platform.plugins.modules import rds_instance_master_user_secret
from moto import mock_aws

from tests.unit import moto_modules
from tests.unit.moto_modules import REGION

IDENTIFIER = "giftcrypto-test"

aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(rds_instance_master_user_secret)


def _instance() -> None:
    boto3.client("rds", region_name=REGION).create_db_instance(
        DBInstanceIdentifier=IDENTIFIER,
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        MasterUsername="giftcrypto_admin",
        MasterUserPassword="initial-password-1",  # pragma: allowlist secret
        AllocatedStorage=20,
    )


def _key() -> str:
    kms = boto3.client("kms", region_name=REGION)
    key = kms.create_key()["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName="alias/test-rds", TargetKeyId=key)
    return key


def _described():
    return boto3.client("rds", region_name=REGION).describe_db_instances(DBInstanceIdentifier=IDENTIFIER)[
        "DBInstances"
    ][0]


@mock_aws
def test_check_turn_on_noop_then_a_new_schedule(run_module):
    _instance()
    key = _key()
    args = {"db_instance_identifier": IDENTIFIER, "kms_key_id": "alias/test-rds", "rotation_days": 7}

    result = run_module(args, check_mode=True)
    assert result["rc"] == 0 and result["changed"] is True, result
    assert result["planned"] == "update"
    assert result["changes"] == ["managed", "rotation_days"]
    assert result["master_user_secret"]["kms_key_id"] == key
    assert result["diff"]["before"]["managed"] is False
    assert "MasterUserSecret" not in _described()

    result = run_module(args)
    assert result["changed"] is True, result
    secret = result["master_user_secret"]
    assert secret["managed"] is True
    assert secret["secret_arn"].split(":")[6].startswith("rds!db-")
    assert secret["kms_key_id"] == key
    assert secret["rotation_enabled"] is True and secret["rotation_days"] == 7
    assert _described()["MasterUserSecret"]["SecretArn"] == secret["secret_arn"]
    # The secret holds the password, and the module returns none of it.
    assert "password" not in str(result).lower().replace("master_user_password", "")

    for check_mode in (True, False):
        again = run_module(args, check_mode=check_mode)
        assert again["changed"] is False and again["planned"] == "none", again

    result = run_module({**args, "rotation_days": 30}, check_mode=True)
    assert result["changed"] is True and result["changes"] == ["rotation_days"], result
    result = run_module({**args, "rotation_days": 30})
    assert result["changed"] is True and result["master_user_secret"]["rotation_days"] == 30, result
    rules = boto3.client("secretsmanager", region_name=REGION).describe_secret(SecretId=secret["secret_arn"])
    assert rules["RotationRules"]["AutomaticallyAfterDays"] == 30
    assert run_module({**args, "rotation_days": 30})["changed"] is False


@mock_aws
def test_a_managed_secret_keeps_its_key(run_module):
    _instance()
    _key()
    run_module({"db_instance_identifier": IDENTIFIER, "kms_key_id": "alias/test-rds"})
    other = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    result = run_module({"db_instance_identifier": IDENTIFIER, "kms_key_id": other})
    assert result["rc"] == 1 and result["failed"] is True
    assert f"kms_key_id={other}" in result["msg"]
    assert "AWS cannot change the key of a managed secret" in result["msg"]


@mock_aws
def test_a_missing_instance_is_unverified_in_check_mode_and_refused_otherwise(run_module):
    # A plan before the key exists names a placeholder key: not looked up, planned as given.
    placeholder = "arn:aws:kms:us-east-1:000000000000:key/planned-by-check-mode"
    args = {"db_instance_identifier": IDENTIFIER, "rotation_days": 7, "kms_key_id": placeholder}
    result = run_module(args, check_mode=True)
    assert result["changed"] is True and result["unverified"] == ["db_instance"], result
    assert result["master_user_secret"]["kms_key_id"] == placeholder
    result = run_module(args)
    assert result["rc"] == 1 and result["failed"] is True
    assert f"the DB instance {IDENTIFIER} does not exist" in result["msg"]


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"db_instance_identifier": "1bad"}, "db_instance_identifier: 1 to 63 letters"),
        ({"db_instance_identifier": "bad--name"}, "db_instance_identifier: 1 to 63 letters"),
        ({"kms_key_id": "not a key"}, "kms_key_id: a KMS key id, key ARN, alias or alias ARN, got not a key"),
        ({"rotation_days": 0}, "rotation_days: 1 to 1000 days, got 0"),
        ({"rotation_days": 1001}, "rotation_days: 1 to 1000 days, got 1001"),
    ],
)
@mock_aws
def test_bad_input_is_refused_by_name(run_module, changes, named):
    with moto_modules.fake_operations({"DescribeDBInstances": lambda p: {"DBInstances": []}}) as calls:
        result = run_module({"db_instance_identifier": IDENTIFIER, **changes})
    assert result["rc"] == 1 and result["failed"] is True
    assert named in result["msg"]
    assert calls == []
