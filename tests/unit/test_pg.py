"""module_utils/pg: connection options, clear connection failures and the query log, against the
real cluster of tests/unit/pg_cluster.py (through a module, the way the modules use it)."""

from __future__ import annotations

import json

import pytest
from ansible_collections.giftcrypto.platform.plugins.module_utils import pg
from ansible_collections.giftcrypto.platform.plugins.modules import audit_verify

from tests.unit import moto_modules


@pytest.fixture
def run_verify(capsys):
    return moto_modules.runner(audit_verify, capsys)


def test_connection_kwargs_map_the_options_and_omit_an_empty_password():
    params = {
        "login_host": "db.internal",
        "login_port": 5433,
        "login_user": "migrator",
        "login_password": "",
        "login_db": "giftcrypto",
        "ssl_mode": "verify-full",
        "ca_cert": "/etc/giftcrypto/pki/ca.crt",
        "connect_timeout": 3,
    }
    assert pg.connection_kwargs(params) == {
        "host": "db.internal",
        "port": 5433,
        "user": "migrator",
        "dbname": "giftcrypto",
        "sslmode": "verify-full",
        "sslrootcert": "/etc/giftcrypto/pki/ca.crt",
        "connect_timeout": 3,
        "application_name": "giftcrypto.platform",
    }
    assert (
        pg.connection_kwargs({**params, "login_password": "s3cret", "ca_cert": None})["password"] == "s3cret"
    )


def test_the_argument_spec_is_a_fresh_copy_each_time():
    spec = pg.connection_argument_spec()
    spec["login_port"]["default"] = 1
    assert pg.connection_argument_spec()["login_port"]["default"] == 5432
    assert pg.CONNECTION_ARGUMENT_SPEC["login_password"]["no_log"] is True


def test_tls_required_from_a_server_without_tls_fails_clearly(pg_cluster, migrated_db, run_verify, tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text("not used: the server refuses TLS first\n")
    args = {**pg_cluster.login(migrated_db, user="auditor"), "ssl_mode": "require", "ca_cert": str(ca)}
    result = run_verify(args)
    assert result["rc"] == 1
    assert result["msg"].startswith(
        f"Unable to connect to database {migrated_db} on 127.0.0.1:{pg_cluster.port} as auditor "
        "(ssl_mode=require): "
    )
    assert "server does not support SSL" in result["msg"]
    assert pg_cluster.passwords["auditor"] not in json.dumps(result)


def test_the_query_log_keeps_the_sql_text_never_the_values(pg_cluster, empty_db):
    with pg_cluster.connect(empty_db) as conn:
        log = pg.QueryLog(conn, max_text=40)
        assert log.fetchone("SELECT %s::text", ("secret-value",)) == ("secret-value",)
        assert log.fetchall("SELECT generate_series(1, %s)", (3,)) == [(1,), (2,), (3,)]
        long_sql = "SELECT 1 AS " + "a" * 60
        assert log.execute(long_sql).fetchone() == (1,)
        log.execute("SELECT 2", remember="0002_second.up.sql")
    assert log.queries == [
        "SELECT %s::text",
        "SELECT generate_series(1, %s)",
        long_sql[:40] + f"... ({len(long_sql)} characters)",
        "0002_second.up.sql",
    ]
    assert "secret-value" not in json.dumps(log.queries)


def test_without_psycopg_the_module_names_the_missing_library(
    pg_cluster, migrated_db, run_verify, monkeypatch
):
    # What a controller without psycopg sees (the import failure is only simulated here).
    monkeypatch.setattr(pg, "HAS_PSYCOPG", False)
    monkeypatch.setattr(pg, "PSYCOPG_IMPORT_ERROR", "ModuleNotFoundError: No module named 'psycopg'")
    result = run_verify(pg_cluster.login(migrated_db, user="auditor"))
    assert result["rc"] == 1
    assert "Failed to import the required Python library (psycopg (3))" in result["msg"]
    assert "queries" not in result


def test_the_cluster_fails_rather_than_skips_without_the_postgresql_binaries(monkeypatch, tmp_path):
    from tests.unit import pg_cluster as cluster_module

    monkeypatch.setattr(cluster_module, "PG_BIN", tmp_path / "no-postgresql")
    with (
        pytest.raises(pytest.fail.Exception, match=r"install the Debian package postgresql-15"),
        cluster_module.running_cluster(),
    ):
        pass  # pragma: no cover - never reached
    assert list(tmp_path.iterdir()) == []
