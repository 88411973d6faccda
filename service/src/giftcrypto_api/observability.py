"""Errors to Sentry and traces over OpenTelemetry (OTLP/HTTP): per environment, off without a destination.

- Errors: the Sentry SDK, initialised only when a DSN was read (GIFTCRYPTO_SENTRY_SECRET). It
  groups the events itself (by the exception's type and stack). The service reports the
  exceptions its error handler catches (an unexpected error, answered 500), tagged with the request
  id and the trace id; a dependency that fails (503) is not an error of the code and is not reported.
  The SDK's logging integration keeps log lines as breadcrumbs only: the service's error log lines
  (every 5xx is one) do not become events of their own.
- Traces: the OpenTelemetry SDK with the OTLP/HTTP exporter (protobuf), created only when an
  endpoint is set (GIFTCRYPTO_OTLP_ENDPOINT); one server span per request by the Flask
  instrumentation (not for /healthz, /readyz and /metrics, which the probes and Prometheus call
  every few seconds), head-sampled on the trace id (GIFTCRYPTO_TRACES_SAMPLE_RATIO), exported in
  batches by a background thread. The tracer provider is the app's own, not the process's global
  one.

Both start in the worker (their background threads do not survive gunicorn's fork) and are
flushed when it stops. Neither the DSN nor the OTLP headers are ever logged: the start line says
whether each is on and, for traces, the receiver's origin.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

# The APIs only (light): the SDKs, the exporter and the instrumentation are imported when turned on.
import sentry_sdk
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from giftcrypto_api import SERVICE_NAME, __version__
from giftcrypto_api.config import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger("giftcrypto_api.observability")

# Requests that are not traced: the probes' and Prometheus' (regular expressions on the URL).
UNTRACED_PATHS = "/healthz$,/readyz$,/metrics$"
TRACES_PATH = "/v1/traces"


def release_name(settings: Settings) -> str:
    """Sentry's release: the deployed release (GIFTCRYPTO_RELEASE), or the service's version."""
    return settings.release or f"{SERVICE_NAME}@{__version__}"


def start_errors(settings: Settings, dsn: str) -> bool:
    """Initialises the Sentry SDK when there is a DSN; returns whether it did."""
    if not dsn:
        return False
    from sentry_sdk.integrations.flask import FlaskIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=settings.environment,
        release=release_name(settings),
        # No personal data: send_default_pii is left unset, which is the SDK's "off" (no client
        # address, cookies or user; sensitive headers filtered by its denylist), and which, unlike
        # setting it, raises no deprecation warning in the SDK versions that replace it by
        # data_collection. No local variables of the stack's frames either (values a scrubber
        # keyed on names cannot recognise).
        include_local_variables=False,
        # Errors only: traces go through OpenTelemetry.
        traces_sample_rate=None,
        # Only the integrations named here (no automatic boto3/redis/... breadcrumbs).
        auto_enabling_integrations=False,
        integrations=[FlaskIntegration(), LoggingIntegration(level=logging.INFO, event_level=None)],
    )
    scope = sentry_sdk.get_global_scope()
    scope.set_tag("service", SERVICE_NAME)
    if settings.colour:
        scope.set_tag("colour", settings.colour)
    return True


def start_traces(settings: Settings, headers: Mapping[str, str]) -> TracerProvider | None:
    """A tracer provider exporting to the OTLP receiver when an endpoint is set; None otherwise."""
    if not settings.otlp_endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    attributes = {
        "service.name": SERVICE_NAME,
        "service.version": __version__,
        "deployment.environment.name": settings.environment,
    }
    if settings.colour:
        attributes["giftcrypto.colour"] = settings.colour
    if settings.release:
        attributes["giftcrypto.release"] = settings.release
    provider = TracerProvider(
        resource=Resource.create(attributes),
        sampler=ParentBased(TraceIdRatioBased(settings.traces_sample_ratio)),
    )
    exporter = OTLPSpanExporter(
        endpoint=settings.otlp_endpoint + TRACES_PATH,
        headers=dict(headers),
        timeout=10,
        compression=Compression.Gzip,
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def instrument(app, provider: TracerProvider | None) -> None:
    """One server span per request of `app` (but the probes'), from `provider`; nothing without one."""
    if provider is None:
        return
    from opentelemetry.instrumentation.flask import FlaskInstrumentor

    FlaskInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls=UNTRACED_PATHS)


def trace_id() -> str | None:
    """The current request's trace id (32 hex digits) when it is traced; None otherwise."""
    context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else None


def report_exception(error: BaseException, request_id: str | None) -> None:
    """An unexpected error: recorded on the request's span, sent to Sentry (each when it is on)."""
    span = trace.get_current_span()
    if span.is_recording():
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, type(error).__name__))
    if not sentry_sdk.get_client().is_active():
        return
    with sentry_sdk.new_scope() as scope:
        if request_id:
            scope.set_tag("request_id", request_id)
        current = trace_id()
        if current:
            scope.set_tag("trace_id", current)
        sentry_sdk.capture_exception(error)


def destination(settings: Settings) -> str:
    """The traces' receiver as logged: its origin (scheme, host, port), never its headers."""
    if not settings.otlp_endpoint:
        return "off"
    url = urlsplit(settings.otlp_endpoint)
    return f"{url.scheme}://{url.netloc}"


@dataclass
class Telemetry:
    """What start() turned on, for the worker's exit."""

    errors: bool = False
    tracer_provider: TracerProvider | None = None

    def close(self, timeout: float = 2.0) -> None:
        """Sends what is queued (within `timeout` seconds each) and stops the background threads."""
        if self.tracer_provider is not None:
            self.tracer_provider.force_flush(int(timeout * 1000))
            self.tracer_provider.shutdown()
            self.tracer_provider = None
        if self.errors:
            sentry_sdk.get_client().close(timeout=timeout)
            self.errors = False


def start(settings: Settings, sentry_dsn: str, otlp_headers: Mapping[str, str]) -> Telemetry:
    """Errors and traces as configured (each off without its destination)."""
    return Telemetry(
        errors=start_errors(settings, sentry_dsn), tracer_provider=start_traces(settings, otlp_headers)
    )
