"""Migration 0011_hot_path (issue 21, ADR 0014) on a real PostgreSQL 15 (tests/unit/pg_cluster.py).

The audit chain: a transaction takes a free head of the 64 (FOR UPDATE SKIP LOCKED) instead of
waiting for its preferred one, keeps one chain for all its rows, waits only when every head is
held, and whatever lands where, audit_verify recomputes every chain. The transfer writes the same
ledger in fewer statements. The friend list pages by keyset; suggestions keep their cut-offs.
"""

from __future__ import annotations

import threading
import uuid
from decimal import Decimal

import psycopg
import pytest
from ansible_collections.giftcrypto.platform.plugins.modules import audit_verify

from tests.unit import moto_modules

SHARDS = 64


def _fake_ciphertext() -> bytes:
    return b"\x01" + uuid.uuid4().bytes * 3


def _new_user(conn) -> uuid.UUID:
    """A user inserted as the current connection's role, acting as that user (row-level security)."""
    user_id = uuid.uuid4()
    conn.execute("SELECT set_config('app.user_id', %s, true)", (str(user_id),))
    conn.execute(
        "INSERT INTO users (id, email_ciphertext, email_bidx, password_hash) VALUES (%s, %s, %s, %s)",
        (user_id, _fake_ciphertext(), uuid.uuid4().bytes * 2, "$scrypt$" + "x" * 40),
    )
    return user_id


def _shards_of(cluster, db, user_ids) -> list[int]:
    with cluster.connect(db) as conn:
        rows = conn.execute(
            "SELECT shard FROM audit_log WHERE table_name = 'users' AND row_id = ANY(%s) ORDER BY seq",
            ([str(u) for u in user_ids],),
        ).fetchall()
    return [shard for (shard,) in rows]


@pytest.fixture
def run_verify(capsys):
    return moto_modules.runner(audit_verify, capsys)


def test_sixty_four_chains_start_from_their_genesis(pg_cluster, migrated_db):
    with pg_cluster.connect(migrated_db) as conn:
        assert conn.execute("SELECT audit_shard_count()").fetchone()[0] == SHARDS
        heads = conn.execute("SELECT shard, seq, hash FROM audit_chain_heads ORDER BY shard").fetchall()
    assert [(shard, seq) for shard, seq, _ in heads] == [(s, 0) for s in range(SHARDS)]
    assert all(bytes(digest) == audit_verify.genesis(shard) for shard, _, digest in heads)


def test_a_held_head_is_skipped_not_waited_for(pg_cluster, migrated_db, run_verify):
    """With every head but one held by another transaction, a writer lands on the free one at once
    (lock_timeout would fail it otherwise), for all of its rows."""
    free = 37
    holder = pg_cluster.connect(migrated_db, autocommit=False)
    try:
        holder.execute("SELECT shard FROM audit_chain_heads WHERE shard <> %s FOR UPDATE", (free,))
        with pg_cluster.connect(migrated_db, user="app_rw", autocommit=False) as conn:
            conn.execute("SET LOCAL lock_timeout = '2s'")
            users = [_new_user(conn) for _ in range(3)]
            conn.commit()
    finally:
        holder.rollback()
        holder.close()
    assert _shards_of(pg_cluster, migrated_db, users) == [free, free, free]
    result = run_verify(pg_cluster.login(migrated_db, user="auditor"))
    assert result["rc"] == 0 and result["ok"] is True, result
    assert result["heads"][str(free)]["seq"] == 3


