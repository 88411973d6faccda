"""Least privilege of the deploy role, proven against what the deploy does (issue 19, item 6).

tests/aws_calls/record.json holds every AWS API call that the deploy role's playbooks made,
recorded against the local endpoint (`nox -s aws-calls`; `nox -s integration` checks that no run
makes a call the record lacks). The deploy role's policy
(roles/aws_security_baseline/templates/ci_deploy_policy.json.j2) must allow every IAM action those
calls need, and grant nothing else but what tests/aws_calls/unrecorded_grants.yml lists, each with
the reason it cannot be recorded here (a path only real AWS takes). A new task calling an API the
policy lacks fails here; so does a grant that nothing calls any more.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
import re
import sys

import jinja2
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("aws_calls", ROOT / "tools" / "aws_calls.py")
aws_calls = importlib.util.module_from_spec(_spec)
sys.modules["aws_calls"] = aws_calls
_spec.loader.exec_module(aws_calls)
POLICY = ROOT / "roles" / "aws_security_baseline" / "templates" / "ci_deploy_policy.json.j2"
# The role's second, customer-managed policy: the grants beyond the inline policy's quota.
POLICY_2 = ROOT / "roles" / "aws_security_baseline" / "templates" / "ci_deploy_policy_2.json.j2"
UNRECORDED = ROOT / "tests" / "aws_calls" / "unrecorded_grants.yml"
VARIABLES = {
    "aws_security_baseline__partition": "aws",
    "aws_security_baseline_region": "eu-west-1",
    "aws_security_baseline__account_id": "123456789012",
    "aws_security_baseline_name": "giftcrypto-staging",
    "aws_security_baseline_ecr_repository_prefix": "giftcrypto",
    "aws_security_baseline_eks_cluster_name": "giftcrypto-staging",
    "aws_security_baseline_dr_region": "us-west-2",
    "platform_name": "giftcrypto",
    "platform_environment": "staging",
}


# IAM writes that have no resource but the account (Resource "*" is the only possible one).
ACCOUNT_LEVEL_IAM_WRITES = {"iam:UpdateAccountPasswordPolicy"}


def _policy(path: pathlib.Path = POLICY) -> dict:
    # JSON, not HTML: nothing to escape (Ansible renders it the same way, autoescape off).
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701
    template = environment.from_string(path.read_text())
    return json.loads(template.render(**VARIABLES))


def _statements() -> list[dict]:
    """The statements of both of the role's policies (the inline one and the managed one)."""
    found = []
    for path in (POLICY, POLICY_2):
        statements = _policy(path)["Statement"]
        found += [statements] if isinstance(statements, dict) else statements
    return found


def _listed(value) -> list[str]:
    return value if isinstance(value, list) else [value]


def _matches(pattern: str, action: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, action, re.IGNORECASE) is not None


def _granted() -> set[str]:
    return {a for s in _statements() if s["Effect"] == "Allow" for a in _listed(s.get("Action", []))}


def _needed() -> dict[str, set[str]]:
    """IAM action -> the recorded calls of the deploy role that need it."""
    needed: dict[str, set[str]] = {}
    for call in aws_calls.deploy_role_calls(aws_calls.load_record()):
        for action in aws_calls.iam_actions(call):
            needed.setdefault(action, set()).add(call)
    return needed


def _unrecorded() -> list[dict]:
    return yaml.safe_load(UNRECORDED.read_text())["grants"]


def test_the_record_is_not_empty_and_covers_a_deploy_a_plan_and_a_rollback():
    record = aws_calls.load_record()
    assert {"site.yml", "rollback.yml"} <= set(record["playbooks"])
    assert len(aws_calls.recorded_calls(record)) > 100
    # The record is what the tool writes: regenerated, never edited by hand.
    assert record["comment"].startswith("The AWS API calls of the deploy role's playbooks")


def test_every_call_the_deploy_makes_is_allowed():
    granted = _granted()
    missing = {
        action: sorted(calls)
        for action, calls in _needed().items()
        if not any(_matches(pattern, action) for pattern in granted)
    }
    assert missing == {}, (
        "the deploy role's policy lacks these actions (recorded calls in parentheses): add them to "
        f"{POLICY.relative_to(ROOT)}: {missing}"
    )


def test_nothing_is_granted_that_nothing_calls_but_the_listed_exceptions():
    needed = set(_needed())
    exceptions = {grant["action"] for grant in _unrecorded()}
    excess = sorted(
        pattern
        for pattern in _granted()
        if pattern not in exceptions and not any(_matches(pattern, action) for action in needed)
    )
    assert excess == [], (
        f"granted but never called by a deploy, plan or rollback: {excess}. Remove them from "
        f"{POLICY.relative_to(ROOT)}, or list them in {UNRECORDED.relative_to(ROOT)} with the reason "
        "(and re-record with `nox -s aws-calls` if a task now calls them)"
    )


