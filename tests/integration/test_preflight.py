"""Bad inventories are refused by the preflight play, with a message naming the variable and the
rule, before any change: nothing is created and no later play starts."""

from __future__ import annotations

import json
import pathlib
import re
import shutil

import pytest
import yaml

from tests.integration.conftest import LOCAL_INVENTORY, ROOT, run_playbook

pytestmark = pytest.mark.integration


def _inventory(tmp_path, file: str, **changes):
    inventory = tmp_path / "inventory"
    shutil.copytree(LOCAL_INVENTORY, inventory)
    path = inventory / "group_vars" / "all" / file
    data = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_text(yaml.safe_dump(data))
    return inventory


def _snapshot(aws):
    ec2 = aws("ec2")
    return {
        "vpcs": sorted(v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]),
        "subnets": sorted(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]),
        "groups": sorted(g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]),
        "addresses": sorted(a["AllocationId"] for a in ec2.describe_addresses()["Addresses"]),
    }


def _refused_run(inventory, env=None, timeout=300):
    """site.yml on a bad inventory: the completed process, or the AssertionError run_playbook raised
    (a deprecation warning in the output), re-raised by the test of that inventory."""
    try:
        return run_playbook(inventory=inventory, env=env, timeout=timeout)
    except AssertionError as error:
        return error


def _assert_refused(aws, tmp_path, file, changes, message, layer_play, snapshot, runs=None):
    """site.yml on the inventory with `changes` in group_vars/all/<file>: refused by preflight with
    `message`, before the network's play and the layer's own play, with nothing changed.

    With `runs` (the `refusals` fixture), the run is the one made beforehand with every other bad
    inventory of this file, and "nothing changed" is checked against the snapshot taken before all
    of them started, once every one of them has ended."""
    if runs is None:
        before = snapshot(aws)
        result = _refused_run(_inventory(tmp_path, file, **changes))
        if isinstance(result, AssertionError):
            raise result
        output, recap = result.stdout + result.stderr, result.stdout
    else:
        before = runs["before"][snapshot.__name__]
        result, output, recap = runs["results"][_key(file, changes)]
        if isinstance(result, AssertionError):
            raise result
    assert result.returncode != 0
    assert message in " ".join(output.split()), output[-3000:]
    assert "PLAY [Preflight]" in result.stdout
    assert "PLAY [Network]" not in result.stdout
    assert f"PLAY [{layer_play}" not in result.stdout
    assert re.search(r"\bchanged=0\b", recap), recap
    assert snapshot(aws) == before


def _key(file: str, changes: dict) -> str:
    return file + json.dumps(changes, sort_keys=True, default=str)


