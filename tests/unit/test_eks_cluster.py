"""giftcrypto.platform.eks_cluster against moto: check mode, create, no-op, updates (endpoint
access, logs, tags), the guards (public endpoint to the world, another secrets key, a jump of two
minor versions, a downgrade kept), encryption added to an unencrypted cluster and a version
upgrade (AssociateEncryptionConfig and UpdateClusterVersion, which moto lacks, answered by
stand-ins), delete refused while node groups remain, delete."""

from __future__ import annotations

import json

import boto3
import pytest
from ansible_collections.giftcrypto.platform.plugins.modules import eks_cluster
from moto import mock_aws

from tests.unit import moto_modules
from tests.unit.moto_modules import ACCOUNT_ID, REGION

NAME = "giftcrypto-test"
ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/giftcrypto-test-eks-cluster"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/11111111-2222-3333-4444-555555555555"
OTHER_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/99999999-2222-3333-4444-555555555555"
TAGS = {"Project": "GiftCrypto", "Environment": "test"}

aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(eks_cluster)


def _eks():
    return boto3.client("eks", region_name=REGION)


def _subnets() -> list[str]:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    return sorted(
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=f"{REGION}{zone}")[
            "Subnet"
        ]["SubnetId"]
        for n, zone in ((1, "a"), (2, "b"))
    )


def _args(subnets, **changes) -> dict:
    return {
        "name": NAME,
        "version": "1.30",
        "role_arn": ROLE,
        "subnets": subnets,
        "secrets_kms_key_arn": KEY,
        "logging_types": ["api", "audit", "authenticator"],
        "tags": TAGS,
        "wait": True,
        **changes,
    }


def _stored():
    try:
        return _eks().describe_cluster(name=NAME)["cluster"]
    except _eks().exceptions.ResourceNotFoundException:
        return None


@mock_aws
def test_lifecycle_check_create_noop_update_delete(run_module):
    subnets = _subnets()
    # Check mode on nothing: planned, nothing made.
    result = run_module(_args(subnets), check_mode=True)
    assert result["rc"] == 0, result
    assert result["changed"] is True
    assert result["planned"] == "create"
    assert result["cluster"]["status"] == "planned"
    assert result["cluster"]["endpoint_public_access"] is False
    assert result["cluster"]["secrets_kms_key_arn"] == KEY
    assert result["diff"]["before"] == {}
    assert _stored() is None

    # Create: private endpoint, encrypted secrets, the three log types, tags.
    result = run_module(_args(subnets))
    assert result["changed"] is True, result
    cluster = result["cluster"]
    assert cluster["arn"] == f"arn:aws:eks:{REGION}:{ACCOUNT_ID}:cluster/{NAME}"
    assert cluster["version"] == "1.30"
    assert cluster["endpoint_private_access"] is True
    assert cluster["endpoint_public_access"] is False
    assert cluster["public_access_cidrs"] == []
    assert cluster["secrets_kms_key_arn"] == KEY
    assert cluster["logging_types"] == ["api", "audit", "authenticator"]
    assert cluster["oidc_issuer"].startswith(f"https://oidc.eks.{REGION}.amazonaws.com/id/")
    assert cluster["tags"] == TAGS
    stored = _stored()
    assert stored["encryptionConfig"][0]["provider"]["keyArn"] == KEY
    assert stored["resourcesVpcConfig"]["endpointPublicAccess"] is False

    # No-op, and check mode on the converged cluster.
    for check_mode in (False, True):
        result = run_module(_args(subnets), check_mode=check_mode)
        assert result["changed"] is False, result
        assert result["changes"] == []
        assert result["cluster"]["arn"] == cluster["arn"]

    # Check mode of an update (public endpoint for one range, scheduler logs, a tag): nothing written.
    changes = {
        "endpoint_public_access": True,
        "public_access_cidrs": ["203.0.113.0/24"],
        "logging_types": ["api", "audit", "authenticator", "scheduler"],
        "tags": {**TAGS, "Owner": "platform"},
    }
    result = run_module(_args(subnets, **changes), check_mode=True)
    assert result["changed"] is True
    assert result["changes"] == ["endpoint_public_access", "logging_types", "public_access_cidrs", "tags"]
    assert result["diff"]["after"]["public_access_cidrs"] == ["203.0.113.0/24"]
    assert _stored()["resourcesVpcConfig"]["endpointPublicAccess"] is False

    # The update itself, then a no-op.
    result = run_module(_args(subnets, **changes))
    assert result["changed"] is True, result
    assert result["cluster"]["endpoint_public_access"] is True
    assert result["cluster"]["public_access_cidrs"] == ["203.0.113.0/24"]
    assert result["cluster"]["logging_types"] == ["api", "audit", "authenticator", "scheduler"]
    assert result["cluster"]["tags"]["Owner"] == "platform"
    assert run_module(_args(subnets, **changes))["changed"] is False

    # Back to private, tags purged.
    result = run_module(_args(subnets))
    assert result["changed"] is True
    assert result["cluster"]["endpoint_public_access"] is False
    assert result["cluster"]["tags"] == TAGS

    # Delete refused while a node group remains, then done.
    _eks().create_nodegroup(clusterName=NAME, nodegroupName="general", nodeRole=ROLE, subnets=subnets)
    result = run_module({"name": NAME, "state": "absent"})
    assert result["rc"] == 1
    assert "still has node groups (general)" in result["msg"]
    _eks().delete_nodegroup(clusterName=NAME, nodegroupName="general")
    assert run_module({"name": NAME, "state": "absent"}, check_mode=True)["changed"] is True
    assert _stored() is not None
    result = run_module({"name": NAME, "state": "absent"}, check_mode=True)
    assert result["oidc_issuer"] == cluster["oidc_issuer"]
    result = run_module({"name": NAME, "state": "absent"})
    assert result["changed"] is True
    assert result["oidc_issuer"] == cluster["oidc_issuer"]
    assert _stored() is None
    result = run_module({"name": NAME, "state": "absent"})
    assert result["changed"] is False and result["oidc_issuer"] == ""


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"endpoint_public_access": True, "public_access_cidrs": ["0.0.0.0/0"]},
            "opens the API endpoint to the world",
        ),
        ({"endpoint_public_access": True, "public_access_cidrs": []}, "public_access_cidrs: required"),
        ({"endpoint_public_access": True, "public_access_cidrs": ["10.0.0.300/8"]}, "is not a network"),
        ({"endpoint_private_access": False}, "the API would be unreachable"),
        ({"version": "v1.30"}, "version: a Kubernetes version such as 1.30, got v1.30"),
        (
            {"secrets_kms_key_arn": "alias/eks"},  # pragma: allowlist secret
            "secrets_kms_key_arn: the ARN of a KMS key",
        ),
        (
            {"name": "-bad"},
            "name: a letter or digit then up to 99 letters, digits, hyphens or underscores, got -bad",
        ),
    ],
)
@mock_aws
def test_refuses_bad_input_before_any_call(run_module, changes, expected):
    result = run_module(_args(["subnet-1", "subnet-2"], **changes))
    assert result["rc"] == 1, result
    assert "Refused before any change: " in result["msg"]
    assert expected in result["msg"]
    assert _eks().list_clusters()["clusters"] == []


