# SQL here is built from this file's constant table names and integers read back from the
# database, never from outside input.
# ruff: noqa: S608
"""Row-level security: a session as user A never reads, changes or deletes user B's rows."""

from __future__ import annotations

import uuid
from decimal import Decimal

import psycopg
import pytest

from tests.integration.fixtures_schema import befriend, ciphertext, deposit, new_user

pytestmark = pytest.mark.integration

USER_TABLES = [
    "users",
    "user_profiles",
    "wallet_accounts",
    "friendships",
    "transactions",
    "ledger_accounts",
    "ledger_entries",
]
# A harmless change of one column per table, for the UPDATE attempts.
UPDATES = {
    "users": "kyc_status = 'verified'",
    "user_profiles": "display_name = 'hijacked'",
    "wallet_accounts": "public_key = public_key",
    "friendships": "status = 'blocked'",
    "transactions": "status = 'failed', confirmed_at = NULL",
    "ledger_accounts": "balance = balance + 1",
    "ledger_entries": "amount = amount",
}


@pytest.fixture(scope="module")
def world(schema_db):
    """A and B with profiles and wallets; B has a friend C, money and a transfer to C."""
    a, b, c = new_user(schema_db), new_user(schema_db), new_user(schema_db)
    friendship = befriend(schema_db, b, c)
    deposit(schema_db, b["wallet"], Decimal("10"))
    with schema_db.as_user(b["id"]) as conn:
        tx = conn.execute(
            "SELECT transfer(%s, %s, 3, %s)", (b["wallet"], c["wallet"], str(uuid.uuid4()))
        ).fetchone()[0]
    rows_of_b = {
        "users": ("id", b["id"]),
        "user_profiles": ("user_id", b["id"]),
        "wallet_accounts": ("id", b["wallet"]),
        "friendships": ("id", friendship),
        "transactions": ("id", tx),
        "ledger_accounts": ("id", b["wallet"]),
        "ledger_entries": ("account_id", b["wallet"]),
    }
    return {"a": a, "b": b, "c": c, "rows_of_b": rows_of_b}


@pytest.mark.parametrize("role", ["app_rw", "app_ro"])
@pytest.mark.parametrize("table", USER_TABLES)
@pytest.mark.soc2("CC6.1")
def test_a_cannot_read_b(schema_db, world, table, role):
    column, value = world["rows_of_b"][table]
    with schema_db.as_user(world["a"]["id"], role=role) as conn:
        assert conn.execute(f"SELECT count(*) FROM {table} WHERE {column} = %s", (value,)).fetchone()[0] == 0
    with schema_db.as_user(world["b"]["id"], role=role) as conn:  # positive control: B sees it
        assert conn.execute(f"SELECT count(*) FROM {table} WHERE {column} = %s", (value,)).fetchone()[0] >= 1


@pytest.mark.parametrize("operation", ["update", "delete"])
@pytest.mark.parametrize("table", USER_TABLES)
@pytest.mark.soc2("CC6.1")
def test_a_cannot_update_or_delete_b(schema_db, world, table, operation):
    column, value = world["rows_of_b"][table]
    sql = (
        f"UPDATE {table} SET {UPDATES[table]} WHERE {column} = %s"
        if operation == "update"
        else f"DELETE FROM {table} WHERE {column} = %s"
    )
    try:
        with schema_db.as_user(world["a"]["id"]) as conn:
            affected = conn.execute(sql, (value,)).rowcount
    except psycopg.errors.InsufficientPrivilege:
        affected = 0  # app_rw has no such privilege on this table at all
    assert affected == 0
    with schema_db.as_user(world["b"]["id"]) as conn:
        assert conn.execute(f"SELECT count(*) FROM {table} WHERE {column} = %s", (value,)).fetchone()[0] >= 1


@pytest.mark.soc2("CC6.1")
def test_a_cannot_insert_rows_for_b(schema_db, world):
    a, b = world["a"], world["b"]
    attempts = {
        "users": (
            "INSERT INTO users (email_ciphertext, email_bidx, password_hash) VALUES (%s, %s, %s)",
            (ciphertext(), uuid.uuid4().bytes * 2, "x" * 40),
        ),
        "user_profiles": (
            "INSERT INTO user_profiles (user_id, first_name_ciphertext, last_name_ciphertext, "
            "date_of_birth_ciphertext, display_name) VALUES (%s, %s, %s, %s, 'x')",
            (b["id"], ciphertext(), ciphertext(), ciphertext()),
        ),
        "wallet_accounts": (
            "INSERT INTO wallet_accounts (user_id, wallet_address, public_key, currency) "
            "VALUES (%s, %s, %s, 'ETH')",
            (b["id"], "0x" + uuid.uuid4().hex + "00000000", "04" + uuid.uuid4().hex),
        ),
        "friendships": (
            "INSERT INTO friendships (requester_id, addressee_id) VALUES (%s, %s)",
            (b["id"], world["c"]["id"]),
        ),
    }
    for sql, params in attempts.values():
        with (
            pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"),
            schema_db.as_user(a["id"]) as conn,
        ):
            conn.execute(sql, params)


