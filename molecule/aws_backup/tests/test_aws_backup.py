"""What aws_backup built, read back from the scenario's AWS endpoint with boto3, and how the role
behaves on bad input, on a converged account (plan) and on a changed plan."""

import json
import os
import pathlib
import re
import subprocess
import sys

import boto3
import pytest

ENDPOINT = "http://127.0.0.1:4597"
REGION = "us-east-1"
DR_REGION = "us-west-2"
NAME = "gcbak-local"
PLAN = f"{NAME}-daily"
ACCOUNT = "123456789012"
DR_VAULT_ARN = f"arn:aws:backup:{DR_REGION}:{ACCOUNT}:backup-vault:{NAME}-dr"
REQUIRED_TAGS = {"Project", "Environment", "ManagedBy", "CostCenter"}


def _client(service, region=REGION):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name=region,
        aws_access_key_id="molecule",
        aws_secret_access_key="molecule",  # pragma: allowlist secret
    )


def _key_of_alias(region):
    kms = _client("kms", region)
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    return kms.describe_key(KeyId=aliases[f"alias/{NAME}-backup"])["KeyMetadata"]


def _plan():
    backup = _client("backup")
    (summary,) = [p for p in backup.list_backup_plans()["BackupPlansList"] if p["BackupPlanName"] == PLAN]
    return backup.get_backup_plan(BackupPlanId=summary["BackupPlanId"])


# --- Vaults and keys ----------------------------------------------------------------------------


@pytest.mark.parametrize(("region", "vault"), [(REGION, NAME), (DR_REGION, f"{NAME}-dr")])
def test_backup_1_vaults_encrypted_with_a_customer_key_of_their_region(region, vault):
    found = _client("backup", region).describe_backup_vault(BackupVaultName=vault)
    key = _key_of_alias(region)
    assert found["EncryptionKeyArn"] == key["Arn"]
    assert key["Arn"].split(":")[3] == region
    assert key["KeyManager"] == "CUSTOMER"
    assert key["Enabled"] is True
    assert _client("kms", region).get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True


@pytest.mark.parametrize(("region", "vault"), [(REGION, NAME), (DR_REGION, f"{NAME}-dr")])
def test_vaults_and_keys_are_tagged(region, vault):
    backup = _client("backup", region)
    arn = backup.describe_backup_vault(BackupVaultName=vault)["BackupVaultArn"]
    tags = backup.list_tags(ResourceArn=arn)["Tags"]
    assert set(tags) >= REQUIRED_TAGS
    assert tags["Name"] == vault
    key = _key_of_alias(region)
    key_tags = {
        t["TagKey"]: t["TagValue"]
        for t in _client("kms", region).list_resource_tags(KeyId=key["KeyId"])["Tags"]
    }
    assert set(key_tags) >= REQUIRED_TAGS
    assert key_tags["Purpose"] == "backup"


# --- The plan -----------------------------------------------------------------------------------


def test_plan_has_one_daily_rule_kept_30_days_into_the_primary_vault():
    (rule,) = _plan()["BackupPlan"]["Rules"]
    assert re.fullmatch(r"cron\(\d{1,2} \d{1,2} \? \* \* \*\)", rule["ScheduleExpression"])
    assert rule["TargetBackupVaultName"] == NAME
    assert rule["Lifecycle"]["DeleteAfterDays"] >= 30
    assert rule["StartWindowMinutes"] == 60
    assert rule["CompletionWindowMinutes"] == 1440


def test_plan_copies_every_recovery_point_to_the_dr_vault():
    (rule,) = _plan()["BackupPlan"]["Rules"]
    (copy,) = rule["CopyActions"]
    assert copy["DestinationBackupVaultArn"] == DR_VAULT_ARN
    assert copy["DestinationBackupVaultArn"].split(":")[3] != REGION
    assert copy["Lifecycle"]["DeleteAfterDays"] >= 30
    # The target exists (the endpoint does not check it when the plan is made).
    _client("backup", DR_REGION).describe_backup_vault(BackupVaultName=f"{NAME}-dr")


def test_plan_is_tagged():
    plan = _plan()
    tags = _client("backup").list_tags(ResourceArn=plan["BackupPlanArn"])["Tags"]
    assert set(tags) >= REQUIRED_TAGS
    assert tags["Name"] == PLAN


# --- The service role ---------------------------------------------------------------------------


