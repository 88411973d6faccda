"""giftcrypto.platform.eks_nodegroup against moto: check mode, create, no-op (the second run that
community.aws.eks_nodegroup fails with 'updateConfig'), scaling, labels and tags updated, the
autoscaler's desired size kept, what EKS cannot change refused, bad scaling refused, delete."""

from __future__ import annotations

import boto3
import pytest
from ansible_collections.giftcrypto.platform.plugins.modules import eks_nodegroup
from moto import mock_aws

from tests.unit import moto_modules
from tests.unit.moto_modules import ACCOUNT_ID, REGION

CLUSTER = "giftcrypto-test"
NAME = "general"
ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/giftcrypto-test-eks-node"
TAGS = {"Project": "GiftCrypto"}

aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(eks_nodegroup)


def _eks():
    return boto3.client("eks", region_name=REGION)


def _cluster() -> list[str]:
    """A VPC with two subnets and the cluster (inside mock_aws)."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ids = sorted(
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=f"{REGION}{zone}")[
            "Subnet"
        ]["SubnetId"]
        for n, zone in ((1, "a"), (2, "b"))
    )
    _eks().create_cluster(
        name=CLUSTER, roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/cluster", resourcesVpcConfig={"subnetIds": ids}
    )
    return ids


def _args(subnets, **changes) -> dict:
    return {
        "cluster_name": CLUSTER,
        "name": NAME,
        "node_role_arn": ROLE,
        "subnets": subnets,
        "instance_types": ["t3.medium"],
        "min_size": 2,
        "desired_size": 2,
        "max_size": 4,
        "labels": {"workload": "general"},
        "tags": TAGS,
        **changes,
    }


def _stored():
    try:
        return _eks().describe_nodegroup(clusterName=CLUSTER, nodegroupName=NAME)["nodegroup"]
    except _eks().exceptions.ResourceNotFoundException:
        return None


@mock_aws
def test_lifecycle_check_create_noop_update_delete(run_module):
    subnets = _cluster()
    result = run_module(_args(subnets), check_mode=True)
    assert result["rc"] == 0, result
    assert result["changed"] is True
    assert result["updates"] == ["create"]
    assert result["nodegroup"]["status"] == "planned"
    assert _stored() is None

    result = run_module(_args(subnets))
    assert result["changed"] is True, result
    group = result["nodegroup"]
    assert group["instance_types"] == ["t3.medium"]
    assert (group["min_size"], group["desired_size"], group["max_size"]) == (2, 2, 4)
    assert group["labels"] == {"workload": "general"}
    assert group["tags"] == TAGS
    assert group["node_role_arn"] == ROLE

    # The second run: no change (where the stock module fails on 'updateConfig').
    for check_mode in (False, True):
        result = run_module(_args(subnets), check_mode=check_mode)
        assert result["rc"] == 0, result
        assert result["changed"] is False, result

    # Check mode of an update, then the update.
    changes = {"min_size": 3, "desired_size": 4, "max_size": 6, "labels": {"tier": "app"}}
    result = run_module(_args(subnets, **changes), check_mode=True)
    assert result["changed"] is True
    assert result["updates"] == ["scaling", "labels"]
    assert _stored()["scalingConfig"]["maxSize"] == 4
    result = run_module(_args(subnets, **changes))
    assert result["changed"] is True, result
    group = result["nodegroup"]
    assert (group["min_size"], group["desired_size"], group["max_size"]) == (3, 4, 6)
    assert group["labels"] == {"tier": "app"}
    assert run_module(_args(subnets, **changes))["changed"] is False

    # Tags of an existing group (moto tags clusters only: TagResource answered by a stand-in).
    with moto_modules.fake_operations(
        {"TagResource": lambda params: {}, "UntagResource": lambda params: {}}
    ) as calls:
        result = run_module(_args(subnets, **{**changes, "tags": {"Owner": "p"}}))
    assert result["updates"] == ["tags"]
    assert calls == [
        ("UntagResource", {"resourceArn": group["arn"], "tagKeys": ["Project"]}),
        ("TagResource", {"resourceArn": group["arn"], "tags": {"Owner": "p"}}),
    ]

    # The autoscaler's desired size is kept with keep_desired_size, clamped into min..max.
    _eks().update_nodegroup_config(
        clusterName=CLUSTER, nodegroupName=NAME, scalingConfig={"minSize": 3, "desiredSize": 5, "maxSize": 6}
    )
    assert run_module(_args(subnets, keep_desired_size=True, **changes))["changed"] is False
    result = run_module(
        _args(subnets, keep_desired_size=True, **{**changes, "max_size": 4, "desired_size": 3})
    )
    assert result["changed"] is True
    assert result["nodegroup"]["desired_size"] == 4

    result = run_module(_args(subnets, state="absent"))
    assert result["changed"] is True
    assert _stored() is None
    assert run_module(_args(subnets, state="absent"))["changed"] is False


@mock_aws
def test_refuses_what_eks_cannot_change(run_module):
    subnets = _cluster()
    assert run_module(_args(subnets))["changed"] is True
    result = run_module(_args(subnets, instance_types=["t3.large"]))
    assert result["rc"] == 1
    assert "instance_types=['t3.large']" in result["msg"]
    assert "cannot change" in result["msg"]
    result = run_module(_args(subnets, disk_size=50))
    assert result["rc"] == 1
    assert "disk_size=50" in result["msg"]
    assert _stored()["instanceTypes"] == ["t3.medium"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"min_size": 3, "desired_size": 2, "max_size": 4}, "min_size <= desired_size <= max_size"),
        ({"min_size": 1, "desired_size": 5, "max_size": 4}, "min_size <= desired_size <= max_size"),
        ({"max_size": 0, "desired_size": 0, "min_size": 0}, "max_size=0"),
        ({"instance_types": ["t3 medium"]}, "is not an instance type"),
        ({"instance_types": []}, "at least one instance type"),
        ({"name": "bad name"}, "name=bad name"),
    ],
)
@mock_aws
def test_refuses_bad_input_before_any_call(run_module, changes, expected):
    subnets = _cluster()
    result = run_module(_args(subnets, **changes))
    assert result["rc"] == 1, result
    assert "Refused the EKS node group" in result["msg"]
    assert expected in result["msg"]
    assert _eks().list_nodegroups(clusterName=CLUSTER)["nodegroups"] == []
