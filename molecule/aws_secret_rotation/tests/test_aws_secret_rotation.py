"""What aws_secret_rotation built, read back from the scenario's AWS endpoint with boto3: the rotation
function in the private subnets, its role, log group and Secrets Manager's permission to invoke it,
the schedules of the logins (set without a rotation); how the role behaves on a converged account
(a plan changes nothing), on bad input (refused before any change) and how a rotation whose step
fails leaves the login (AWSCURRENT kept, as on AWS)."""

import json

import pytest

NAME = "gcrot-local-secret-rotation"
PREFIX = "gcrot/local"
ROTATED = [f"{PREFIX}/postgres/app_rw", f"{PREFIX}/redis/app"]
REQUIRED_TAGS = {"Project", "Environment", "ManagedBy", "CostCenter"}


@pytest.fixture(scope="module")
def function(aws):
    return aws("lambda").get_function(FunctionName=NAME)


def test_the_function_runs_the_platforms_handler_in_the_private_subnets(aws, function):
    config = function["Configuration"]
    assert (config["Handler"], config["Runtime"], config["Architectures"]) == (
        "secret_rotation.lambda_handler",
        "python3.13",
        ["arm64"],
    )
    assert (config["MemorySize"], config["Timeout"]) == (256, 60)
    ec2 = aws("ec2")
    subnets = ec2.describe_subnets(SubnetIds=config["VpcConfig"]["SubnetIds"])["Subnets"]
    tiers = sorted({t["Value"] for s in subnets for t in s.get("Tags", []) if t["Key"] == "Tier"})
    assert tiers == ["private"] and len(subnets) == 2
    (group,) = ec2.describe_security_groups(GroupIds=config["VpcConfig"]["SecurityGroupIds"])[
        "SecurityGroups"
    ]
    assert group["GroupName"] == "gcrot-local-rotation"
    # No secret in its settings: the function reads the logins at run time.
    assert not (config.get("Environment") or {}).get("Variables", {}).get("PASSWORD")
    assert set(function.get("Tags", {})) >= REQUIRED_TAGS


def test_the_role_is_trusted_by_lambda_of_this_account_and_rotates_the_named_logins_only(
    aws, account_id, policy
):
    iam = aws("iam")
    role = iam.get_role(RoleName=NAME)["Role"]
    (trust,) = policy(role["AssumeRolePolicyDocument"])["Statement"]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": account_id}}
    assert iam.list_attached_role_policies(RoleName=NAME)["AttachedPolicies"] == []
    document = policy(iam.get_role_policy(RoleName=NAME, PolicyName="secret-rotation")["PolicyDocument"])
    statements = {s["Sid"]: s for s in document["Statement"]}
    writes = statements["RotateThePlatformsLogins"]
    assert "secretsmanager:PutSecretValue" in writes["Action"]
    prefix = f"arn:aws:secretsmanager:us-east-1:{account_id}:secret:"
    assert sorted(writes["Resource"]) == sorted(f"{prefix}{name}-??????" for name in ROTATED)
    assert all(s["Effect"] == "Allow" for s in document["Statement"])
    # "*" only where IAM has no narrower resource: a random password, the function's network interfaces.
    assert sorted(s["Sid"] for s in document["Statement"] if s["Resource"] == "*") == [
        "GenerateThePasswords",
        "RunInThePrivateSubnets",
    ]
    assert statements["UseTheSecretsKeysThroughSecretsManager"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}
    }


def test_the_log_group_is_encrypted_with_the_logs_key_and_kept_a_year(aws, kms_key):
    (group,) = aws("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{NAME}")["logGroups"]
    assert group["retentionInDays"] == 365
    assert group["kmsKeyId"] == kms_key("alias/gcrot-local-logs")["Arn"]


