"""Verify of the monitoring scenario: the stack answers on its own ports, scrapes itself, loads
the role's rules, and a critical alert posted to Alertmanager reaches the pager, chat and e-mail
receivers (the webhook) through the role's routing."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid

PROMETHEUS = "http://127.0.0.1:29090"
ALERTMANAGER = "http://127.0.0.1:29093"
WEBHOOK = "http://127.0.0.1:29095"


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback http only
        return json.load(response)


def test_daemons_listen_on_loopback_only(host):
    for port in (29090, 29093, 29100, 29095):
        assert host.socket(f"tcp://127.0.0.1:{port}").is_listening
        assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening


def test_every_target_is_up():
    targets = get_json(f"{PROMETHEUS}/api/v1/targets?state=active")["data"]["activeTargets"]
    assert {t["labels"]["job"] for t in targets} == {"prometheus", "alertmanager", "node"}
    assert {t["health"] for t in targets} == {"up"}


def test_the_role_rules_are_loaded():
    groups = get_json(f"{PROMETHEUS}/api/v1/rules")["data"]["groups"]
    names = {rule["name"] for group in groups for rule in group["rules"]}
    assert {"PostgresDown", "RedisDown", "TargetDown", "HostDiskSpaceLow", "ApiErrorBudgetBurn"} <= names


def test_secret_and_config_permissions(host):
    secrets = host.file("/etc/giftcrypto/monitoring-molecule/secrets")
    assert secrets.is_directory and secrets.mode == 0o750 and secrets.group == "prometheus"
    assert host.file("/etc/giftcrypto/monitoring-molecule/prometheus.yml").user == "root"


def test_a_critical_alert_reaches_every_critical_receiver():
    marker = uuid.uuid4().hex
    alert = [{"labels": {"alertname": "MoleculeProbe", "severity": "critical", "probe": marker}}]
    request = urllib.request.Request(  # noqa: S310 - loopback http only
        f"{ALERTMANAGER}/api/v2/alerts",
        data=json.dumps(alert).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=5).close()  # noqa: S310 - loopback http only
    deadline = time.time() + 30
    receivers: set[str] = set()
    while time.time() < deadline and not {"pager", "chat", "email"} <= receivers:
        receivers = {
            note["receiver"]
            for note in get_json(f"{WEBHOOK}/notifications")
            if any(a["labels"].get("probe") == marker for a in note["alerts"])
        }
        time.sleep(0.5)
    assert {"pager", "chat", "email"} <= receivers
    assert "security" not in receivers
