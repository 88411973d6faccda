"""What aws_rds built, read back from the scenario's AWS endpoint with boto3, and how the role behaves
on bad input and on a converged account (plan)."""

import json
import os
import pathlib
import re
import subprocess
import sys

import boto3
import pytest

ENDPOINT = "http://127.0.0.1:4593"
REGION = "us-east-1"
NAME = "gcrds-local"
REPLICA = f"{NAME}-replica-1"
REQUIRED_TAGS = {"Project", "Environment", "ManagedBy", "CostCenter"}
PARAMETERS = {
    "rds.force_ssl": "1",
    "shared_preload_libraries": "pgaudit,pg_stat_statements",
    "pgaudit.log": "ddl,role",
    "pgaudit.log_parameter": "0",
    "log_min_duration_statement": "1000",
    "log_connections": "1",
    "log_disconnections": "1",
}


def _client(service):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id="molecule",
        aws_secret_access_key="molecule",  # pragma: allowlist secret
    )


@pytest.fixture(scope="module")
def rds_key_arn():
    kms = _client("kms")
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    return kms.describe_key(KeyId=aliases[f"alias/{NAME}-rds"])["KeyMetadata"]["Arn"]


@pytest.fixture(scope="module")
def instances():
    found = _client("rds").describe_db_instances()["DBInstances"]
    return {i["DBInstanceIdentifier"]: i for i in found}


@pytest.fixture(scope="module")
def primary(instances):
    return instances[NAME]


@pytest.fixture(scope="module")
def master():
    secret = _client("secretsmanager").get_secret_value(SecretId="gcrds/local/rds/master")["SecretString"]
    return json.loads(secret)


def _tags(arn):
    return {t["Key"]: t["Value"] for t in _client("rds").list_tags_for_resource(ResourceName=arn)["TagList"]}


# --- The primary --------------------------------------------------------------------------------


def test_primary_is_postgres_17_on_an_allowed_class(primary):
    assert primary["Engine"] == "postgres"
    assert primary["EngineVersion"] == "17.10"
    assert primary["DBInstanceClass"] == "db.t3.micro"
    assert primary["DBName"] == "giftcrypto"
    assert primary["Endpoint"]["Port"] == 5432


def test_rds_3_storage_encrypted_with_the_rds_key(primary, rds_key_arn):
    assert primary["StorageEncrypted"] is True
    assert primary["KmsKeyId"] == rds_key_arn


def test_rds_2_not_publicly_accessible(primary):
    assert primary["PubliclyAccessible"] is False


def test_rds_5_multi_az(primary):
    assert primary["MultiAZ"] is True


def test_rds_11_backups_kept_30_days(primary):
    assert primary["BackupRetentionPeriod"] == 30
    assert primary["PreferredBackupWindow"] == "03:00-04:00"
    assert primary["CopyTagsToSnapshot"] is True


def test_rds_9_log_exports(primary):
    assert sorted(primary["EnabledCloudwatchLogsExports"]) == ["postgresql", "upgrade"]


