"""Reads of personal data on the record (issue 23, item 2): pgaudit object audit logging.

The server's pgaudit.role is rds_pgaudit (roles/postgres_server locally; the aws_rds parameter group
on RDS, where it is the only value accepted), a NOLOGIN role the db_schema role creates and its
migration 0010 grants SELECT on the tables holding personal data. A read of one of those tables
leaves an ``AUDIT: OBJECT,...,READ,SELECT,TABLE,public.<table>`` record naming the session's role
in the JSON server log; a read of another table leaves none (session logging stays
``write, ddl, role``).

Everything runs against the deployed platform as the application does: app_ro through pgBouncer,
app.user_id set per transaction; the server log is read where postgres_server writes it
(fixtures_data_servers.pg_server_log), from its size before the reads. Seconds, no deploy of its own.
"""

from __future__ import annotations

import json
import pathlib
import time
import uuid

import psycopg
import pytest
from psycopg import sql

from tests.integration.test_rls import USER_TABLES

pytestmark = pytest.mark.integration

AUDIT_ROLE = "rds_pgaudit"
# The tables holding personal data (migration 0010): those with an app.user_id policy, the tables
# test_rls.py checks row-level security on.
PERSONAL_DATA = set(USER_TABLES)


def audit_records(log: pathlib.Path, offset: int, marker: str, until, timeout: float = 10.0) -> list[dict]:
    """The AUDIT records of the server log after `offset` whose statement carries `marker`, once
    `until(records)` holds or `timeout` seconds have passed (the logging collector writes a little
    after the statement)."""
    deadline = time.monotonic() + timeout
    while True:
        with log.open(errors="replace") as handle:
            handle.seek(offset)
            text = handle.read()
        # JSON lines (jsonlog): every complete line is one object.
        records = [json.loads(line) for line in text.splitlines() if line.endswith("}")]
        found = [r for r in records if r.get("message", "").startswith("AUDIT:") and marker in r["message"]]
        if until(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@pytest.fixture(scope="module")
def app_ro_via_pgbouncer(pg_secrets, local_vars) -> dict:
    """psycopg.connect() arguments of app_ro through pgBouncer (TLS verify-full), the deployed database."""
    facts = pg_secrets["app_ro"]
    return {
        "host": local_vars.get("postgres_server_pgbouncer_listen_address", "127.0.0.1"),
        "port": int(local_vars.get("postgres_server_pgbouncer_port", 6432)),
        "user": facts["username"],
        "password": facts["password"],
        "dbname": local_vars.get("db_schema_database") or pg_secrets["master"]["dbname"],
        "sslmode": facts["sslmode"],
        "sslrootcert": facts["sslrootcert"],
        "connect_timeout": 10,
    }


def _read_as_app_ro(conninfo: dict, statements: list[str], marker: str) -> None:
    """One transaction of app_ro through pgBouncer with app.user_id set, as the application reads;
    `{marker}` in a statement (inside a comment) becomes the marker, found again in the log."""
    with psycopg.connect(**conninfo) as conn:
        conn.execute("SELECT set_config('app.user_id', %s, true)", (str(uuid.uuid4()),))
        for statement in statements:
            conn.execute(sql.SQL(statement).format(marker=sql.SQL(marker))).fetchall()


@pytest.mark.soc2("CC7.2")
def test_a_read_of_personal_data_is_audited_with_role_and_table(app_ro_via_pgbouncer, pg_server_log):
    marker = f"probe_{uuid.uuid4().hex}"
    reads = {
        # a table, a security_invoker view over users, and the partitioned transactions: its monthly
        # partitions are created later, without grants, and are covered through the parent
        "user_profiles": "SELECT display_name, first_name_ciphertext FROM user_profiles /* {marker} table */",
        "users": "SELECT id, email_ciphertext FROM active_users /* {marker} view */",
        "transactions": "SELECT count(*) FROM transactions /* {marker} partitioned */",
    }
    offset = pg_server_log.stat().st_size
    _read_as_app_ro(app_ro_via_pgbouncer, list(reads.values()), marker)

    def complete(found):
        return all(any(f"public.{table}," in r["message"] for r in found) for table in reads)

    found = audit_records(pg_server_log, offset, marker, complete)
    for table in reads:
        lines = [r for r in found if f",TABLE,public.{table}," in r["message"]]
        assert lines, f"no AUDIT line for a read of {table}: {[r['message'][:160] for r in found]}"
        for record in lines:
            assert record["message"].startswith("AUDIT: OBJECT,"), record["message"][:160]
            assert ",READ,SELECT,TABLE," in record["message"]
            assert record["user"] == app_ro_via_pgbouncer["user"], "the record names the session's role"
            assert record["dbname"] == app_ro_via_pgbouncer["dbname"]
    # Only what was read: app.user_id's value is a bind parameter and never reaches the log.
    assert {m.split(",TABLE,")[1].split(",")[0] for m in (r["message"] for r in found)} <= {
        f"public.{t}" for t in PERSONAL_DATA
    }
    assert all(r["message"].endswith(",<not logged>") for r in found), "parameters are not logged"


@pytest.mark.soc2("CC7.2")
def test_a_read_of_a_table_without_personal_data_leaves_no_audit_line(app_ro_via_pgbouncer, pg_server_log):
    marker = f"probe_{uuid.uuid4().hex}"
    # encryption_keys: wrapped data keys, readable by app_ro, no personal data. A read of
    # user_profiles after it shows the log was written past the first read before the check.
    offset = pg_server_log.stat().st_size
    _read_as_app_ro(
        app_ro_via_pgbouncer,
        [
            "SELECT purpose, version FROM encryption_keys /* {marker} keys */",
            "SELECT count(*) FROM user_profiles /* {marker} fence */",
        ],
        marker,
    )
    found = audit_records(pg_server_log, offset, marker, lambda f: any("fence" in r["message"] for r in f))
    assert any("fence" in r["message"] for r in found), "the personal-data read after it was not logged"
    assert [r["message"][:200] for r in found if "encryption_keys" in r["message"]] == []


@pytest.mark.soc2("CC7.2")
def test_exactly_the_personal_data_tables_are_audited(deployed_admin_conn):
    """The server's pgaudit.role is rds_pgaudit, which cannot log in and has no members, and is
    granted SELECT (itself: pgaudit reads the role's own ACL items, never PUBLIC's) on exactly the
    tables with a row-level policy on app.user_id: a new table of personal data fails here until
    its migration grants it."""
    conn = deployed_admin_conn
    assert conn.execute("SHOW pgaudit.role").fetchone()[0] == AUDIT_ROLE
    assert conn.execute("SHOW pgaudit.log").fetchone()[0] == "write, ddl, role"
    login, members = conn.execute(
        "SELECT r.rolcanlogin, (SELECT count(*) FROM pg_auth_members AS m WHERE m.roleid = r.oid) "
        "FROM pg_roles AS r WHERE r.rolname = %s",
        (AUDIT_ROLE,),
    ).fetchone()
    assert (login, members) == (False, 0)
    # pgaudit matches the ACL items granted to the audit role itself (not PUBLIC's, not inherited):
    # read them as pgaudit does, tables and columns.
    grants = conn.execute(
        "SELECT c.relname, c.relispartition, x.privilege_type FROM pg_class AS c "
        "JOIN pg_namespace AS n ON n.oid = c.relnamespace CROSS JOIN LATERAL aclexplode(c.relacl) AS x "
        "WHERE n.nspname = 'public' AND x.grantee = %s::regrole "
        "UNION ALL SELECT c.relname || '.' || a.attname, c.relispartition, x.privilege_type "
        "FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid "
        "JOIN pg_namespace AS n ON n.oid = c.relnamespace CROSS JOIN LATERAL aclexplode(a.attacl) AS x "
        "WHERE n.nspname = 'public' AND x.grantee = %s::regrole",
        (AUDIT_ROLE, AUDIT_ROLE),
    ).fetchall()
    per_person = {
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT tablename FROM pg_policies WHERE schemaname = 'public' "
            "AND coalesce(qual, '') || coalesce(with_check, '') LIKE '%app.user_id%'"
        )
    }
    assert per_person >= PERSONAL_DATA
    # SELECT on the parents only (partitions are checked through them), nothing else: writes are
    # session-logged (write class), and an UPDATE grant would log writes without a read.
    assert sorted(grants) == sorted((table, False, "SELECT") for table in per_person)


