"""What aws_security_baseline built, read back from the scenario's AWS endpoint with boto3."""

import json
import pathlib
import re

import pytest

NAME = "giftcrypto-local"
PURPOSES = ("rds", "eks", "s3", "logs", "pii", "elasticache")
REQUIRED_TAGS = {"Project", "Environment", "ManagedBy", "CostCenter"}
EKS_ISSUER = "oidc.eks.us-east-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"
RDS_SECRET = "giftcrypto/local/rds/master"
REDIS_SECRET = "giftcrypto/local/elasticache/auth-token"


@pytest.fixture(scope="module")
def keys(kms_key):
    """Key metadata by purpose, found through the aliases."""
    return {purpose: kms_key(f"alias/{NAME}-{purpose}") for purpose in PURPOSES}


class Secret:
    """A generated value, read back; its repr hides it, so a failing test cannot print it."""

    def __init__(self, value: str):
        self.value = value

    def __repr__(self) -> str:
        return "<secret, hidden>"

    def found_in(self, text: str) -> bool:
        return self.value in text


@pytest.fixture(scope="module")
def secrets(secret_json):
    """The generated values, each wrapped in a Secret (never printed by the tests)."""
    redis = secret_json(REDIS_SECRET)
    return {"redis_auth_token": Secret(redis["auth_token"])}


def _policy_statements(document):
    if isinstance(document, str):
        document = json.loads(document)
    return document["Statement"]


# --- KMS ------------------------------------------------------------------------------------


def test_one_customer_managed_key_per_purpose_rotated_and_tagged(keys, aws, tags):
    kms = aws("kms")
    assert len({k["Arn"] for k in keys.values()}) == len(PURPOSES)
    for purpose, key in keys.items():
        assert key["KeyManager"] == "CUSTOMER", purpose
        assert key["KeyState"] == "Enabled", purpose
        assert key["KeySpec"] == "SYMMETRIC_DEFAULT", purpose
        assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True, purpose
        key_tags = tags(kms.list_resource_tags(KeyId=key["KeyId"])["Tags"], "TagKey", "TagValue")
        assert set(key_tags) >= REQUIRED_TAGS, purpose
        assert key_tags["Purpose"] == purpose


def test_key_policies_admit_this_account_and_only_the_named_services(keys, account_id, aws, scenario_vars):
    kms = aws("kms")
    for purpose, key in keys.items():
        statements = _policy_statements(
            kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]
        )
        assert statements[0]["Principal"] == {"AWS": f"arn:aws:iam::{account_id}:root"}
        principals = [s["Principal"] for s in statements[1:]]
        assert all("AWS" not in p for p in principals), (purpose, principals)
        if purpose != "logs":
            assert len(statements) == 1, (purpose, statements)
    logs = _policy_statements(kms.get_key_policy(KeyId=keys["logs"]["KeyId"], PolicyName="default")["Policy"])
    services = {json.dumps(s["Principal"]["Service"]) for s in logs[1:]}
    assert '"logs.us-east-1.amazonaws.com"' in services
    assert '"cloudtrail.amazonaws.com"' in services
    assert '"config.amazonaws.com"' in services
    # The alert topics' publishers, AWS Budgets among them, may use the key that encrypts the topics.
    (publishers,) = [s for s in logs if s.get("Sid") == "AlertPublishersOfThisAccount"]
    assert publishers["Principal"]["Service"] == [
        "events.amazonaws.com",
        "cloudwatch.amazonaws.com",
        "budgets.amazonaws.com",
    ]
    assert publishers["Condition"] == {"StringEquals": {"aws:SourceAccount": account_id}}
    trail_arn = f"arn:aws:cloudtrail:{scenario_vars['aws_region']}:{account_id}:trail/{NAME}-audit"
    cloudtrail = [s for s in logs if s["Principal"].get("Service") == "cloudtrail.amazonaws.com"]
    assert all(s["Condition"]["StringEquals"]["aws:SourceArn"] == trail_arn for s in cloudtrail)


# --- IAM ------------------------------------------------------------------------------------


def test_password_policy_meets_cis(aws):
    policy = aws("iam").get_account_password_policy()["PasswordPolicy"]
    assert policy["MinimumPasswordLength"] >= 14
    assert policy["PasswordReusePrevention"] == 24
    assert policy["MaxPasswordAge"] == 90
    for flag in (
        "RequireSymbols",
        "RequireNumbers",
        "RequireUppercaseCharacters",
        "RequireLowercaseCharacters",
    ):
        assert policy[flag] is True, flag


