"""Smoke run of the database benchmark (issue 5, `nox -s bench`) at a small scale, so it cannot rot.

The same generator, query suite and pgbench code as the full benchmark, on two databases of its
own (our migrated schema and the sprint's DDL, dropped at the end): 2,000 users, 10,000
friendships, 20,000 transactions. It checks what the full run reports, not how fast: every table
loaded with the PII encrypted through the real envelope path, both schemas answering every query
with the same rows and latency figures, EXPLAIN output saved, and pgbench transfers through
pgBouncer leaving the ledger balanced, no balance negative and every idempotency key used once.
"""

from __future__ import annotations

import secrets

import pytest
from ansible_collections.giftcrypto.platform.plugins.module_utils import envelope

from tests.bench import common, load, queries, transfers

pytestmark = pytest.mark.integration

SCALE = common.Scale(0.002)
# Queries whose rows must be the same on both schemas (same data, same parameters). mutual
# friends and suggestions differ by design: ours leaves soft-deleted users out.
SAME_ROWS = (
    "friend_list",
    "pending_requests",
    "wallet_balance",
    "wallet_history",
    "email_lookup",
    "kyc_queue",
)


@pytest.fixture(scope="module")
def bench_env(local_vars, pg_secrets) -> common.Env:
    return common.Env.from_facts(local_vars, {role: pg_secrets[role] for role in common.ROLES})


@pytest.fixture(scope="module")
def loaded(bench_env):
    suffix = secrets.token_hex(3)
    ours, baseline = f"giftcrypto_bench_smoke_{suffix}", f"giftcrypto_baseline_smoke_{suffix}"
    try:
        report = load.load(bench_env, SCALE, ours, baseline, log=lambda message: None)
        yield ours, baseline, report
    finally:
        for name in (ours, baseline):
            load.drop_database(bench_env, name)


def test_load_fills_both_schemas_with_the_same_shape(bench_env, loaded):
    ours, _, report = loaded
    rows = report["rows"]
    assert (
        rows["ours"]["users"]
        == rows["ours"]["user_profiles"]
        == rows["ours"]["wallet_accounts"]
        == SCALE.users
    )
    assert rows["ours"]["transactions"] == SCALE.transactions
    assert rows["ours"]["ledger_entries"] == 2 * SCALE.transactions
    assert rows["ours"]["ledger_accounts"] == SCALE.wallets + 1  # + the external account
    assert 0.9 * SCALE.friendships <= rows["ours"]["friendships"] <= SCALE.friendships
    for table, count in rows["baseline"].items():
        assert count == rows["ours"][table], table
    assert {r["step"] for r in report["seconds"]} >= {
        "users", "user_profiles", "wallet_accounts", "friendships", "transactions", "ledger_entries",
        "ledger_accounts",
    }  # fmt: skip
    assert all(r["seconds"] >= 0 for r in report["seconds"]) and report["total_ours_s"] > 0
    with bench_env.superuser(ours) as conn:
        # The secondary indexes were rebuilt after the data, partitions included, and are valid.
        assert (
            conn.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid OR NOT indisready").fetchone()[0]
            == 0
        )
        per_partition = conn.execute(
            "SELECT DISTINCT count(i.indexrelid) FROM pg_inherits AS h "
            "JOIN pg_class AS p ON p.oid = h.inhparent LEFT JOIN pg_index AS i ON i.indrelid = h.inhrelid "
            "WHERE p.relname = 'transactions' GROUP BY h.inhrelid"
        ).fetchall()
        parent = conn.execute(
            "SELECT count(*) FROM pg_index WHERE indrelid = 'transactions'::regclass"
        ).fetchone()[0]
        assert per_partition == [(parent,)] and parent >= 3
        # The skew: hub number 1 has far more friends than the average user (10).
        degree = conn.execute(
            "SELECT count(*) FROM friendships WHERE %s IN (user_low, user_high)", (common.user_id(1),)
        ).fetchone()[0]
        assert degree >= 5 * 10
        # PII is envelope ciphertext under the database's own keys; the blind index finds the row.
        ring = envelope.EnvelopeKeyring(envelope.KmsClient(bench_env.kms()), envelope.PostgresKeySource(conn))
        with ring:
            cipher = envelope.FieldCipher(ring)
            row = conn.execute(
                "SELECT id, email_ciphertext FROM users WHERE email_bidx = %s",
                (cipher.blind_index("users", "email_bidx", common.email_of(7)),),
            ).fetchone()
            assert row[0] == common.user_id(7)
            assert cipher.decrypt_text("users", "email_ciphertext", row[0], row[1]) == common.email_of(7)
            name = conn.execute(
                "SELECT id, first_name_ciphertext FROM user_profiles WHERE user_id = %s", (common.user_id(7),)
            ).fetchone()
            assert (
                cipher.decrypt_text("user_profiles", "first_name_ciphertext", name[0], name[1]) in load.FIRST
            )


