"""The fidelity layer of the local AWS endpoint (roles/local_aws_endpoint/files/): each fix, against
the launcher the role starts, run here as the role runs it (a process serving moto's WSGI app on a
loopback port), through boto3. Each test asserts the answer the AWS API reference documents (cited
above it), where moto 5.2 answers otherwise; test_every_fix_is_tested_and_documented keeps the list
of fixes, these tests and the table in docs/local-aws-endpoint.md together.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import socket
import subprocess
import sys
import urllib.request

import boto3
import botocore.config
import botocore.exceptions
import pytest

from tests import local_endpoint

ROOT = pathlib.Path(__file__).resolve().parents[2]
FILES = ROOT / "roles" / "local_aws_endpoint" / "files"
LAUNCHER = FILES / "aws_endpoint.py"
DOCS = ROOT / "docs" / "local-aws-endpoint.md"
ACCOUNT = "123456789012"  # moto's account
# The self-signed certificate each launcher made for its TLS side, by the launcher's URL.
TLS_CERTIFICATE: dict[str, str] = {}
REGION = "us-east-1"


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 -- http on loopback only
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    """The launcher on a free loopback port, as the role starts it (same Python, same arguments)."""
    state = tmp_path_factory.mktemp("endpoint")
    port = _free_port()
    process, _ = local_endpoint.start(port, state)
    url = f"http://127.0.0.1:{port}"
    try:
        TLS_CERTIFICATE[url] = str(state / "tls.pem")
        yield url
    finally:
        local_endpoint.stop(process)


@pytest.fixture
def aws(endpoint):
    """A boto3 client factory against the endpoint, whose state is reset before each test."""
    reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310 -- loopback
    with urllib.request.urlopen(reset, timeout=10):  # noqa: S310 -- http on loopback only
        pass

    def client(service: str, region: str = REGION, *, tls: bool = False, credentials: dict | None = None):
        """A client over plain HTTP, or over TLS (the same port) trusting the endpoint's certificate;
        with ``credentials`` (an AssumeRole answer's), as that session."""
        keys = {
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",  # pragma: allowlist secret
        }
        if credentials:
            keys = {
                "aws_access_key_id": credentials["AccessKeyId"],
                "aws_secret_access_key": credentials["SecretAccessKey"],
                "aws_session_token": credentials["SessionToken"],
            }
        return boto3.client(
            service,
            endpoint_url=endpoint.replace("http://", "https://") if tls else endpoint,
            region_name=region,
            verify=TLS_CERTIFICATE[endpoint] if tls else None,
            config=botocore.config.Config(retries={"max_attempts": 1}),
            **keys,
        )

    return client


def _error(call, **kwargs) -> botocore.exceptions.ClientError:
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        call(**kwargs)
    return raised.value


def _subnets(aws, count: int = 2) -> tuple[str, list[str]]:
    ec2 = aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=f"{REGION}{'abc'[i]}")[
            "Subnet"
        ]["SubnetId"]
        for i in range(count)
    ]
    return vpc, subnets


# --- the launcher ------------------------------------------------------------------------------


def test_launcher_lists_its_fixes_on_the_command_line_and_over_http(endpoint):
    listed = subprocess.run(
        [sys.executable, str(LAUNCHER), "--list-fixes"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    status, body = _get(f"{endpoint}/_giftcrypto/fidelity")
    about = json.loads(body)
    assert status == 200
    assert about["moto"].startswith("5.2.")
    assert [f"{fix['service']}\t{fix['name']}" for fix in about["fixes"]] == [
        line.rsplit("\t", 1)[0] for line in listed
    ]


def test_moto_api_and_other_services_still_answer(endpoint, aws):
    # What the layer leaves alone answers as moto does (the role's Molecule scenario checks STS,
    # EC2 and IAM too).
    assert _get(f"{endpoint}/moto-api/")[0] == 200
    assert aws("sts").get_caller_identity()["Account"] == ACCOUNT


# --- backup ------------------------------------------------------------------------------------


# https://docs.aws.amazon.com/aws-backup/latest/devguide/API_DescribeBackupVault.html, and AWS's
# answer for a missing vault: 403 AccessDeniedException (https://github.com/aws/aws-sdk-js/issues/2625)
def test_backup_describe_missing_vault_is_access_denied(aws):
    backup = aws("backup")
    error = _error(backup.describe_backup_vault, BackupVaultName="missing")
    assert error.response["Error"]["Code"] == "AccessDeniedException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    backup.create_backup_vault(BackupVaultName="present")
    assert backup.describe_backup_vault(BackupVaultName="present")["BackupVaultName"] == "present"


# https://docs.aws.amazon.com/aws-backup/latest/devguide/API_UpdateBackupPlan.html (a new VersionId),
# API_CreateBackupPlan.html, API_DeleteBackupPlan.html ("Related backup plan selections must be
# deleted prior to backup plan deletion"), API_CreateBackupSelection.html, API_GetBackupSelection.html,
# API_ListBackupSelections.html, API_DeleteBackupSelection.html
def test_backup_plan_updates_and_selections(aws):
    backup = aws("backup")
    rule = {"RuleName": "daily", "TargetBackupVaultName": "vault", "ScheduleExpression": "cron(0 5 ? * * *)"}
    plan = backup.create_backup_plan(BackupPlan={"BackupPlanName": "plan", "Rules": [rule]})
    updated = backup.update_backup_plan(
        BackupPlanId=plan["BackupPlanId"],
        BackupPlan={"BackupPlanName": "plan", "Rules": [{**rule, "Lifecycle": {"DeleteAfterDays": 30}}]},
    )
    assert updated["BackupPlanId"] == plan["BackupPlanId"]
    assert updated["VersionId"] != plan["VersionId"]
    read = backup.get_backup_plan(BackupPlanId=plan["BackupPlanId"])
    assert read["VersionId"] == updated["VersionId"]
    assert read["BackupPlan"]["Rules"][0]["Lifecycle"] == {"DeleteAfterDays": 30}

    role = f"arn:aws:iam::{ACCOUNT}:role/backup"
    tags = [{"ConditionType": "STRINGEQUALS", "ConditionKey": "Backup", "ConditionValue": "daily"}]
    made = backup.create_backup_selection(
        BackupPlanId=plan["BackupPlanId"],
        BackupSelection={"SelectionName": "by-tag", "IamRoleArn": role, "ListOfTags": tags},
    )
    (listed,) = backup.list_backup_selections(BackupPlanId=plan["BackupPlanId"])["BackupSelectionsList"]
    assert (listed["SelectionId"], listed["SelectionName"], listed["IamRoleArn"]) == (
        made["SelectionId"],
        "by-tag",
        role,
    )
    selection = backup.get_backup_selection(
        BackupPlanId=plan["BackupPlanId"], SelectionId=made["SelectionId"]
    )
    assert selection["BackupSelection"]["ListOfTags"] == tags
    assert selection["BackupSelection"]["Conditions"] == {
        "StringEquals": [],
        "StringLike": [],
        "StringNotEquals": [],
        "StringNotLike": [],
    }
    error = _error(backup.delete_backup_plan, BackupPlanId=plan["BackupPlanId"])
    assert error.response["Error"]["Code"] == "InvalidRequestException"
    backup.delete_backup_selection(BackupPlanId=plan["BackupPlanId"], SelectionId=made["SelectionId"])
    assert backup.list_backup_selections(BackupPlanId=plan["BackupPlanId"])["BackupSelectionsList"] == []
    backup.delete_backup_plan(BackupPlanId=plan["BackupPlanId"])
    # A deleted plan's name can be used again.
    again = backup.create_backup_plan(BackupPlan={"BackupPlanName": "plan", "Rules": [rule]})
    assert again["BackupPlanId"] != plan["BackupPlanId"]


# --- cloudfront --------------------------------------------------------------------------------


# https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_DefaultCacheBehavior.html
# (TrustedSigners/TrustedKeyGroups: Quantity 0 and no Items when empty; CachePolicyId and
# RealtimeLogConfigArn optional, given only when set)
def test_cloudfront_cache_behavior_leaves_out_unset_members(aws):
    cloudfront = aws("cloudfront")
    config = {
        "CallerReference": "fidelity",
        "Comment": "fidelity",
        "Enabled": True,
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": "assets",
                    "DomainName": "assets.s3.us-east-1.amazonaws.com",
                    "S3OriginConfig": {"OriginAccessIdentity": ""},
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": "assets",
            "ViewerProtocolPolicy": "redirect-to-https",
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
            "MinTTL": 0,
        },
    }
    created = cloudfront.create_distribution(DistributionConfig=config)["Distribution"]
    read = cloudfront.get_distribution_config(Id=created["Id"])
    behavior = read["DistributionConfig"]["DefaultCacheBehavior"]
    assert behavior["TrustedSigners"] == {"Enabled": False, "Quantity": 0}
    assert behavior["TrustedKeyGroups"] == {"Enabled": False, "Quantity": 0}
    assert "CachePolicyId" not in behavior
    assert "RealtimeLogConfigArn" not in behavior
    # The same after an update.
    cloudfront.update_distribution(Id=created["Id"], IfMatch=read["ETag"], DistributionConfig=config)
    behavior = cloudfront.get_distribution_config(Id=created["Id"])["DistributionConfig"][
        "DefaultCacheBehavior"
    ]
    assert behavior["TrustedSigners"] == {"Enabled": False, "Quantity": 0}
    assert "CachePolicyId" not in behavior


# --- config ------------------------------------------------------------------------------------


# https://docs.aws.amazon.com/config/latest/APIReference/API_DescribeConfigRules.html
# (NoSuchConfigRuleException for a name that is not a rule) and
# https://docs.aws.amazon.com/config/latest/APIReference/API_ConfigRule.html (EvaluationModes:
# "By default, the value is Detective evaluation mode only.")
def test_config_rule_evaluation_modes_and_missing_names(aws):
    config = aws("config")
    error = _error(config.describe_config_rules, ConfigRuleNames=["not-a-rule"])
    assert error.response["Error"]["Code"] == "NoSuchConfigRuleException"
    source = {"Owner": "AWS", "SourceIdentifier": "CLOUD_TRAIL_ENABLED"}
    config.put_config_rule(ConfigRule={"ConfigRuleName": "trail", "Source": source})
    (rule,) = config.describe_config_rules(ConfigRuleNames=["trail"])["ConfigRules"]
    assert rule["EvaluationModes"] == [{"Mode": "DETECTIVE"}]
    config.put_config_rule(
        ConfigRule={"ConfigRuleName": "trail", "Source": source, "EvaluationModes": [{"Mode": "PROACTIVE"}]}
    )
    (rule,) = config.describe_config_rules(ConfigRuleNames=["trail"])["ConfigRules"]
    assert rule["EvaluationModes"] == [{"Mode": "PROACTIVE"}]
    error = _error(config.describe_config_rules, ConfigRuleNames=["trail", "not-a-rule"])
    assert error.response["Error"]["Code"] == "NoSuchConfigRuleException"


# --- ec2 ---------------------------------------------------------------------------------------


# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeTags.html (resource-type values:
# natgateway, elastic-ip, ...) and API_TagDescription.html
def test_ec2_describe_tags_speaks_aws_resource_types(aws):
    ec2 = aws("ec2")
    _, (subnet, _) = _subnets(aws)
    address = ec2.allocate_address(
        Domain="vpc",
        TagSpecifications=[{"ResourceType": "elastic-ip", "Tags": [{"Key": "Name", "Value": "e"}]}],
    )["AllocationId"]
    gateway = ec2.create_nat_gateway(
        SubnetId=subnet,
        AllocationId=address,
        TagSpecifications=[{"ResourceType": "natgateway", "Tags": [{"Key": "Name", "Value": "n"}]}],
    )["NatGateway"]["NatGatewayId"]
    by_type = ec2.describe_tags(
        Filters=[
            {"Name": "resource-id", "Values": [gateway]},
            {"Name": "resource-type", "Values": ["natgateway"]},
        ]
    )["Tags"]
    assert by_type == [{"Key": "Name", "ResourceId": gateway, "ResourceType": "natgateway", "Value": "n"}]
    (eip_tag,) = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [address]}])["Tags"]
    assert eip_tag["ResourceType"] == "elastic-ip"


# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateLaunchTemplate.html
# (TagSpecifications: "To tag the launch template, the resource type must be launch-template";
# they tag the template, not the instances it launches)
def test_ec2_launch_template_tags_stay_out_of_its_data(aws):
    ec2 = aws("ec2")
    data = {"InstanceType": "t3.medium", "MetadataOptions": {"HttpTokens": "required"}}
    ec2.create_launch_template(
        LaunchTemplateName="nodes",
        LaunchTemplateData=data,
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": [{"Key": "Name", "Value": "nodes"}]}],
    )
    (version,) = ec2.describe_launch_template_versions(LaunchTemplateName="nodes")["LaunchTemplateVersions"]
    assert "TagSpecifications" not in version["LaunchTemplateData"]
    assert version["LaunchTemplateData"]["InstanceType"] == "t3.medium"
    (template,) = ec2.describe_launch_templates(LaunchTemplateNames=["nodes"])["LaunchTemplates"]
    assert template["Tags"] == [{"Key": "Name", "Value": "nodes"}]


# --- eks ---------------------------------------------------------------------------------------

NODE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/nodes"


def _cluster(aws, version: str = "1.33") -> list[str]:
    _, subnets = _subnets(aws)
    aws("eks").create_cluster(
        name="fidelity",
        version=version,
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/cluster",
        resourcesVpcConfig={"subnetIds": subnets},
    )
    return subnets


# https://docs.aws.amazon.com/eks/latest/APIReference/API_Nodegroup.html (updateConfig, version,
# amiType; diskSize null with a launch template),
# https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateNodegroup.html, and the default AMI
# from 1.30 on: https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions-standard.html
@pytest.mark.parametrize(("version", "ami"), [("1.33", "AL2023_x86_64_STANDARD"), ("1.29", "AL2_x86_64")])
def test_eks_nodegroup_update_config_version_and_default_ami(aws, version, ami):
    subnets = _cluster(aws, version)
    eks = aws("eks")
    eks.create_nodegroup(clusterName="fidelity", nodegroupName="plain", nodeRole=NODE_ROLE, subnets=subnets)
    group = eks.describe_nodegroup(clusterName="fidelity", nodegroupName="plain")["nodegroup"]
    assert group["updateConfig"] == {"maxUnavailable": 1}
    assert (group["version"], group["amiType"]) == (version, ami)
    eks.create_nodegroup(
        clusterName="fidelity",
        nodegroupName="asked",
        nodeRole=NODE_ROLE,
        subnets=subnets,
        updateConfig={"maxUnavailablePercentage": 25},
        amiType="BOTTLEROCKET_x86_64",
    )
    group = eks.describe_nodegroup(clusterName="fidelity", nodegroupName="asked")["nodegroup"]
    assert group["updateConfig"] == {"maxUnavailablePercentage": 25}
    assert group["amiType"] == "BOTTLEROCKET_x86_64"


def test_eks_nodegroup_on_a_launch_template_has_no_disk_size_nor_instance_types(aws):
    subnets = _cluster(aws)
    aws("ec2").create_launch_template(
        LaunchTemplateName="nodes", LaunchTemplateData={"InstanceType": "t3.large"}
    )
    eks = aws("eks")
    eks.create_nodegroup(
        clusterName="fidelity",
        nodegroupName="templated",
        nodeRole=NODE_ROLE,
        subnets=subnets,
        launchTemplate={"name": "nodes", "version": "1"},
    )
    group = eks.describe_nodegroup(clusterName="fidelity", nodegroupName="templated")["nodegroup"]
    assert "diskSize" not in group
    assert "instanceTypes" not in group
    assert group["launchTemplate"]["name"] == "nodes"
    assert group["amiType"] == "AL2023_x86_64_STANDARD"


# https://docs.aws.amazon.com/eks/latest/APIReference/API_TagResource.html ("Amazon EKS clusters and
# managed node groups") and API_ListTagsForResource.html
def test_eks_nodegroup_tags(aws):
    subnets = _cluster(aws)
    eks = aws("eks")
    arn = eks.create_nodegroup(
        clusterName="fidelity", nodegroupName="tagged", nodeRole=NODE_ROLE, subnets=subnets, tags={"a": "1"}
    )["nodegroup"]["nodegroupArn"]
    assert eks.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "1"}
    eks.tag_resource(resourceArn=arn, tags={"b": "2"})
    eks.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert eks.list_tags_for_resource(resourceArn=arn)["tags"] == {"b": "2"}
    cluster = eks.describe_cluster(name="fidelity")["cluster"]["arn"]
    eks.tag_resource(resourceArn=cluster, tags={"c": "3"})
    assert eks.list_tags_for_resource(resourceArn=cluster)["tags"] == {"c": "3"}


# https://docs.aws.amazon.com/eks/latest/APIReference/API_UpdateNodegroupVersion.html
def test_eks_update_nodegroup_version_moves_the_launch_template_version(aws):
    subnets = _cluster(aws)
    ec2 = aws("ec2")
    ec2.create_launch_template(LaunchTemplateName="nodes", LaunchTemplateData={"InstanceType": "t3.large"})
    ec2.create_launch_template_version(
        LaunchTemplateName="nodes", LaunchTemplateData={"InstanceType": "t3.xlarge"}
    )
    eks = aws("eks")
    eks.create_nodegroup(
        clusterName="fidelity",
        nodegroupName="rolling",
        nodeRole=NODE_ROLE,
        subnets=subnets,
        launchTemplate={"name": "nodes", "version": "1"},
    )
    update = eks.update_nodegroup_version(
        clusterName="fidelity", nodegroupName="rolling", launchTemplate={"name": "nodes", "version": "2"}
    )["update"]
    assert update["type"] == "VersionUpdate"
    group = eks.describe_nodegroup(clusterName="fidelity", nodegroupName="rolling")["nodegroup"]
    assert group["launchTemplate"]["version"] == "2"
    assert group["launchTemplate"]["name"] == "nodes"


# https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateAddon.html,
# https://docs.aws.amazon.com/eks/latest/APIReference/API_DescribeAddon.html,
# https://docs.aws.amazon.com/eks/latest/APIReference/API_UpdateAddon.html,
# https://docs.aws.amazon.com/eks/latest/APIReference/API_DeleteAddon.html,
# https://docs.aws.amazon.com/eks/latest/APIReference/API_ListAddons.html,
# https://docs.aws.amazon.com/eks/latest/APIReference/API_DescribeAddonVersions.html,
# https://docs.aws.amazon.com/eks/latest/APIReference/API_Addon.html (an add-on's fields),
# https://docs.aws.amazon.com/eks/latest/APIReference/API_TagResource.html (add-ons are taggable)
def test_eks_addons_their_versions_configuration_and_tags(aws):
    _cluster(aws, "1.36")
    eks = aws("eks")
    (info,) = eks.describe_addon_versions(kubernetesVersion="1.36", addonName="vpc-cni")["addons"]
    assert info["addonName"] == "vpc-cni" and info["type"] == "networking"
    defaults = [
        v["addonVersion"]
        for v in info["addonVersions"]
        if any(c["clusterVersion"] == "1.36" and c["defaultVersion"] for c in v["compatibilities"])
    ]
    assert len(defaults) == 1, info
    assert eks.describe_addon_versions(kubernetesVersion="1.36", addonName="no-such-addon")["addons"] == []

    # No version asked: EKS's default for the cluster's version; the answer says CREATING.
    created = eks.create_addon(
        clusterName="fidelity",
        addonName="vpc-cni",
        configurationValues='{"enableNetworkPolicy": "true"}',
        resolveConflicts="OVERWRITE",
        tags={"a": "1"},
    )["addon"]
    assert created["status"] == "CREATING"
    assert created["addonArn"].startswith(f"arn:aws:eks:{REGION}:{ACCOUNT}:addon/fidelity/vpc-cni/")
    addon = eks.describe_addon(clusterName="fidelity", addonName="vpc-cni")["addon"]
    assert addon["status"] == "ACTIVE" and addon["addonVersion"] == defaults[0]
    assert json.loads(addon["configurationValues"]) == {"enableNetworkPolicy": "true"}
    assert addon["tags"] == {"a": "1"} and addon["health"] == {"issues": []}
    assert eks.list_addons(clusterName="fidelity")["addons"] == ["vpc-cni"]
    assert (
        _error(eks.create_addon, clusterName="fidelity", addonName="vpc-cni").response["Error"]["Code"]
        == "ResourceInUseException"
    )

    # Another version of the catalogue, another configuration; a version or configuration EKS
    # would refuse is refused.
    newest = next(v["addonVersion"] for v in info["addonVersions"] if v["addonVersion"] != defaults[0])
    update = eks.update_addon(
        clusterName="fidelity",
        addonName="vpc-cni",
        addonVersion=newest,
        configurationValues='{"enableNetworkPolicy": "false"}',
    )["update"]
    assert update["type"] == "AddonUpdate"
    assert {p["type"] for p in update["params"]} == {"AddonVersion", "ConfigurationValues"}
    addon = eks.describe_addon(clusterName="fidelity", addonName="vpc-cni")["addon"]
    assert addon["addonVersion"] == newest
    assert json.loads(addon["configurationValues"]) == {"enableNetworkPolicy": "false"}
    for bad in ({"addonVersion": "v0.0.1-eksbuild.1"}, {"configurationValues": "[1]"}):
        error = _error(eks.update_addon, clusterName="fidelity", addonName="vpc-cni", **bad)
        assert error.response["Error"]["Code"] == "InvalidParameterException", bad

    eks.tag_resource(resourceArn=addon["addonArn"], tags={"b": "2"})
    eks.untag_resource(resourceArn=addon["addonArn"], tagKeys=["a"])
    assert eks.list_tags_for_resource(resourceArn=addon["addonArn"])["tags"] == {"b": "2"}

    assert eks.delete_addon(clusterName="fidelity", addonName="vpc-cni")["addon"]["status"] == "DELETING"
    error = _error(eks.describe_addon, clusterName="fidelity", addonName="vpc-cni")
    assert error.response["Error"]["Code"] == "ResourceNotFoundException"
    error = _error(eks.describe_addon, clusterName="no-such-cluster", addonName="vpc-cni")
    assert error.response["Error"]["Code"] == "ResourceNotFoundException"
    # A deleted cluster takes its add-ons with it (DeleteCluster needs no DeleteAddon first).
    eks.create_addon(clusterName="fidelity", addonName="vpc-cni")
    eks.delete_cluster(name="fidelity")
    _cluster(aws, "1.36")
    assert eks.list_addons(clusterName="fidelity")["addons"] == []


