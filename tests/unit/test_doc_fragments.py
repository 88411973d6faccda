"""The database modules document their connection options through one fragment, and that fragment
matches the argument spec the modules really take (plugins/module_utils/pg.py)."""

import importlib

import pytest
import yaml
from ansible_collections.giftcrypto.platform.plugins.doc_fragments.postgres import ModuleDocFragment
from ansible_collections.giftcrypto.platform.plugins.module_utils.pg import CONNECTION_ARGUMENT_SPEC

FRAGMENT = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]


def test_fragment_documents_exactly_the_connection_spec():
    assert set(FRAGMENT) == set(CONNECTION_ARGUMENT_SPEC)
    for name, spec in CONNECTION_ARGUMENT_SPEC.items():
        for key in ("type", "default", "choices", "aliases"):
            assert FRAGMENT[name].get(key) == spec.get(key), f"{name}.{key}"
    assert CONNECTION_ARGUMENT_SPEC["login_password"]["no_log"] is True


@pytest.mark.parametrize("module", ["pg_migrate", "audit_verify", "pii_keyring"])
def test_database_modules_use_the_fragment(module):
    mod = importlib.import_module(f"ansible_collections.giftcrypto.platform.plugins.modules.{module}")
    doc = yaml.safe_load(mod.DOCUMENTATION)
    assert "giftcrypto.platform.postgres" in doc["extends_documentation_fragment"]
    assert not set(doc["options"]) & set(CONNECTION_ARGUMENT_SPEC), "documented twice"


def test_aws_fragments_end_with_the_same_notes_and_are_literals():
    """Both AWS fragments end with the notes on retries and the action group, and each is a single
    string literal (ansible-test's sanity tests parse the fragments without running them)."""
    import ast
    import pathlib

    from ansible_collections.giftcrypto.platform.plugins.doc_fragments.aws_resource import (
        ModuleDocFragment as AWSFragment,
    )

    every, info = (
        yaml.safe_load(AWSFragment.DOCUMENTATION)["notes"],
        yaml.safe_load(AWSFragment.INFO)["notes"],
    )
    assert every[-2:] == info[-2:]
    assert "retried with jittered exponential backoff" in every[-2]
    source = pathlib.Path(__file__).resolve().parents[2] / "plugins" / "doc_fragments" / "aws_resource.py"
    (fragment,) = [n for n in ast.parse(source.read_text()).body if isinstance(n, ast.ClassDef)]
    for statement in fragment.body:
        if isinstance(statement, ast.Assign):
            assert isinstance(statement.value, ast.Constant), statement.targets[0].id
