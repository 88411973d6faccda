"""Transfers under load: pgbench calling transfer() through pgBouncer, audit chain on and off, and
the ledger's invariants afterwards.

pgbench (PostgreSQL's own, tests/bench/transfer.pgbench) logs every script's latency (``-l``);
the p95 is computed from those logs. Throughput is pgbench's tps without the connection time;
each script is one transfer (5% of them also retry it with the same idempotency key, which must
not move money). "Audit off" disables the audit trigger of transactions (the only audited table a
transfer writes) for the run, as its owner, and always enables it again.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import time

import psycopg

from tests.bench import common

SCRIPT = pathlib.Path(__file__).with_name("transfer.pgbench")
PGBENCH_CANDIDATES = ("/usr/lib/postgresql/15/bin/pgbench", "pgbench")


def pgbench_binary() -> str:
    for candidate in PGBENCH_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    raise FileNotFoundError("pgbench not found (package postgresql-client-15 / postgresql-15)")


def _libpq_env(env: common.Env, dbname: str) -> dict[str, str]:
    kwargs = env.kwargs("app_rw", dbname, pgbouncer=True)
    out = {
        **os.environ,
        "PGHOST": kwargs["host"],
        "PGPORT": str(kwargs["port"]),
        "PGUSER": kwargs["user"],
        "PGPASSWORD": kwargs["password"],
        "PGDATABASE": dbname,
        "PGSSLMODE": kwargs["sslmode"],
        "PGAPPNAME": "giftcrypto-bench-pgbench",
    }
    if kwargs.get("sslrootcert"):
        out["PGSSLROOTCERT"] = kwargs["sslrootcert"]
    return out


def set_audit(env: common.Env, dbname: str, on: bool) -> None:
    with env.connect("migrator", dbname) as conn:
        conn.execute(f"ALTER TABLE transactions {'ENABLE' if on else 'DISABLE'} TRIGGER transactions_audit")


def _snapshot(env: common.Env, dbname: str) -> dict:
    with env.superuser(dbname) as conn:
        return {
            "entry_id": conn.execute("SELECT coalesce(max(id), 0) FROM ledger_entries").fetchone()[0],
            "audit_rows": conn.execute("SELECT count(*) FROM audit_log").fetchone()[0],
            "keys": conn.execute("SELECT count(*) FROM ledger_idempotency_keys").fetchone()[0],
        }


def run_pgbench(env, dbname, scale, clients: int, seconds: int, audit: bool, log=print) -> dict:
    set_audit(env, dbname, audit)
    try:
        with env.superuser(dbname) as conn:
            conn.execute("CHECKPOINT")
        before = _snapshot(env, dbname)
        with tempfile.TemporaryDirectory(prefix="giftcrypto-pgbench-") as workdir:
            cmd = [
                pgbench_binary(),
                "--no-vacuum",
                "--file",
                str(SCRIPT),
                "--client",
                str(clients),
                "--jobs",
                str(min(clients, 2)),
                "--time",
                str(seconds),
                "--define",
                f"nwallets={scale.wallets}",
                "--define",
                f"hot={scale.hot_wallets}",
                "--log",
                "--log-prefix",
                str(pathlib.Path(workdir) / "transfer"),
            ]
            started = time.perf_counter()
            proc = subprocess.run(
                cmd, env=_libpq_env(env, dbname), capture_output=True, text=True, timeout=seconds + 300,
                cwd=workdir, check=False,
            )  # fmt: skip
            wall = time.perf_counter() - started
            if proc.returncode != 0:
                raise RuntimeError(
                    f"pgbench failed ({proc.returncode}): {proc.stdout[-2000:]} {proc.stderr[-2000:]}"
                )
            latencies = []
            for path in pathlib.Path(workdir).glob("transfer*"):
                for line in path.read_text().splitlines():
                    fields = line.split()
                    latencies.append(int(fields[2]) / 1e6)
    finally:
        set_audit(env, dbname, True)
    after = _snapshot(env, dbname)
    tps = float(re.search(r"tps = ([0-9.]+) \(without initial connection time\)", proc.stdout).group(1))
    processed = int(re.search(r"number of transactions actually processed: (\d+)", proc.stdout).group(1))
    failed = re.search(r"number of failed transactions: (\d+)", proc.stdout)
    lat = common.summary_ms(latencies)
    result = {
        "clients": clients,
        "seconds": seconds,
        "audit": audit,
        "tps": round(tps, 1),
        "scripts": processed,
        "failed": int(failed.group(1)) if failed else 0,
        "p50_ms": lat["p50_ms"],
        "p95_ms": lat["p95_ms"],
        "p99_ms": lat["p99_ms"],
        "transfers_written": (after["entry_id"] - before["entry_id"]) // 2,
        "idempotency_keys_written": after["keys"] - before["keys"],
        "audit_rows_written": after["audit_rows"] - before["audit_rows"],
        "wall_s": round(wall, 1),
    }
    log(
        f"pgbench clients={clients} audit={'on' if audit else 'off'}: {result['tps']} tps, "
        f"p95 {result['p95_ms']} ms, {result['scripts']} scripts, {result['transfers_written']} transfers"
    )
    return result


INVARIANTS = {
    # every transaction's entries sum to zero (debits = credits), and transfers have two entries
    "unbalanced_transactions": "SELECT count(*) FROM (SELECT transaction_id FROM ledger_entries "
    "GROUP BY transaction_id HAVING sum(amount) <> 0 OR count(*) <> 2) AS t",
    # a transaction row without entries, or entries without their transaction row
    "transactions_without_entries": "SELECT count(*) FROM transactions AS t WHERE NOT EXISTS "
    "(SELECT 1 FROM ledger_entries AS e WHERE e.transaction_id = t.id)",
    # each account's stored balance is the sum of its entries, and its last entry's balance_after
    "balance_mismatches": "SELECT count(*) FROM ledger_accounts AS a LEFT JOIN (SELECT account_id, "
    "sum(amount) AS total FROM ledger_entries GROUP BY account_id) AS e ON e.account_id = a.id "
    "WHERE a.balance <> coalesce(e.total, 0)",
    "balance_after_mismatches": "SELECT count(*) FROM ledger_accounts AS a "
    "JOIN LATERAL (SELECT balance_after FROM ledger_entries AS e WHERE e.account_id = a.id "
    "ORDER BY e.id DESC LIMIT 1) AS l ON true "
    "WHERE l.balance_after <> a.balance",
    "negative_wallet_balances": "SELECT count(*) FROM ledger_accounts "
    "WHERE NOT allow_negative AND balance < 0",
    # money is conserved: wallets hold exactly what the outside world (external accounts) put in
    "money_created_or_destroyed": "SELECT count(*) FROM "
    "(SELECT sum(balance) AS total FROM ledger_accounts) AS s WHERE total <> 0",
    # idempotency: one transaction per key, and every key's transaction exists
    "keys_with_several_transactions": "SELECT count(*) FROM (SELECT idempotency_key FROM transactions "
    "WHERE idempotency_key IS NOT NULL GROUP BY idempotency_key HAVING count(*) > 1) AS k",
    "keys_without_their_transaction": "SELECT count(*) FROM ledger_idempotency_keys AS k WHERE NOT EXISTS "
    "(SELECT 1 FROM transactions AS t WHERE t.id = k.transaction_id "
    "AND t.created_at = k.transaction_created_at AND t.idempotency_key = k.key)",
}


def invariants(env: common.Env, dbname: str) -> dict[str, int]:
    """Violations per invariant (all must be 0), over the whole ledger."""
    with env.superuser(dbname) as conn:
        conn.execute("SET work_mem = '256MB'")
        conn.execute("SET max_parallel_workers_per_gather = 2")
        return {name: conn.execute(sql).fetchone()[0] for name, sql in INVARIANTS.items()}


def _pgbouncer_admin(env: common.Env):
    """pgBouncer's admin console as the admin login (admin_users): simple protocol, autocommit."""
    kwargs = {**env.kwargs("master", "pgbouncer", pgbouncer=True), "application_name": "giftcrypto-bench"}
    return psycopg.connect(
        autocommit=True, prepare_threshold=None, cursor_factory=psycopg.ClientCursor, **kwargs
    )


