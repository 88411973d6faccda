"""The scenario's runner on the local endpoint: a security group without inbound rules, a service
role only CodeBuild of this account may assume, whose policy grants the builds' needs and nothing
wide, and the builds' log group with its retention."""

from __future__ import annotations

import pytest

NAME = "giftcrypto-molecule-runner-ci-runner"


@pytest.fixture(scope="module")
def security_group(aws):
    groups = aws("ec2").describe_security_groups(Filters=[{"Name": "group-name", "Values": [NAME]}])
    assert len(groups["SecurityGroups"]) == 1
    return groups["SecurityGroups"][0]


def test_the_security_group_takes_no_inbound_traffic(security_group):
    assert security_group["IpPermissions"] == []


def test_the_security_group_reaches_https_anywhere_and_the_data_ports_in_the_vpc_only(security_group):
    egress = {
        (rule["FromPort"], tuple(r["CidrIp"] for r in rule["IpRanges"]))
        for rule in security_group["IpPermissionsEgress"]
    }
    assert egress == {(443, ("0.0.0.0/0",)), (5432, ("10.77.0.0/16",)), (6379, ("10.77.0.0/16",))}


def test_only_codebuild_of_this_account_may_assume_the_service_role(aws, policy):
    role = aws("iam").get_role(RoleName=NAME)["Role"]
    trust = role["AssumeRolePolicyDocument"]
    (statement,) = policy(trust)["Statement"]
    assert statement["Principal"] == {"Service": "codebuild.amazonaws.com"}
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnLike": {"aws:SourceArn": f"arn:aws:codebuild:us-east-1:123456789012:project/{NAME}"},
    }


def test_the_service_role_grants_the_builds_needs_and_nothing_wide(aws, policy):
    iam = aws("iam")
    assert iam.list_attached_role_policies(RoleName=NAME)["AttachedPolicies"] == []
    document = iam.get_role_policy(RoleName=NAME, PolicyName="ci-runner-permissions")["PolicyDocument"]
    document = policy(document)
    actions = {
        a
        for s in document["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert "logs:PutLogEvents" in actions and "ec2:CreateNetworkInterfacePermission" in actions
    assert not [a for a in actions if a.endswith(":*") or a == "*"]
    assert not [a for a in actions if a.startswith(("iam:", "sts:", "eks:", "kms:", "secretsmanager:"))]
    permission = next(
        s for s in document["Statement"] if s.get("Sid") == "AttachTheBuildsInterfacesToThePrivateSubnets"
    )
    subnets = permission["Condition"]["ArnEquals"]["ec2:Subnet"]
    assert len(subnets) == 2 and all(":subnet/subnet-" in s for s in subnets)


def test_the_builds_log_group_keeps_thirty_days(aws):
    groups = aws("logs").describe_log_groups(logGroupNamePrefix=f"/aws/codebuild/{NAME}")["logGroups"]
    assert [(g["logGroupName"], g.get("retentionInDays")) for g in groups] == [(f"/aws/codebuild/{NAME}", 30)]
