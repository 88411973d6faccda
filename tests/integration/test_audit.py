# SQL here is built from this file's constant table names and integers read back from the
# database, never from outside input.
# ruff: noqa: S608
"""The audit trail: every change is chained, tampering is detected or refused.

Tampering needs a superuser session that switches the guard triggers off
(session_replication_role = replica): the postgres OS user over the unix socket. Each tampering
test gets a fresh database so the deployed trail is never touched.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import psycopg
import pytest

from tests.integration.fixtures_schema import audit_verify, befriend, deposit, migrate, new_user

pytestmark = pytest.mark.integration

TAMPER = "SET session_replication_role = replica; "


def _audited_database(new_database):
    """A fresh migrated database with some activity on every core table."""
    db = new_database("audit_test")
    assert not migrate(db).get("failed")
    users = [new_user(db) for _ in range(4)]
    befriend(db, users[0], users[1])
    deposit(db, users[0]["wallet"], Decimal("100"))
    for i in range(6):
        with db.as_user(users[0]["id"]) as conn:
            conn.execute(
                "SELECT transfer(%s, %s, %s, %s)",
                (users[0]["wallet"], users[1 + i % 3]["wallet"], 1, str(uuid.uuid4())),
            )
    with db.as_user(users[2]["id"]) as conn:
        conn.execute("UPDATE users SET kyc_status = 'in_review' WHERE id = %s", (users[2]["id"],))
    return db


@pytest.fixture
def audited(new_database):
    """A database of its own, for a test that tampers with it."""
    return _audited_database(new_database)


@pytest.fixture(scope="module")
def audited_shared(new_database):
    """One database for the tests that only read or whose changes are all refused."""
    return _audited_database(new_database)


def busiest_shard(db) -> tuple[int, int]:
    rows = db.superuser(
        "SELECT shard, max(seq) FROM audit_log GROUP BY shard ORDER BY 2 DESC, 1 LIMIT 1"
    ).stdout
    shard, top = rows.strip().split("|")
    return int(shard), int(top)


@pytest.mark.soc2("CC7.2")
def test_every_change_is_audited_with_actor_and_no_plaintext(audited_shared):
    with audited_shared.connect("auditor") as conn:
        rows = conn.execute(
            "SELECT table_name, operation, actor_user_id, actor_role, changed_columns, row_data "
            "FROM audit_log ORDER BY occurred_at"
        ).fetchall()
    tables = {(r[0], r[1]) for r in rows}
    assert {
        ("users", "INSERT"),
        ("user_profiles", "INSERT"),
        ("wallet_accounts", "INSERT"),
        ("friendships", "INSERT"),
        ("friendships", "UPDATE"),
        ("transactions", "INSERT"),
        ("users", "UPDATE"),
    } <= tables
    kyc = next(r for r in rows if r[0] == "users" and r[1] == "UPDATE")
    assert kyc[2] is not None and kyc[3] == "app_rw"
    assert kyc[4] == ["kyc_status", "updated_at"]
    for row in rows:
        assert "password_hash" not in row[5] and "private_key_ciphertext" not in row[5]
        for key, value in row[5].items():
            if key.endswith("_ciphertext") and value is not None:
                assert value.startswith("\\x01"), (key, value)


@pytest.mark.soc2("CC7.2")
def test_untouched_chain_verifies(audited_shared):
    result = audit_verify(audited_shared)
    assert not result.get("failed"), result.get("msg")
    assert result["ok"] is True and result["changed"] is False
    assert result["rows_checked"] > 20
    assert result["first_break"] is None


@pytest.mark.soc2("CC7.2")
def test_modified_row_is_detected(audited):
    shard, top = busiest_shard(audited)
    audited.superuser(
        TAMPER + f'UPDATE audit_log SET row_data = row_data || \'{{"kyc_status": "verified"}}\' '
        f"WHERE shard = {shard} AND seq = {top - 1}"
    )
    result = audit_verify(audited)
    assert result["failed"] and result["ok"] is False
    assert result["first_break"]["shard"] == shard and result["first_break"]["seq"] == top - 1
    assert "row modified" in result["first_break"]["reason"]


@pytest.mark.soc2("CC7.2")
def test_deleted_row_is_detected(audited):
    shard, top = busiest_shard(audited)
    audited.superuser(TAMPER + f"DELETE FROM audit_log WHERE shard = {shard} AND seq = {top - 1}")
    first = audit_verify(audited)["first_break"]
    assert first["shard"] == shard and first["seq"] == top and "removed" in first["reason"]


@pytest.mark.soc2("CC7.2")
def test_deleted_last_row_is_detected(audited):
    shard, top = busiest_shard(audited)
    audited.superuser(TAMPER + f"DELETE FROM audit_log WHERE shard = {shard} AND seq = {top}")
    first = audit_verify(audited)["first_break"]
    assert first["shard"] == shard and "head" in first["reason"]


@pytest.mark.soc2("CC7.2")
def test_row_inserted_in_the_middle_is_detected(audited):
    shard, top = busiest_shard(audited)
    # A forged copy of a row, well chained to its predecessor, placed at the same seq.
    audited.superuser(
        TAMPER + "INSERT INTO audit_log SELECT shard, seq, occurred_at + interval '1 microsecond', txid, "
        "actor_user_id, actor_role, table_name, operation, row_id, changed_columns, "
        'row_data || \'{"status": "forged"}\', prev_hash, hash FROM audit_log '
        f"WHERE shard = {shard} AND seq = {top - 1}"
    )
    result = audit_verify(audited)
    assert result["ok"] is False
    assert result["first_break"]["shard"] == shard and result["first_break"]["seq"] in (top - 1, top)


@pytest.mark.soc2("CC7.2")
def test_reordered_rows_are_detected(audited):
    shard, top = busiest_shard(audited)
    audited.superuser(
        TAMPER + f"UPDATE audit_log SET seq = 1000000 WHERE shard = {shard} AND seq = {top - 2}; "
        f"UPDATE audit_log SET seq = {top - 2} WHERE shard = {shard} AND seq = {top - 1}; "
        f"UPDATE audit_log SET seq = {top - 1} WHERE shard = {shard} AND seq = 1000000"
    )
    first = audit_verify(audited)["first_break"]
    assert first["shard"] == shard and first["seq"] == top - 2


@pytest.mark.soc2("CC7.2")
def test_rewritten_heads_are_detected_by_anchors(audited):
    anchors = audit_verify(audited)["heads"]
    shard, top = busiest_shard(audited)
    # Remove the tail and move the head back consistently: only the anchor can tell.
    previous = audited.superuser(
        f"SELECT encode(hash, 'hex') FROM audit_log WHERE shard = {shard} AND seq = {top - 1}"
    ).stdout.strip()
    audited.superuser(
        TAMPER + f"DELETE FROM audit_log WHERE shard = {shard} AND seq = {top}; "
        f"UPDATE audit_chain_heads SET seq = {top - 1}, hash = decode('{previous}', 'hex') "
        f"WHERE shard = {shard}"
    )
    assert audit_verify(audited)["ok"] is True  # consistent on its own...
    result = audit_verify(audited, expected_heads=anchors)
    assert result["ok"] is False and result["first_break"]["shard"] == shard  # ...but not with the anchor


@pytest.mark.parametrize("role", ["migrator", "app_rw", "app_ro", "auditor"])
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_log SET actor_role = 'nobody'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "DELETE FROM audit_chain_heads",
        "TRUNCATE audit_chain_heads",
    ],
)
@pytest.mark.soc2("CC6.1", "CC7.2")
def test_no_role_can_change_the_audit(audited_shared, role, sql):
    with audited_shared.connect(role) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_log SET actor_role = 'nobody'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "TRUNCATE audit_log_y{month}",
    ],
)
@pytest.mark.soc2("CC6.1", "CC7.2")
def test_guard_refuses_even_a_superuser_with_triggers_on(audited_shared, sql):
    month = audited_shared.superuser("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY\"m\"MM')").stdout.strip()
    result = audited_shared.superuser(sql.format(month=month), check=False)
    assert result.returncode != 0 and "append-only" in result.stderr
    assert audit_verify(audited_shared)["ok"] is True


@pytest.mark.soc2("CC7.2")
def test_partitions_ahead_exist_with_their_guard(audited_shared):
    out = audited_shared.superuser(
        "SELECT count(*) FILTER (WHERE c.relname LIKE 'audit_log_y%'), "
        "count(*) FILTER (WHERE c.relname LIKE 'transactions_y%'), "
        "count(t.tgname) FILTER (WHERE c.relname LIKE 'audit_log_y%') "
        "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid AND c.relkind = 'r' "
        "LEFT JOIN pg_trigger t ON t.tgrelid = c.oid AND t.tgname = 'audit_log_no_truncate'"
    ).stdout.strip()
    assert out == "4|4|4"
    with audited_shared.connect("migrator") as conn:
        assert conn.execute("SELECT ensure_monthly_partitions(3)").fetchone()[0] == []
        created = conn.execute("SELECT ensure_monthly_partitions(5)").fetchone()[0]
    assert len(created) == 4  # two more months for each of the two tables
