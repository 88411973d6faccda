"""Least privilege of what the local deploy created (issue 8): IAM on the local AWS endpoint, roles
and grants in the local PostgreSQL.

IAM (moto on 127.0.0.1:4566, as `nox -s deploy-local` left it):

* every principal we create (roles, users, groups) and every customer-managed policy (every
  version, not only the default one: SetDefaultPolicyVersion would bring back an old one) has no
  Allow statement with a broad wildcard (see ``broad_grants``); AWS-managed policies are allowed
  only where ``AWS_MANAGED_ALLOWED`` lists them, with the reason;
* the set of principals and customer-managed policies on the endpoint is exactly the expected
  one, so a new role or policy has to be added here, deliberately, to pass;
* the application role (IRSA) is judged by its *effective* policy. moto 5.2 does not implement
  SimulatePrincipalPolicy (it answers HTTP 500), so ``evaluate`` below is a small, explicit IAM
  evaluator: explicit Deny wins, then any Allow; Action/NotAction and Resource/NotResource with
  IAM wildcards (``*`` any run of characters, ``?`` one; actions case-insensitive); the condition
  operators the policies use (an unknown operator fails the test rather than guess). The KMS key
  policies delegate to IAM (their only AWS principal is the account root, checked below) and a
  secret's resource policy only denies, so the identity policy is the most the role gets;
* its trust policy admits one Kubernetes service account of the cluster's OIDC provider.

PostgreSQL (the deployed database, read as the admin from the master secret, as db_schema does):
role attributes and memberships, and every privilege on the database, the schemas ``public`` and
``pgbouncer``, their tables, views, sequences, columns and functions, compared as a whole with the
tables below (``EXPECTED_*``): a missing grant and a new one both fail. The owner's own privileges
are checked where they matter: the append-only tables.

Every test carries ``@pytest.mark.soc2``: CC6.1 (logical access) and CC6.3 (least privilege).
"""

from __future__ import annotations

import json
import re

import pytest

from tests.integration.conftest import LOCAL_INVENTORY, load_group_vars
from tests.integration.fixtures_schema import Database

pytestmark = pytest.mark.integration

_VARS = load_group_vars(LOCAL_INVENTORY)
NAME = f"{_VARS['platform_name']}-{_VARS['platform_environment']}"
SECRET_PREFIX = f"{_VARS['platform_name']}/{_VARS['platform_environment']}"
AWS_POLICY = "arn:aws:iam::aws:policy/"

# --------------------------------------------------------------------------------------------------
# IAM: what we create, and the AWS-managed policies we accept (principal -> {policy: reason})
# --------------------------------------------------------------------------------------------------
# aws_security_baseline, then aws_network (vpc-flow-logs), aws_rds (rds-monitoring), aws_backup
# (backup) and aws_ci_runner (ci-runner: the CodeBuild runner's service role, no managed policy).
ROLES = (
    "admin",
    "eks-cluster",
    "eks-node",
    "cloudtrail-logs",
    "config",
    "app",
    # The connection pooler's role (IRSA of the pgBouncer pods, ADR 0019): the API's logins, read only.
    "pooler",
    "ci-deploy",
    "vpc-flow-logs",
    "rds-monitoring",
    "backup",
    "ci-runner",
    # aws_eks: the cluster's controllers (IRSA; tests/integration/test_least_privilege_controllers.py).
    "aws-load-balancer-controller",
    "cluster-autoscaler",
    # aws_security_baseline: the anchoring job's role, the only signer of the audit anchors (ADR 0016).
    "audit-anchor",
    # aws_secret_rotation: the rotation function's role (ADR 0019), no managed policy.
    "secret-rotation",
)
GROUPS = ("admins",)
USERS: tuple[str, ...] = ()
CUSTOMER_POLICIES = ("require-mfa", "assume-admin", "ci-deploy-2")

AWS_MANAGED_ALLOWED: dict[str, dict[str, str]] = {
    "role/eks-cluster": {
        "AmazonEKSClusterPolicy": "required by the EKS control plane (AWS documents no narrower one)",
    },
    "role/eks-node": {
        "AmazonEKSWorkerNodePolicy": "required by EKS managed node groups",
        "AmazonEC2ContainerRegistryReadOnly": "nodes pull the images; read-only",
        "AmazonEKS_CNI_Policy": "the VPC CNI plugin manages the pods' network interfaces",
    },
    "role/config": {
        "service-role/AWS_ConfigRole": "AWS Config's read access to record the resources",
    },
    "role/rds-monitoring": {
        "service-role/AmazonRDSEnhancedMonitoringRole": (
            "RDS enhanced monitoring writes OS metrics to its own CloudWatch log group (AWS's role policy)"
        ),
    },
    "role/backup": {
        "service-role/AWSBackupServiceRolePolicyForBackup": "AWS Backup backs up the selection",
        "service-role/AWSBackupServiceRolePolicyForRestores": "AWS Backup restores on request",
    },
    # The group holds no AWS-managed policy: its members assume the admin role (ADR 0017).
    "role/admin": {
        "AdministratorAccess": (
            "the human administrators, through this role only: its trust admits this account's "
            "principals with MFA (checked below), the admins group may assume it with MFA"
        ),
    },
}

# Actions that hand over the account (or its audit trail) when allowed on every resource: an
# Allow whose action pattern matches one of them on Resource "*" is a finding.
ESCALATION_ACTIONS = (
    "iam:PassRole",
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:AttachRolePolicy",
    "iam:AttachUserPolicy",
    "iam:AttachGroupPolicy",
    "iam:PutRolePolicy",
    "iam:PutUserPolicy",
    "iam:PutGroupPolicy",
    "iam:CreateAccessKey",
    "iam:CreateLoginProfile",
    "iam:UpdateLoginProfile",
    "iam:UpdateAssumeRolePolicy",
    "iam:AddUserToGroup",
    "iam:CreateRole",
    "sts:AssumeRole",
    "kms:Decrypt",
    "kms:CreateGrant",
    "kms:PutKeyPolicy",
    "kms:ScheduleKeyDeletion",
    "secretsmanager:GetSecretValue",
    "s3:GetObject",
    "s3:PutBucketPolicy",
    "cloudtrail:StopLogging",
    "cloudtrail:DeleteTrail",
    "guardduty:DeleteDetector",
    "config:StopConfigurationRecorder",
    "organizations:LeaveOrganization",
)


