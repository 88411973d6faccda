"""The aws_secret_rotation role's data, checked without AWS: the keys it never schedules are
secret_rotation.NOT_ROTATED, its pinned wheels are uv.lock's, the function's role may do exactly a
rotation (https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotating-secrets-required-permissions-function.html),
its trust is Lambda's of this account only (ADR 0017), and the function reads the RDS bundle of its
package instead of the controller's path the secrets name.
"""

from __future__ import annotations

import json
import pathlib
import tomllib
from unittest import mock

import jinja2
import yaml
from ansible_collections.giftcrypto.platform.plugins.module_utils import secret_rotation

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "aws_secret_rotation"
ROLE_VARS = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
PREFIX = "giftcrypto/staging"
ARN_PREFIX = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:"
RDS_KEY = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
VARIABLES = {
    "aws_secret_rotation__account_id": "123456789012",
    "aws_secret_rotation__partition": "aws",
    "aws_secret_rotation_region": "eu-west-1",
    "aws_secret_rotation_secret_prefix": PREFIX,
    "aws_secret_rotation__secret_names": [f"{PREFIX}/{s}" for s in DEFAULTS["aws_secret_rotation_secrets"]],
    "aws_secret_rotation__secret_arn_prefix": ARN_PREFIX,
    "aws_secret_rotation__admin_secrets": ROLE_VARS["aws_secret_rotation__admin_secrets"],
    "aws_secret_rotation__key_arns": [RDS_KEY],
    "aws_secret_rotation__log_group": "/aws/lambda/giftcrypto-staging-secret-rotation",
    "aws_secret_rotation_secrets": DEFAULTS["aws_secret_rotation_secrets"],
    "aws_secret_rotation__elasticache_connection_secret": ROLE_VARS[
        "aws_secret_rotation__elasticache_connection_secret"
    ],
    "aws_secret_rotation__elasticache_group_arn": (
        "arn:aws:elasticache:eu-west-1:123456789012:replicationgroup:giftcrypto-staging"
    ),
}
ELASTICACHE_KEY = "arn:aws:kms:eu-west-1:123456789012:key/66666666-2222-3333-4444-555555555555"


def _render(name: str, **overrides) -> dict:
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 -- JSON
    environment.filters["to_json"] = json.dumps
    template = environment.from_string((ROLE / "templates" / name).read_text())
    return json.loads(template.render(**{**VARIABLES, **overrides}))


def test_the_keys_that_are_not_passwords_name_the_secrets_the_roles_make():
    """secret_rotation.NOT_ROTATED's keys are the names the roles store those keys under (a key that
    names no secret would refuse nothing and leave the posture test's exception vacuous)."""
    made = {
        yaml.safe_load((ROOT / "roles" / role / "defaults" / path).read_text())[variable]
        for role, path, variable in (
            ("postgres_server", "main.yml", "postgres_server_backup_cipher_secret_name"),
            ("app_deploy", "main/eks.yml", "app_deploy_eks_pooler_tls_secret_name"),
        )
    }
    prefix = "{{ platform_name }}/{{ platform_environment }}/"
    assert {name.removeprefix(prefix) for name in made} == set(secret_rotation.NOT_ROTATED), made


def test_the_keys_that_are_not_passwords_are_secret_rotations_list():
    assert sorted(ROLE_VARS["aws_secret_rotation__not_rotated"]) == sorted(secret_rotation.NOT_ROTATED)
    assert not set(DEFAULTS["aws_secret_rotation_secrets"]) & set(secret_rotation.NOT_ROTATED)
    for inventory in ("local", "staging", "production"):
        values = yaml.safe_load(
            (ROOT / "inventories" / inventory / "group_vars" / "all" / "secret_rotation.yml").read_text()
        )
        for secret in values["aws_secret_rotation_secrets"]:
            assert secret not in secret_rotation.NOT_ROTATED
            # Every one is a kind the code rotates.
            kind = secret_rotation.secret_kind(f"{PREFIX}/{secret}")[1]
            assert kind in ("postgres", "redis", "elasticache")
        rotated = values["aws_secret_rotation_secrets"]
        if "elasticache/auth-token" in rotated:
            # The token's key, and the time its steps wait for the replication group.
            assert any(a.endswith("-elasticache") for a in values["aws_secret_rotation_kms_key_aliases"])
            assert int(values["aws_secret_rotation_timeout_seconds"]) >= 720
        # No ElastiCache data plane locally: the AUTH token is rotated on AWS only.
        assert ("elasticache/auth-token" in rotated) == (inventory != "local")
        if inventory != "local":
            # The EKS pooler's logins are scheduled, and the pooler follows their rotations: its
            # login-list sidecar runs on exactly those secrets (ADR 0019, "The EKS pooler";
            # tests/unit/test_app_k8s_manifests.py checks the rendered pod).
            pooler = yaml.safe_load(
                (ROOT / "roles" / "app_deploy" / "defaults" / "main" / "eks.yml").read_text()
            )
            served = {f"postgres/{login}" for login in pooler["app_deploy_eks_pooler_logins"]}
            assert served and served <= set(rotated), (inventory, sorted(served - set(rotated)))
            template = (ROOT / "roles" / "app_deploy" / "templates" / "k8s" / "15-pooler.yml.j2").read_text()
            assert "plugins.module_utils.pooler_userlist" in template
            assert "app_deploy_eks_pooler_logins" in template.split("{% set sync", 1)[1].split("%}", 1)[0]