def test_no_grant_is_a_wildcard_pattern():
    # Each grant names one action: a pattern would grant actions nobody recorded nor reviewed.
    assert sorted(a for a in _granted() if "*" in a or "?" in a) == []


def test_every_listed_exception_is_granted_has_a_reason_and_is_not_recorded():
    needed = set(_needed())
    granted = _granted()
    for grant in _unrecorded():
        assert set(grant) == {"action", "reason"}, grant
        assert len(grant["reason"]) > 30, grant
        assert grant["action"] in granted, f"{grant['action']}: listed but not granted"
        assert grant["action"] not in needed, f"{grant['action']}: recorded now, remove it from the list"
    # Grants waiting for the next recording (`nox -s aws-calls` after a merge) leave the list then.
    lasting = [g for g in _unrecorded() if not g["reason"].startswith("not in the record yet")]
    # 42: the RDS-managed master password's two (the legacy secret's deletion, a schedule other than
    # RDS's own) are calls no recorded run can make (ADR 0019); the second, RotateSecret, waits for the
    # next recording now that the login schedules call it, and lambda:InvokeFunction (implicit in
    # RotateSecret, never a call of its own) takes its place; 45: the feature flags' updates of tags
    # and of the deployment strategy (ADR 0023), which no recorded run makes; 47: a new version of a
    # managed policy (CreatePolicyVersion, DeletePolicyVersion: the second policy when a service is added)
    # and an EKS add-on's update (UpdateAddon, recorded as unneeded since the endpoint answers add-ons);
    # 49: the Cognito pool's and app client's updates (UpdateUserPool, UpdateUserPoolClient); 54: the
    # rotation function's updates (its code, settings, tags, invoke statement: ADR 0019), which no
    # recorded run makes; its creation and schedules are recorded now (RotateSecret left the list).
    assert len(lasting) <= 54, "the list of unrecorded grants is meant to stay short"


def test_iam_and_kms_writes_are_scoped_to_the_platforms_own_resources():
    for statement in _statements():
        actions = _listed(statement.get("Action", []))
        resources = _listed(statement.get("Resource", []))
        risky = [
            a
            for a in actions
            if re.match(r"iam:(Create|Put|Attach|Delete|Detach|Update|Tag|Untag|PassRole)", a)
            and a not in ACCOUNT_LEVEL_IAM_WRITES
        ]
        if risky:
            assert "*" not in resources, statement["Sid"]
            assert all(
                r.startswith(
                    (
                        "arn:aws:iam::123456789012:role/giftcrypto-staging-",
                        "arn:aws:iam::123456789012:policy/giftcrypto-staging-",
                        "arn:aws:iam::123456789012:group/giftcrypto-staging-",
                        "arn:aws:iam::123456789012:oidc-provider/",
                        "arn:aws:iam::123456789012:role/aws-service-role/",
                    )
                )
                or r == "arn:aws:iam::123456789012:group/admins"
                for r in resources
            ), (statement["Sid"], resources)
        if "iam:PassRole" in actions:
            assert "Condition" in statement, "PassRole only to the services the platform's roles are for"


@pytest.mark.parametrize(
    ("call", "actions"),
    [
        ("ec2:DescribeVpcs", ["ec2:DescribeVpcs"]),
        ("elbv2:DescribeLoadBalancers", ["elasticloadbalancing:DescribeLoadBalancers"]),
        ("s3:HeadBucket", ["s3:ListBucket"]),
        ("s3:GetPublicAccessBlock", ["s3:GetBucketPublicAccessBlock"]),
        ("sts:GetCallerIdentity", []),
    ],
)
def test_api_calls_map_to_their_iam_actions(call, actions):
    assert aws_calls.iam_actions(call) == actions


