"""The endpoint answers AWS API calls on loopback only, and keeps state between calls."""

import boto3

ENDPOINT = "http://127.0.0.1:4590"


def _client(service):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="molecule",
        aws_secret_access_key="molecule",
    )


def test_listens_on_loopback_only(host):
    sockets = [s for s in host.socket.get_listening_sockets() if s.endswith(":4590")]
    assert sockets == ["tcp://127.0.0.1:4590"]


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


def test_the_fidelity_layer_answers():
    """The launcher of the role runs, with its fixes: not a bare moto_server."""
    import json
    import urllib.request

    url = f"{ENDPOINT}/_giftcrypto/fidelity"
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 -- a fixed http URL on loopback
        about = json.load(answer)
    assert about["moto"].startswith("5.2.")
    assert {"service": "backup", "name": "describe-missing-vault-access-denied"} in about["fixes"]
    # One of them at work: AWS answers 403 AccessDeniedException for a vault that does not exist.
    backup = _client("backup")
    try:
        backup.describe_backup_vault(BackupVaultName="not-made-by-molecule")
    except backup.exceptions.ClientError as error:
        assert error.response["Error"]["Code"] == "AccessDeniedException"
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    else:
        raise AssertionError("DescribeBackupVault of a missing vault did not fail")
