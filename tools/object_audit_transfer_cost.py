"""Issue 23's object audit against the transfer benchmark: the audit-on figure with and without it.

    nox -s bench -- --scale 0.1 --only load --out /tmp/bench-ab --no-plot
    .venv/bin/python tools/object_audit_transfer_cost.py [--scale 0.1] [--rounds 3] [--seconds 30]

Against the deployed local platform, under the platform lock, after the bench's load (its database
giftcrypto_bench, our schema with every migration). Each round runs the transfer benchmark's pgbench
(tests/bench/transfers.py: transfer() through pgBouncer, 32 clients) twice, audit chain on then off,
in each of two states of the server and that database, alternated (before, after; after, before; ...)
so that drift of the shared machine falls on both:

- "after" (main since issue 23): `pgaudit.role = rds_pgaudit` and migration 0010's SELECT grants to
  rds_pgaudit on the personal-data and ledger tables, so reads of them are logged as AUDIT: OBJECT;
- "before" (the state before issue 23): `pgaudit.role` empty and the grants revoked.

The server is left in the "after" state, as the platform deploys it. One JSON line per run, and the
medians at the end.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bench import common, transfers

DATABASE = "giftcrypto_bench"
# Migration 0010's grants (roles/db_schema/files/migrations/0010_audit_personal_data_reads.up.sql).
TABLES = "users, user_profiles, wallet_accounts, friendships, transactions, ledger_accounts, ledger_entries"


def set_state(env: common.Env, after: bool) -> dict:
    with env.superuser("postgres") as conn:
        conn.execute(f"ALTER SYSTEM SET pgaudit.role = '{'rds_pgaudit' if after else ''}'")
        conn.execute("SELECT pg_reload_conf()")
    with env.superuser(DATABASE) as conn:
        if after:
            conn.execute(f"GRANT SELECT ON {TABLES} TO rds_pgaudit")
        else:
            conn.execute(f"REVOKE ALL ON {TABLES} FROM rds_pgaudit")
    time.sleep(1)  # the reload reaches every backend (pgBouncer's server connections included)
    with env.superuser(DATABASE) as conn:
        role = conn.execute("SHOW pgaudit.role").fetchone()[0]
        grants = conn.execute(
            "SELECT count(*) FROM information_schema.role_table_grants WHERE grantee = 'rds_pgaudit'"
        ).fetchone()[0]
    if (role == "rds_pgaudit") != after or (grants > 0) != after:
        raise SystemExit(f"state not set: pgaudit.role={role!r}, rds_pgaudit grants={grants}")
    return {"pgaudit_role": role, "grants": grants}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inventory", type=pathlib.Path, default=ROOT / "inventories" / "local")
    parser.add_argument("--scale", type=float, default=0.1, help="the scale the bench loaded")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=30, help="pgbench duration per run")
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args(argv)
    env = common.Env.from_inventory(args.inventory)
    scale = common.Scale(args.scale)
    runs = []
    try:
        for number in range(1, args.rounds + 1):
            for after in (False, True) if number % 2 else (True, False):
                state = set_state(env, after)
                for chain in (True, False):
                    result = transfers.run_pgbench(env, DATABASE, scale, args.clients, args.seconds, chain)
                    row = {
                        "round": number,
                        "state": "after" if after else "before",
                        "audit_chain": chain,
                        "tps": result["tps"],
                        "p95_ms": result.get("p95_ms"),
                        "load_average": pathlib.Path("/proc/loadavg").read_text().split()[:3],
                        **state,
                    }
                    runs.append(row)
                    print(json.dumps(row), flush=True)
    finally:
        set_state(env, True)
    for chain in (True, False):
        medians = {
            state: statistics.median(
                r["tps"] for r in runs if r["state"] == state and r["audit_chain"] == chain
            )
            for state in ("before", "after")
        }
        change = (medians["after"] - medians["before"]) / medians["before"] * 100
        print(json.dumps({"audit_chain": chain, "median_tps": medians, "change_pct": round(change, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