@mock_aws
def test_refuses_what_eks_cannot_change(run_module):
    subnets = _subnets()
    assert run_module(_args(subnets))["changed"] is True
    result = run_module(_args(subnets, secrets_kms_key_arn=OTHER_KEY))
    assert result["rc"] == 1
    assert f"secrets_kms_key_arn={OTHER_KEY}" in result["msg"]
    result = run_module(_args(subnets, version="1.32"))
    assert result["rc"] == 1
    assert "one minor version at a time (set 1.31 first)" in result["msg"]
    result = run_module(_args(subnets, role_arn=ROLE + "-other"))
    assert result["rc"] == 1
    assert "role_arn=" in result["msg"]
    # A newer version already running is kept, with a warning.
    result = run_module(_args(subnets, version="1.29"))
    assert result["changed"] is False
    assert "cannot downgrade" in json.dumps(result.get("warnings", [])), result
    assert _stored()["encryptionConfig"][0]["provider"]["keyArn"] == KEY


@mock_aws
def test_create_requires_role_and_subnets(run_module):
    result = run_module({"name": NAME})
    assert result["rc"] == 1
    assert "role_arn and subnets required" in result["msg"]


@mock_aws
def test_encryption_and_version_upgrade_of_an_existing_cluster(run_module):
    subnets = _subnets()
    _eks().create_cluster(name=NAME, version="1.29", roleArn=ROLE, resourcesVpcConfig={"subnetIds": subnets})
    with moto_modules.fake_operations(
        {
            "AssociateEncryptionConfig": lambda params: {"update": {"id": "1", "status": "InProgress"}},
            "UpdateClusterVersion": lambda params: {"update": {"id": "2", "status": "InProgress"}},
        }
    ) as calls:
        result = run_module(_args(subnets))
    assert result["changed"] is True, result
    assert result["changes"] == [
        "endpoint_private_access",
        "logging_types",
        "secrets_kms_key_arn",
        "version",
        "tags",
    ]
    names = [name for name, _ in calls]
    assert names == ["AssociateEncryptionConfig", "UpdateClusterVersion"]
    assert calls[0][1]["encryptionConfig"] == [{"resources": ["secrets"], "provider": {"keyArn": KEY}}]
    assert calls[1][1]["version"] == "1.30"
    assert result["cluster"]["logging_types"] == ["api", "audit", "authenticator"]
