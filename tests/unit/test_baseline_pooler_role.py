"""The connection pooler's IRSA role of aws_security_baseline (issue 23, ADR 0019 "Not built yet" 1).

The pgBouncer pods' sidecar reads the API's database logins (AWSCURRENT and AWSPENDING) to keep the
pooler's userlist current after a rotation. Rendered with Ansible as each environment's run would
(tests/unit/fixtures/render_baseline_roles.yml: the role's defaults and vars under the inventory, its
validation), without AWS, these tests hold that:

- the role <name>-pooler is made only with the cluster's OIDC issuer, as the application role;
- it trusts that provider for one service account, <namespace>:pgbouncer, with the application
  role's conditions (aud and sub, StringEquals, no wildcard);
- its permissions are GetSecretValue and DescribeSecret on postgres/app_rw and app_ro, nothing else
  (no KMS: those logins use the AWS managed key, as for the application role);
- the logins' resource policies, as db_schema writes them from its default readers, name it, and
  no other secret's does.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest
import yaml

from tests.unit.test_app_k8s_manifests import _ansible_env

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "tests" / "unit" / "fixtures" / "render_baseline_roles.yml"
ROLE = ROOT / "roles" / "aws_security_baseline"
ISSUER = "oidc.eks.eu-west-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"
ACCOUNT = "123456789012"


def _render(inventory: str, out: pathlib.Path, issuer: str) -> dict:
    facts = out / f"{inventory}.json"
    result = subprocess.run(
        [
            str(pathlib.Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(ROOT / "inventories" / inventory),
            str(PLAYBOOK),
            "-e",
            json.dumps(
                {
                    "aws_security_baseline_test_facts": str(facts),
                    "aws_security_baseline_eks_oidc_issuer": issuer,
                }
            ),
        ],
        cwd=ROOT,
        env=_ansible_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, (
        f"rendering the {inventory} baseline failed:\n{result.stdout}{result.stderr}"
    )
    return json.loads(facts.read_text(encoding="utf-8"))


@pytest.fixture(scope="module", params=["local", "staging", "production"])
def baseline(request, tmp_path_factory):
    """(inventory, facts) of an environment whose cluster exists (the EKS issuer set)."""
    return request.param, _render(request.param, tmp_path_factory.mktemp(request.param), ISSUER)


def _prefix(inventory: str) -> tuple[str, str]:
    """(<platform>-<env> as IAM names it, <platform>/<env> as the secrets do)."""
    return f"giftcrypto-{inventory}", f"giftcrypto/{inventory}"


def test_the_pooler_role_is_made_with_the_application_role_only(baseline, tmp_path):
    _, facts = baseline
    assert "pooler" in facts["roles"] and "app" in facts["roles"]
    assert facts["roles"].index("pooler") == facts["roles"].index("app") + 1
    # Without the cluster's issuer (a first staging or production deploy) neither is made, and no
    # secret names them as a reader.
    before = _render("staging", tmp_path, "")
    assert "pooler" not in before["roles"] and "app" not in before["roles"]
    named = json.dumps(before["secret_readers"])
    assert "-pooler" not in named and '-app"' not in named


def test_the_pooler_role_trusts_one_service_account_of_the_cluster(baseline):
    inventory, facts = baseline
    name, _ = _prefix(inventory)
    assert facts["role_arn_prefix"] == f"arn:aws:iam::{ACCOUNT}:role/{name}"
    (statement,) = facts["pooler_trust"]["Statement"]
    assert statement == {
        "Effect": "Allow",
        "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER}"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {
            "StringEquals": {
                f"{ISSUER}:aud": "sts.amazonaws.com",
                f"{ISSUER}:sub": ["system:serviceaccount:giftcrypto:pgbouncer"],
            }
        },
    }


def test_the_pooler_role_reads_the_apis_database_logins_and_nothing_else(baseline):
    inventory, facts = baseline
    _, secrets = _prefix(inventory)
    (statement,) = facts["pooler_policy"]["Statement"]
    platform = ROOT / "inventories" / inventory / "group_vars" / "all" / "platform.yml"
    region = facts["region"]
    assert region == yaml.safe_load(platform.read_text(encoding="utf-8"))["aws_region"]
    assert statement["Effect"] == "Allow"
    assert sorted(statement["Action"]) == ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
    assert statement["Resource"] == [
        f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{secrets}/postgres/{login}-??????"
        for login in ("app_rw", "app_ro")
    ]
    assert "Condition" not in statement and "NotAction" not in statement and "NotResource" not in statement


def test_the_logins_resource_policies_name_the_pooler_role_and_no_other_secret_does(baseline):
    """What db_schema puts on postgres/app_rw and app_ro (db_schema_secret_readers defaults to the
    baseline's output, which no inventory overrides)."""
    inventory, facts = baseline
    name, secrets = _prefix(inventory)
    pooler = {f"arn:aws:iam::{ACCOUNT}:role/{name}-pooler", f"arn:aws:iam::{ACCOUNT}:role/*/{name}-pooler"}
    for login, policy in facts["login_policies"].items():
        (statement,) = policy["Statement"]
        readers = set(statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"])
        if login in ("app_rw", "app_ro"):
            assert pooler <= readers, login
            # The rotation function and the application keep reading them (combined, not replaced).
            assert f"arn:aws:iam::{ACCOUNT}:role/{name}-secret-rotation" in readers, login
            assert f"arn:aws:iam::{ACCOUNT}:role/{name}-app" in readers, login
        else:
            assert not pooler & readers, login
    named = {
        secret
        for secret, arns in facts["secret_readers"].items()
        if f"role/{name}-pooler" in json.dumps(arns)
    }
    assert named == {f"{secrets}/postgres/app_rw", f"{secrets}/postgres/app_ro"}


def test_db_schema_writes_the_logins_readers_from_the_baselines_output():
    defaults_file = ROOT / "roles" / "db_schema" / "defaults" / "main.yml"
    defaults = yaml.safe_load(defaults_file.read_text(encoding="utf-8"))
    assert defaults["db_schema_secret_readers"] == "{{ aws_security_baseline_secret_readers | default({}) }}"
    for path in (ROOT / "inventories").glob("*/group_vars/**/*.yml"):
        assert "db_schema_secret_readers" not in path.read_text(encoding="utf-8"), path


def test_the_destroy_deletes_the_pooler_role():
    absent = (ROLE / "tasks" / "absent.yml").read_text(encoding="utf-8")
    assert absent.count("aws_security_baseline__pooler_role") == 2  # its inline policy, then the role
