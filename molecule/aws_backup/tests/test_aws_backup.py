"""What aws_backup built, read back from the scenario's AWS endpoint with boto3, and how the role
behaves on bad input, on a converged account (plan) and on a changed plan."""

import json
import re

import pytest

NAME = "gcbak-local"
PLAN = f"{NAME}-daily"
ACCOUNT = "123456789012"
REQUIRED_TAGS = {"Project", "Environment", "ManagedBy", "CostCenter"}
# The vault of each side, in the region molecule.yml gives that side (the regions fixture).
VAULTS = [("primary", NAME), ("dr", f"{NAME}-dr")]


@pytest.fixture(scope="module")
def regions(scenario_vars):
    return {"primary": scenario_vars["aws_region"], "dr": scenario_vars["aws_backup_dr_region"]}


@pytest.fixture(scope="module")
def backup_key(kms_key):
    return lambda region: kms_key(f"alias/{NAME}-backup", region)


@pytest.fixture
def plan(aws):
    """The layer's backup plan, as it is when called."""

    def current():
        backup = aws("backup")
        (summary,) = [p for p in backup.list_backup_plans()["BackupPlansList"] if p["BackupPlanName"] == PLAN]
        return backup.get_backup_plan(BackupPlanId=summary["BackupPlanId"])

    return current


# --- Vaults and keys ----------------------------------------------------------------------------


@pytest.mark.parametrize(("side", "vault"), VAULTS)
def test_backup_1_vaults_encrypted_with_a_customer_key_of_their_region(side, vault, regions, aws, backup_key):
    region = regions[side]
    found = aws("backup", region).describe_backup_vault(BackupVaultName=vault)
    key = backup_key(region)
    assert found["EncryptionKeyArn"] == key["Arn"]
    assert key["Arn"].split(":")[3] == region
    assert key["KeyManager"] == "CUSTOMER"
    assert key["Enabled"] is True
    assert aws("kms", region).get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True


@pytest.mark.parametrize(("side", "vault"), VAULTS)
def test_vaults_and_keys_are_tagged(side, vault, regions, aws, backup_key, tags):
    region = regions[side]
    backup = aws("backup", region)
    arn = backup.describe_backup_vault(BackupVaultName=vault)["BackupVaultArn"]
    vault_tags = backup.list_tags(ResourceArn=arn)["Tags"]
    assert set(vault_tags) >= REQUIRED_TAGS
    assert vault_tags["Name"] == vault
    key = backup_key(region)
    key_tags = tags(aws("kms", region).list_resource_tags(KeyId=key["KeyId"])["Tags"], "TagKey", "TagValue")
    assert set(key_tags) >= REQUIRED_TAGS
    assert key_tags["Purpose"] == "backup"


# --- The plan -----------------------------------------------------------------------------------


def test_plan_has_one_daily_rule_kept_30_days_into_the_primary_vault(plan):
    (rule,) = plan()["BackupPlan"]["Rules"]
    assert re.fullmatch(r"cron\(\d{1,2} \d{1,2} \? \* \* \*\)", rule["ScheduleExpression"])
    assert rule["TargetBackupVaultName"] == NAME
    assert rule["Lifecycle"]["DeleteAfterDays"] >= 30
    assert rule["StartWindowMinutes"] == 60
    assert rule["CompletionWindowMinutes"] == 1440


def test_plan_copies_every_recovery_point_to_the_dr_vault(plan, regions, aws):
    (rule,) = plan()["BackupPlan"]["Rules"]
    (copy,) = rule["CopyActions"]
    assert (
        copy["DestinationBackupVaultArn"]
        == f"arn:aws:backup:{regions['dr']}:{ACCOUNT}:backup-vault:{NAME}-dr"
    )
    assert copy["DestinationBackupVaultArn"].split(":")[3] != regions["primary"]
    assert copy["Lifecycle"]["DeleteAfterDays"] >= 30
    # The target exists (the endpoint does not check it when the plan is made).
    aws("backup", regions["dr"]).describe_backup_vault(BackupVaultName=f"{NAME}-dr")


def test_plan_is_tagged(plan, aws):
    found = plan()
    plan_tags = aws("backup").list_tags(ResourceArn=found["BackupPlanArn"])["Tags"]
    assert set(plan_tags) >= REQUIRED_TAGS
    assert plan_tags["Name"] == PLAN


