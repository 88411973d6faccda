"""Disaster-recovery drill of the local platform (issue 8): ``nox -s dr-drill``.

What it does, step by step (docs/runbooks/disaster-recovery.md is the same procedure by hand):

1. Loads the benchmark's data set (tests/bench/load.py: users, profiles, wallets with PII
   encrypted, friendships, transactions and their double-entry ledger) at ``--scale`` into a
   database of its own, ``giftcrypto_bench_drill``, on the LIVE cluster, whose pgBackRest
   archiving and backups are the real ones. The platform's own database is never written to.
   Then the scheduled differential backup runs once (``--backup diff``), as cron would at night.
2. Writer threads make real transfers through pgBouncer as app_rw, the way the application does
   (``set_config('app.user_id', ...)`` then ``transfer()``: ledger rows, balances and audit-chain
   rows written by the schema's own functions and triggers), for ``--duration`` seconds.
3. The disaster, with the writers still running: one superuser transaction takes the ledger's
   tables exclusively (in-flight transfers finish, new ones wait), reads the state (digests of
   every ledger, balance and audit row, a consistent REPEATABLE READ snapshot), notes T, the commit
   time of the last transfer committed before it (pg_xact_commit_timestamp), then DROPs
   ledger_entries and corrupts balances. The waiting transfers then fail: the ledger is gone.
4. The restore: ``playbooks/restore.yml`` into a fresh cluster (its own data directory and port),
   to just before the disaster's commit (``--target-exclusive``): everything committed up to T
   and nothing after. The live cluster keeps running. The playbook verifies every audit chain
   (giftcrypto.platform.audit_verify) of the restored databases.
5. Verification: the restored database's transfers, ledger entries, balances, idempotency keys,
   audit rows and chain heads equal the snapshot taken at T, row for row (order-independent
   digests), and its newest transfer was committed exactly at T.
6. Figures: RPO (transfers committed before the disaster and missing from the restore, and the
   seconds between the last of them and the newest restored one), the host-loss RPO (what would
   have been lost had the host died at the disaster: the transfers whose WAL was not yet in the
   repository), RTO (disaster to the restored cluster serving queries, and to the end of the
   verification). Written to tests/output/dr_drill.json and printed.
7. Repair: the drill's database is dropped from the live cluster and the restored cluster is
   removed (``--keep`` keeps the latter). The platform's database was never touched.

Targets: RPO <= 60 s, RTO <= 600 s (the exit status is 1 when one is missed or a check fails).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pathlib
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import psycopg

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bench import common, load

DRILL_DATABASE = "giftcrypto_bench_drill"
RPO_TARGET_S = 60.0
RTO_TARGET_S = 600.0
# Order-independent digest of a table: row count and the sum of a 60-bit hash of each row's text.
DIGEST = (
    "SELECT count(*), coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint), 0)::text "
    "FROM {} AS t"
)
TABLES = (
    "transactions",
    "ledger_entries",
    "ledger_accounts",
    "ledger_idempotency_keys",
    "audit_log",
    "audit_chain_heads",
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tools/dr_drill.py", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scale", type=float, default=1.0, help="data set, as nox -s bench: 1.0 = the full bench data set"
    )
    parser.add_argument("--inventory", type=pathlib.Path, default=ROOT / "inventories" / "local")
    parser.add_argument(
        "--duration", type=float, default=45.0, help="seconds of transfers before the disaster"
    )
    parser.add_argument("--writers", type=int, default=4, help="threads making transfers")
    parser.add_argument("--rate", type=float, default=40.0, help="transfers per second, all writers")
    parser.add_argument("--workers", type=int, default=2, help="encryption processes of the load")
    parser.add_argument("--backup", choices=("diff", "full", "none"), default="diff")
    parser.add_argument("--port", type=int, default=57432, help="port of the restored cluster")
    parser.add_argument("--cluster", default="giftcrypto_drill", help="name of the restored cluster")
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "tests" / "output" / "dr_drill.json")
    parser.add_argument("--keep", action="store_true", help="keep the restored cluster running")
    return parser.parse_args(argv)


def _digests(conn: psycopg.Connection) -> dict[str, list]:
    return {table: list(conn.execute(DIGEST.format(table)).fetchone()) for table in TABLES}


def _balances(conn: psycopg.Connection) -> dict[str, str]:
    rows = conn.execute("SELECT currency, sum(balance)::text FROM ledger_accounts GROUP BY 1 ORDER BY 1")
    return dict(rows.fetchall())


def _wal_end(segment: str, segment_size: int) -> int:
    """The LSN just past a WAL segment (file name TTTTTTTTXXXXXXXXYYYYYYYY)."""
    per_xlogid = 0x100000000 // segment_size
    number = int(segment[8:16], 16) * per_xlogid + int(segment[16:24], 16)
    return (number + 1) * segment_size


def _lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


class Writers:
    """Threads that make transfers the application's way until stopped; each commit is recorded
    with the client's clock after COMMIT returned and the WAL position read right after it."""

    def __init__(self, env: common.Env, dbname: str, wallets: int, threads: int, rate: float):
        self.env, self.dbname, self.wallets = env, dbname, wallets
        self.threads, self.interval = threads, threads / rate
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.committed: list[tuple[float, str, int]] = []  # (client time, transaction id, lsn after)
        self.errors: list[tuple[float, str]] = []
        self._workers: list[threading.Thread] = []

    def _run(self, seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311 - which wallets pay whom, not a secret
        conn = self.env.connect("app_rw", self.dbname, pgbouncer=True, autocommit=False)
        try:
            while not self.stop.is_set():
                a = rng.randint(1, self.wallets)
                b = rng.randint(1, self.wallets - 1)
                b = b + 1 if b >= a else b
                try:
                    conn.execute("SELECT set_config('app.user_id', %s, true)", (str(common.user_id(a)),))
                    tx = conn.execute(
                        "SELECT transfer(%s, %s, 0.01, %s)",
                        (common.wallet_id(a), common.wallet_id(b), f"drill-{uuid.uuid4()}"),
                    ).fetchone()[0]
                    conn.commit()
                    done = time.time()
                    lsn = _lsn(conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0])
                    conn.commit()
                    with self.lock:
                        self.committed.append((done, str(tx), lsn))
                except psycopg.Error as exc:
                    with self.lock:
                        self.errors.append((time.time(), f"{type(exc).__name__}: {exc}".splitlines()[0]))
                    if conn.closed or conn.broken:
                        conn = self.env.connect("app_rw", self.dbname, pgbouncer=True, autocommit=False)
                    else:
                        conn.rollback()
                self.stop.wait(self.interval * rng.uniform(0.5, 1.5))
        finally:
            conn.close()

    def __enter__(self) -> Writers:
        for index in range(self.threads):
            worker = threading.Thread(target=self._run, args=(index,), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for worker in self._workers:
            worker.join(timeout=60)


def load_data_set(env: common.Env, scale: common.Scale, workers: int) -> float:
    """The benchmark's data set, our schema only, in DRILL_DATABASE (recreated)."""
    started = time.perf_counter()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    months_back = 11
    t0 = load._month_start(now, -months_back)
    t1 = now - dt.timedelta(minutes=5)
    users_span = 3 * 365 * 86400
    users_from = t0.timestamp() - users_span
    load.prepare_ours(env, DRILL_DATABASE, months_back)
    with env.connect("master", DRILL_DATABASE) as conn:
        conn.execute(f'GRANT CONNECT ON DATABASE "{DRILL_DATABASE}" TO auditor')
    indexes = load.drop_deferred_indexes(env, DRILL_DATABASE)
    load.load_pii(
        env, scale, DRILL_DATABASE, (("ours", DRILL_DATABASE),), 1, workers, users_from, users_span, log
    )
    load.load_sql(env, scale, DRILL_DATABASE, t0, t1, log)
    load.build_indexes(env, DRILL_DATABASE, indexes, log)
    load.vacuum_analyze(env, DRILL_DATABASE)
    return time.perf_counter() - started


def pgbackrest(env: common.Env, *args: str) -> subprocess.CompletedProcess:
    cluster = env.group_vars.get("postgres_server_cluster", "giftcrypto")
    config = env.group_vars.get("postgres_server_backup_config_file", f"/etc/pgbackrest/{cluster}.conf")
    stanza = env.group_vars.get("postgres_server_backup_stanza", cluster)
    argv = [
        "runuser",
        "-u",
        "postgres",
        "--",
        "pgbackrest",
        f"--config={config}",
        f"--stanza={stanza}",
        *args,
    ]
    # A fixed program (runuser from util-linux), arguments from the inventory.
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=3600)  # noqa: S603