# --- elasticache -------------------------------------------------------------------------------


def _auth_tokens(endpoint: str, group_id: str) -> list[str]:
    """The tokens the endpoint's group accepts (moto's /moto-api/data.json: the backend's objects;
    no ElastiCache answer holds a token)."""
    status, body = _get(f"{endpoint}/moto-api/data.json")
    assert status == 200
    groups = [
        group
        for group in json.loads(body)["elasticache"]["ReplicationGroup"]
        if group["replication_group_id"] == group_id
    ]
    return groups[-1]["auth_tokens"]


# https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_ModifyReplicationGroup.html
# (AuthToken: 16-128 printable ASCII, none of / " @ %; AuthTokenUpdateStrategy ROTATE, the default,
# SET "allowed only after ROTATE", DELETE "allowed only when transitioning to RBAC";
# InvalidParameterCombination, InvalidParameterValue, InvalidReplicationGroupState),
# https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth.html (AUTH needs in-transit encryption;
# ROTATE: old and new token accepted, SET: only the new one)
def test_elasticache_auth_token_update_strategy(endpoint, aws):
    elasticache = aws("elasticache")
    old, new = "old-token-0123456789abcdef", "new-token-0123456789abcdef"  # pragma: allowlist secret
    elasticache.create_replication_group(
        ReplicationGroupId="cache",
        ReplicationGroupDescription="d",
        Engine="redis",
        CacheNodeType="cache.t4g.micro",
        TransitEncryptionEnabled=True,
        AuthToken=old,
    )
    elasticache.create_replication_group(
        ReplicationGroupId="plain", ReplicationGroupDescription="d", Engine="redis"
    )
    created = elasticache.describe_replication_groups(ReplicationGroupId="cache")["ReplicationGroups"][0]
    assert created["AuthTokenEnabled"] is True and _auth_tokens(endpoint, "cache") == [old]

    def refused(**kwargs) -> str:
        error = _error(elasticache.modify_replication_group, ReplicationGroupId="cache", **kwargs)
        assert old not in str(error.response) and new not in str(error.response)
        return error.response["Error"]["Code"]

    # Invalid combinations and tokens change nothing.
    assert refused(AuthToken=new, AuthTokenUpdateStrategy="SET", ApplyImmediately=True) == (
        "InvalidParameterCombination"
    ), "SET only after ROTATE"
    assert refused(AuthTokenUpdateStrategy="DELETE", ApplyImmediately=True) == "InvalidParameterCombination"
    assert refused(AuthTokenUpdateStrategy="ROTATE", ApplyImmediately=True) == "InvalidParameterValue"
    assert refused(AuthToken="short", AuthTokenUpdateStrategy="ROTATE") == "InvalidParameterValue"
    assert refused(AuthToken="with/slash-0123456789abc", AuthTokenUpdateStrategy="ROTATE") == (
        "InvalidParameterValue"
    )
    error = _error(
        elasticache.modify_replication_group,
        ReplicationGroupId="plain",
        AuthToken=new,
        AuthTokenUpdateStrategy="ROTATE",
        ApplyImmediately=True,
    )
    assert error.response["Error"]["Code"] == "InvalidParameterCombination", "AUTH needs TLS"
    assert _auth_tokens(endpoint, "cache") == [old]

    # ROTATE: the group is modifying, then accepts both tokens; no answer holds a token.
    answer = elasticache.modify_replication_group(
        ReplicationGroupId="cache", AuthToken=new, AuthTokenUpdateStrategy="ROTATE", ApplyImmediately=True
    )
    assert answer["ReplicationGroup"]["Status"] == "modifying"
    assert answer["ReplicationGroup"]["PendingModifiedValues"]["AuthTokenStatus"] == "ROTATING"
    assert old not in json.dumps(answer, default=str) and new not in json.dumps(answer, default=str)
    assert refused(AuthToken=new, AuthTokenUpdateStrategy="SET", ApplyImmediately=True) == (
        "InvalidReplicationGroupState"
    ), "one modification at a time"
    elasticache.get_waiter("replication_group_available").wait(
        ReplicationGroupId="cache", WaiterConfig={"Delay": 1, "MaxAttempts": 5}
    )
    rotated = elasticache.describe_replication_groups(ReplicationGroupId="cache")["ReplicationGroups"][0]
    assert rotated["Status"] == "available" and rotated["AuthTokenEnabled"] is True
    assert rotated["AuthTokenLastModifiedDate"] > created["AuthTokenLastModifiedDate"]
    assert _auth_tokens(endpoint, "cache") == [old, new]
    # ROTATE again to a token already valid changes nothing; a third token is refused.
    elasticache.modify_replication_group(
        ReplicationGroupId="cache", AuthToken=new, AuthTokenUpdateStrategy="ROTATE", ApplyImmediately=True
    )
    elasticache.describe_replication_groups(ReplicationGroupId="cache")
    assert _auth_tokens(endpoint, "cache") == [old, new]
    third = "third-token-0123456789abcdef"  # pragma: allowlist secret
    assert refused(AuthToken=third, AuthTokenUpdateStrategy="ROTATE", ApplyImmediately=True) == (
        "InvalidParameterCombination"
    )

    # SET: only the given token.
    answer = elasticache.modify_replication_group(
        ReplicationGroupId="cache", AuthToken=new, AuthTokenUpdateStrategy="SET", ApplyImmediately=True
    )
    assert answer["ReplicationGroup"]["PendingModifiedValues"]["AuthTokenStatus"] == "SETTING"
    elasticache.describe_replication_groups(ReplicationGroupId="cache")
    assert _auth_tokens(endpoint, "cache") == [new]

    # Without ApplyImmediately the change waits for the maintenance window.
    elasticache.modify_replication_group(
        ReplicationGroupId="cache", AuthToken=third, AuthTokenUpdateStrategy="ROTATE"
    )
    pending = elasticache.describe_replication_groups(ReplicationGroupId="cache")["ReplicationGroups"][0]
    assert pending["Status"] == "available"
    assert pending["PendingModifiedValues"]["AuthTokenStatus"] == "ROTATING"
    assert _auth_tokens(endpoint, "cache") == [new]

    # DELETE with RBAC's user groups removes AUTH.
    elasticache.modify_replication_group(
        ReplicationGroupId="cache",
        AuthTokenUpdateStrategy="DELETE",
        UserGroupIdsToAdd=["rbac"],
        ApplyImmediately=True,
    )
    deleted = elasticache.describe_replication_groups(ReplicationGroupId="cache")["ReplicationGroups"][0]
    assert deleted["AuthTokenEnabled"] is False and _auth_tokens(endpoint, "cache") == []


# --- elbv2 -------------------------------------------------------------------------------------


