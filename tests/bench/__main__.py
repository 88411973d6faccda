"""The database benchmark of issue 5: ``nox -s bench`` (or ``python -m tests.bench``).

    nox -s bench                                  # full scale: load, queries, transfers, report
    nox -s bench -- --scale 0.1                   # a tenth of it
    nox -s bench -- --skip-load                   # reuse the databases of the last load
    nox -s bench -- --only queries --only-query friend_suggestions

Writes ``<out>/results.json``, ``<out>/results.md`` (the tables of docs/benchmarks.md),
``<out>/latency.png`` and ``<out>/explain/<query>.<ours|baseline>.txt``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pathlib
import platform
import sys
import time

import psycopg

ROOT = pathlib.Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.bench import common, load, queries, report, transfers

STAGES = ("load", "queries", "transfers")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 1M users, 5M friendships, 10M tx")
    parser.add_argument("--inventory", type=pathlib.Path, default=ROOT / "inventories" / "local")
    parser.add_argument("--ours", default="giftcrypto_bench", help="our schema's database (recreated)")
    parser.add_argument(
        "--baseline", default="giftcrypto_baseline", help="the baseline's database (recreated)"
    )
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "docs" / "bench")
    parser.add_argument("--iterations", type=int, default=2000, help="timed calls per query and schema")
    parser.add_argument("--budget", type=float, default=120.0, help="max seconds per query on our schema")
    parser.add_argument(
        "--baseline-budget", type=float, default=45.0, help="max seconds per query on the baseline (slow)"
    )
    parser.add_argument("--seconds", type=int, default=60, help="pgbench duration per run")
    parser.add_argument("--clients", type=int, nargs="+", default=[8, 32])
    parser.add_argument(
        "--pool-sizes", type=int, nargs="*", default=[],
        help="also run 32 clients (audit on) at each of these pgBouncer pool sizes (pool sizing)",
    )  # fmt: skip
    parser.add_argument("--pool-seconds", type=int, default=30, help="pgbench duration per pool size")
    parser.add_argument("--workers", type=int, default=2, help="encryption processes of the load")
    parser.add_argument("--skip-load", action="store_true", help="reuse the loaded databases")
    parser.add_argument("--only", action="append", choices=STAGES, help="run only these stages")
    parser.add_argument("--only-query", action="append", help="run only these queries")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    common.check_own_database(args.ours)
    common.check_own_database(args.baseline)
    return args


def machine_facts(env: common.Env, dbname: str) -> dict:
    meminfo = pathlib.Path("/proc/meminfo").read_text().splitlines()
    mem_kb = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
    settings = (
        "server_version", "shared_buffers", "effective_cache_size", "work_mem", "maintenance_work_mem",
        "max_connections", "wal_compression", "synchronous_commit", "max_wal_size", "checkpoint_timeout",
        "random_page_cost", "max_parallel_workers_per_gather", "jit", "shared_preload_libraries",
        "pgaudit.log",
    )  # fmt: skip
    with env.superuser(dbname) as conn:
        pg = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in settings}
        sizes = dict(
            conn.execute("SELECT 'database', pg_size_pretty(pg_database_size(current_database()))").fetchall()
        )
    cpuinfo = pathlib.Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), "?")
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgresql": pg,
        "sizes": sizes,
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    stages = args.only or list(STAGES)
    env = common.Env.from_inventory(args.inventory)
    if env.group_vars.get("platform_environment") != "local":
        print("the benchmark runs against the local environment only")
        return 2
    scale = common.Scale(args.scale)
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.json"
    # A partial run (--skip-load, --only) updates the last results; a run with a load starts afresh.
    keep = results_path.exists() and (args.skip_load or "load" not in stages)
    results = json.loads(results_path.read_text()) if keep else {}
    results.update(
        {
            "scale": args.scale,
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": "nox -s bench -- " + " ".join(argv if argv is not None else sys.argv[1:]),
        }
    )

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

    if "load" in stages and not args.skip_load:
        results["load"] = load.load(env, scale, args.ours, args.baseline, workers=args.workers, log=log)
    if "queries" in stages:
        results["queries"] = queries.run_suite(
            env, scale, args.ours, args.baseline, iterations=args.iterations, budget_s=args.budget,
            baseline_budget_s=args.baseline_budget, explain_dir=args.out / "explain", log=log,
            only=args.only_query,
        )  # fmt: skip
    if "transfers" in stages:
        results["transfers"] = transfers.run_transfers(
            env, args.ours, scale, clients=tuple(args.clients), seconds=args.seconds, log=log
        )
        if args.pool_sizes:
            # The main figures are kept whatever happens to the sweep (it needs pgBouncer's admin console).
            results_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
            try:
                results["transfers"]["pool_sweep"] = transfers.pool_sweep(
                    env, args.ours, scale, args.pool_sizes, clients=max(args.clients),
                    seconds=args.pool_seconds, log=log,
                )  # fmt: skip
            except psycopg.Error as error:
                results["transfers"]["pool_sweep_error"] = str(error)
                log(f"pool sweep not measured: {error}")
    results["machine"] = machine_facts(env, args.ours)
    results_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    (args.out / "results.md").write_text(report.markdown(results))
    if not args.no_plot and results.get("queries"):
        report.plot(results, args.out / "latency.png")
    print(report.markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
