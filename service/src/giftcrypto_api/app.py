"""The Flask application: health, readiness, version, metrics and one business endpoint.

    GET /healthz        the process is alive (no dependency touched)
    GET /readyz         PostgreSQL (through pgBouncer) and Redis answer: 200, or 503 naming which not
    GET /version        version, release, colour, git sha, start time
    GET /metrics        Prometheus exposition
    GET /api/v1/stats   the database's clock and a request counter in Redis (read-only on PostgreSQL:
                        served by the read pool when there is one and the feature flag
                        stats_replica_reads is on for the user, the primary otherwise or if the
                        replica fails)

Each request is counted and timed (metrics.py) and logged as one JSON line with its request id,
taken from X-Request-Id (when well-formed) or generated, and echoed in the response's X-Request-Id.
When traces are on, each request (but the probes') is a span, and its trace id is in the log line;
an unexpected error is recorded on that span and sent to Sentry when it is on (observability.py).
Every route but /healthz, /readyz, /version and /metrics requires a Cognito access token (auth.py).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any, Protocol

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from giftcrypto_api import SERVICE_NAME, __version__, auth
from giftcrypto_api.config import Settings
from giftcrypto_api.dependencies import DependencyError, timed
from giftcrypto_api.flags import FeatureFlags
from giftcrypto_api.jsonlog import utc_iso
from giftcrypto_api.metrics import Metrics
from giftcrypto_api.observability import instrument, report_exception, trace_id

REQUEST_ID_HEADER = "X-Request-Id"
# A request id from a client or a proxy is kept only if it cannot forge log content.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Who the caller is for a feature flag's percentage: the authenticated user (g.user_id, set by
# authentication when there is one), else this header, else "anonymous" (flags.py).
USER_ID_HEADER = "X-User-Id"
# Endpoints that keep answering under GIFTCRYPTO_FAULT=degrade-after:<seconds>.
_DEGRADE_EXEMPT = frozenset({"healthz", "version", "metrics"})

access_log = logging.getLogger("giftcrypto_api.access")
log = logging.getLogger("giftcrypto_api.app")


class DatabaseLike(Protocol):
    name: str

    def ping(self) -> None: ...

    def server_time(self) -> Any: ...


class CacheLike(Protocol):
    name: str

    def ping(self) -> None: ...

    def incr(self, key: str) -> int: ...


def request_id_from(header: str | None) -> str:
    if header and _REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def user_id_for_flags() -> str:
    """The caller as feature flags see it: the verified token's subject (auth.py's g.auth), else
    g.user_id, else a well-formed X-User-Id (only when authentication is off: with it on, every
    protected route has g.auth), else "anonymous"."""
    claims = g.get("auth") or {}
    if claims.get("sub"):
        return str(claims["sub"])
    user = g.get("user_id")
    if user:
        return str(user)
    header = request.headers.get(USER_ID_HEADER)
    return header if header and _REQUEST_ID.fullmatch(header) else "anonymous"


def create_app(
    settings: Settings,
    database: DatabaseLike,
    cache: CacheLike,
    *,
    metrics: Metrics | None = None,
    clock=time.monotonic,
    read_database: DatabaseLike | None = None,
    tracer_provider=None,
    authenticator: auth.Authenticator | None = None,
    flags: FeatureFlags | None = None,
) -> Flask:
    """The WSGI app; `database` and `cache` are dependencies.Database and Cache, or fakes in tests.

    `read_database` (the read replica's pool) serves the reads that need not see the latest writes;
    it is not part of /readyz (a replica outage must not take the API out of the load balancer):
    when it fails, those reads go to `database` and the failure is logged and counted.
    `tracer_provider` (observability.start_traces) traces the requests; None: no spans.
    `authenticator` verifies the callers' tokens (auth.py); None: one made from settings.auth.
    `flags` (flags.FeatureFlags) gates code paths per user; None: every flag at its default.
    """
    app = Flask(SERVICE_NAME)
    app.json.sort_keys = False
    metrics = metrics if metrics is not None else Metrics(settings)
    started_monotonic = clock()
    started_at = utc_iso(time.time())
    served_by = {"version": __version__, **({"colour": settings.colour} if settings.colour else {})}
    app.extensions[SERVICE_NAME] = {"settings": settings, "metrics": metrics}

    def uptime() -> float:
        return clock() - started_monotonic

    def fault_response(status: int, reason: str) -> tuple[Response, int]:
        return jsonify(status="fault", reason=reason, **served_by), status

    @app.before_request
    def start_request():
        g.start = time.perf_counter()
        g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        if settings.fault.degraded(uptime()) and request.endpoint not in _DEGRADE_EXEMPT:
            g.fault = True
            return fault_response(500, f"fault injection: GIFTCRYPTO_FAULT={settings.fault}")
        return None

    auth.install(app, settings.auth, authenticator)

    @app.after_request
    def finish_request(response: Response) -> Response:
        # before_request may not have run (e.g. a failure while matching the URL).
        request_id = g.get("request_id") or request_id_from(request.headers.get(REQUEST_ID_HEADER))
        seconds = time.perf_counter() - g.get("start", time.perf_counter())
        route = request.url_rule.rule if request.url_rule is not None else None
        response.headers[REQUEST_ID_HEADER] = request_id
        # JSON and the exposition only: no browser may sniff them into something it would run.
        response.headers["X-Content-Type-Options"] = "nosniff"
        metrics.observe(request.method, route, response.status_code, seconds)
        fields = {
            "request_id": request_id,
            "method": Metrics.method_label(request.method),
            "route": route or "unmatched",
            "status": response.status_code,
            "duration_ms": round(seconds * 1000, 3),
        }
        current_trace = trace_id()
        if current_trace:
            fields["trace_id"] = current_trace
        if g.get("fault"):
            fields["fault"] = str(settings.fault)
        level = logging.ERROR if response.status_code >= 500 else logging.INFO
        access_log.log(level, "request", extra={"fields": fields})
        return response

    @app.errorhandler(DependencyError)
    def dependency_failed(error: DependencyError):
        log.warning(
            "dependency failed",
            extra={
                "fields": {
                    "request_id": g.get("request_id"),
                    "dependency": error.dependency,
                    "error_type": error.kind,
                    "error": str(error),
                }
            },
        )
        return jsonify(error="dependency unavailable", dependency=error.dependency), 503

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return jsonify(error=error.name, status=error.code), error.code or 500

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        report_exception(error, g.get("request_id"))
        log.error("unhandled error", exc_info=error, extra={"fields": {"request_id": g.get("request_id")}})
        return jsonify(error="internal error", request_id=g.get("request_id")), 500

    @app.get("/healthz")
    def healthz():
        if settings.fault.unhealthy:
            return fault_response(503, "fault injection: GIFTCRYPTO_FAULT=unhealthy")
        return jsonify(status="ok", **served_by)

    @app.get("/readyz")
    def readyz():
        if settings.fault.unhealthy:
            return fault_response(503, "fault injection: GIFTCRYPTO_FAULT=unhealthy")
        checks: dict[str, dict[str, Any]] = {}
        for dependency in (database, cache):
            try:
                elapsed = timed(dependency.ping)[1]
            except DependencyError as error:
                checks[dependency.name] = {"ok": False, "error": error.kind}
                log.warning(
                    "readiness check failed",
                    extra={
                        "fields": {
                            "request_id": g.request_id,
                            "dependency": dependency.name,
                            "error_type": error.kind,
                            "error": str(error),
                        }
                    },
                )
            else:
                checks[dependency.name] = {"ok": True, "latency_ms": elapsed}
            metrics.dependency_up.labels(dependency.name).set(1 if checks[dependency.name]["ok"] else 0)
        failed = [name for name, check in checks.items() if not check["ok"]]
        if failed:
            return jsonify(status="not ready", failed=failed, checks=checks, **served_by), 503
        return jsonify(status="ready", checks=checks, **served_by)

    @app.get("/version")
    def version():
        body: dict[str, Any] = {"service": SERVICE_NAME, "version": __version__}
        for key in ("colour", "release", "git_sha"):
            if getattr(settings, key):
                body[key] = getattr(settings, key)
        body.update(
            environment=settings.environment,
            started_at=started_at,
            uptime_seconds=round(uptime(), 3),
        )
        return jsonify(body)

    @app.get("/metrics", endpoint="metrics")
    def prometheus():
        return Response(metrics.exposition(), mimetype=None, content_type=metrics.content_type)

    def read_only(query: str):
        """(result, ms) of a read-only query: the read pool, or the primary if there is none or it fails."""
        if read_database is not None:
            try:
                result = timed(getattr(read_database, query))
            except DependencyError as error:
                metrics.dependency_up.labels(read_database.name).set(0)
                log.warning(
                    "read replica failed, reading from the primary",
                    extra={
                        "fields": {
                            "request_id": g.get("request_id"),
                            "dependency": read_database.name,
                            "error_type": error.kind,
                            "error": str(error),
                        }
                    },
                )
            else:
                metrics.dependency_up.labels(read_database.name).set(1)
                return result
        return timed(getattr(database, query))

    @app.get("/api/v1/stats")
    def stats():
        user = user_id_for_flags()
        features = flags.evaluate(user) if flags is not None else {"stats_replica_reads": True}
        if features["stats_replica_reads"]:
            server_time, db_ms = read_only("server_time")
        else:
            server_time, db_ms = timed(database.server_time)
        served, cache_ms = timed(cache.incr, settings.cache_prefix + "stats:requests")
        return jsonify(
            database={"server_time": server_time.isoformat(), "latency_ms": db_ms},
            cache={"stats_requests": served, "latency_ms": cache_ms},
            features=features,
            served_by=served_by,
        )

    instrument(app, tracer_provider)
    return app
