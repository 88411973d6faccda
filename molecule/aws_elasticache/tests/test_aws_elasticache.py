"""What aws_elasticache built, read back from the scenario's AWS endpoint with boto3, and how the
role behaves on bad input, on a converged account (plan) and without the earlier layers."""

import pathlib
import re
import sys

import pytest

NAME = "gcredis-local"
REQUIRED_TAGS = {"Project", "Environment", "ManagedBy", "CostCenter"}


@pytest.fixture(scope="module")
def elasticache_key_arn(kms_key):
    return kms_key(f"alias/{NAME}-elasticache")["Arn"]


@pytest.fixture(scope="module")
def group(aws):
    found = aws("elasticache").describe_replication_groups()["ReplicationGroups"]
    groups = {g["ReplicationGroupId"]: g for g in found}
    return groups[NAME]


@pytest.fixture(scope="module")
def auth_token(secret_json):
    return secret_json("gcredis/local/elasticache/auth-token")["auth_token"]


# --- The replication group ----------------------------------------------------------------------


def test_group_is_redis_on_the_inventorys_node_type(group):
    assert group["Status"] == "available"
    assert group["Engine"] == "redis"
    assert group["ClusterEnabled"] is False
    assert group["CacheNodeType"] == "cache.t4g.small"
    assert group["NodeGroups"][0]["PrimaryEndpoint"]["Port"] == 6379


def test_three_nodes_with_automatic_failover_across_zones(group):
    """The member names are what aws_observability's alarms watch (<id>-001 .. -00N)."""
    assert group["MemberClusters"] == [f"{NAME}-001", f"{NAME}-002", f"{NAME}-003"]
    assert group["AutomaticFailover"] == "enabled"
    assert group["MultiAZ"] == "enabled"


def test_encrypted_at_rest_with_the_elasticache_key_and_in_transit(group, elasticache_key_arn):
    assert group["AtRestEncryptionEnabled"] is True
    assert group["KmsKeyId"] == elasticache_key_arn
    assert group["TransitEncryptionEnabled"] is True


def test_auth_token_set(group):
    assert group["AuthTokenEnabled"] is True


def test_snapshots_kept_two_weeks_in_the_window(group):
    assert group["SnapshotRetentionLimit"] == 14
    assert group["SnapshotWindow"] == "02:00-03:00"
    assert group["AutoMinorVersionUpgrade"] is True


def test_group_is_tagged(group, aws, tags):
    group_tags = tags(aws("elasticache").list_tags_for_resource(ResourceName=group["ARN"])["TagList"])
    assert set(group_tags) >= REQUIRED_TAGS
    assert group_tags["Name"] == NAME


def test_subnet_group_spans_only_the_database_subnets(aws, tags):
    (subnet_group,) = aws("elasticache").describe_cache_subnet_groups(CacheSubnetGroupName=f"{NAME}-cache")[
        "CacheSubnetGroups"
    ]
    ids = [s["SubnetIdentifier"] for s in subnet_group["Subnets"]]
    subnets = aws("ec2").describe_subnets(SubnetIds=ids)["Subnets"]
    assert len(subnets) == 3
    assert {s["AvailabilityZone"] for s in subnets} == {"us-east-1a", "us-east-1b", "us-east-1c"}
    for subnet in subnets:
        assert tags(subnet)["Tier"] == "database"


def test_the_auth_token_is_not_in_the_molecule_output(auth_token, ansible_log):
    text = ansible_log()
    assert "Ensure the Redis 7 replication group" in text  # the converge is in there
    assert len(auth_token) >= 16
    assert auth_token not in text


def test_the_service_reads_the_connection_secret_in_the_shape_of_every_environment(
    group, auth_token, aws, secret_json
):
    """redis/app: the one shape redis_server writes locally, here with the primary endpoint and the AUTH
    token alone; parsed by the service's own reader (service/src/giftcrypto_api/credentials.py)."""
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "service" / "src"))
    from giftcrypto_api.credentials import redis_credentials

    name = "gcredis/local/redis/app"
    secret = secret_json(name)
    assert set(secret) == {"host", "port", "username", "password", "tls", "ca"}
    primary = group["NodeGroups"][0]["PrimaryEndpoint"]
    assert (secret["host"], secret["port"]) == (primary["Address"], primary["Port"])
    assert (secret["username"], secret["password"], secret["tls"], secret["ca"]) == ("", auth_token, True, "")
    credentials = redis_credentials(secret, name)
    assert (credentials.host, credentials.port, credentials.username) == (primary["Address"], 6379, "")
    assert credentials.password == auth_token
    described = aws("secretsmanager").describe_secret(SecretId=name)
    assert "KmsKeyId" not in described, "the AWS managed key: the app role reads it without a KMS grant"


# --- Runs of the converge playbook -------------------------------------------------------------


