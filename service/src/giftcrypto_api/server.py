"""`giftcrypto-api --host 127.0.0.1 --port 8081`: the service under gunicorn.

One worker process with threads (gthread): the metrics live in one process, and SIGTERM stops
gracefully: the listening socket closes, requests in flight finish (up to
GIFTCRYPTO_GRACEFUL_TIMEOUT seconds), then the process exits 0. That is how a colour is stopped
without dropping requests (supervisor sends TERM and waits 30 s).

Settings and credentials are read in the master before the worker starts, so a missing secret or
a bad variable fails at once, with one JSON line naming it, and exit code 2. The connection pools
are opened in the worker (threads and sockets do not survive a fork).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gunicorn.app.base import BaseApplication

from giftcrypto_api import SERVICE_NAME, __version__, jsonlog
from giftcrypto_api.config import ConfigError, Settings
from giftcrypto_api.credentials import Credentials, load_credentials
from giftcrypto_api.flags import FlagSettings, FlagSettingsError

EXIT_CONFIG = 2

log = logging.getLogger("giftcrypto_api.server")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=SERVICE_NAME, description="The GiftCrypto API sample service.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8081, help="port to listen on (default 8081)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port {args.port}: expected 1 to 65535")
    return args


def bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def gunicorn_options(settings: Settings, host: str, port: int) -> dict[str, Any]:
    return {
        "bind": [bind_address(host, port)],
        "workers": 1,
        "worker_class": "gthread",
        "threads": settings.threads,
        "graceful_timeout": settings.graceful_timeout,
        "timeout": 30,
        # Longer than HAProxy's `timeout http-keep-alive` (10 s): HAProxy closes idle connections first.
        "keepalive": settings.keepalive,
        "preload_app": False,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        "logconfig_dict": jsonlog.logging_config(settings),
        "proc_name": f"{SERVICE_NAME}-{settings.colour}" if settings.colour else SERVICE_NAME,
        # gunicorn >= 25 opens a control socket in $HOME by default: two colours would share it.
        "control_socket_disable": True,
        "worker_exit": _worker_exit,
    }


def _worker_exit(server, worker) -> None:
    close = getattr(worker.wsgi, "close_dependencies", None)
    if callable(close):
        close()
    log.info("worker stopped", extra={"fields": {"pid": worker.pid}})


class GunicornServer(BaseApplication):
    """gunicorn with the options above and an app built by `factory` in the worker."""

    def __init__(self, options: Mapping[str, Any], factory: Callable[[], Any]) -> None:
        self.options = dict(options)
        self.factory = factory
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            # A setting this gunicorn does not know (older versions) is left out, not an error.
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self):
        return self.factory()


def build_app(settings: Settings, credentials: Credentials, flag_settings: FlagSettings | None = None):
    """The app with its real dependencies, their pools opened (called in the worker); the feature
    flags from flag_settings (default: GIFTCRYPTO_APPCONFIG_* of the environment)."""
    from giftcrypto_api import observability
    from giftcrypto_api.app import create_app
    from giftcrypto_api.dependencies import Cache, Database
    from giftcrypto_api.flags import FeatureFlags
    from giftcrypto_api.secret_refresh import Logins, rotating_connection_class

    name = f"{SERVICE_NAME}-{settings.colour}" if settings.colour else SERVICE_NAME
    # A login the server refuses (a rotation) re-reads its secret (secret_refresh.py, ADR 0019).
    logins = Logins(settings, credentials)
    database = Database(
        credentials.database,
        max_size=settings.threads,
        timeout=settings.readyz_timeout,
        application_name=name,
        connection_class=rotating_connection_class(logins.database),
    )
    cache = Cache(
        credentials.redis,
        timeout=settings.readyz_timeout,
        max_connections=settings.threads + 2,
        refresh=logins.redis,
    )
    read_database = None
    if credentials.read_database is not None:
        read_database = Database(
            credentials.read_database,
            max_size=settings.threads,
            timeout=settings.readyz_timeout,
            application_name=name,
            name="postgres_read",
            connection_class=rotating_connection_class(logins.read_database),
        )
        read_database.open()
    database.open()
    telemetry = observability.start(settings, credentials.sentry_dsn, credentials.otlp_headers)
    flags = FeatureFlags(flag_settings or FlagSettings.from_environ(os.environ))
    app = create_app(
        settings,
        database,
        cache,
        read_database=read_database,
        tracer_provider=telemetry.tracer_provider,
        flags=flags,
    )

    def close_dependencies() -> None:
        database.close()
        if read_database is not None:
            read_database.close()
        cache.close()
        telemetry.close()

    app.close_dependencies = close_dependencies
    log.info(
        "ready to serve",
        extra={
            "fields": {
                "postgres": f"{credentials.database.host}:{credentials.database.port}",
                "postgres_read": (
                    f"{credentials.read_database.host}:{credentials.read_database.port}/{credentials.read_database.dbname}"
                    if credentials.read_database is not None
                    else None
                ),
                "redis": f"{credentials.redis.host}:{credentials.redis.port}",
                "threads": settings.threads,
                "fault": str(settings.fault),
                "errors": "sentry" if telemetry.errors else "off",
                "traces": observability.destination(settings),
            }
        },
    )
    return app


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = parse_args(argv)
    environ = os.environ if environ is None else environ
    try:
        settings = Settings.from_env(environ)
        flag_settings = FlagSettings.from_environ(environ)
    except (ConfigError, FlagSettingsError) as error:
        jsonlog.emergency_line("cannot start: bad configuration", error=str(error))
        return EXIT_CONFIG
    jsonlog.configure(settings)
    try:
        credentials = load_credentials(settings)
    except ConfigError as error:
        log.error("cannot start: credentials unavailable", extra={"fields": {"error": str(error)}})
        return EXIT_CONFIG
    log.info(
        "starting",
        extra={
            "fields": {
                "bind": bind_address(args.host, args.port),
                "secrets": {
                    "postgres": settings.db_credentials_id,
                    "postgres_read": settings.db_read_credentials_id,
                    "redis": settings.redis_credentials_id,
                    "sentry": settings.sentry_credentials_id,
                    "otlp_headers": settings.otlp_headers_id,
                },
                "feature_flags": (
                    f"{flag_settings.application}/{flag_settings.environment}/{flag_settings.profile}"
                    if flag_settings.enabled
                    else "defaults (no AppConfig)"
                ),
            }
        },
    )
    GunicornServer(
        gunicorn_options(settings, args.host, args.port),
        lambda: build_app(settings, credentials, flag_settings),
    ).run()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
