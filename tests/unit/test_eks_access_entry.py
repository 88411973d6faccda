"""giftcrypto.platform.eks_access_entry: check mode, create, no-op, policy change, tags, delete.

moto 5.2 has EKS clusters but no access entries: the access entry operations are answered by the
in-memory stand-in of ``aws_stand_ins.eks_access_entries`` through ``moto_modules.fake_operations``
(the request shapes are still validated against botocore's model before they reach it), following
the EKS API reference (CreateAccessEntry, DescribeAccessEntry, UpdateAccessEntry, DeleteAccessEntry,
AssociateAccessPolicy, DisassociateAccessPolicy, ListAssociatedAccessPolicies, TagResource,
UntagResource); the cluster is moto's.
"""

from __future__ import annotations

import boto3
import pytest
from ansible_collections.giftcrypto.platform.plugins.modules import eks_access_entry
from moto import mock_aws

from tests.unit import aws_stand_ins, moto_modules
from tests.unit.moto_modules import ACCOUNT_ID, REGION

aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(eks_access_entry)

CLUSTER = "giftcrypto-staging"
PRINCIPAL = f"arn:aws:iam::{ACCOUNT_ID}:role/giftcrypto-staging-ci-deploy"
ADMIN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
EDIT = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy"
PRESENT = {
    "cluster_name": CLUSTER,
    "principal_arn": PRINCIPAL,
    "access_policies": [{"policy_arn": ADMIN, "scope": "cluster"}],
    "tags": {"Project": "GiftCrypto"},
}


