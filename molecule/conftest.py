"""What the Molecule verify files share (pytest loads this conftest for every scenario's tests/).

Molecule's testinfra verifier runs pytest on ``molecule/<scenario>/tests`` with the repository's
pyproject.toml as rootdir, so this file, between the two, is loaded for every scenario. Everything
here is a fixture (a conftest is not a module to import from); the helpers are fixtures that return
a function.

The scenario and its AWS endpoint:

- ``scenario_vars``: the variables the scenario gives its inventory (molecule.yml).
- ``aws_endpoint``: the URL of the scenario's AWS endpoint, from those variables.
- ``aws``: ``aws("ec2")`` or ``aws("kms", "us-west-2")``, a boto3 client of that endpoint.
- ``account_id``: the account the endpoint answers for.
- ``kms_key``: ``kms_key("alias/x")``, the metadata of the key an alias names.
- ``secret_json``: ``secret_json("a/b")``, a Secrets Manager secret's JSON value.
- ``tags``: ``tags(resource["Tags"])``, an AWS tag list as a dict.
- ``policy``: ``policy(document)``, an IAM or resource policy document as a dict.
- ``ansible_log``: ``ansible_log()``, the text of the scenario's ansible.log.

Runs of a playbook:

- ``playbook``: ``playbook(path, "-e", "x=1")``, ansible-playbook on the scenario's inventory.
- ``converge``: ``converge("--check", extra_vars={...})``, the scenario's converge playbook again.
- ``recap``: ``recap(output)``, the (changed, failed) counts of the run's play recap.
- ``refused``: ``refused(result, message, not_reached=task)``, asserts a run failed with that message
  on its first failing task, before the named task.
- ``planned``: ``planned(result, changed)``, asserts a run succeeded with that many changed tasks.
- ``unchanged``: ``with unchanged(snapshot):``, asserts what snapshot() returns is the same after
  the block as before it.
- ``opened_to_the_world``: ``with opened_to_the_world(group_name, port) as group:``, an ingress
  rule from 0.0.0.0/0 added to a security group for the block, removed after it.
- ``deprecations``: ``deprecations(output)``, its deprecation lines (tools/no_deprecations.py's rule).
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import re
import subprocess
import sys
import urllib.parse

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


def _module_defaults(scenario_vars: dict) -> dict:
    return scenario_vars.get("platform_aws_module_defaults") or {}


@pytest.fixture(scope="session")
def aws_endpoint(scenario_vars) -> str:
    """aws_endpoint_url, else the endpoint_url of platform_aws_module_defaults, else the port of the
    endpoint the scenario starts (local_aws_endpoint_port) on loopback."""
    url = scenario_vars.get("aws_endpoint_url") or _module_defaults(scenario_vars).get("endpoint_url")
    if not url and "local_aws_endpoint_port" in scenario_vars:
        url = f"http://127.0.0.1:{scenario_vars['local_aws_endpoint_port']}"
    assert url, "molecule.yml names no AWS endpoint (aws_endpoint_url, platform_aws_module_defaults)"
    return url


@pytest.fixture(scope="session")
def aws(scenario_vars, aws_endpoint):
    """boto3 clients of the scenario's endpoint, with its dummy credentials."""
    defaults = _module_defaults(scenario_vars)
    clients: dict = {}

    def client(service: str, region: str | None = None):
        region = region or scenario_vars.get("aws_region") or defaults.get("region", "us-east-1")
        if (service, region) not in clients:
            clients[service, region] = boto3.client(
                service,
                endpoint_url=aws_endpoint,
                region_name=region,
                aws_access_key_id=scenario_vars.get("aws_access_key_id")
                or defaults.get("access_key", "molecule"),
                aws_secret_access_key=scenario_vars.get("aws_secret_access_key")
                or defaults.get("secret_key", "molecule"),
            )
        return clients[service, region]

    return client


@pytest.fixture(scope="session")
def account_id(aws) -> str:
    return aws("sts").get_caller_identity()["Account"]


@pytest.fixture(scope="session")
def kms_key(aws):
    """The metadata of the KMS key an alias names (the alias must exist)."""

    def key(alias: str, region: str | None = None) -> dict:
        kms = aws("kms", region)
        aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
        return kms.describe_key(KeyId=aliases[alias])["KeyMetadata"]

    return key


@pytest.fixture(scope="session")
def secret_json(aws):
    """The JSON value of a Secrets Manager secret."""
    return lambda name: json.loads(aws("secretsmanager").get_secret_value(SecretId=name)["SecretString"])


