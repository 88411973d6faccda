"""giftcrypto.platform.pii_keyring: argument handling, refused before any connection or KMS call."""

from __future__ import annotations

import json

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args
from ansible_collections.giftcrypto.platform.plugins.module_utils import envelope
from ansible_collections.giftcrypto.platform.plugins.modules import pii_keyring

PASSWORD = "unit-test-password-never-shown"
BASE = {
    "login_host": "127.0.0.1",
    "login_port": 1,  # nothing listens there: a run that gets past validation fails to connect
    "login_user": "migrator",
    "login_password": PASSWORD,
    "login_db": "giftcrypto",
    "connect_timeout": 1,
    "purpose": "pii",
    "kms_key_id": "alias/giftcrypto-unit-pii",
    "region": "us-east-1",
}


def run_module(capsys, **overrides) -> dict:
    args = {**BASE, **overrides}
    # The invocation (with the password masked) is returned when the controller asks for it
    # (INJECT_INVOCATION, ansible-core 2.21).
    args = {k: v for k, v in args.items() if v is not None} | {"_ansible_inject_invocation": True}
    with patch_module_args(args), pytest.raises(SystemExit):
        pii_keyring.main()
    out = capsys.readouterr().out
    assert PASSWORD not in out
    return json.loads(out)


def params(**overrides) -> dict:
    defaults = {
        "purpose": "pii",
        "columns": None,
        "batch_size": 500,
        "connect_timeout": 10,
        "kms_key_id": None,
    }
    return {**defaults, **overrides}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"purpose": None}, "missing required arguments: purpose"),
        ({"purpose": "passwords"}, "purpose must be one of"),
        ({"state": "absent"}, "state must be one of"),
        ({"state": "rotated", "kms_key_id": None}, "state is rotated but all of the following are missing"),
        ({"batch_size": 0}, "batch_size must be between 1 and 100000"),
        ({"batch_size": 1_000_000}, "batch_size must be between 1 and 100000"),
        ({"connect_timeout": 0}, "connect_timeout must be at least 1 second"),
        ({"kms_key_id": "  "}, "kms_key_id must not be empty"),
        ({"ssl_mode": "sometimes"}, "ssl_mode must be one of"),
        ({"columns": [{"table": "users"}]}, "missing required arguments: column"),
        ({"columns": [{"table": "users; drop table users", "column": "x"}]}, "columns[0]: table"),
        ({"columns": [{"table": "users", "column": "Email"}]}, "columns[0]: column"),
        (
            {"columns": [{"table": "users", "column": "email_ciphertext", "source_column": "email"}]},
            "columns[0].source_column is only valid when purpose=blind_index",
        ),
        (
            {"purpose": "blind_index", "columns": [{"table": "users", "column": "email_bidx"}]},
            "columns[0].source_column is required when purpose=blind_index",
        ),
        (
            {"columns": [{"table": "users", "column": "email_ciphertext"}] * 2},
            "appears more than once",
        ),
    ],
)
def test_bad_arguments_are_refused(capsys, overrides, message):
    result = run_module(capsys, **overrides)
    assert result["failed"] is True
    assert message in result["msg"]
    assert "queries" not in result  # refused before any SQL


def test_valid_arguments_reach_the_connection_and_hide_the_password(capsys):
    result = run_module(capsys, state="rotated", reencrypt=True, batch_size=1000)
    assert result["failed"] is True
    assert "Unable to connect to database giftcrypto on 127.0.0.1:1 as migrator" in result["msg"]
    assert result["invocation"]["module_args"]["login_password"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def test_default_columns_are_every_pii_column():
    specs, complete = pii_keyring.field_specs(params())
    assert specs == envelope.PII_FIELDS and complete
    specs, complete = pii_keyring.field_specs(params(purpose="blind_index"))
    assert specs == envelope.BLIND_INDEX_FIELDS and complete
    assert [(s.column, s.source_column) for s in specs] == [
        ("email_bidx", "email_ciphertext"),
        ("phone_bidx", "phone_ciphertext"),
    ]


def test_explicit_columns_and_completeness():
    one = [{"table": "users", "column": "email_ciphertext", "id_column": "id", "source_column": None}]
    specs, complete = pii_keyring.check_params(params(columns=one))
    assert specs == (envelope.FieldSpec("users", "email_ciphertext"),) and not complete
    every = [
        {"table": s.table, "column": s.column, "id_column": s.id_column, "source_column": s.source_column}
        for s in envelope.PII_FIELDS
    ]
    extra = [{"table": "kyc_documents", "column": "number_ciphertext", "id_column": "document_id"}]
    specs, complete = pii_keyring.check_params(params(columns=every + extra))
    assert complete and specs[-1].id_column == "document_id"


def test_documentation_matches_the_argument_spec():
    from ansible_collections.giftcrypto.platform.plugins.doc_fragments.postgres import ModuleDocFragment

    doc = yaml.safe_load(pii_keyring.DOCUMENTATION)
    assert "giftcrypto.platform.postgres" in doc["extends_documentation_fragment"]
    documented = {**yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"], **doc["options"]}
    for name, spec in pii_keyring.ARGUMENT_SPEC.items():
        assert name in documented, f"{name} is not documented"
        for key in ("type", "default", "choices", "aliases", "required"):
            if key in spec or key in documented[name]:
                assert documented[name].get(key) == spec.get(key), f"{name}.{key}"
    assert set(documented) == set(pii_keyring.ARGUMENT_SPEC)
    assert pii_keyring.ARGUMENT_SPEC["login_password"]["no_log"] is True
    for name in ("purpose", "version", "rows_reencrypted", "queries", "active"):
        assert name in yaml.safe_load(pii_keyring.RETURN)