# https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_LoadBalancerAttribute.html
def test_elbv2_application_load_balancer_gives_every_attribute(aws):
    _, subnets = _subnets(aws)
    elbv2 = aws("elbv2")
    arn = elbv2.create_load_balancer(Name="web", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    found = elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
    attributes = {a["Key"]: a["Value"] for a in found}
    assert attributes["access_logs.s3.enabled"] == "false"
    assert attributes["idle_timeout.timeout_seconds"] == "60"
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "false"
    assert attributes["routing.http2.enabled"] == "true"
    assert attributes["routing.http.desync_mitigation_mode"] == "defensive"
    assert attributes["load_balancing.cross_zone.enabled"] == "true"
    assert attributes["ipv6.deny_all_igw_traffic"] == "false"
    elbv2.modify_load_balancer_attributes(
        LoadBalancerArn=arn, Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": "120"}]
    )
    found = elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
    assert {a["Key"]: a["Value"] for a in found}["idle_timeout.timeout_seconds"] == "120"


# --- rds ---------------------------------------------------------------------------------------


# https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DescribeDBParameterGroups.html
# (DBParameterGroupNotFound), API_DescribeDBParameters.html (the group's parameters, Source filter)
# and API_Parameter.html (DataType, ApplyType, IsModifiable, AllowedValues)
def test_rds_parameter_groups_and_parameters(aws):
    rds = aws("rds")
    error = _error(rds.describe_db_parameter_groups, DBParameterGroupName="missing")
    assert error.response["Error"]["Code"] == "DBParameterGroupNotFound"
    rds.create_db_parameter_group(
        DBParameterGroupName="pg", DBParameterGroupFamily="postgres14", Description="d"
    )
    parameters = {
        p["ParameterName"]: p for p in rds.describe_db_parameters(DBParameterGroupName="pg")["Parameters"]
    }
    force_ssl = parameters["rds.force_ssl"]
    assert (force_ssl["DataType"], force_ssl["ApplyType"], force_ssl["Source"]) == (
        "boolean",
        "dynamic",
        "engine-default",
    )
    assert (force_ssl["ParameterValue"], force_ssl["AllowedValues"], force_ssl["IsModifiable"]) == (
        "0",
        "0,1",
        True,
    )
    assert parameters["shared_preload_libraries"]["ApplyType"] == "static"
    assert parameters["log_min_duration_statement"]["DataType"] == "integer"
    # Appendix.PostgreSQL.CommonDBATasks.pgaudit.reference.html: pgaudit.role (object audit logging)
    # is unset in a new group and accepts only rds_pgaudit.
    audit_role = parameters["pgaudit.role"]
    assert (audit_role["DataType"], audit_role["ApplyType"], audit_role["AllowedValues"]) == (
        "string",
        "dynamic",
        "rds_pgaudit",
    )
    assert "ParameterValue" not in audit_role
    rds.modify_db_parameter_group(
        DBParameterGroupName="pg",
        Parameters=[{"ParameterName": "rds.force_ssl", "ParameterValue": "1", "ApplyMethod": "immediate"}],
    )
    (user,) = rds.describe_db_parameters(DBParameterGroupName="pg", Source="user")["Parameters"]
    assert (user["ParameterName"], user["ParameterValue"], user["Source"]) == ("rds.force_ssl", "1", "user")
    assert user["DataType"] == "boolean"
    rds.create_db_parameter_group(
        DBParameterGroupName="pg16", DBParameterGroupFamily="postgres16", Description="d"
    )
    parameters = rds.describe_db_parameters(DBParameterGroupName="pg16")["Parameters"]
    assert {p["ParameterName"]: p.get("ParameterValue") for p in parameters}["rds.force_ssl"] == "1"
    error = _error(rds.describe_db_parameters, DBParameterGroupName="missing")
    assert error.response["Error"]["Code"] == "DBParameterGroupNotFound"


# --- wafv2 -------------------------------------------------------------------------------------


# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-secrets-manager.html (RDS creates the
# secret with the master user name and a generated password, and turns rotation on, every 7 days),
# https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBInstance.html
# (ManageMasterUserPassword, MasterUserSecretKmsKeyId; MasterUserSecret in the answer),
# https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html (RotateImmediately
# false: the schedule only; a rotation: a new AWSCURRENT version, the old one AWSPREVIOUS)
def test_rds_managed_master_user_secret_as_rds_makes_and_rotates_it(aws):
    rds, secrets, kms = aws("rds"), aws("secretsmanager"), aws("kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    rds.create_db_instance(
        DBInstanceIdentifier="managed",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        MasterUsername="giftcrypto_admin",
        MasterUserPassword="initial-password-1",  # pragma: allowlist secret
        AllocatedStorage=20,
    )
    answer = rds.modify_db_instance(
        DBInstanceIdentifier="managed",
        ManageMasterUserPassword=True,
        MasterUserSecretKmsKeyId=key,
        ApplyImmediately=True,
    )["DBInstance"]
    arn = answer["MasterUserSecret"]["SecretArn"]
    assert arn.split(":")[6].startswith("rds!db-")
    described = secrets.describe_secret(SecretId=arn)
    assert described["OwningService"] == "rds"
    assert described["RotationEnabled"] is True
    assert described["RotationRules"]["AutomaticallyAfterDays"] == 7
    value = json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"])
    assert value["username"] == "giftcrypto_admin"
    assert len(value["password"]) >= 16 and value["password"] != "P@55w0rd!"  # pragma: allowlist secret

    # A new schedule without a rotation: the same value, the new rule.
    secrets.rotate_secret(SecretId=arn, RotationRules={"AutomaticallyAfterDays": 30}, RotateImmediately=False)
    assert secrets.describe_secret(SecretId=arn)["RotationRules"]["AutomaticallyAfterDays"] == 30
    assert json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"]) == value

    # A rotation: a new password, the same user; the old value is AWSPREVIOUS.
    secrets.rotate_secret(SecretId=arn)
    rotated = json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"])
    assert rotated["username"] == "giftcrypto_admin" and rotated["password"] != value["password"]
    previous = json.loads(secrets.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")["SecretString"])
    assert previous == value

    # A created instance that asks for it at once gets the same.
    created = rds.create_db_instance(
        DBInstanceIdentifier="managed-at-creation",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        MasterUsername="other_admin",
        ManageMasterUserPassword=True,
        AllocatedStorage=20,
    )["DBInstance"]
    other = created["MasterUserSecret"]["SecretArn"]
    assert json.loads(secrets.get_secret_value(SecretId=other)["SecretString"])["username"] == "other_admin"
    assert secrets.describe_secret(SecretId=other)["RotationEnabled"] is True


# https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html
# (InvalidRequestException for a secret marked for deletion; AWS's message, which amazon.aws's
# secretsmanager_secret lookup matches for on_deleted)
def test_secretsmanager_get_secret_value_of_a_deleted_secret(aws):
    secrets = aws("secretsmanager")
    secrets.create_secret(Name="going", SecretString="{}")
    secrets.delete_secret(SecretId="going", RecoveryWindowInDays=7)  # pragma: allowlist secret
    error = _error(secrets.get_secret_value, SecretId="going")
    assert error.response["Error"]["Code"] == "InvalidRequestException"
    assert "marked for deletion" in error.response["Error"]["Message"]
    secrets.restore_secret(SecretId="going")  # pragma: allowlist secret
    assert secrets.get_secret_value(SecretId="going")["SecretString"] == "{}"  # pragma: allowlist secret


# https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html ("If you
# don't specify either a VersionStage or VersionId, then Secrets Manager defaults to AWSCURRENT"),
# API_UpdateSecretVersionStage.html (moving AWSCURRENT; AWSPREVIOUS follows), the rotation's finishSecret
def test_secretsmanager_a_plain_read_is_the_new_current(aws):
    secrets, name = aws("secretsmanager"), "rotated"
    first = secrets.create_secret(Name=name, SecretString="one")["VersionId"]  # pragma: allowlist secret
    pending = secrets.put_secret_value(
        SecretId=name,
        SecretString="two",  # pragma: allowlist secret
        ClientRequestToken="11111111-2222-3333-4444-555555555555",  # pragma: allowlist secret
        VersionStages=["AWSPENDING"],
    )["VersionId"]
    # createSecret and setSecret do not change what is current.
    assert secrets.get_secret_value(SecretId=name)["SecretString"] == "one"  # pragma: allowlist secret
    secrets.update_secret_version_stage(
        SecretId=name, VersionStage="AWSCURRENT", MoveToVersionId=pending, RemoveFromVersionId=first
    )
    plain = secrets.get_secret_value(SecretId=name)
    assert (plain["VersionId"], plain["SecretString"]) == (pending, "two")  # pragma: allowlist secret
    assert "AWSCURRENT" in plain["VersionStages"]
    previous = secrets.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")
    assert previous["VersionId"] == first


def _lambda_role(iam) -> str:
    """A role Lambda may assume (the rotation function's execution role in these tests)."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    return iam.create_role(RoleName="rotation", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def _package(name: str, source: str) -> bytes:
    """A deployment package (.zip) holding one Python file."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, source)
    return buffer.getvalue()


# https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html (RotationLambdaARN,
# RotationRules; RotateImmediately=false: the schedule, no rotation; a later RotateSecret while AWSPENDING
# is on another version than AWSCURRENT returns an error),
# https://docs.aws.amazon.com/secretsmanager/latest/userguide/troubleshoot_rotation.html (a failed
# rotation leaves AWSPENDING, possibly on an empty version; AWSCURRENT stays)
def test_secretsmanager_rotation_lambda_schedule_without_a_rotation(aws):
    secrets, iam, awslambda = aws("secretsmanager"), aws("iam"), aws("lambda")
    role = _lambda_role(iam)
    # Not the platform's rotation handler: the endpoint cannot run it (no Docker).
    function = awslambda.create_function(
        FunctionName="rotation",
        Runtime="python3.13",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": _package("index.py", "def handler(event, context):\n    return None\n")},
    )["FunctionArn"]
    value = json.dumps({"username": "app_rw", "password": "initial-password-1"})  # pragma: allowlist secret
    first = secrets.create_secret(Name="giftcrypto/local/postgres/app_rw", SecretString=value)
    arn, current = first["ARN"], first["VersionId"]

    # The schedule only: the function, the rule, the next date; the value and the versions stay.
    secrets.rotate_secret(
        SecretId=arn,
        RotationLambdaARN=function,
        RotationRules={"AutomaticallyAfterDays": 30},
        RotateImmediately=False,
    )
    described = secrets.describe_secret(SecretId=arn)
    assert described["RotationEnabled"] is True
    assert described["RotationLambdaARN"] == function
    assert described["RotationRules"]["AutomaticallyAfterDays"] == 30
    assert described["NextRotationDate"] > described["CreatedDate"]
    assert described.get("LastRotatedDate") is None
    assert described["VersionIdsToStages"] == {current: ["AWSCURRENT"]}
    assert secrets.get_secret_value(SecretId=arn)["SecretString"] == value
    secrets.rotate_secret(SecretId=arn, RotationRules={"AutomaticallyAfterDays": 7}, RotateImmediately=False)
    described = secrets.describe_secret(SecretId=arn)
    assert described["RotationRules"]["AutomaticallyAfterDays"] == 7
    assert described["RotationLambdaARN"] == function
    assert described["VersionIdsToStages"] == {current: ["AWSCURRENT"]}

    # A function that does not exist is refused.
    missing = function.replace(":function:rotation", ":function:missing")
    error = _error(secrets.rotate_secret, SecretId=arn, RotationLambdaARN=missing, RotateImmediately=False)
    assert error.response["Error"]["Code"] == "ResourceNotFoundException"

    # A rotation the endpoint cannot run (no Docker) ends as a failed one: AWSCURRENT keeps its value.
    assert described.get("LastRotatedDate") is None
    pending = secrets.rotate_secret(SecretId=arn)["VersionId"]
    assert pending != current
    assert secrets.get_secret_value(SecretId=arn)["SecretString"] == value
    stages = secrets.describe_secret(SecretId=arn)["VersionIdsToStages"]
    assert stages[current] == ["AWSCURRENT"] and stages[pending] == ["AWSPENDING"]
    error = _error(secrets.rotate_secret, SecretId=arn, RotateImmediately=False)
    assert error.response["Error"]["Code"] == "InvalidRequestException"
    assert "previous rotation" in error.response["Error"]["Message"].lower()
    # Once that AWSPENDING is removed (as tools/rotate_secrets.py does), a schedule is accepted again.
    secrets.update_secret_version_stage(SecretId=arn, VersionStage="AWSPENDING", RemoveFromVersionId=pending)
    secrets.rotate_secret(SecretId=arn, RotationRules={"AutomaticallyAfterDays": 30}, RotateImmediately=False)
    assert secrets.describe_secret(SecretId=arn)["RotationRules"]["AutomaticallyAfterDays"] == 30


# The platform's rotation function's handler, as a stand-in of secret_rotation.py for this test: the
# same four steps on Secrets Manager only (no database to log in to here); RUN_MARK shows that the
# function's environment applies, FAIL_STEP makes that step fail.
STAND_IN_HANDLER = """
import json
import os

import boto3


def lambda_handler(event, context):
    client = boto3.client("secretsmanager", endpoint_url=os.environ["SECRETS_MANAGER_ENDPOINT"])
    step, arn, token = event["Step"], event["SecretId"], event["ClientRequestToken"]
    if os.environ.get("FAIL_STEP") == step:
        raise RuntimeError(f"{step} of {arn}: the pending login is refused")
    versions = client.describe_secret(SecretId=arn)["VersionIdsToStages"]
    assert "AWSPENDING" in versions[token], versions
    if step == "createSecret":
        current = json.loads(client.get_secret_value(SecretId=arn)["SecretString"])
        new = {**current, "password": "rotated-" + token[:8], "mark": os.environ.get("RUN_MARK", "")}
        client.put_secret_value(
            SecretId=arn, ClientRequestToken=token, SecretString=json.dumps(new), VersionStages=["AWSPENDING"]
        )
    elif step == "finishSecret":
        current = next(v for v, stages in versions.items() if "AWSCURRENT" in stages)
        client.update_secret_version_stage(
            SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=token, RemoveFromVersionId=current
        )
        client.update_secret_version_stage(SecretId=arn, VersionStage="AWSPENDING", RemoveFromVersionId=token)
"""


# https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_lambda-functions.html (Secrets
# Manager invokes the function with Step createSecret, setSecret, testSecret, finishSecret, SecretId
# and ClientRequestToken, the AWSPENDING version's id), API_RotateSecret.html, troubleshoot_rotation.html
def test_secretsmanager_rotation_runs_the_platforms_function_in_process(aws):
    secrets, iam, awslambda, logs = aws("secretsmanager"), aws("iam"), aws("lambda"), aws("logs")
    role = _lambda_role(iam)
    function = awslambda.create_function(
        FunctionName="giftcrypto-local-secret-rotation",
        Runtime="python3.13",
        Role=role,
        Handler="secret_rotation.lambda_handler",
        Code={"ZipFile": _package("secret_rotation.py", STAND_IN_HANDLER)},
        Environment={"Variables": {"RUN_MARK": "from-the-function"}},
    )["FunctionArn"]
    value = {"username": "app_rw", "password": "initial-password-1"}  # pragma: allowlist secret
    arn = secrets.create_secret(Name="giftcrypto/local/postgres/app_rw", SecretString=json.dumps(value))[
        "ARN"
    ]

    # Setting the schedule runs nothing.
    secrets.rotate_secret(
        SecretId=arn,
        RotationLambdaARN=function,
        RotationRules={"AutomaticallyAfterDays": 30},
        RotateImmediately=False,
    )
    assert json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"]) == value

    # A rotation: the four steps ran, the new value is AWSCURRENT, the old one AWSPREVIOUS.
    token = secrets.rotate_secret(SecretId=arn)["VersionId"]
    rotated = json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"])
    assert rotated == {**value, "password": "rotated-" + token[:8], "mark": "from-the-function"}
    assert (
        json.loads(secrets.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")["SecretString"])
        == value
    )
    described = secrets.describe_secret(SecretId=arn)
    assert described["VersionIdsToStages"][token] == ["AWSCURRENT"]
    assert not [v for v, stages in described["VersionIdsToStages"].items() if "AWSPENDING" in stages]
    assert described["LastRotatedDate"] is not None
    events = logs.filter_log_events(logGroupName="/aws/lambda/giftcrypto-local-secret-rotation")["events"]
    messages = "\n".join(event["message"] for event in events)
    assert f"finishSecret of {arn} done" in messages and value["password"] not in messages

    # A step that fails stops the rotation as on AWS: AWSCURRENT keeps its value, AWSPENDING stays
    # with what createSecret put, and the next RotateSecret is refused until it is cleared.
    awslambda.update_function_configuration(
        FunctionName="giftcrypto-local-secret-rotation",
        Environment={"Variables": {"FAIL_STEP": "testSecret"}},
    )
    failed = secrets.rotate_secret(SecretId=arn)["VersionId"]
    assert json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"]) == rotated
    pending = json.loads(secrets.get_secret_value(SecretId=arn, VersionStage="AWSPENDING")["SecretString"])
    assert pending["password"] == "rotated-" + failed[:8]
    events = logs.filter_log_events(logGroupName="/aws/lambda/giftcrypto-local-secret-rotation")["events"]
    assert any("testSecret failed: RuntimeError" in event["message"] for event in events)
    error = _error(secrets.rotate_secret, SecretId=arn)
    assert error.response["Error"]["Code"] == "InvalidRequestException"


def _web_acl(aws, name: str) -> str:
    return aws("wafv2").create_web_acl(
        Name=name,
        Scope="REGIONAL",
        DefaultAction={"Allow": {}},
        VisibilityConfig={
            "SampledRequestsEnabled": True,
            "CloudWatchMetricsEnabled": True,
            "MetricName": name,
        },
        Rules=[],
    )["Summary"]["ARN"]


# https://docs.aws.amazon.com/waf/latest/APIReference/API_ListResourcesForWebACL.html (ResourceType
# defaults to APPLICATION_LOAD_BALANCER) and API_AssociateWebACL.html (one web ACL per resource)
def test_wafv2_list_resources_for_web_acl_and_one_acl_per_resource(aws):
    _, subnets = _subnets(aws)
    alb = aws("elbv2").create_load_balancer(Name="web", Subnets=subnets)["LoadBalancers"][0][
        "LoadBalancerArn"
    ]
    first, second = _web_acl(aws, "first"), _web_acl(aws, "second")
    wafv2 = aws("wafv2")
    assert wafv2.list_resources_for_web_acl(WebACLArn=first)["ResourceArns"] == []
    wafv2.associate_web_acl(WebACLArn=first, ResourceArn=alb)
    assert wafv2.list_resources_for_web_acl(WebACLArn=first)["ResourceArns"] == [alb]
    assert wafv2.list_resources_for_web_acl(WebACLArn=first, ResourceType="API_GATEWAY")["ResourceArns"] == []
    wafv2.associate_web_acl(WebACLArn=second, ResourceArn=alb)
    assert wafv2.list_resources_for_web_acl(WebACLArn=first)["ResourceArns"] == []
    assert wafv2.list_resources_for_web_acl(WebACLArn=second)["ResourceArns"] == [alb]
    missing = first.replace("/first/", "/missing/")
    error = _error(wafv2.list_resources_for_web_acl, WebACLArn=missing)
    assert error.response["Error"]["Code"] == "WAFNonexistentItemException"


# --- acm ---------------------------------------------------------------------------------------


def _self_signed(name: str) -> tuple[bytes, bytes]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return (
        certificate.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


# https://docs.aws.amazon.com/acm/latest/APIReference/API_GetCertificate.html and
# API_ImportCertificate.html (CertificateChain: the chain given at import)
def test_acm_imported_certificate_keeps_its_chain(aws):
    acm = aws("acm")
    certificate, key = _self_signed("api.fidelity.example")
    alone = acm.import_certificate(Certificate=certificate, PrivateKey=key)["CertificateArn"]
    answer = acm.get_certificate(CertificateArn=alone)
    assert answer["CertificateChain"].strip() == certificate.decode().strip()
    chained = acm.import_certificate(Certificate=certificate, PrivateKey=key, CertificateChain=certificate)[
        "CertificateArn"
    ]
    assert (
        acm.get_certificate(CertificateArn=chained)["CertificateChain"].strip()
        == certificate.decode().strip()
    )
    # Re-imported under the same ARN: the new chain, still nothing appended.
    acm.import_certificate(
        CertificateArn=alone, Certificate=certificate, PrivateKey=key, CertificateChain=certificate
    )
    assert acm.get_certificate(CertificateArn=alone)["CertificateChain"].count("BEGIN CERTIFICATE") == 1


# --- kms ---------------------------------------------------------------------------------------


# https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html and API_Verify.html
# (MessageType DIGEST: "KMS skips the hashing step and signs the Message value"; an invalid
# signature: KMSInvalidSignatureException)
def test_kms_sign_and_verify_a_digest(aws):
    import hashlib

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    kms = aws("kms")
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    digest = hashlib.sha256(b"anchored heads").digest()
    signed = kms.sign(KeyId=key, Message=digest, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256")
    assert signed["KeyId"] == key
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key)["PublicKey"])
    # The signature is over the digest as given: the public key verifies it as a prehashed SHA-256.
    public.verify(signed["Signature"], digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    assert kms.verify(
        KeyId=key,
        Message=digest,
        MessageType="DIGEST",
        Signature=signed["Signature"],
        SigningAlgorithm="ECDSA_SHA_256",
    )["SignatureValid"]
    other = hashlib.sha256(b"rewritten heads").digest()
    error = _error(
        kms.verify,
        KeyId=key,
        Message=other,
        MessageType="DIGEST",
        Signature=signed["Signature"],
        SigningAlgorithm="ECDSA_SHA_256",
    )
    assert error.response["Error"]["Code"] == "KMSInvalidSignatureException"
    error = _error(
        kms.sign, KeyId=key, Message=digest[:20], MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256"
    )
    assert error.response["Error"]["Code"] == "ValidationException"
    # RAW messages are hashed by KMS, as before.
    raw = kms.sign(KeyId=key, Message=b"anchored heads", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    public.verify(raw, b"anchored heads", ec.ECDSA(hashes.SHA256()))


# --- s3 ----------------------------------------------------------------------------------------


# https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObjectRetention.html and
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html#object-lock-retention-modes
# (compliance mode: the mode cannot be changed nor the retention shortened, by any user)
def test_s3_compliance_retention_cannot_be_weakened(aws):
    import datetime

    s3 = aws("s3")
    s3.create_bucket(Bucket="fidelity-anchors", ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket="fidelity-anchors",
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 365}},
        },
    )
    version = s3.put_object(Bucket="fidelity-anchors", Key="a.json", Body=b"{}", ChecksumAlgorithm="SHA256")[
        "VersionId"
    ]
    until = s3.head_object(Bucket="fidelity-anchors", Key="a.json")["ObjectLockRetainUntilDate"]
    for mode, date in (
        ("COMPLIANCE", datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)),
        ("COMPLIANCE", until - datetime.timedelta(days=1)),
        ("GOVERNANCE", until + datetime.timedelta(days=1)),
    ):
        error = _error(
            s3.put_object_retention,
            Bucket="fidelity-anchors",
            Key="a.json",
            VersionId=version,
            Retention={"Mode": mode, "RetainUntilDate": date},
        )
        assert error.response["Error"]["Code"] == "AccessDenied", (mode, date)
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # Extending it is allowed; the version still cannot be deleted.
    s3.put_object_retention(
        Bucket="fidelity-anchors",
        Key="a.json",
        VersionId=version,
        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until + datetime.timedelta(days=1)},
    )
    error = _error(s3.delete_object, Bucket="fidelity-anchors", Key="a.json", VersionId=version)
    assert error.response["Error"]["Code"] == "AccessDenied"
    assert s3.get_object(Bucket="fidelity-anchors", Key="a.json", VersionId=version)["Body"].read() == b"{}"


