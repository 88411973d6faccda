"""AWS posture of the deployed local platform, one test per control.

Each test checks one control of the AWS Foundational Security Best Practices standard (FSBP, the
control ids Security Hub uses: ``CloudTrail.2``, ``IAM.7``...) or of the CIS AWS Foundations
Benchmark, against what `nox -s deploy-local` created on the local AWS endpoint, with boto3 and
nothing else: the test name carries the control id (``test_cloudtrail_2_...`` is CloudTrail.2).
The same assertions hold for staging and production because the same roles create them; the
endpoint answers the describe calls exactly as AWS documents them for these services.

Where the local endpoint cannot show a control (account-level facts such as the root user's MFA or
access keys), there is no test: a test that cannot fail would prove nothing.
"""

from __future__ import annotations

import fnmatch
import json

import pytest
import yaml
from ansible_collections.giftcrypto.platform.plugins.module_utils import aws_offerings, secret_rotation

from tests.integration.conftest import ROOT

pytestmark = pytest.mark.usefixtures("local_vars")

# Ports that FSBP EC2.19 calls high-risk: none may be open to the world.
HIGH_RISK_PORTS = (20, 21, 22, 23, 25, 110, 135, 143, 445, 1433, 1434, 3000, 3306, 3389, 4333, 5000)
HIGH_RISK_PORTS += (5432, 5500, 5601, 6379, 8080, 8088, 8888, 9200, 9300)
WORLD = ("0.0.0.0/0", "::/0")
PURPOSES = ("rds", "eks", "s3", "logs", "pii", "elasticache")


@pytest.fixture(scope="module")
def prefix(local_vars) -> str:
    return f"{local_vars['platform_name']}-{local_vars['platform_environment']}"


@pytest.fixture(scope="module")
def vpc(aws, prefix) -> dict:
    vpcs = aws("ec2").describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [prefix]}])["Vpcs"]
    assert len(vpcs) == 1, f"expected one VPC named {prefix}, found {len(vpcs)}"
    return vpcs[0]


@pytest.fixture(scope="module")
def trail(aws, prefix) -> dict:
    trails = {t["Name"]: t for t in aws("cloudtrail").describe_trails()["trailList"]}
    assert f"{prefix}-audit" in trails, f"no trail {prefix}-audit among {sorted(trails)}"
    return trails[f"{prefix}-audit"]


@pytest.fixture(scope="module")
def keys(aws, prefix) -> dict[str, str]:
    """purpose -> key id of the platform's customer-managed keys (by their aliases)."""
    aliases = aws("kms").list_aliases()["Aliases"]
    found = {a["AliasName"].removeprefix(f"alias/{prefix}-"): a["TargetKeyId"] for a in aliases}
    missing = sorted(set(PURPOSES) - set(found))
    assert not missing, f"no customer-managed key for {missing}"
    return {purpose: found[purpose] for purpose in PURPOSES}


@pytest.fixture(scope="module")
def security_groups(aws, vpc) -> list[dict]:
    return aws("ec2").describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])[
        "SecurityGroups"
    ]


@pytest.fixture(scope="module")
def password_policy(aws) -> dict:
    return aws("iam").get_account_password_policy()["PasswordPolicy"]


@pytest.fixture(scope="module")
def our_buckets(aws, prefix) -> list[str]:
    buckets = [b["Name"] for b in aws("s3").list_buckets()["Buckets"] if b["Name"].startswith(prefix)]
    assert buckets, f"no bucket of {prefix}"
    return buckets


def _world_rules(group: dict) -> list[dict]:
    return [
        rule
        for rule in group["IpPermissions"]
        if any(r.get("CidrIp") in WORLD for r in rule.get("IpRanges", []))
        or any(r.get("CidrIpv6") in WORLD for r in rule.get("Ipv6Ranges", []))
    ]


def _covers(rule: dict, port: int) -> bool:
    if rule.get("IpProtocol") == "-1":
        return True
    return rule.get("FromPort", 0) <= port <= rule.get("ToPort", 65535)


def _bucket_policy(aws, bucket: str) -> dict:
    return json.loads(aws("s3").get_bucket_policy(Bucket=bucket)["Policy"])


# --- CloudTrail ------------------------------------------------------------------------------------


@pytest.mark.soc2("CC7.2")
def test_cloudtrail_1_multi_region_trail_with_management_events(aws, trail):
    assert trail["IsMultiRegionTrail"] is True
    assert trail["IncludeGlobalServiceEvents"] is True
    assert aws("cloudtrail").get_trail_status(Name=trail["TrailARN"])["IsLogging"] is True


@pytest.mark.soc2("CC6.1", "CC7.2")
def test_cloudtrail_2_encrypted_with_kms(trail, keys, aws):
    key_id = aws("kms").describe_key(KeyId=trail["KmsKeyId"])["KeyMetadata"]["KeyId"]
    assert key_id == keys["logs"], "CloudTrail must be encrypted with the platform's logs key"


@pytest.mark.soc2("CC7.2")
def test_cloudtrail_4_log_file_validation(trail):
    assert trail["LogFileValidationEnabled"] is True


@pytest.mark.soc2("CC7.2")
def test_cloudtrail_5_integrated_with_cloudwatch_logs(trail, aws):
    group = trail["CloudWatchLogsLogGroupArn"].split(":log-group:")[1].removesuffix(":*")
    groups = aws("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert [g["logGroupName"] for g in groups] == [group]
    assert trail["CloudWatchLogsRoleArn"].endswith("-cloudtrail-logs")


@pytest.mark.soc2("CC6.1", "CC7.2")
def test_cloudtrail_6_trail_bucket_not_public(aws, trail):
    """CIS 3.3 (FSBP CloudTrail.6): the bucket of the trail's logs blocks every public access."""
    config = aws("s3").get_public_access_block(Bucket=trail["S3BucketName"])["PublicAccessBlockConfiguration"]
    assert all(config.values()), config


# --- AWS Config, GuardDuty, Security Hub --------------------------------------------------------------


@pytest.mark.soc2("CC7.2")
def test_config_1_recorder_records_all_resources(aws):
    config = aws("config")
    recorders = config.describe_configuration_recorders()["ConfigurationRecorders"]
    assert len(recorders) == 1
    group = recorders[0]["recordingGroup"]
    assert group["allSupported"] is True and group["includeGlobalResourceTypes"] is True
    status = config.describe_configuration_recorder_status()["ConfigurationRecordersStatus"]
    assert status[0]["recording"] is True
    assert config.describe_delivery_channels()["DeliveryChannels"], "no delivery channel"
    rules = config.describe_config_rules()["ConfigRules"]
    assert len(rules) >= 5 and all(r["ConfigRuleState"] == "ACTIVE" for r in rules)


@pytest.mark.soc2("CC7.2")
def test_guardduty_1_enabled_with_high_findings_routed(aws, prefix):
    guardduty = aws("guardduty")
    detectors = guardduty.list_detectors()["DetectorIds"]
    assert len(detectors) == 1
    assert guardduty.get_detector(DetectorId=detectors[0])["Status"] == "ENABLED"
    events = aws("events")
    rule = events.describe_rule(Name=f"{prefix}-guardduty-high-severity")
    assert rule["State"] == "ENABLED"
    assert json.loads(rule["EventPattern"])["source"] == ["aws.guardduty"]
    targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert [t["Arn"].rsplit(":", 1)[1] for t in targets] == [f"{prefix}-critical"]


@pytest.mark.soc2("CC7.2")
def test_securityhub_1_enabled(aws):
    hub = aws("securityhub").describe_hub()
    assert hub["HubArn"].endswith(":hub/default")


# --- EC2 / VPC ---------------------------------------------------------------------------------------


@pytest.mark.soc2("CC6.6")
def test_ec2_2_default_security_group_allows_nothing(security_groups):
    default = [g for g in security_groups if g["GroupName"] == "default"]
    assert len(default) == 1
    assert default[0]["IpPermissions"] == [], "the VPC's default security group must have no ingress"
    assert default[0]["IpPermissionsEgress"] == [], "the VPC's default security group must have no egress"


@pytest.mark.soc2("CC7.2")
def test_ec2_6_vpc_flow_logging_enabled(aws, vpc):
    logs = aws("ec2").describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc["VpcId"]]}])[
        "FlowLogs"
    ]
    assert [(f["TrafficType"], f["FlowLogStatus"]) for f in logs] == [("ALL", "ACTIVE")]