@pytest.mark.parametrize("role", ["app_rw", "app_ro"])
@pytest.mark.soc2("CC6.1")
def test_row_security_off_does_not_bypass(schema_db, world, role):
    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"),
        schema_db.as_user(world["a"]["id"], role=role) as conn,
    ):
        conn.execute("SET row_security = off")
        conn.execute("SELECT * FROM users").fetchall()


@pytest.mark.parametrize("role", ["app_rw", "app_ro"])
@pytest.mark.parametrize("table", ["audit_log", "audit_chain_heads"])
@pytest.mark.soc2("CC6.1")
def test_application_cannot_read_the_audit(schema_db, world, role, table):
    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege),
        schema_db.as_user(world["a"]["id"], role=role) as conn,
    ):
        conn.execute(f"SELECT * FROM {table} LIMIT 1").fetchall()


@pytest.mark.parametrize(
    "table", ["users", "user_profiles", "wallet_accounts", "transactions", "encryption_keys"]
)
@pytest.mark.soc2("CC6.1")
def test_auditor_reads_only_the_audit(schema_db, table):
    with schema_db.connect("auditor") as conn:
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] > 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"SELECT * FROM {table} LIMIT 1")


@pytest.mark.soc2("CC6.1")
def test_no_role_can_bypass_rls_and_user_tables_force_it(schema_db):
    with schema_db.connect("admin") as conn:
        bypass = conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s) AND (rolbypassrls OR rolsuper)",
            (["migrator", "app_rw", "app_ro", "auditor"],),
        ).fetchall()
        assert bypass == []
        unforced = conn.execute(
            "SELECT relname FROM pg_class WHERE relname = ANY(%s) AND relnamespace = 'public'::regnamespace "
            "AND NOT (relrowsecurity AND relforcerowsecurity)",
            (USER_TABLES,),
        ).fetchall()
        assert unforced == []


@pytest.mark.soc2("CC6.1")
def test_no_user_id_sees_nothing(schema_db, world):
    with schema_db.connect("app_rw") as conn:
        for table in USER_TABLES:
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0


def test_policy_evaluated_once_per_query(schema_db, world):
    """The user id is an InitPlan (computed once), and the lookup uses the primary key."""
    with schema_db.as_user(world["a"]["id"]) as conn:
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN SELECT * FROM users").fetchall())
    assert "InitPlan" in plan
    assert "Index Scan using users_pkey" in plan


def test_soft_deleted_users_disappear_from_the_views(schema_db):
    user = new_user(schema_db)
    with schema_db.as_user(user["id"]) as conn:
        assert conn.execute("SELECT count(*) FROM active_users").fetchone()[0] == 1
        conn.execute("UPDATE users SET deleted_at = now() WHERE id = %s", (user["id"],))
    with schema_db.as_user(user["id"], role="app_ro") as conn:
        for view in ("active_users", "active_user_profiles", "active_wallet_accounts"):
            assert conn.execute(f"SELECT count(*) FROM {view}").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 1


def test_one_row_per_friendship_pair(schema_db):
    a, b = new_user(schema_db, with_wallet=False), new_user(schema_db, with_wallet=False)
    befriend(schema_db, a, b, accept=False)
    with pytest.raises(psycopg.errors.UniqueViolation, match="friendships_pair_key"):
        befriend(schema_db, b, a, accept=False)
    with pytest.raises(psycopg.errors.CheckViolation, match="friendships_not_self_check"):
        befriend(schema_db, a, a, accept=False)


def test_mutual_friends_and_suggestions(schema_db):
    a, b, c, d = (new_user(schema_db, with_wallet=False) for _ in range(4))
    befriend(schema_db, a, b)
    befriend(schema_db, c, b)  # b is a friend of both a and c
    befriend(schema_db, c, d)
    with schema_db.as_user(a["id"], role="app_ro") as conn:
        mutual = [r[0] for r in conn.execute("SELECT mutual_friends(%s)", (c["id"],)).fetchall()]
        suggestions = conn.execute("SELECT user_id, mutual_friends FROM friend_suggestions()").fetchall()
    assert mutual == [b["id"]]
    assert suggestions == [(c["id"], 1)]
