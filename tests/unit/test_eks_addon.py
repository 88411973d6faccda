"""giftcrypto.platform.eks_addon: check mode, create with EKS's default version, no-op, configuration
change, version moves, tags, delete, refusals.

moto 5.2 has EKS clusters but no add-ons: the add-on operations are answered by
``aws_stand_ins.eks_addons`` through ``moto_modules.fake_operations``, that is by the local
endpoint's emulation of them (``moto_fidelity.eks.AddonsAsAWS``, following the EKS API reference:
CreateAddon, DescribeAddon, UpdateAddon, DeleteAddon, DescribeAddonVersions, TagResource,
UntagResource); request shapes are still validated against botocore's model; the cluster is moto's.
"""

from __future__ import annotations

import json

import boto3
import pytest
from ansible_collections.giftcrypto.platform.plugins.modules import eks_addon
from moto import mock_aws

from tests.unit import aws_stand_ins, moto_modules
from tests.unit.moto_modules import ACCOUNT_ID, REGION

aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(eks_addon)

CLUSTER = "giftcrypto-staging"
POLICIES = {"enableNetworkPolicy": "true"}
PRESENT = {
    "cluster_name": CLUSTER,
    "name": "vpc-cni",
    "configuration_values": POLICIES,
    "tags": {"Project": "GiftCrypto"},
    "wait": False,
}


def create_cluster(name: str = CLUSTER, version: str = "1.36") -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.7.1.0/24")["Subnet"]["SubnetId"]
    boto3.client("eks", region_name=REGION).create_cluster(
        name=name,
        version=version,
        roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/eks",
        resourcesVpcConfig={"subnetIds": [subnet]},
    )


def _versions() -> tuple[str, str]:
    """The default and the newest vpc-cni version the stand-in's DescribeAddonVersions lists for 1.36."""
    (info,) = aws_stand_ins.eks_addons()[1]["DescribeAddonVersions"](
        {"addonName": "vpc-cni", "kubernetesVersion": "1.36"}
    )["addons"]
    versions = {
        v["addonVersion"]: any(c["defaultVersion"] for c in v["compatibilities"])
        for v in info["addonVersions"]
    }
    default = next(v for v, is_default in versions.items() if is_default)
    newest = max(versions, key=eks_addon.version_key)
    assert default != newest, "the catalogue needs a newer version than the default"
    return default, newest


DEFAULT_VERSION, NEWEST_VERSION = _versions()


@pytest.fixture
def eks():
    addons, handlers = aws_stand_ins.eks_addons()
    with mock_aws():
        create_cluster()
        with moto_modules.fake_operations(handlers) as calls:
            yield {"addons": addons, "calls": calls}


def _writes(calls) -> list[str]:
    return [name for name, _ in calls if not name.startswith(("Describe", "List"))]


def _addon(eks) -> dict:
    return eks["addons"][(CLUSTER, "vpc-cni")]


def test_lifecycle_check_create_noop_change_delete(run_module, eks):
    # Check mode on nothing: the creation at EKS's default version is planned, nothing is written.
    result = run_module(PRESENT, check_mode=True)
    assert result["rc"] == 0, result
    assert result["planned"] == "create" and result["changed"] is True
    assert result["addon"]["addon_version"] == DEFAULT_VERSION
    assert result["addon"]["configuration_values"] == POLICIES
    assert {"addon_version", "configuration_values", "tags"} <= set(result["changes"])
    assert result["unverified"] == [] and result["diff"]["before"] == {}
    assert _writes(eks["calls"]) == []

    result = run_module(PRESENT)
    assert result["planned"] == "create" and result["rc"] == 0, result
    assert _writes(eks["calls"]) == ["CreateAddon"]
    (request,) = [params for name, params in eks["calls"] if name == "CreateAddon"]
    assert request["resolveConflicts"] == "OVERWRITE"
    assert json.loads(request["configurationValues"]) == POLICIES
    assert _addon(eks)["addonVersion"] == DEFAULT_VERSION
    assert _addon(eks)["tags"] == {"Project": "GiftCrypto"}
    assert result["addon"]["status"] == "ACTIVE"
    assert result["addon"]["addon_arn"].startswith(
        f"arn:aws:eks:{REGION}:{ACCOUNT_ID}:addon/{CLUSTER}/vpc-cni/"
    )

    # Again, and in check mode: nothing to do.
    eks["calls"].clear()
    for check in (True, False):
        result = run_module(PRESENT, check_mode=check)
        assert result["changed"] is False and result["changes"] == [], result
    assert _writes(eks["calls"]) == []

    # Network policies off, another tag: one UpdateAddon with the configuration only, one TagResource.
    changed = {**PRESENT, "configuration_values": {"enableNetworkPolicy": "false"}, "tags": {"Layer": "eks"}}
    result = run_module(changed, check_mode=True)
    assert result["changes"] == ["configuration_values", "tags"], result
    assert _writes(eks["calls"]) == []
    result = run_module(changed)
    assert result["planned"] == "update", result
    assert _writes(eks["calls"]) == ["UpdateAddon", "UntagResource", "TagResource"]
    (request,) = [params for name, params in eks["calls"] if name == "UpdateAddon"]
    assert "addonVersion" not in request and "serviceAccountRoleArn" not in request
    assert json.loads(_addon(eks)["configurationValues"]) == {"enableNetworkPolicy": "false"}
    assert _addon(eks)["tags"] == {"Layer": "eks"}
    assert result["diff"]["before"]["configuration_values"] == POLICIES
    assert run_module(changed)["changed"] is False

    # Delete: check mode first, then for real, then nothing left to do.
    absent = {"cluster_name": CLUSTER, "name": "vpc-cni", "state": "absent", "wait": False}
    assert run_module(absent, check_mode=True)["planned"] == "delete"
    assert (CLUSTER, "vpc-cni") in eks["addons"]
    result = run_module(absent)
    assert result["planned"] == "delete" and result["addon"] == {}, result
    assert eks["addons"] == {}
    assert run_module(absent)["changed"] is False


