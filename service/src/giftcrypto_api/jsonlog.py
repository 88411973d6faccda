"""JSON logs on stdout: one object per line.

Every line has time (ISO 8601, UTC), level, msg and logger, then the service's static fields
(service, version, environment and, when given, colour and release), then the record's own fields
(``extra={"fields": {...}}``). The request log line is built in app.py. No secret is ever passed
to a log call; exceptions are logged by type and message (drivers' messages name hosts and users,
never passwords).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from giftcrypto_api import SERVICE_NAME, __version__
from giftcrypto_api.config import Settings


def utc_iso(timestamp: float) -> str:
    """2025-01-31T12:34:56.789Z"""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def static_fields(settings: Settings) -> dict[str, str]:
    fields = {"service": SERVICE_NAME, "version": __version__, "environment": settings.environment}
    if settings.colour:
        fields["colour"] = settings.colour
    if settings.release:
        fields["release"] = settings.release
    return fields


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object (for logging.config too: `()` with `static`)."""

    def __init__(self, static: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.static = dict(static or {})

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": utc_iso(record.created),
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
            "logger": record.name,
            **self.static,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            entry["error_type"] = type(error).__name__
            entry["error"] = str(error)
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"), ensure_ascii=False)


def logging_config(settings: Settings) -> dict[str, Any]:
    """A logging.config.dictConfig: everything, gunicorn's own lines included, as JSON on stdout."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter, "static": static_fields(settings)}},
        "handlers": {
            "stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
        },
        "root": {"level": settings.log_level, "handlers": ["stdout"]},
        "loggers": {
            "gunicorn.error": {"level": settings.log_level, "handlers": [], "propagate": True},
            # The service logs each request itself (app.py); gunicorn's access log stays off.
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
            # Drivers' chatter (retries, TLS) is not request-level information.
            "botocore": {"level": "WARNING"},
            "psycopg": {"level": "WARNING"},
            "psycopg.pool": {"level": "WARNING"},
        },
    }


def configure(settings: Settings) -> None:
    """Applies logging_config() to this process."""
    import logging.config

    logging.config.dictConfig(logging_config(settings))


def emergency_line(msg: str, **fields: Any) -> None:
    """One JSON error line written directly (before logging is configured, e.g. bad settings)."""
    entry = {
        "time": utc_iso(datetime.now(UTC).timestamp()),
        "level": "error",
        "msg": msg,
        "service": SERVICE_NAME,
        "version": __version__,
        **fields,
    }
    sys.stdout.write(json.dumps(entry, default=str, separators=(",", ":")) + "\n")
    sys.stdout.flush()