def _hosts_inventory(tmp_path, cases: dict) -> pathlib.Path:
    """One inventory for many bad inventories: a host of the `controller` group per case (connected as
    inventories/local's localhost is), whose host variables are the case's changes. Host variables
    take precedence over group_vars/all, so each host sees the local inventory with its one change."""
    inventory = tmp_path / "inventory"
    shutil.copytree(LOCAL_INVENTORY, inventory)
    hosts = yaml.safe_load((inventory / "hosts.yml").read_text())
    localhost = hosts["all"]["children"]["controller"]["hosts"]["localhost"]
    hosts["all"]["children"]["controller"]["hosts"] = {
        host: {**localhost, **changes} for host, changes in cases.items()
    }
    (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    return inventory


def _per_host(stdout: str) -> tuple[dict[str, str], dict[str, str]]:
    """The failed results (their strings, as text) and the recap line of each host of a run whose
    result format is JSON (`fatal: [host]: FAILED! => {...}`, `failed: [host] (item=...) => {...}`)."""
    decoder = json.JSONDecoder()
    failures: dict[str, str] = {}
    failed = r"^(?:fatal: \[([^\]]+)\]: FAILED! => |failed: \[([^\]]+)\] \(item=[^\n]*?\) => )(?=\{)"
    for match in re.finditer(failed, stdout, re.M):
        result, _ = decoder.raw_decode(stdout, match.end())
        host = match.group(1) or match.group(2)
        failures[host] = " ".join([failures.get(host, ""), *_strings(result)]).strip()
    recaps = {m.group(1): m.group(0) for m in re.finditer(r"^(\S+)\s+: ok=.*$", stdout, re.M)}
    return failures, recaps


def _strings(value) -> list[str]:
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return [str(value)]


@pytest.fixture(scope="module")
def refusals(aws, tmp_path_factory):
    """Every bad inventory of this file through site.yml, after a snapshot of everything the layers
    would make. They change nothing and share nothing but the read-only checkout, so they run as one
    ansible-playbook of one host per bad inventory (_hosts_inventory): each host is refused on its own
    and drops out; a host that got past preflight would go on to the network's play, which the tests
    check never starts. A case that takes a variable out of group_vars runs on its own inventory."""
    cases = [
        *CASES.values(),
        *((file, changes, message) for file, table in LAYER_CASES for changes, message in table.values()),
    ]
    before = {snapshot.__name__: snapshot(aws) for snapshot in SNAPSHOTS}
    keys = {_key(file, changes): changes for file, changes, _ in cases}
    alone = {key for key, changes in keys.items() if any(value is None for value in changes.values())}
    hosts = {f"case{number:02d}": key for number, key in enumerate(sorted(set(keys) - alone))}
    inventory = _hosts_inventory(tmp_path_factory.mktemp("preflight"), {h: keys[k] for h, k in hosts.items()})
    together = _refused_run(inventory, env={"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}, timeout=1800)
    failures, recaps = ({}, {}) if isinstance(together, AssertionError) else _per_host(together.stdout)
    results = {key: (together, failures.get(host, ""), recaps.get(host, "")) for host, key in hosts.items()}
    for key in alone:
        file = next(file for file, changes, _ in cases if _key(file, changes) == key)
        result = _refused_run(_inventory(tmp_path_factory.mktemp("preflight"), file, **keys[key]))
        stdout = getattr(result, "stdout", "")
        results[key] = (result, stdout + getattr(result, "stderr", ""), stdout)
    return {"before": before, "results": results}


TAGS_WITHOUT_COST_CENTER = {"Project": "GiftCrypto", "Environment": "local", "ManagedBy": "ansible"}
OVERLAPPING = {
    "public": ["10.42.0.0/24", "10.42.1.0/24", "10.42.2.0/24"],
    "private": ["10.42.2.0/23", "10.42.4.0/24", "10.42.5.0/24"],
    "database": ["10.42.6.0/24", "10.42.7.0/24", "10.42.8.0/24"],
}

CASES = {
    "overlapping_tiers": (
        "network.yml",
        {"aws_network_subnet_cidrs": OVERLAPPING},
        "aws_network_subnet_cidrs.private[0]=10.42.2.0/23 overlaps aws_network_subnet_cidrs.public[2]",
    ),
    "two_zones": (
        "network.yml",
        {"aws_network_availability_zones": ["us-east-1a", "us-east-1b"]},
        "aws_network_availability_zones=['us-east-1a', 'us-east-1b']: at least 3 distinct availability zones",
    ),
    "slash_8_vpc": (
        "network.yml",
        {"aws_network_vpc_cidr": "10.0.0.0/8"},
        "aws_network_vpc_cidr=10.0.0.0/8: the VPC prefix must be between /16 and /20",
    ),
    "missing_tag": (
        "platform.yml",
        {"platform_tags": TAGS_WITHOUT_COST_CENTER},
        "platform_tags is missing CostCenter",
    ),
    "unknown_environment": (
        "platform.yml",
        {"platform_environment": "qa"},
        "platform_environment=qa: must be one of local, staging, production",
    ),
    "endpoint_not_loopback": (
        "platform.yml",
        {"aws_endpoint_url": "https://ec2.us-east-1.amazonaws.com"},
        "aws_endpoint_url=https://ec2.us-east-1.amazonaws.com: the local environment must point at",
    ),
    "wrong_type": (
        "network.yml",
        {"aws_network_nat_gateway_per_az": "sometimes"},
        "aws_network_nat_gateway_per_az",
    ),
    "missing_vpc_cidr": (
        "network.yml",
        {"aws_network_vpc_cidr": None},
        "missing required arguments: aws_network_vpc_cidr",
    ),
    # What only AWS knows, read from the dated catalogue locally (roles/preflight/files/aws_catalogue.yml).
    "zones_of_another_region": (
        "network.yml",
        {"aws_network_availability_zones": ["eu-west-1a", "eu-west-1b", "eu-west-1c"]},
        "aws_network_availability_zones: eu-west-1a, eu-west-1b, eu-west-1c are not zones of "
        "aws_region=us-east-1 "
        "(the catalogue roles/preflight/files/aws_catalogue.yml of 2026-12-06); its zones are us-east-1a,",
    ),
    "instance_type_not_offered_in_a_zone": (
        "network.yml",
        {"aws_network_availability_zones": ["us-east-1a", "us-east-1b", "us-east-1e"]},
        "aws_rds_instance_class=db.t3.micro: t3.micro is not offered in us-east-1e (the catalogue "
        "roles/preflight/files/aws_catalogue.yml of 2026-12-06); it is offered in us-east-1a, us-east-1b,",
    ),
    "flow_log_retention_under_policy": (
        "network.yml",
        {"aws_network_flow_logs_retention_days": 1},
        "aws_network_flow_logs_retention_days=1: VPC flow logs are audit-class logs, which the policy "
        "keeps a year",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_inventory_is_refused_before_any_change(case, refusals, aws):
    file, changes, message = CASES[case]
    _assert_refused(aws, None, file, changes, message, "Local AWS endpoint", _snapshot, refusals)


def _database_snapshot(aws):
    """The network's snapshot plus what the database layer would create."""
    rds = aws("rds")
    return {
        **_snapshot(aws),
        "db_instances": sorted(i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]),
        "db_parameter_groups": sorted(
            g["DBParameterGroupName"] for g in rds.describe_db_parameter_groups()["DBParameterGroups"]
        ),
        "db_subnet_groups": sorted(
            g["DBSubnetGroupName"] for g in rds.describe_db_subnet_groups()["DBSubnetGroups"]
        ),
        "roles": sorted(r["RoleName"] for r in aws("iam").list_roles()["Roles"]),
    }


# The database layer's refusals (roles/aws_rds/tasks/validate.yml, included by roles/preflight);
# aws_rds_environment stands in for a production inventory without the production approval.
DATABASE_CASES = {
    "rds_publicly_accessible": (
        {"aws_rds_publicly_accessible": True},
        "aws_rds_publicly_accessible=True: the database is never publicly accessible",
    ),
    "rds_backup_retention_under_7_days": (
        {"aws_rds_backup_retention_days": 5},
        "aws_rds_backup_retention_days=5: must be 7 to 35 days",
    ),
    "rds_single_az_in_production": (
        {
            "aws_rds_environment": "production",
            "aws_rds_multi_az": False,
            "aws_rds_skip_final_snapshot": False,
        },
        "aws_rds_environment=production with aws_rds_multi_az=False",
    ),
    "rds_deletion_protection_off_in_production": (
        {
            "aws_rds_environment": "production",
            "aws_rds_deletion_protection": False,
            "aws_rds_skip_final_snapshot": False,
        },
        "aws_rds_multi_az=True, aws_rds_deletion_protection=False",
    ),
    "rds_instance_class_not_allowed": (
        {"aws_rds_instance_class": "db.m5.24xlarge"},
        "aws_rds_instance_class=db.m5.24xlarge / aws_rds_replica_instance_class=db.m5.24xlarge: "
        "must be one of aws_rds_allowed_instance_classes",
    ),
    "rds_too_many_replicas": (
        {"aws_rds_replica_count": 9},
        "aws_rds_replica_count=9: must be 0 to 5 read replicas",
    ),
    "rds_engine_not_17": (
        {"aws_rds_engine_version": "16.4"},
        "aws_rds_engine_version=16.4 with aws_rds_parameter_group_family=postgres17",
    ),
    "rds_minor_rds_no_longer_creates": (
        {"aws_rds_engine_version": "17.4"},
        "aws_rds_engine_version=17.4: RDS creates no new instance on it since 2026-05-01 (the catalogue "
        "roles/preflight/files/aws_catalogue.yml of 2026-12-06); it creates 17.7, 17.8, 17.9, 17.10",
    ),
    "rds_port_open_to_the_world": (
        {"aws_rds_allowed_cidrs": ["10.8.0.0/16", "0.0.0.0/0"]},
        "aws_rds_allowed_cidrs: 0.0.0.0/0 opens the port to the world",
    ),
    "rds_monitoring_off": (
        {"aws_rds_monitoring_interval": 0},
        "aws_rds_monitoring_interval must be one of: 1, 5, 10, 15, 30, 60, got: 0",
    ),
}


@pytest.mark.parametrize("case", sorted(DATABASE_CASES))
def test_bad_database_inventory_is_refused_before_any_change(case, refusals, aws):
    changes, message = DATABASE_CASES[case]
    _assert_refused(aws, None, "rds.yml", changes, message, "Database (AWS)", _database_snapshot, refusals)


def _backup_snapshot(aws):
    """The network's snapshot plus what the backup layer would create (both regions)."""
    return {
        **_snapshot(aws),
        **{
            f"vaults_{region}": sorted(
                v["BackupVaultName"] for v in aws("backup", region).list_backup_vaults()["BackupVaultList"]
            )
            for region in ("us-east-1", "us-west-2")
        },
        "plans": sorted(p["BackupPlanName"] for p in aws("backup").list_backup_plans()["BackupPlansList"]),
        "dr_key_aliases": sorted(a["AliasName"] for a in aws("kms", "us-west-2").list_aliases()["Aliases"]),
        "roles": sorted(r["RoleName"] for r in aws("iam").list_roles()["Roles"]),
    }


# The backup layer's refusals (roles/aws_backup/tasks/validate.yml, included by roles/preflight);
# aws_backup_environment stands in for a production inventory without the production approval.
BACKUP_CASES = {
    "backup_dr_region_equal_to_primary": (
        {"aws_backup_dr_region": "us-east-1"},
        "aws_backup_dr_region=us-east-1: the DR region must differ from aws_region (us-east-1)",
    ),
    "backup_retention_under_policy": (
        {"aws_backup_retention_days": 14},
        "aws_backup_retention_days=14, aws_backup_dr_retention_days=30: the backup policy keeps every "
        "recovery point and its DR copy at least 30 days",
    ),
    "backup_schedule_not_daily": (
        {"aws_backup_schedule": "cron(0 5 ? * SUN *)"},
        "aws_backup_schedule=cron(0 5 ? * SUN *): the plan runs daily",
    ),
    "backup_selection_tag_missing": (
        {"aws_backup_selection_tag_key": ""},
        "resources are selected by one tag (for example Backup=daily)",
    ),
    "backup_aws_managed_key": (
        {"aws_backup_kms_key_alias": "alias/aws/backup"},
        "aws_backup_kms_key_alias=alias/aws/backup: the vaults are encrypted with a customer-managed key",
    ),
    "backup_dr_copy_off_in_production": (
        {"aws_backup_environment": "production", "aws_backup_dr_copy_enabled": False},
        "aws_backup_environment=production with aws_backup_dr_copy_enabled=False",
    ),
    "backup_selection_misses_the_database": (
        {
            "aws_backup_selection_enabled": True,
            "aws_rds_tags": {**TAGS_WITHOUT_COST_CENTER, "CostCenter": "platform-engineering"},
        },
        "aws_rds_tags has Backup=(none): the backup selection takes resources tagged Backup=daily",
    ),
}


@pytest.mark.parametrize("case", sorted(BACKUP_CASES))
def test_bad_backup_inventory_is_refused_before_any_change(case, refusals, aws):
    changes, message = BACKUP_CASES[case]
    _assert_refused(aws, None, "backup.yml", changes, message, "Backup (AWS)", _backup_snapshot, refusals)


def _cache_snapshot(aws):
    """The network's snapshot plus what the cache layer would create."""
    elasticache = aws("elasticache")
    return {
        **_snapshot(aws),
        "replication_groups": sorted(
            (g["ReplicationGroupId"], g["Status"])
            for g in elasticache.describe_replication_groups()["ReplicationGroups"]
        ),
        "cache_subnet_groups": sorted(
            g["CacheSubnetGroupName"] for g in elasticache.describe_cache_subnet_groups()["CacheSubnetGroups"]
        ),
    }


# The cache layer's refusals (roles/aws_elasticache/tasks/validate.yml, included by roles/preflight);
# aws_elasticache_environment stands in for a production inventory without the production approval.
CACHE_CASES = {
    "elasticache_at_rest_encryption_off": (
        {"aws_elasticache_at_rest_encryption": False},
        "aws_elasticache_at_rest_encryption=False, aws_elasticache_transit_encryption=True: the cache holds",
    ),
    "elasticache_transit_encryption_off": (
        {"aws_elasticache_transit_encryption": False},
        "aws_elasticache_at_rest_encryption=True, aws_elasticache_transit_encryption=False: the cache holds",
    ),
    "elasticache_auth_disabled": (
        {"aws_elasticache_auth_enabled": False},
        "aws_elasticache_auth_enabled=False: every client authenticates with the AUTH token",
    ),
    "elasticache_failover_off_in_production": (
        {
            "aws_elasticache_environment": "production",
            "aws_elasticache_automatic_failover": False,
            "aws_elasticache_multi_az": False,
            "aws_elasticache_skip_final_snapshot": False,
        },
        "aws_elasticache_environment=production with aws_elasticache_automatic_failover=False",
    ),
    "elasticache_single_node_in_production": (
        {
            "aws_elasticache_environment": "production",
            "aws_elasticache_node_count": 1,
            "aws_elasticache_automatic_failover": False,
            "aws_elasticache_multi_az": False,
            "aws_elasticache_skip_final_snapshot": False,
        },
        "aws_elasticache_node_count=1, aws_elasticache_skip_final_snapshot=False: production's cache needs",
    ),
    "elasticache_snapshot_retention_under_7_days": (
        {"aws_elasticache_snapshot_retention_days": 3},
        "aws_elasticache_snapshot_retention_days=3 (7 to 35 days",
    ),
    "elasticache_node_type_not_allowed": (
        {"aws_elasticache_node_type": "cache.r6g.16xlarge"},
        "aws_elasticache_node_type=cache.r6g.16xlarge: must be one of aws_elasticache_allowed_node_types",
    ),
    "elasticache_engine_not_7": (
        {"aws_elasticache_engine_version": "6.2"},
        "aws_elasticache_engine_version=6.2 with aws_elasticache_parameter_group_family=redis7",
    ),
}


@pytest.mark.parametrize("case", sorted(CACHE_CASES))
def test_bad_cache_inventory_is_refused_before_any_change(case, refusals, aws):
    changes, message = CACHE_CASES[case]
    _assert_refused(aws, None, "elasticache.yml", changes, message, "Cache (AWS)", _cache_snapshot, refusals)


def _compute_snapshot(aws):
    """The network's snapshot plus what the compute layer would create."""
    eks = aws("eks")
    clusters = sorted(eks.list_clusters()["clusters"])
    return {
        **_snapshot(aws),
        "clusters": [
            (
                name,
                eks.describe_cluster(name=name)["cluster"]["resourcesVpcConfig"].get("endpointPublicAccess"),
            )
            for name in clusters
        ],
        "node_groups": {
            name: sorted(eks.list_nodegroups(clusterName=name)["nodegroups"]) for name in clusters
        },
        "repositories": sorted(
            r["repositoryName"] for r in aws("ecr").describe_repositories()["repositories"]
        ),
    }


GENERAL = {"name": "general", "instance_type": "t3.medium", "min_size": 2, "desired_size": 2, "max_size": 4}

# The compute layer's refusals (roles/aws_eks/tasks/validate.yml, included by roles/preflight);
# aws_eks_environment stands in for a production inventory without the production approval.
COMPUTE_CASES = {
    "eks_public_endpoint_in_production": (
        {
            "aws_eks_environment": "production",
            "aws_eks_endpoint_public_access": True,
            "aws_eks_public_access_cidrs": ["198.51.100.0/24"],
            "aws_eks_cluster_log_retention_days": 365,
            "aws_eks_ecr_force_delete": False,
        },
        "aws_eks_endpoint_public_access=true with aws_eks_environment=production",
    ),
    "eks_public_endpoint_open_to_the_world": (
        {
            "aws_eks_endpoint_public_access": True,
            "aws_eks_public_access_cidrs": ["198.51.100.0/24", "0.0.0.0/0"],
        },
        "aws_eks_public_access_cidrs=['198.51.100.0/24', '0.0.0.0/0']: "
        "0.0.0.0/0 opens the API endpoint to the world",
    ),
    "eks_node_group_sizes_inconsistent": (
        {"aws_eks_node_groups": [{**GENERAL, "min_size": 3, "desired_size": 5, "max_size": 4}]},
        "aws_eks_node_groups: general: min_size=3, desired_size=5, max_size=4 must satisfy",
    ),
    "eks_instance_type_not_allowed": (
        {"aws_eks_node_groups": [{**GENERAL, "instance_type": "p4d.24xlarge"}]},
        "general: instance_type=p4d.24xlarge is not one of aws_eks_allowed_instance_types",
    ),
    "eks_audit_log_missing": (
        {"aws_eks_cluster_log_types": ["api", "authenticator"]},
        "aws_eks_cluster_log_types=['api', 'authenticator'] must include api, audit, authenticator "
        "(missing: audit)",
    ),
    "eks_kubernetes_version_not_supported": (
        {"aws_eks_kubernetes_version": "1.23"},
        "aws_eks_kubernetes_version=1.23: must be one of aws_eks_supported_versions",
    ),
    # Even when the inventory's own list accepts it: the catalogue says EKS no longer creates it.
    "eks_kubernetes_version_past_its_support": (
        {"aws_eks_kubernetes_version": "1.31", "aws_eks_supported_versions": ["1.31"]},
        "aws_eks_kubernetes_version=1.31: EKS creates no cluster on it (its extended support ended on "
        "2026-11-26;",
    ),
    "eks_kubernetes_version_in_extended_support": (
        {"aws_eks_kubernetes_version": "1.34", "aws_eks_supported_versions": ["1.34"]},
        "aws_eks_kubernetes_version=1.34: its standard support ended on 2026-12-02 (billed extended "
        "support until "
        "2027-12-02,",
    ),
    "eks_control_plane_logs_kept_under_a_year": (
        {"aws_eks_cluster_log_retention_days": 90},
        "aws_eks_cluster_log_retention_days=90 must be a CloudWatch retention value of 365 days or more",
    ),
}


@pytest.mark.parametrize("case", sorted(COMPUTE_CASES))
def test_bad_compute_inventory_is_refused_before_any_change(case, refusals, aws):
    changes, message = COMPUTE_CASES[case]
    _assert_refused(aws, None, "eks.yml", changes, message, "Compute (AWS)", _compute_snapshot, refusals)


def _edge_snapshot(aws):
    """The network's snapshot plus what the edge layer would create."""
    return {
        **_snapshot(aws),
        "buckets": sorted(b["Name"] for b in aws("s3").list_buckets()["Buckets"]),
        "load_balancers": sorted(
            lb["LoadBalancerName"] for lb in aws("elbv2").describe_load_balancers()["LoadBalancers"]
        ),
        "web_acls": sorted(a["Name"] for a in aws("wafv2").list_web_acls(Scope="REGIONAL")["WebACLs"]),
        "distributions": sorted(
            d["Id"] for d in aws("cloudfront").list_distributions()["DistributionList"].get("Items") or []
        ),
        "certificates": sorted(
            c["CertificateArn"] for c in aws("acm").list_certificates()["CertificateSummaryList"]
        ),
    }


def _edge_buckets(purpose: str, **changes) -> dict:
    """The role's default buckets with one bucket's settings changed."""
    defaults = ROOT / "roles" / "aws_edge" / "defaults" / "main.yml"
    buckets = yaml.safe_load(defaults.read_text())["aws_edge_buckets"]
    buckets[purpose] = {**buckets[purpose], **changes}
    return buckets


# The edge layer's refusals (roles/aws_edge/tasks/validate.yml, included by roles/preflight);
# aws_edge_environment stands in for a staging inventory.
EDGE_CASES = {
    "edge_http_listener_not_redirecting": (
        {"aws_edge_http_listener_action": "forward"},
        "aws_edge_http_listener_action=forward, aws_edge_drop_invalid_header_fields=True: port 80 only "
        "redirects to HTTPS (HTTP_301, FSBP ELB.1)",
    ),
    "edge_tls_policy_not_allowed": (
        {"aws_edge_ssl_policy": "ELBSecurityPolicy-2016-08"},
        "aws_edge_ssl_policy=ELBSecurityPolicy-2016-08: the HTTPS listener",
    ),
    "edge_bucket_without_encryption": (
        {"aws_edge_buckets": _edge_buckets("backups", sse_algorithm="none")},
        "aws_edge_buckets: backups: sse_algorithm=none - every bucket is encrypted (aws:kms)",
    ),
    "edge_bucket_without_versioning": (
        {"aws_edge_buckets": _edge_buckets("assets", versioning=False)},
        "aws_edge_buckets: assets must be versioned (versioning: true, FSBP S3.14)",
    ),
    "edge_waf_rate_limit_out_of_range": (
        {"aws_edge_waf_rate_limit": 50},
        "aws_edge_waf_rate_limit=50 (100 to 20000 requests per 5 minutes and IP)",
    ),
    "edge_cloudfront_protocol_below_tls12_2021": (
        {"aws_edge_cloudfront_minimum_protocol_version": "TLSv1.1_2016"},
        "aws_edge_cloudfront_minimum_protocol_version=TLSv1.1_2016 (TLSv1.2_2021, TLSv1.2_2025 or "
        "TLSv1.3_2025: nothing older)",
    ),
    "edge_self_signed_certificate_outside_local": (
        {"aws_edge_environment": "staging"},
        "aws_edge_certificate_source=self_signed with aws_edge_environment=staging",
    ),
}


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_bad_edge_inventory_is_refused_before_any_change(case, refusals, aws):
    changes, message = EDGE_CASES[case]
    _assert_refused(aws, None, "edge.yml", changes, message, "Edge (AWS)", _edge_snapshot, refusals)


def _security_snapshot(aws):
    """The network's snapshot plus what the security baseline would create."""
    return {
        **_snapshot(aws),
        "keys": sorted(k["KeyId"] for k in aws("kms").list_keys()["Keys"]),
        "roles": sorted(r["RoleName"] for r in aws("iam").list_roles()["Roles"]),
        "trails": sorted(t["Name"] for t in aws("cloudtrail").describe_trails()["trailList"]),
        "secrets": sorted(x["Name"] for x in aws("secretsmanager").list_secrets()["SecretList"]),
    }


# The security baseline's refusals (roles/aws_security_baseline/tasks/validate.yml), now in preflight:
# before, a KMS deletion window of 3 days was refused only after the network layer had run.
SECURITY_CASES = {
    "kms_deletion_window_under_policy": (
        {"aws_security_baseline_kms_deletion_window_days": 3},
        "aws_security_baseline_kms_deletion_window_days=3 and "
        "aws_security_baseline_secret_recovery_window_days=30: "
        "each must be 7 to 30 days",
    ),
    "trail_retention_under_policy": (
        {"aws_security_baseline_cloudtrail_log_retention_days": 90},
        "aws_security_baseline_cloudtrail_log_retention_days=90: the trail is an audit-class log, which "
        "the policy "
        "keeps a year",
    ),
    "ci_subject_with_wildcards": (
        {"aws_security_baseline_ci_subjects": ["repo:giftcrypto/*:ref:refs/heads/main"]},
        "each subject must name one repository and a ref or environment",
    ),
}


@pytest.mark.parametrize("case", sorted(SECURITY_CASES))
def test_bad_security_inventory_is_refused_before_any_change(case, refusals, aws):
    changes, message = SECURITY_CASES[case]
    _assert_refused(
        aws,
        None,
        "security_baseline.yml",
        changes,
        message,
        "Security baseline",
        _security_snapshot,
        refusals,
    )


# The billing refusals (roles/aws_observability/tasks/validate.yml, included by roles/preflight);
# aws_observability_environment stands in for a production inventory without the production approval,
# with the critical subscription production needs anyway.
ONCALL = [{"protocol": "email", "endpoint": "oncall@giftcrypto.example"}]
OBSERVABILITY_CASES = {
    "budget_missing_in_production": (
        {
            "aws_observability_environment": "production",
            "aws_observability_sns_subscriptions": {"critical": ONCALL, "warning": ONCALL},
            "aws_observability_budget": {},
        },
        "aws_observability_budget={} with aws_observability_environment=production: production must have a "
        "monthly cost budget",
    ),
    "budget_not_above_zero": (
        {"aws_observability_budget": {"limit_usd": 0}},
        "aws_observability_budget.limit_usd=0: the monthly limit of a budget must be a number greater than 0",
    ),
    "budget_alerts_reaching_nobody_in_production": (
        {
            "aws_observability_environment": "production",
            "aws_observability_sns_subscriptions": {"critical": ONCALL, "warning": []},
            "aws_observability_budget": {"limit_usd": 500},
        },
        "aws_observability_budget.alert_topic=warning with no subscription in "
        "aws_observability_sns_subscriptions.warning and aws_observability_environment=production: "
        "the budget's alerts must reach someone",
    ),
}


def _observability_snapshot(aws):
    """The network's snapshot plus the budgets and the alarms the observability layer would make."""
    budgets = aws("budgets").describe_budgets(AccountId=aws("sts").get_caller_identity()["Account"])
    return {
        **_snapshot(aws),
        "budgets": sorted(b["BudgetName"] for b in budgets.get("Budgets", [])),
        "alarms": sorted(a["AlarmName"] for a in aws("cloudwatch").describe_alarms()["MetricAlarms"]),
    }


@pytest.mark.parametrize("case", sorted(OBSERVABILITY_CASES))
def test_bad_billing_inventory_is_refused_before_any_change(case, refusals, aws):
    changes, message = OBSERVABILITY_CASES[case]
    _assert_refused(
        aws,
        None,
        "observability.yml",
        changes,
        message,
        "Observability",
        _observability_snapshot,
        refusals,
    )


# The feature flag refusals (roles/aws_appconfig/tasks/validate.yml, included by roles/preflight): a
# document AppConfig would refuse (its AWS.AppConfig.FeatureFlags schema, the constraints it declares)
# and a gated flag without its percentage attribute, refused before any change.
FLAG_DEFINITION = {
    "name": "Stats from the read replica",
    "attributes": {
        "percentage": {"constraints": {"type": "number", "required": True, "minimum": 0, "maximum": 100}}
    },
}
FEATURE_FLAG_CASES = {
    "flag_percentage_above_its_maximum": (
        {
            "aws_appconfig_flags": {
                "version": "1",
                "flags": {"stats_replica_reads": FLAG_DEFINITION},
                "values": {"stats_replica_reads": {"enabled": True, "percentage": 150}},
            }
        },
        "['values']['stats_replica_reads']['percentage']: 150 is above the maximum 100",
    ),
    "flag_document_of_another_version": (
        {
            "aws_appconfig_flags": {
                "version": "2",
                "flags": {"stats_replica_reads": FLAG_DEFINITION},
                "values": {"stats_replica_reads": {"enabled": True, "percentage": 10}},
            }
        },
        "['version']: '2' is not one of ['1']",
    ),
    "gated_flag_without_its_percentage": (
        {
            "aws_appconfig_flags": {
                "version": "1",
                "flags": {"stats_replica_reads": {"name": "Stats from the read replica"}},
                "values": {"stats_replica_reads": {"enabled": True}},
            }
        },
        "['flags']['stats_replica_reads']['attributes']: 'percentage' must be constrained",
    ),
}


def _feature_flag_snapshot(aws):
    """The network's snapshot plus the AppConfig applications the feature flag layer would make."""
    return {
        **_snapshot(aws),
        "applications": sorted(a["Name"] for a in aws("appconfig").list_applications()["Items"]),
    }


@pytest.mark.parametrize("case", sorted(FEATURE_FLAG_CASES))
def test_bad_feature_flag_document_is_refused_before_any_change(case, refusals, aws):
    changes, message = FEATURE_FLAG_CASES[case]
    _assert_refused(
        aws,
        None,
        "feature_flags.yml",
        changes,
        message,
        "Feature flags (AWS)",
        _feature_flag_snapshot,
        refusals,
    )


# The bad inventories of each layer (group_vars file, cases) and the snapshots of what the layers
# would make: the `refusals` fixture runs them all before the tests read their results.
LAYER_CASES = (
    ("rds.yml", DATABASE_CASES),
    ("backup.yml", BACKUP_CASES),
    ("elasticache.yml", CACHE_CASES),
    ("eks.yml", COMPUTE_CASES),
    ("edge.yml", EDGE_CASES),
    ("security_baseline.yml", SECURITY_CASES),
    ("observability.yml", OBSERVABILITY_CASES),
    ("feature_flags.yml", FEATURE_FLAG_CASES),
)
SNAPSHOTS = (
    _snapshot,
    _database_snapshot,
    _backup_snapshot,
    _cache_snapshot,
    _compute_snapshot,
    _edge_snapshot,
    _security_snapshot,
    _observability_snapshot,
    _feature_flag_snapshot,
)