# https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObjectLockConfiguration.html and
# API_DefaultRetention.html (Days or Years, not both)
def test_s3_default_retention_in_days_or_years(aws):
    s3 = aws("s3")
    for bucket, period in (("fidelity-days", {"Days": 365}), ("fidelity-years", {"Years": 1})):
        s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        s3.put_object_lock_configuration(
            Bucket=bucket,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", **period}},
            },
        )
        answer = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
        assert answer == {
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", **period}},
        }


# The bucket policy of the S3 documentation's own examples: TLS only
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/example-bucket-policies.html#example-bucket-policies-HTTP-HTTPS),
# writes by one role only (aws:PrincipalArn, a global condition key:
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn),
# writes only with If-None-Match
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes-enforce.html), retention
# changes denied to all. Condition rules: a negated operator holds on a missing key, Null tests
# presence (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html);
# a denial is AccessDenied, evaluated per request as
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-auth-workflow-object-operation.html
# describes, with the S3 action of the request
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html).
def test_s3_bucket_policy_is_evaluated_with_the_request_context(aws):
    iam, sts = aws("iam"), aws("sts")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    created = iam.create_role(RoleName="anchor-writer", AssumeRolePolicyDocument=json.dumps(trust))
    writer = created["Role"]["Arn"]
    iam.create_role(RoleName="someone-else", AssumeRolePolicyDocument=json.dumps(trust))
    as_writer = sts.assume_role(RoleArn=writer, RoleSessionName="deploy-anchor")["Credentials"]
    as_other = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/someone-else", RoleSessionName="other")[
        "Credentials"
    ]
    bucket = "fidelity-policy"
    arn = f"arn:aws:s3:::{bucket}"
    s3 = aws("s3")
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    s3.put_object(Bucket=bucket, Key="before-the-policy.json", Body=b"{}")
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "DenyRequestsWithoutTls",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [arn, f"{arn}/*"],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    },
                    {
                        "Sid": "OnlyTheWriterWrites",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:PutObject",
                        "Resource": f"{arn}/*",
                        "Condition": {"StringNotEquals": {"aws:PrincipalArn": writer}},
                    },
                    {
                        "Sid": "NeverReplaced",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:PutObject",
                        "Resource": f"{arn}/*",
                        "Condition": {"Null": {"s3:if-none-match": "true"}},
                    },
                    {
                        "Sid": "NoRetentionChange",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": ["s3:BypassGovernanceRetention", "s3:PutObjectRetention"],
                        "Resource": f"{arn}/*",
                    },
                ],
            }
        ),
    )
    writer_tls = aws("s3", tls=True, credentials=as_writer)

    def code(call, **kwargs) -> str:
        try:
            call(Bucket=bucket, **kwargs)
        except botocore.exceptions.ClientError as error:
            assert error.response["ResponseMetadata"]["HTTPStatusCode"] in (403, 412), error.response
            return error.response["Error"]["Code"]
        return "ok"

    # The writer, over TLS, with If-None-Match: written; the same key again: 412 as AWS answers.
    assert code(writer_tls.put_object, Key="a.json", Body=b"{}", IfNoneMatch="*") == "ok"
    assert code(writer_tls.put_object, Key="a.json", Body=b"{}", IfNoneMatch="*") == "PreconditionFailed"
    # Without If-None-Match, by another principal (a role, or a key moto never issued), or over
    # plain HTTP: denied by the policy.
    assert code(writer_tls.put_object, Key="b.json", Body=b"{}") == "AccessDenied"
    other_tls = aws("s3", tls=True, credentials=as_other)
    assert code(other_tls.put_object, Key="c.json", Body=b"{}", IfNoneMatch="*") == "AccessDenied"
    assert code(aws("s3", tls=True).put_object, Key="d.json", Body=b"{}", IfNoneMatch="*") == "AccessDenied"
    assert code(aws("s3", credentials=as_writer).put_object, Key="e.json", Body=b"{}", IfNoneMatch="*") == (
        "AccessDenied"
    )
    # Reads: over TLS by anyone (no statement denies them), never over plain HTTP.
    assert aws("s3", tls=True).get_object(Bucket=bucket, Key="a.json")["Body"].read() == b"{}"
    assert code(aws("s3").get_object, Key="a.json") == "AccessDenied"
    # (A HEAD answer has no body, on AWS too: botocore names the error by its status.)
    assert code(aws("s3").head_object, Key="a.json") == "403"
    # PutObjectRetention is its own action (moto called it s3:PutObject), denied to the writer too.
    version = s3.list_object_versions(Bucket=bucket, Prefix="a.json")["Versions"][0]["VersionId"]
    assert (
        code(
            writer_tls.put_object_retention,
            Key="a.json",
            VersionId=version,
            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": "2099-01-01T00:00:00Z"},
        )
        == "AccessDenied"
    )
    # A delete over TLS is not denied by this policy (nothing locks the object written before it).
    assert code(aws("s3", tls=True).delete_object, Key="before-the-policy.json") == "ok"


