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