def test_admin_group_denies_everything_without_mfa(account_id, aws):
    iam = aws("iam")
    attached = iam.list_attached_group_policies(GroupName=f"{NAME}-admins")["AttachedPolicies"]
    arns = {p["PolicyArn"] for p in attached}
    mfa_arn = f"arn:aws:iam::{account_id}:policy/{NAME}-require-mfa"
    # No administrative policy on the group: its members assume the admin role (ADR 0017).
    assert arns == {mfa_arn, f"arn:aws:iam::{account_id}:policy/{NAME}-assume-admin"}
    assert iam.list_group_policies(GroupName=f"{NAME}-admins")["PolicyNames"] == []
    version = iam.get_policy(PolicyArn=mfa_arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=mfa_arn, VersionId=version)["PolicyVersion"]["Document"]
    deny = [s for s in _policy_statements(document) if s["Effect"] == "Deny"]
    assert len(deny) == 1
    assert deny[0]["Resource"] == "*"
    assert deny[0]["Condition"] == {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}
    assert "sts:GetSessionToken" in deny[0]["NotAction"]


@pytest.fixture(scope="module")
def role(aws):
    """The layer's IAM role of that name."""
    return lambda name: aws("iam").get_role(RoleName=f"{NAME}-{name}")["Role"]


@pytest.fixture(scope="module")
def inline(aws):
    """The inline policies of the layer's IAM role of that name, by policy name."""

    def documents(name):
        iam = aws("iam")
        names = iam.list_role_policies(RoleName=f"{NAME}-{name}")["PolicyNames"]
        return {
            n: iam.get_role_policy(RoleName=f"{NAME}-{name}", PolicyName=n)["PolicyDocument"] for n in names
        }

    return documents


def test_admins_get_their_rights_only_through_a_role_assumed_with_mfa(account_id, aws, role):
    iam = aws("iam")
    admin = role("admin")
    assert admin["MaxSessionDuration"] == 3600
    (statement,) = _policy_statements(admin["AssumeRolePolicyDocument"])
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{account_id}:root"}
    assert statement["Condition"] == {
        "Bool": {"aws:MultiFactorAuthPresent": "true"},
        "NumericLessThan": {"aws:MultiFactorAuthAge": "3600"},
    }
    attached = iam.list_attached_role_policies(RoleName=f"{NAME}-admin")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == ["arn:aws:iam::aws:policy/AdministratorAccess"]
    arn = f"arn:aws:iam::{account_id}:policy/{NAME}-assume-admin"
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    (assume,) = _policy_statements(
        iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    )
    assert assume["Action"] == "sts:AssumeRole" and assume["Resource"] == admin["Arn"]
    assert assume["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}


def test_service_roles_trust_only_their_service_for_this_account(account_id, role, tags):
    cluster = f"arn:aws:eks:us-east-1:{account_id}:cluster/{NAME}"
    expected = {
        "eks-cluster": (
            "eks.amazonaws.com",
            {"ArnLike": {"aws:SourceArn": cluster}, "StringEquals": {"aws:SourceAccount": account_id}},
        ),
        # EC2 puts no aws:SourceArn/aws:SourceAccount in an instance profile's role assumption (ADR 0017).
        "eks-node": ("ec2.amazonaws.com", None),
        # CloudTrail's log delivery role takes neither key: its guide says it does not support them.
        "cloudtrail-logs": ("cloudtrail.amazonaws.com", None),
        "config": ("config.amazonaws.com", {"StringEquals": {"aws:SourceAccount": account_id}}),
    }
    for name, (service, condition) in expected.items():
        (statement,) = _policy_statements(role(name)["AssumeRolePolicyDocument"])
        assert statement["Principal"] == {"Service": service}, name
        assert statement.get("Condition") == condition, name
        assert set(tags(role(name)["Tags"])) >= REQUIRED_TAGS


def test_eks_cluster_role_uses_only_the_eks_key(keys, inline):
    (document,) = inline("eks-cluster").values()
    (statement,) = _policy_statements(document)
    assert statement["Resource"] == keys["eks"]["Arn"]
    assert not any("*" in action for action in statement["Action"])


def test_application_role_is_irsa_for_one_service_account(keys, account_id, aws, inline, role):
    (statement,) = _policy_statements(role("app")["AssumeRolePolicyDocument"])
    assert statement["Principal"] == {"Federated": f"arn:aws:iam::{account_id}:oidc-provider/{EKS_ISSUER}"}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"]["StringEquals"] == {
        f"{EKS_ISSUER}:aud": "sts.amazonaws.com",
        f"{EKS_ISSUER}:sub": ["system:serviceaccount:giftcrypto:giftcrypto-app"],
    }
    (document,) = inline("app").values()
    resources = json.dumps(_policy_statements(document))
    assert keys["pii"]["Arn"] in resources
    assert '"*"' not in resources
    providers = aws("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert f"arn:aws:iam::{account_id}:oidc-provider/{EKS_ISSUER}" in {p["Arn"] for p in providers}


def test_pooler_role_is_irsa_for_the_poolers_service_account(account_id, aws, role, tags):
    """The connection pooler's role (ADR 0019): made with the application role, trusted the same way
    (aud and sub, StringEquals) for the pgBouncer pods' own service account, nothing else."""
    pooler = role("pooler")
    (statement,) = _policy_statements(pooler["AssumeRolePolicyDocument"])
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Federated": f"arn:aws:iam::{account_id}:oidc-provider/{EKS_ISSUER}"}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {
            f"{EKS_ISSUER}:aud": "sts.amazonaws.com",
            f"{EKS_ISSUER}:sub": ["system:serviceaccount:giftcrypto:pgbouncer"],
        }
    }
    assert pooler["MaxSessionDuration"] == 3600
    assert set(tags(pooler["Tags"])) >= REQUIRED_TAGS
    assert aws("iam").list_attached_role_policies(RoleName=f"{NAME}-pooler")["AttachedPolicies"] == []


