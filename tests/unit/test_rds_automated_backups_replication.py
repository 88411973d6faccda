"""giftcrypto.platform.rds_automated_backups_replication: start, no-op, check mode, stop, the
retention warning and the input guards. moto implements DescribeDBInstanceAutomatedBackups but not
the start and stop calls, so a stand-in (moto_modules.fake_operations) keeps the replication state."""

from __future__ import annotations

import json

import botocore.exceptions
import pytest
from ansible_collections.giftcrypto.platform.plugins.modules import rds_automated_backups_replication
from moto import mock_aws

from tests.unit import moto_modules
from tests.unit.moto_modules import ACCOUNT_ID

SOURCE = f"arn:aws:rds:us-east-1:{ACCOUNT_ID}:db:giftcrypto-test"
KEY = f"arn:aws:kms:us-west-2:{ACCOUNT_ID}:key/5678abcd-12ab-34cd-56ef-1234567890ab"
BACKUP_ARN = f"arn:aws:rds:us-west-2:{ACCOUNT_ID}:auto-backup:ab-test"
ARGS = {
    "region": "us-west-2",
    "source_db_instance_arn": SOURCE,
    "kms_key_id": KEY,
    "backup_retention_period": 7,
}

aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(rds_automated_backups_replication)


class Replications:
    """The destination region's replicated automated backups, as the stand-in keeps them."""

    def __init__(self):
        self.backups: list[dict] = []

    def describe(self, params):
        wanted = params["Filters"][0]["Values"]
        return {"DBInstanceAutomatedBackups": [b for b in self.backups if b["DBInstanceArn"] in wanted]}

    def start(self, params):
        backup = {
            "DBInstanceArn": params["SourceDBInstanceArn"],
            "DBInstanceAutomatedBackupsArn": BACKUP_ARN,
            "Status": "pending",
            "BackupRetentionPeriod": params["BackupRetentionPeriod"],
            "KmsKeyId": params.get("KmsKeyId", ""),
        }
        self.backups.append(backup)
        return {"DBInstanceAutomatedBackup": backup}

    def stop(self, params):
        for backup in self.backups:
            if backup["DBInstanceArn"] == params["SourceDBInstanceArn"]:
                backup["Status"] = "stopped"
        return {"DBInstanceAutomatedBackup": {}}

    def handlers(self):
        return {
            "DescribeDBInstanceAutomatedBackups": self.describe,
            "StartDBInstanceAutomatedBackupsReplication": self.start,
            "StopDBInstanceAutomatedBackupsReplication": self.stop,
        }


@mock_aws
def test_lifecycle_check_start_noop_stop(run_module):
    state = Replications()
    with moto_modules.fake_operations(state.handlers()) as calls:
        result = run_module(ARGS, check_mode=True)
        assert result["rc"] == 0 and result["changed"] is True, result
        assert result["replication"]["status"] == "pending"
        assert result["planned"] == "create"
        assert state.backups == []
        assert [name for name, _ in calls] == ["DescribeDBInstanceAutomatedBackups"]

        result = run_module(ARGS)
        assert result["changed"] is True, result
        assert result["replication"]["arn"] == BACKUP_ARN
        assert result["replication"]["backup_retention_period"] == 7
        (start,) = [params for name, params in calls if name == "StartDBInstanceAutomatedBackupsReplication"]
        assert start["SourceDBInstanceArn"] == SOURCE
        assert start["KmsKeyId"] == KEY
        assert start["BackupRetentionPeriod"] == 7

        for check_mode in (True, False):
            result = run_module(ARGS, check_mode=check_mode)
            assert result["changed"] is False, result
        assert len(state.backups) == 1

        absent = {**ARGS, "state": "absent"}
        assert run_module(absent, check_mode=True)["changed"] is True
        assert state.backups[0]["Status"] == "pending"
        assert run_module(absent)["changed"] is True
        assert state.backups[0]["Status"] == "stopped"
        assert run_module(absent)["changed"] is False


@mock_aws
def test_a_different_retention_is_warned_not_changed(run_module):
    state = Replications()
    with moto_modules.fake_operations(state.handlers()):
        run_module(ARGS)
        result = run_module({**ARGS, "backup_retention_period": 14})
    assert result["changed"] is False
    assert "backup_retention_period=14" in json.dumps(result.get("warnings", [])), result
    assert state.backups[0]["BackupRetentionPeriod"] == 7


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"source_db_instance_arn": "giftcrypto-test"}, "source_db_instance_arn: the ARN of a DB instance"),
        ({"region": "us-east-1"}, "must be in another region than the destination us-east-1"),
        ({"kms_key_id": "not a key"}, "kms_key_id: a KMS key id, key ARN, alias or alias ARN, got not a key"),
        ({"backup_retention_period": 0}, "backup_retention_period: 1 to 35 days, got 0"),
        ({"backup_retention_period": 36}, "backup_retention_period: 1 to 35 days, got 36"),
    ],
)
@mock_aws
def test_bad_input_is_refused_by_name(run_module, changes, named):
    state = Replications()
    with moto_modules.fake_operations(state.handlers()) as calls:
        result = run_module({**ARGS, **changes})
    assert result["rc"] == 1 and result["failed"] is True
    assert named in result["msg"]
    assert calls == []


@mock_aws
def test_an_error_of_the_api_fails_with_the_reason(run_module):
    # What the local endpoint (moto 5.2 server) does: it answers the start call with a 500.
    def refuse(params):
        raise botocore.exceptions.ClientError(
            {"Error": {"Code": "500", "Message": "Internal Server Error"}},
            "StartDBInstanceAutomatedBackupsReplication",
        )

    state = Replications()
    with moto_modules.fake_operations(
        {**state.handlers(), "StartDBInstanceAutomatedBackupsReplication": refuse}
    ):
        result = run_module(ARGS)
    assert result["rc"] == 1 and result["failed"] is True
    assert f"Could not create the replication of the automated backups of {SOURCE}" in result["msg"]
    assert state.backups == []
