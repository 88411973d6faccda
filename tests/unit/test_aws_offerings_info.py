"""giftcrypto.platform.aws_offerings_info: what AWS offers, read-only, in the catalogue's shape.

moto answers DescribeInstanceTypeOfferings (from AWS's own data) and DescribeCluster; it lacks
DescribeClusterVersions, DescribeDBMajorEngineVersions, DescribeOrderableDBInstanceOptions for
PostgreSQL and DescribeCacheEngineVersions, which are answered here with the shapes of the AWS API
references (EKS API_DescribeClusterVersions, RDS API_DescribeDBMajorEngineVersions and
API_DescribeOrderableDBInstanceOptions, ElastiCache API_DescribeCacheEngineVersions).
"""

from __future__ import annotations

import datetime

import boto3
from ansible_collections.giftcrypto.platform.plugins.module_utils import aws_offerings
from ansible_collections.giftcrypto.platform.plugins.modules import aws_offerings_info
from moto import mock_aws

from tests.unit import moto_modules
from tests.unit.moto_modules import REGION

aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(aws_offerings_info)

UTC = datetime.UTC
CLUSTER_VERSIONS = {
    "clusterVersions": [
        {
            "clusterVersion": "1.36",
            "versionStatus": "STANDARD_SUPPORT",
            "endOfStandardSupportDate": datetime.datetime(2027, 8, 2, tzinfo=UTC),
            "endOfExtendedSupportDate": datetime.datetime(2028, 8, 2, tzinfo=UTC),
        },
        {
            "clusterVersion": "1.33",
            "versionStatus": "EXTENDED_SUPPORT",
            "endOfStandardSupportDate": datetime.datetime(2026, 7, 29, tzinfo=UTC),
            "endOfExtendedSupportDate": datetime.datetime(2027, 7, 29, tzinfo=UTC),
        },
    ]
}
MAJOR = {
    "DBMajorEngineVersions": [
        {
            "Engine": "postgres",
            "MajorEngineVersion": "17",
            "SupportedEngineLifecycles": [
                {
                    "LifecycleSupportName": "open-source-rds-standard-support",
                    "LifecycleSupportStartDate": datetime.datetime(2024, 11, 14, tzinfo=UTC),
                    "LifecycleSupportEndDate": datetime.datetime(2030, 2, 28, tzinfo=UTC),
                },
                {
                    "LifecycleSupportName": "open-source-rds-extended-support",
                    "LifecycleSupportStartDate": datetime.datetime(2030, 3, 1, tzinfo=UTC),
                    "LifecycleSupportEndDate": datetime.datetime(2033, 2, 28, tzinfo=UTC),
                },
            ],
        }
    ]
}


def _option(klass, storage, multi_az, zones):
    return {
        "Engine": "postgres",
        "EngineVersion": "17.10",
        "DBInstanceClass": klass,
        "StorageType": storage,
        "MultiAZCapable": multi_az,
        "AvailabilityZones": [{"Name": z} for z in zones],
    }


ORDERABLE = {
    "OrderableDBInstanceOptions": [
        _option("db.r6g.large", "gp3", True, ["us-east-1a", "us-east-1b"]),
        _option("db.r6g.large", "gp2", True, ["us-east-1c"]),
        _option("db.t3.micro", "gp2", False, ["us-east-1a"]),
    ]
}
CACHE = {
    "CacheEngineVersions": [
        {"Engine": "redis", "EngineVersion": "7.1.0", "CacheParameterGroupFamily": "redis7"},
        {"Engine": "redis", "EngineVersion": "6.2.6", "CacheParameterGroupFamily": "redis6.x"},
    ]
}


def _handlers(answers):
    return {name: (lambda _params, answer=answer: answer) for name, answer in answers.items()}


