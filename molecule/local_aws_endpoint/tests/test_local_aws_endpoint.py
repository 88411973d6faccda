"""The endpoint answers AWS API calls on loopback only, and keeps state between calls."""

import boto3

ENDPOINT = "http://127.0.0.1:4599"


def _client(service):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="molecule",
        aws_secret_access_key="molecule",
    )


def test_listens_on_loopback_only(host):
    sockets = [s for s in host.socket.get_listening_sockets() if s.endswith(":4599")]
    assert sockets == ["tcp://127.0.0.1:4599"]


def test_answers_and_keeps_state():
    sts = _client("sts")
    assert sts.get_caller_identity()["Account"]
    ec2 = _client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    try:
        assert vpc in [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]]
    finally:
        ec2.delete_vpc(VpcId=vpc)


def test_managed_iam_policies_are_loaded():
    iam = _client("iam")
    policy = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/service-role/AWS_ConfigRole")
    assert policy["Policy"]["PolicyName"] == "AWS_ConfigRole"
