"""Least privilege of the cluster's controllers' IRSA roles (aws_eks, issue 20), as the local deploy
made them on the local endpoint: each trusts one kube-system service account of the cluster's OIDC
provider; the AWS Load Balancer Controller has exactly its published policy (vendored unchanged in
roles/aws_eks/files/aws-load-balancer-controller/), and every action it allows on every resource is
listed here with the reason; the Cluster Autoscaler reads on every resource and resizes only groups
tagged for this cluster."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import ROOT
from tests.integration.test_least_privilege import NAME, _document, _inline, _list, broad_grants, evaluate

pytestmark = pytest.mark.integration

LBC = f"{NAME}-aws-load-balancer-controller"
AUTOSCALER = f"{NAME}-cluster-autoscaler"
PUBLISHED = ROOT / "roles" / "aws_eks" / "files" / "aws-load-balancer-controller" / "iam_policy.json"

# What the published policy allows on every resource ("*"), and why (kept as published: the
# controller's maintainers decide it, and a narrower copy breaks on their next release).
_READS = "a read: these APIs take no resource-level permission"
_TAGGED = "only on what the controller tagged itself (a condition on its tag)"
_WEB = "the controller attaches WAF and Shield protections to the load balancers it manages (annotations)"
_LISTENERS = "listeners and rules of the load balancers it manages (unconditioned in the published policy)"
LBC_WILDCARD_REASONS = {
    "iam:CreateServiceLinkedRole": "the ELB service-linked role, once per account (ELB's only)",
    "ec2:CreateSecurityGroup": "a group has no ARN before it exists (tagged on creation only)",
    "ec2:AuthorizeSecurityGroupIngress": "opens the pods' group to the load balancer (TargetGroupBinding)",
    "ec2:RevokeSecurityGroupIngress": "closes what it opened (TargetGroupBinding networking)",
    "ec2:DeleteSecurityGroup": _TAGGED,
    "elasticloadbalancing:CreateLoadBalancer": _TAGGED,
    "elasticloadbalancing:CreateTargetGroup": _TAGGED,
    "elasticloadbalancing:ModifyLoadBalancerAttributes": _TAGGED,
    "elasticloadbalancing:SetIpAddressType": _TAGGED,
    "elasticloadbalancing:SetSecurityGroups": _TAGGED,
    "elasticloadbalancing:SetSubnets": _TAGGED,
    "elasticloadbalancing:DeleteLoadBalancer": _TAGGED,
    "elasticloadbalancing:ModifyTargetGroup": _TAGGED,
    "elasticloadbalancing:ModifyTargetGroupAttributes": _TAGGED,
    "elasticloadbalancing:DeleteTargetGroup": _TAGGED,
    "elasticloadbalancing:ModifyListenerAttributes": _TAGGED,
    "elasticloadbalancing:ModifyCapacityReservation": _TAGGED,
    "elasticloadbalancing:ModifyIpPools": _TAGGED,
    "elasticloadbalancing:CreateListener": _LISTENERS,
    "elasticloadbalancing:DeleteListener": _LISTENERS,
    "elasticloadbalancing:CreateRule": _LISTENERS,
    "elasticloadbalancing:DeleteRule": _LISTENERS,
    "elasticloadbalancing:ModifyListener": _LISTENERS,
    "elasticloadbalancing:ModifyRule": _LISTENERS,
    "elasticloadbalancing:SetRulePriorities": _LISTENERS,
    "elasticloadbalancing:AddListenerCertificates": _LISTENERS,
    "elasticloadbalancing:RemoveListenerCertificates": _LISTENERS,
    "elasticloadbalancing:SetWebAcl": _WEB,
    "waf-regional:AssociateWebACL": _WEB,
    "waf-regional:DisassociateWebACL": _WEB,
    "wafv2:AssociateWebACL": _WEB,
    "wafv2:DisassociateWebACL": _WEB,
    "shield:CreateProtection": _WEB,
    "shield:DeleteProtection": _WEB,
    "iam:GetServerCertificate": _READS,
}


def _is_read(action: str) -> bool:
    verb = action.split(":", 1)[1]
    return verb.startswith(("Describe", "Get", "List"))


@pytest.fixture(scope="module")
def iam(aws):
    return aws("iam")


def _trust(iam, role: str) -> dict:
    return _document(iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"])


@pytest.mark.soc2("CC6.1", "CC6.3")
@pytest.mark.parametrize(
    ("role", "account"), [(LBC, "aws-load-balancer-controller"), (AUTOSCALER, "cluster-autoscaler")]
)
def test_each_controller_role_trusts_one_service_account_of_the_cluster(iam, aws, role, account):
    cluster = aws("eks").describe_cluster(name=NAME)["cluster"]
    issuer = cluster["identity"]["oidc"]["issuer"].removeprefix("https://")
    (statement,) = _list(_trust(iam, role)["Statement"])
    assert statement["Principal"]["Federated"].endswith(f":oidc-provider/{issuer}")
    assert set(statement["Condition"]) == {"StringEquals"}, "no wildcard subject"
    statements = _list(_trust(iam, role)["Statement"])
    ours = {
        f"{issuer}:aud": "sts.amazonaws.com",
        f"{issuer}:sub": f"system:serviceaccount:kube-system:{account}",
    }
    assert evaluate(statements, "sts:AssumeRoleWithWebIdentity", None, ours) == "allowed"
    for other in (
        {**ours, f"{issuer}:sub": f"system:serviceaccount:giftcrypto:{account}"},
        {**ours, f"{issuer}:sub": "system:serviceaccount:kube-system:default"},
        {**ours, f"{issuer}:aud": "another-audience"},
    ):
        assert evaluate(statements, "sts:AssumeRoleWithWebIdentity", None, other) == "denied", other
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []


@pytest.mark.soc2("CC6.1", "CC6.3")
def test_the_load_balancer_controller_has_its_published_policy_and_each_wildcard_its_reason(iam):
    (document,) = _inline(iam, "role", LBC).values()
    assert document == json.loads(PUBLISHED.read_text(encoding="utf-8")), "the published policy, unchanged"
    assert not broad_grants(document)
    unexplained = sorted(
        action
        for statement in _list(document["Statement"])
        if statement["Effect"] == "Allow" and "*" in _list(statement.get("Resource"))
        for action in _list(statement["Action"])
        if not _is_read(action) and action not in LBC_WILDCARD_REASONS
    )
    assert not unexplained, f"actions on every resource without a reason here: {unexplained}"


@pytest.mark.soc2("CC6.1", "CC6.3")
def test_the_cluster_autoscaler_reads_everywhere_and_resizes_only_this_clusters_groups(iam, account_id):
    (document,) = _inline(iam, "role", AUTOSCALER).values()
    assert not broad_grants(document)
    statements = _list(document["Statement"])
    for statement in statements:
        if "*" in _list(statement["Resource"]) and "Condition" not in statement:
            assert all(_is_read(a) for a in _list(statement["Action"])), statement
    group = f"arn:aws:autoscaling:us-east-1:{account_id}:autoScalingGroup:uuid:autoScalingGroupName/g"
    ours = {
        f"aws:ResourceTag/k8s.io/cluster-autoscaler/{NAME}": "owned",
        "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": "true",
    }
    assert evaluate(statements, "autoscaling:SetDesiredCapacity", group, ours) == "allowed"
    other = {
        "aws:ResourceTag/k8s.io/cluster-autoscaler/another-cluster": "owned",
        "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": "true",
    }
    assert evaluate(statements, "autoscaling:SetDesiredCapacity", group, other) == "denied"
    assert evaluate(statements, "autoscaling:TerminateInstanceInAutoScalingGroup", group, {}) == "denied"
    nodegroup = f"arn:aws:eks:us-east-1:{account_id}:nodegroup/{NAME}/scaling/0"
    assert evaluate(statements, "eks:DescribeNodegroup", nodegroup) == "allowed"
    assert evaluate(statements, "eks:DescribeNodegroup", nodegroup.replace(NAME, "another")) == "denied"
    assert evaluate(statements, "autoscaling:CreateAutoScalingGroup", group, ours) == "denied"


@pytest.fixture(scope="module")
def account_id(aws) -> str:
    return aws("sts").get_caller_identity()["Account"]
