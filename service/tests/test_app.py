"""The endpoints, through Flask's test client, with the dependencies faked at the boundary."""

from __future__ import annotations

import re

import psycopg
import redis
from giftcrypto_api import __version__
from giftcrypto_api.app import create_app
from giftcrypto_api.auth import AuthSettings
from giftcrypto_api.config import Settings
from giftcrypto_api.metrics import Metrics
from psycopg_pool import PoolTimeout

NO_AUTH = AuthSettings(mode="off")


def test_healthz_answers_without_touching_the_dependencies(client, database, cache):
    database.error = PoolTimeout("down")
    cache.error = redis.ConnectionError("down")
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "version": __version__, "colour": "blue"}
    assert database.calls == 0
    assert cache.calls == 0


def test_readyz_is_200_with_each_dependency_status(client, database, cache, metrics):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"postgres", "redis"}
    for check in body["checks"].values():
        assert check["ok"] is True
        assert check["latency_ms"] >= 0
    assert database.calls == 1
    assert cache.calls == 1
    assert metrics.registry.get_sample_value("giftcrypto_api_dependency_up", {"dependency": "postgres"}) == 1


def test_readyz_is_503_naming_the_failed_dependency(client, database, metrics):
    database.error = psycopg.OperationalError('connection to server at "127.0.0.1", port 6432 failed')
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json
    assert body["status"] == "not ready"
    assert body["failed"] == ["postgres"]
    assert body["checks"]["postgres"] == {"ok": False, "error": "OperationalError"}
    assert body["checks"]["redis"]["ok"] is True
    # The driver's message (hosts, users) is logged, not returned.
    assert "6432" not in response.get_data(as_text=True)
    assert metrics.registry.get_sample_value("giftcrypto_api_dependency_up", {"dependency": "postgres"}) == 0
    assert metrics.registry.get_sample_value("giftcrypto_api_dependency_up", {"dependency": "redis"}) == 1


def test_readyz_names_both_when_both_fail(client, database, cache, json_logs):
    database.error = PoolTimeout("couldn't get a connection after 2.00 sec")
    cache.error = redis.TimeoutError("Timeout connecting to server")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["failed"] == ["postgres", "redis"]
    warnings = [e for e in json_logs.entries() if e["msg"] == "readiness check failed"]
    assert {w["dependency"] for w in warnings} == {"postgres", "redis"}
    assert {w["error_type"] for w in warnings} == {"PoolTimeout", "TimeoutError"}


def test_version_reports_release_colour_sha_and_start(client):
    response = client.get("/version")
    assert response.status_code == 200
    body = response.json
    assert body["service"] == "giftcrypto-api"
    assert body["version"] == __version__
    assert body["colour"] == "blue"
    assert body["release"] == "0.1.0-abc123"
    assert body["environment"] == "local"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["started_at"])
    assert body["uptime_seconds"] == 0


def test_version_leaves_out_what_is_not_given(make_app):
    app, _ = make_app(colour="", release="", git_sha="")
    body = app.test_client().get("/version").json
    assert "colour" not in body
    assert "release" not in body
    assert "git_sha" not in body


def test_version_reports_the_git_sha_when_given(make_app):
    app, _ = make_app(git_sha="0123abc")
    assert app.test_client().get("/version").json["git_sha"] == "0123abc"


def test_stats_reads_the_database_and_counts_in_the_cache(client, cache):
    first = client.get("/api/v1/stats")
    second = client.get("/api/v1/stats")
    assert first.status_code == 200
    assert first.json["database"]["server_time"] == "2025-01-31T12:00:00+00:00"
    assert first.json["cache"]["stats_requests"] == 1
    assert second.json["cache"]["stats_requests"] == 2
    assert first.json["served_by"] == {"version": __version__, "colour": "blue"}
    assert list(cache.counters) == ["giftcrypto:local:api:stats:requests"]


def test_stats_is_503_when_the_database_is_down(client, database, json_logs):
    database.error = PoolTimeout("couldn't get a connection")
    response = client.get("/api/v1/stats")
    assert response.status_code == 503
    assert response.json == {"error": "dependency unavailable", "dependency": "postgres"}
    assert any(e["msg"] == "dependency failed" and e["dependency"] == "postgres" for e in json_logs.entries())


def test_stats_is_503_when_the_cache_is_down(client, cache):
    cache.error = redis.ConnectionError("Connection refused")
    response = client.get("/api/v1/stats")
    assert response.status_code == 503
    assert response.json["dependency"] == "redis"


def test_stats_reads_from_the_read_pool_when_there_is_one(make_app, database, fakes, clock, cache):
    fake_database, _ = fakes
    replica = fake_database()
    replica.name = "postgres_read"
    settings = Settings(colour="blue", auth=NO_AUTH)
    metrics = Metrics(settings)
    app = create_app(settings, database, cache, metrics=metrics, clock=clock, read_database=replica)
    response = app.test_client().get("/api/v1/stats")
    assert response.status_code == 200
    assert (replica.calls, database.calls) == (1, 0)
    assert 'giftcrypto_api_dependency_up{dependency="postgres_read"} 1.0' in metrics.exposition().decode()
    ready = app.test_client().get("/readyz")
    assert set(ready.json["checks"]) == {"postgres", "redis"}, "the replica is not a readiness dependency"


def test_stats_falls_back_to_the_primary_when_the_replica_fails(database, fakes, clock, cache, json_logs):
    fake_database, _ = fakes
    replica = fake_database()
    replica.name = "postgres_read"
    replica.error = PoolTimeout("replica down")
    settings = Settings(colour="blue", auth=NO_AUTH)
    metrics = Metrics(settings)
    app = create_app(settings, database, cache, metrics=metrics, clock=clock, read_database=replica)
    response = app.test_client().get("/api/v1/stats")
    assert response.status_code == 200
    assert (replica.calls, database.calls) == (1, 1)
    assert 'giftcrypto_api_dependency_up{dependency="postgres_read"} 0.0' in metrics.exposition().decode()
    warnings = [e for e in json_logs.entries() if e["msg"] == "read replica failed, reading from the primary"]
    assert warnings and warnings[0]["dependency"] == "postgres_read"


def test_unknown_route_is_a_json_404(client):
    response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.json == {"error": "Not Found", "status": 404}


def test_wrong_method_is_a_json_405(client):
    response = client.post("/healthz")
    assert response.status_code == 405
    assert response.json["status"] == 405


def test_unexpected_error_is_a_json_500_and_logged(app_and_metrics, json_logs, database):
    app, metrics = app_and_metrics
    database.server_time = lambda: (_ for _ in ()).throw(RuntimeError("boom"))
    response = app.test_client().get("/api/v1/stats", headers={"X-Request-Id": "req-500"})
    assert response.status_code == 500
    assert response.json == {"error": "internal error", "request_id": "req-500"}
    errors = [e for e in json_logs.entries() if e["msg"] == "unhandled error"]
    assert errors[0]["error_type"] == "RuntimeError"
    assert "Traceback" in errors[0]["traceback"]
    assert errors[0]["request_id"] == "req-500"
    sample = {"method": "GET", "route": "/api/v1/stats", "code": "500"}
    assert metrics.registry.get_sample_value("http_requests_total", sample) == 1


def test_every_answer_says_nosniff(client):
    """JSON, the exposition and errors alike: a browser must not sniff them into a script or page."""
    for path in ("/healthz", "/version", "/metrics", "/no-such-route"):
        assert client.get(path).headers["X-Content-Type-Options"] == "nosniff", path
