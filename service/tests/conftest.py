"""Shared fixtures of the unit tests: the app with its dependencies faked at the boundary.

The fakes stand where dependencies.Database and dependencies.Cache stand (ping, server_time,
incr), and fail with the DependencyError the real ones raise.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pathlib
from datetime import UTC, datetime

import boto3
import pytest
from giftcrypto_api.app import create_app
from giftcrypto_api.auth import AuthSettings
from giftcrypto_api.config import Fault, Settings
from giftcrypto_api.dependencies import DependencyError
from giftcrypto_api.jsonlog import JsonFormatter, static_fields
from giftcrypto_api.metrics import Metrics
from moto import mock_aws

HERE = pathlib.Path(__file__).resolve().parent
# The app's tests of everything but authentication run without it (test_auth.py tests it).
NO_AUTH = AuthSettings(mode="off")


def pytest_collection_modifyitems(config, items):
    """The integration tests run only when asked for (`-m integration`).

    service/pyproject.toml deselects them by default; this also covers a run from another rootdir
    (e.g. `pytest tests/unit service/tests` from the repository root), where they are skipped,
    visibly, instead of failing on an environment that is not deployed yet.
    """
    if "integration" in (config.option.markexpr or "").replace("not integration", ""):
        return
    skip = pytest.mark.skip(reason="integration test of the service: run it with -m integration")
    for item in items:
        if "integration" in item.keywords and HERE in item.path.resolve().parents:
            item.add_marker(skip)


class FakeDatabase:
    name = "postgres"

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.calls = 0
        self.closed = False
        self.opened = False

    def _call(self) -> None:
        self.calls += 1
        if self.error is not None:
            raise DependencyError(self.name, self.error)

    def ping(self) -> None:
        self._call()

    def server_time(self) -> datetime:
        self._call()
        return datetime(2025, 1, 31, 12, 0, tzinfo=UTC)

    def open(self) -> None:
        self.opened = True

    def close(self) -> None:
        self.closed = True


class FakeCache:
    name = "redis"

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.calls = 0
        self.counters: dict[str, int] = {}
        self.closed = False

    def ping(self) -> None:
        self.calls += 1
        if self.error is not None:
            raise DependencyError(self.name, self.error)

    def incr(self, key: str) -> int:
        self.ping()
        self.counters[key] = self.counters.get(key, 0) + 1
        return self.counters[key]

    def close(self) -> None:
        self.closed = True


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class JsonLines(logging.Handler):
    """Collects the service's log records formatted as the JSON lines it writes."""

    def __init__(self, formatter: JsonFormatter) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def entries(self) -> list[dict]:
        return [json.loads(line) for line in self.lines]

    def requests(self) -> list[dict]:
        return [entry for entry in self.entries() if entry["msg"] == "request"]


@pytest.fixture
def fakes():
    """The fake classes, for tests that build the dependencies themselves."""
    return FakeDatabase, FakeCache


@pytest.fixture
def database() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def cache() -> FakeCache:
    return FakeCache()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings() -> Settings:
    return Settings(colour="blue", release="0.1.0-abc123", git_sha="0123456789abcdef", auth=NO_AUTH)


@pytest.fixture
def make_app(database, cache, clock):
    """Builds an app (and its Metrics) from Settings overrides; returns (app, metrics)."""

    def make(settings: Settings | None = None, **overrides):
        base = settings or Settings(colour="blue", release="0.1.0-abc123", auth=NO_AUTH)
        if "fault" in overrides and isinstance(overrides["fault"], str):
            overrides["fault"] = Fault.parse(overrides["fault"])
        final = dataclasses.replace(base, **overrides)
        metrics = Metrics(final)
        app = create_app(final, database, cache, metrics=metrics, clock=clock)
        return app, metrics

    return make


@pytest.fixture
def app_and_metrics(make_app):
    return make_app()


@pytest.fixture
def client(app_and_metrics):
    return app_and_metrics[0].test_client()


@pytest.fixture
def metrics(app_and_metrics) -> Metrics:
    return app_and_metrics[1]


@pytest.fixture
def json_logs(settings):
    """The JSON lines the service's loggers write during the test."""
    handler = JsonLines(JsonFormatter(static_fields(settings)))
    logger = logging.getLogger("giftcrypto_api")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(previous)


@pytest.fixture
def restore_logging():
    """Puts back the logging configuration a test replaced (server.main configures logging)."""
    root = logging.getLogger()
    saved = {
        name: (logging.getLogger(name).handlers[:], logging.getLogger(name).level)
        for name in ("", "gunicorn.error", "gunicorn.access", "giftcrypto_api")
    }
    yield
    for name, (handlers, level) in saved.items():
        logger = logging.getLogger(name) if name else root
        logger.handlers[:] = handlers
        logger.setLevel(level)


@pytest.fixture
def aws_env(monkeypatch):
    """Dummy AWS credentials and region for moto; no endpoint (moto intercepts the calls)."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


# Fake passwords of the moto secrets: the tests look for them in every log line and error.
DB_PASSWORD = "pg-Pa55word-never-logged"  # noqa: S105
REDIS_PASSWORD = "redis-Pa55word-never-logged"  # noqa: S105
DB_SECRET = {
    "username": "app_rw",
    "password": DB_PASSWORD,
    "host": "127.0.0.1",
    "port": 5432,
    "dbname": "giftcrypto",
    "sslmode": "verify-full",
    "sslrootcert": "/etc/giftcrypto/pki/ca.crt",
}
REDIS_SECRET = {
    "username": "app",
    "password": REDIS_PASSWORD,
    "host": "127.0.0.1",
    "port": 6379,
    "tls": True,
    "ca": "/etc/giftcrypto/pki/ca.crt",
}


@pytest.fixture
def secrets():
    """The secrets' JSON values, as the platform stores them."""
    return {"postgres": dict(DB_SECRET), "redis": dict(REDIS_SECRET)}


@pytest.fixture
def sm(aws_env):
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        client.create_secret(Name="giftcrypto/local/postgres/app_rw", SecretString=json.dumps(DB_SECRET))
        client.create_secret(Name="giftcrypto/local/redis/app", SecretString=json.dumps(REDIS_SECRET))
        yield client