def _list(value) -> list:
    if value is None:
        return []
    return [value] if isinstance(value, (str, dict)) else list(value)


def _document(value) -> dict:
    return json.loads(value) if isinstance(value, str) else value


def wildcard_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM wildcards: `*` any run of characters (`:` and `/` included), `?` exactly one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def broad_grants(document) -> list[str]:
    """The Allow statements of a policy document that grant a broad wildcard, each described."""
    findings = []
    for index, statement in enumerate(_list(_document(document).get("Statement"))):
        if statement.get("Effect") != "Allow":
            continue
        where = f"statement {statement.get('Sid') or index}"
        every_resource = "*" in _list(statement.get("Resource")) or "NotResource" in statement
        if "NotAction" in statement and every_resource:
            findings.append(f"{where}: Allow with NotAction on every resource (all other actions)")
        for action in _list(statement.get("Action")):
            if action == "*":
                findings.append(f"{where}: action '*' (every action of every service)")
            elif every_resource and re.fullmatch(r"[A-Za-z0-9-]+:\*", action):
                findings.append(f"{where}: {action!r} (a whole service) on every resource")
            elif every_resource:
                hits = [a for a in ESCALATION_ACTIONS if wildcard_match(action, a, ignore_case=True)]
                if hits:
                    findings.append(f"{where}: {action!r} on every resource allows {', '.join(hits)}")
    return findings


# --- a small IAM policy evaluator ----------------------------------------------------------------
def _string_equals(want: str, got: str) -> bool:
    return want == got


def _string_like(want: str, got: str) -> bool:
    return wildcard_match(want, got)


def _bool(want: str, got: str) -> bool:
    return str(want).lower() == str(got).lower()


# operator -> (compare one policy value with the request's value, negated)
OPERATORS = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (lambda w, g: w.lower() == g.lower(), False),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "ArnEquals": (_string_like, False),
    "ArnLike": (_string_like, False),
    "ArnNotEquals": (_string_like, True),
    "ArnNotLike": (_string_like, True),
    "Bool": (_bool, False),
}


def _condition_holds(condition: dict, context: dict) -> bool:
    for operator, tests in condition.items():
        if operator == "Null":
            for key, want in tests.items():
                if _bool(want, "true") != (key not in context):
                    return False
            continue
        base, if_exists = (operator[:-8], True) if operator.endswith("IfExists") else (operator, False)
        if base not in OPERATORS:
            raise AssertionError(f"the test's evaluator does not know the condition operator {operator}")
        compare, negated = OPERATORS[base]
        for key, wanted in tests.items():
            if key not in context:
                if not (if_exists or negated):
                    return False
                continue
            matched = any(compare(str(w), str(context[key])) for w in _list(wanted))
            if matched == negated:
                return False
    return True


def _statement_applies(statement: dict, action: str, resource: str | None, context: dict) -> bool:
    if "Action" in statement:
        if not any(wildcard_match(a, action, ignore_case=True) for a in _list(statement["Action"])):
            return False
    elif any(wildcard_match(a, action, ignore_case=True) for a in _list(statement.get("NotAction"))):
        return False
    if resource is not None:
        if "Resource" in statement:
            if not any(wildcard_match(r, resource) for r in _list(statement["Resource"])):
                return False
        elif any(wildcard_match(r, resource) for r in _list(statement.get("NotResource"))):
            return False
    return _condition_holds(statement.get("Condition", {}), context)


def evaluate(statements: list[dict], action: str, resource: str | None, context: dict | None = None) -> str:
    """'allowed', 'denied' (no Allow applies) or 'explicitly denied' (a Deny applies)."""
    applying = [s for s in statements if _statement_applies(s, action, resource, context or {})]
    if any(s["Effect"] == "Deny" for s in applying):
        return "explicitly denied"
    return "allowed" if any(s["Effect"] == "Allow" for s in applying) else "denied"


