"""The ledger: transfers are atomic, balanced, never negative, and applied once per key."""

from __future__ import annotations

import random
import threading
import uuid
from decimal import Decimal

import psycopg
import pytest

from tests.integration.fixtures_schema import deposit, new_user

pytestmark = pytest.mark.integration

WALLETS = 8
THREADS = 20
TRANSFERS = 200
FUNDING = Decimal("1000")


def transfer(conn, frm, to, amount, key=None):
    return conn.execute(
        "SELECT transfer(%s, %s, %s, %s)", (frm, to, amount, key or str(uuid.uuid4()))
    ).fetchone()[0]


def ledger_invariants(db):
    """Asserts the ledger is balanced and consistent, reading as the owner (its definer policies)."""
    with db.connect("migrator") as conn:
        negative = conn.execute(
            "SELECT count(*) FROM ledger_accounts WHERE NOT allow_negative AND balance < 0"
        ).fetchone()[0]
        assert negative == 0
        assert conn.execute("SELECT coalesce(sum(balance), 0) FROM ledger_accounts").fetchone()[0] == 0
        drift = conn.execute(
            "SELECT a.id, a.balance, coalesce(sum(e.amount), 0) FROM ledger_accounts a "
            "LEFT JOIN ledger_entries e ON e.account_id = a.id GROUP BY a.id, a.balance "
            "HAVING a.balance <> coalesce(sum(e.amount), 0)"
        ).fetchall()
        assert drift == [], "balance rows differ from the sum of their entries (the source of truth)"
        unbalanced = conn.execute(
            "SELECT transaction_id FROM ledger_entries GROUP BY transaction_id HAVING sum(amount) <> 0"
        ).fetchall()
        assert unbalanced == []
        orphans = conn.execute(
            "SELECT count(*) FROM transactions t WHERE NOT EXISTS "
            "(SELECT 1 FROM ledger_entries e WHERE e.transaction_id = t.id)"
        ).fetchone()[0]
        assert orphans == 0


@pytest.fixture(scope="module")
def funded(schema_db):
    users = [new_user(schema_db) for _ in range(WALLETS)]
    for user in users:
        deposit(schema_db, user["wallet"], FUNDING)
    return users


