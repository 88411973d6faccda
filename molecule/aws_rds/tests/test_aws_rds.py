"""What aws_rds built, read back from the scenario's AWS endpoint with boto3, and how the role behaves
on bad input and on a converged account (plan)."""

import pytest

NAME = "gcrds-local"
REPLICA = f"{NAME}-replica-1"
REQUIRED_TAGS = {"Project", "Environment", "ManagedBy", "CostCenter"}
PARAMETERS = {
    "rds.force_ssl": "1",
    "shared_preload_libraries": "pgaudit,pg_stat_statements",
    "pgaudit.log": "ddl,role",
    "pgaudit.log_parameter": "0",
    # Object audit logging of personal-data reads (issue 23): the only value RDS accepts.
    "pgaudit.role": "rds_pgaudit",
    "log_min_duration_statement": "1000",
    "log_connections": "1",
    "log_disconnections": "1",
}


@pytest.fixture(scope="module")
def rds_key_arn(kms_key):
    return kms_key(f"alias/{NAME}-rds")["Arn"]


@pytest.fixture(scope="module")
def instances(aws):
    found = aws("rds").describe_db_instances()["DBInstances"]
    return {i["DBInstanceIdentifier"]: i for i in found}


@pytest.fixture(scope="module")
def primary(instances):
    return instances[NAME]


@pytest.fixture(scope="module")
def master(primary, secret_json):
    """The master login RDS manages (the secret named by the primary's MasterUserSecret)."""
    return secret_json(primary["MasterUserSecret"]["SecretArn"])


@pytest.fixture(scope="module")
def rds_tags(aws, tags):
    """The tags of an RDS resource, as a dict."""
    return lambda arn: tags(aws("rds").list_tags_for_resource(ResourceName=arn)["TagList"])


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


def test_rds_6_enhanced_monitoring_through_the_layers_role(primary, aws, policy):
    assert primary["MonitoringInterval"] == 30
    role_name = primary["MonitoringRoleArn"].rsplit("/", 1)[1]
    assert role_name == f"{NAME}-rds-monitoring"
    iam = aws("iam")
    role = iam.get_role(RoleName=role_name)["Role"]
    trust = role["AssumeRolePolicyDocument"]
    (statement,) = policy(trust)["Statement"]
    assert statement["Principal"] == {"Service": "monitoring.rds.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    # Confused-deputy keys (ADR 0017): this account's instances of this database, replicas included.
    account, instance = primary["DBInstanceArn"].split(":")[4], primary["DBInstanceArn"]
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": account},
        "ArnLike": {"aws:SourceArn": [instance, f"{instance}-*"]},
    }
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


def test_primary_is_tagged(primary, rds_tags):
    primary_tags = rds_tags(primary["DBInstanceArn"])
    assert set(primary_tags) >= REQUIRED_TAGS
    assert primary_tags["Name"] == NAME


# --- Subnets and security groups ---------------------------------------------------------------


def test_subnet_group_spans_only_the_database_subnets(primary, aws, tags):
    group = primary["DBSubnetGroup"]
    assert group["DBSubnetGroupName"] == f"{NAME}-database"
    subnets = aws("ec2").describe_subnets(SubnetIds=[s["SubnetIdentifier"] for s in group["Subnets"]])[
        "Subnets"
    ]
    assert len(subnets) == 3
    assert {s["AvailabilityZone"] for s in subnets} == {"us-east-1a", "us-east-1b", "us-east-1c"}
    for subnet in subnets:
        assert tags(subnet)["Tier"] == "database"


def test_security_groups_never_admit_the_world(primary, aws):
    ids = [g["VpcSecurityGroupId"] for g in primary["VpcSecurityGroups"]]
    groups = {g["GroupName"]: g for g in aws("ec2").describe_security_groups(GroupIds=ids)["SecurityGroups"]}
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