@pytest.mark.soc2("CC6.6")
def test_ec2_18_only_https_open_to_the_world(security_groups):
    """EC2.18: unrestricted ingress only on authorised ports (ours: 443 and 80, on the ALB's group)."""
    for group in security_groups:
        for rule in _world_rules(group):
            assert rule["IpProtocol"] == "tcp", f"{group['GroupName']}: {rule}"
            assert (rule["FromPort"], rule["ToPort"]) in {(443, 443), (80, 80)}, f"{group['GroupName']}"
            assert group["GroupName"].endswith("-alb"), f"{group['GroupName']} is open to the world"


@pytest.mark.soc2("CC6.6")
@pytest.mark.parametrize("port", HIGH_RISK_PORTS)
def test_ec2_19_no_high_risk_port_open_to_the_world(security_groups, port):
    for group in security_groups:
        for rule in _world_rules(group):
            assert not _covers(rule, port), f"{group['GroupName']} opens {port} to the world"


@pytest.mark.soc2("CC6.6")
def test_ec2_21_network_acls_block_admin_ports_from_the_world(aws, vpc):
    acls = aws("ec2").describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])[
        "NetworkAcls"
    ]
    ours = [a for a in acls if not a["IsDefault"]]
    assert ours, "the VPC has no network ACL of ours"
    for acl in ours:
        for entry in acl["Entries"]:
            if entry["Egress"] or entry["RuleAction"] != "allow":
                continue
            if entry.get("CidrBlock") not in WORLD and entry.get("Ipv6CidrBlock") not in WORLD:
                continue
            span = entry.get("PortRange", {"From": 0, "To": 65535})
            for port in (22, 3389):
                assert entry["Protocol"] not in ("-1",), f"{acl['NetworkAclId']} allows everything"
                assert not span["From"] <= port <= span["To"], f"{acl['NetworkAclId']} allows {port}"


@pytest.mark.soc2("CC6.6")
def test_ec2_53_no_remote_admin_from_the_world(security_groups):
    for group in security_groups:
        for rule in _world_rules(group):
            for port in (22, 3389):
                assert not _covers(rule, port), f"{group['GroupName']} opens {port} to the world"


# --- IAM --------------------------------------------------------------------------------------------


def _our_policy_documents(aws, prefix):
    iam = aws("iam")
    for policy in iam.list_policies(Scope="Local")["Policies"]:
        if policy["PolicyName"].startswith(prefix):
            version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])
            yield policy["PolicyName"], version["PolicyVersion"]["Document"]
    for role in iam.list_roles()["Roles"]:
        if role["RoleName"].startswith(prefix):
            for name in iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]:
                yield (
                    f"{role['RoleName']}/{name}",
                    iam.get_role_policy(RoleName=role["RoleName"], PolicyName=name)["PolicyDocument"],
                )


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


@pytest.mark.soc2("CC6.1", "CC6.3")
def test_iam_1_no_policy_grants_full_administrative_privileges(aws, prefix):
    documents = list(_our_policy_documents(aws, prefix))
    assert documents, "no policy of ours found"
    for name, document in documents:
        document = json.loads(document) if isinstance(document, str) else document
        for statement in _as_list(document["Statement"]):
            if statement["Effect"] != "Allow" or "Action" not in statement:
                continue
            actions = _as_list(statement["Action"])
            resources = _as_list(statement.get("Resource", []))
            assert not ("*" in actions and "*" in resources), f"{name} allows * on *"


@pytest.mark.soc2("CC6.1")
def test_iam_2_users_get_permissions_only_through_groups(aws):
    iam = aws("iam")
    for user in iam.list_users()["Users"]:
        name = user["UserName"]
        assert iam.list_attached_user_policies(UserName=name)["AttachedPolicies"] == [], name
        assert iam.list_user_policies(UserName=name)["PolicyNames"] == [], name


@pytest.mark.soc2("CC6.1")
def test_iam_7_password_policy_is_strong(password_policy):
    assert password_policy["MinimumPasswordLength"] >= 14
    assert password_policy["AllowUsersToChangePassword"] is True


@pytest.mark.soc2("CC6.1")
def test_iam_11_password_requires_uppercase(password_policy):
    assert password_policy["RequireUppercaseCharacters"] is True


@pytest.mark.soc2("CC6.1")
def test_iam_12_password_requires_lowercase(password_policy):
    assert password_policy["RequireLowercaseCharacters"] is True


@pytest.mark.soc2("CC6.1")
def test_iam_13_password_requires_symbols(password_policy):
    assert password_policy["RequireSymbols"] is True


@pytest.mark.soc2("CC6.1")
def test_iam_14_password_requires_numbers(password_policy):
    assert password_policy["RequireNumbers"] is True


@pytest.mark.soc2("CC6.1")
def test_iam_15_password_minimum_length_14(password_policy):
    assert password_policy["MinimumPasswordLength"] >= 14


@pytest.mark.soc2("CC6.1")
def test_iam_16_password_reuse_prevented(password_policy):
    assert password_policy["PasswordReusePrevention"] >= 24


@pytest.mark.soc2("CC6.1")
def test_iam_17_passwords_expire_within_90_days(password_policy):
    assert password_policy["ExpirePasswords"] is True
    assert password_policy["MaxPasswordAge"] <= 90


