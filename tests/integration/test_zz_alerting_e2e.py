"""End-to-end alerting (issue 6): stop Redis, then PostgreSQL, for real; the webhook receiver that
stands in for the pager must get the firing notification within 30 s of the fault, and the
resolved one after the restart. Fault-to-notification latencies are written to
tests/output/alerting_e2e.json (recorded in docs/benchmarks.md).

Named test_zz so it runs last: it takes the data servers down (and brings them back)."""

from __future__ import annotations

import json
import pathlib
import subprocess
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "tests" / "output" / "alerting_e2e.json"
TARGET_SECONDS = 30.0
REDIS_PIDFILE = "/run/giftcrypto-redis-giftcrypto/redis-server.pid"
REDIS_START = [
    "start-stop-daemon",
    "--start",
    "--pidfile",
    REDIS_PIDFILE,
    "--chuid",
    "redis:redis",
    "--exec",
    "/usr/bin/redis-server",
    "--",
    "/etc/giftcrypto/redis/redis.conf",
]
REDIS_STOP = ["start-stop-daemon", "--stop", "--pidfile", REDIS_PIDFILE, "--exec", "/usr/bin/redis-server",
              "--retry", "TERM/15/KILL/5"]  # fmt: skip
PG_STOP = ["pg_ctlcluster", "15", "giftcrypto", "stop", "--mode", "fast"]
PG_START = ["pg_ctlcluster", "15", "giftcrypto", "start"]

RESULTS: dict[str, dict] = {}


def _record() -> None:
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(RESULTS, indent=2, sort_keys=True) + "\n")


def _wait_up(monitoring, metric: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if monitoring.query(f"{metric} == 1"):
            return
        time.sleep(1)
    pytest.fail(f"{metric} not back at 1 within {timeout} s")


@pytest.mark.parametrize(
    ("service", "alertname", "metric", "stop", "start"),
    [
        ("redis", "RedisDown", "redis_up", REDIS_STOP, REDIS_START),
        ("postgres", "PostgresDown", "pg_up", PG_STOP, PG_START),
    ],
)
def test_service_down_pages_within_30_seconds_and_resolves(
    monitoring, service, alertname, metric, stop, start
):
    _wait_up(monitoring, metric)
    assert not [a for a in monitoring.alerts() if a["labels"]["alertname"] == alertname]

    subprocess.run(stop, check=True, capture_output=True)
    fault = time.time()
    try:
        firing = monitoring.wait_for_notification(alertname, "firing", after=fault, timeout=90)
    finally:
        subprocess.run(start, check=True, capture_output=True)
        restarted = time.time()
    assert firing is not None, f"no {alertname} firing notification within 90 s"
    fire_latency = firing["received_at"] - fault

    resolved = monitoring.wait_for_notification(alertname, "resolved", after=restarted, timeout=120)
    assert resolved is not None, f"no {alertname} resolved notification within 120 s of the restart"
    resolve_latency = resolved["received_at"] - restarted

    receivers = {
        note["receiver"]
        for note in monitoring.notifications()
        if note["received_at"] >= fault
        and note["status"] == "firing"
        and any(a["labels"].get("alertname") == alertname for a in note["alerts"])
    }
    RESULTS[service] = {
        "alert": alertname,
        "fault_to_firing_notification_s": round(fire_latency, 2),
        "restart_to_resolved_notification_s": round(resolve_latency, 2),
        "receivers": sorted(receivers),
        "target_s": TARGET_SECONDS,
    }
    _record()
    # Critical alerts reach the pager, chat and e-mail receivers (all the webhook locally).
    assert {"pager", "chat", "email"} <= receivers
    assert fire_latency <= TARGET_SECONDS, f"{alertname}: {fire_latency:.1f} s from fault to notification"
    _wait_up(monitoring, metric)