def test_a_pinned_version_moves_up_and_default_never_moves_down(run_module, eks):
    run_module(PRESENT)
    pinned = {**PRESENT, "addon_version": NEWEST_VERSION}
    result = run_module(pinned)
    assert result["changes"] == ["addon_version"], result
    assert _addon(eks)["addonVersion"] == NEWEST_VERSION
    # Back to "default": EKS's default is older, and EKS cannot downgrade: the add-on keeps its version.
    result = run_module(PRESENT)
    assert result["planned"] == "none", result
    assert result["addon"]["addon_version"] == NEWEST_VERSION
    # An older version asked for by name is refused, naming both.
    result = run_module({**PRESENT, "addon_version": DEFAULT_VERSION})
    assert result["failed"] is True, result
    assert f"addon_version={DEFAULT_VERSION}: the add-on runs {NEWEST_VERSION}" in result["msg"]
    assert "EKS cannot downgrade an add-on" in result["msg"]


def test_unset_options_leave_the_addon_alone(run_module, eks):
    role = f"arn:aws:iam::{ACCOUNT_ID}:role/vpc-cni"
    run_module({**PRESENT, "service_account_role_arn": role})
    bare = {"cluster_name": CLUSTER, "name": "vpc-cni", "wait": False}
    result = run_module(bare)
    assert result["planned"] == "none", result
    assert result["addon"]["configuration_values"] == POLICIES
    assert result["addon"]["service_account_role_arn"] == role
    assert result["addon"]["tags"] == {"Project": "GiftCrypto"}


def test_a_version_eks_does_not_list_is_refused_by_eks(run_module, eks):
    result = run_module({**PRESENT, "addon_version": "v0.0.1-eksbuild.1"})
    assert result["failed"] is True, result
    assert "Could not create the EKS add-on vpc-cni of giftcrypto-staging" in result["msg"]
    assert eks["addons"] == {}


def test_wait_until_the_addon_is_active(run_module, eks):
    result = run_module({**PRESENT, "wait": True, "wait_timeout": 30})
    assert result["rc"] == 0 and result["addon"]["status"] == "ACTIVE", result


def test_a_failed_addon_fails_the_wait_with_its_health_issues(run_module, eks):
    run_module(PRESENT)
    _addon(eks)["status"] = "UPDATE_FAILED"
    _addon(eks)["health"] = {"issues": [{"code": "ConfigurationConflict", "message": "aws-node differs"}]}
    result = run_module({**PRESENT, "configuration_values": {}, "wait": True, "wait_timeout": 30})
    assert result["failed"] is True, result
    assert "its status is UPDATE_FAILED: aws-node differs" in result["msg"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"cluster_name": "-staging"}, "cluster_name: a letter or digit"),
        ({"name": "VPC CNI"}, "name: an add-on name as DescribeAddonVersions lists it"),
        ({"addon_version": "latest"}, "addon_version: 'default' or a version such as v1.22.4-eksbuild.1"),
        ({"service_account_role_arn": "vpc-cni-role"}, "service_account_role_arn: the ARN of an IAM role"),
    ],
)
def test_bad_options_are_refused_before_any_call(run_module, eks, args, message):
    result = run_module({**PRESENT, **args})
    assert result["failed"] is True and message in result["msg"], result
    assert result["msg"].startswith("Refused before any change: ")
    assert eks["calls"] == []


def test_a_missing_cluster_is_unverified_in_check_mode_and_refused_for_real(run_module, eks):
    elsewhere = {**PRESENT, "cluster_name": "giftcrypto-later"}
    planned = run_module(elsewhere, check_mode=True)
    assert planned["planned"] == "create", planned
    assert planned["addon"]["addon_version"] == "default"
    assert planned["unverified"] == [
        "cluster_name: the cluster giftcrypto-later does not exist (yet): giftcrypto.platform.eks_cluster "
        "creates it; the add-on's version is EKS's default then"
    ]
    result = run_module(elsewhere)
    assert result["failed"] is True, result
    assert "no such cluster: create it first (giftcrypto.platform.eks_cluster)" in result["msg"]
    assert _writes(eks["calls"]) == []


def test_the_version_follows_a_cluster_that_moved_up(run_module, eks):
    """EKS's default is asked for the cluster's own Kubernetes version on every run."""
    result = run_module({**PRESENT, "cluster_name": "old"}, check_mode=True)
    assert "does not exist" in result["unverified"][0]
    create_cluster("old", version="1.29")  # a version the catalogue has no vpc-cni for
    result = run_module({**PRESENT, "cluster_name": "old"})
    assert result["failed"] is True, result
    assert "EKS lists no default version of vpc-cni for Kubernetes 1.29" in result["msg"]
