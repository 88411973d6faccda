"""Production changes need an explicit approval, whichever playbook applies them.

site.yml checks the approval in its preflight play; every layer's playbook checks it again in its
pre_tasks, so that applying one layer on its own (`ansible-playbook -i inventories/production
playbooks/network.yml`) is refused as well, before any task of the layer runs. A plan (check mode)
needs no approval. The production inventory points at real AWS: the runs below get credentials
that cannot work and no network, so a layer that started would fail on its first AWS call with a
different message.
"""

from __future__ import annotations

import concurrent.futures
import re

import pytest
import yaml

from tests.integration.conftest import ROOT, run_playbook

pytestmark = pytest.mark.integration

PRODUCTION = ROOT / "inventories" / "production"
MESSAGE = "platform_production_approved is not true: production changes need an explicit approval"


def _layer_playbooks() -> list[str]:
    site = yaml.safe_load((ROOT / "playbooks" / "site.yml").read_text())
    return [
        play["ansible.builtin.import_playbook"] for play in site if "ansible.builtin.import_playbook" in play
    ]


def _unusable_aws() -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "not-a-key",
        "AWS_SECRET_ACCESS_KEY": "not-a-secret",  # pragma: allowlist secret
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def test_site_yml_imports_layers():
    assert len(_layer_playbooks()) >= 8


def _refused(playbook: str):
    try:
        return run_playbook(
            inventory=PRODUCTION, playbook=f"playbooks/{playbook}", env=_unusable_aws(), timeout=300
        )
    except AssertionError as error:  # a deprecation warning: re-raised by that playbook's test
        return error


@pytest.fixture(scope="module")
def refusals() -> dict:
    """Every layer's playbook applied alone to production, two at a time (each is refused before
    its first task: they share nothing)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {playbook: pool.submit(_refused, playbook) for playbook in _layer_playbooks()}
        return {playbook: future.result() for playbook, future in futures.items()}


@pytest.mark.soc2("CC8.1")
@pytest.mark.parametrize("playbook", _layer_playbooks())
def test_a_layer_applied_alone_to_production_is_refused_without_approval(playbook, refusals):
    result = refusals[playbook]
    if isinstance(result, AssertionError):
        raise result
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output[-2000:]
    assert MESSAGE in output, output[-2000:]
    assert not re.search(r"changed=[1-9]", result.stdout), result.stdout[-2000:]