def test_the_evaluator_itself():
    """The evaluator's own rules, on a policy made for the purpose (so a bug in it cannot hide one
    in a policy)."""
    statements = [
        {"Effect": "Allow", "Action": "kms:GenerateDataKey*", "Resource": "arn:aws:kms:r:1:key/a"},
        {"Effect": "Allow", "Action": "s3:Get?bject", "Resource": "arn:aws:s3:::b/*"},
        {"Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::b/secret/*"},
        {
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": "sm.amazonaws.com"}},
        },
    ]
    assert evaluate(statements, "KMS:generatedatakeypair", "arn:aws:kms:r:1:key/a") == "allowed"
    assert evaluate(statements, "kms:GenerateDataKey", "arn:aws:kms:r:1:key/b") == "denied"
    assert evaluate(statements, "s3:GetObject", "arn:aws:s3:::b/x/y") == "allowed"
    assert evaluate(statements, "s3:GetObject", "arn:aws:s3:::b/secret/y") == "explicitly denied"
    assert evaluate(statements, "s3:GetObjectAcl", "arn:aws:s3:::b/x") == "denied"
    assert evaluate(statements, "kms:Decrypt", "arn:aws:kms:r:1:key/z") == "denied"
    context = {"kms:ViaService": "sm.amazonaws.com"}
    assert evaluate(statements, "kms:Decrypt", "arn:aws:kms:r:1:key/z", context) == "allowed"
    assert broad_grants({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    assert broad_grants({"Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]})
    assert broad_grants({"Statement": [{"Effect": "Allow", "Action": "iam:Pass*", "Resource": "*"}]})
    assert broad_grants({"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]})
    assert not broad_grants({"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]})
    assert not broad_grants(
        {"Statement": [{"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}]}
    )
    with pytest.raises(AssertionError, match="ForAnyValue:StringLike"):
        evaluate(
            [{**statements[0], "Condition": {"ForAnyValue:StringLike": {"k": "v"}}}],
            "kms:GenerateDataKey",
            "arn:aws:kms:r:1:key/a",
        )


# --- IAM fixtures --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def iam(aws):
    return aws("iam")


@pytest.fixture(scope="module")
def account_id(aws) -> str:
    return aws("sts").get_caller_identity()["Account"]


def _attached(iam, kind: str, name: str) -> list[str]:
    call = {
        "role": (iam.list_attached_role_policies, "RoleName"),
        "user": (iam.list_attached_user_policies, "UserName"),
        "group": (iam.list_attached_group_policies, "GroupName"),
    }[kind]
    return [p["PolicyArn"] for p in call[0](**{call[1]: name})["AttachedPolicies"]]


def _inline(iam, kind: str, name: str) -> dict[str, dict]:
    lister, getter, key = {
        "role": (iam.list_role_policies, iam.get_role_policy, "RoleName"),
        "user": (iam.list_user_policies, iam.get_user_policy, "UserName"),
        "group": (iam.list_group_policies, iam.get_group_policy, "GroupName"),
    }[kind]
    return {
        policy: _document(getter(**{key: name, "PolicyName": policy})["PolicyDocument"])
        for policy in lister(**{key: name})["PolicyNames"]
    }


def _versions(iam, arn: str) -> dict[str, dict]:
    return {
        v["VersionId"]: _document(
            iam.get_policy_version(PolicyArn=arn, VersionId=v["VersionId"])["PolicyVersion"]["Document"]
        )
        for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]
    }


def _all_local_policies(iam) -> list[dict]:
    return [
        p for page in iam.get_paginator("list_policies").paginate(Scope="Local") for p in page["Policies"]
    ]


PRINCIPALS = [f"role/{r}" for r in ROLES] + [f"group/{g}" for g in GROUPS] + [f"user/{u}" for u in USERS]


@pytest.mark.soc2("CC6.1", "CC6.3")
def test_the_endpoint_holds_exactly_the_expected_principals_and_policies(iam):
    """A role, user, group or customer-managed policy nobody listed here fails the run."""
    found = {
        "roles": sorted(
            r["RoleName"] for p in iam.get_paginator("list_roles").paginate() for r in p["Roles"]
        ),
        "groups": sorted(
            g["GroupName"] for p in iam.get_paginator("list_groups").paginate() for g in p["Groups"]
        ),
        "users": sorted(
            u["UserName"] for p in iam.get_paginator("list_users").paginate() for u in p["Users"]
        ),
        "policies": sorted(p["PolicyName"] for p in _all_local_policies(iam)),
    }
    expected = {
        "roles": sorted(f"{NAME}-{r}" for r in ROLES),
        "groups": sorted(f"{NAME}-{g}" for g in GROUPS),
        "users": sorted(f"{NAME}-{u}" for u in USERS),
        "policies": sorted(f"{NAME}-{p}" for p in CUSTOMER_POLICIES),
    }
    assert found == expected


@pytest.mark.soc2("CC6.1", "CC6.3")
@pytest.mark.parametrize("principal", PRINCIPALS)
def test_principal_has_no_broad_wildcard(principal, iam, account_id):
    kind, short = principal.split("/")
    name = f"{NAME}-{short}"
    findings = []
    for policy, document in _inline(iam, kind, name).items():
        findings += [f"inline {policy}: {f}" for f in broad_grants(document)]
    allowed = AWS_MANAGED_ALLOWED.get(principal, {})
    aws_managed = set()
    for arn in _attached(iam, kind, name):
        if arn.startswith(AWS_POLICY):
            aws_managed.add(arn.removeprefix(AWS_POLICY))
            continue
        for version, document in _versions(iam, arn).items():
            findings += [f"{arn} {version}: {f}" for f in broad_grants(document)]
    assert findings == []
    assert aws_managed == set(allowed), "AWS-managed policies differ from AWS_MANAGED_ALLOWED"
    if kind == "role":
        trust = _document(iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"])
        for statement in _list(trust["Statement"]):
            principals = statement.get("Principal", {})
            assert principals != "*", (name, statement)
            if "AWS" in principals and short == "audit-anchor":
                # The deploy step assumes it: this account only, as far as IAM allows (ADR 0016).
                assert _list(principals["AWS"]) == [f"arn:aws:iam::{account_id}:root"], (name, statement)
                continue
            if "AWS" in principals:  # only the admins' role, only this account, only with MFA
                assert short == "admin", (name, statement)
                assert principals["AWS"] == f"arn:aws:iam::{account_id}:root", statement
                assert statement["Condition"]["Bool"] == {"aws:MultiFactorAuthPresent": "true"}, statement
            if "Federated" in principals:  # a web identity: only with a condition on the subject
                subjects = [
                    k for c in statement.get("Condition", {}).values() for k in c if k.endswith(":sub")
                ]
                assert subjects, (name, statement)
    if principal == "group/admins":
        attached = _attached(iam, kind, name)
        assert any(arn.endswith(f":policy/{NAME}-require-mfa") for arn in attached), attached
        assert any(arn.endswith(f":policy/{NAME}-assume-admin") for arn in attached), attached


@pytest.mark.soc2("CC6.1", "CC6.3")
@pytest.mark.parametrize("policy", CUSTOMER_POLICIES)
def test_customer_managed_policy_has_no_broad_wildcard_in_any_version(policy, iam, account_id):
    arn = f"arn:aws:iam::{account_id}:policy/{NAME}-{policy}"
    versions = _versions(iam, arn)
    assert versions
    assert {v: broad_grants(d) for v, d in versions.items()} == {v: [] for v in versions}


@pytest.mark.soc2("CC6.1", "CC6.3")
def test_no_policy_on_the_endpoint_allows_broad_wildcards(iam):
    """Whatever its name: every customer-managed policy's every version, every inline policy."""
    findings = []
    for policy in _all_local_policies(iam):
        for version, document in _versions(iam, policy["Arn"]).items():
            findings += [f"{policy['Arn']} {version}: {f}" for f in broad_grants(document)]
    for kind, lister, key in (
        ("role", "list_roles", "Roles"),
        ("user", "list_users", "Users"),
        ("group", "list_groups", "Groups"),
    ):
        for page in iam.get_paginator(lister).paginate():
            for item in page[key]:
                name = item[f"{kind.capitalize()}Name"]
                for policy, document in _inline(iam, kind, name).items():
                    findings += [f"{kind} {name} inline {policy}: {f}" for f in broad_grants(document)]
    assert findings == []


# --------------------------------------------------------------------------------------------------
# The application role (IRSA)
# --------------------------------------------------------------------------------------------------
APP_ROLE = f"{NAME}-app"
# What the service reads (service/src/giftcrypto_api/credentials.py: postgres/app_rw, redis/app;
# app_ro for the read-only queries); nothing else.
APP_SECRETS = {
    f"{SECRET_PREFIX}/postgres/app_rw",
    f"{SECRET_PREFIX}/postgres/app_ro",
    f"{SECRET_PREFIX}/redis/app",
}
# What the role may do at all, whatever the resource.
APP_ACTIONS = {
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "secretsmanager:GetSecretValue",
    "secretsmanager:DescribeSecret",
    # The feature flags (aws_appconfig's inline policy feature-flags: this profile's configuration only).
    "appconfig:StartConfigurationSession",
    "appconfig:GetLatestConfiguration",
}
KMS_FORBIDDEN = (
    "kms:Encrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GenerateDataKeyPair",
    "kms:GenerateMac",
    "kms:Sign",
    "kms:CreateGrant",
    "kms:RetireGrant",
    "kms:RevokeGrant",
    "kms:ListGrants",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:DisableKey",
    "kms:EnableKey",
    "kms:DisableKeyRotation",
    "kms:PutKeyPolicy",
    "kms:GetKeyPolicy",
    "kms:CreateAlias",
    "kms:UpdateAlias",
    "kms:DeleteAlias",
    "kms:ImportKeyMaterial",
    "kms:TagResource",
    "kms:UpdateKeyDescription",
    "kms:ReplicateKey",
)
SECRETS_FORBIDDEN = (
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecret",
    "secretsmanager:DeleteSecret",
    "secretsmanager:RestoreSecret",
    "secretsmanager:RotateSecret",
    "secretsmanager:GetResourcePolicy",
    "secretsmanager:PutResourcePolicy",
    "secretsmanager:TagResource",
    "secretsmanager:ListSecretVersionIds",
)


@pytest.fixture(scope="module")
def app_statements(iam) -> list[dict]:
    """Every statement of the application role's effective identity policy."""
    assert "PermissionsBoundary" not in iam.get_role(RoleName=APP_ROLE)["Role"]
    statements = [s for d in _inline(iam, "role", APP_ROLE).values() for s in _list(d["Statement"])]
    for arn in _attached(iam, "role", APP_ROLE):
        default = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        statements += _list(_versions(iam, arn)[default]["Statement"])
    assert statements, f"{APP_ROLE} has no policy"
    return statements


@pytest.fixture(scope="module")
def keys(aws) -> dict[str, str]:
    """purpose -> key ARN of our customer-managed keys (alias/<name>-<purpose>)."""
    kms = aws("kms")
    found = {}
    for alias in kms.list_aliases()["Aliases"]:
        if alias["AliasName"].startswith(f"alias/{NAME}-"):
            purpose = alias["AliasName"].removeprefix(f"alias/{NAME}-")
            found[purpose] = kms.describe_key(KeyId=alias["TargetKeyId"])["KeyMetadata"]["Arn"]
    return found


@pytest.fixture(scope="module")
def secret_arns(aws) -> dict[str, str]:
    sm = aws("secretsmanager")
    return {s["Name"]: s["ARN"] for p in sm.get_paginator("list_secrets").paginate() for s in p["SecretList"]}


@pytest.mark.soc2("CC6.1", "CC6.3")
def test_app_role_allows_only_its_actions(app_statements):
    allowed = set()
    for statement in app_statements:
        assert "NotAction" not in statement and "NotResource" not in statement, statement
        if statement["Effect"] == "Allow":
            allowed |= set(_list(statement["Action"]))
            assert "*" not in json.dumps(statement.get("Resource")).replace("-??????", ""), statement
    assert allowed <= APP_ACTIONS, sorted(allowed - APP_ACTIONS)
    # The flags are read from one configuration (application/environment/profile), nothing wider.
    for statement in app_statements:
        if any(action.startswith("appconfig:") for action in _list(statement["Action"])):
            for resource in _list(statement["Resource"]):
                assert re.fullmatch(
                    r"arn:aws:appconfig:[^:]+:\d{12}:application/\w+/environment/\w+/configuration/\w+",
                    resource,
                ), resource
    for action in (
        "s3:GetObject",
        "iam:PassRole",
        "sts:AssumeRole",
        "ssm:GetParameter",
        "secretsmanager:ListSecrets",
    ):
        assert evaluate(app_statements, action, "*") == "denied", action


@pytest.mark.soc2("CC6.1", "CC6.3")
def test_app_role_reads_only_its_own_secrets(app_statements, secret_arns, account_id):
    assert set(secret_arns) >= APP_SECRETS, sorted(APP_SECRETS - set(secret_arns))
    readable = {
        n
        for n, arn in secret_arns.items()
        if evaluate(app_statements, "secretsmanager:GetSecretValue", arn) == "allowed"
    }
    assert readable == APP_SECRETS
    for name in APP_SECRETS:
        for action in SECRETS_FORBIDDEN:
            assert evaluate(app_statements, action, secret_arns[name]) != "allowed", (action, name)
    # The RDS master password (the secret RDS manages, rds!db-...) and the ones that must never be
    # readable, by name (they exist on the endpoint)...
    (rds_master,) = [arn for name, arn in secret_arns.items() if name.startswith("rds!db-")]
    assert evaluate(app_statements, "secretsmanager:GetSecretValue", rds_master) == "denied"
    for purpose in (
        "elasticache/auth-token",
        "postgres/master",
        "postgres/migrator",
        "redis/admin",
    ):
        arn = secret_arns[f"{SECRET_PREFIX}/{purpose}"]
        assert evaluate(app_statements, "secretsmanager:GetSecretValue", arn) == "denied", purpose
    # ...other environments' secrets and look-alike names (the ARN ends in -<6 random characters>).
    base = f"arn:aws:secretsmanager:{_VARS['aws_region']}:{account_id}:secret:"
    for name in (
        f"{_VARS['platform_name']}/staging/postgres/app_rw-AbC123",
        f"{_VARS['platform_name']}/production/redis/app-AbC123",
        f"{SECRET_PREFIX}/postgres/app_rw-admin-AbC123",
        f"{SECRET_PREFIX}/postgres/app_r-AbC123",
        f"{SECRET_PREFIX}/redis/app/admin-AbC123",
    ):
        assert evaluate(app_statements, "secretsmanager:GetSecretValue", base + name) == "denied", name


@pytest.mark.soc2("CC6.1", "CC6.3")
def test_secret_policies_leave_each_generated_secret_to_its_readers(
    aws, app_statements, secret_arns, account_id
):
    """Issue 23 item 3, each secret's resource policy evaluated with the identity policies: the
    application role still reads its own secrets (it is among their readers) and, even granted every
    read by its identity policy, no other; a principal of the account granted every read is refused
    every generated secret; the deploy and the admins' role (with or without a path) never are; and
    only the value's read is denied, never the secret's management."""
    sm = aws("secretsmanager")
    ours = {n: a for n, a in secret_arns.items() if n.startswith(f"{SECRET_PREFIX}/")}
    # 11: the generated ones (the RDS master password is RDS's own since ADR 0019, not among them).
    assert len(ours) >= 11, sorted(ours)
    policies = {
        n: _list(
            _document(sm.get_resource_policy(SecretId=a).get("ResourcePolicy") or '{"Statement": []}')[
                "Statement"
            ]
        )
        for n, a in ours.items()
    }
    read = "secretsmanager:GetSecretValue"
    everything = [{"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}]
    role = f"arn:aws:iam::{account_id}:role/"
    app = {"aws:PrincipalArn": role + APP_ROLE}
    outsider = {"aws:PrincipalArn": f"{role}{NAME}-eks-node"}
    readers = [
        aws("sts").get_caller_identity()["Arn"],
        f"{role}{NAME}-admin",
        f"{role}aws-reserved/sso.amazonaws.com/{NAME}-admin",
    ]
    readable = {
        n for n, a in ours.items() if evaluate(app_statements + policies[n], read, a, app) == "allowed"
    }
    assert readable == APP_SECRETS
    for name, arn in ours.items():
        assert evaluate(everything + policies[name], read, arn, outsider) == "explicitly denied", name
        app_reads = "allowed" if name in APP_SECRETS else "explicitly denied"
        assert evaluate(everything + policies[name], read, arn, app) == app_reads, name
        for reader in readers:
            context = {"aws:PrincipalArn": reader}
            assert evaluate(everything + policies[name], read, arn, context) == "allowed", (name, reader)
        for action in (
            "DescribeSecret",
            "PutResourcePolicy",
            "PutSecretValue",
            "UpdateSecret",
            "TagResource",
        ):
            decision = evaluate(everything + policies[name], f"secretsmanager:{action}", arn, outsider)
            assert decision == "allowed", (name, action)


@pytest.mark.soc2("CC6.1", "CC6.3")
def test_app_role_uses_only_the_pii_key_and_only_for_data_keys(app_statements, keys, secret_arns):
    pii = keys["pii"]
    assert evaluate(app_statements, "kms:Decrypt", pii) == "allowed"
    assert evaluate(app_statements, "kms:GenerateDataKey", pii) == "allowed"
    for action in KMS_FORBIDDEN:
        assert evaluate(app_statements, action, pii) == "denied", action
    assert evaluate(app_statements, "kms:CreateKey", "*") == "denied"
    others = {purpose: arn for purpose, arn in keys.items() if purpose != "pii"}
    assert {"rds", "eks", "s3", "logs", "elasticache"} <= set(others)
    region = _VARS["aws_region"]
    for purpose, arn in others.items():
        for action in ("kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt"):
            assert evaluate(app_statements, action, arn) == "denied", (action, purpose)
            # ...not even through Secrets Manager on behalf of a secret it may not read.
            context = {
                "kms:ViaService": f"secretsmanager.{region}.amazonaws.com",
                "kms:EncryptionContext:SecretARN": next(
                    arn for name, arn in secret_arns.items() if name.startswith("rds!db-")
                ),
            }
            assert evaluate(app_statements, action, arn, context) == "denied", (action, purpose)


@pytest.mark.soc2("CC6.1", "CC6.3")
def test_nothing_outside_iam_widens_the_app_role(aws, keys, secret_arns, account_id):
    """Key policies name no AWS principal but the account root (they delegate to IAM); a secret's
    resource policy only denies (the generated secrets' readers, issue 23), never allows. So the
    identity policy judged above is the most the role gets."""
    kms = aws("kms")
    # The one exception: the anchor key lets its own role sign, and only that role (ADR 0016).
    anchoring = [f"arn:aws:iam::{account_id}:role/{NAME}-audit-anchor"]
    for purpose, arn in keys.items():
        policy = _document(kms.get_key_policy(KeyId=arn, PolicyName="default")["Policy"])
        for statement in _list(policy["Statement"]):
            if statement.get("Principal") == "*":  # a denial to everyone (the anchor key's guard)
                assert statement["Effect"] == "Deny", (purpose, statement)
                continue
            aws_principals = _list(statement.get("Principal", {}).get("AWS"))
            named = [[], [f"arn:aws:iam::{account_id}:root"]] + (
                [anchoring] if purpose == "audit-anchor" else []
            )
            assert aws_principals in named, (purpose, statement)
    sm = aws("secretsmanager")
    allowing = [
        (n, statement)
        for n, arn in secret_arns.items()
        for statement in _list(
            _document(sm.get_resource_policy(SecretId=arn).get("ResourcePolicy") or '{"Statement": []}')[
                "Statement"
            ]
        )
        if statement["Effect"] != "Deny"
    ]
    assert allowing == []


@pytest.mark.soc2("CC6.1", "CC6.3")
def test_app_role_trust_is_one_service_account_of_the_cluster(iam, account_id):
    issuer = _VARS["aws_security_baseline_eks_oidc_issuer"].removeprefix("https://")
    provider = f"arn:aws:iam::{account_id}:oidc-provider/{issuer}"
    subject = "system:serviceaccount:giftcrypto:giftcrypto-app"
    trust = _document(iam.get_role(RoleName=APP_ROLE)["Role"]["AssumeRolePolicyDocument"])
    (statement,) = _list(trust["Statement"])
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Federated": provider}
    assert _list(statement["Action"]) == ["sts:AssumeRoleWithWebIdentity"]
    assert set(statement["Condition"]) == {"StringEquals"}  # no StringLike: no wildcard subject
    assert statement["Condition"]["StringEquals"][f"{issuer}:aud"] == "sts.amazonaws.com"
    assert _list(statement["Condition"]["StringEquals"][f"{issuer}:sub"]) == [subject]
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider)["ClientIDList"] == [
        "sts.amazonaws.com"
    ]
    statements = _list(trust["Statement"])
    ours = {f"{issuer}:aud": "sts.amazonaws.com", f"{issuer}:sub": subject}
    assert evaluate(statements, "sts:AssumeRoleWithWebIdentity", None, ours) == "allowed"
    for other in (
        {**ours, f"{issuer}:sub": "system:serviceaccount:giftcrypto:default"},
        {**ours, f"{issuer}:sub": "system:serviceaccount:kube-system:giftcrypto-app"},
        {**ours, f"{issuer}:aud": "another-audience"},
        {f"{issuer}:aud": "sts.amazonaws.com"},
    ):
        assert evaluate(statements, "sts:AssumeRoleWithWebIdentity", None, other) == "denied", other
    assert evaluate(statements, "sts:AssumeRole", None, ours) == "denied"


# --------------------------------------------------------------------------------------------------
# The connection pooler's role (IRSA of the pgBouncer pods; ADR 0019, issue 23)
# --------------------------------------------------------------------------------------------------
POOLER_ROLE = f"{NAME}-pooler"
# What its sidecar reads to keep the pooler's userlist current after a rotation (AWSCURRENT and
# AWSPENDING of the API's logins, aws_security_baseline_pooler_secret_names); nothing else.
POOLER_SECRETS = {f"{SECRET_PREFIX}/postgres/app_rw", f"{SECRET_PREFIX}/postgres/app_ro"}


@pytest.mark.soc2("CC6.1", "CC6.3")
def test_pooler_role_reads_only_the_apis_database_logins(aws, iam, secret_arns, account_id):
    """Its one inline policy, evaluated with each secret's resource policy: it reads and describes
    postgres/app_rw and app_ro (their policies name it), and nothing else, nor changes them."""
    assert "PermissionsBoundary" not in iam.get_role(RoleName=POOLER_ROLE)["Role"]
    assert _attached(iam, "role", POOLER_ROLE) == []
    statements = [s for d in _inline(iam, "role", POOLER_ROLE).values() for s in _list(d["Statement"])]
    allowed = {a for s in statements if s["Effect"] == "Allow" for a in _list(s["Action"])}
    assert allowed == {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
    assert "kms:Decrypt" not in json.dumps(statements)
    assert set(secret_arns) >= POOLER_SECRETS, sorted(POOLER_SECRETS - set(secret_arns))
    sm = aws("secretsmanager")
    context = {"aws:PrincipalArn": f"arn:aws:iam::{account_id}:role/{POOLER_ROLE}"}
    for name, arn in secret_arns.items():
        # The generated secrets' resource policies (issue 23; RDS's own secret is judged by identity).
        policy = (
            _list(
                _document(sm.get_resource_policy(SecretId=arn).get("ResourcePolicy") or '{"Statement": []}')[
                    "Statement"
                ]
            )
            if name.startswith(f"{SECRET_PREFIX}/")
            else []
        )
        for action in ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"):
            decision = evaluate(statements + policy, action, arn, context)
            assert (decision == "allowed") == (name in POOLER_SECRETS), (name, action, decision)
        for action in SECRETS_FORBIDDEN:
            assert evaluate(statements + policy, action, arn, context) != "allowed", (name, action)
    for action in ("secretsmanager:ListSecrets", "kms:Decrypt", "sts:AssumeRole", "s3:GetObject"):
        assert evaluate(statements, action, "*") == "denied", action


@pytest.mark.soc2("CC6.1", "CC6.3")
def test_pooler_role_trust_is_the_poolers_service_account_of_the_cluster(iam, account_id):
    issuer = _VARS["aws_security_baseline_eks_oidc_issuer"].removeprefix("https://")
    provider = f"arn:aws:iam::{account_id}:oidc-provider/{issuer}"
    subject = "system:serviceaccount:giftcrypto:pgbouncer"
    trust = _document(iam.get_role(RoleName=POOLER_ROLE)["Role"]["AssumeRolePolicyDocument"])
    (statement,) = _list(trust["Statement"])
    assert statement["Principal"] == {"Federated": provider}
    assert _list(statement["Action"]) == ["sts:AssumeRoleWithWebIdentity"]
    assert set(statement["Condition"]) == {"StringEquals"}  # no StringLike: no wildcard subject
    statements = _list(trust["Statement"])
    ours = {f"{issuer}:aud": "sts.amazonaws.com", f"{issuer}:sub": subject}
    assert evaluate(statements, "sts:AssumeRoleWithWebIdentity", None, ours) == "allowed"
    for other in (
        {**ours, f"{issuer}:sub": "system:serviceaccount:giftcrypto:giftcrypto-app"},
        {**ours, f"{issuer}:sub": "system:serviceaccount:kube-system:pgbouncer"},
        {**ours, f"{issuer}:aud": "another-audience"},
        {f"{issuer}:aud": "sts.amazonaws.com"},
    ):
        assert evaluate(statements, "sts:AssumeRoleWithWebIdentity", None, other) == "denied", other


# --------------------------------------------------------------------------------------------------
# PostgreSQL: roles and privileges (roles/db_schema/files/migrations, roles/db_schema, roles/postgres_server)
# --------------------------------------------------------------------------------------------------
LOGIN_APP_ROLES = ("migrator", "app_rw", "app_ro", "auditor")
ADMIN = "giftcrypto_admin"
# role -> (login, superuser, createrole, createdb, replication, bypassrls, member of)
EXPECTED_ROLES = {
    # The bootstrap superuser: peer login of the postgres OS user over the unix socket only.
    "postgres": (True, True, True, True, True, True, ()),
    # The master (as on RDS): creates the database and the login roles; never a superuser.
    ADMIN: (True, False, True, True, False, False, ("pg_monitor", "pg_signal_backend")),
    "giftcrypto_monitor": (True, False, False, False, False, False, ("pg_monitor",)),
    "pgbouncer_auth": (True, False, False, False, False, False, ()),
    "migrator": (True, False, False, False, False, False, ()),
    "app_rw": (True, False, False, False, False, False, ()),
    "app_ro": (True, False, False, False, False, False, ()),
    "auditor": (True, False, False, False, False, False, ()),
    # pgaudit's object-audit role (pgaudit.role): privileges only, no login, no members (migration 0010).
    "rds_pgaudit": (False, False, False, False, False, False, ()),
}

SELECT, WRITE = ("SELECT",), ("SELECT", "INSERT", "UPDATE", "DELETE")
# (grantee, kind, object, privilege) for every privilege held by a role that does not own the
# object (PUBLIC included). Partitions appear as "<parent> (partition)", columns as "table.column".
_EXPECTED_GRANTS: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    # PostgreSQL's default on a new database; pg_hba.conf decides who connects (pgbouncer_auth and
    # giftcrypto_monitor rely on it).
    ("database", "giftcrypto"): {
        "PUBLIC": ("CONNECT", "TEMPORARY"),
        **{role: ("CONNECT",) for role in LOGIN_APP_ROLES},
    },
    ("schema", "public"): {
        "migrator": ("USAGE", "CREATE"),
        "app_rw": ("USAGE",),
        "app_ro": ("USAGE",),
        "auditor": ("USAGE",),
        "pg_monitor": ("USAGE",),  # the business metrics functions (0008)
    },
    ("schema", "pgbouncer"): {"pgbouncer_auth": ("USAGE",)},
    # rds_pgaudit: SELECT on the tables holding personal data marks the reads pgaudit logs (0010).
    **{
        ("table", t): {"app_rw": WRITE, "app_ro": SELECT, "rds_pgaudit": SELECT}
        for t in ("users", "user_profiles", "friendships")
    },
    ("table", "wallet_accounts"): {"app_rw": ("SELECT", "INSERT"), "app_ro": SELECT, "rds_pgaudit": SELECT},
    **{
        ("column", f"wallet_accounts.{c}"): {"app_rw": ("UPDATE",)}
        for c in ("wallet_type", "private_key_ciphertext", "public_key")
    },
    # Money moves only through transfer() (SECURITY DEFINER); the ledger is append-only.
    **{
        ("table", t): {"app_rw": SELECT, "app_ro": SELECT, "rds_pgaudit": SELECT}
        for t in ("transactions", "ledger_accounts", "ledger_entries")
    },
    ("table", "encryption_keys"): {"app_rw": SELECT, "app_ro": SELECT},
    **{
        ("view", v): {"app_rw": SELECT, "app_ro": SELECT}
        for v in ("active_users", "active_user_profiles", "active_wallet_accounts", "active_friendships")
    },
    # The audit trail: read by the auditor only, written only by audit_capture() (definer).
    ("table", "audit_log"): {"auditor": SELECT},
    ("table", "audit_chain_heads"): {"auditor": SELECT},
    # Extension views (owned by postgres): other roles' statement texts show only to pg_read_all_stats.
    ("view", "pg_stat_statements"): {"PUBLIC": SELECT},
    ("view", "pg_stat_statements_info"): {"PUBLIC": SELECT},
    ("function", "transfer(uuid,uuid,numeric,text,text)"): {"app_rw": ("EXECUTE",)},
    ("function", "auth_lookup_email(bytea)"): {"app_rw": ("EXECUTE",)},
    ("function", "auth_lookup_phone(bytea)"): {"app_rw": ("EXECUTE",)},
    **{
        ("function", f): {"app_rw": ("EXECUTE",), "app_ro": ("EXECUTE",)}
        for f in (
            "user_is_active(uuid)",
            "mutual_friends(uuid)",
            "friend_suggestions(integer)",
            "friend_list(uuid,integer)",
            "wallet_transactions(uuid,timestamp with time zone,uuid,integer)",
        )
    },
    ("function", "metrics_user_registrations_last_minute()"): {"pg_monitor": ("EXECUTE",)},
    ("function", "metrics_gift_transactions_last_minute()"): {"pg_monitor": ("EXECUTE",)},
    ("function", "pgbouncer.get_auth(text)"): {"pgbouncer_auth": ("EXECUTE",)},
    # PUBLIC may execute these: SECURITY INVOKER (they run with the caller's rights), trigger
    # functions and CHECK helpers whose callers need EXECUTE, and the extensions' own.
    **{
        ("function", f): {"PUBLIC": ("EXECUTE",)}
        for f in (
            "is_envelope_ciphertext(bytea)",
            "set_updated_at()",
            "forbid_modification()",
            "ledger_entries_check_balanced()",
            "wallet_accounts_freeze_owner()",
            "audit_shard_count()",
            "audit_chain_heads_forward_only()",
            "pg_stat_statements(boolean)",
            "pg_stat_statements_info()",
            "pgaudit_ddl_command_end()",
            "pgaudit_sql_drop()",
        )
    },
}
EXPECTED_GRANTS = {
    (grantee, kind, obj, privilege)
    for (kind, obj), grantees in _EXPECTED_GRANTS.items()
    for grantee, privileges in grantees.items()
    for privilege in privileges
}
# Objects not owned by migrator (who owns everything the migrations make).
EXPECTED_OTHER_OWNERS = {
    ("database", "giftcrypto"): ADMIN,
    ("schema", "public"): "pg_database_owner",
    ("schema", "pgbouncer"): "postgres",
    ("view", "pg_stat_statements"): "postgres",
    ("view", "pg_stat_statements_info"): "postgres",
    ("function", "pg_stat_statements(boolean)"): "postgres",
    ("function", "pg_stat_statements_info()"): "postgres",
    ("function", "pg_stat_statements_reset(oid,oid,bigint)"): "postgres",
    ("function", "pgaudit_ddl_command_end()"): "postgres",
    ("function", "pgaudit_sql_drop()"): "postgres",
    ("function", "pgbouncer.get_auth(text)"): "postgres",
}
APPEND_ONLY = ("ledger_entries", "audit_log", "audit_chain_heads")

_OBJECTS_SQL = """
WITH objects AS (
  SELECT 'database' AS kind, d.datname::text AS name, d.datdba AS owner,
         coalesce(d.datacl, acldefault('d', d.datdba)) AS acl, false AS is_partition
  FROM pg_database AS d WHERE d.datname = current_database()
  UNION ALL
  SELECT 'schema', n.nspname::text, n.nspowner, coalesce(n.nspacl, acldefault('n', n.nspowner)), false
  FROM pg_namespace AS n WHERE n.nspname IN ('public', 'pgbouncer')
  UNION ALL
  SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'view' WHEN 'S' THEN 'sequence' ELSE 'table' END,
         CASE WHEN c.relispartition
              THEN (SELECT p.relname FROM pg_inherits AS i JOIN pg_class AS p ON p.oid = i.inhparent
                    WHERE i.inhrelid = c.oid) || ' (partition)'
              ELSE c.relname END::text,
         c.relowner,
         coalesce(c.relacl,
                  acldefault((CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END)::"char", c.relowner)),
         c.relispartition
  FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
  WHERE n.nspname IN ('public', 'pgbouncer') AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  UNION ALL
  SELECT 'column', c.relname || '.' || a.attname, c.relowner, a.attacl, c.relispartition
  FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid
  JOIN pg_namespace AS n ON n.oid = c.relnamespace
  WHERE n.nspname IN ('public', 'pgbouncer') AND a.attacl IS NOT NULL AND NOT a.attisdropped
  UNION ALL
  SELECT 'function', p.oid::regprocedure::text, p.proowner,
         coalesce(p.proacl, acldefault('f', p.proowner)), false
  FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
  WHERE n.nspname IN ('public', 'pgbouncer')
)
SELECT o.kind, o.name, pg_get_userbyid(o.owner) AS owner,
       CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END AS grantee,
       x.privilege_type
FROM objects AS o CROSS JOIN LATERAL aclexplode(o.acl) AS x
"""


@pytest.fixture(scope="module")
def deployed_db(pg_secrets, local_vars) -> Database:
    master = pg_secrets["master"]
    name = local_vars.get("db_schema_database") or master["dbname"]
    return Database(name, {role: pg_secrets[role] for role in LOGIN_APP_ROLES}, master)


@pytest.fixture(scope="module")
def acl_rows(deployed_db) -> list[tuple]:
    with deployed_db.connect("admin") as conn:
        return conn.execute(_OBJECTS_SQL).fetchall()


@pytest.mark.soc2("CC6.1", "CC6.3")
def test_database_roles_match_the_table(deployed_db):
    with deployed_db.connect("admin") as conn:
        rows = conn.execute(
            """
            SELECT r.rolname, r.rolcanlogin, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication,
                   r.rolbypassrls,
                   coalesce(
                     array_agg(g.rolname ORDER BY g.rolname) FILTER (WHERE g.rolname IS NOT NULL), '{}'
                   )
            FROM pg_roles AS r
            LEFT JOIN pg_auth_members AS m ON m.member = r.oid
            LEFT JOIN pg_roles AS g ON g.oid = m.roleid
            WHERE r.rolname !~ '^pg_'
            GROUP BY 1, 2, 3, 4, 5, 6, 7
            """
        ).fetchall()
    actual = {row[0]: (*row[1:7], tuple(row[7])) for row in rows}
    assert actual == EXPECTED_ROLES


@pytest.mark.soc2("CC6.1", "CC6.3")
def test_database_privileges_match_the_table(acl_rows):
    """Every privilege a non-owner holds, as a whole: one missing or one more fails."""
    actual = {
        (grantee, kind, name, privilege)
        for kind, name, owner, grantee, privilege in acl_rows
        if grantee != owner
    }
    assert sorted(actual - EXPECTED_GRANTS) == [], "grants the design does not have"
    assert sorted(EXPECTED_GRANTS - actual) == [], "grants the design has that are missing"


@pytest.mark.soc2("CC6.1", "CC6.3")
def test_database_owners_match_the_table(acl_rows):
    owners = {(kind, name): owner for kind, name, owner, _, _ in acl_rows if kind != "column"}
    expected = {key: EXPECTED_OTHER_OWNERS.get(key, "migrator") for key in owners}
    assert owners == expected


@pytest.mark.soc2("CC6.1", "CC6.3")
def test_public_has_no_privileges_on_our_schemas(acl_rows, deployed_db):
    """No PUBLIC grant on the schemas nor on a table of ours; no SECURITY DEFINER function that can
    be called directly is executable by PUBLIC."""
    public = sorted(
        (kind, name, privilege)
        for kind, name, owner, grantee, privilege in acl_rows
        if grantee == "PUBLIC" and kind in ("schema", "table", "sequence", "column")
    )
    assert public == []
    with deployed_db.connect("admin") as conn:
        definer = conn.execute(
            """
            SELECT p.oid::regprocedure::text FROM pg_proc AS p
            JOIN pg_namespace AS n ON n.oid = p.pronamespace
            WHERE n.nspname IN ('public', 'pgbouncer') AND p.prosecdef
              AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)
              AND has_function_privilege('public', p.oid, 'EXECUTE')
            """
        ).fetchall()
    assert definer == []


def _privileges(conn, roles, tables, privileges) -> list[tuple[str, str, str]]:
    """(role, table, privilege) for each privilege the role holds on the table (partitions too)."""
    return conn.execute(
        """
        SELECT r, c.oid::regclass::text, p
        FROM unnest(%s::text[]) AS r, unnest(%s::text[]) AS p, pg_class AS c
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'S')
          AND (c.relname = ANY (%s) OR EXISTS (
                SELECT 1 FROM pg_inherits AS i JOIN pg_class AS parent ON parent.oid = i.inhparent
                WHERE i.inhrelid = c.oid AND parent.relname = ANY (%s)))
          AND has_table_privilege(r, c.oid, p)
        ORDER BY 1, 2, 3
        """,
        (list(roles), list(privileges), list(tables), list(tables)),
    ).fetchall()


@pytest.mark.soc2("CC6.1", "CC6.3")
def test_only_the_owner_can_truncate(deployed_db):
    others = (*EXPECTED_ROLES.keys() - {"postgres", "migrator"},)
    with deployed_db.connect("admin") as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        assert _privileges(conn, others, tables, ["TRUNCATE"]) == []


@pytest.mark.soc2("CC6.1", "CC6.3", "CC7.2")
def test_append_only_tables_cannot_be_rewritten(deployed_db):
    """ledger_entries, audit_log and audit_chain_heads: no role but their owner writes them (through
    the SECURITY DEFINER functions and triggers); the owner itself holds no UPDATE, DELETE or
    TRUNCATE on the audit trail (0004) and is stopped by triggers on the ledger (0003)."""
    others = (*EXPECTED_ROLES.keys() - {"postgres", "migrator"},)
    writes = ["INSERT", "UPDATE", "DELETE", "TRUNCATE"]
    with deployed_db.connect("admin") as conn:
        assert _privileges(conn, others, APPEND_ONLY, writes) == []
        assert _privileges(conn, ["migrator"], ["audit_log"], ["UPDATE", "DELETE", "TRUNCATE"]) == []
        assert _privileges(conn, ["migrator"], ["audit_chain_heads"], ["DELETE", "TRUNCATE"]) == []
        guards = conn.execute(
            """
            SELECT c.relname, t.tgname FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid
            WHERE NOT t.tgisinternal AND t.tgenabled <> 'D'
              AND t.tgfoid = 'forbid_modification()'::regprocedure
            """
        ).fetchall()
    guarded = {table for table, _ in guards}
    assert {"ledger_entries", "audit_log", "audit_chain_heads"} <= guarded