def test_service_role_is_trusted_by_aws_backup_only_with_the_managed_policies():
    iam = _client("iam")
    role = iam.get_role(RoleName=f"{NAME}-backup")["Role"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "backup.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    attached = iam.list_attached_role_policies(RoleName=f"{NAME}-backup")["AttachedPolicies"]
    assert sorted(p["PolicyName"] for p in attached) == [
        "AWSBackupServiceRolePolicyForBackup",
        "AWSBackupServiceRolePolicyForRestores",
    ]
    assert iam.list_role_policies(RoleName=f"{NAME}-backup")["PolicyNames"] == []


# --- Runs of the converge playbook -------------------------------------------------------------


def _converge(*extra: str) -> subprocess.CompletedProcess:
    """The scenario's converge playbook on its inventory, with extra ansible-playbook arguments."""
    scenario = pathlib.Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    playbook = pathlib.Path(sys.executable).parent / "ansible-playbook"
    return subprocess.run(  # noqa: S603 -- a fixed argv: our playbook and the scenario's inventory
        [
            str(playbook),
            "-i",
            str(pathlib.Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent),
            str(scenario / "converge.yml"),
            *extra,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"},
    )


def _recap(output: str) -> tuple[int, int]:
    found = re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=(\d+)", output)
    assert found, output[-3000:]
    return int(found.group(1)), int(found.group(2))


def _snapshot():
    def vaults(region):
        backup = _client("backup", region)
        return sorted(
            (v["BackupVaultName"], v.get("EncryptionKeyArn", ""))
            for v in backup.list_backup_vaults()["BackupVaultList"]
        )

    backup = _client("backup")
    plans = sorted(
        (
            p["BackupPlanName"],
            json.dumps(
                backup.get_backup_plan(BackupPlanId=p["BackupPlanId"])["BackupPlan"]["Rules"], sort_keys=True
            ),
        )
        for p in backup.list_backup_plans()["BackupPlansList"]
    )
    aliases = sorted(
        a["AliasName"]
        for region in (REGION, DR_REGION)
        for a in _client("kms", region).list_aliases()["Aliases"]
    )
    roles = sorted(r["RoleName"] for r in _client("iam").list_roles()["Roles"])
    return vaults(REGION), vaults(DR_REGION), plans, aliases, roles


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        (
            {"aws_backup_dr_region": "us-east-1"},
            "aws_backup_dr_region=us-east-1: the DR region must differ from aws_region",
        ),
        ({"aws_backup_retention_days": 7}, "aws_backup_retention_days=7, aws_backup_dr_retention_days=30"),
        ({"aws_backup_dr_retention_days": 29}, "at least 30 days"),
        (
            {"aws_backup_schedule": "cron(0 5 ? * 1 *)"},
            "aws_backup_schedule=cron(0 5 ? * 1 *): the plan runs daily",
        ),
        ({"aws_backup_schedule": "rate(1 hour)"}, "aws_backup_schedule=rate(1 hour)"),
        ({"aws_backup_selection_tag_value": ""}, "resources are selected by one tag"),
        ({"aws_backup_kms_key_alias": "alias/aws/backup"}, "aws_backup_kms_key_alias=alias/aws/backup"),
        (
            {"aws_backup_environment": "production", "aws_backup_dr_copy_enabled": False},
            "aws_backup_dr_copy_enabled=False",
        ),
        (
            {"aws_backup_environment": "production", "aws_backup_selection_enabled": False},
            "aws_backup_selection_enabled=False",
        ),
    ],
)
def test_bad_input_is_refused_before_any_aws_call(extra_vars, message):
    before = _snapshot()
    result = _converge("-e", json.dumps(extra_vars))
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert message in output, output[-3000:]
    assert _recap(result.stdout) == (0, 1)
    assert "Find the account" not in result.stdout
    assert _snapshot() == before


def test_another_platform_refused_creates_nothing():
    before = _snapshot()
    result = _converge("-e", json.dumps({"platform_name": "gcnone", "aws_backup_dr_region": REGION}))
    assert result.returncode != 0
    assert _snapshot() == before
    assert not any("gcnone" in alias for alias in _snapshot()[3])


def test_plan_of_the_converged_layer_changes_nothing():
    result = _converge("--check", "--diff")
    assert result.returncode == 0, result.stdout[-3000:]
    assert _recap(result.stdout) == (0, 0)


def test_plan_of_a_new_platform_lists_every_resource_and_makes_none():
    before = _snapshot()
    result = _converge("--check", "--diff", "-e", json.dumps({"platform_name": "gcfresh"}))
    assert result.returncode == 0, result.stdout[-3000:]
    # The keys, the vaults, the role and the plan (a loop is one task).
    assert _recap(result.stdout) == (4, 0)
    assert "gcfresh-local-dr" in result.stdout
    assert _snapshot() == before


def test_a_changed_plan_is_planned_then_updated_in_place():
    before = _snapshot()
    plan_id = _plan()["BackupPlanId"]
    planned = _converge("--check", "--diff", "-e", json.dumps({"aws_backup_retention_days": 35}))
    assert planned.returncode == 0, planned.stdout[-3000:]
    assert _recap(planned.stdout) == (1, 0)
    assert _snapshot() == before
    applied = _converge("-e", json.dumps({"aws_backup_retention_days": 35}))
    assert applied.returncode == 0, applied.stdout[-3000:]
    assert _recap(applied.stdout) == (1, 0)
    plan = _plan()
    assert plan["BackupPlanId"] == plan_id
    assert plan["BackupPlan"]["Rules"][0]["Lifecycle"]["DeleteAfterDays"] == 35
    # Back to the scenario's retention: the layer is as converge left it.
    assert _recap(_converge().stdout) == (1, 0)
    assert _plan()["BackupPlan"]["Rules"][0]["Lifecycle"]["DeleteAfterDays"] == 30
    assert _recap(_converge().stdout) == (0, 0)


def test_selection_by_tag_through_the_service_role():
    backup = _client("backup")
    plan_id = _plan()["BackupPlanId"]
    (listed,) = backup.list_backup_selections(BackupPlanId=plan_id)["BackupSelectionsList"]
    assert listed["SelectionName"] == f"{NAME}-by-tag"
    selection = backup.get_backup_selection(BackupPlanId=plan_id, SelectionId=listed["SelectionId"])
    assert selection["BackupSelection"]["IamRoleArn"].endswith(f":role/{NAME}-backup")
    assert selection["BackupSelection"]["ListOfTags"] == [
        {"ConditionType": "STRINGEQUALS", "ConditionKey": "Backup", "ConditionValue": "daily"}
    ]


def test_local_gaps_are_reported_not_hidden():
    result = _converge()
    assert result.returncode == 0, result.stdout[-3000:]
    output = " ".join(result.stdout.split())
    assert "does not implement StartDBInstanceAutomatedBackupsReplication" in output
