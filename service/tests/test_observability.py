"""Errors and traces leave the process in the expected shape; both stay off without a destination.

No SDK is mocked: the Sentry SDK and OpenTelemetry's SDK and OTLP/HTTP exporter run as in
production and send over HTTP to a receiver on loopback started by the test, which keeps what
arrives: Sentry's envelopes (POST /api/<project>/envelope/) and OTLP protobuf (POST /v1/traces).
The app is built by the worker's own path (server.build_app), its database and cache faked at the
boundary as in the other unit tests; an unexpected error is a ZeroDivisionError raised where the
database's answer is read.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import logging
import threading
import types
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sentry_sdk
from giftcrypto_api import observability, server
from giftcrypto_api.auth import AuthSettings
from giftcrypto_api.config import ConfigError, Settings
from giftcrypto_api.credentials import (
    Credentials,
    DatabaseCredentials,
    RedisCredentials,
    load_credentials,
    otlp_headers,
    sentry_dsn,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from sentry_sdk.envelope import Envelope

SENTRY_KEY = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"  # pragma: allowlist secret
SENTRY_PROJECT = "42"
LICENSE_KEY = "NRAK-never-logged-0123456789abcdef"  # pragma: allowlist secret


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """What a loopback HTTP server received, and the status it answers with."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    status: int = 200

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]