@pytest.mark.soc2("CC6.1")
def test_iam_cis_1_14_admins_need_mfa(aws, prefix):
    """CIS 1.10/1.14 in spirit: every action of the admin group is denied without MFA."""
    iam = aws("iam")
    group = f"{prefix}-admins"
    documents = []
    for attached in iam.list_attached_group_policies(GroupName=group)["AttachedPolicies"]:
        policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])
        documents.append(version["PolicyVersion"]["Document"])
    for name in iam.list_group_policies(GroupName=group)["PolicyNames"]:
        documents.append(iam.get_group_policy(GroupName=group, PolicyName=name)["PolicyDocument"])
    statements = [
        s
        for d in documents
        for s in _as_list((json.loads(d) if isinstance(d, str) else d)["Statement"])
        if s["Effect"] == "Deny"
    ]

    def denies_without_mfa(statement: dict, action: str) -> bool:
        condition = statement.get("Condition", {}).get("BoolIfExists", {})
        if condition.get("aws:MultiFactorAuthPresent") != "false" or statement.get("Resource") != "*":
            return False
        if "NotAction" in statement:
            return not any(fnmatch.fnmatch(action, a) for a in _as_list(statement["NotAction"]))
        return any(fnmatch.fnmatch(action, a) for a in _as_list(statement.get("Action", [])))

    # Without MFA an admin can only set MFA up: everything else, e.g. reading data or changing IAM, is denied.
    for action in ("s3:GetObject", "iam:CreateUser", "ec2:TerminateInstances", "kms:Decrypt"):
        assert any(denies_without_mfa(s, action) for s in statements), f"{group}: {action} without MFA"
    assert not any(denies_without_mfa(s, "iam:EnableMFADevice") for s in statements), (
        f"{group}: enabling MFA itself is denied without MFA (admins would be locked out)"
    )


# Service principals that put no aws:SourceArn / aws:SourceAccount in the request when they assume a
# role, so a condition on them would lock the service out (ADR 0017): EC2 assuming an instance
# profile's role (AWS's own EKS node role trust, "Amazon EKS node IAM role", has none) and CloudTrail
# assuming its CloudWatch Logs role (the CloudTrail user guide: that role "doesn't support the use of
# aws:SourceArn and aws:SourceAccount").
NO_SOURCE_KEYS = {"ec2.amazonaws.com", "cloudtrail.amazonaws.com"}
SOURCE_KEYS = {"aws:SourceAccount", "aws:SourceArn"}
# What each service's documentation recommends for the roles it assumes (ADR 0017 cites the pages):
# both keys where the service names the resource acting, the account alone where it documents only that.
RECOMMENDED_KEYS = {
    "eks.amazonaws.com": SOURCE_KEYS,
    "vpc-flow-logs.amazonaws.com": SOURCE_KEYS,
    "monitoring.rds.amazonaws.com": SOURCE_KEYS,
    "codebuild.amazonaws.com": SOURCE_KEYS,
    "config.amazonaws.com": {"aws:SourceAccount"},
    "backup.amazonaws.com": {"aws:SourceAccount"},
    # The secret rotation function's execution role (ADR 0019): the account, which Lambda puts in the
    # request when it assumes an execution role; its documentation names no ARN to pin (a function's
    # ARN is the role's user, not known before the role), cf. terraform-aws-modules/terraform-aws-lambda#771.
    "lambda.amazonaws.com": {"aws:SourceAccount"},
}


def _condition_keys(statement: dict) -> set[str]:
    return {key for operator in statement.get("Condition", {}).values() for key in operator}


def _trust(role: dict) -> list[dict]:
    document = role["AssumeRolePolicyDocument"]
    return _as_list((json.loads(document) if isinstance(document, str) else document)["Statement"])


@pytest.mark.soc2("CC6.1")
def test_iam_confused_deputy_service_roles_name_their_source(aws, prefix):
    """Prowler iam_role_cross_service_confused_deputy_prevention: every role of ours that an AWS
    service assumes admits it only for our account or our resource (aws:SourceAccount/aws:SourceArn),
    with the keys that service's documentation recommends."""
    account = aws("sts").get_caller_identity()["Account"]
    roles = [r for r in aws("iam").list_roles()["Roles"] if r["RoleName"].startswith(prefix)]
    checked = {}
    for role in roles:
        for statement in _trust(role):
            services = _as_list(statement.get("Principal", {}).get("Service", []))
            if statement["Effect"] != "Allow" or not services or set(services) <= NO_SOURCE_KEYS:
                continue
            assert set(services) <= set(RECOMMENDED_KEYS), f"{role['RoleName']}: no rule for {services}"
            for service in services:
                assert RECOMMENDED_KEYS[service] <= _condition_keys(statement), (
                    f"{role['RoleName']} trusts {service} without {sorted(RECOMMENDED_KEYS[service])}"
                )
            for operator, keys in statement["Condition"].items():
                assert not operator.startswith("ForAnyValue") and not operator.endswith("IfExists"), operator
                for key, value in keys.items():
                    if key == "aws:SourceAccount":
                        assert _as_list(value) == [account], (role["RoleName"], value)
                    elif key == "aws:SourceArn":
                        assert all(v.split(":")[4] == account for v in _as_list(value)), (
                            role["RoleName"],
                            value,
                        )
            checked[role["RoleName"]] = services
    # Every service role of the platform but the two exempt: flow logs, EKS cluster, Config, RDS
    # monitoring, Backup, the CI runner (CodeBuild) and the secret rotation function (Lambda).
    assert set(RECOMMENDED_KEYS) == {s for services in checked.values() for s in services}, checked


@pytest.mark.soc2("CC6.1", "CC6.3")
def test_iam_cis_1_16_admins_get_full_rights_only_through_an_mfa_role(aws, prefix):
    """CIS 1.16 / IAM.1 in spirit: no group or user of ours holds AdministratorAccess; administrators
    assume the <name>-admin role, which requires MFA and lasts at most an hour."""
    iam = aws("iam")
    admin_access = "arn:aws:iam::aws:policy/AdministratorAccess"
    for group in iam.list_groups()["Groups"]:
        attached = iam.list_attached_group_policies(GroupName=group["GroupName"])["AttachedPolicies"]
        assert admin_access not in {p["PolicyArn"] for p in attached}, group["GroupName"]
    for user in iam.list_users()["Users"]:
        attached = iam.list_attached_user_policies(UserName=user["UserName"])["AttachedPolicies"]
        assert admin_access not in {p["PolicyArn"] for p in attached}, user["UserName"]
    holders = iam.list_entities_for_policy(PolicyArn=admin_access)
    assert [r["RoleName"] for r in holders["PolicyRoles"] if r["RoleName"].startswith(prefix)] == [
        f"{prefix}-admin"
    ]
    role = iam.get_role(RoleName=f"{prefix}-admin")["Role"]
    assert role["MaxSessionDuration"] <= 3600
    for statement in _trust(role):
        assert statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRole"
        assert statement["Condition"]["Bool"] == {"aws:MultiFactorAuthPresent": "true"}, statement
        assert int(statement["Condition"]["NumericLessThan"]["aws:MultiFactorAuthAge"]) <= 3600


