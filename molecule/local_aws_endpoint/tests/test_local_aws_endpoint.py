"""The endpoint answers AWS API calls on loopback only, and keeps state between calls."""


def test_listens_on_loopback_only(host, scenario_vars):
    port = scenario_vars["local_aws_endpoint_port"]
    sockets = [s for s in host.socket.get_listening_sockets() if s.endswith(f":{port}")]
    assert sockets == [f"tcp://127.0.0.1:{port}"]


def test_answers_and_keeps_state(aws):
    sts = aws("sts")
    assert sts.get_caller_identity()["Account"]
    ec2 = aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    try:
        assert vpc in [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]]
    finally:
        ec2.delete_vpc(VpcId=vpc)


def test_managed_iam_policies_are_loaded(aws):
    iam = aws("iam")
    policy = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/service-role/AWS_ConfigRole")
    assert policy["Policy"]["PolicyName"] == "AWS_ConfigRole"


def test_the_fidelity_layer_answers(aws, aws_endpoint):
    """The launcher of the role runs, with its fixes: not a bare moto_server."""
    import json
    import urllib.request

    url = f"{aws_endpoint}/_giftcrypto/fidelity"
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 -- a fixed http URL on loopback
        about = json.load(answer)
    assert about["moto"].startswith("5.2.")
    assert {"service": "backup", "name": "describe-missing-vault-access-denied"} in about["fixes"]
    # One of them at work: AWS answers 403 AccessDeniedException for a vault that does not exist.
    backup = aws("backup")
    try:
        backup.describe_backup_vault(BackupVaultName="not-made-by-molecule")
    except backup.exceptions.ClientError as error:
        assert error.response["Error"]["Code"] == "AccessDeniedException"
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    else:
        raise AssertionError("DescribeBackupVault of a missing vault did not fail")


def test_answers_https_on_the_same_port_with_its_own_certificate(scenario_vars):
    """As AWS endpoints answer HTTPS: the certificate the endpoint made (its state directory's
    tls.pem, the role's default) is the CA bundle of https:// clients; plain HTTP still answers."""
    import pathlib

    import boto3

    port = scenario_vars["local_aws_endpoint_port"]
    certificate = pathlib.Path.home() / f".local/state/giftcrypto/aws-endpoint-{port}/tls.pem"
    assert certificate.read_text().startswith("-----BEGIN CERTIFICATE-----")
    sts = boto3.client(
        "sts",
        endpoint_url=f"https://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="molecule",
        aws_secret_access_key="molecule",  # pragma: allowlist secret
        verify=str(certificate),
    )
    assert sts.get_caller_identity()["Account"]