def test_the_pinned_wheels_are_uv_locks():
    lock = {p["name"]: p for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"]}
    for wheel in ROLE_VARS["aws_secret_rotation__wheels"]:
        package = lock[wheel["name"]]
        assert package["version"] == wheel["version"], wheel["name"]
        (locked,) = [w for w in package["wheels"] if w["url"].rsplit("/", 1)[1] == wheel["file"]]
        assert locked["hash"] == f"sha256:{wheel['sha256']}", wheel["file"]
        assert wheel["file"].startswith(f"{wheel['name'].replace('-', '_')}-{wheel['version']}-")
        if "architecture" in wheel:
            assert ROLE_VARS["aws_secret_rotation__python_tag"] in wheel["file"]
            machine = {"arm64": "aarch64", "x86_64": "x86_64"}[wheel["architecture"]]
            assert all(platform.endswith(machine) for platform in wheel["platforms"])
            assert all(platform in wheel["file"] for platform in wheel["platforms"])
    assert {w.get("architecture") for w in ROLE_VARS["aws_secret_rotation__wheels"]} == {
        None,
        "arm64",
        "x86_64",
    }
    # The runtime the wheels are built for is the only one the role accepts.
    assert DEFAULTS["aws_secret_rotation_runtime"] == "python3.13"
    assert ROLE_VARS["aws_secret_rotation__python_tag"] == "cp313"


def test_the_function_may_rotate_the_listed_logins_and_nothing_else():
    policy = _render("function_policy.json.j2")
    statements = {s["Sid"]: s for s in policy["Statement"]}
    rotate = statements["RotateThePlatformsLogins"]
    assert sorted(rotate["Action"]) == [
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
    ]
    assert rotate["Resource"] == [
        f"{ARN_PREFIX}{name}-??????" for name in VARIABLES["aws_secret_rotation__secret_names"]
    ]
    read = statements["ReadTheAdminLogins"]
    assert sorted(read["Action"]) == ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
    assert read["Resource"] == [
        f"{ARN_PREFIX}{PREFIX}/postgres/master-??????",
        f"{ARN_PREFIX}{PREFIX}/redis/admin-??????",
        f"{ARN_PREFIX}rds!db-*",
    ]
    assert statements["GenerateThePasswords"]["Action"] == "secretsmanager:GetRandomPassword"
    keys = statements["UseTheSecretsKeysThroughSecretsManager"]
    assert keys["Resource"] == [RDS_KEY]
    assert keys["Condition"] == {"StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}}
    logs = statements["WriteItsLogs"]
    assert logs["Resource"].endswith(":log-group:/aws/lambda/giftcrypto-staging-secret-rotation:*")
    # Only the ENI actions (no resource-level permissions) and GetRandomPassword have Resource "*".
    starred = {
        a for s in policy["Statement"] if s["Resource"] == "*" for a in json.dumps(s["Action"]).split('"')
    }
    assert not {
        a for a in starred if a.startswith("secretsmanager:") and a != "secretsmanager:GetRandomPassword"
    }
    assert not any(a.startswith("kms:") for a in starred)


def test_without_keys_the_policy_has_no_kms_statement():
    policy = _render("function_policy.json.j2", aws_secret_rotation__key_arns=[])
    assert not any(s["Sid"].startswith("UseTheSecretsKeys") for s in policy["Statement"])


def test_rotating_the_auth_token_may_change_that_group_and_write_the_connection_secret():
    secrets = [*DEFAULTS["aws_secret_rotation_secrets"], "elasticache/auth-token"]
    policy = _render(
        "function_policy.json.j2",
        aws_secret_rotation_secrets=secrets,
        aws_secret_rotation__secret_names=[f"{PREFIX}/{s}" for s in secrets],
        aws_secret_rotation__key_arns=[RDS_KEY, ELASTICACHE_KEY],
    )
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert (
        f"{ARN_PREFIX}{PREFIX}/elasticache/auth-token-??????"
        in statements["RotateThePlatformsLogins"]["Resource"]
    )
    cache = statements["ChangeTheCachesAuthToken"]
    assert sorted(cache["Action"]) == [
        "elasticache:DescribeReplicationGroups",
        "elasticache:ModifyReplicationGroup",
    ]
    assert (
        cache["Resource"] == "arn:aws:elasticache:eu-west-1:123456789012:replicationgroup:giftcrypto-staging"
    )
    connection = statements["WriteTheCachesConnection"]
    assert sorted(connection["Action"]) == [
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
    ]
    assert connection["Resource"] == f"{ARN_PREFIX}{PREFIX}/redis/app-??????"
    assert statements["UseTheSecretsKeysThroughSecretsManager"]["Resource"] == [RDS_KEY, ELASTICACHE_KEY]
    # Where redis/app is itself rotated (an ACL user, locally) its grant is already there.
    local = [*secrets, "redis/app"]
    policy = _render(
        "function_policy.json.j2",
        aws_secret_rotation_secrets=local,
        aws_secret_rotation__secret_names=[f"{PREFIX}/{s}" for s in local],
    )
    assert "WriteTheCachesConnection" not in {s["Sid"] for s in policy["Statement"]}


def test_without_the_auth_token_the_function_has_no_elasticache_grant():
    policy = _render("function_policy.json.j2")
    assert not [s for s in policy["Statement"] if "elasticache" in json.dumps(s["Action"])]
    assert "WriteTheCachesConnection" not in {s["Sid"] for s in policy["Statement"]}


def _validate(**overrides) -> bool:
    """The validation's assert on aws_secret_rotation_secrets, as Jinja evaluates it (Ansible's match
    test: re.match)."""
    import re

    secrets = overrides.get("secrets", DEFAULTS["aws_secret_rotation_secrets"])
    pattern = "^((postgres|redis)/[A-Za-z0-9_-]+|elasticache/auth-token)$"
    text = (ROLE / "tasks" / "validate.yml").read_text()
    assert pattern in text
    return all(re.match(pattern, s) for s in secrets) and not set(secrets) & set(
        ROLE_VARS["aws_secret_rotation__not_rotated"]
    )


def test_the_validation_accepts_the_auth_token_and_no_other_elasticache_secret():
    assert _validate(secrets=["postgres/app_rw", "elasticache/auth-token"])
    assert not _validate(secrets=["elasticache/other"])
    assert not _validate(secrets=["elasticache/auth-token-2"])
    assert not _validate(secrets=["pgbouncer/tls"])
    assert not _validate(secrets=["postgres/backup"])
    function = (ROLE / "tasks" / "function.yml").read_text()
    assert "'ROTATION_ELASTICACHE_GROUP_ID': aws_secret_rotation_elasticache_replication_group_id" in function


def test_the_role_is_lambdas_of_this_account_only():
    (statement,) = _render("trust_policy.json.j2")["Statement"]
    assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_the_function_reads_the_bundle_of_its_package(monkeypatch):
    login = {
        "host": "db.example",
        "port": 5432,
        "username": "app_rw",
        "password": "pending-password-1",  # pragma: allowlist secret
        "sslrootcert": "/etc/ssl/certs/rds-global-bundle.pem",
    }
    with mock.patch.object(secret_rotation.psycopg, "connect") as connect:
        secret_rotation.pg_connect(login)
        assert connect.call_args.kwargs["sslrootcert"] == "/etc/ssl/certs/rds-global-bundle.pem"
        monkeypatch.setenv("ROTATION_PG_SSLROOTCERT", "/var/task/rds-ca-bundle.pem")
        secret_rotation.pg_connect(login)
        assert connect.call_args.kwargs["sslrootcert"] == "/var/task/rds-ca-bundle.pem"
        assert connect.call_args.kwargs["sslmode"] == "verify-full"
    assert ROLE_VARS["aws_secret_rotation__ca_in_package"] == "rds-ca-bundle.pem"