def test_the_recorder_attributes_each_call_to_its_playbook_and_task(tmp_path):
    log = tmp_path / "calls.jsonl"
    lines = [
        {"playbook": "site.yml"},
        {"task": "giftcrypto.platform.aws_network : Ensure the VPC"},
        {"call": "ec2:DescribeVpcs"},
        {"call": "ec2:CreateVpc"},
        {"playbook": "destroy.yml"},
        {"task": "giftcrypto.platform.aws_network : Remove the VPC"},
        {"call": "ec2:DeleteVpc"},
        {"playbook": "rollback.yml"},
        {"task": "Roll back"},
        {"call": "eks:DescribeCluster"},
        {"end": True},
        # The test's own boto3 call between playbooks: no task's, not counted.
        {"call": "iam:ListRoles"},
    ]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    runs = aws_calls.read_runs([log])
    assert runs == {
        "site.yml": {
            "giftcrypto.platform.aws_network : Ensure the VPC": {"ec2:DescribeVpcs", "ec2:CreateVpc"}
        },
        "rollback.yml": {"Roll back": {"eks:DescribeCluster"}},
    }
    record = tmp_path / "record.json"
    aws_calls.write_record(runs, record)
    assert aws_calls.main(["check", str(log), "--record", str(record)]) == 0
    log.write_text(
        log.read_text()
        + "".join(json.dumps(e) + "\n" for e in ({"playbook": "rollback.yml"}, {"call": "ec2:DeleteVpc"}))
    )
    # A new call in rollback.yml is not in the record.
    assert aws_calls.main(["check", str(log), "--record", str(record)]) == 1


def test_the_botocore_plugin_records_each_call_through_the_public_event_system(tmp_path, monkeypatch):
    """A real botocore client with the plugin loaded from the environment, as nox enables it."""
    import botocore.session
    from botocore.stub import Stubber

    monkeypatch.syspath_prepend(str(ROOT / "tools" / "aws_calls"))
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("GIFTCRYPTO_AWS_CALLS", str(log))
    monkeypatch.setenv("BOTOCORE_EXPERIMENTAL__PLUGINS", "giftcrypto_aws_calls=giftcrypto_aws_calls")
    sys.modules.pop("giftcrypto_aws_calls", None)
    client = botocore.session.get_session().create_client(
        "ec2",
        region_name="eu-west-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
    )
    with Stubber(client) as stub:
        stub.add_response("describe_vpcs", {"Vpcs": []})
        client.describe_vpcs()
    assert [json.loads(line) for line in log.read_text().splitlines()] == [{"call": "ec2:DescribeVpcs"}]


def test_the_calls_made_as_an_assumed_role_are_that_roles_and_allowed_by_its_policy():
    """A task that assumes another role (tools/aws_calls.py ASSUMED_ROLE_TASKS: the anchor step, as
    the anchoring role) makes its calls as that role: its policy, not the deploy role's, must allow
    them, and the deploy role may assume it (sts:AssumeRole on that role alone)."""
    assumed = aws_calls.assumed_role_calls(aws_calls.load_record())
    assert set(assumed) == set(aws_calls.ASSUMED_ROLE_TASKS.values()), "a listed task no longer recorded"
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701
    for template, calls in assumed.items():
        source = (POLICY.parent / template).read_text()
        policy = json.loads(
            environment.from_string(source).render(
                **VARIABLES,
                aws_security_baseline_audit_anchors_bucket_name="giftcrypto-staging-audit-anchors",
                aws_security_baseline__audit_anchor_key_arn="arn:aws:kms:eu-west-1:123456789012:key/anchor",
                aws_security_baseline__key_arns={"s3": "arn:aws:kms:eu-west-1:123456789012:key/s3"},
            )
        )
        granted = {a for s in policy["Statement"] if s["Effect"] == "Allow" for a in _listed(s["Action"])}
        missing = sorted(
            {
                action
                for call in calls
                for action in aws_calls.iam_actions(call)
                if not any(_matches(pattern, action) for pattern in granted)
            }
        )
        assert missing == [], f"{template} lacks {missing}, which the recorded calls {sorted(calls)} need"
    (statement,) = [s for s in _statements() if "sts:AssumeRole" in _listed(s["Action"])]
    assert _listed(statement["Resource"]) == [
        "arn:aws:iam::123456789012:role/giftcrypto-staging-audit-anchor"
    ]


def test_the_second_policy_fits_in_a_managed_policys_quota():
    """IAM refuses a customer-managed policy over 6,144 characters, whitespace not counted (IAM User
    Guide, "IAM and AWS STS quotas"); the local endpoint does not enforce it either."""
    size = len(re.sub(r"\s", "", json.dumps(_policy(POLICY_2))))
    assert size <= 6_144, f"the deploy role's second policy is {size} characters, over IAM's 6,144"


def test_the_policy_fits_in_the_roles_inline_policy_quota():
    """IAM refuses a role whose inline policies total more than 10,240 characters, whitespace not
    counted (IAM User Guide, "IAM and AWS STS quotas": role policy size): the local endpoint does not
    enforce it, so a policy over it would pass every local test and fail the first real deploy."""
    size = len(re.sub(r"\s", "", json.dumps(_policy())))
    assert size <= 10_240, f"the deploy role's policy is {size} characters, over IAM's 10,240"