def test_rds_6_enhanced_monitoring_through_the_layers_role(primary):
    assert primary["MonitoringInterval"] == 30
    role_name = primary["MonitoringRoleArn"].rsplit("/", 1)[1]
    assert role_name == f"{NAME}-rds-monitoring"
    iam = _client("iam")
    role = iam.get_role(RoleName=role_name)["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "monitoring.rds.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    attached = iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [
        "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
    ]
    assert iam.list_role_policies(RoleName=role_name)["PolicyNames"] == []


def test_rds_10_iam_authentication_and_minor_upgrades(primary):
    assert primary["IAMDatabaseAuthenticationEnabled"] is True
    assert primary["AutoMinorVersionUpgrade"] is True


def test_deletion_protection_follows_the_inventory(primary):
    # Off in the local inventory (and this scenario) so that destroy works; production is refused off.
    assert primary["DeletionProtection"] is False


def test_primary_is_tagged(primary):
    tags = _tags(primary["DBInstanceArn"])
    assert set(tags) >= REQUIRED_TAGS
    assert tags["Name"] == NAME


# --- Subnets and security groups ---------------------------------------------------------------


def test_subnet_group_spans_only_the_database_subnets(primary):
    group = primary["DBSubnetGroup"]
    assert group["DBSubnetGroupName"] == f"{NAME}-database"
    subnets = _client("ec2").describe_subnets(SubnetIds=[s["SubnetIdentifier"] for s in group["Subnets"]])[
        "Subnets"
    ]
    assert len(subnets) == 3
    assert {s["AvailabilityZone"] for s in subnets} == {"us-east-1a", "us-east-1b", "us-east-1c"}
    for subnet in subnets:
        assert {t["Key"]: t["Value"] for t in subnet["Tags"]}["Tier"] == "database"


def test_security_groups_never_admit_the_world(primary):
    ids = [g["VpcSecurityGroupId"] for g in primary["VpcSecurityGroups"]]
    groups = {
        g["GroupName"]: g for g in _client("ec2").describe_security_groups(GroupIds=ids)["SecurityGroups"]
    }
    assert set(groups) == {f"{NAME}-db", f"{NAME}-rds-clients"}
    for group in groups.values():
        for rule in group["IpPermissions"]:
            assert (rule["FromPort"], rule["ToPort"]) == (5432, 5432)
            cidrs = [r["CidrIp"] for r in rule.get("IpRanges", [])]
            assert "0.0.0.0/0" not in cidrs
            assert rule.get("Ipv6Ranges", []) == []
    (clients_rule,) = groups[f"{NAME}-rds-clients"]["IpPermissions"]
    assert [r["CidrIp"] for r in clients_rule["IpRanges"]] == ["10.200.0.0/24"]
    assert groups[f"{NAME}-rds-clients"]["IpPermissionsEgress"] == []


# --- Parameters --------------------------------------------------------------------------------


def test_parameter_group_values(primary):
    (membership,) = primary["DBParameterGroups"]
    assert membership["DBParameterGroupName"] == f"{NAME}-postgres17"
    rds = _client("rds")
    (group,) = rds.describe_db_parameter_groups(DBParameterGroupName=f"{NAME}-postgres17")[
        "DBParameterGroups"
    ]
    assert group["DBParameterGroupFamily"] == "postgres17"
    # The parameters set (Source=user); the others keep RDS's defaults for the family.
    parameters = rds.describe_db_parameters(DBParameterGroupName=f"{NAME}-postgres17", Source="user")[
        "Parameters"
    ]
    assert {p["ParameterName"]: p["ParameterValue"] for p in parameters} == PARAMETERS
    applied = {p["ParameterName"]: p["ApplyMethod"] for p in parameters}
    # Static parameters wait for the next reboot; dynamic ones apply at once.
    assert applied.pop("shared_preload_libraries") == "pending-reboot"
    assert set(applied.values()) == {"immediate"}
    assert set(_tags(group["DBParameterGroupArn"])) >= REQUIRED_TAGS


# --- Replica -------------------------------------------------------------------------------------


def test_the_replica_follows_the_primary(instances, rds_key_arn):
    assert set(instances) == {NAME, REPLICA}
    replica = instances[REPLICA]
    assert replica["ReadReplicaSourceDBInstanceIdentifier"] == NAME
    assert replica["StorageEncrypted"] is True
    assert replica["KmsKeyId"] == rds_key_arn
    assert replica["PubliclyAccessible"] is False
    assert replica["DBSubnetGroup"]["DBSubnetGroupName"] == f"{NAME}-database"
    assert replica["DBParameterGroups"][0]["DBParameterGroupName"] == f"{NAME}-postgres17"
    assert replica["MonitoringInterval"] == 30
    assert _tags(replica["DBInstanceArn"])["Name"] == REPLICA


# --- Secrets -------------------------------------------------------------------------------------


def test_connection_secret_points_at_the_primary_with_tls(primary, master, rds_key_arn):
    sm = _client("secretsmanager")
    described = sm.describe_secret(SecretId="gcrds/local/postgres/master")
    assert described["KmsKeyId"] == rds_key_arn
    value = json.loads(sm.get_secret_value(SecretId="gcrds/local/postgres/master")["SecretString"])
    assert value["host"] == primary["Endpoint"]["Address"]
    assert int(value["port"]) == 5432
    assert value["dbname"] == "giftcrypto"
    assert value["sslmode"] == "verify-full"
    assert (value["username"], value["password"]) == (master["username"], master["password"])
    assert primary["MasterUsername"] == master["username"]


def test_the_master_password_is_not_in_the_molecule_output(master):
    log = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "ansible.log"
    text = log.read_text()
    assert "Ensure the PostgreSQL 17 primary" in text  # the converge is in there
    assert len(master["password"]) >= 16
    assert master["password"] not in text


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
    rds = _client("rds")
    return (
        sorted(
            (i["DBInstanceIdentifier"], i["MultiAZ"], i["BackupRetentionPeriod"], i["PubliclyAccessible"])
            for i in rds.describe_db_instances()["DBInstances"]
        ),
        sorted(g["DBParameterGroupName"] for g in rds.describe_db_parameter_groups()["DBParameterGroups"]),
        sorted(g["GroupName"] for g in _client("ec2").describe_security_groups()["SecurityGroups"]),
    )


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        ({"aws_rds_publicly_accessible": True}, "aws_rds_publicly_accessible=True"),
        ({"aws_rds_backup_retention_days": 3}, "aws_rds_backup_retention_days=3: must be 7 to 35 days"),
        ({"aws_rds_environment": "production", "aws_rds_multi_az": False}, "a single-AZ database is refused"),
        (
            {
                "aws_rds_environment": "production",
                "aws_rds_deletion_protection": False,
                "aws_rds_skip_final_snapshot": False,
            },
            "aws_rds_deletion_protection=False",
        ),
        ({"aws_rds_instance_class": "db.x2g.16xlarge"}, "aws_rds_instance_class=db.x2g.16xlarge"),
        ({"aws_rds_replica_count": 6}, "aws_rds_replica_count=6: must be 0 to 5"),
        ({"aws_rds_engine_version": "15.4"}, "aws_rds_engine_version=15.4"),
        ({"aws_rds_allowed_cidrs": ["0.0.0.0/0"]}, "0.0.0.0/0 opens the port to the world"),
        ({"aws_rds_allowed_cidrs": ["8.8.8.0/24"]}, "8.8.8.0/24 is not a private range"),
        ({"aws_rds_extra_parameters": {"rds.force_ssl": 0}}, "rds.force_ssl must be 1"),
        (
            {"aws_rds_environment": "staging", "aws_rds_performance_insights_enabled": False},
            "only the local endpoint",
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
    assert "Find the security baseline's rds key" not in result.stdout
    assert _snapshot() == before


def test_plan_of_the_converged_layer_changes_nothing():
    result = _converge("--check", "--diff")
    assert result.returncode == 0, result.stdout[-3000:]
    assert _recap(result.stdout) == (0, 0)


def test_plan_reports_a_replica_and_changes_nothing():
    """A plan with a new parameter and a second replica: the replica is reported, nothing is made.

    amazon.aws.rds_instance_param_group (10.1.2) does not report a parameter it would change in
    check mode (it returns changed=false for parameters), on AWS as here: a plan does not show a
    parameter change (README, "What the stock modules and the local endpoint needed").
    """
    before = _snapshot()
    result = _converge(
        "--check",
        "--diff",
        "-e",
        json.dumps({"aws_rds_extra_parameters": {"work_mem": 65536}, "aws_rds_replica_count": 2}),
    )
    assert result.returncode == 0, result.stdout[-3000:]
    changed, _ = _recap(result.stdout)
    assert changed == 1
    assert f"{NAME}-replica-2" in result.stdout
    assert _snapshot() == before
    parameters = _client("rds").describe_db_parameters(
        DBParameterGroupName=f"{NAME}-postgres17", Source="user"
    )["Parameters"]
    assert "work_mem" not in {p["ParameterName"] for p in parameters}


def test_a_database_group_opened_to_the_world_is_refused():
    ec2 = _client("ec2")
    (group,) = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"{NAME}-db"]}])[
        "SecurityGroups"
    ]
    permission = {
        "IpProtocol": "tcp",
        "FromPort": 5432,
        "ToPort": 5432,
        "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
    }
    ec2.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[permission])
    try:
        before = _snapshot()
        result = _converge()
        assert result.returncode != 0
        output = " ".join((result.stdout + result.stderr).split())
        assert f"{NAME}-db ({group['GroupId']}) has ingress rules" in output
        assert _recap(result.stdout) == (0, 1)
        assert _snapshot() == before
    finally:
        ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[permission])


def test_without_the_earlier_layers_a_run_is_refused_before_any_change():
    before = _snapshot()
    result = _converge("-e", json.dumps({"platform_name": "gcnone"}))
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert "Not found: alias/gcnone-local-rds (an enabled KMS key, aws_security_baseline)" in output
    assert "the VPC gcnone-local (aws_network)" in output
    assert "the secret gcnone/local/rds/master (aws_security_baseline)" in output
    assert _recap(result.stdout) == (0, 1)
    assert _snapshot() == before


def test_without_the_earlier_layers_a_plan_lists_what_would_be_created():
    before = _snapshot()
    result = _converge("--check", "-e", json.dumps({"platform_name": "gcnone"}))
    assert result.returncode == 0, result.stdout[-3000:]
    # The monitoring role, the subnet group, the clients' group, the parameter group, the primary
    # and its replica; the connection secret waits for the primary's address.
    assert _recap(result.stdout) == (6, 0)
    assert "resources are planned against placeholders" in result.stdout
    assert _snapshot() == before