def test_pooler_role_reads_the_apis_database_logins_and_nothing_else(account_id, inline, scenario_vars):
    """GetSecretValue (its sidecar asks for AWSCURRENT and AWSPENDING) and DescribeSecret on
    postgres/app_rw and app_ro, any version of their ARN (-??????), no KMS (the AWS managed key)."""
    documents = inline("pooler")
    assert set(documents) == {"pooler-permissions"}
    (statement,) = _policy_statements(documents["pooler-permissions"])
    assert statement["Sid"] == "ReadTheApisDatabaseLogins"
    assert statement["Effect"] == "Allow"
    assert sorted(statement["Action"]) == ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
    prefix = (
        f"arn:aws:secretsmanager:{scenario_vars['aws_region']}:{account_id}:secret:giftcrypto/local/postgres"
    )
    assert statement["Resource"] == [f"{prefix}/app_rw-??????", f"{prefix}/app_ro-??????"]
    assert set(statement) == {"Sid", "Effect", "Action", "Resource"}


def _template_statements() -> dict[str, set[str]]:
    """The deploy role's policy as the role's template writes it: actions by statement id."""
    template = pathlib.Path(__file__).resolve().parents[3] / "roles" / "aws_security_baseline" / "templates"
    # Action lists carry no template expression; rendering with placeholders is enough for them.
    text = re.sub(
        r"\{\{[^}]*\}\}",
        "x",
        re.sub(r"\{#.*?#\}", "", (template / "ci_deploy_policy.json.j2").read_text(), flags=re.S),
    )
    return {
        s["Sid"]: {s["Action"]} if isinstance(s["Action"], str) else set(s["Action"])
        for s in _policy_statements(json.loads(text))
    }


def test_ci_role_trusts_only_this_repository_and_holds_the_deploys_rights(account_id, inline, role):
    (statement,) = _policy_statements(role("ci-deploy")["AssumeRolePolicyDocument"])
    issuer = "token.actions.githubusercontent.com"
    assert statement["Principal"] == {"Federated": f"arn:aws:iam::{account_id}:oidc-provider/{issuer}"}
    assert statement["Condition"]["StringLike"] == {
        f"{issuer}:sub": ["repo:giftcrypto/platform:environment:local"]
    }
    (document,) = inline("ci-deploy").values()
    written = {
        s["Sid"]: {s["Action"]} if isinstance(s["Action"], str) else set(s["Action"])
        for s in _policy_statements(document)
    }
    # Exactly the template's statements (tests/unit/test_ci_deploy_policy.py holds the template
    # equal to the calls a deploy, a plan and a rollback make), no wildcard action, no Deny missing.
    assert written == _template_statements()
    actions = set().union(*written.values())
    assert not any(a.endswith("*") for a in actions)
    assert {"eks:DescribeCluster", "ecr:DescribeRepositories", "rds:DescribeDBEngineVersions"} <= actions
    assert all(s["Effect"] == "Allow" for s in _policy_statements(document))