def disaster(env: common.Env) -> dict:
    """Snapshot at T and the disaster, in one superuser transaction holding the ledger's tables."""
    with env.superuser(DRILL_DATABASE, autocommit=False) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        conn.execute("SET lock_timeout = '60s'")
        conn.execute("LOCK TABLE ledger_accounts, transactions, ledger_entries IN ACCESS EXCLUSIVE MODE")
        locked = time.time()
        # The snapshot is taken by this first query, after the lock: every transfer committed
        # before the disaster is in it, and none can commit until the disaster has.
        t_commit, transfers = conn.execute(
            "SELECT max(pg_xact_commit_timestamp(xmin)), count(*) FROM transactions "
            "WHERE idempotency_key LIKE 'drill-%'"
        ).fetchone()
        snapshot = {"digests": _digests(conn), "balances": _balances(conn)}
        archived, segment_size = conn.execute(
            "SELECT coalesce(last_archived_wal, ''), pg_size_bytes(current_setting('wal_segment_size')) "
            "FROM pg_stat_archiver"
        ).fetchone()
        conn.execute("DROP TABLE ledger_entries")
        conn.execute(
            "UPDATE ledger_accounts SET balance = balance + 1000000 WHERE wallet_id IS NOT NULL "
            "AND id IN (SELECT id FROM ledger_accounts WHERE wallet_id IS NOT NULL LIMIT 100)"
        )
        xid = conn.execute("SELECT pg_current_xact_id()::xid::text").fetchone()[0]
        conn.commit()
        at = time.time()
        committed_at = conn.execute("SELECT pg_xact_commit_timestamp(%s::xid)", (xid,)).fetchone()[0]
        conn.commit()
    return {
        "T": t_commit,
        "transfers_at_T": transfers,
        "snapshot": snapshot,
        "locked_at": locked,
        "disaster_at": at,
        "disaster_commit": committed_at,
        "archived_wal_at_disaster": archived,
        "archived_upto_lsn": _wal_end(archived, segment_size) if archived else 0,
    }