@pytest.fixture
def snapshot(aws):
    """What the layer manages, to compare before and after a run."""

    def take():
        elasticache = aws("elasticache")
        return (
            sorted(
                (
                    g["ReplicationGroupId"],
                    g["Status"],
                    g["CacheNodeType"],
                    len(g["MemberClusters"]),
                    g["SnapshotRetentionLimit"],
                    g["AtRestEncryptionEnabled"],
                    g["TransitEncryptionEnabled"],
                )
                for g in elasticache.describe_replication_groups()["ReplicationGroups"]
            ),
            sorted(
                g["CacheSubnetGroupName"]
                for g in elasticache.describe_cache_subnet_groups()["CacheSubnetGroups"]
            ),
            sorted(g["GroupName"] for g in aws("ec2").describe_security_groups()["SecurityGroups"]),
        )

    return take


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        ({"aws_elasticache_at_rest_encryption": False}, "aws_elasticache_at_rest_encryption=False"),
        ({"aws_elasticache_transit_encryption": False}, "aws_elasticache_transit_encryption=False"),
        ({"aws_elasticache_auth_enabled": False}, "aws_elasticache_auth_enabled=False"),
        (
            {
                "aws_elasticache_environment": "production",
                "aws_elasticache_automatic_failover": False,
                "aws_elasticache_multi_az": False,
                "aws_elasticache_skip_final_snapshot": False,
            },
            "production's cache needs automatic failover and Multi-AZ",
        ),
        ({"aws_elasticache_node_count": 1}, "at least 2 with failover or Multi-AZ"),
        (
            {"aws_elasticache_snapshot_retention_days": 5},
            "aws_elasticache_snapshot_retention_days=5 (7 to 35 days",
        ),
        (
            {"aws_elasticache_node_type": "cache.x2gd.16xlarge"},
            "aws_elasticache_node_type=cache.x2gd.16xlarge",
        ),
        ({"aws_elasticache_engine_version": "6.2"}, "aws_elasticache_engine_version=6.2"),
        ({"aws_elasticache_parameters": {"maxmemory-policy": "evict-all"}}, "maxmemory-policy must be set"),
        (
            {"aws_elasticache_environment": "staging", "aws_elasticache_parameter_group_enabled": False},
            "only the local endpoint, which does not implement cache parameter groups",
        ),
    ],
)
def test_bad_input_is_refused_before_any_aws_call(
    extra_vars, message, converge, refused, snapshot, unchanged
):
    with unchanged(snapshot):
        refused(
            converge(extra_vars=extra_vars),
            message,
            not_reached="Find the security baseline's elasticache key",
        )


def test_plan_of_the_converged_layer_changes_nothing(converge, planned):
    planned(converge("--check", "--diff"), 0)


def test_plan_reports_a_bigger_node_type_and_retention_without_applying_them(
    converge, planned, snapshot, unchanged
):
    with unchanged(snapshot):
        result = converge(
            "--check",
            "--diff",
            extra_vars={
                "aws_elasticache_node_type": "cache.t4g.medium",
                "aws_elasticache_snapshot_retention_days": 21,
            },
        )
        planned(result, 1)
        assert re.search(r"^\+.*cache_node_type\W+cache\.t4g\.medium", result.stdout, re.MULTILINE), (
            result.stdout[-3000:]
        )
        assert re.search(r"^\+.*snapshot_retention_limit\W+21", result.stdout, re.MULTILINE)


def test_a_node_type_change_is_applied_and_then_converged(aws, converge, planned, recap):
    try:
        planned(converge(extra_vars={"aws_elasticache_node_type": "cache.t4g.medium"}), 1)
        (group,) = aws("elasticache").describe_replication_groups(ReplicationGroupId=NAME)[
            "ReplicationGroups"
        ]
        assert group["CacheNodeType"] == "cache.t4g.medium"
    finally:
        assert recap(converge().stdout) == (1, 0)  # back to the inventory's type
    assert recap(converge().stdout) == (0, 0)


def test_a_cache_group_opened_to_the_world_is_refused(
    converge, opened_to_the_world, refused, snapshot, unchanged
):
    with opened_to_the_world(f"{NAME}-cache", 6379) as sg, unchanged(snapshot):
        refused(converge(), f"{NAME}-cache ({sg['GroupId']}) has ingress rules")


def test_without_the_earlier_layers_a_run_is_refused_before_any_change(
    converge, refused, snapshot, unchanged
):
    with unchanged(snapshot):
        output = refused(
            converge(extra_vars={"platform_name": "gcnone"}),
            "Not found: alias/gcnone-local-elasticache (an enabled KMS key, aws_security_baseline)",
        )
        assert "the VPC gcnone-local (aws_network)" in output
        assert "the secret gcnone/local/elasticache/auth-token (aws_security_baseline)" in output


def test_without_the_earlier_layers_a_plan_lists_what_would_be_created(
    converge, planned, snapshot, unchanged
):
    with unchanged(snapshot):
        result = converge("--check", extra_vars={"platform_name": "gcnone"})
        # The subnet group and the replication group (no parameter group locally).
        planned(result, 2)
        assert "resources are planned against placeholders" in result.stdout