# --- Secrets Manager ------------------------------------------------------------------------


def test_secrets_are_encrypted_with_their_own_key(keys, aws):
    sm = aws("secretsmanager")
    assert sm.describe_secret(SecretId=REDIS_SECRET)["KmsKeyId"] == keys["elasticache"]["Arn"]


def test_only_the_named_principals_may_read_the_secrets(account_id, aws):
    sm = aws("secretsmanager")
    caller = aws("sts").get_caller_identity()["Arn"]
    # The admins, the deploy, and the secret rotation function, which rotates the AUTH token on AWS
    # (aws_security_baseline_rotation_secret_names, ADR 0019); neither the application's role nor the
    # connection pooler's, which never read the AUTH token.
    roles = [f"arn:aws:iam::{account_id}:role/{NAME}-{r}" for r in ("admin", "ci-deploy", "secret-rotation")]
    # The baseline's one generated secret (the RDS master password is RDS's own: ADR 0019).
    for name in (REDIS_SECRET,):
        (statement,) = _policy_statements(sm.get_resource_policy(SecretId=name)["ResourcePolicy"])
        assert statement["Effect"] == "Deny" and statement["Principal"] == "*", name
        # Only reading is denied: the deploy keeps describing, updating and re-setting the policy.
        assert statement["Action"] == "secretsmanager:GetSecretValue", name
        # A role is named with and without a path (aws:PrincipalArn of a session carries its role's path).
        readers = statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
        assert sorted(readers) == sorted(
            [caller, *roles, *(r.replace(":role/", ":role/*/") for r in roles)]
        ), name


def test_generated_values_are_strong(secrets):
    assert bool(re.fullmatch(r"[A-Za-z0-9]{40}", secrets["redis_auth_token"].value)) is True


def test_the_rds_master_password_is_not_generated_here(aws):
    # RDS manages it (aws_rds, ManageMasterUserPassword; ADR 0019): the baseline makes no secret of it.
    names = {s["Name"] for s in aws("secretsmanager").list_secrets()["SecretList"]}
    assert RDS_SECRET not in names


def test_secrets_were_not_rotated_by_the_idempotence_run(aws):
    sm = aws("secretsmanager")
    for name in (REDIS_SECRET,):
        versions = sm.list_secret_version_ids(SecretId=name)["Versions"]
        assert len(versions) == 1, (name, len(versions))


def test_secret_values_are_not_in_the_molecule_output(secrets, ansible_log):
    text = ansible_log()
    assert "Ensure the Redis AUTH token secret exists" in text  # the converge is in there
    assert secrets["redis_auth_token"].found_in(text) is False


# --- CloudTrail and the audit bucket --------------------------------------------------------


@pytest.fixture(scope="module")
def trail(aws):
    (found,) = aws("cloudtrail").describe_trails(trailNameList=[f"{NAME}-audit"])["trailList"]
    return found


def test_trail_is_multi_region_validated_encrypted_and_logging(trail, keys, aws):
    assert trail["IsMultiRegionTrail"] is True
    assert trail["IncludeGlobalServiceEvents"] is True
    assert trail["LogFileValidationEnabled"] is True
    assert trail["KmsKeyId"] == keys["logs"]["Arn"]
    assert trail["S3KeyPrefix"] == "cloudtrail"
    assert trail["CloudWatchLogsLogGroupArn"].endswith(":log-group:/giftcrypto/local/cloudtrail:*")
    assert trail["CloudWatchLogsRoleArn"].endswith(f":role/{NAME}-cloudtrail-logs")
    assert aws("cloudtrail").get_trail_status(Name=trail["Name"])["IsLogging"] is True


