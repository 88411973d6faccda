"""The local monitoring stack as deploy-local leaves it (issue 6): every target up, no alert
firing on a healthy environment, failed database logins counted from the logs and alerted on,
business metrics readable by the monitoring login only as counts, secrets never on a command line,
and every daemon we wrote or configure logging JSON.

Named test_01 so it runs right after test_00_lifecycle rebuilt the environment and before tests
that deliberately fail logins (the security alert would then fire, rightly)."""

from __future__ import annotations

import json
import pathlib
import secrets
import time

import psycopg
import pytest

from tests.integration.fixtures_monitoring import http_json

EXPECTED_JOBS = {
    "prometheus",
    "alertmanager",
    "node",
    "postgres",
    "pgbouncer",
    "redis",
    "mtail",
    "giftcrypto-api",
}
RUN_DIR = pathlib.Path("/run/giftcrypto-monitoring")
LOG_DIR = pathlib.Path("/var/log/giftcrypto/monitoring")
# Daemons whose log is JSON lines; mtail logs in glog's format (it has no JSON option).
JSON_LOGS = ["prometheus", "alertmanager", "node_exporter", "postgres_exporter", "redis_exporter", "webhook"]


def test_every_target_is_up(monitoring):
    targets = monitoring.targets()
    jobs = {t["labels"]["job"] for t in targets}
    assert jobs == EXPECTED_JOBS
    down = [(t["labels"]["job"], t["lastError"]) for t in targets if t["health"] != "up"]
    assert down == []


def test_every_rule_file_is_loaded_and_healthy(monitoring):
    body = http_json(f"{monitoring.prometheus}/api/v1/rules")
    rules = [r for g in body["data"]["groups"] for r in g["rules"]]
    alerts = {r["name"] for r in rules if r["type"] == "alerting"}
    assert {"PostgresDown", "RedisDown", "TargetDown", "PostgresAuthenticationFailures"} <= alerts
    assert [r["name"] for r in rules if r["health"] != "ok"] == []


def test_no_alert_fires_on_a_healthy_environment(monitoring):
    firing = [a["labels"]["alertname"] for a in monitoring.alerts() if a["state"] == "firing"]
    assert firing == []


def test_exporters_see_the_services(monitoring):
    for promql in ("pg_up", "redis_up", "pgbouncer_up"):
        result = monitoring.query(promql)
        assert result, f"{promql}: no series"
        assert {r["value"][1] for r in result} == {"1"}, (promql, result)


def test_business_metrics_are_exported(monitoring):
    registrations = monitoring.query("giftcrypto_business_user_registrations_per_minute")
    gifts = monitoring.query("giftcrypto_gift_transactions_per_minute")
    assert len(registrations) == 1
    assert {r["metric"]["status"] for r in gifts} == {"pending", "confirmed", "failed", "cancelled"}


def test_monitoring_login_reads_counts_not_rows(secret):
    monitor = secret("postgres/monitor")
    conninfo = {
        "host": monitor["host"],
        "port": monitor["port"],
        "dbname": monitor["dbname"],
        "user": monitor["username"],
        "password": monitor["password"],
        "sslmode": "verify-full",
        "sslrootcert": monitor["sslrootcert"],
    }
    with psycopg.connect(**conninfo, autocommit=True) as conn:
        count = conn.execute("SELECT metrics_user_registrations_last_minute()").fetchone()[0]
        assert count >= 0
        for table in ("users", "user_profiles", "transactions", "wallet_accounts"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed table names


def test_failed_logins_are_counted_and_alerted(monitoring, local_vars):
    """Wrong passwords against PostgreSQL and pgBouncer are counted by mtail from the servers'
    logs, scraped by Prometheus, and more than 10 in 5 minutes page (PostgresAuthenticationFailures)."""
    user = f"intruder_{secrets.token_hex(4)}"
    pg_port = local_vars["postgres_server_port"]
    bouncer_port = local_vars["postgres_server_pgbouncer_port"]

    def fail_login(port: int) -> None:
        with pytest.raises(psycopg.OperationalError, match="authentication failed"):
            psycopg.connect(
                host="127.0.0.1",
                port=port,
                dbname="giftcrypto",
                user=user,
                password="wrong",
                sslmode="require",
            ).close()

    started = time.time()
    fail_login(pg_port)
    deadline = time.time() + 15
    while monitoring.mtail_counter("giftcrypto_postgres_auth_failures_total", user=user) < 1:
        assert time.time() < deadline, "mtail did not count a failed login within 15 s"
        time.sleep(0.2)
    # Let Prometheus scrape the new series once, so the burst below is an increase.
    deadline = time.time() + 20
    while not monitoring.query(f'giftcrypto_postgres_auth_failures_total{{user="{user}"}}'):
        assert time.time() < deadline, "Prometheus did not scrape the counter within 20 s"
        time.sleep(0.5)
    for _ in range(12):
        fail_login(pg_port)
    with pytest.raises(psycopg.OperationalError, match=r"authentication failed|no such user"):
        psycopg.connect(
            host="127.0.0.1",
            port=bouncer_port,
            dbname="giftcrypto",
            user="app_rw",
            password=secrets.token_hex(8),
            sslmode="require",
        ).close()
    deadline = time.time() + 15
    while (
        monitoring.mtail_counter("giftcrypto_postgres_auth_failures_total", user=user, source="postgres") < 13
    ):
        assert time.time() < deadline, "mtail did not count all 13 failed logins"
        time.sleep(0.2)
    # pgBouncer writes its own log, which mtail reads on its own schedule: wait for it as well.
    deadline = time.time() + 15
    counter = "giftcrypto_postgres_auth_failures_total"
    while monitoring.mtail_counter(counter, user="app_rw", source="pgbouncer") < 1:
        assert time.time() < deadline, "mtail did not count the failed login through pgBouncer within 15 s"
        time.sleep(0.2)

    note = monitoring.wait_for_notification(
        "PostgresAuthenticationFailures", "firing", after=started, timeout=60
    )
    assert note is not None, "no PostgresAuthenticationFailures notification within 60 s"
    alerts = [a for a in note["alerts"] if a["labels"]["alertname"] == "PostgresAuthenticationFailures"]
    assert any(a["labels"].get("user") == user for a in alerts)
    assert all(a["annotations"].get("runbook_url") for a in alerts)


def test_no_secret_on_any_daemon_command_line(secret):
    """/proc/<pid>/cmdline is world-readable: passwords go through files or the environment."""
    passwords = [secret("postgres/monitor")["password"], secret("redis/monitor")["password"]]
    pidfiles = sorted(RUN_DIR.glob("*.pid"))
    assert len(pidfiles) >= 8
    for pidfile in pidfiles:
        cmdline = pathlib.Path(f"/proc/{pidfile.read_text().strip()}/cmdline").read_bytes().decode()
        for password in passwords:
            assert password not in cmdline, pidfile.name


def test_secret_files_are_not_world_readable():
    for path in pathlib.Path("/etc/giftcrypto/monitoring/secrets").iterdir():
        assert path.stat().st_mode & 0o007 == 0, path


@pytest.mark.parametrize("daemon", JSON_LOGS)
def test_daemon_logs_are_json(daemon):
    lines = [line for line in (LOG_DIR / f"{daemon}.log").read_text().splitlines() if line.strip()]
    assert lines, f"{daemon} logged nothing"
    for line in lines[-20:]:
        record = json.loads(line)
        assert {"level"} <= record.keys() and ({"ts", "time"} & record.keys()), (daemon, record)
