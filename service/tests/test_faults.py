"""GIFTCRYPTO_FAULT, the release-testing knobs of the blue-green acceptance tests (issue 7)."""

from __future__ import annotations

import pytest
from giftcrypto_api.config import Fault


def test_no_fault_by_default(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_unhealthy_fails_health_and_readiness_from_the_start(make_app, database, cache):
    app, _ = make_app(fault="unhealthy")
    client = app.test_client()
    for path in ("/healthz", "/readyz"):
        response = client.get(path)
        assert response.status_code == 503
        assert response.json["reason"] == "fault injection: GIFTCRYPTO_FAULT=unhealthy"
        assert response.json["colour"] == "blue"
    # Not a dependency problem: they are not even asked.
    assert database.calls == 0
    assert cache.calls == 0
    # The other endpoints answer (the release is only unhealthy).
    assert client.get("/version").status_code == 200
    assert client.get("/api/v1/stats").status_code == 200


def test_degrade_after_answers_500_once_the_process_is_old_enough(make_app, clock, json_logs):
    app, metrics = make_app(fault="degrade-after:30")
    client = app.test_client()
    clock.now += 29.9
    assert client.get("/api/v1/stats").status_code == 200
    assert client.get("/readyz").status_code == 200
    clock.now += 0.1
    for path in ("/api/v1/stats", "/readyz", "/no/such/route"):
        response = client.get(path)
        assert response.status_code == 500, path
        assert response.json["reason"] == "fault injection: GIFTCRYPTO_FAULT=degrade-after:30"
    # Exempt: the process stays alive and observable.
    for path in ("/healthz", "/version", "/metrics"):
        assert client.get(path).status_code == 200, path
    sample = {"method": "GET", "route": "/api/v1/stats", "code": "500"}
    assert metrics.registry.get_sample_value("http_requests_total", sample) == 1
    failed = [e for e in json_logs.requests() if e["status"] == 500]
    assert failed[0]["level"] == "error"
    assert failed[0]["fault"] == "degrade-after:30"


def test_degrade_after_zero_degrades_at_once(make_app):
    app, _ = make_app(fault="degrade-after:0")
    assert app.test_client().get("/api/v1/stats").status_code == 500


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", Fault()),
        ("none", Fault()),
        (" NONE ", Fault()),
        ("unhealthy", Fault(mode="unhealthy")),
        ("degrade-after:45", Fault(mode="degrade", after_seconds=45)),
        ("degrade-after:0.5", Fault(mode="degrade", after_seconds=0.5)),
    ],
)
def test_fault_values(value, expected):
    assert Fault.parse(value) == expected


@pytest.mark.parametrize(
    "value", ["broken", "degrade-after:", "degrade-after:-1", "degrade-after:nan", "degrade-after:x"]
)
def test_bad_fault_values_are_refused(value):
    with pytest.raises(ValueError, match="GIFTCRYPTO_FAULT"):
        Fault.parse(value)


def test_fault_rendering_and_predicates():
    assert str(Fault()) == "none"
    assert str(Fault.parse("unhealthy")) == "unhealthy"
    assert str(Fault.parse("degrade-after:2.50")) == "degrade-after:2.5"
    assert Fault.parse("unhealthy").unhealthy
    assert not Fault.parse("unhealthy").degraded(1e9)
    assert Fault.parse("degrade-after:5").degraded(5)
    assert not Fault.parse("degrade-after:5").degraded(4.99)
