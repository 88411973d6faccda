"""What the Molecule verify files share (pytest loads this conftest for every scenario's tests/).

- ``scenario_vars``: the variables the scenario gives its inventory (molecule.yml).
- ``aws``: ``aws("ec2")``, a boto3 client of the scenario's own AWS endpoint.
- ``converge``: ``converge("-e", "x=1")``, the scenario's converge playbook run again on its
  inventory (a change, a plan, a refusal), returning the completed process.
- ``recap``: ``recap(output)``, the (changed, failed) counts of the run's play recap.
- ``deprecations``: ``deprecations(output)``, its deprecation lines (tools/no_deprecations.py's rule).
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import boto3
import pytest
import yaml


@pytest.fixture(scope="session")
def scenario_vars() -> dict:
    molecule = yaml.safe_load(
        (pathlib.Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "molecule.yml").read_text()
    )
    inventory = molecule["provisioner"]["inventory"]
    return {**(inventory.get("group_vars") or {}).get("all", {})}


@pytest.fixture(scope="session")
def aws(scenario_vars):
    """boto3 clients of the scenario's endpoint, with its dummy credentials."""
    clients: dict = {}

    def client(service: str, region: str | None = None):
        region = region or scenario_vars.get("aws_region", "us-east-1")
        if (service, region) not in clients:
            clients[service, region] = boto3.client(
                service,
                endpoint_url=scenario_vars["aws_endpoint_url"],
                region_name=region,
                aws_access_key_id=scenario_vars.get("aws_access_key_id", "molecule"),
                aws_secret_access_key=scenario_vars.get("aws_secret_access_key", "molecule"),
            )
        return clients[service, region]

    return client


@pytest.fixture(scope="session")
def converge():
    """The scenario's converge playbook on its inventory, with extra ansible-playbook arguments."""

    def run(*extra: str, timeout: int = 900) -> subprocess.CompletedProcess:
        scenario = pathlib.Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
        playbook = pathlib.Path(sys.executable).parent / "ansible-playbook"
        return subprocess.run(  # noqa: S603 - a fixed argv: our playbook and the scenario's inventory
            [
                str(playbook),
                "-i",
                str(pathlib.Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent),
                str(scenario / "converge.yml"),
                *extra,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"},
        )

    return run


@pytest.fixture(scope="session")
def recap():
    """(changed, failed) of a run's play recap for localhost."""

    def counts(output: str) -> tuple[int, int]:
        found = re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=(\d+)", output)
        assert found, output[-3000:]
        return int(found.group(1)), int(found.group(2))

    return counts


@pytest.fixture(scope="session")
def deprecations():
    """The deprecation lines of an output, judged as the integration deploy judges them."""
    import importlib.util

    path = pathlib.Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / "tools" / "no_deprecations.py"
    spec = importlib.util.spec_from_file_location("giftcrypto_no_deprecations", path)
    rule = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rule)
    return lambda output: rule.deprecations(output.splitlines())