def test_parameter_group_values(primary, aws, rds_tags):
    (membership,) = primary["DBParameterGroups"]
    assert membership["DBParameterGroupName"] == f"{NAME}-postgres17"
    rds = aws("rds")
    (group,) = rds.describe_db_parameter_groups(DBParameterGroupName=f"{NAME}-postgres17")[
        "DBParameterGroups"
    ]
    assert group["DBParameterGroupFamily"] == "postgres17"
    # Every listed parameter has its value, set by the role (Source=user) or already RDS's default for
    # the family (rds.force_ssl is 1 by default from PostgreSQL 15 on: the stock module leaves it).
    pages = rds.get_paginator("describe_db_parameters").paginate(DBParameterGroupName=f"{NAME}-postgres17")
    effective = {p["ParameterName"]: p for page in pages for p in page["Parameters"]}
    assert {name: effective[name].get("ParameterValue") for name in PARAMETERS} == PARAMETERS
    applied = {name: p["ApplyMethod"] for name, p in effective.items() if p.get("Source") == "user"}
    assert set(applied) <= set(PARAMETERS)
    # Static parameters wait for the next reboot; dynamic ones apply at once.
    assert applied.pop("shared_preload_libraries") == "pending-reboot"
    assert set(applied.values()) == {"immediate"}
    assert set(rds_tags(group["DBParameterGroupArn"])) >= REQUIRED_TAGS


# --- Replica -------------------------------------------------------------------------------------


def test_the_replica_follows_the_primary(instances, rds_key_arn, rds_tags):
    assert set(instances) == {NAME, REPLICA}
    replica = instances[REPLICA]
    assert replica["ReadReplicaSourceDBInstanceIdentifier"] == NAME
    assert replica["StorageEncrypted"] is True
    assert replica["KmsKeyId"] == rds_key_arn
    assert replica["PubliclyAccessible"] is False
    assert replica["DBSubnetGroup"]["DBSubnetGroupName"] == f"{NAME}-database"
    assert replica["DBParameterGroups"][0]["DBParameterGroupName"] == f"{NAME}-postgres17"
    assert replica["MonitoringInterval"] == 30
    assert rds_tags(replica["DBInstanceArn"])["Name"] == REPLICA


# --- Secrets -------------------------------------------------------------------------------------


def test_connection_secret_points_at_the_primary_with_tls(primary, master, rds_key_arn, aws, secret_json):
    sm = aws("secretsmanager")
    described = sm.describe_secret(SecretId="gcrds/local/postgres/master")
    assert described["KmsKeyId"] == rds_key_arn
    value = secret_json("gcrds/local/postgres/master")
    assert value["host"] == primary["Endpoint"]["Address"]
    assert int(value["port"]) == 5432
    assert value["dbname"] == "giftcrypto"
    assert value["sslmode"] == "verify-full"
    # No password: it rotates; the connection names the secret RDS keeps it in.
    assert "password" not in value
    assert value["password_secret_arn"] == primary["MasterUserSecret"]["SecretArn"]
    assert value["username"] == master["username"] == primary["MasterUsername"] == "giftcrypto_admin"


def test_rds_manages_and_rotates_the_master_password_with_the_rds_key(primary, rds_key_arn, aws):
    managed = primary["MasterUserSecret"]
    assert managed["KmsKeyId"] == rds_key_arn
    assert managed["SecretArn"].split(":")[6].startswith("rds!db-")
    described = aws("secretsmanager").describe_secret(SecretId=managed["SecretArn"])
    assert described["OwningService"] == "rds"
    assert described["RotationEnabled"] is True
    assert described["RotationRules"]["AutomaticallyAfterDays"] == 7


def test_the_legacy_master_secret_was_deleted_restorably(aws):
    # prepare made it as a deployment from before had it; the converge deleted it once RDS managed
    # the password, with the recovery window (it can still be restored).
    described = aws("secretsmanager").describe_secret(SecretId="gcrds/local/rds/master")
    assert described.get("DeletedDate") is not None