def set_pool_size(env: common.Env, size: int) -> int:
    """Sets pgBouncer's default_pool_size (runtime only, never written to its configuration) and
    closes the server connections as they are released, so the pools reopen at that size; returns
    the size before."""
    with _pgbouncer_admin(env) as conn:
        config = {row[0]: row[1] for row in conn.execute("SHOW CONFIG").fetchall()}
        before = int(config["default_pool_size"])
        conn.execute(f"SET default_pool_size = {int(size)}")
        conn.execute("RECONNECT")
    return before


def pool_sweep(env, dbname, scale, sizes, clients=32, seconds=30, log=print) -> list[dict]:
    """The 32-client run with the audit chain on at each pgBouncer pool size (server connections
    per database and user), the configured size restored afterwards."""
    runs = []
    configured = set_pool_size(env, sizes[0])
    try:
        for size in sizes:
            set_pool_size(env, size)
            run = run_pgbench(env, dbname, scale, clients, seconds, True, log=log)
            run["pool_size"] = size
            log(f"pool size {size}: {run['tps']} tps, p95 {run['p95_ms']} ms")
            runs.append(run)
    finally:
        set_pool_size(env, configured)
    return runs


def verify_chains(env: common.Env, dbname: str) -> dict:
    """Every audit hash chain recomputed by audit_verify's own code (as the DR drill runs it), in one
    read-only snapshot: {rows_checked, shards, breaks}; the transfers' concurrent appends must leave
    every chain whole."""
    from ansible_collections.giftcrypto.platform.plugins.module_utils.pg import QueryLog
    from ansible_collections.giftcrypto.platform.plugins.modules import audit_verify

    with env.superuser(dbname, autocommit=False) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        log = QueryLog(conn)
        heads = {int(s): (q, h) for s, q, h in log.fetchall("SELECT shard, seq, hash FROM audit_chain_heads")}
        ((count,),) = log.fetchall("SELECT audit_shard_count()")
        shards = sorted(
            set(range(int(count)))
            | set(heads)
            | {s for (s,) in log.fetchall("SELECT DISTINCT shard FROM audit_log")}
        )
        checked, breaks = 0, []
        for shard in shards:
            rows, broken, _ = audit_verify.verify_shard(log, shard, heads.get(shard), None)
            checked += rows
            if broken:
                breaks.append(broken)
        conn.rollback()
    return {"rows_checked": checked, "shards": len(shards), "breaks": breaks}


def run_transfers(env, dbname, scale, clients=(8, 32), seconds=60, warmup_s=10, log=print) -> dict:
    if warmup_s:
        run_pgbench(env, dbname, scale, clients[0], warmup_s, True, log=log)
    runs = []
    for count in clients:
        for audit in (False, True):
            runs.append(run_pgbench(env, dbname, scale, count, seconds, audit, log=log))
    overhead = {}
    for count in clients:
        off = next(r for r in runs if r["clients"] == count and not r["audit"])
        on = next(r for r in runs if r["clients"] == count and r["audit"])
        overhead[str(count)] = round(100 * (1 - on["tps"] / off["tps"]), 1)
    started = time.perf_counter()
    checks = invariants(env, dbname)
    log(f"invariants ({time.perf_counter() - started:.1f} s): {checks}")
    started = time.perf_counter()
    chains = verify_chains(env, dbname)
    log(
        f"audit chains ({time.perf_counter() - started:.1f} s): {chains['rows_checked']} rows on "
        f"{chains['shards']} shards, breaks: {chains['breaks'] or 'none'}"
    )
    return {"runs": runs, "audit_overhead_pct": overhead, "invariants": checks, "audit_chains": chains}