# --- KMS --------------------------------------------------------------------------------------------


@pytest.mark.soc2("CC6.1")
@pytest.mark.parametrize("purpose", PURPOSES)
def test_kms_4_key_rotation_enabled(aws, keys, purpose):
    assert aws("kms").get_key_rotation_status(KeyId=keys[purpose])["KeyRotationEnabled"] is True


@pytest.mark.soc2("CC6.1")
@pytest.mark.parametrize("purpose", PURPOSES)
def test_kms_3_key_not_scheduled_for_deletion(aws, keys, purpose):
    metadata = aws("kms").describe_key(KeyId=keys[purpose])["KeyMetadata"]
    assert metadata["KeyState"] == "Enabled"
    assert metadata["KeyManager"] == "CUSTOMER"


# --- S3 ---------------------------------------------------------------------------------------------


@pytest.mark.soc2("CC6.1")
def test_s3_8_buckets_block_public_access(aws, our_buckets):
    for bucket in our_buckets:
        config = aws("s3").get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert config == {
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        }, bucket


@pytest.mark.soc2("CC6.7")
def test_s3_5_buckets_require_ssl(aws, our_buckets):
    for bucket in our_buckets:
        statements = _as_list(_bucket_policy(aws, bucket)["Statement"])
        deny_plaintext = [
            s
            for s in statements
            if s["Effect"] == "Deny"
            and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
        ]
        assert deny_plaintext, f"{bucket} does not deny requests without TLS"


def _alb_access_log_buckets(aws) -> set[str]:
    """Buckets a load balancer writes its access logs to: Elastic Load Balancing delivers only into
    buckets encrypted with S3-managed keys (SSE-S3), the one documented exception to S3.17."""
    elbv2 = aws("elbv2")
    buckets = set()
    for lb in elbv2.describe_load_balancers()["LoadBalancers"]:
        found = elbv2.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]
        attributes = {a["Key"]: a["Value"] for a in found}
        if attributes.get("access_logs.s3.enabled") == "true":
            buckets.add(attributes.get("access_logs.s3.bucket"))
    return buckets


@pytest.mark.soc2("CC6.1")
def test_s3_17_buckets_encrypted_with_kms(aws, our_buckets, keys):
    access_log_buckets = _alb_access_log_buckets(aws)
    for bucket in our_buckets:
        rules = aws("s3").get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        default = rules[0]["ApplyServerSideEncryptionByDefault"]
        if bucket in access_log_buckets:
            assert default["SSEAlgorithm"] == "AES256", f"{bucket}: ELB access logs need SSE-S3"
            continue
        assert default["SSEAlgorithm"] == "aws:kms", bucket
        assert default.get("KMSMasterKeyID"), f"{bucket} uses the AWS-managed key"


@pytest.mark.soc2("CC7.2")
def test_s3_14_buckets_versioned(aws, our_buckets):
    for bucket in our_buckets:
        assert aws("s3").get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled", bucket


# --- Anchored audit heads (docs/adr/0016-anchored-audit-heads.md) ------------------------------


@pytest.mark.soc2("CC7.2")
def test_s3_15_audit_anchors_bucket_object_lock_compliance_for_the_audit_retention(aws, prefix):
    """FSBP S3.15: Object Lock enabled; compliance mode, so not even root deletes an anchor early."""
    bucket = f"{prefix}-audit-anchors"
    config = aws("s3").get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    assert config["ObjectLockEnabled"] == "Enabled", bucket
    retention = config["Rule"]["DefaultRetention"]
    assert retention["Mode"] == "COMPLIANCE", retention
    assert retention.get("Days", 0) >= 365 or retention.get("Years", 0) >= 1, retention
    statements = {s.get("Sid"): s for s in _as_list(_bucket_policy(aws, bucket)["Statement"])}
    assert statements["AnchorsAreNeverReplaced"]["Condition"] == {"Null": {"s3:if-none-match": "true"}}
    assert statements["OnlyTheAnchoringJobWrites"]["Effect"] == "Deny"


@pytest.mark.soc2("CC6.1", "CC7.2")
def test_kms_audit_anchor_key_signs_for_the_anchoring_role_only(aws, prefix):
    kms = aws("kms")
    metadata = kms.describe_key(KeyId=f"alias/{prefix}-audit-anchor")["KeyMetadata"]
    assert (metadata["KeySpec"], metadata["KeyUsage"], metadata["KeyState"]) == (
        "ECC_NIST_P256",
        "SIGN_VERIFY",
        "Enabled",
    )
    policy = json.loads(kms.get_key_policy(KeyId=metadata["KeyId"], PolicyName="default")["Policy"])
    role = aws("iam").get_role(RoleName=f"{prefix}-audit-anchor")["Role"]["Arn"]
    signers = [
        s for s in policy["Statement"] if s["Effect"] == "Allow" and "kms:Sign" in _as_list(s["Action"])
    ]
    assert [s["Principal"] for s in signers] == [{"AWS": role}]
    # No wildcard grants Sign to anyone else (kms:* to the account would delegate it to IAM policies).
    for statement in policy["Statement"]:
        if statement["Effect"] == "Allow" and statement not in signers:
            assert not any(fnmatch.fnmatch("kms:Sign", a) for a in _as_list(statement["Action"])), statement
    (deny,) = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert deny["Action"] == "kms:Sign" and deny["Principal"] == "*"
    assert deny["Condition"] == {"StringNotEquals": {"aws:PrincipalArn": role}}


# --- Edge (aws_edge): the load balancer <platform>-<env>, its WAF web ACL, the assets distribution ---


@pytest.fixture(scope="module")
def load_balancer(aws, prefix) -> dict:
    (found,) = aws("elbv2").describe_load_balancers(Names=[prefix])["LoadBalancers"]
    return found


@pytest.fixture(scope="module")
def listeners(aws, load_balancer) -> dict[int, dict]:
    found = aws("elbv2").describe_listeners(LoadBalancerArn=load_balancer["LoadBalancerArn"])["Listeners"]
    return {listener["Port"]: listener for listener in found}


@pytest.fixture(scope="module")
def load_balancer_attributes(aws, load_balancer) -> dict[str, str]:
    found = aws("elbv2").describe_load_balancer_attributes(LoadBalancerArn=load_balancer["LoadBalancerArn"])
    return {a["Key"]: a["Value"] for a in found["Attributes"]}


@pytest.fixture(scope="module")
def web_acl(aws, prefix) -> dict:
    wafv2 = aws("wafv2")
    (summary,) = [
        a for a in wafv2.list_web_acls(Scope="REGIONAL")["WebACLs"] if a["Name"] == f"{prefix}-edge"
    ]
    return wafv2.get_web_acl(Name=summary["Name"], Scope="REGIONAL", Id=summary["Id"])["WebACL"]


@pytest.fixture(scope="module")
def distribution(aws, prefix) -> dict:
    cloudfront = aws("cloudfront")
    items = cloudfront.list_distributions()["DistributionList"].get("Items") or []
    (found,) = [d for d in items if d["Comment"].startswith(f"{prefix} assets")]
    return cloudfront.get_distribution(Id=found["Id"])["Distribution"]


