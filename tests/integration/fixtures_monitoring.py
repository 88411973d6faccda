"""Fixtures of the local monitoring stack (giftcrypto.platform.monitoring): Prometheus, mtail and
the webhook receiver that records Alertmanager's notifications, all on loopback."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request

import pytest


def http_json(url: str, timeout: float = 5.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback http only
        return json.load(response)


def http_text(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback http only
        return response.read().decode()


class Monitoring:
    """Ports from the local inventory (role defaults where the inventory is silent)."""

    def __init__(self, local_vars: dict) -> None:
        self.host = local_vars.get("monitoring_listen_address", "127.0.0.1")
        self.prometheus = f"http://{self.host}:{local_vars.get('monitoring_prometheus_port', 9090)}"
        self.alertmanager = f"http://{self.host}:{local_vars.get('monitoring_alertmanager_port', 9093)}"
        self.webhook = f"http://{self.host}:{local_vars.get('monitoring_webhook_port', 9095)}"
        self.mtail = f"http://{self.host}:{local_vars.get('monitoring_mtail_port', 3903)}"

    def query(self, promql: str) -> list[dict]:
        """An instant query; the result vector."""
        url = f"{self.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        body = http_json(url)
        assert body["status"] == "success", body
        return body["data"]["result"]

    def targets(self) -> list[dict]:
        return http_json(f"{self.prometheus}/api/v1/targets?state=active")["data"]["activeTargets"]

    def alerts(self) -> list[dict]:
        return http_json(f"{self.prometheus}/api/v1/alerts")["data"]["alerts"]

    def notifications(self) -> list[dict]:
        """Every notification the webhook receiver recorded (oldest first)."""
        return http_json(f"{self.webhook}/notifications")

    def wait_for_notification(self, alertname: str, status: str, after: float, timeout: float) -> dict | None:
        """The first notification received after `after` whose alerts include alertname in status."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for note in self.notifications():
                if note["received_at"] < after:
                    continue
                if any(
                    alert["labels"].get("alertname") == alertname and alert["status"] == status
                    for alert in note.get("alerts", [])
                ):
                    return note
            time.sleep(0.5)
        return None

    def mtail_counter(self, name: str, **labels: str) -> float:
        """Sum of the mtail series of `name` whose labels include `labels` (0 when there is none)."""
        body = http_json(f"{self.mtail}/json")
        total = 0.0
        for metric in body:
            if metric.get("Name") != name:
                continue
            keys = metric.get("Keys") or []
            for datum in metric.get("LabelValues") or []:
                values = dict(zip(keys, datum.get("Labels") or [], strict=False))
                if all(values.get(k) == v for k, v in labels.items()):
                    total += float(datum["Value"]["Value"])
        return total


@pytest.fixture(scope="session")
def monitoring(local_vars) -> Monitoring:
    return Monitoring(local_vars)