# The condition rules of https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
# as the bucket-policy fix applies them: a missing key makes a condition false, true for a negated
# operator; ...IfExists holds on a missing key; Null tests presence; several values of one key are
# ORed (NORed for a negated operator,
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html).
@pytest.mark.parametrize(
    ("operator", "key", "expected", "keys", "holds"),
    [
        ("StringEquals", "aws:PrincipalArn", "arn:aws:iam::1:role/a", {}, False),
        ("StringNotEquals", "aws:PrincipalArn", "arn:aws:iam::1:role/a", {}, True),
        (
            "StringNotEquals",
            "aws:PrincipalArn",
            "arn:aws:iam::1:role/a",
            {"aws:principalarn": ["arn:aws:iam::1:role/a"]},
            False,
        ),
        (
            "StringNotEquals",
            "aws:PrincipalArn",
            ["x", "arn:aws:iam::1:role/a"],
            {"aws:principalarn": ["arn:aws:iam::1:role/a"]},
            False,
        ),
        ("StringEqualsIfExists", "s3:x-amz-acl", "private", {}, True),
        ("StringEqualsIfExists", "s3:x-amz-acl", "private", {"s3:x-amz-acl": ["public-read"]}, False),
        ("Null", "s3:if-none-match", "true", {}, True),
        ("Null", "s3:if-none-match", "true", {"s3:if-none-match": ["*"]}, False),
        ("Null", "s3:if-none-match", "false", {"s3:if-none-match": ["*"]}, True),
        ("Bool", "aws:SecureTransport", "false", {"aws:securetransport": ["false"]}, True),
        ("Bool", "aws:SecureTransport", "false", {"aws:securetransport": ["true"]}, False),
        ("Bool", "aws:SecureTransport", "false", {}, False),
        (
            "ArnLike",
            "aws:PrincipalArn",
            "arn:aws:iam::1:role/ci-*",
            {"aws:principalarn": ["arn:aws:iam::1:role/ci-deploy"]},
            True,
        ),
        (
            "ArnNotLike",
            "aws:PrincipalArn",
            "arn:aws:iam::1:role/ci-*",
            {"aws:principalarn": ["arn:aws:iam::1:role/ci-deploy"]},
            False,
        ),
        ("IpAddress", "aws:SourceIp", "127.0.0.0/8", {"aws:sourceip": ["127.0.0.1"]}, True),
        ("NotIpAddress", "aws:SourceIp", "10.0.0.0/8", {"aws:sourceip": ["127.0.0.1"]}, True),
    ],
)
def test_s3_bucket_policy_condition_rules(operator, key, expected, keys, holds):
    sys.path.insert(0, str(FILES))
    try:
        from moto_fidelity.s3_policy import condition_holds
    finally:
        sys.path.remove(str(FILES))
    assert condition_holds(operator, key, expected, keys) is holds


def test_s3_bucket_policy_unknown_operator_denies():
    sys.path.insert(0, str(FILES))
    try:
        from moto_fidelity.s3_policy import DENIED, evaluate
    finally:
        sys.path.remove(str(FILES))
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "*",
                "Condition": {"StringSoundsLike": {"aws:username": "moto"}},
            }
        ]
    }
    context = {"keys": {}, "principal": {"type": "Anonymous"}}
    assert evaluate(policy, "s3:GetObject", "arn:aws:s3:::b/k", context) == DENIED


# The endpoint answers HTTPS on its one port as AWS endpoints do; the same request over plain
# HTTP is still answered (https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html
# : aws:SecureTransport tells them apart).
def test_endpoint_answers_tls_and_plain_http_on_one_port(endpoint, aws):
    status, body = _get(f"{endpoint}/_giftcrypto/fidelity")
    assert status == 200 and json.loads(body)["tls"] is True
    assert aws("sts", tls=True).get_caller_identity()["Account"] == ACCOUNT
    assert aws("sts").get_caller_identity()["Account"] == ACCOUNT


# --- budgets -----------------------------------------------------------------------------------


# https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_budgets_UpdateBudget.html
# and API_budgets_DescribeSubscribersForNotification.html (NotFoundException for an unknown budget or
# notification)
def test_budgets_update_budget_and_subscribers_of_a_notification(aws):
    budgets = aws("budgets")
    limit = {"Amount": "100", "Unit": "USD"}
    budget = {"BudgetName": "monthly", "BudgetType": "COST", "TimeUnit": "MONTHLY", "BudgetLimit": limit}
    at_80 = {
        "NotificationType": "ACTUAL",
        "ComparisonOperator": "GREATER_THAN",
        "Threshold": 80.0,
        "ThresholdType": "PERCENTAGE",
    }
    topic = [{"SubscriptionType": "SNS", "Address": f"arn:aws:sns:us-east-1:{ACCOUNT}:warning"}]
    budgets.create_budget(
        AccountId=ACCOUNT,
        Budget=budget,
        NotificationsWithSubscribers=[{"Notification": at_80, "Subscribers": topic}],
    )
    answer = budgets.describe_subscribers_for_notification(
        AccountId=ACCOUNT, BudgetName="monthly", Notification=at_80
    )
    assert answer["Subscribers"] == topic
    at_100 = {**at_80, "Threshold": 100.0}
    mail = [{"SubscriptionType": "EMAIL", "Address": "team@example.com"}]
    budgets.create_notification(
        AccountId=ACCOUNT, BudgetName="monthly", Notification=at_100, Subscribers=mail
    )
    answer = budgets.describe_subscribers_for_notification(
        AccountId=ACCOUNT, BudgetName="monthly", Notification=at_100
    )
    assert answer["Subscribers"] == mail
    error = _error(
        budgets.describe_subscribers_for_notification,
        AccountId=ACCOUNT,
        BudgetName="monthly",
        Notification={**at_80, "Threshold": 50.0},
    )
    assert error.response["Error"]["Code"] == "NotFoundException"
    error = _error(
        budgets.describe_subscribers_for_notification,
        AccountId=ACCOUNT,
        BudgetName="missing",
        Notification=at_80,
    )
    assert error.response["Error"]["Code"] == "NotFoundException"

    budgets.update_budget(
        AccountId=ACCOUNT, NewBudget={**budget, "BudgetLimit": {"Amount": "250", "Unit": "USD"}}
    )
    read = budgets.describe_budget(AccountId=ACCOUNT, BudgetName="monthly")["Budget"]
    assert float(read["BudgetLimit"]["Amount"]) == 250
    assert read["TimePeriod"]["Start"]
    # The notifications stay.
    notifications = budgets.describe_notifications_for_budget(AccountId=ACCOUNT, BudgetName="monthly")
    assert len(notifications["Notifications"]) == 2
    error = _error(budgets.update_budget, AccountId=ACCOUNT, NewBudget={**budget, "BudgetName": "missing"})
    assert error.response["Error"]["Code"] == "NotFoundException"


# --- ce ----------------------------------------------------------------------------------------