@pytest.mark.soc2("CC6.7")
def test_elb_1_http_redirected_to_https(listeners):
    for port, listener in listeners.items():
        if listener["Protocol"] != "HTTP":
            continue
        actions = listener["DefaultActions"]
        assert [a["Type"] for a in actions] == ["redirect"], port
        assert actions[0]["RedirectConfig"]["Protocol"] == "HTTPS", port
    assert any(listener["Protocol"] == "HTTPS" for listener in listeners.values())


@pytest.mark.soc2("CC6.6")
def test_elb_4_drops_invalid_http_headers(load_balancer_attributes):
    assert load_balancer_attributes.get("routing.http.drop_invalid_header_fields.enabled") == "true"


@pytest.mark.soc2("CC7.2")
def test_elb_5_access_logging_enabled(aws, load_balancer_attributes):
    assert load_balancer_attributes.get("access_logs.s3.enabled") == "true"
    bucket = load_balancer_attributes["access_logs.s3.bucket"]
    assert aws("s3").get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled"


@pytest.mark.soc2("CC6.6")
def test_elb_16_associated_with_waf_web_acl(aws, load_balancer, web_acl):
    answer = aws("wafv2").get_web_acl_for_resource(ResourceArn=load_balancer["LoadBalancerArn"])
    assert answer["WebACL"]["ARN"] == web_acl["ARN"]


@pytest.mark.soc2("CC6.7")
def test_elb_17_https_listeners_use_a_recommended_tls13_policy(listeners):
    https = [listener for listener in listeners.values() if listener["Protocol"] == "HTTPS"]
    assert https
    for listener in https:
        assert listener["SslPolicy"].startswith(
            ("ELBSecurityPolicy-TLS13-1-2-", "ELBSecurityPolicy-TLS13-1-3-")
        )


@pytest.mark.soc2("CC6.6")
def test_waf_10_web_acl_has_managed_and_rate_rules(web_acl):
    statements = [rule["Statement"] for rule in web_acl["Rules"]]
    managed = {s["ManagedRuleGroupStatement"]["Name"] for s in statements if "ManagedRuleGroupStatement" in s}
    assert managed >= {
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesSQLiRuleSet",
    }
    assert any("RateBasedStatement" in s for s in statements)


@pytest.mark.soc2("CC7.2")
def test_waf_11_web_acl_logging_enabled(aws, web_acl):
    logging = aws("wafv2").get_logging_configuration(ResourceArn=web_acl["ARN"])["LoggingConfiguration"]
    (destination,) = logging["LogDestinationConfigs"]
    group = destination.split(":log-group:", 1)[1]
    assert group.startswith("aws-waf-logs-")
    (found,) = aws("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert found.get("kmsKeyId"), f"{group} is not encrypted with a customer-managed key"


@pytest.mark.soc2("CC7.2")
def test_cloudfront_1_default_root_object(distribution):
    assert distribution["DistributionConfig"].get("DefaultRootObject")


@pytest.mark.soc2("CC6.7")
def test_cloudfront_3_viewers_use_https(distribution):
    config = distribution["DistributionConfig"]
    behaviors = [config["DefaultCacheBehavior"], *(config.get("CacheBehaviors", {}).get("Items") or [])]
    for behavior in behaviors:
        assert behavior["ViewerProtocolPolicy"] in ("redirect-to-https", "https-only")
    assert config["ViewerCertificate"]["MinimumProtocolVersion"] in (
        "TLSv1.2_2021",
        "TLSv1.2_2025",
        "TLSv1.3_2025",
    )


@pytest.mark.soc2("CC6.1")
def test_cloudfront_13_s3_origin_uses_origin_access_control(aws, distribution):
    """The local endpoint (moto 5.2) drops an origin's OriginAccessControlId from its answers; what it
    shows is checked: the origin has no legacy OAI, an OAC that always signs exists for it, and the
    bucket admits CloudFront only for this distribution. The field itself is checked when answered."""
    (origin,) = distribution["DistributionConfig"]["Origins"]["Items"]
    assert origin.get("S3OriginConfig", {}).get("OriginAccessIdentity", "") == ""
    bucket = origin["DomainName"].split(".s3.", 1)[0]
    oacs = aws("cloudfront").list_origin_access_controls()["OriginAccessControlList"].get("Items") or []
    signing = {
        o["Id"]
        for o in oacs
        if o["SigningBehavior"] == "always" and o["OriginAccessControlOriginType"] == "s3"
    }
    assert signing, "no origin access control signs every request"
    if "OriginAccessControlId" in origin:
        assert origin["OriginAccessControlId"] in signing
    statements = _as_list(_bucket_policy(aws, bucket)["Statement"])
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert allows, f"{bucket} admits no one"
    for statement in allows:
        assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}
        assert statement["Condition"]["StringEquals"]["AWS:SourceArn"] == distribution["ARN"]


# --- SNS, Secrets Manager, CloudWatch Logs ------------------------------------------------------------


@pytest.mark.soc2("CC6.1")
def test_sns_1_topics_encrypted_with_kms(aws, prefix):
    sns = aws("sns")
    topics = [
        t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].split(":")[-1].startswith(prefix)
    ]
    assert {t.rsplit(":", 1)[1] for t in topics} >= {f"{prefix}-critical", f"{prefix}-warning"}
    for topic in topics:
        assert sns.get_topic_attributes(TopicArn=topic)["Attributes"].get("KmsMasterKeyId"), topic


@pytest.fixture(scope="module")
def rds_master_secret(aws, prefix) -> dict:
    """The secret RDS keeps the primary's master password in (ManageMasterUserPassword), described."""
    primary = aws("rds").describe_db_instances(DBInstanceIdentifier=prefix)["DBInstances"][0]
    assert primary.get("MasterUserSecret"), f"RDS does not manage the master password of {prefix}"
    return aws("secretsmanager").describe_secret(SecretId=primary["MasterUserSecret"]["SecretArn"])


@pytest.mark.soc2("CC6.1")
def test_secretsmanager_aws_secrets_encrypted_with_their_key(aws, local_vars, keys, rds_master_secret):
    """The AWS services' secrets (RDS master, Redis AUTH) are encrypted with their service's key."""
    base = f"{local_vars['platform_name']}/{local_vars['platform_environment']}"
    secrets = aws("secretsmanager")
    found = {
        "rds": rds_master_secret["KmsKeyId"],
        "elasticache": secrets.describe_secret(SecretId=f"{base}/elasticache/auth-token")["KmsKeyId"],
    }
    for purpose, key in found.items():
        assert aws("kms").describe_key(KeyId=key)["KeyMetadata"]["KeyId"] == keys[purpose], purpose


