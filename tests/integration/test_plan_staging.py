"""The staging plan against the local endpoint (issue 3): `nox -s plan-staging -- --local-endpoint`
shows the whole staging control plane as resources to create and creates none of them."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import ROOT, run_playbook

pytestmark = pytest.mark.integration

STAGING_INVENTORY = ROOT / "inventories" / "staging"
# What the noxfile adds for --local-endpoint (one list, so the test plans exactly what the session does).
NOXFILE = (ROOT / "noxfile.py").read_text()
AWS_LAYERS = (
    "Network",
    "Security baseline",
    "Database (AWS)",
    "Cache (AWS)",
    "Compute (AWS)",
    "Edge (AWS)",
    "Observability (AWS)",
    "Backup (AWS)",
    "Application",
)


def _local_endpoint_args() -> list[str]:
    namespace: dict = {}
    start = NOXFILE.index("LOCAL_ENDPOINT_PLAN_ARGS = (")
    end = NOXFILE.index(")\n", start) + 1
    exec(NOXFILE[start:end], namespace)  # noqa: S102 - our own noxfile's constant
    return list(namespace["LOCAL_ENDPOINT_PLAN_ARGS"])


def _staging_vpcs(aws):
    vpcs = aws("ec2").describe_vpcs(Filters=[{"Name": "tag:Environment", "Values": ["staging"]}])["Vpcs"]
    return [vpc["VpcId"] for vpc in vpcs]


@pytest.fixture(scope="module")
def plan(tmp_path_factory, aws):
    assert _staging_vpcs(aws) == [], "a staging VPC exists on the local endpoint before the plan"
    summary = tmp_path_factory.mktemp("plan-staging") / "plan.json"
    result = run_playbook(
        "--check",
        "--diff",
        *_local_endpoint_args(),
        # The image tag a release of the API needs (CI gives the real one).
        "-e",
        "app_deploy_release=0.1.0",
        inventory=STAGING_INVENTORY,
        env={
            "ANSIBLE_CALLBACKS_ENABLED": "giftcrypto.platform.plan_summary",
            "GIFTCRYPTO_PLAN_JSON": str(summary),
        },
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    return {"result": result, "summary": json.loads(summary.read_text())}


def test_plan_staging_lists_every_aws_layer_as_to_create(plan):
    layers = {layer["layer"]: layer for layer in plan["summary"]["layers"]}
    for name in AWS_LAYERS:
        matching = [layer for title, layer in layers.items() if title.startswith(name)]
        assert matching, f"no layer {name} in the plan: {sorted(layers)}"
        assert matching[0]["create"] > 0, matching[0]
    assert "Ensure the VPC exists" in layers["Network"]["to_create"]
    assert plan["summary"]["totals"]["create"] >= 60, plan["summary"]["totals"]


def test_plan_staging_creates_nothing(plan, aws):
    assert "PLAN SUMMARY (check mode: nothing was changed)" in plan["result"].stdout
    assert _staging_vpcs(aws) == []
    names = [key["AliasName"] for key in aws("kms").list_aliases()["Aliases"]]
    assert not [name for name in names if "giftcrypto-staging" in name]
