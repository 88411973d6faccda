"""The S3 gateway endpoint's policy admits what the platform does through it (ADR 0017).

The deploy runs in the private subnets (ADR 0007), so every S3 call of the CI deploy role passes the
endpoint: an action the deploy role is granted on the platform's buckets but the endpoint's policy
lacks would be refused on the first real deploy, and the local endpoint (which does not evaluate
endpoint policies) would never say so.
"""

from __future__ import annotations

import json
import pathlib
import re

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
NETWORK = ROOT / "roles" / "aws_network"
CI_POLICY = ROOT / "roles" / "aws_security_baseline" / "templates" / "ci_deploy_policy.json.j2"


def _endpoint_actions() -> set[str]:
    return set(
        yaml.safe_load((NETWORK / "defaults" / "main.yml").read_text())["aws_network_s3_endpoint_actions"]
    )


def test_every_s3_action_of_the_deploy_role_passes_the_endpoint():
    granted = set(re.findall(r'"(s3:[A-Za-z]+)"', CI_POLICY.read_text()))
    assert granted, "no S3 action found in the CI deploy policy"
    # ListAllMyBuckets has no bucket: the policy's own statement admits it for our principals.
    missing = sorted(granted - _endpoint_actions() - {"s3:ListAllMyBuckets"})
    assert missing == [], (
        f"the CI deploy role may call {missing} on our buckets, the S3 endpoint refuses them"
    )


def test_the_endpoint_actions_are_named_and_documented_alike():
    actions = _endpoint_actions()
    assert all(re.fullmatch(r"s3:[A-Z][A-Za-z]+", a) for a in actions), "wildcards or malformed actions"
    spec = yaml.safe_load((NETWORK / "meta" / "argument_specs.yml").read_text())
    option = spec["argument_specs"]["main"]["options"]["aws_network_s3_endpoint_actions"]
    assert set(option["default"]) == actions


def test_the_policy_template_is_valid_json_for_a_sample_account():
    import jinja2

    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701
    environment.filters["to_json"] = json.dumps
    environment.filters["regex_replace"] = lambda value, pattern, replacement: re.sub(
        pattern, replacement.replace("\\\\", "\\"), value
    )
    template = environment.from_string((NETWORK / "templates" / "s3_endpoint_policy.json.j2").read_text())
    document = json.loads(
        template.render(
            aws_network__account_id="123456789012",
            aws_network__partition="aws",
            aws_network_s3_endpoint_actions=sorted(_endpoint_actions()),
            aws_network_s3_endpoint_bucket_patterns=["giftcrypto-staging-*"],
            aws_network__s3_endpoint_aws_owned_buckets=["prod-eu-west-1-starport-layer-bucket"],
        )
    )
    ours, listing, aws_owned = document["Statement"]
    assert ours["Condition"]["StringEquals"] == {
        "aws:PrincipalAccount": "123456789012",
        "aws:ResourceAccount": "123456789012",
    }
    assert ours["Resource"] == ["arn:aws:s3:::giftcrypto-staging-*", "arn:aws:s3:::giftcrypto-staging-*/*"]
    assert listing["Action"] == "s3:ListAllMyBuckets"
    assert aws_owned["Action"] == "s3:GetObject"
    assert aws_owned["Resource"] == ["arn:aws:s3:::prod-eu-west-1-starport-layer-bucket/*"]
    # Nothing admits every principal to every action: no statement is the default endpoint policy.
    assert not any(s.get("Action") == "*" for s in document["Statement"])