@pytest.mark.soc2("CC6.1")
def test_secretsmanager_1_rds_master_password_rotated_by_rds(aws, rds_master_secret, local_vars):
    """SecretsManager.1 (automatic rotation enabled), for the RDS master password: RDS owns the secret
    and rotates it; the platform's generated master password secret is gone (ADR 0019)."""
    assert rds_master_secret["OwningService"] == "rds"
    assert rds_master_secret["RotationEnabled"] is True
    legacy = f"{local_vars['platform_name']}/{local_vars['platform_environment']}/rds/master"
    listed = aws("secretsmanager").list_secrets(Filters=[{"Key": "name", "Values": [legacy]}])["SecretList"]
    live = [s["Name"] for s in listed if s["Name"] == legacy and not s.get("DeletedDate")]
    assert live == [], "the platform-generated master password secret is still there"


@pytest.mark.soc2("CC6.1")
def test_secretsmanager_4_rds_master_password_rotated_within_90_days(rds_master_secret):
    """SecretsManager.4 (rotated within a number of days; Security Hub's default 90)."""
    days = rds_master_secret["RotationRules"]["AutomaticallyAfterDays"]
    assert 1 <= days <= 90, days


@pytest.mark.soc2("CC6.1")
def test_secretsmanager_1_generated_logins_rotated_by_the_platforms_function(aws, local_vars, prefix):
    """SecretsManager.1 (automatic rotation enabled) for the generated logins (ADR 0019): each login
    the inventory rotates has rotation on, by the platform's rotation function; the keys that are not
    passwords (secret_rotation.NOT_ROTATED, rotated by their own procedures) have no schedule. The
    ElastiCache AUTH token has its schedule on staging and production only: the local endpoint has no
    ElastiCache data plane to rotate it against (ADR 0019)."""
    base = f"{local_vars['platform_name']}/{local_vars['platform_environment']}"
    secrets = aws("secretsmanager")
    rotated = local_vars["aws_secret_rotation_secrets"]
    assert {"postgres/app_rw", "postgres/app_ro", "redis/app"} <= set(rotated), rotated
    for login in rotated:
        described = secrets.describe_secret(SecretId=f"{base}/{login}")
        assert described.get("RotationEnabled") is True, f"{login}: no automatic rotation"
        assert described["RotationLambdaARN"].endswith(f":function:{prefix}-secret-rotation"), described
    for key in secret_rotation.NOT_ROTATED:
        listed = secrets.list_secrets(Filters=[{"Key": "name", "Values": [f"{base}/{key}"]}])["SecretList"]
        assert not [s["Name"] for s in listed if s["Name"] == f"{base}/{key}" and s.get("RotationEnabled")]


@pytest.mark.soc2("CC6.1")
def test_secretsmanager_4_generated_logins_rotated_within_90_days(aws, local_vars):
    """SecretsManager.4 (rotated within Security Hub's default 90 days) for the generated logins."""
    base = f"{local_vars['platform_name']}/{local_vars['platform_environment']}"
    for login in local_vars["aws_secret_rotation_secrets"]:
        rules = aws("secretsmanager").describe_secret(SecretId=f"{base}/{login}")["RotationRules"]
        assert 1 <= rules["AutomaticallyAfterDays"] <= 90, (login, rules)


# The secrets the application role reads (aws_security_baseline_app_secret_names): the only ones
# with a reader beyond the deploy, the admins' role and the CI deploy role.
APP_SECRETS = ("postgres/app_rw", "postgres/app_ro", "redis/app")
# The secrets the connection pooler's role reads (aws_security_baseline_pooler_secret_names): the
# API's logins, whose current and pending values keep pgBouncer's userlist current (ADR 0019).
POOLER_SECRETS = ("postgres/app_rw", "postgres/app_ro")
# The secrets the rotation function's role reads (aws_security_baseline_rotation_secret_names, ADR
# 0019): the logins it rotates and the admin logins its setSecret uses.
ROTATION_READ = (
    "postgres/app_rw",
    "postgres/app_ro",
    "postgres/migrator",
    "postgres/auditor",
    "postgres/monitor",
    "postgres/master",
    "redis/app",
    "redis/admin",
    "redis/monitor",
    "elasticache/auth-token",
)


def _role_patterns(arn: str) -> set[str]:
    """A role as the secrets' policies name it: with and without a path (ADR 0017)."""
    return {arn, arn.replace(":role/", ":role/*/")}


@pytest.mark.soc2("CC6.1")
def test_secretsmanager_generated_secrets_readable_only_by_named_principals(aws, local_vars, prefix):
    """Issue 23 item 3: every secret the platform generates (the 12 the posture scan listed, and any
    later one under <platform>/<environment>/) carries a resource policy that denies reading its value
    to every principal but the deploying one, the administrators' role, the CI deploy role and, for
    the application's own secrets, the application role (for the API's logins also the connection
    pooler's role; for the auditor's login the audit-anchor job's role). It denies nothing but reading."""
    base = f"{local_vars['platform_name']}/{local_vars['platform_environment']}"
    identity = aws("sts").get_caller_identity()
    account, deployer = identity["Account"], identity["Arn"]
    role = f"arn:aws:iam::{account}:role/{prefix}"
    everyone = {deployer} | _role_patterns(f"{role}-admin") | _role_patterns(f"{role}-ci-deploy")
    secrets = aws("secretsmanager")
    names = sorted(
        s["Name"]
        for page in secrets.get_paginator("list_secrets").paginate()
        for s in page["SecretList"]
        if s["Name"].startswith(f"{base}/")
    )
    # 11 generated (the RDS master password is RDS's own since ADR 0019).
    assert len(names) >= 11, names
    for name in names:
        policy = secrets.get_resource_policy(SecretId=name).get("ResourcePolicy")
        assert policy, f"{name} has no resource policy: any principal the account allows reads it"
        denies = [
            s
            for s in _as_list(json.loads(policy)["Statement"])
            if s["Effect"] == "Deny"
            and s.get("Principal") in ("*", {"AWS": "*"})
            and "secretsmanager:GetSecretValue" in _as_list(s["Action"])
        ]
        assert len(denies) == 1, f"{name}: no deny of GetSecretValue to all but the named principals"
        (readers,) = [
            _as_list(keys["aws:PrincipalArn"])
            for operator, keys in denies[0]["Condition"].items()
            if operator in ("ArnNotEquals", "ArnNotLike") and "aws:PrincipalArn" in keys
        ]
        assert deployer in readers, f"{name}: the deploy would lock itself out"
        own = name.removeprefix(f"{base}/")
        allowed = everyone | (_role_patterns(f"{role}-app") if own in APP_SECRETS else set())
        if own in POOLER_SECRETS:  # the pooler's sidecar keeps its userlist current (ADR 0019)
            allowed |= _role_patterns(f"{role}-pooler")
        if own == "postgres/auditor":  # the audit-anchor job reads the chains' heads as the auditor
            allowed |= _role_patterns(f"{role}-audit-anchor")
        if own in ROTATION_READ:  # the rotation function (ADR 0019)
            allowed |= _role_patterns(f"{role}-secret-rotation")
        assert set(readers) <= allowed, (
            f"{name}: readers beyond the named ones: {sorted(set(readers) - allowed)}"
        )
        if name.removeprefix(f"{base}/") in APP_SECRETS:
            assert f"{role}-app" in readers, f"{name}: the application role could not read its own secret"
        if own in POOLER_SECRETS:
            assert f"{role}-pooler" in readers, (
                f"{name}: the pooler could not follow a rotation of this login"
            )
        # The deny is on reading only: the deploy keeps managing the secret and its policy.
        assert _as_list(denies[0]["Action"]) == ["secretsmanager:GetSecretValue"], denies[0]