def test_a_writer_waits_only_when_every_head_is_held(pg_cluster, migrated_db):
    holder = pg_cluster.connect(migrated_db, autocommit=False)
    try:
        holder.execute("SELECT shard FROM audit_chain_heads FOR UPDATE")
        with pg_cluster.connect(migrated_db, user="app_rw", autocommit=False) as conn:
            conn.execute("SET LOCAL lock_timeout = '300ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                _new_user(conn)
    finally:
        holder.rollback()
        holder.close()


def test_one_transaction_keeps_one_chain_and_a_stale_setting_is_ignored(pg_cluster, migrated_db):
    with pg_cluster.connect(migrated_db, user="app_rw", autocommit=False) as conn:
        # A value left at session level (another transaction's id) does not pick the shard.
        conn.execute("SELECT set_config('giftcrypto.audit_shard', '1:5', false)")
        conn.commit()
        users = [_new_user(conn) for _ in range(4)]
        txid = conn.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()[0]
        conn.commit()
    shards = _shards_of(pg_cluster, migrated_db, users)
    assert shards == [txid % SHARDS] * 4


def test_concurrent_writers_leave_every_chain_whole(pg_cluster, migrated_db, run_verify):
    errors: list[BaseException] = []

    def writer():
        try:
            with pg_cluster.connect(migrated_db, user="app_rw", autocommit=False) as conn:
                for _ in range(15):
                    _new_user(conn)
                    _new_user(conn)
                    conn.commit()
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    result = run_verify(pg_cluster.login(migrated_db, user="auditor"))
    assert result["rc"] == 0 and result["ok"] is True, result
    assert result["rows_checked"] == 8 * 15 * 2
    with pg_cluster.connect(migrated_db) as conn:
        # each transaction's two rows are consecutive links of one chain
        split = conn.execute(
            "SELECT count(*) FROM (SELECT txid FROM audit_log GROUP BY txid "
            "HAVING count(DISTINCT shard) > 1 OR max(seq) - min(seq) <> 1) AS t"
        ).fetchone()[0]
    assert split == 0


def _wallet(conn, user_id) -> uuid.UUID:
    wallet = uuid.uuid4()
    conn.execute(
        "INSERT INTO wallet_accounts (id, user_id, wallet_address, public_key, currency) "
        "VALUES (%s, %s, %s, %s, 'ETH')",
        (wallet, user_id, "0x" + uuid.uuid4().hex + "abcdef12", "k" * 20),
    )
    return wallet


def test_a_transfer_writes_the_whole_ledger_and_its_audit_row(pg_cluster, migrated_db, run_verify):
    with pg_cluster.connect(migrated_db, user="app_rw", autocommit=False) as conn:
        alice = _new_user(conn)
        a_wallet = _wallet(conn, alice)
        conn.commit()
        bob = _new_user(conn)
        b_wallet = _wallet(conn, bob)
        conn.commit()
    with pg_cluster.connect(migrated_db, user="migrator") as conn:
        conn.execute("SELECT ledger_deposit(%s, 10, 'deposit-1')", (a_wallet,))
    with pg_cluster.connect(migrated_db, user="app_rw", autocommit=False) as conn:
        conn.execute("SELECT set_config('app.user_id', %s, true)", (str(alice),))
        tx = conn.execute("SELECT transfer(%s, %s, 2.5, 'k-1')", (a_wallet, b_wallet)).fetchone()[0]
        conn.commit()
        conn.execute("SELECT set_config('app.user_id', %s, true)", (str(alice),))
        again = conn.execute("SELECT transfer(%s, %s, 2.5, 'k-1')", (a_wallet, b_wallet)).fetchone()[0]
        conn.commit()
        conn.execute("SELECT set_config('app.user_id', %s, true)", (str(alice),))
        with pytest.raises(psycopg.DatabaseError, match="insufficient funds") as refused:
            conn.execute("SELECT transfer(%s, %s, 100, 'k-2')", (a_wallet, b_wallet))
        conn.rollback()
    assert refused.value.sqlstate == "GC001"
    assert again == tx
    with pg_cluster.connect(migrated_db) as conn:
        balances = dict(
            conn.execute("SELECT id, balance FROM ledger_accounts WHERE wallet_id IS NOT NULL").fetchall()
        )
        entries = conn.execute(
            "SELECT account_id, amount, balance_after FROM ledger_entries WHERE transaction_id = %s "
            "ORDER BY amount",
            (tx,),
        ).fetchall()
        audited = conn.execute(
            "SELECT count(*) FROM audit_log WHERE table_name = 'transactions' AND row_id = %s", (str(tx),)
        ).fetchone()[0]
        fillfactor = conn.execute(
            "SELECT reloptions FROM pg_class WHERE oid = 'ledger_accounts'::regclass"
        ).fetchone()[0]
    assert balances == {a_wallet: Decimal("7.5"), b_wallet: Decimal("2.5")}
    assert entries == [
        (a_wallet, Decimal("-2.5"), Decimal("7.5")),
        (b_wallet, Decimal("2.5"), Decimal("2.5")),
    ]
    assert audited == 1
    assert fillfactor == ["fillfactor=80"]
    assert run_verify(pg_cluster.login(migrated_db, user="auditor"))["ok"] is True


def _users_with_friends(cluster, db, count: int) -> list[uuid.UUID]:
    """count users (superuser, triggers off: a graph, not an audit test)."""
    ids = sorted(uuid.uuid4() for _ in range(count))
    with cluster.connect(db) as conn:
        conn.execute("SET session_replication_role = replica")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO users (id, email_ciphertext, email_bidx, password_hash) VALUES (%s, %s, %s, %s)",
                [(i, _fake_ciphertext(), uuid.uuid4().bytes * 2, "$scrypt$" + "x" * 40) for i in ids],
            )
    return ids