def _decoded(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "br":
        import brotli  # only if the SDK found it installed

        return brotli.decompress(body)
    return body


@pytest.fixture
def receiver():
    """An HTTP server on 127.0.0.1 keeping every POST (body decompressed), answering `status`."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            encoding = self.headers.get("Content-Encoding", "")
            headers = {k.lower(): v for k, v in self.headers.items()}
            state.requests.append(Received(self.path, headers, _decoded(body, encoding)))
            answer = b"{}" if "/envelope/" in self.path else b""
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json" if answer else "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def sentry_off():
    """Each test starts and ends without a Sentry client (the SDK's client is process-wide)."""
    sentry_sdk.get_global_scope().set_client(None)
    yield
    sentry_sdk.get_client().close(timeout=1)
    sentry_sdk.get_global_scope().set_client(None)


@pytest.fixture
def worker(monkeypatch, fakes):
    """Builds the app as the gunicorn worker does (fake database and cache); returns (app, database)."""
    fake_database, fake_cache = fakes
    import giftcrypto_api.dependencies as dependencies

    made = {}

    def fake(cls):
        def build(*args, **kwargs):
            made.setdefault(kwargs.get("name", cls.name), cls())
            return made[kwargs.get("name", cls.name)]

        return build

    monkeypatch.setattr(dependencies, "Database", fake(fake_database))
    monkeypatch.setattr(dependencies, "Cache", fake(fake_cache))

    def build(settings: Settings, dsn: str = "", headers: dict[str, str] | None = None):
        credentials = Credentials(
            DatabaseCredentials("app_rw", "pw", "127.0.0.1", 6432, "giftcrypto"),
            RedisCredentials("app", "pw", "127.0.0.1", 6379),
            sentry_dsn=dsn,
            otlp_headers=headers or {},
        )
        # Errors and traces are tested without authentication (test_auth.py tests it).
        app = server.build_app(dataclasses.replace(settings, auth=AuthSettings(mode="off")), credentials)
        return app, made["postgres"]

    return build


def _break(database) -> None:
    """The database answers something that makes the endpoint fail: an unexpected error, a 500."""

    def server_time():
        return 1 / 0

    database.server_time = server_time


def _stop(app) -> None:
    """The worker's exit: flushes what the SDKs queued."""
    server._worker_exit(None, types.SimpleNamespace(wsgi=app, pid=1))


def _spans(receiver: Receiver) -> list[tuple[dict, Span]]:
    """(resource attributes, span) of every span the receiver got."""
    spans = []
    for request in receiver.at("/v1/traces"):
        export = ExportTraceServiceRequest.FromString(request.body)
        for resource_spans in export.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                spans += [(resource, span) for span in scope_spans.spans]
    return spans


def _attributes(span: Span) -> dict:
    values = {}
    for attribute in span.attributes:
        value = attribute.value
        values[attribute.key] = getattr(value, value.WhichOneof("value"))
    return values


def _events(receiver: Receiver) -> list[dict]:
    events = []
    for request in receiver.at(f"/api/{SENTRY_PROJECT}/envelope/"):
        event = Envelope.deserialize(request.body).get_event()
        if event is not None:
            events.append(event)
    return events


def test_an_unexpected_error_reaches_sentry_and_its_trace_the_otlp_receiver(receiver, worker, json_logs):
    settings = Settings(
        environment="staging",
        colour="green",
        release="0.1.0-abc123",
        otlp_endpoint=receiver.origin,
        otlp_headers_id="giftcrypto/staging/otlp/headers",  # pragma: allowlist secret
    )
    dsn = f"http://{SENTRY_KEY}@127.0.0.1:{receiver.port}/{SENTRY_PROJECT}"
    app, database = worker(settings, dsn, {"api-key": LICENSE_KEY})
    _break(database)
    client = app.test_client()

    response = client.get("/api/v1/stats", headers={"X-Request-Id": "req-500"})
    assert response.status_code == 500
    assert client.get("/healthz").status_code == 200
    _stop(app)

    # The trace: one server span (the probe is not traced), its error recorded, the vendor's header sent.
    (traces,) = receiver.at("/v1/traces")
    assert traces.headers["content-type"] == "application/x-protobuf"
    assert traces.headers["api-key"] == LICENSE_KEY
    (resource, span), *others = _spans(receiver)
    assert others == [], "only the API request is traced, not /healthz"
    assert resource["service.name"] == "giftcrypto-api"
    assert resource["deployment.environment.name"] == "staging"
    assert resource["giftcrypto.colour"] == "green"
    assert span.kind == Span.SPAN_KIND_SERVER
    assert span.name == "GET /api/v1/stats"
    attributes = _attributes(span)
    assert attributes["http.route"] == "/api/v1/stats"
    assert attributes["http.status_code"] == 500
    assert span.status.code == Status.STATUS_CODE_ERROR
    (exception,) = [e for e in span.events if e.name == "exception"]
    recorded = {a.key: a.value.string_value for a in exception.attributes}
    assert recorded["exception.type"] == "ZeroDivisionError"
    assert recorded["exception.message"] == "division by zero"
    trace_id = span.trace_id.hex()
    assert len(trace_id) == 32 and int(trace_id, 16) != 0

    # The error: one event, grouped by the SDK from its type and stack, tagged with the ids.
    envelopes = receiver.at(f"/api/{SENTRY_PROJECT}/envelope/")
    assert all(f"sentry_key={SENTRY_KEY}" in e.headers["x-sentry-auth"] for e in envelopes)
    (event,) = _events(receiver)
    (error,) = event["exception"]["values"]
    assert error["type"] == "ZeroDivisionError"
    assert error["value"] == "division by zero"
    assert error["mechanism"]["handled"] is True
    functions = [frame["function"] for frame in error["stacktrace"]["frames"]]
    assert functions[-1] == "server_time", functions
    assert "stats" in functions and "read_only" in functions
    assert event["environment"] == "staging"
    assert event["release"] == "0.1.0-abc123"
    assert event["tags"]["request_id"] == "req-500"
    assert event["tags"]["trace_id"] == trace_id
    assert event["tags"]["colour"] == "green"
    assert "user" not in event or "ip_address" not in event["user"], "no personal data is sent"
    assert all("vars" not in frame for frame in error["stacktrace"]["frames"]), "no local variables"

    # The request's log line carries the same trace id; the start line names no secret.
    (line,) = [e for e in json_logs.requests() if e["route"] == "/api/v1/stats"]
    assert line["trace_id"] == trace_id
    (ready,) = [e for e in json_logs.entries() if e["msg"] == "ready to serve"]
    assert ready["errors"] == "sentry"
    assert ready["traces"] == receiver.origin


def test_a_dependency_outage_is_traced_but_not_an_error_event(receiver, worker):
    settings = Settings(otlp_endpoint=receiver.origin)
    dsn = f"http://{SENTRY_KEY}@127.0.0.1:{receiver.port}/{SENTRY_PROJECT}"
    app, database = worker(settings, dsn)
    database.error = OSError("connection refused")
    assert app.test_client().get("/api/v1/stats").status_code == 503
    _stop(app)
    assert _events(receiver) == []
    ((_, span),) = _spans(receiver)
    assert _attributes(span)["http.status_code"] == 503
    assert "api-key" not in receiver.at("/v1/traces")[0].headers


def test_the_sample_ratio_zero_sends_no_span(receiver, worker):
    app, _ = worker(Settings(otlp_endpoint=receiver.origin, traces_sample_ratio=0.0))
    assert app.test_client().get("/api/v1/stats").status_code == 200
    _stop(app)
    assert _spans(receiver) == []


def test_both_are_off_without_a_destination_even_with_the_sdks_own_variables(
    receiver, worker, json_logs, monkeypatch
):
    # The SDKs' own variables point at the receiver: the service does not let them turn anything on.
    monkeypatch.setenv("SENTRY_DSN", f"http://{SENTRY_KEY}@127.0.0.1:{receiver.port}/{SENTRY_PROJECT}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.origin)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.origin + "/v1/traces")
    app, database = worker(Settings())
    _break(database)
    assert app.test_client().get("/api/v1/stats").status_code == 500
    _stop(app)
    assert not sentry_sdk.get_client().is_active()
    assert receiver.requests == []
    (line,) = [e for e in json_logs.requests() if e["route"] == "/api/v1/stats"]
    assert "trace_id" not in line
    (ready,) = [e for e in json_logs.entries() if e["msg"] == "ready to serve"]
    assert (ready["errors"], ready["traces"]) == ("off", "off")


def test_neither_the_dsn_nor_the_headers_are_logged_even_when_the_receiver_refuses(
    receiver, worker, caplog, capsys
):
    receiver.status = 401
    settings = Settings(
        otlp_endpoint=receiver.origin, otlp_headers_id="x/otlp", sentry_credentials_id="x/sentry"
    )
    dsn = f"http://{SENTRY_KEY}@127.0.0.1:{receiver.port}/{SENTRY_PROJECT}"
    with caplog.at_level(logging.DEBUG):
        app, database = worker(settings, dsn, {"api-key": LICENSE_KEY})
        _break(database)
        assert app.test_client().get("/api/v1/stats").status_code == 500
        _stop(app)
    assert receiver.at("/v1/traces") and receiver.at(f"/api/{SENTRY_PROJECT}/envelope/")
    logged = caplog.text + "".join(capsys.readouterr())
    assert any(r.name.startswith("opentelemetry") for r in caplog.records), "the refusal is logged"
    assert LICENSE_KEY not in logged
    assert SENTRY_KEY not in logged


def test_the_secrets_are_read_from_secrets_manager(sm):
    sm.create_secret(
        Name="giftcrypto/local/sentry/dsn",
        SecretString=json.dumps({"dsn": f"https://{SENTRY_KEY}@o1.ingest.sentry.io/42"}),
    )
    sm.create_secret(
        Name="giftcrypto/local/otlp/headers", SecretString=json.dumps({"headers": {"api-key": LICENSE_KEY}})
    )
    settings = Settings(
        sentry_credentials_id="giftcrypto/local/sentry/dsn",
        otlp_endpoint="https://otlp.nr-data.net",
        otlp_headers_id="giftcrypto/local/otlp/headers",  # pragma: allowlist secret
    )
    credentials = load_credentials(settings, sm)
    assert credentials.sentry_dsn.startswith(f"https://{SENTRY_KEY}@")
    assert credentials.otlp_headers == {"api-key": LICENSE_KEY}
    assert SENTRY_KEY not in repr(credentials) and LICENSE_KEY not in repr(credentials)
    off = load_credentials(Settings(), sm)
    assert (off.sentry_dsn, dict(off.otlp_headers)) == ("", {})


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ({}, "lacks dsn"),
        ({"dsn": "not a dsn"}, "dsn that is not a Sentry DSN"),
        ({"dsn": "https://o1.ingest.sentry.io/42"}, "dsn that is not a Sentry DSN"),
    ],
)
def test_a_bad_dsn_secret_is_refused_without_its_value(secret, problem):
    with pytest.raises(ConfigError, match=problem) as caught:
        sentry_dsn(secret, "x/sentry")
    assert "not a dsn" not in str(caught.value).replace("not a Sentry", "")


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ({}, "lacks headers"),
        ({"headers": "api-key=x"}, "headers is not a JSON object"),
        ({"headers": {"api key": "x"}}, "header 'api key' is not"),
        ({"headers": {"api-key": "x\r\nInjected: 1"}}, "header 'api-key' is not"),
        ({"headers": {"api-key": 12}}, "header 'api-key' is not"),
    ],
)
def test_bad_otlp_headers_are_refused(secret, problem):
    with pytest.raises(ConfigError, match=problem) as caught:
        otlp_headers(secret, "x/otlp")
    assert "Injected" not in str(caught.value)


def test_the_logged_destination_is_the_origin_only():
    assert observability.destination(Settings()) == "off"
    assert observability.destination(Settings(otlp_endpoint="https://otlp.nr-data.net:4318/otlp")) == (
        "https://otlp.nr-data.net:4318"
    )
