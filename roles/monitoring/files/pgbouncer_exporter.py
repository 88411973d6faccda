"""Prometheus exporter of pgBouncer's own statistics (SHOW POOLS, STATS, DATABASES, CONFIG).

Why not a packaged exporter: Debian 12's prometheus-pgbouncer-exporter 1.7 reads SHOW STATS
columns that pgBouncer removed in 1.8 (total_requests) and fails every scrape against Debian 12's
pgBouncer 1.18 (KeyError: 'total_requests'); the PyPI exporters pin psycopg2 2.8 (a source build).
This one uses Debian's python3-prometheus-client and python3-psycopg2 (pgBouncer's admin console
speaks only the simple query protocol, which psycopg2 uses) and the metric names of
prometheus-community/pgbouncer_exporter, so dashboards and rules carry over to EKS.

Connection: libpq environment (PGHOST, PGPORT, PGUSER, PGPASSFILE, PGSSLMODE, PGSSLROOTCERT), database
"pgbouncer". One connection per scrape; pgbouncer_up is 0 when it fails. Logs are JSON lines.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import psycopg2
import psycopg2.extras
from prometheus_client import start_http_server
from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily

# SHOW POOLS column -> (metric, help); one series per (database, user).
POOLS = {
    "cl_active": ("pgbouncer_pools_client_active_connections", "Client connections linked to a server"),
    "cl_waiting": ("pgbouncer_pools_client_waiting_connections", "Client connections waiting for a server"),
    "sv_active": ("pgbouncer_pools_server_active_connections", "Server connections linked to a client"),
    "sv_idle": ("pgbouncer_pools_server_idle_connections", "Server connections idle and ready"),
    "sv_used": ("pgbouncer_pools_server_used_connections", "Server connections idle, not yet checked"),
    "sv_tested": ("pgbouncer_pools_server_testing_connections", "Server connections being tested"),
    "sv_login": ("pgbouncer_pools_server_login_connections", "Server connections logging in"),
}
# SHOW STATS column -> (metric, help, divisor); counters, one series per database.
STATS = {
    "total_xact_count": ("pgbouncer_stats_sql_transactions_pooled_total", "Transactions pooled", 1),
    "total_query_count": ("pgbouncer_stats_queries_pooled_total", "Queries pooled", 1),
    "total_received": ("pgbouncer_stats_received_bytes_total", "Bytes received from clients", 1),
    "total_sent": ("pgbouncer_stats_sent_bytes_total", "Bytes sent to clients", 1),
    "total_xact_time": ("pgbouncer_stats_server_in_transaction_seconds_total", "Time in transactions", 1e6),
    "total_query_time": ("pgbouncer_stats_queries_duration_seconds_total", "Time running queries", 1e6),
    "total_wait_time": ("pgbouncer_stats_client_wait_seconds_total", "Time clients waited for a server", 1e6),
}


def log(level: str, msg: str, **fields: object) -> None:
    """One structured JSON log line on stderr."""
    record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z", "level": level, "msg": msg}
    record.update(fields)
    sys.stderr.write(json.dumps(record) + "\n")
    sys.stderr.flush()


def show(cursor: psycopg2.extras.RealDictCursor, what: str) -> list[dict]:
    cursor.execute(f"SHOW {what}")
    return list(cursor.fetchall())


class PgBouncerCollector:
    """Collects pgBouncer's statistics on every scrape."""

    def collect(self):
        up = GaugeMetricFamily("pgbouncer_up", "1 when the admin console answered this scrape")
        try:
            conn = psycopg2.connect(dbname="pgbouncer", connect_timeout=3)
            try:
                # The admin console knows no BEGIN: every SHOW runs on its own.
                conn.autocommit = True
                with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
                    pools, stats = show(cursor, "POOLS"), show(cursor, "STATS")
                    databases, config = show(cursor, "DATABASES"), show(cursor, "CONFIG")
            finally:
                conn.close()
        except psycopg2.Error as error:
            log("error", "scrape failed", error=str(error).strip())
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up

        for column, (name, help_text) in POOLS.items():
            family = GaugeMetricFamily(name, help_text, labels=["database", "user"])
            for row in pools:
                family.add_metric([row["database"], row["user"]], float(row[column]))
            yield family
        family = GaugeMetricFamily(
            "pgbouncer_pools_client_maxwait_seconds",
            "Age of the oldest waiting client",
            labels=["database", "user"],
        )
        for row in pools:
            family.add_metric(
                [row["database"], row["user"]],
                float(row["maxwait"]) + float(row.get("maxwait_us") or 0) / 1e6,
            )
        yield family

        for column, (name, help_text, divisor) in STATS.items():
            family = CounterMetricFamily(name.removesuffix("_total"), help_text, labels=["database"])
            for row in stats:
                family.add_metric([row["database"]], float(row[column]) / divisor)
            yield family

        for column, name, help_text in (
            ("pool_size", "pgbouncer_databases_pool_size", "Server connections per pool"),
            (
                "max_connections",
                "pgbouncer_databases_max_connections",
                "Server connections allowed (0: no limit)",
            ),
            ("current_connections", "pgbouncer_databases_current_connections", "Server connections open"),
        ):
            family = GaugeMetricFamily(name, help_text, labels=["database"])
            for row in databases:
                family.add_metric([row["name"]], float(row[column] or 0))
            yield family

        settings = {row["key"]: row["value"] for row in config}
        family = GaugeMetricFamily("pgbouncer_config_max_client_connections", "max_client_conn")
        family.add_metric([], float(settings.get("max_client_conn", 0)))
        yield family


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9127)
    args = parser.parse_args()
    REGISTRY.register(PgBouncerCollector())
    start_http_server(args.port, addr=args.address)
    log("info", "listening", address=args.address, port=args.port)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