@mock_aws
def test_asks_every_question_and_answers_in_the_catalogues_shape(run_module):
    handlers = _handlers(
        {
            "DescribeClusterVersions": CLUSTER_VERSIONS,
            "DescribeDBMajorEngineVersions": MAJOR,
            "DescribeOrderableDBInstanceOptions": ORDERABLE,
            "DescribeCacheEngineVersions": CACHE,
        }
    )
    with moto_modules.fake_operations(handlers) as calls:
        result = run_module(
            {
                "eks_versions": True,
                "eks_cluster_name": "giftcrypto-staging",
                "rds_engine_version": "17.10",
                "cache_engine": "redis",
                "instance_types": ["t3.medium", "db.r6g.large", "cache.r7g.large"],
                "zones": ["us-east-1a", "us-east-1e"],
            },
            check_mode=True,
        )
    assert result["rc"] == 0, result
    assert result["changed"] is False
    offered = result["offered"]
    assert offered["source"] == f"AWS ({REGION})"
    assert offered["eks_versions"] == [
        {
            "version": "1.36",
            "status": "STANDARD_SUPPORT",
            "end_of_standard_support": "2027-08-02",
            "end_of_extended_support": "2028-08-02",
        },
        {
            "version": "1.33",
            "status": "EXTENDED_SUPPORT",
            "end_of_standard_support": "2026-07-29",
            "end_of_extended_support": "2027-07-29",
        },
    ]
    assert offered["eks_cluster_version"] is None  # no such cluster: not an error
    assert offered["rds_majors"] == {
        "17": {"end_of_standard_support": "2030-02-28", "end_of_extended_support": "2033-02-28"}
    }
    assert offered["rds_orderable"] == {
        "db.r6g.large": {
            "storage_types": ["gp2", "gp3"],
            "multi_az": True,
            "zones": ["us-east-1a", "us-east-1b", "us-east-1c"],
        },
        "db.t3.micro": {"storage_types": ["gp2"], "multi_az": False, "zones": ["us-east-1a"]},
    }
    assert offered["cache_versions"] == ["7.1.0", "7.1", "6.2.6", "6.2"]
    assert offered["cache_majors"] is None
    # moto carries AWS's offerings: us-east-1e (use1-az3) has none of the current generations.
    assert offered["instance_type_offerings"] == {
        "t3.medium": ["us-east-1a"],
        "r6g.large": ["us-east-1a"],
        "r7g.large": ["us-east-1a"],
    }
    asked = {name: params for name, params in calls}
    assert asked["DescribeDBMajorEngineVersions"] == {"Engine": "postgres", "MajorEngineVersion": "17"}
    assert asked["DescribeOrderableDBInstanceOptions"]["EngineVersion"] == "17.10"
    assert asked["DescribeCacheEngineVersions"]["Engine"] == "redis"


@mock_aws
def test_the_running_cluster_version_is_read(run_module):
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName="eks", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    boto3.client("eks", region_name=REGION).create_cluster(
        name="giftcrypto-staging", version="1.32", roleArn=role, resourcesVpcConfig={"subnetIds": [subnet]}
    )
    result = run_module({"eks_cluster_name": "giftcrypto-staging"})
    assert result["rc"] == 0, result
    assert result["offered"]["eks_cluster_version"] == "1.32"
    assert result["offered"]["eks_versions"] is None  # not asked
    assert result["offered"]["instance_type_offerings"] is None


@mock_aws
def test_nothing_asked_is_nothing_answered(run_module):
    result = run_module({})
    assert result["rc"] == 0, result
    assert {k for k, v in result["offered"].items() if v is not None} == {"source"}


@mock_aws
def test_an_aws_error_names_the_question(run_module):
    def denied(_params):
        import botocore.exceptions

        raise botocore.exceptions.ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}},
            "DescribeClusterVersions",
        )

    with moto_modules.fake_operations({"DescribeClusterVersions": denied}):
        result = run_module({"eks_versions": True})
    assert result["rc"] == 1
    assert "the EKS versions (DescribeClusterVersions)" in result["msg"]


@mock_aws
def test_instance_types_and_zones_go_together(run_module):
    result = run_module({"instance_types": ["t3.medium"]})
    assert result["rc"] == 1
    assert result["msg"] == (
        "Refused before asking AWS: zones: required with instance_types: "
        "the types are asked about in those zones"
    )
    result = run_module({"zones": ["us-east-1a"]})
    assert result["rc"] == 1
    assert result["problems"] == {
        "instance_types": "required with zones: the types asked about in those zones"
    }


@mock_aws
def test_each_bad_option_is_named_with_its_values_and_rule(run_module):
    result = run_module(
        {"rds_engine_version": "17.x", "zones": ["us-east-1a", "mars-1"], "instance_types": ["t3"]}
    )
    assert result["rc"] == 1
    assert result["problems"] == {
        "rds_engine_version": "must match ^[0-9]{1,3}(\\.[0-9]{1,3}){0,2}$, got '17.x'",
        "instance_types": "must match ^((db|cache)\\.)?[a-z][a-z0-9-]{0,15}\\.[a-z0-9]{1,15}$, got 't3'",
        "zones": "must match ^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}[a-z]$, got 'mars-1'",
    }


@mock_aws
def test_aws_answers_and_the_catalogue_are_judged_alike(run_module):
    """An answer of the module goes into offering_problems as the catalogue's does."""
    with moto_modules.fake_operations(_handlers({"DescribeClusterVersions": CLUSTER_VERSIONS})):
        offered = run_module({"eks_versions": True})["offered"]
    check = {"eks_version": {"variable": "aws_eks_kubernetes_version", "value": "1.33"}}
    (problem,) = aws_offerings.offering_problems(check, offered, "2026-12-06")
    assert problem.startswith("aws_eks_kubernetes_version=1.33: its standard support ended on 2026-07-29")
    assert "1.36 (until 2027-08-02)" in problem
    assert (
        aws_offerings.offering_problems(
            {**check, "eks_version": {**check["eks_version"], "value": "1.36"}}, offered
        )
        == []
    )