def test_the_master_password_is_not_in_the_molecule_output(master, ansible_log):
    text = ansible_log()
    assert "Ensure the PostgreSQL 17 primary" in text  # the converge is in there
    assert len(master["password"]) >= 16
    assert master["password"] not in text


# --- Runs of the converge playbook -------------------------------------------------------------


@pytest.fixture
def snapshot(aws):
    """What the layer manages, to compare before and after a run."""

    def take():
        rds = aws("rds")
        return (
            sorted(
                (i["DBInstanceIdentifier"], i["MultiAZ"], i["BackupRetentionPeriod"], i["PubliclyAccessible"])
                for i in rds.describe_db_instances()["DBInstances"]
            ),
            sorted(
                g["DBParameterGroupName"] for g in rds.describe_db_parameter_groups()["DBParameterGroups"]
            ),
            sorted(g["GroupName"] for g in aws("ec2").describe_security_groups()["SecurityGroups"]),
        )

    return take


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
        ({"aws_rds_extra_parameters": {"pgaudit.role": "auditor"}}, "pgaudit.role must be rds_pgaudit"),
        (
            {"aws_rds_environment": "staging", "aws_rds_performance_insights_enabled": False},
            "only the local endpoint",
        ),
    ],
)
def test_bad_input_is_refused_before_any_aws_call(
    extra_vars, message, converge, refused, snapshot, unchanged
):
    with unchanged(snapshot):
        refused(converge(extra_vars=extra_vars), message, not_reached="Find the security baseline's rds key")


def test_plan_of_the_converged_layer_changes_nothing(converge, planned):
    planned(converge("--check", "--diff"), 0)


def test_plan_reports_a_replica_and_changes_nothing(aws, converge, recap, snapshot):
    """A plan with a new parameter and a second replica: the replica is reported, nothing is made.

    amazon.aws.rds_instance_param_group (10.1.2) does not report a parameter it would change in
    check mode (it returns changed=false for parameters), on AWS as here: a plan does not show a
    parameter change (README, "What the stock modules and the local endpoint needed").
    """
    before = snapshot()
    result = converge(
        "--check",
        "--diff",
        extra_vars={"aws_rds_extra_parameters": {"work_mem": 65536}, "aws_rds_replica_count": 2},
    )
    assert result.returncode == 0, result.stdout[-3000:]
    changed, _ = recap(result.stdout)
    assert changed == 1
    assert f"{NAME}-replica-2" in result.stdout
    assert snapshot() == before
    parameters = aws("rds").describe_db_parameters(DBParameterGroupName=f"{NAME}-postgres17", Source="user")[
        "Parameters"
    ]
    assert "work_mem" not in {p["ParameterName"] for p in parameters}


def test_a_database_group_opened_to_the_world_is_refused(
    converge, opened_to_the_world, refused, snapshot, unchanged
):
    with opened_to_the_world(f"{NAME}-db", 5432) as group, unchanged(snapshot):
        refused(converge(), f"{NAME}-db ({group['GroupId']}) has ingress rules")


def test_without_the_earlier_layers_a_run_is_refused_before_any_change(
    converge, refused, snapshot, unchanged
):
    with unchanged(snapshot):
        output = refused(
            converge(extra_vars={"platform_name": "gcnone"}),
            "Not found: alias/gcnone-local-rds (an enabled KMS key, aws_security_baseline)",
        )
        assert "the VPC gcnone-local (aws_network)" in output


def test_without_the_earlier_layers_a_plan_lists_what_would_be_created(
    converge, planned, snapshot, unchanged
):
    with unchanged(snapshot):
        result = converge("--check", extra_vars={"platform_name": "gcnone"})
        # The monitoring role, the subnet group, the clients' group, the parameter group, the primary,
        # its replica and RDS's management of its password; the connection secret waits for the
        # primary's address.
        planned(result, 7)
        assert "resources are planned against placeholders" in result.stdout