def create_cluster(name: str = CLUSTER) -> None:
    """An EKS cluster in moto (the module checks that it exists before creating an entry)."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.7.1.0/24")["Subnet"]["SubnetId"]
    boto3.client("eks", region_name=REGION).create_cluster(
        name=name, roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/eks", resourcesVpcConfig={"subnetIds": [subnet]}
    )


@pytest.fixture
def eks():
    """The in-memory access entries of one cluster, and the operations that reach them."""
    entries, handlers = aws_stand_ins.eks_access_entries(CLUSTER)
    with mock_aws():
        create_cluster()
        with moto_modules.fake_operations(handlers) as calls:
            yield {"entries": entries, "calls": calls}


def _writes(calls) -> list[str]:
    return [name for name, _ in calls if not name.startswith(("Describe", "List"))]


def test_lifecycle_check_create_noop_change_delete(run_module, eks):
    # Check mode on nothing: the creation and the association are planned, nothing is written.
    result = run_module(PRESENT, check_mode=True)
    assert result["rc"] == 0, result
    assert result["planned"] == "create" and result["changed"] is True
    assert "access_policies" in result["changes"] and "tags" in result["changes"]
    assert result["access_entry"]["access_policies"] == [
        {"policy_arn": ADMIN, "scope": "cluster", "namespaces": []}
    ]
    assert result["unverified"] == []
    assert result["diff"]["before"] == {}
    assert _writes(eks["calls"]) == []

    result = run_module(PRESENT)
    assert result["planned"] == "create" and result["rc"] == 0, result
    assert _writes(eks["calls"]) == ["CreateAccessEntry", "AssociateAccessPolicy"]
    assert result["access_entry"]["access_policies"] == [
        {"policy_arn": ADMIN, "scope": "cluster", "namespaces": []}
    ]
    assert result["access_entry"]["username"].startswith(f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/")
    assert eks["entries"][PRINCIPAL]["tags"] == {"Project": "GiftCrypto"}

    # Again, and in check mode: nothing to do.
    eks["calls"].clear()
    for check in (True, False):
        result = run_module(PRESENT, check_mode=check)
        assert result["changed"] is False and result["changes"] == [], result
    assert _writes(eks["calls"]) == []

    # Namespace-scoped edit rights instead of cluster admin, another tag, a group.
    changed = {
        **PRESENT,
        "kubernetes_groups": ["giftcrypto-deployers"],
        "access_policies": [
            {"policy_arn": EDIT, "scope": "namespace", "namespaces": ["monitoring", "giftcrypto"]}
        ],
        "tags": {"Project": "GiftCrypto", "Layer": "ci"},
    }
    result = run_module(changed, check_mode=True)
    assert result["changes"] == [
        "access_policies.AmazonEKSClusterAdminPolicy",
        "access_policies.AmazonEKSEditPolicy",
        "kubernetes_groups",
        "tags",
    ], result
    assert _writes(eks["calls"]) == []
    result = run_module(changed)
    assert result["planned"] == "update", result
    assert _writes(eks["calls"]) == [
        "UpdateAccessEntry",
        "DisassociateAccessPolicy",
        "AssociateAccessPolicy",
        "TagResource",
    ]
    assert set(eks["entries"][PRINCIPAL]["policies"]) == {EDIT}
    assert eks["entries"][PRINCIPAL]["policies"][EDIT]["accessScope"] == {
        "type": "namespace",
        "namespaces": ["giftcrypto", "monitoring"],
    }
    assert eks["entries"][PRINCIPAL]["kubernetesGroups"] == ["giftcrypto-deployers"]
    assert eks["entries"][PRINCIPAL]["tags"] == {"Project": "GiftCrypto", "Layer": "ci"}
    assert result["diff"]["before"]["access_policies"][0]["policy_arn"] == ADMIN
    assert result["access_entry"]["tags"] == {"Project": "GiftCrypto", "Layer": "ci"}
    assert run_module(changed)["changed"] is False

    # Delete: check mode first, then for real, then nothing left to do.
    absent = {"cluster_name": CLUSTER, "principal_arn": PRINCIPAL, "state": "absent"}
    assert run_module(absent, check_mode=True)["planned"] == "delete"
    assert PRINCIPAL in eks["entries"]
    result = run_module(absent)
    assert result["planned"] == "delete" and result["access_entry"] == {}, result
    assert eks["entries"] == {}
    assert run_module(absent)["changed"] is False


def test_policies_not_listed_stay_without_purge(run_module, eks):
    run_module(PRESENT)
    result = run_module(
        {**PRESENT, "access_policies": [{"policy_arn": EDIT}], "purge_access_policies": False}
    )
    assert result["changes"] == ["access_policies.AmazonEKSEditPolicy"], result
    assert set(eks["entries"][PRINCIPAL]["policies"]) == {ADMIN, EDIT}


def test_unset_options_leave_the_entry_alone(run_module, eks):
    run_module({**PRESENT, "kubernetes_groups": ["a"], "username": "ci-deploy:{{SessionName}}"})
    bare = {"cluster_name": CLUSTER, "principal_arn": PRINCIPAL}
    result = run_module(bare)
    assert result["planned"] == "none", result
    assert result["access_entry"]["kubernetes_groups"] == ["a"]
    assert result["access_entry"]["username"] == "ci-deploy:{{SessionName}}"
    assert result["access_entry"]["tags"] == {"Project": "GiftCrypto"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            {"access_policies": [{"policy_arn": EDIT, "scope": "namespace"}]},
            f"access_policies: {EDIT} has a namespace scope without namespaces",
        ),
        ({"access_policies": [{"policy_arn": EDIT, "namespaces": ["a"]}]}, "cluster scope and namespaces"),
        (
            {"access_policies": [{"policy_arn": "AmazonEKSEditPolicy"}]},
            "is not the ARN of an EKS access policy",
        ),
        ({"principal_arn": "giftcrypto-staging-ci-deploy"}, "principal_arn: the ARN of an IAM role or user"),
        (
            {"principal_arn": f"arn:aws:iam::{ACCOUNT_ID}:user/ops", "type": "FARGATE_LINUX"},
            "principal_arn: an entry of type FARGATE_LINUX is for nodes",
        ),
        ({"cluster_name": "-staging"}, "cluster_name: a letter or digit"),
        ({"username": "system:admin"}, "username: not empty nor starting with system:"),
        (
            {"type": "EC2_LINUX"},
            "type: an EC2_LINUX entry takes neither kubernetes_groups nor access_policies",
        ),
    ],
)
def test_bad_options_are_refused_before_any_call(run_module, eks, args, message):
    result = run_module({**PRESENT, **args})
    assert result["failed"] is True and message in result["msg"], result
    assert result["msg"].startswith("Refused before any change: ")
    assert eks["calls"] == []


def test_the_type_of_an_entry_cannot_change(run_module, eks):
    run_module(PRESENT)
    result = run_module({**PRESENT, "type": "EC2"})
    assert result["failed"] is True, result
    assert result["msg"] == (
        f"Plan the EKS access entry of {PRINCIPAL} on {CLUSTER}: type=EC2: the entry is of type STANDARD, "
        "which EKS cannot change; delete it first (state=absent)"
    )


def test_a_missing_cluster_is_unverified_in_check_mode_and_refused_for_real(run_module, eks):
    elsewhere = {**PRESENT, "cluster_name": "giftcrypto-later"}
    planned = run_module(elsewhere, check_mode=True)
    assert planned["planned"] == "create", planned
    assert planned["unverified"] == [
        "cluster_name: the cluster giftcrypto-later does not exist (yet): "
        "giftcrypto.platform.eks_cluster creates it"
    ]
    result = run_module(elsewhere)
    assert result["failed"] is True, result
    assert "no such cluster: create it first (giftcrypto.platform.eks_cluster)" in result["msg"]
    assert _writes(eks["calls"]) == []