def test_trail_log_group_is_encrypted_and_kept_a_year(keys, aws):
    (group,) = aws("logs").describe_log_groups(logGroupNamePrefix="/giftcrypto/local/cloudtrail")["logGroups"]
    assert group["kmsKeyId"] == keys["logs"]["Arn"]
    assert group["retentionInDays"] == 365


def test_audit_bucket_denies_requests_without_tls(trail, aws):
    s3 = aws("s3")
    bucket = trail["S3BucketName"]
    statements = _policy_statements(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    deny = [s for s in statements if s["Effect"] == "Deny"]
    assert len(deny) == 1
    assert deny[0]["Principal"] == "*"
    assert deny[0]["Action"] == "s3:*"
    assert set(deny[0]["Resource"]) == {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"}
    assert deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_audit_bucket_is_private_versioned_and_encrypted(trail, keys, aws):
    s3 = aws("s3")
    bucket = trail["S3BucketName"]
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == keys["logs"]["Arn"]


# --- Anchored audit heads (docs/adr/0016-anchored-audit-heads.md) ------------------------------


def test_audit_anchors_bucket_locks_every_anchor_in_compliance_mode_a_year(keys, role, aws):
    s3 = aws("s3")
    bucket = f"{NAME}-audit-anchors"
    config = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    assert config == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 365}},
    }
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == keys["s3"]["Arn"]
    statements = {s["Sid"]: s for s in _policy_statements(s3.get_bucket_policy(Bucket=bucket)["Policy"])}
    signer = role("audit-anchor")["Arn"]
    assert statements["OnlyTheAnchoringJobWrites"]["Condition"] == {
        "StringNotEquals": {"aws:PrincipalArn": signer}
    }
    assert statements["AnchorsAreNeverReplaced"]["Condition"] == {"Null": {"s3:if-none-match": "true"}}


def test_audit_anchor_key_signs_only_for_the_anchoring_role(kms_key, role, inline, aws):
    key = kms_key(f"alias/{NAME}-audit-anchor")
    assert (key["KeySpec"], key["KeyUsage"]) == ("ECC_NIST_P256", "SIGN_VERIFY")
    signer = role("audit-anchor")["Arn"]
    policy = _policy_statements(aws("kms").get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])
    sign = [s for s in policy if "kms:Sign" in json.dumps(s["Action"])]
    assert {(s["Effect"], json.dumps(s["Principal"])) for s in sign} == {
        ("Allow", json.dumps({"AWS": signer})),
        ("Deny", json.dumps("*")),
    }
    (document,) = inline("audit-anchor").values()
    resources = json.dumps(_policy_statements(document))
    assert key["Arn"] in resources and '"*"' not in resources
    statements = _policy_statements(role("audit-anchor")["AssumeRolePolicyDocument"])
    assert {s["Sid"] for s in statements} == {"TheScheduledJob", "TheDeployStep"}


# --- Alerts and GuardDuty -------------------------------------------------------------------


def test_alert_topics_are_encrypted_with_the_logs_key(keys, account_id, aws, scenario_vars):
    sns = aws("sns")
    for severity in ("critical", "warning"):
        arn = f"arn:aws:sns:{scenario_vars['aws_region']}:{account_id}:{NAME}-{severity}"
        attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        assert attributes["KmsMasterKeyId"] == keys["logs"]["Arn"]
        publishers = [
            s
            for s in _policy_statements(attributes["Policy"])
            if s.get("Sid") == "AlertPublishersOfThisAccount"
        ]
        assert publishers[0]["Principal"]["Service"] == ["events.amazonaws.com", "cloudwatch.amazonaws.com"]
        # AWS Budgets publishes for budgets of this account only (AWS Cost Management User Guide,
        # "Creating an Amazon SNS topic for budget notifications").
        (budgets,) = [
            s for s in _policy_statements(attributes["Policy"]) if s.get("Sid") == "BudgetsOfThisAccount"
        ]
        assert budgets["Principal"] == {"Service": "budgets.amazonaws.com"}
        assert budgets["Action"] == "SNS:Publish"
        assert budgets["Condition"] == {
            "StringEquals": {"aws:SourceAccount": account_id},
            "ArnLike": {"aws:SourceArn": f"arn:aws:budgets::{account_id}:*"},
        }


