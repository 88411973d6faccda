"""A layer playbook run on its own keeps the resource policies of the secrets it stores (issue 23).

The roles that store generated secrets hand community.aws.secretsmanager_secret the policy made
from aws_security_baseline's readers, which only the platform's playbook computes. Run alone (for
example `ansible-playbook playbooks/data_servers.yml` after a change of that layer), a role knows no
readers, and the stock module, given no policy, deletes the secret's: every principal of the account
allowed by IAM could then read the value. The roles hand it back the policy in place instead
(giftcrypto.platform.secretsmanager_rotation_schedule_info answers it), so the run changes nothing.
"""

from __future__ import annotations

import re

import pytest

from tests.integration.conftest import run_playbook

# The layers and the secrets they store (postgres_server, redis_server, db_schema).
LAYERS = {
    "playbooks/data_servers.yml": (
        "postgres/master",
        "postgres/monitor",
        "postgres/backup",
        "redis/app",
        "redis/admin",
        "redis/monitor",
    ),
    "playbooks/schema.yml": ("postgres/app_rw", "postgres/app_ro", "postgres/migrator", "postgres/auditor"),
}


def _policies(aws, base: str, secrets: tuple[str, ...]) -> dict:
    client = aws("secretsmanager")
    return {
        name: client.get_resource_policy(SecretId=f"{base}/{name}").get("ResourcePolicy") for name in secrets
    }


@pytest.mark.soc2("CC6.1")
@pytest.mark.parametrize("playbook", sorted(LAYERS))
def test_a_layer_run_alone_keeps_its_secrets_resource_policies(aws, local_vars, playbook):
    base = f"{local_vars['platform_name']}/{local_vars['platform_environment']}"
    before = _policies(aws, base, LAYERS[playbook])
    assert all(before.values()), f"the deploy left a secret without a policy: {before}"
    result = run_playbook(playbook=playbook)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert _policies(aws, base, LAYERS[playbook]) == before
    stores = [block for block in result.stdout.split("TASK [")[1:] if re.match(r"[^\]]*: Store ", block)]
    assert stores, "no store ran"
    changed = [block.split("]", 1)[0] for block in stores if re.search(r"^changed:", block, re.MULTILINE)]
    assert not changed, f"stores changed a secret: {changed}"