@pytest.fixture(scope="session")
def tags():
    """An AWS tag list ([{"Key": k, "Value": v}], or a resource that carries one as "Tags") as a dict."""

    def as_dict(found, key: str = "Key", value: str = "Value") -> dict:
        if isinstance(found, dict):
            found = found.get("Tags", [])
        return {t[key]: t[value] for t in found}

    return as_dict


@pytest.fixture(scope="session")
def policy():
    """A policy document as a dict: boto3 decodes IAM's, other services return JSON text (which
    IAM's API also URL-encodes)."""

    def document(found) -> dict:
        if isinstance(found, str):
            try:
                return json.loads(found)
            except json.JSONDecodeError:
                return json.loads(urllib.parse.unquote(found))
        return found

    return document


@pytest.fixture(scope="session")
def ansible_log():
    """The text of the ansible.log of the scenario's runs (converge and idempotence)."""
    return lambda: (pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "ansible.log").read_text()


@pytest.fixture(scope="session")
def playbook():
    """ansible-playbook on the scenario's own inventory (never the local deployment's)."""

    def run(
        path: pathlib.Path, *extra: str, limit: str | None = None, timeout: int = 900
    ) -> subprocess.CompletedProcess:
        inventory = pathlib.Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
        assert (inventory / "ansible_inventory.yml").exists()
        ansible_playbook = pathlib.Path(sys.executable).parent / "ansible-playbook"
        env = {k: v for k, v in os.environ.items() if k != "ANSIBLE_INVENTORY"}
        return subprocess.run(  # noqa: S603 - a fixed argv: our playbook and the scenario's inventory
            [
                str(ansible_playbook),
                "-i",
                str(inventory),
                *(["--limit", limit] if limit else []),
                str(path),
                *extra,
            ],
            cwd=pathlib.Path(path).parent,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            env={**env, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"},
        )

    return run


@pytest.fixture(scope="session")
def converge(playbook):
    """The scenario's converge playbook on its inventory, with extra ansible-playbook arguments and
    extra variables (extra_vars, passed as one JSON -e)."""

    def run(*extra: str, extra_vars: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
        scenario = pathlib.Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
        more = ("-e", json.dumps(extra_vars)) if extra_vars is not None else ()
        return playbook(scenario / "converge.yml", *extra, *more, timeout=timeout)

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
def refused(recap):
    """Asserts a run failed on its first failing task with the message (white space folded), and
    never started the task not_reached; returns its output (stdout and stderr, white space folded)."""

    def check(result: subprocess.CompletedProcess, message: str, not_reached: str | None = None) -> str:
        output = " ".join((result.stdout + result.stderr).split())
        assert result.returncode != 0
        assert message in output, output[-3000:]
        assert recap(result.stdout) == (0, 1)
        if not_reached is not None:
            assert not_reached not in result.stdout
        return output

    return check


@pytest.fixture(scope="session")
def planned(recap):
    """Asserts a run succeeded with `changed` changed tasks and none failed."""

    def check(result: subprocess.CompletedProcess, changed: int) -> None:
        assert result.returncode == 0, result.stdout[-3000:]
        assert recap(result.stdout) == (changed, 0)

    return check


@pytest.fixture(scope="session")
def unchanged():
    """A context: what snapshot() returns after the block is what it returned before it."""

    @contextlib.contextmanager
    def same(snapshot):
        before = snapshot()
        yield before
        assert snapshot() == before

    return same


@pytest.fixture(scope="session")
def opened_to_the_world(aws):
    """A context: the security group of that name admits 0.0.0.0/0 on the port inside the block."""

    @contextlib.contextmanager
    def opened(group_name: str, port: int):
        ec2 = aws("ec2")
        (group,) = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [group_name]}])[
            "SecurityGroups"
        ]
        permission = {
            "IpProtocol": "tcp",
            "FromPort": port,
            "ToPort": port,
            "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
        }
        ec2.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[permission])
        try:
            yield group
        finally:
            ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[permission])

    return opened


@pytest.fixture(scope="session")
def deprecations():
    """The deprecation lines of an output, judged as the integration deploy judges them."""
    import importlib.util

    path = pathlib.Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / "tools" / "no_deprecations.py"
    spec = importlib.util.spec_from_file_location("giftcrypto_no_deprecations", path)
    rule = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rule)
    return lambda output: rule.deprecations(output.splitlines())