# https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_ListCostAllocationTags.html,
# API_UpdateCostAllocationTagsStatus.html (Errors per key, 1 to 20 entries) and API_CostAllocationTag.html
def test_ce_cost_allocation_tags_are_listed_and_activated(aws):
    ce = aws("ce")
    listed = ce.list_cost_allocation_tags(TagKeys=["Project", "CostCenter"], Type="UserDefined")
    assert {(t["TagKey"], t["Status"], t["Type"]) for t in listed["CostAllocationTags"]} == {
        ("Project", "Inactive", "UserDefined"),
        ("CostCenter", "Inactive", "UserDefined"),
    }
    answer = ce.update_cost_allocation_tags_status(
        CostAllocationTagsStatus=[
            {"TagKey": "Project", "Status": "Active"},
            {"TagKey": "aws:createdBy", "Status": "Active"},
        ]
    )
    assert [e["TagKey"] for e in answer["Errors"]] == ["aws:createdBy"]
    (project,) = ce.list_cost_allocation_tags(TagKeys=["Project"])["CostAllocationTags"]
    assert project["Status"] == "Active"
    assert project["LastUpdatedDate"].endswith("Z")
    active = ce.list_cost_allocation_tags(Status="Active")["CostAllocationTags"]
    assert [t["TagKey"] for t in active] == ["Project"]
    # Activating an active key is no error and changes nothing.
    assert (
        ce.update_cost_allocation_tags_status(
            CostAllocationTagsStatus=[{"TagKey": "Project", "Status": "Active"}]
        )["Errors"]
        == []
    )
    error = _error(
        ce.update_cost_allocation_tags_status,
        CostAllocationTagsStatus=[{"TagKey": f"k{i}", "Status": "Active"} for i in range(21)],
    )
    assert error.response["Error"]["Code"] == "ValidationException"


# --- cognito-idp -------------------------------------------------------------------------------


def _cognito_pool(aws, mfa: str = "OFF", **client):
    """A pool (TOTP when mfa is not OFF), its public app client and a confirmed user alice."""
    idp = aws("cognito-idp")
    pool_id = idp.create_user_pool(PoolName="fidelity", UserPoolTags={"Project": "GiftCrypto"})["UserPool"][
        "Id"
    ]
    if mfa != "OFF":
        idp.set_user_pool_mfa_config(
            UserPoolId=pool_id, MfaConfiguration=mfa, SoftwareTokenMfaConfiguration={"Enabled": True}
        )
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="api",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH"],
        **client,
    )["UserPoolClient"]["ClientId"]
    password = "Fidelity-Password-1"  # pragma: allowlist secret
    idp.admin_create_user(UserPoolId=pool_id, Username="alice", MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool_id, Username="alice", Password=password, Permanent=True)
    return idp, pool_id, client_id, {"USERNAME": "alice", "PASSWORD": password}


# https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_InitiateAuth.html and
# API_AdminInitiateAuth.html: "MFA_SETUP: For users who are required to setup an MFA factor before they
# can sign in" (MfaConfiguration ON); ChallengeParameters MFAS_CAN_SETUP lists the pool's factors.
def test_cognito_mfa_required_gives_no_tokens_before_a_factor(aws):
    idp, pool_id, client_id, credentials = _cognito_pool(aws, mfa="ON")
    answer = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters=credentials)
    assert answer["ChallengeName"] == "MFA_SETUP"
    assert "AuthenticationResult" not in answer
    assert json.loads(answer["ChallengeParameters"]["MFAS_CAN_SETUP"]) == ["SOFTWARE_TOKEN_MFA"]
    assert answer["Session"]
    answer = idp.admin_initiate_auth(
        UserPoolId=pool_id,
        ClientId=client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters=credentials,
    )
    assert answer["ChallengeName"] == "MFA_SETUP"
    assert "AuthenticationResult" not in answer
    # OPTIONAL: a user without a factor signs in with the password alone, as on AWS.
    idp.set_user_pool_mfa_config(
        UserPoolId=pool_id, MfaConfiguration="OPTIONAL", SoftwareTokenMfaConfiguration={"Enabled": True}
    )
    answer = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters=credentials)
    assert answer["AuthenticationResult"]["AccessToken"]


def _claims(token: str) -> dict:
    import base64

    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


# https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_CreateUserPoolClient.html
# (AccessTokenValidity, IdTokenValidity, TokenValidityUnits: hours by default); API_TagResource.html,
# API_UntagResource.html, API_ListTagsForResource.html (a user pool is taggable by its ARN).
def test_cognito_token_lifetimes_follow_the_client_and_pools_are_taggable(aws):
    idp, pool_id, client_id, credentials = _cognito_pool(
        aws,
        AccessTokenValidity=15,
        IdTokenValidity=20,
        TokenValidityUnits={"AccessToken": "minutes", "IdToken": "minutes"},
    )
    result = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters=credentials)[
        "AuthenticationResult"
    ]
    access, identity = _claims(result["AccessToken"]), _claims(result["IdToken"])
    assert access["exp"] - access["iat"] == 15 * 60
    assert identity["exp"] - identity["iat"] == 20 * 60
    assert result["ExpiresIn"] == 15 * 60
    # No unit: hours.
    other = idp.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="hours",
        AccessTokenValidity=2,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"],
    )["UserPoolClient"]["ClientId"]
    token = idp.initiate_auth(ClientId=other, AuthFlow="USER_PASSWORD_AUTH", AuthParameters=credentials)[
        "AuthenticationResult"
    ]["AccessToken"]
    assert _claims(token)["exp"] - _claims(token)["iat"] == 2 * 3600

    arn = idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]["Arn"]
    idp.tag_resource(ResourceArn=arn, Tags={"Layer": "auth"})
    assert idp.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"Project": "GiftCrypto", "Layer": "auth"}
    idp.untag_resource(ResourceArn=arn, TagKeys=["Project"])
    assert idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]["UserPoolTags"] == {"Layer": "auth"}
    error = _error(idp.tag_resource, ResourceArn=arn.replace(pool_id, f"{REGION}_missing1"), Tags={"a": "b"})
    assert error.response["Error"]["Code"] == "ResourceNotFoundException"


# https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_GetTokensFromRefreshToken.html
# and API_RefreshTokenRotationType.html: with rotation ENABLED the answer carries a new refresh token
# and, with RetryGracePeriodSeconds 0, "a successful request immediately invalidates the submitted
# refresh token"; with rotation disabled only ID and access tokens are issued.
def test_cognito_refresh_token_rotation(aws):
    flows = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    idp, pool_id, client_id, credentials = _cognito_pool(aws)
    idp.update_user_pool_client(
        UserPoolId=pool_id,
        ClientId=client_id,
        ExplicitAuthFlows=flows,
        RefreshTokenRotation={"Feature": "ENABLED", "RetryGracePeriodSeconds": 0},
    )
    first = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters=credentials)
    refresh = first["AuthenticationResult"]["RefreshToken"]
    renewed = idp.get_tokens_from_refresh_token(RefreshToken=refresh, ClientId=client_id)[
        "AuthenticationResult"
    ]
    assert renewed["TokenType"] == "Bearer" and renewed["AccessToken"] and renewed["IdToken"]
    assert renewed["RefreshToken"] != refresh
    error = _error(idp.get_tokens_from_refresh_token, RefreshToken=refresh, ClientId=client_id)
    assert error.response["Error"]["Code"] == "NotAuthorizedException"
    again = idp.get_tokens_from_refresh_token(RefreshToken=renewed["RefreshToken"], ClientId=client_id)
    assert again["AuthenticationResult"]["RefreshToken"] not in (refresh, renewed["RefreshToken"])

    # Another client of the pool cannot use this client's refresh token.
    other = idp.create_user_pool_client(UserPoolId=pool_id, ClientName="other", ExplicitAuthFlows=flows)
    other_id = other["UserPoolClient"]["ClientId"]
    latest = again["AuthenticationResult"]["RefreshToken"]
    error = _error(idp.get_tokens_from_refresh_token, RefreshToken=latest, ClientId=other_id)
    assert error.response["Error"]["Code"] == "NotAuthorizedException"

    # Rotation disabled: new access and ID tokens, no refresh token, the old one still valid.
    kept = idp.initiate_auth(ClientId=other_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters=credentials)
    kept_refresh = kept["AuthenticationResult"]["RefreshToken"]
    for _ in range(2):
        answer = idp.get_tokens_from_refresh_token(RefreshToken=kept_refresh, ClientId=other_id)
        assert "RefreshToken" not in answer["AuthenticationResult"]


# https://docs.aws.amazon.com/appconfig/2019-10-09/APIReference/API_CreateEnvironment.html,
# API_CreateDeploymentStrategy.html, API_StartDeployment.html, API_ListApplications.html,
# API_ListHostedConfigurationVersions.html; the AWS.AppConfig.FeatureFlags type reference
# (https://docs.aws.amazon.com/appconfig/latest/userguide/appconfig-type-reference-feature-flags.html)
# and the predefined strategies (appconfig-creating-deployment-strategy.html).
FLAGS = {
    "version": "1",
    "flags": {
        "stats_replica_reads": {
            "name": "Stats from the read replica",
            "attributes": {
                "percentage": {
                    "constraints": {"type": "number", "required": True, "minimum": 0, "maximum": 100}
                }
            },
        }
    },
    "values": {"stats_replica_reads": {"enabled": True, "percentage": 25}},
}


def _flag_profile(appconfig):
    app = appconfig.create_application(Name="giftcrypto-test")["Id"]
    environment = appconfig.create_environment(ApplicationId=app, Name="test")["Id"]
    profile = appconfig.create_configuration_profile(
        ApplicationId=app, Name="flags", LocationUri="hosted", Type="AWS.AppConfig.FeatureFlags"
    )["Id"]
    return app, environment, profile


def _flag_version(appconfig, app, profile, document, label=None):
    return appconfig.create_hosted_configuration_version(
        ApplicationId=app,
        ConfigurationProfileId=profile,
        Content=json.dumps(document).encode(),
        ContentType="application/json",
        **({"VersionLabel": label} if label else {}),
    )["VersionNumber"]