@pytest.mark.soc2("CC6.6")
def test_ec2_vpc_endpoint_policies_name_our_account(aws, vpc):
    """Issue 23 item 4: no endpoint of our VPC keeps the default policy (any principal, any action);
    every statement open to any principal is held to our account, or to reads of named AWS-owned
    buckets (ECR layers, Amazon Linux packages)."""
    account = aws("sts").get_caller_identity()["Account"]
    endpoints = aws("ec2").describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])[
        "VpcEndpoints"
    ]
    assert endpoints, "no VPC endpoint"
    for endpoint in endpoints:
        for statement in _as_list(json.loads(endpoint["PolicyDocument"])["Statement"]):
            if statement["Effect"] != "Allow":
                continue
            actions = _as_list(statement["Action"])
            assert "*" not in actions and "s3:*" not in actions, (endpoint["VpcEndpointId"], statement)
            conditions = statement.get("Condition", {}).get("StringEquals", {})
            if conditions.get("aws:PrincipalAccount") == account:
                if "*" not in _as_list(statement["Resource"]):
                    assert conditions.get("aws:ResourceAccount") == account, statement
                continue
            assert actions == ["s3:GetObject"], statement
            for resource in _as_list(statement["Resource"]):
                assert fnmatch.fnmatch(
                    resource, "arn:aws:s3:::prod-*-starport-layer-bucket/*"
                ) or fnmatch.fnmatch(resource, "arn:aws:s3:::al2023-repos-*/*"), resource


@pytest.mark.soc2("CC7.2")
def test_cloudwatch_16_log_groups_retained_and_encrypted(aws, local_vars, keys):
    """CloudWatch.16 asks for a retention period; ours: application 30 days, audit a year, logs key."""
    base = f"/{local_vars['platform_name']}/{local_vars['platform_environment']}/"
    groups = {
        g["logGroupName"]: g for g in aws("logs").describe_log_groups(logGroupNamePrefix=base)["logGroups"]
    }
    assert groups[f"{base}audit"]["retentionInDays"] >= 365
    assert groups[f"{base}application"]["retentionInDays"] >= 30
    for name, group in groups.items():
        assert group.get("retentionInDays"), f"{name} keeps logs forever"


@pytest.mark.soc2("CC7.2")
def test_audit_class_log_groups_are_kept_a_year(aws, local_vars, prefix):
    """The same policy for every audit-class log: VPC flow logs, the trail, EKS's control plane, WAF."""
    platform, environment = local_vars["platform_name"], local_vars["platform_environment"]
    wanted = {
        f"/{platform}/{environment}/vpc-flow-logs",
        f"/{platform}/{environment}/cloudtrail",
        f"/aws/eks/{prefix}/cluster",
        f"aws-waf-logs-{prefix}",
    }
    pages = aws("logs").get_paginator("describe_log_groups").paginate()
    found = {
        g["logGroupName"]: g.get("retentionInDays")
        for page in pages
        for g in page["logGroups"]
        if g["logGroupName"] in wanted
    }
    assert set(found) == wanted, sorted(wanted - set(found))
    assert {name: days for name, days in found.items() if not days or days < 365} == {}


# --- ElastiCache (aws_elasticache): the replication group <platform>-<env> ---------------------
# ElastiCache.7 (not the default subnet group) has no test: the endpoint does not describe the
# group's member clusters, where the subnet group is named, so a test could not fail.


@pytest.fixture(scope="module")
def replication_group(aws, prefix) -> dict:
    groups = {
        g["ReplicationGroupId"]: g
        for g in aws("elasticache").describe_replication_groups()["ReplicationGroups"]
        if g["Status"] != "deleting"
    }
    assert prefix in groups, f"no replication group {prefix} among {sorted(groups)}"
    return groups[prefix]


@pytest.mark.soc2("A1.2")
def test_elasticache_1_automatic_backups_kept_a_week(replication_group):
    assert replication_group["SnapshotRetentionLimit"] >= 7
    assert replication_group["SnapshotWindow"]


def test_elasticache_2_automatic_minor_version_upgrades(replication_group):
    assert replication_group["AutoMinorVersionUpgrade"] is True


@pytest.mark.soc2("A1.2")
def test_elasticache_3_automatic_failover_across_zones(replication_group):
    assert replication_group["AutomaticFailover"] == "enabled"
    assert replication_group["MultiAZ"] == "enabled"
    assert len(replication_group["MemberClusters"]) >= 2


@pytest.mark.soc2("CC6.1")
def test_elasticache_4_encrypted_at_rest_with_the_elasticache_key(aws, replication_group, keys):
    assert replication_group["AtRestEncryptionEnabled"] is True
    key = aws("kms").describe_key(KeyId=replication_group["KmsKeyId"])["KeyMetadata"]["KeyId"]
    assert key == keys["elasticache"]


@pytest.mark.soc2("CC6.1", "CC6.7")
def test_elasticache_5_encrypted_in_transit(replication_group):
    assert replication_group["TransitEncryptionEnabled"] is True


@pytest.mark.soc2("CC6.1")
def test_elasticache_6_redis_auth_enabled(replication_group):
    """ElastiCache.6 asks AUTH of Redis before 6; ours has it on every version."""
    assert replication_group["AuthTokenEnabled"] is True


# ----- compute: EKS and ECR (roles/aws_eks)


@pytest.fixture(scope="module")
def cluster(aws, prefix) -> dict:
    """The platform's EKS cluster (aws_eks_cluster_name defaults to <platform>-<env>)."""
    names = aws("eks").list_clusters()["clusters"]
    assert prefix in names, f"no EKS cluster {prefix} among {sorted(names)}"
    return aws("eks").describe_cluster(name=prefix)["cluster"]


@pytest.fixture(scope="module")
def repositories(aws, local_vars) -> list[dict]:
    found = [
        r
        for r in aws("ecr").describe_repositories()["repositories"]
        if r["repositoryName"].startswith(f"{local_vars['platform_name']}/")
    ]
    assert found, f"no ECR repository {local_vars['platform_name']}/*"
    return found