def test_concurrent_random_transfers_keep_the_ledger_balanced(schema_db, funded):
    rng = random.Random(4)
    plan = []
    for _ in range(TRANSFERS):
        src, dst = rng.sample(funded, 2)
        plan.append((src, dst, Decimal(rng.randint(1, 40000)) / 100))
    chunks = [plan[i::THREADS] for i in range(THREADS)]
    outcome = {"ok": 0, "insufficient": 0, "errors": []}
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def worker(chunk):
        with schema_db.connect("app_rw", autocommit=False) as conn:
            start.wait()
            for src, dst, amount in chunk:
                try:
                    conn.execute("SELECT set_config('app.user_id', %s, true)", (str(src["id"]),))
                    transfer(conn, src["wallet"], dst["wallet"], amount)
                    conn.commit()
                    with lock:
                        outcome["ok"] += 1
                except psycopg.Error as exc:
                    conn.rollback()
                    with lock:
                        if exc.sqlstate == "GC001":
                            outcome["insufficient"] += 1
                        else:
                            outcome["errors"].append(f"{exc.sqlstate}: {exc}")

    threads = [threading.Thread(target=worker, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert outcome["errors"] == []
    assert outcome["ok"] + outcome["insufficient"] == TRANSFERS
    assert outcome["ok"] > TRANSFERS // 2
    ledger_invariants(schema_db)
    with schema_db.connect("migrator") as conn:
        total = conn.execute(
            "SELECT sum(balance) FROM ledger_accounts WHERE id = ANY(%s)", ([u["wallet"] for u in funded],)
        ).fetchone()[0]
    assert total == FUNDING * WALLETS


def balance(db, user):
    with db.as_user(user["id"], role="app_ro") as conn:
        return conn.execute(
            "SELECT balance FROM ledger_accounts WHERE id = %s", (user["wallet"],)
        ).fetchone()[0]


def test_idempotency_key_applied_once(schema_db):
    a, b = new_user(schema_db), new_user(schema_db)
    deposit(schema_db, a["wallet"], Decimal("100"))
    key = f"gift-{uuid.uuid4()}"
    with schema_db.as_user(a["id"]) as conn:
        first = transfer(conn, a["wallet"], b["wallet"], Decimal("10"), key)
    with schema_db.as_user(a["id"]) as conn:
        again = transfer(conn, a["wallet"], b["wallet"], Decimal("10"), key)
    assert again == first
    assert balance(schema_db, a) == Decimal("90")
    assert balance(schema_db, b) == Decimal("10")


def test_concurrent_double_submit_applied_once(schema_db):
    a, b = new_user(schema_db), new_user(schema_db)
    deposit(schema_db, a["wallet"], Decimal("100"))
    key = f"double-{uuid.uuid4()}"
    results, barrier = [], threading.Barrier(2)

    def submit():
        with schema_db.as_user(a["id"]) as conn:
            barrier.wait()
            results.append(transfer(conn, a["wallet"], b["wallet"], Decimal("25"), key))

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 2 and results[0] == results[1]
    assert balance(schema_db, a) == Decimal("75")
    with schema_db.connect("migrator") as conn:
        count = conn.execute(
            "SELECT count(*) FROM transactions WHERE idempotency_key = %s", (key,)
        ).fetchone()[0]
    assert count == 1


def test_idempotency_key_reused_for_another_transfer_is_refused(schema_db):
    a, b = new_user(schema_db), new_user(schema_db)
    deposit(schema_db, a["wallet"], Decimal("100"))
    key = f"reuse-{uuid.uuid4()}"
    with schema_db.as_user(a["id"]) as conn:
        transfer(conn, a["wallet"], b["wallet"], Decimal("1"), key)
    with (
        pytest.raises(psycopg.Error, match="already used for a different transfer") as error,
        schema_db.as_user(a["id"]) as conn,
    ):
        transfer(conn, a["wallet"], b["wallet"], Decimal("2"), key)
    assert error.value.sqlstate == "GC002"


def test_transfer_beyond_balance_fails_and_changes_nothing(schema_db):
    a, b = new_user(schema_db), new_user(schema_db)
    deposit(schema_db, a["wallet"], Decimal("50"))
    with schema_db.connect("migrator") as conn:
        before = conn.execute("SELECT count(*) FROM transactions").fetchone()[0]
    with (
        pytest.raises(psycopg.Error, match="insufficient funds") as error,
        schema_db.as_user(a["id"]) as conn,
    ):
        transfer(conn, a["wallet"], b["wallet"], Decimal("50.000000000000000001"))
    assert error.value.sqlstate == "GC001"
    assert balance(schema_db, a) == Decimal("50")
    assert balance(schema_db, b) == Decimal("0")
    with schema_db.connect("migrator") as conn:
        assert conn.execute("SELECT count(*) FROM transactions").fetchone()[0] == before
    ledger_invariants(schema_db)


def test_cannot_spend_from_another_users_wallet(schema_db):
    a, b = new_user(schema_db), new_user(schema_db)
    deposit(schema_db, b["wallet"], Decimal("10"))
    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="not found"),
        schema_db.as_user(a["id"]) as conn,
    ):
        transfer(conn, b["wallet"], a["wallet"], Decimal("1"))
    assert balance(schema_db, b) == Decimal("10")


def test_transfer_needs_a_user(schema_db):
    a, b = new_user(schema_db), new_user(schema_db)
    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege, match=r"app\.user_id"),
        schema_db.connect("app_rw") as conn,
    ):
        transfer(conn, a["wallet"], b["wallet"], Decimal("1"))


def test_application_cannot_write_the_ledger_directly(schema_db):
    a = new_user(schema_db)
    with pytest.raises(psycopg.errors.InsufficientPrivilege), schema_db.as_user(a["id"]) as conn:
        conn.execute("UPDATE ledger_accounts SET balance = 1000000 WHERE id = %s", (a["wallet"],))
    with pytest.raises(psycopg.errors.InsufficientPrivilege), schema_db.as_user(a["id"]) as conn:
        conn.execute("SELECT ledger_deposit(%s, 5, 'free-money')", (a["wallet"],))


def test_ledger_entries_are_append_only(schema_db):
    a = new_user(schema_db)
    deposit(schema_db, a["wallet"], Decimal("5"))
    with schema_db.connect("migrator") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(
                "UPDATE ledger_entries SET amount = amount * 2 WHERE account_id = %s", (a["wallet"],)
            )
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute("TRUNCATE ledger_entries CASCADE")


def test_wallet_history_keyset_pages(schema_db):
    a, b = new_user(schema_db), new_user(schema_db)
    deposit(schema_db, a["wallet"], Decimal("100"))
    for _ in range(7):
        with schema_db.as_user(a["id"]) as conn:
            transfer(conn, a["wallet"], b["wallet"], Decimal("1"))
    with schema_db.as_user(a["id"], role="app_ro") as conn:
        first = conn.execute(
            "SELECT created_at, id FROM wallet_transactions(%s, p_limit => 5)", (a["wallet"],)
        ).fetchall()
        last = first[-1]
        rest = conn.execute(
            "SELECT created_at, id FROM wallet_transactions(%s, %s, %s, 5)", (a["wallet"], last[0], last[1])
        ).fetchall()
    assert len(first) == 5 and len(rest) == 3  # 7 transfers + 1 deposit
    assert not {r[1] for r in first} & {r[1] for r in rest}