def test_guardduty_detector_is_enabled(aws):
    guardduty = aws("guardduty")
    (detector_id,) = guardduty.list_detectors()["DetectorIds"]
    detector = guardduty.get_detector(DetectorId=detector_id)
    assert detector["Status"] == "ENABLED"
    assert detector["FindingPublishingFrequency"] == "FIFTEEN_MINUTES"
    assert {f["Name"] for f in detector["Features"] if f["Status"] == "ENABLED"} >= {
        "S3_DATA_EVENTS",
        "EKS_AUDIT_LOGS",
    }


def test_high_severity_findings_go_to_the_critical_topic(account_id, aws, scenario_vars):
    events = aws("events")
    rule = events.describe_rule(Name=f"{NAME}-guardduty-high-severity")
    assert rule["State"] == "ENABLED"
    pattern = json.loads(rule["EventPattern"])
    assert pattern["source"] == ["aws.guardduty"]
    assert pattern["detail"]["severity"] == [{"numeric": [">=", 7.0]}]
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert target["Arn"] == f"arn:aws:sns:{scenario_vars['aws_region']}:{account_id}:{NAME}-critical"


# --- AWS Config and Security Hub ------------------------------------------------------------


def test_config_records_everything_and_delivers_encrypted(trail, keys, aws):
    config = aws("config")
    (recorder,) = config.describe_configuration_recorders()["ConfigurationRecorders"]
    assert recorder["recordingGroup"]["allSupported"] is True
    assert recorder["recordingGroup"]["includeGlobalResourceTypes"] is True
    assert recorder["roleARN"].endswith(f":role/{NAME}-config")
    (status,) = config.describe_configuration_recorder_status()["ConfigurationRecordersStatus"]
    assert status["recording"] is True
    (channel,) = config.describe_delivery_channels()["DeliveryChannels"]
    assert channel["s3BucketName"] == trail["S3BucketName"]
    assert channel["s3KmsKeyArn"] == keys["logs"]["Arn"]


def test_config_managed_rules_are_in_place(aws):
    rules = {r["ConfigRuleName"]: r for r in aws("config").describe_config_rules()["ConfigRules"]}
    for name in (
        "cloud-trail-log-file-validation-enabled",
        "iam-password-policy",
        "s3-bucket-ssl-requests-only",
    ):
        assert name in rules, name
        assert rules[name]["Source"]["Owner"] == "AWS"
    assert json.loads(rules["iam-password-policy"]["InputParameters"])["MinimumPasswordLength"] == "14"
    assert len(rules) >= 20


def test_security_hub_is_enabled(aws):
    hub = aws("securityhub").describe_hub()
    assert hub["HubArn"].endswith(":hub/default")


# --- Runs of the converge playbook ---------------------------------------------------------


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        ({"aws_security_baseline_password_min_length": 8}, "aws_security_baseline_password_min_length=8"),
        (
            {"aws_security_baseline_ci_subjects": ["repo:*/platform:ref:refs/heads/main"]},
            "aws_security_baseline_ci_subjects has",
        ),
        (
            {"aws_security_baseline_generated_secret_length": 8},
            "aws_security_baseline_generated_secret_length=8",
        ),
        (
            {"aws_security_baseline_environment": "staging"},
            "aws_security_baseline_environment=staging: aws_security_baseline_securityhub_standards_enabled",
        ),
        (
            {"aws_security_baseline_guardduty_finding_publishing_frequency": "HOURLY"},
            "aws_security_baseline_guardduty_finding_publishing_frequency",
        ),
    ],
    ids=["password-length", "ci-wildcard", "secret-length", "staging-without-fsbp", "bad-choice"],
)
def test_bad_input_is_refused_before_any_aws_call(extra_vars, message, converge, recap):
    run = converge(extra_vars=extra_vars)
    output = run.stdout + run.stderr
    assert run.returncode != 0, output[-2000:]
    assert message in output, output[-2000:]
    assert "Identify the account" not in output
    assert recap(output) == (0, 1), output[-2000:]


def test_plan_of_the_converged_baseline_changes_nothing_and_prints_no_secret(secrets, converge, recap):
    """A -vvv check-mode run on the converged state: changed=0, and no generated value anywhere."""
    run = converge("--check", "--diff", "-vvv")
    output = run.stdout + run.stderr
    # First the secrets: only then may a failure message show the end of the output.
    assert secrets["redis_auth_token"].found_in(output) is False
    assert run.returncode == 0, output[-3000:]
    assert recap(output) == (0, 0), output[-3000:]
