"""Settings of the service, from environment variables only (documented in service/README.md).

Every problem is reported at once, in one ConfigError, before the service reads any secret.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from giftcrypto_api.auth import AuthSettings

COLOURS = ("blue", "green")
_GIT_SHA = re.compile(r"^[0-9a-fA-F]{7,40}$")


class ConfigError(Exception):
    """The service cannot start: its configuration (environment or secrets) is wrong or missing."""


def is_loopback(host: str) -> bool:
    """Whether a host name or address is this machine's (localhost, 127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def otlp_endpoint_problem(value: str, *, with_headers: bool) -> str | None:
    """Why GIFTCRYPTO_OTLP_ENDPOINT is unusable, or None.

    The endpoint is the receiver's base URL (OTEL_EXPORTER_OTLP_ENDPOINT's meaning: /v1/traces is
    appended). Its headers carry the vendor's key, so with headers it must be https, unless the
    receiver is on this machine (a collector beside the service).
    """
    try:
        url = urlsplit(value)
        host = url.hostname or ""
        url.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "expected an http(s) URL"
    if url.scheme not in ("http", "https") or not host:
        return "expected an http(s) URL"
    if url.username is not None or url.password is not None or url.query or url.fragment:
        return "expected no user, query or fragment (credentials go in GIFTCRYPTO_OTLP_HEADERS_SECRET)"
    if with_headers and url.scheme == "http" and not is_loopback(host):
        return "the OTLP headers (credentials) go over https only, or to a collector on loopback"
    return None


@dataclass(frozen=True)
class Fault:
    """Fault injection for the release tests (GIFTCRYPTO_FAULT); never set in normal operation.

    - ``none``: no fault (the default);
    - ``unhealthy``: /healthz and /readyz answer 503 from the start (a release failing its checks);
    - ``degrade-after:<seconds>``: once the process is that old, every request but /healthz,
      /version and /metrics answers 500 (a release that degrades after the traffic switch).
    """

    mode: str = "none"
    after_seconds: float = 0.0

    @classmethod
    def parse(cls, value: str) -> Fault:
        text = value.strip().lower()
        if text in ("", "none"):
            return cls()
        if text == "unhealthy":
            return cls(mode="unhealthy")
        if text.startswith("degrade-after:"):
            try:
                seconds = float(text.split(":", 1)[1])
            except ValueError:
                seconds = math.nan
            if math.isfinite(seconds) and seconds >= 0:
                return cls(mode="degrade", after_seconds=seconds)
        raise ValueError(f"GIFTCRYPTO_FAULT={value!r}: expected none, unhealthy or degrade-after:<seconds>")

    @property
    def unhealthy(self) -> bool:
        return self.mode == "unhealthy"

    def degraded(self, uptime_seconds: float) -> bool:
        return self.mode == "degrade" and uptime_seconds >= self.after_seconds

    def __str__(self) -> str:
        if self.mode == "degrade":
            return f"degrade-after:{self.after_seconds:g}"
        return self.mode