def test_appconfig_environments_strategies_deployments_and_flag_documents(aws):
    appconfig = aws("appconfig")
    app, environment, profile = _flag_profile(appconfig)
    assert [a["Name"] for a in appconfig.list_applications()["Items"]] == ["giftcrypto-test"]
    (listed,) = appconfig.list_environments(ApplicationId=app)["Items"]
    assert (listed["Id"], listed["Name"], listed["State"]) == (environment, "test", "ReadyForDeployment")
    assert (
        _error(appconfig.get_environment, ApplicationId=app, EnvironmentId="nothing").response["Error"][
            "Code"
        ]
        == "ResourceNotFoundException"
    )

    # A document that breaks AWS's schema, or a constraint it declares, is refused.
    for bad in (
        {**FLAGS, "version": "2"},
        {**FLAGS, "values": {"stats_replica_reads": {"enabled": True, "percentage": 101}}},
        {**FLAGS, "values": {"stats_replica_reads": {"enabled": True}}},
        {**FLAGS, "values": {"undefined": {"enabled": True}}},
    ):
        error = _error(
            appconfig.create_hosted_configuration_version,
            ApplicationId=app,
            ConfigurationProfileId=profile,
            Content=json.dumps(bad).encode(),
            ContentType="application/json",
        )
        assert error.response["Error"]["Code"] == "BadRequestException", bad
    assert (
        appconfig.list_hosted_configuration_versions(ApplicationId=app, ConfigurationProfileId=profile)[
            "Items"
        ]
        == []
    )
    assert _flag_version(appconfig, app, profile, FLAGS, "v1") == 1
    (version,) = appconfig.list_hosted_configuration_versions(
        ApplicationId=app, ConfigurationProfileId=profile
    )["Items"]
    assert (version["VersionNumber"], version["VersionLabel"]) == (1, "v1")

    # AWS's predefined strategies beside the account's own; a predefined one cannot be deleted.
    strategies = {s["Id"]: s for s in appconfig.list_deployment_strategies()["Items"]}
    assert strategies["AppConfig.AllAtOnce"]["FinalBakeTimeInMinutes"] == 10
    assert (
        _error(appconfig.delete_deployment_strategy, DeploymentStrategyId="AppConfig.AllAtOnce").response[
            "Error"
        ]["Code"]
        == "BadRequestException"
    )
    slow = appconfig.create_deployment_strategy(
        Name="slow",
        DeploymentDurationInMinutes=10,
        GrowthFactor=20,
        FinalBakeTimeInMinutes=5,
        ReplicateTo="NONE",
    )["Id"]
    assert appconfig.get_deployment_strategy(DeploymentStrategyId=slow)["GrowthType"] == "LINEAR"

    started = appconfig.start_deployment(
        ApplicationId=app,
        EnvironmentId=environment,
        DeploymentStrategyId=slow,
        ConfigurationProfileId=profile,
        ConfigurationVersion="1",
    )
    assert (started["DeploymentNumber"], started["State"]) == (1, "DEPLOYING")
    assert appconfig.get_environment(ApplicationId=app, EnvironmentId=environment)["State"] == "Deploying"
    # One deployment at a time per environment.
    error = _error(
        appconfig.start_deployment,
        ApplicationId=app,
        EnvironmentId=environment,
        DeploymentStrategyId=slow,
        ConfigurationProfileId=profile,
        ConfigurationVersion="1",
    )
    assert error.response["Error"]["Code"] == "ConflictException"
    stopped = appconfig.stop_deployment(ApplicationId=app, EnvironmentId=environment, DeploymentNumber=1)
    assert stopped["State"] == "ROLLED_BACK"
    assert appconfig.get_environment(ApplicationId=app, EnvironmentId=environment)["State"] == "RolledBack"

    now = appconfig.create_deployment_strategy(
        Name="now",
        DeploymentDurationInMinutes=0,
        GrowthFactor=100,
        FinalBakeTimeInMinutes=0,
        ReplicateTo="NONE",
    )["Id"]
    appconfig.start_deployment(
        ApplicationId=app,
        EnvironmentId=environment,
        DeploymentStrategyId=now,
        ConfigurationProfileId=profile,
        ConfigurationVersion="1",
    )
    (latest, first) = appconfig.list_deployments(ApplicationId=app, EnvironmentId=environment)["Items"]
    assert (latest["DeploymentNumber"], latest["State"], first["State"]) == (2, "COMPLETE", "ROLLED_BACK")
    assert appconfig.get_deployment(ApplicationId=app, EnvironmentId=environment, DeploymentNumber=2)[
        "CompletedAt"
    ]
    appconfig.delete_deployment_strategy(DeploymentStrategyId=slow)
    assert slow not in {s["Id"] for s in appconfig.list_deployment_strategies()["Items"]}


# https://docs.aws.amazon.com/appconfig/2019-10-09/APIReference/API_appconfigdata_StartConfigurationSession.html
# https://docs.aws.amazon.com/appconfig/2019-10-09/APIReference/API_appconfigdata_GetLatestConfiguration.html
def test_appconfigdata_sessions_serve_the_deployed_flags_once_then_empty(aws):
    appconfig, data = aws("appconfig"), aws("appconfigdata")
    app, environment, profile = _flag_profile(appconfig)
    session = {
        "ApplicationIdentifier": "giftcrypto-test",  # names or ids
        "EnvironmentIdentifier": environment,
        "ConfigurationProfileIdentifier": "flags",
        "RequiredMinimumPollIntervalInSeconds": 15,
    }
    assert (
        _error(data.start_configuration_session, **{**session, "EnvironmentIdentifier": "other"}).response[
            "Error"
        ]["Code"]
        == "ResourceNotFoundException"
    )
    token = data.start_configuration_session(**session)["InitialConfigurationToken"]
    # Nothing deployed yet.
    assert _error(data.get_latest_configuration, ConfigurationToken=token).response["Error"]["Code"] in (
        "ResourceNotFoundException",
    )

    def deploy(document, label):
        version = _flag_version(appconfig, app, profile, document, label)
        appconfig.start_deployment(
            ApplicationId=app,
            EnvironmentId=environment,
            DeploymentStrategyId=appconfig.create_deployment_strategy(
                Name=f"now-{label}", DeploymentDurationInMinutes=0, GrowthFactor=100, FinalBakeTimeInMinutes=0
            )["Id"],
            ConfigurationProfileId=profile,
            ConfigurationVersion=str(version),
        )

    deploy(FLAGS, "v1")
    token = data.start_configuration_session(**session)["InitialConfigurationToken"]
    answer = data.get_latest_configuration(ConfigurationToken=token)
    # The flags' values, not their definitions; the session's poll interval; the version's label.
    assert json.loads(answer["Configuration"].read()) == {
        "stats_replica_reads": {"enabled": True, "percentage": 25}
    }
    assert answer["NextPollIntervalInSeconds"] == 15
    assert answer["VersionLabel"] == "v1"
    assert answer["ContentType"] == "application/json"
    # A token is good for one call.
    assert _error(data.get_latest_configuration, ConfigurationToken=token).response["Error"]["Code"] == (
        "BadRequestException"
    )
    unchanged = data.get_latest_configuration(ConfigurationToken=answer["NextPollConfigurationToken"])
    assert unchanged["Configuration"].read() == b""
    assert unchanged["NextPollConfigurationToken"] != answer["NextPollConfigurationToken"]

    deploy({**FLAGS, "values": {"stats_replica_reads": {"enabled": False, "percentage": 25}}}, "v2")
    changed = data.get_latest_configuration(ConfigurationToken=unchanged["NextPollConfigurationToken"])
    assert json.loads(changed["Configuration"].read()) == {
        "stats_replica_reads": {"enabled": False, "percentage": 25}
    }
    assert changed["VersionLabel"] == "v2"


# --- the list of fixes -------------------------------------------------------------------------


# Each fix and the test of this file that shows it.
TESTS = {
    "acm:imported-certificate-chain": test_acm_imported_certificate_keeps_its_chain,
    "appconfig:feature-flag-rollout": test_appconfig_environments_strategies_deployments_and_flag_documents,
    "appconfigdata:configuration-sessions": (
        test_appconfigdata_sessions_serve_the_deployed_flags_once_then_empty
    ),
    "backup:describe-missing-vault-access-denied": test_backup_describe_missing_vault_is_access_denied,
    "backup:plan-updates-and-selections": test_backup_plan_updates_and_selections,
    "budgets:update-budget-and-subscribers": test_budgets_update_budget_and_subscribers_of_a_notification,
    "ce:cost-allocation-tags": test_ce_cost_allocation_tags_are_listed_and_activated,
    "cognito-idp:mfa-required-before-tokens": test_cognito_mfa_required_gives_no_tokens_before_a_factor,
    "cognito-idp:refresh-token-rotation": test_cognito_refresh_token_rotation,
    "cognito-idp:token-lifetimes-and-pool-tags": (
        test_cognito_token_lifetimes_follow_the_client_and_pools_are_taggable
    ),
    "cloudfront:cache-behavior-unset-members": test_cloudfront_cache_behavior_leaves_out_unset_members,
    "config:rule-evaluation-modes-missing-names": test_config_rule_evaluation_modes_and_missing_names,
    "ec2:describe-tags-resource-types": test_ec2_describe_tags_speaks_aws_resource_types,
    "ec2:launch-template-own-tags": test_ec2_launch_template_tags_stay_out_of_its_data,
    "eks:nodegroup-update-config-version-ami": test_eks_nodegroup_update_config_version_and_default_ami,
    "eks:nodegroup-tags": test_eks_nodegroup_tags,
    "eks:update-nodegroup-version": test_eks_update_nodegroup_version_moves_the_launch_template_version,
    "eks:addons": test_eks_addons_their_versions_configuration_and_tags,
    "elasticache:auth-token-update-strategy": test_elasticache_auth_token_update_strategy,
    "elbv2:application-load-balancer-attributes": test_elbv2_application_load_balancer_gives_every_attribute,
    "kms:sign-verify-digest": test_kms_sign_and_verify_a_digest,
    "rds:parameter-groups-and-parameters": test_rds_parameter_groups_and_parameters,
    "rds:managed-master-user-secret": test_rds_managed_master_user_secret_as_rds_makes_and_rotates_it,
    "s3:bucket-policy-request-context": test_s3_bucket_policy_is_evaluated_with_the_request_context,
    "s3:compliance-retention-kept": test_s3_compliance_retention_cannot_be_weakened,
    "s3:default-retention-days-or-years": test_s3_default_retention_in_days_or_years,
    "secretsmanager:current-follows-the-label": test_secretsmanager_a_plain_read_is_the_new_current,
    "secretsmanager:deleted-secret-value": test_secretsmanager_get_secret_value_of_a_deleted_secret,
    "secretsmanager:rotation-lambda-schedule": (
        test_secretsmanager_rotation_lambda_schedule_without_a_rotation
    ),
    "secretsmanager:rotation-lambda-in-process": (
        test_secretsmanager_rotation_runs_the_platforms_function_in_process
    ),
    "wafv2:list-resources-for-web-acl": test_wafv2_list_resources_for_web_acl_and_one_acl_per_resource,
}


def test_every_fix_is_tested_and_documented():
    sys.path.insert(0, str(FILES))
    try:
        import moto_fidelity
    finally:
        sys.path.remove(str(FILES))
    table = DOCS.read_text()
    assert sorted(f"{fix.service}:{fix.name}" for fix in moto_fidelity.FIXES) == sorted(TESTS)
    for fix in moto_fidelity.FIXES:
        key = f"{fix.service}:{fix.name}"
        assert fix.reference.startswith("https://docs.aws.amazon.com/"), fix
        assert fix.upstream, fix
        # The table row: the fix, its reference, its test and the upstream note.
        (row,) = [line for line in table.splitlines() if line.startswith(f"| `{key}` |")]
        assert TESTS[key].__name__ in row, row
        assert fix.reference.split(";")[0].split(" ")[0] in row, row
