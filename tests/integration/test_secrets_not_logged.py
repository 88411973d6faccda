"""No generated secret ever reaches the output, even at -vvv: every secret value the platform
stored in Secrets Manager is read back and searched for in the whole output of a deploy."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import run_playbook

pytestmark = pytest.mark.integration


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


@pytest.mark.soc2("CC6.1")
def test_deploy_at_vvv_prints_no_secret(aws):
    result = run_playbook("-vvv", timeout=1800)
    assert result.returncode == 0, result.stdout[-5000:]
    secrets = _secret_values(aws)
    assert len(secrets) >= 6, sorted(secrets)  # postgres master + 4 login roles + redis app/admin
    output = result.stdout + result.stderr
    leaked = sorted(name for name, value in secrets.items() if len(value) >= 8 and value in output)
    assert leaked == [], f"secrets printed in the -vvv output: {leaked}"