@dataclass(frozen=True)
class Settings:
    """What the service needs to know before it reads its credentials."""

    environment: str = "local"
    platform: str = "giftcrypto"
    # Secrets Manager ids of the credentials' secrets.
    db_credentials_id: str = "giftcrypto/local/postgres/app_rw"
    redis_credentials_id: str = "giftcrypto/local/redis/app"
    # pgBouncer, which the service goes through (transaction pooling); None: the secret's host/port.
    pgbouncer_host: str | None = "127.0.0.1"
    pgbouncer_port: int | None = 6432
    # CA file that verifies pgBouncer's certificate; empty: the database secret's sslrootcert (the
    # local pgBouncer's certificate comes from the same CA as PostgreSQL's, the EKS pooler's not).
    pgbouncer_sslrootcert: str = ""
    # Read pool (the read replica, for reads that need not see the latest writes); None: none, such
    # reads go to the primary. The secret of its login, and the database name it connects to (the
    # pooler's entry that routes to the replica; empty: the secret's dbname).
    db_read_credentials_id: str | None = None
    db_read_dbname: str = ""
    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None
    colour: str = ""
    release: str = ""
    git_sha: str = ""
    fault: Fault = field(default_factory=Fault)
    threads: int = 8
    graceful_timeout: int = 20
    keepalive: int = 20
    readyz_timeout: float = 2.0
    log_level: str = "INFO"
    # Errors to Sentry: the Secrets Manager id of the secret holding the DSN; None: Sentry is off.
    sentry_credentials_id: str | None = None
    # Traces over OTLP/HTTP: the receiver's base URL (/v1/traces appended); empty: no exporter. The
    # headers it needs (the vendor's key: New Relic's `api-key`) are in a secret; None: no headers.
    otlp_endpoint: str = ""
    otlp_headers_id: str | None = None
    # Share of traces kept (head sampling on the trace id, a parent's decision is followed).
    traces_sample_ratio: float = 1.0
    # Authentication of the API's callers (auth.py): Cognito access tokens, required by default.
    auth: AuthSettings = field(default_factory=AuthSettings)

    @property
    def cache_prefix(self) -> str:
        """Prefix of the service's Redis keys: `<platform>:<environment>:api:`."""
        return f"{self.platform}:{self.environment}:api:"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        errors: list[str] = []

        def text(name: str, default: str = "") -> str:
            return env.get(name, "").strip() or default

        def number(name: str, default: float, *, minimum: float, integer: bool = False) -> float:
            raw = text(name)
            if not raw:
                return default
            try:
                value = int(raw) if integer else float(raw)
            except ValueError:
                value = math.nan
            if not math.isfinite(value) or value < minimum:
                kind = "an integer" if integer else "a number"
                errors.append(f"{name}={raw!r}: expected {kind} >= {minimum:g}")
                return default
            return value

        environment = text("GIFTCRYPTO_ENVIRONMENT", "local")
        platform = text("GIFTCRYPTO_PLATFORM", "giftcrypto")
        for name, value in (("GIFTCRYPTO_ENVIRONMENT", environment), ("GIFTCRYPTO_PLATFORM", platform)):
            if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", value):
                errors.append(f"{name}={value!r}: expected lowercase letters, digits and dashes")

        colour = text("GIFTCRYPTO_COLOUR").lower()
        if colour and colour not in COLOURS:
            errors.append(f"GIFTCRYPTO_COLOUR={colour!r}: expected blue, green or nothing")

        git_sha = text("GIFTCRYPTO_GIT_SHA")
        if git_sha and not _GIT_SHA.fullmatch(git_sha):
            errors.append(f"GIFTCRYPTO_GIT_SHA={git_sha!r}: expected 7 to 40 hexadecimal digits")

        release = text("GIFTCRYPTO_RELEASE")
        if release and not re.fullmatch(r"[A-Za-z0-9._+-]{1,100}", release):
            errors.append(f"GIFTCRYPTO_RELEASE={release!r}: expected letters, digits and . _ + -")

        try:
            fault = Fault.parse(env.get("GIFTCRYPTO_FAULT", ""))
        except ValueError as error:
            errors.append(str(error))
            fault = Fault()

        # An empty GIFTCRYPTO_PGBOUNCER_HOST (set but empty) means: the secret's host and port.
        if "GIFTCRYPTO_PGBOUNCER_HOST" in env and not env["GIFTCRYPTO_PGBOUNCER_HOST"].strip():
            pgbouncer_host, pgbouncer_port = None, None
        else:
            pgbouncer_host = text("GIFTCRYPTO_PGBOUNCER_HOST", "127.0.0.1")
            pgbouncer_port = int(number("GIFTCRYPTO_PGBOUNCER_PORT", 6432, minimum=1, integer=True))
            if pgbouncer_port > 65535:
                errors.append(f"GIFTCRYPTO_PGBOUNCER_PORT={pgbouncer_port}: expected a port, 1 to 65535")

        db_read_dbname = text("GIFTCRYPTO_DB_READ_DBNAME")
        if db_read_dbname and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$-]{0,62}", db_read_dbname):
            errors.append(f"GIFTCRYPTO_DB_READ_DBNAME={db_read_dbname!r}: expected a database name")
        db_read_credentials_id = text("GIFTCRYPTO_DB_READ_SECRET") or None
        if db_read_dbname and not db_read_credentials_id:
            errors.append(
                "GIFTCRYPTO_DB_READ_DBNAME is set without GIFTCRYPTO_DB_READ_SECRET (the read pool's login)"
            )

        log_level = text("GIFTCRYPTO_LOG_LEVEL", "INFO").upper()
        if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            errors.append(f"GIFTCRYPTO_LOG_LEVEL={log_level!r}: expected DEBUG, INFO, WARNING or ERROR")

        otlp_endpoint = text("GIFTCRYPTO_OTLP_ENDPOINT")
        otlp_headers_id = text("GIFTCRYPTO_OTLP_HEADERS_SECRET") or None
        if otlp_endpoint:
            problem = otlp_endpoint_problem(otlp_endpoint, with_headers=otlp_headers_id is not None)
            if problem:
                errors.append(f"GIFTCRYPTO_OTLP_ENDPOINT={otlp_endpoint!r}: {problem}")
        elif otlp_headers_id:
            errors.append("GIFTCRYPTO_OTLP_HEADERS_SECRET is set without GIFTCRYPTO_OTLP_ENDPOINT")
        traces_sample_ratio = number("GIFTCRYPTO_TRACES_SAMPLE_RATIO", 1.0, minimum=0.0)
        if traces_sample_ratio > 1:
            errors.append(f"GIFTCRYPTO_TRACES_SAMPLE_RATIO={traces_sample_ratio:g}: expected 0 to 1")

        settings = cls(
            environment=environment,
            platform=platform,
            db_credentials_id=text("GIFTCRYPTO_DB_SECRET", f"{platform}/{environment}/postgres/app_rw"),
            redis_credentials_id=text("GIFTCRYPTO_REDIS_SECRET", f"{platform}/{environment}/redis/app"),
            pgbouncer_host=pgbouncer_host,
            pgbouncer_port=pgbouncer_port,
            pgbouncer_sslrootcert=text("GIFTCRYPTO_PGBOUNCER_SSLROOTCERT"),
            db_read_credentials_id=db_read_credentials_id,
            db_read_dbname=db_read_dbname,
            aws_region=text("AWS_REGION") or text("AWS_DEFAULT_REGION", "us-east-1"),
            aws_endpoint_url=text("AWS_ENDPOINT_URL") or None,
            colour=colour,
            release=release,
            git_sha=git_sha,
            fault=fault,
            threads=int(number("GIFTCRYPTO_THREADS", 8, minimum=1, integer=True)),
            graceful_timeout=int(number("GIFTCRYPTO_GRACEFUL_TIMEOUT", 20, minimum=0, integer=True)),
            keepalive=int(number("GIFTCRYPTO_KEEPALIVE", 20, minimum=0, integer=True)),
            readyz_timeout=number("GIFTCRYPTO_READYZ_TIMEOUT", 2.0, minimum=0.1),
            log_level=log_level,
            sentry_credentials_id=text("GIFTCRYPTO_SENTRY_SECRET") or None,
            otlp_endpoint=otlp_endpoint.rstrip("/"),
            otlp_headers_id=otlp_headers_id,
            traces_sample_ratio=traces_sample_ratio,
            auth=AuthSettings.from_env(env, errors),
        )
        if errors:
            raise ConfigError("invalid configuration: " + "; ".join(errors))
        return settings