@pytest.mark.soc2("CC7.2")
def test_the_rds_parameter_group_audits_personal_data_reads(aws, local_vars):
    """The deployed (local endpoint) RDS parameter group: pgaudit loaded, object audit on rds_pgaudit,
    session logging ddl,role, parameters never logged."""
    name = f"{local_vars['platform_name']}-{local_vars['platform_environment']}-postgres17"
    paginator = aws("rds").get_paginator("describe_db_parameters")
    pages = paginator.paginate(DBParameterGroupName=name, Source="user")
    values = {p["ParameterName"]: p.get("ParameterValue") for page in pages for p in page["Parameters"]}
    assert values["pgaudit.role"] == AUDIT_ROLE
    assert "pgaudit" in values["shared_preload_libraries"].split(",")
    assert values["pgaudit.log"] == "ddl,role"
    assert values["pgaudit.log_parameter"] == "0"


@pytest.fixture
def deployed_admin_conn(pg_secrets, local_vars):
    """An autocommit admin connection to the deployed database, straight to PostgreSQL."""
    master = pg_secrets["master"]
    with psycopg.connect(
        host=master["host"],
        port=int(master["port"]),
        user=master["username"],
        password=master["password"],
        dbname=local_vars.get("db_schema_database") or master["dbname"],
        sslmode=master["sslmode"],
        sslrootcert=master["sslrootcert"],
        connect_timeout=10,
        autocommit=True,
    ) as conn:
        yield conn