def run_playbook(inventory: pathlib.Path, extra: dict) -> subprocess.CompletedProcess:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(extra, handle)
        vars_file = handle.name
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    try:
        playbook = str(ROOT / "playbooks" / "restore.yml")
        return subprocess.run(  # noqa: S603 - a fixed program and playbook
            ["ansible-playbook", "-i", str(inventory), playbook, "-e", f"@{vars_file}"],  # noqa: S607 - the venv's
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
    finally:
        os.unlink(vars_file)


def watch_serving(port: int, dbname: str, stop: threading.Event, seen: dict) -> None:
    """Notes when the restored cluster first answers a query as a promoted (writable) server."""
    while not stop.is_set():
        try:
            with psycopg.connect(
                host=common.SOCKET_DIR, port=port, user="postgres", dbname=dbname, connect_timeout=2
            ) as conn:
                if conn.execute("SELECT NOT pg_is_in_recovery()").fetchone()[0]:
                    conn.execute("SELECT count(*) FROM transactions").fetchone()
                    seen["serving_at"] = time.time()
                    return
        except psycopg.Error:
            pass
        stop.wait(0.5)


def restored_state(port: int) -> dict:
    with psycopg.connect(host=common.SOCKET_DIR, port=port, user="postgres", dbname=DRILL_DATABASE) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        newest, transfers = conn.execute(
            "SELECT max(pg_xact_commit_timestamp(xmin)), count(*) FROM transactions "
            "WHERE idempotency_key LIKE 'drill-%'"
        ).fetchone()
        return {
            "newest": newest,
            "transfers": transfers,
            "digests": _digests(conn),
            "balances": _balances(conn),
        }


def main(argv=None) -> int:
    args = parse_args(argv)
    env = common.Env.from_inventory(args.inventory)
    if env.group_vars.get("platform_environment") != "local":
        print("the drill runs against the local environment only")
        return 2
    scale = common.Scale(args.scale)
    result: dict = {
        "command": "nox -s dr-drill -- " + " ".join(argv if argv is not None else sys.argv[1:]),
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "scale": args.scale,
        "targets": {"rpo_s": RPO_TARGET_S, "rto_s": RTO_TARGET_S},
    }
    restore_vars = {"restore_cluster": args.cluster, "restore_port": args.port}
    try:
        log(f"loading the bench data set at scale {args.scale} into {DRILL_DATABASE} (live cluster)")
        result["load_s"] = round(load_data_set(env, scale, args.workers), 1)
        with env.superuser(DRILL_DATABASE) as conn:
            result["database_size"] = conn.execute(
                "SELECT pg_size_pretty(pg_database_size(current_database()))"
            ).fetchone()[0]
            result["rows"] = {
                t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608 - fixed names
                for t in ("users", "wallet_accounts", "transactions", "ledger_entries")
            }
        log(f"loaded in {result['load_s']} s: {result['database_size']}, {result['rows']}")
        if args.backup != "none":
            started = time.perf_counter()
            pgbackrest(env, f"--type={args.backup}", "backup")
            result["backup"] = {"type": args.backup, "seconds": round(time.perf_counter() - started, 1)}
            log(f"{args.backup} backup in {result['backup']['seconds']} s")

        log(f"{args.writers} writers, {args.rate}/s, for {args.duration} s before the disaster")
        writers_started = time.time()
        with Writers(env, DRILL_DATABASE, scale.wallets, args.writers, args.rate) as writers:
            time.sleep(args.duration)
            event = disaster(env)
            log(f"disaster committed at {event['disaster_commit']}; T = {event['T']}")
            time.sleep(1.0)  # the transfers queued behind the lock fail now
        committed = sorted(writers.committed)
        before = [c for c in committed if c[0] <= event["disaster_at"]]
        after = [c for c in committed if c[0] > event["disaster_at"]]
        refused_after = [e for e in writers.errors if e[0] > event["locked_at"]]

        log(f"restoring into {args.cluster} on port {args.port} (playbooks/restore.yml)")
        target = event["disaster_commit"].astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")
        seen: dict = {}
        stop = threading.Event()
        watcher = threading.Thread(
            target=watch_serving, args=(args.port, DRILL_DATABASE, stop, seen), daemon=True
        )
        watcher.start()
        started = time.time()
        play = run_playbook(
            args.inventory,
            {
                **restore_vars,
                "restore_target_time": target,
                "restore_target_exclusive": True,
                "restore_replace": True,
                "restore_verify_databases": [
                    env.group_vars.get("postgres_server_database", "giftcrypto"),
                    DRILL_DATABASE,
                ],
            },
        )
        verified_at = time.time()
        stop.set()
        watcher.join(timeout=5)
        if play.returncode != 0:
            result["restore_error"] = play.stdout[-4000:] + play.stderr[-2000:]
            raise RuntimeError(f"playbooks/restore.yml failed:\n{result['restore_error']}")
        restored = restored_state(args.port)
        # The playbook's report: "... audit rows verified: N." (every chain of both databases).
        verified = re.search(r"audit\s+rows\s+verified:\s+(\d+)", play.stdout)

        snapshot = event["snapshot"]
        lost = event["transfers_at_T"] - restored["transfers"]
        rpo_s = (event["T"] - restored["newest"]).total_seconds() if restored["newest"] else None
        safe = [c for c in before if c[2] <= event["archived_upto_lsn"]]
        # Had the host died at the disaster, the transfers after the last one whose WAL was archived
        # would be lost (all of the writers' transfers if none was archived yet).
        host_loss_rpo_s = before[-1][0] - (safe[-1][0] if safe else writers_started) if before else 0.0
        result.update(
            {
                "transfers": {
                    "committed_before_disaster": len(before),
                    "in_snapshot_at_T": event["transfers_at_T"],
                    "committed_after_disaster": len(after),
                    "refused_after_disaster": len(refused_after),
                    "first_refusal": refused_after[0][1] if refused_after else "",
                    "restored": restored["transfers"],
                    "lost": lost,
                },
                "T": event["T"].isoformat(),
                "disaster_commit": event["disaster_commit"].isoformat(),
                "restore_target": target + " (exclusive)",
                "restored_newest_commit": restored["newest"].isoformat() if restored["newest"] else None,
                "rpo_s": rpo_s,
                "rpo_host_loss_s": round(host_loss_rpo_s, 3),
                "rpo_host_loss_transfers": len(before) - len(safe),
                "archived_wal_at_disaster": event["archived_wal_at_disaster"],
                "rto_serving_s": (
                    round(seen["serving_at"] - event["disaster_at"], 1) if "serving_at" in seen else None
                ),
                "rto_verified_s": round(verified_at - event["disaster_at"], 1),
                "restore_playbook_s": round(verified_at - started, 1),
                "equal": {t: snapshot["digests"][t] == restored["digests"][t] for t in TABLES},
                "balances_equal": snapshot["balances"] == restored["balances"],
                "balances_at_T": snapshot["balances"],
                "digests_at_T": snapshot["digests"],
                "digests_restored": restored["digests"],
                "audit_verified_by": "giftcrypto.platform.audit_verify in playbooks/restore.yml",
                "audit_rows_verified": int(verified.group(1)) if verified else None,
            }
        )
        checks = {
            "transfers_lost_0": lost == 0,
            "newest_restored_commit_is_T": restored["newest"] == event["T"],
            "no_transfer_committed_after_disaster": not after,
            "ledger_balances_audit_equal": all(result["equal"].values()) and result["balances_equal"],
            "rpo_met": rpo_s is not None and rpo_s <= RPO_TARGET_S and host_loss_rpo_s <= RPO_TARGET_S,
            "rto_met": result["rto_verified_s"] <= RTO_TARGET_S,
            "audit_chains_verified": verified is not None and int(verified.group(1)) > 0,
        }
        result["checks"] = checks
        result["passed"] = all(checks.values())
    finally:
        log("repair: dropping the drill's database from the live cluster")
        load.drop_database(env, DRILL_DATABASE)
        if not args.keep:
            removed = run_playbook(args.inventory, {**restore_vars, "restore_state": "absent"})
            if removed.returncode != 0:
                log(f"could not remove the restored cluster: {removed.stdout[-2000:]}")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    shown = ("transfers", "T", "restore_target", "rpo_s", "rpo_host_loss_s", "rto_serving_s")
    shown = (*shown, "rto_verified_s")
    summary = {k: result.get(k) for k in (*shown, "equal", "balances_equal", "checks")}
    print(json.dumps(summary, indent=2, default=str))
    log(
        f"RPO {result['rpo_s']} s ({result['transfers']['lost']} transfers lost; host loss: "
        f"{result['rpo_host_loss_s']} s), RTO {result['rto_serving_s']} s to serving, "
        f"{result['rto_verified_s']} s to verified: {'PASSED' if result['passed'] else 'FAILED'} ({args.out})"
    )
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