def test_only_secrets_manager_of_this_account_may_invoke_it_for_the_platforms_secrets(
    aws, account_id, policy
):
    (statement,) = policy(aws("lambda").get_policy(FunctionName=NAME)["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "secretsmanager.amazonaws.com"}
    assert statement["Action"] == "lambda:InvokeFunction"
    assert statement["Condition"]["StringEquals"]["AWS:SourceAccount"] == account_id
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == (
        f"arn:aws:secretsmanager:us-east-1:{account_id}:secret:{PREFIX}/*"
    )


def test_each_login_has_its_schedule_and_was_not_rotated(aws, function):
    secrets = aws("secretsmanager")
    arn = function["Configuration"]["FunctionArn"]
    for name in ROTATED:
        described = secrets.describe_secret(SecretId=name)
        assert described["RotationEnabled"] is True, name
        assert described["RotationLambdaARN"] == arn
        assert described["RotationRules"]["AutomaticallyAfterDays"] == 7
        # A deploy never rotates: one version, AWSCURRENT, no rotation date.
        assert list(described["VersionIdsToStages"].values()) == [["AWSCURRENT"]], name
        assert described.get("LastRotatedDate") is None
    # Neither the admin logins, which setSecret reads, nor anything else got a schedule.
    for name in (f"{PREFIX}/postgres/master", f"{PREFIX}/redis/admin"):
        assert not secrets.describe_secret(SecretId=name).get("RotationEnabled")


def _snapshot(aws):
    secrets, awslambda = aws("secretsmanager"), aws("lambda")
    described = [secrets.describe_secret(SecretId=name) for name in ROTATED]
    config = awslambda.get_function_configuration(FunctionName=NAME)
    return (
        [(d.get("RotationEnabled"), d.get("RotationRules"), d["VersionIdsToStages"]) for d in described],
        (config["CodeSha256"], config["MemorySize"], config["Timeout"]),
    )


def test_a_converged_plan_changes_nothing(aws, converge, planned, unchanged):
    # (A second apply is molecule's idempotence step.)
    with unchanged(lambda: _snapshot(aws)):
        planned(converge("--check", "--diff"), 0)


def test_a_plan_of_another_schedule_shows_the_change_and_makes_none(aws, converge, planned, unchanged):
    with unchanged(lambda: _snapshot(aws)):
        planned(converge("--check", extra_vars={"aws_secret_rotation_days": 30}), 1)


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        ({"aws_secret_rotation_secrets": ["pgbouncer/tls"]}, "keys, not passwords"),
        ({"aws_secret_rotation_secrets": ["postgres/backup"]}, "keys, not passwords"),
        ({"aws_secret_rotation_days": 120}, "aws_secret_rotation_days 1 to 90"),
        (
            {"aws_secret_rotation_secrets": ["mysql/app"]},
            "postgres/<login>, redis/<user> or elasticache/auth-token",
        ),
        (
            {"aws_secret_rotation_secrets": ["elasticache/other"]},
            "postgres/<login>, redis/<user> or elasticache/auth-token",
        ),
    ],
)
def test_bad_input_is_refused_before_any_change(aws, converge, refused, unchanged, extra_vars, message):
    with unchanged(lambda: _snapshot(aws)):
        refused(
            converge(extra_vars=extra_vars),
            message,
            not_reached="Ensure the function, its role, log group",
        )


def test_a_rotation_whose_step_fails_keeps_the_current_login(aws, ansible_log):
    """The scenario has no Redis to log in to: Secrets Manager runs the function (in the endpoint's
    process), createSecret makes the new password and setSecret fails. As on AWS the login keeps its
    AWSCURRENT value, the new one stays AWSPENDING, and the log says which step failed without the
    password."""
    secrets, logs = aws("secretsmanager"), aws("logs")
    name = f"{PREFIX}/redis/app"
    before = secrets.get_secret_value(SecretId=name)
    token = secrets.rotate_secret(SecretId=name)["VersionId"]
    try:
        after = secrets.get_secret_value(SecretId=name)
        assert (after["VersionId"], after["SecretString"]) == (before["VersionId"], before["SecretString"])
        pending = json.loads(
            secrets.get_secret_value(SecretId=name, VersionStage="AWSPENDING")["SecretString"]
        )
        current = json.loads(before["SecretString"])
        assert pending["password"] != current["password"]
        assert {k: v for k, v in pending.items() if k != "password"} == {
            k: v for k, v in current.items() if k != "password"
        }
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{NAME}")["events"]
        text = "\n".join(event["message"] for event in events)
        assert f"createSecret of {secrets.describe_secret(SecretId=name)['ARN']} done" in text
        assert "setSecret failed" in text
        assert pending["password"] not in text and current["password"] not in text
        # Neither password was ever written by a converge or idempotence run either.
        assert current["password"] not in ansible_log()
    finally:
        # What tools/rotate_secrets.py does with a rotation that failed: the pending version unlabelled.
        secrets.update_secret_version_stage(
            SecretId=name, VersionStage="AWSPENDING", RemoveFromVersionId=token
        )
    assert (
        list(secrets.describe_secret(SecretId=name)["VersionIdsToStages"].values()).count(["AWSCURRENT"]) == 1
    )
