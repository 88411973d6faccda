"""The Database and Cache wrappers, their drivers faked at the boundary (no network)."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from datetime import UTC, datetime

import psycopg
import pytest
import redis
from giftcrypto_api.credentials import DatabaseCredentials, RedisCredentials
from giftcrypto_api.dependencies import Cache, Database, DependencyError, _cancel, timed
from psycopg_pool import PoolTimeout

DB = DatabaseCredentials("app_rw", "pw", "127.0.0.1", 6432, "giftcrypto", "/ca.crt")
REDIS = RedisCredentials("app", "pw", "127.0.0.1", 6379, "/ca.crt")


class FakeCursor:
    def __init__(self, row):
        self.row = row

    def fetchone(self):
        return self.row


class FakeConnection:
    def __init__(self, row=(1,), delay=0.0, error=None):
        self.row, self.delay, self.error = row, delay, error
        self.cancelled = threading.Event()
        self.queries: list[str] = []

    def execute(self, query):
        self.queries.append(query)
        if self.delay:
            self.cancelled.wait(self.delay)
            if self.cancelled.is_set():
                raise psycopg.errors.QueryCanceled("canceling statement due to user request")
        if self.error:
            raise self.error
        return FakeCursor(self.row)

    def cancel_safe(self, timeout):
        self.cancelled.set()


class FakePool:
    def __init__(self, conn=None, error=None):
        self.conn, self.error = conn, error
        self.opened = self.closed = False

    @contextlib.contextmanager
    def connection(self, timeout):
        if self.error:
            raise self.error
        yield self.conn

    def open(self, wait):
        self.opened = True

    def close(self, timeout):
        self.closed = True


def test_the_pool_is_built_for_pgbouncer_transaction_pooling_over_verified_tls():
    db = Database(DB, max_size=4, timeout=1.5, application_name="giftcrypto-api-blue")
    kwargs = db.pool.kwargs
    assert kwargs["prepare_threshold"] is None
    assert kwargs["autocommit"] is True
    assert kwargs["sslmode"] == "verify-full"
    assert kwargs["sslrootcert"] == "/ca.crt"
    assert (kwargs["host"], kwargs["port"]) == ("127.0.0.1", 6432)
    assert kwargs["application_name"] == "giftcrypto-api-blue"
    assert db.pool.max_size == 4
    assert db.pool.min_size == 2
    assert db.pool.closed  # not opened by the constructor


def test_ping_and_server_time():
    db = Database(DB)
    now = datetime(2025, 1, 1, tzinfo=UTC)
    conn = FakeConnection(row=(now,))
    db.pool = FakePool(conn)
    db.ping()
    assert db.server_time() == now
    assert conn.queries == ["SELECT 1", "SELECT now()"]


@pytest.mark.parametrize(
    "error", [PoolTimeout("couldn't get a connection after 2.00 sec"), psycopg.OperationalError("refused")]
)
def test_database_errors_become_dependency_errors(error):
    db = Database(DB)
    db.pool = FakePool(error=error)
    with pytest.raises(DependencyError) as caught:
        db.ping()
    assert caught.value.dependency == "postgres"
    assert caught.value.kind == type(error).__name__


def test_a_query_stuck_behind_pgbouncer_is_cancelled_after_the_timeout():
    db = Database(DB, timeout=0.1)
    conn = FakeConnection(delay=5)
    db.pool = FakePool(conn)
    start = time.monotonic()
    with pytest.raises(DependencyError) as caught:
        db.ping()
    assert time.monotonic() - start < 2
    assert caught.value.kind == "QueryCanceled"


def test_a_failed_cancel_is_ignored():
    class Broken:
        def cancel_safe(self, timeout):
            raise psycopg.errors.CancellationTimeout("too late")

    _cancel(Broken(), 0.1)


def test_open_and_close():
    db = Database(DB)
    db.pool = FakePool(FakeConnection())
    db.open()
    db.close()
    assert db.pool.opened
    assert db.pool.closed


def test_the_redis_client_is_tls_with_verification_and_acl_user():
    cache = Cache(REDIS, timeout=1.5, max_connections=10)
    options = cache.client.connection_pool.connection_kwargs
    assert options["username"] == "app"
    assert options["ssl_ca_certs"] == "/ca.crt"
    assert options["ssl_cert_reqs"] == "required"
    assert options["ssl_check_hostname"] is True
    assert options["socket_timeout"] == 1.5
    assert cache.client.connection_pool.connection_class.__name__ == "SSLConnection"
    cache.close()


class FakeRedis:
    def __init__(self, error=None):
        self.error = error
        self.values: dict[str, int] = {}

    def ping(self):
        if self.error:
            raise self.error
        return True

    def incr(self, key):
        self.ping()
        self.values[key] = self.values.get(key, 0) + 1
        return self.values[key]


def test_an_auth_token_alone_sends_no_user_name():
    """ElastiCache's AUTH token: `AUTH <token>` (redis-py sends a user name only when given one)."""
    cache = Cache(dataclasses.replace(REDIS, username="", ca=""))
    options = cache.client.connection_pool.connection_kwargs
    assert options["username"] is None
    assert options["ssl_ca_certs"] is None, "the system trust store"
    assert options["ssl_cert_reqs"] == "required"
    cache.close()


def test_a_read_pool_is_named_apart():
    db = Database(DB, name="postgres_read")
    assert db.name == "postgres_read"
    assert db.pool.name.endswith("postgres_read")
    assert Database(DB).name == "postgres"


def test_cache_ping_and_incr():
    cache = Cache(REDIS)
    cache.client = FakeRedis()
    cache.ping()
    assert cache.incr("k") == 1
    assert cache.incr("k") == 2


@pytest.mark.parametrize("error", [redis.ConnectionError("refused"), redis.TimeoutError("timeout")])
def test_cache_errors_become_dependency_errors(error):
    cache = Cache(REDIS)
    cache.client = FakeRedis(error)
    for call in (cache.ping, lambda: cache.incr("k")):
        with pytest.raises(DependencyError) as caught:
            call()
        assert caught.value.dependency == "redis"
        assert caught.value.kind == type(error).__name__


def test_timed():
    result, elapsed = timed(lambda x: x * 2, 21)
    assert result == 42
    assert elapsed >= 0
