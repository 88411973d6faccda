"""giftcrypto.platform.ec2_vpc_endpoint_policy against moto: an endpoint's policy set, kept, changed."""

from __future__ import annotations

import json

import boto3
from ansible_collections.giftcrypto.platform.plugins.modules import ec2_vpc_endpoint_policy
from moto import mock_aws

from tests.unit import moto_modules
from tests.unit.moto_modules import ACCOUNT_ID, REGION

aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(ec2_vpc_endpoint_policy)

OURS = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "OurPrincipalsOnOurBuckets",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": ["arn:aws:s3:::giftcrypto-test-*", "arn:aws:s3:::giftcrypto-test-*/*"],
            "Condition": {
                "StringEquals": {"aws:PrincipalAccount": ACCOUNT_ID, "aws:ResourceAccount": ACCOUNT_ID}
            },
        }
    ],
}


def _endpoint() -> str:
    """An S3 gateway endpoint made as amazon.aws.ec2_vpc_endpoint makes one without a policy."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.6.0.0/16")["Vpc"]["VpcId"]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    return ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.s3", RouteTableIds=[table], VpcEndpointType="Gateway"
    )["VpcEndpoint"]["VpcEndpointId"]


def _policy(endpoint: str) -> dict:
    described = boto3.client("ec2", region_name=REGION).describe_vpc_endpoints(VpcEndpointIds=[endpoint])
    return json.loads(described["VpcEndpoints"][0]["PolicyDocument"])


@mock_aws
def test_the_default_full_access_policy_is_replaced_then_kept(run_module):
    endpoint = _endpoint()
    default = _policy(endpoint)
    assert default["Statement"][0]["Principal"] == "*"  # what the stock module leaves on an existing endpoint

    result = run_module({"vpc_endpoint_id": endpoint, "policy": json.dumps(OURS)}, check_mode=True)
    assert result["rc"] == 0, result
    assert result["changed"] is True and result["planned"] == "update" and result["changes"] == ["policy"]
    assert result["diff"]["before"]["policy"] == default and result["diff"]["after"]["policy"] == OURS
    assert _policy(endpoint) == default

    assert run_module({"vpc_endpoint_id": endpoint, "policy": json.dumps(OURS)})["changed"] is True
    assert _policy(endpoint) == OURS

    # The same document, written with other white space and key order, is no change.
    respelled = json.dumps(OURS, indent=2, sort_keys=True)
    assert run_module({"vpc_endpoint_id": endpoint, "policy": respelled}, check_mode=True)["changed"] is False
    assert run_module({"vpc_endpoint_id": endpoint, "policy": respelled})["changed"] is False


@mock_aws
def test_a_missing_endpoint_fails_and_a_plan_says_what_it_could_not_verify(run_module):
    missing = "vpce-0123456789abcdef0"
    result = run_module({"vpc_endpoint_id": missing, "policy": json.dumps(OURS)})
    assert result["failed"] is True
    assert "the endpoint does not exist: create it first (amazon.aws.ec2_vpc_endpoint)" in result["msg"]

    result = run_module({"vpc_endpoint_id": missing, "policy": json.dumps(OURS)}, check_mode=True)
    assert result["rc"] == 0, result
    assert result["planned"] == "create"
    assert result["unverified"] == [
        f"vpc_endpoint_id: the endpoint {missing} does not exist (yet): "
        "amazon.aws.ec2_vpc_endpoint creates it"
    ]


@mock_aws
def test_a_document_without_statements_is_refused_before_any_call(run_module):
    result = run_module(
        {"vpc_endpoint_id": "vpce-0123456789abcdef0", "policy": json.dumps({"Version": "2012-10-17"})}
    )
    assert result["failed"] is True
    assert result["msg"].startswith("Refused before ")
    assert result["msg"].endswith("policy: must be a policy document, an object with a Statement")
    assert result["problems"] == {"policy": "must be a policy document, an object with a Statement"}


@mock_aws
def test_a_plan_on_an_empty_account_takes_the_stand_in_id(run_module):
    # aws_network passes its planned-by-check-mode stand-in when the endpoint task only planned it.
    result = run_module(
        {"vpc_endpoint_id": "planned-by-check-mode", "policy": json.dumps(OURS)}, check_mode=True
    )
    assert result["rc"] == 0, result
    assert result["planned"] == "create" and len(result["unverified"]) == 1


@mock_aws
def test_an_empty_id_is_refused_before_any_call(run_module):
    result = run_module({"vpc_endpoint_id": "", "policy": json.dumps(OURS)})
    assert result["failed"] is True
    assert result["problems"] == {"vpc_endpoint_id": "'' is not an endpoint ID (vpce-...)"}
