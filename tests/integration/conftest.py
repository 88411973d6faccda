"""Fixtures of the integration tests: the local environment as `nox -s deploy-local` left it.

The integration session runs against the real local environment: the moto server standing in for
AWS, and real PostgreSQL, pgBouncer, Redis... installed by our roles. Connection facts come from the
local inventory and secrets from the local Secrets Manager, exactly as the platform reads them.
Area-specific fixtures live in ``tests/integration/fixtures_<area>.py`` and are loaded here.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess

import boto3
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
# GIFTCRYPTO_INVENTORY points the tests at a copy of the local inventory (e.g. another endpoint port).
LOCAL_INVENTORY = pathlib.Path(os.environ.get("GIFTCRYPTO_INVENTORY", ROOT / "inventories" / "local"))

pytest_plugins = sorted(
    f"tests.integration.{p.stem}" for p in pathlib.Path(__file__).parent.glob("fixtures_*.py")
)


def load_group_vars(inventory: pathlib.Path) -> dict:
    """The raw (untemplated) group_vars/all of an inventory, merged file by file."""
    merged: dict = {}
    for path in sorted((inventory / "group_vars" / "all").glob("*.yml")):
        merged.update(yaml.safe_load(path.read_text()) or {})
    return merged


@pytest.fixture(scope="session")
def local_vars() -> dict:
    return load_group_vars(LOCAL_INVENTORY)


@pytest.fixture(scope="session")
def aws(local_vars):
    """A factory of boto3 clients bound to the local AWS endpoint."""
    session = boto3.session.Session(
        aws_access_key_id=local_vars["aws_access_key_id"],
        aws_secret_access_key=local_vars["aws_secret_access_key"],
        region_name=local_vars["aws_region"],
    )

    def client(service: str, region: str | None = None):
        return session.client(service, endpoint_url=local_vars["aws_endpoint_url"], region_name=region)

    return client


@pytest.fixture(scope="session")
def secret(aws, local_vars):
    """Reads a JSON (or plain) secret `<platform_name>/<environment>/<purpose>` from Secrets Manager."""
    sm = aws("secretsmanager")

    def read(purpose: str):
        name = f"{local_vars['platform_name']}/{local_vars['platform_environment']}/{purpose}"
        value = sm.get_secret_value(SecretId=name)["SecretString"]
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value

    return read


def run_playbook(
    *args: str,
    inventory: pathlib.Path = LOCAL_INVENTORY,
    playbook: str = "playbooks/site.yml",
    env: dict | None = None,
    timeout: int = 1200,
) -> subprocess.CompletedProcess:
    """Runs ansible-playbook from the checkout, capturing its output (for assertions on it)."""
    full_env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    full_env.update(env or {})
    result = subprocess.run(
        ["ansible-playbook", "-i", str(inventory), playbook, *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert_no_deprecations(result.stdout + result.stderr)
    return result


def assert_no_deprecations(output: str) -> None:
    """Zero deprecation warnings (the platform's rule): every playbook a test runs is held to it too,
    with the deploy's check (tools/no_deprecations.py, its one accepted line included)."""
    found = _no_deprecations.deprecations(output.splitlines())
    assert not found, "deprecation warnings in the run's output:\n" + "\n".join(found)


def _load_no_deprecations():
    import importlib.util

    spec = importlib.util.spec_from_file_location("no_deprecations", ROOT / "tools" / "no_deprecations.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_no_deprecations = _load_no_deprecations()