def _befriend(cluster, db, pairs, status="accepted") -> None:
    with cluster.connect(db) as conn:
        conn.execute("SET session_replication_role = replica")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO friendships (requester_id, addressee_id, status) VALUES (%s, %s, %s)",
                [(a, b, status) for a, b in pairs],
            )


def test_the_friend_list_pages_by_keyset_under_row_level_security(pg_cluster, migrated_db):
    users = _users_with_friends(pg_cluster, migrated_db, 12)
    me = users[5]
    friends = [u for u in users if u != me][:9]
    _befriend(pg_cluster, migrated_db, [(me, f) if i % 2 else (f, me) for i, f in enumerate(friends)])
    _befriend(pg_cluster, migrated_db, [(users[10], me)], status="pending")
    _befriend(pg_cluster, migrated_db, [(users[10], users[11])])
    pages, after = [], None
    with pg_cluster.connect(migrated_db, user="app_ro", autocommit=False) as conn:
        conn.execute("SELECT set_config('app.user_id', %s, true)", (str(me),))
        while True:
            page = [r[0] for r in conn.execute("SELECT friend_id FROM friend_list(%s, 4)", (after,))]
            if not page:
                break
            pages.append(page)
            after = page[-1]
        conn.execute("SELECT set_config('app.user_id', %s, true)", (str(users[11]),))
        theirs = [r[0] for r in conn.execute("SELECT friend_id FROM friend_list()")]
        conn.execute("SELECT set_config('app.user_id', '', true)")
        nobody = conn.execute("SELECT count(*) FROM friend_list()").fetchone()[0]
    assert [len(p) for p in pages] == [4, 4, 1]
    assert [f for p in pages for f in p] == sorted(friends)
    assert theirs == [users[10]] and nobody == 0


def test_suggestions_skip_celebrities_and_walk_at_most_100_friends(pg_cluster, migrated_db):
    users = _users_with_friends(pg_cluster, migrated_db, 520)
    me, popular, celebrity, candidate_a, candidate_b = users[:5]
    rest = users[5:]
    # popular has 200 accepted friends (walked), celebrity 201 (not walked); both know the candidates.
    _befriend(pg_cluster, migrated_db, [(me, popular), (me, celebrity)])
    _befriend(pg_cluster, migrated_db, [(popular, u) for u in [candidate_a, *rest[:198]]])
    _befriend(pg_cluster, migrated_db, [(celebrity, u) for u in [candidate_a, candidate_b, *rest[:198]]])
    with pg_cluster.connect(migrated_db, user="app_ro", autocommit=False) as conn:
        conn.execute("SELECT set_config('app.user_id', %s, true)", (str(me),))
        suggested = dict(
            conn.execute("SELECT user_id, mutual_friends FROM friend_suggestions(100)").fetchall()
        )
    assert suggested[candidate_a] == 1  # through popular only, not through the celebrity
    assert candidate_b not in suggested  # the celebrity's friends are not suggested
    assert len(suggested) == 100 and set(suggested) <= {candidate_a, *rest[:198]}

    # A user with 101 friends: suggestions come through the first 100 of them by id.
    hub = rest[300]
    hub_friends = sorted(rest[310:411])
    assert len(hub_friends) == 101
    last, last_friend = hub_friends[-1], rest[450]
    _befriend(pg_cluster, migrated_db, [(hub, f) for f in hub_friends] + [(last, last_friend)])
    _befriend(pg_cluster, migrated_db, [(hub_friends[0], rest[451])])
    with pg_cluster.connect(migrated_db, user="app_ro", autocommit=False) as conn:
        conn.execute("SELECT set_config('app.user_id', %s, true)", (str(hub),))
        suggested = dict(
            conn.execute("SELECT user_id, mutual_friends FROM friend_suggestions(100)").fetchall()
        )
    assert rest[451] in suggested and last_friend not in suggested
