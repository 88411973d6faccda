"""/metrics: the names and labels giftcrypto.platform.monitoring's SLO rules and dashboards read."""

from __future__ import annotations

from giftcrypto_api import __version__
from prometheus_client.parser import text_string_to_metric_families


def families(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(response.get_data(as_text=True))}


def test_requests_are_counted_by_method_route_and_code(client, metrics):
    client.get("/healthz")
    client.get("/healthz")
    client.get("/readyz")
    client.get("/nothing/here/42")
    value = metrics.registry.get_sample_value
    assert value("http_requests_total", {"method": "GET", "route": "/healthz", "code": "200"}) == 2
    assert value("http_requests_total", {"method": "GET", "route": "/readyz", "code": "200"}) == 1
    # The route is the URL rule, never the raw path: unmatched URLs share one label value.
    assert value("http_requests_total", {"method": "GET", "route": "unmatched", "code": "404"}) == 1


def test_the_exposition_has_the_slo_metric_names_and_labels(client):
    client.get("/api/v1/stats")
    found = families(client)
    counter = found["http_requests"]  # the parser strips _total off a counter's name
    assert counter.type == "counter"
    samples = [s for s in counter.samples if s.name == "http_requests_total"]
    assert {"method", "route", "code"} == set(samples[0].labels)
    assert {"method": "GET", "route": "/api/v1/stats", "code": "200"} in [s.labels for s in samples]

    histogram = found["http_request_duration_seconds"]
    assert histogram.type == "histogram"
    buckets = [s for s in histogram.samples if s.name.endswith("_bucket")]
    assert {"method", "route", "le"} == set(buckets[0].labels)
    # The 1 s latency SLO reads le="1.0".
    assert any(s.labels["le"] == "1.0" for s in buckets)
    # No *_created series.
    assert not any(s.name.endswith("_created") for f in found.values() for s in f.samples)


def test_the_metrics_endpoint_counts_itself_and_text_is_prometheus(client):
    client.get("/metrics")
    body = client.get("/metrics").get_data(as_text=True)
    assert "# TYPE http_requests_total counter" in body
    assert 'http_requests_total{code="200",method="GET",route="/metrics"} 1.0' in body


def test_info_and_process_metrics(client):
    found = families(client)
    info = found["giftcrypto_api_info"].samples[0]
    assert info.labels == {"version": __version__, "colour": "blue", "release": "0.1.0-abc123"}
    assert info.value == 1
    assert "process_cpu_seconds" in found or "process_cpu_seconds_total" in {
        s.name for f in found.values() for s in f.samples
    }


def test_unusual_methods_share_one_label_value(client, metrics):
    # No URL rule matches a method a route does not allow: the route is "unmatched" too.
    client.open("/healthz", method="PROPFIND")
    assert (
        metrics.registry.get_sample_value(
            "http_requests_total", {"method": "other", "route": "unmatched", "code": "405"}
        )
        == 1
    )


def test_duration_is_observed_per_method_and_route(client, metrics):
    client.get("/version")
    labels = {"method": "GET", "route": "/version"}
    assert metrics.registry.get_sample_value("http_request_duration_seconds_count", labels) == 1
    assert metrics.registry.get_sample_value("http_request_duration_seconds_sum", labels) >= 0
