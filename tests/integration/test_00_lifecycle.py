"""The local environment's life cycle, in order: a clean slate, the plan from nothing, the cold deploy
of the collection as users install it, the no-op deploy from the checkout, the plan on the converged
state. Runs first (file name) and leaves the platform deployed for the other integration tests;
test_zzz_destroy.py destroys it at the end of the run. Wall times go to tests/output/timings.json.

The cold deploy is the installed collection's: the artifact `ansible-galaxy collection build` makes
(what `nox -s build` ships), installed offline into an empty directory (its dependencies from the
`ansible` package's bundle), run as `ansible-playbook giftcrypto.platform.site -i inventories/local`
with nothing of the checkout on Ansible's paths, at -vvv: no generated secret may be in its output.
The checkout's `ansible-playbook site.yml` then changes nothing: the installed collection deployed
what the checkout deploys."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time

import pytest
import yaml

from tests.integration.conftest import LOCAL_INVENTORY, ROOT, open_ports, run_playbook

TIMINGS = ROOT / "tests" / "output" / "timings.json"
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
# Where the built collection is installed: a directory of the checkout's test output (gitignored, not
# in the artifact), emptied first. Not a temporary directory: the local AWS endpoint the deploy
# starts runs its launcher from the installed role (files/aws_endpoint.py) until the platform is
# destroyed, after this test session.
INSTALLED = ROOT / "tests" / "output" / "installed-collection"

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


def _secret_values(aws) -> dict[str, str]:
    """name -> every string value (a plain secret, or each string field of a JSON secret)."""
    sm = aws("secretsmanager")
    found: dict[str, str] = {}
    for page in sm.get_paginator("list_secrets").paginate():
        for entry in page["SecretList"]:
            value = sm.get_secret_value(SecretId=entry["ARN"])["SecretString"]
            try:
                fields = json.loads(value)
            except json.JSONDecodeError:
                fields = {"value": value}
            if not isinstance(fields, dict):
                fields = {"value": value}
            for key, field in fields.items():
                if key in {"password", "value", "token", "secret", "cipher_pass"} and isinstance(field, str):
                    found[f"{entry['Name']}:{key}"] = field
    return found


def _galaxy(*args, cwd) -> subprocess.CompletedProcess:
    """ansible-galaxy without the checkout's ansible.cfg (its collections_path is the checkout), and
    with INSTALLED as the only collections path (a giftcrypto.platform in ~/.ansible/collections
    would count as installed already); the dependencies are found in the ansible package's bundle."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "ANSIBLE_COLLECTIONS_PATH": str(INSTALLED),
    }
    result = subprocess.run(
        ["ansible-galaxy", "collection", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_the_lifecycle_starts_from_a_clean_slate(local_vars):
    """Whatever a developer machine has deployed is destroyed first; a fresh machine has nothing."""
    if open_ports(local_vars):
        result = run_playbook(playbook="playbooks/destroy.yml")
        assert result.returncode == 0, result.stdout[-5000:]
        assert _recap(result.stdout)["localhost"]["failed"] == 0
    assert open_ports(local_vars) == {}


def test_plan_from_nothing_lists_what_it_would_create_and_creates_nothing(tmp_path, aws):
    plan = _plan(tmp_path)
    layers = {layer["layer"]: layer for layer in plan["layers"]}
    network = layers["Network"]
    assert network["change"] == 0
    assert network["create"] >= 25, network
    created = "\n".join(network["to_create"])
    assert "Ensure the VPC exists" in created
    assert created.count("Ensure the subnets exist") == 9
    # alb, app, db, cache, and the secret rotation function's (ADR 0019).
    assert created.count("Ensure the security groups exist") == 5
    # The endpoint was started for the plan (it is the stand-in for the AWS API), and it is empty.
    assert _our_vpcs(aws) == []


@pytest.mark.soc2("CC6.1")
def test_cold_deploy_of_the_installed_collection(tmp_path, aws):
    # The artifact, built as `nox -s build` builds it, installed offline into an empty directory.
    _galaxy("build", "--output-path", tmp_path, ROOT, cwd=tmp_path)
    artifact = tmp_path / f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"
    shutil.rmtree(INSTALLED, ignore_errors=True)
    INSTALLED.mkdir(parents=True)
    assert list(INSTALLED.iterdir()) == []
    install = _galaxy("install", "--offline", "-p", INSTALLED, artifact, cwd=tmp_path)
    for dependency in GALAXY["dependencies"]:  # from the ansible package's bundle, not a download
        assert f"'{dependency}:" in install.stdout and "is already installed" in install.stdout, dependency
    collection = INSTALLED / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"]
    assert (collection / "MANIFEST.json").is_file()

    started = time.monotonic()
    result = run_playbook("-vvv", playbook="giftcrypto.platform.site", collections=INSTALLED, timeout=1800)
    _record("deploy_local_cold_s", time.monotonic() - started)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert _recap(result.stdout)["localhost"]["changed"] > 0
    assert len(_our_vpcs(aws)) == 1
    # Every task and module came from the installed collection, none from the checkout.
    task_paths = re.findall(r"^task path: (\S+):\d+$", result.stdout, re.M)
    ours = [
        path
        for path in task_paths
        if "/ansible_collections/giftcrypto/platform/" in path or path.startswith(str(ROOT))
    ]
    assert ours and all(path.startswith(f"{collection}/") for path in ours), sorted(set(ours))[:20]
    modules = re.findall(r"^Using module file (\S+)$", result.stdout, re.M)
    assert any(path.startswith(f"{collection}/plugins/modules/") for path in modules)
    # (The venv's own modules, ansible's and the bundled collections', are under the checkout too.)
    checkout = tuple(f"{ROOT}/{part}/" for part in ("plugins", "roles", "playbooks", ".collections"))
    assert not [path for path in modules if path.startswith(checkout)]

    # No generated secret in the whole -vvv output (this deploy generated them all).
    secrets = _secret_values(aws)
    assert len(secrets) >= 6, sorted(secrets)  # postgres master + 4 login roles + redis app/admin
    output = result.stdout + result.stderr
    leaked = sorted(name for name, value in secrets.items() if len(value) >= 8 and value in output)
    assert leaked == [], f"secrets printed in the -vvv output: {leaked}"


def test_the_checkouts_site_yml_changes_nothing_after_it():
    """`ansible-playbook site.yml` from the root (ansible.cfg: the local inventory, the checkout's
    collection) finds everything the installed collection deployed: changed=0."""
    started = time.monotonic()
    result = run_playbook(playbook="site.yml", inventory=LOCAL_INVENTORY)
    _record("deploy_local_noop_s", time.monotonic() - started)
    assert result.returncode == 0, result.stdout[-8000:]
    changed = [line for line in result.stdout.splitlines() if line.startswith("changed:")]
    assert _recap(result.stdout)["localhost"]["changed"] == 0, changed


def test_plan_on_the_converged_platform_reports_nothing(tmp_path):
    plan = _plan(tmp_path)
    assert plan["totals"]["create"] == 0, plan
    assert plan["totals"]["change"] == 0, plan
    assert plan["totals"]["unchanged"] > 30
