"""The local environment's life cycle, in order: destroy, plan from nothing, cold deploy, no-op
deploy, plan on the converged state. Runs first (file name) and leaves the platform deployed for
the other integration tests. Wall times are written to tests/output/timings.json."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.integration.conftest import ROOT, run_playbook

TIMINGS = ROOT / "tests" / "output" / "timings.json"
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)

pytestmark = pytest.mark.integration


def _recap(output: str) -> dict:
    hosts = {
        m[1]: {"ok": int(m[2]), "changed": int(m[3]), "unreachable": int(m[4]), "failed": int(m[5])}
        for m in RECAP.finditer(output)
    }
    assert hosts, f"no play recap in the output:\n{output[-3000:]}"
    return hosts


def _record(name: str, seconds: float) -> None:
    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
    data[name] = round(seconds, 1)
    TIMINGS.write_text(json.dumps(data, indent=2, sort_keys=True))


def _plan(tmp_path) -> dict:
    summary = tmp_path / "plan.json"
    result = run_playbook(
        "--check",
        "--diff",
        env={
            "ANSIBLE_CALLBACKS_ENABLED": "giftcrypto.platform.plan_summary",
            "GIFTCRYPTO_PLAN_JSON": str(summary),
        },
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert "PLAN SUMMARY (check mode: nothing was changed)" in result.stdout
    return json.loads(summary.read_text())


def _our_vpcs(aws):
    return aws("ec2").describe_vpcs(Filters=[{"Name": "tag:Project", "Values": ["GiftCrypto"]}])["Vpcs"]


def test_destroy_removes_everything(aws):
    result = run_playbook(playbook="playbooks/destroy.yml")
    assert result.returncode == 0, result.stdout[-5000:]
    assert _recap(result.stdout)["localhost"]["failed"] == 0


def test_plan_from_nothing_lists_what_it_would_create_and_creates_nothing(tmp_path, aws):
    plan = _plan(tmp_path)
    layers = {layer["layer"]: layer for layer in plan["layers"]}
    network = layers["Network"]
    assert network["change"] == 0
    assert network["create"] >= 25, network
    created = "\n".join(network["to_create"])
    assert "Ensure the VPC exists" in created
    assert created.count("Ensure the subnets exist") == 9
    assert created.count("Ensure the security groups exist") == 4
    # The endpoint was started for the plan (it is the stand-in for the AWS API), and it is empty.
    assert _our_vpcs(aws) == []


def test_cold_deploy(aws):
    started = time.monotonic()
    result = run_playbook()
    _record("deploy_local_cold_s", time.monotonic() - started)
    assert result.returncode == 0, result.stdout[-8000:]
    assert _recap(result.stdout)["localhost"]["changed"] > 0
    assert len(_our_vpcs(aws)) == 1


def test_second_deploy_changes_nothing():
    started = time.monotonic()
    result = run_playbook()
    _record("deploy_local_noop_s", time.monotonic() - started)
    assert result.returncode == 0, result.stdout[-8000:]
    changed = [line for line in result.stdout.splitlines() if line.startswith("changed:")]
    assert _recap(result.stdout)["localhost"]["changed"] == 0, changed


def test_plan_on_the_converged_platform_reports_nothing(tmp_path):
    plan = _plan(tmp_path)
    assert plan["totals"]["create"] == 0, plan
    assert plan["totals"]["change"] == 0, plan
    assert plan["totals"]["unchanged"] > 30
