"""Prometheus metrics of the service (one process: no multiprocess mode).

The names and labels are a contract with giftcrypto.platform.monitoring (rules/slo.yml and the
service-red dashboard):

- ``http_requests_total{method,route,code}``: counter of the answered requests;
- ``http_request_duration_seconds{method,route}``: histogram of their duration, with a 1.0 bucket
  (the 1 s latency SLO reads ``le="1.0"``).

``route`` is the URL rule (``/api/v1/stats``), ``unmatched`` for a URL no rule matches, and
``method`` one of the standard methods or ``other``: the label values stay few.
"""

from __future__ import annotations

import prometheus_client
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from giftcrypto_api import __version__
from giftcrypto_api.config import Settings

# The *_created series double every counter's and histogram's series for no use here.
prometheus_client.disable_created_metrics()

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"


class Metrics:
    """The service's metrics, in a registry of their own (one per app: tests do not share state)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, settings: Settings, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests answered, by method, route (URL rule) and status code.",
            ["method", "route", "code"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route (URL rule).",
            ["method", "route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.info = Gauge(
            "giftcrypto_api_info",
            "The running release of the service (always 1).",
            ["version", "colour", "release"],
            registry=self.registry,
        )
        self.info.labels(__version__, settings.colour, settings.release).set(1)
        self.dependency_up = Gauge(
            "giftcrypto_api_dependency_up",
            "Whether the dependency answered the last readiness check (1) or not (0).",
            ["dependency"],
            registry=self.registry,
        )

    @staticmethod
    def method_label(method: str) -> str:
        return method if method in METHODS else "other"

    def observe(self, method: str, route: str | None, code: int, seconds: float) -> None:
        method = self.method_label(method)
        route = route or UNMATCHED
        self.requests.labels(method, route, str(code)).inc()
        self.duration.labels(method, route).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
