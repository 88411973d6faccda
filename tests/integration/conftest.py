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
    collections: pathlib.Path | None = None,
) -> subprocess.CompletedProcess:
    """Runs ansible-playbook from the checkout, capturing its output (for assertions on it).

    With `collections` (a collections path holding an installed giftcrypto.platform), it runs as a
    user of the installed collection does instead: from that directory, without the checkout's
    ansible.cfg (collections_path = ./.collections) nor its .collections on PYTHONPATH, with
    ANSIBLE_COLLECTIONS_PATH naming that path alone (the dependencies resolve from the `ansible`
    package's bundle in site-packages); `playbook` is then the FQCN, e.g. giftcrypto.platform.site.
    """
    full_env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    cwd = ROOT
    if collections is not None:
        del full_env["ANSIBLE_CONFIG"]
        checkout = str(ROOT / ".collections")
        pythonpath = [p for p in full_env.get("PYTHONPATH", "").split(os.pathsep) if p and p != checkout]
        full_env["PYTHONPATH"] = os.pathsep.join(pythonpath)
        full_env["ANSIBLE_COLLECTIONS_PATH"] = str(collections)
        cwd = collections
    full_env.update(env or {})
    result = subprocess.run(
        ["ansible-playbook", "-i", str(inventory), playbook, *args],
        cwd=cwd,
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


def load_tool(name: str):
    """tools/<name>.py as a module (tools/ is scripts, not a package), loaded once."""
    import importlib.util
    import sys

    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


_no_deprecations = load_tool("no_deprecations")


# --- Whether the local environment is there: what the lifecycle starts from and the run ends with --

# The roles whose servers listen on this machine in the local environment, and the variables of
# their ports (role defaults, which the local inventory may override).
_LOCAL_SERVER_ROLES = (
    "local_aws_endpoint",
    "local_registry",
    "postgres_server",
    "redis_server",
    "monitoring",
    "app_deploy",
)


def local_ports(local_vars: dict) -> dict[str, int]:
    """variable -> TCP port of every server the local environment runs on this host (the endpoint,
    registry, PostgreSQL, pgBouncer, Redis, Prometheus and the exporters, the API's colours)."""
    found: dict = {}
    for role in _LOCAL_SERVER_ROLES:
        defaults = ROOT / "roles" / role / "defaults"
        for path in sorted([*defaults.glob("main.yml"), *defaults.glob("main/*.yml")]):
            found.update(yaml.safe_load(path.read_text()) or {})
    found.update(local_vars)
    ports: dict[str, int] = {}
    for name, value in found.items():
        if not name.startswith(_LOCAL_SERVER_ROLES) or "_eks_" in name:
            continue
        if name.endswith("_port") and isinstance(value, int):
            ports[name] = value
        elif name.endswith("_ports") and isinstance(value, dict):
            ports.update({f"{name}.{key}": port for key, port in value.items() if isinstance(port, int)})
    return ports


def open_ports(local_vars: dict) -> dict[str, int]:
    """The ports of local_ports() that accept a connection on loopback now."""
    import socket

    answering = {}
    for name, port in local_ports(local_vars).items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(1)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                answering[name] = port
    return answering


# Set by test_zzz_destroy.py once the destroy at the end of the run succeeded: the session fixtures'
# clean-ups that connect to the data servers (fixtures_schema's databases, fixtures_pii's seeded
# users) have nothing left to clean, and their servers are gone.
PLATFORM_STATE = {"destroyed": False}


# --- The platform the tests run against ----------------------------------------------------------
# test_00_lifecycle deploys the platform (the installed collection's cold deploy, then the checkout's
# no-op): when it runs, nothing else deploys first. When the selection leaves its cold deploy out
# (`nox -s integration -- -k preflight`, one test file...), the platform is deployed from this
# checkout before the first test, as `nox -s deploy-local` does: the tests find it deployed either way.
LIFECYCLE_DEPLOY = "tests/integration/test_00_lifecycle.py::test_cold_deploy_of_the_installed_collection"


def pytest_collection_modifyitems(config, items):
    config.stash[_DEPLOYS_ITSELF] = any(item.nodeid == LIFECYCLE_DEPLOY for item in items)


_DEPLOYS_ITSELF = pytest.StashKey[bool]()


@pytest.fixture(scope="session", autouse=True)
def platform_deployed(request):
    """Deploys the local environment from the checkout first, unless the lifecycle's deploy is selected,
    the schema tests run on PostgreSQL 17 (the plugin tests.integration.postgres17 stands in for
    the deployed platform: its own server, endpoint and inventory, `nox -s unit`) or the refusals run
    on an endpoint of their own (tests.integration.private_endpoint, `nox -s preflight`)."""
    if request.config.stash.get(_DEPLOYS_ITSELF, False):
        return
    if any(
        request.config.pluginmanager.has_plugin(plugin)
        for plugin in ("tests.integration.postgres17", "tests.integration.private_endpoint")
    ):
        return
    result = run_playbook(timeout=1800)
    assert result.returncode == 0, (
        "the deploy before the tests failed:\n" + result.stdout[-8000:] + result.stderr[-2000:]
    )