@pytest.mark.soc2("CC6.1")
def test_eks_1_endpoint_not_publicly_accessible(cluster, local_vars):
    """EKS.1; locally the endpoint is what the inventory says (public only for its listed CIDRs)."""
    vpc = cluster["resourcesVpcConfig"]
    assert vpc["endpointPrivateAccess"] is True
    assert vpc["endpointPublicAccess"] is bool(local_vars.get("aws_eks_endpoint_public_access", False))
    if vpc["endpointPublicAccess"]:
        assert not set(vpc.get("publicAccessCidrs", [])) & set(WORLD), vpc
        assert sorted(vpc["publicAccessCidrs"]) == sorted(local_vars["aws_eks_public_access_cidrs"])


def test_eks_2_supported_kubernetes_version(cluster, local_vars):
    """EKS.2: the cluster runs the pinned version, one in EKS standard support today (the catalogue)."""
    defaults = yaml.safe_load((ROOT / "roles" / "aws_eks" / "defaults" / "main.yml").read_text())
    supported = local_vars.get("aws_eks_supported_versions", defaults["aws_eks_supported_versions"])
    assert cluster["version"] in supported, f"{cluster['version']} is not one of {supported}"
    assert cluster["version"] == local_vars["aws_eks_kubernetes_version"]
    catalogue = yaml.safe_load((ROOT / "roles" / "preflight" / "files" / "aws_catalogue.yml").read_text())
    offered = aws_offerings.catalogue_offered(catalogue, local_vars["aws_region"])
    check = {"eks_version": {"variable": "the cluster's version", "value": cluster["version"]}}
    assert aws_offerings.offering_problems(check, offered) == []


@pytest.mark.soc2("CC6.1")
def test_eks_3_secrets_encrypted_with_the_eks_key(aws, cluster, keys):
    configs = [c for c in cluster.get("encryptionConfig", []) if "secrets" in c["resources"]]
    assert configs, f"the cluster's secrets are not envelope-encrypted: {cluster.get('encryptionConfig')}"
    key = aws("kms").describe_key(KeyId=configs[0]["provider"]["keyArn"])["KeyMetadata"]["KeyId"]
    assert key == keys["eks"]


@pytest.mark.soc2("CC7.2")
def test_eks_8_audit_logging_enabled(cluster):
    enabled = {
        t for entry in cluster["logging"]["clusterLogging"] if entry["enabled"] for t in entry["types"]
    }
    assert {"api", "audit", "authenticator"} <= enabled, enabled


def test_ecr_1_scan_on_push(repositories):
    unscanned = [
        r["repositoryName"] for r in repositories if not r["imageScanningConfiguration"]["scanOnPush"]
    ]
    assert not unscanned


def test_ecr_2_tag_immutability(repositories):
    mutable = [r["repositoryName"] for r in repositories if r["imageTagMutability"] != "IMMUTABLE"]
    assert not mutable


def test_ecr_3_lifecycle_policy(aws, repositories):
    for repository in repositories:
        text = aws("ecr").get_lifecycle_policy(repositoryName=repository["repositoryName"])[
            "lifecyclePolicyText"
        ]
        rules = json.loads(text)["rules"]
        assert any(rule["selection"]["tagStatus"] == "untagged" for rule in rules), rules
        assert all(rule["action"]["type"] == "expire" for rule in rules)


@pytest.mark.soc2("CC6.1")
def test_ecr_repositories_encrypted_with_kms(aws, repositories, keys):
    for repository in repositories:
        config = repository["encryptionConfiguration"]
        assert config["encryptionType"] == "KMS", config
        key = aws("kms").describe_key(KeyId=config["kmsKey"])["KeyMetadata"]["KeyId"]
        assert key == keys["s3"]


# --- AWS Backup (aws_backup): vaults <platform>-<env> and <platform>-<env>-dr, plan <platform>-<env>-daily
# (the selection by tag, RDS.26's evidence, cannot be made on the local endpoint: no test for it here)


@pytest.fixture(scope="module")
def backup_regions(local_vars) -> dict[str, str]:
    """vault name -> region of the backup layer's two vaults."""
    prefix = f"{local_vars['platform_name']}-{local_vars['platform_environment']}"
    dr_region = local_vars.get("aws_backup_dr_region", local_vars.get("aws_dr_region"))
    assert dr_region and dr_region != local_vars["aws_region"]
    return {prefix: local_vars["aws_region"], f"{prefix}-dr": dr_region}


@pytest.fixture(scope="module")
def backup_plan(aws, prefix) -> dict:
    backup = aws("backup")
    plans = {p["BackupPlanName"]: p for p in backup.list_backup_plans()["BackupPlansList"]}
    assert f"{prefix}-daily" in plans, f"no backup plan {prefix}-daily among {sorted(plans)}"
    return backup.get_backup_plan(BackupPlanId=plans[f"{prefix}-daily"]["BackupPlanId"])


@pytest.mark.soc2("A1.2", "CC6.1")
def test_backup_1_vaults_encrypt_recovery_points_with_customer_keys(aws, backup_regions):
    for name, region in backup_regions.items():
        vault = aws("backup", region).describe_backup_vault(BackupVaultName=name)
        key = aws("kms", region).describe_key(KeyId=vault["EncryptionKeyArn"])["KeyMetadata"]
        assert key["KeyManager"] == "CUSTOMER", (name, key["Arn"])
        assert key["Arn"].split(":")[3] == region
        assert key["Enabled"] is True
        assert aws("kms", region).get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True


@pytest.mark.soc2("CC6.1")
def test_backup_3_vaults_tagged(aws, backup_regions):
    for name, region in backup_regions.items():
        backup = aws("backup", region)
        arn = backup.describe_backup_vault(BackupVaultName=name)["BackupVaultArn"]
        tags = backup.list_tags(ResourceArn=arn)["Tags"]
        assert {"Project", "Environment", "ManagedBy", "CostCenter"} <= set(tags), (name, tags)


@pytest.mark.soc2("CC6.1")
def test_backup_5_plan_tagged(aws, backup_plan):
    tags = aws("backup").list_tags(ResourceArn=backup_plan["BackupPlanArn"])["Tags"]
    assert {"Project", "Environment", "ManagedBy", "CostCenter"} <= set(tags), tags


@pytest.mark.soc2("A1.2")
def test_backup_plan_daily_kept_30_days_and_copied_to_another_region(
    aws, backup_plan, backup_regions, prefix
):
    (rule,) = backup_plan["BackupPlan"]["Rules"]
    assert rule["ScheduleExpression"].endswith(("? * * *)", "* * ? *)")), rule["ScheduleExpression"]
    assert rule["TargetBackupVaultName"] == prefix
    assert rule["Lifecycle"]["DeleteAfterDays"] >= 30
    (copy,) = rule["CopyActions"]
    destination = copy["DestinationBackupVaultArn"]
    assert destination.split(":")[3] == backup_regions[f"{prefix}-dr"] != backup_regions[prefix]
    assert destination.endswith(f":backup-vault:{prefix}-dr")
    assert copy["Lifecycle"]["DeleteAfterDays"] >= 30
    # The copies' vault exists in that region.
    aws("backup", backup_regions[f"{prefix}-dr"]).describe_backup_vault(BackupVaultName=f"{prefix}-dr")