# --- The service role ---------------------------------------------------------------------------


def test_service_role_is_trusted_by_aws_backup_only_with_the_managed_policies(aws):
    iam = aws("iam")
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


@pytest.fixture
def snapshot(aws, regions):
    """What the layer manages in both regions, to compare before and after a run."""

    def vaults(region):
        backup = aws("backup", region)
        return sorted(
            (v["BackupVaultName"], v.get("EncryptionKeyArn", ""))
            for v in backup.list_backup_vaults()["BackupVaultList"]
        )

    def take():
        backup = aws("backup")
        plans = sorted(
            (
                p["BackupPlanName"],
                json.dumps(
                    backup.get_backup_plan(BackupPlanId=p["BackupPlanId"])["BackupPlan"]["Rules"],
                    sort_keys=True,
                ),
            )
            for p in backup.list_backup_plans()["BackupPlansList"]
        )
        aliases = sorted(
            a["AliasName"]
            for region in (regions["primary"], regions["dr"])
            for a in aws("kms", region).list_aliases()["Aliases"]
        )
        roles = sorted(r["RoleName"] for r in aws("iam").list_roles()["Roles"])
        return vaults(regions["primary"]), vaults(regions["dr"]), plans, aliases, roles

    return take


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
def test_bad_input_is_refused_before_any_aws_call(
    extra_vars, message, snapshot, converge, refused, unchanged
):
    with unchanged(snapshot):
        refused(converge(extra_vars=extra_vars), message, not_reached="Find the account")


def test_another_platform_refused_creates_nothing(snapshot, converge, regions):
    before = snapshot()
    result = converge(extra_vars={"platform_name": "gcnone", "aws_backup_dr_region": regions["primary"]})
    assert result.returncode != 0
    assert snapshot() == before
    assert not any("gcnone" in alias for alias in snapshot()[3])


def test_plan_of_the_converged_layer_changes_nothing(converge, planned):
    planned(converge("--check", "--diff"), 0)


def test_plan_of_a_new_platform_lists_every_resource_and_makes_none(snapshot, converge, planned, unchanged):
    with unchanged(snapshot):
        result = converge("--check", "--diff", extra_vars={"platform_name": "gcfresh"})
        # The keys, the vaults, the role and the plan (a loop is one task).
        planned(result, 4)
        assert "gcfresh-local-dr" in result.stdout


def test_a_changed_plan_is_planned_then_updated_in_place(snapshot, plan, converge, planned, recap):
    before = snapshot()
    plan_id = plan()["BackupPlanId"]
    planned(converge("--check", "--diff", extra_vars={"aws_backup_retention_days": 35}), 1)
    assert snapshot() == before
    planned(converge(extra_vars={"aws_backup_retention_days": 35}), 1)
    found = plan()
    assert found["BackupPlanId"] == plan_id
    assert found["BackupPlan"]["Rules"][0]["Lifecycle"]["DeleteAfterDays"] == 35
    # Back to the scenario's retention: the layer is as converge left it.
    assert recap(converge().stdout) == (1, 0)
    assert plan()["BackupPlan"]["Rules"][0]["Lifecycle"]["DeleteAfterDays"] == 30
    assert recap(converge().stdout) == (0, 0)


def test_selection_by_tag_through_the_service_role(aws, plan):
    backup = aws("backup")
    plan_id = plan()["BackupPlanId"]
    (listed,) = backup.list_backup_selections(BackupPlanId=plan_id)["BackupSelectionsList"]
    assert listed["SelectionName"] == f"{NAME}-by-tag"
    selection = backup.get_backup_selection(BackupPlanId=plan_id, SelectionId=listed["SelectionId"])
    assert selection["BackupSelection"]["IamRoleArn"].endswith(f":role/{NAME}-backup")
    assert selection["BackupSelection"]["ListOfTags"] == [
        {"ConditionType": "STRINGEQUALS", "ConditionKey": "Backup", "ConditionValue": "daily"}
    ]


def test_local_gaps_are_reported_not_hidden(converge):
    result = converge()
    assert result.returncode == 0, result.stdout[-3000:]
    output = " ".join(result.stdout.split())
    assert "does not implement StartDBInstanceAutomatedBackupsReplication" in output