def test_every_query_answers_on_both_schemas_with_latency_figures(bench_env, loaded, tmp_path):
    ours, baseline, _ = loaded
    results = queries.run_suite(
        bench_env, SCALE, ours, baseline, iterations=40, budget_s=30, baseline_budget_s=30, warmup=5,
        explain_dir=tmp_path, log=lambda message: None,
    )  # fmt: skip
    assert [r["name"] for r in results] == [q.name for q in queries.QUERIES]
    for r in results:
        for target in ("ours", "baseline"):
            figures = r[target]
            assert figures["n"] == 40, (r["name"], target)
            assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"] <= figures["max_ms"]
            plan = (tmp_path / f"{r['name']}.{target}.txt").read_text()
            assert "Execution Time" in plan and "Buffers" in plan
        assert r["ratio_p95"] > 0
        if r["name"] in SAME_ROWS:
            assert r["ours"]["rows_per_call"] == r["baseline"]["rows_per_call"], r["name"]
    by_name = {r["name"]: r for r in results}
    assert by_name["friend_list"]["ours"]["high_degree"]["n"] > 0  # the hubs were asked about
    assert by_name["wallet_history"]["ours"]["rows_per_call"] > 1
    assert by_name["email_lookup"]["ours"]["rows_per_call"] >= 0.9  # soft-deleted users are not found


def test_transfers_under_load_keep_the_ledger_invariants(bench_env, loaded):
    ours, _, _ = loaded
    result = transfers.run_transfers(bench_env, ours, SCALE, clients=(8, 32), seconds=3, warmup_s=0)
    assert [(r["clients"], r["audit"]) for r in result["runs"]] == [
        (8, False),
        (8, True),
        (32, False),
        (32, True),
    ]
    for run in result["runs"]:
        assert run["tps"] > 0 and run["failed"] == 0 and run["p95_ms"] > 0
        # 5% of scripts retried their transfer with the same key: still one transfer per script
        assert run["transfers_written"] == run["scripts"] == run["idempotency_keys_written"]
        assert run["audit_rows_written"] == (run["transfers_written"] if run["audit"] else 0)
    assert result["invariants"] and all(v == 0 for v in result["invariants"].values()), result["invariants"]
    # Every audit chain the concurrent transfers appended to still verifies, link by link.
    chains = result["audit_chains"]
    assert chains["breaks"] == [], chains["breaks"]
    assert chains["rows_checked"] >= sum(r["audit_rows_written"] for r in result["runs"]) > 0
    with bench_env.superuser(ours) as conn:
        enabled = conn.execute(
            "SELECT tgenabled FROM pg_trigger "
            "WHERE tgname = 'transactions_audit' AND tgrelid = 'transactions'::regclass"
        ).fetchone()[0]
    assert enabled == "O"  # the audit chain is back on after the "audit off" runs
