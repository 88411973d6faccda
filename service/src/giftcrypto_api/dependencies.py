"""The service's two dependencies: PostgreSQL through pgBouncer and Redis, both over TLS.

Both wrappers turn their driver's errors into DependencyError, which the app answers with 503
(the driver's message is logged, not returned: it names hosts and users).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
import redis
import redis.backoff
import redis.client
import redis.retry
from psycopg_pool import ConnectionPool, PoolTimeout

from giftcrypto_api import SERVICE_NAME
from giftcrypto_api.credentials import DatabaseCredentials, RedisCredentials
from giftcrypto_api.secret_refresh import RotatingLogin, RotatingRedisCredentials


class DependencyError(Exception):
    """A dependency did not answer (in time, or at all)."""

    def __init__(self, dependency: str, cause: BaseException) -> None:
        super().__init__(f"{dependency}: {type(cause).__name__}: {cause}")
        self.dependency = dependency
        self.kind = type(cause).__name__


def _cancel(conn: psycopg.Connection, seconds: float) -> None:
    # The query may have ended meanwhile, or the cancel request failed: nothing more to do.
    with contextlib.suppress(psycopg.Error):
        conn.cancel_safe(timeout=seconds)


@contextlib.contextmanager
def _cancel_after(conn: psycopg.Connection, seconds: float) -> Iterator[None]:
    """Cancels the connection's running query after `seconds` (libpq has no read timeout).

    Through pgBouncer a query waits in its queue while PostgreSQL is unreachable (up to
    query_wait_timeout, 2 minutes by default); the cancel request ends the wait with QueryCanceled.
    """
    timer = threading.Timer(seconds, _cancel, (conn, seconds))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


class Database:
    """A psycopg 3 pool to PostgreSQL through pgBouncer (transaction pooling).

    pgBouncer's transaction pooling gives each transaction any server connection, so no
    server-side prepared statement (prepare_threshold=None) and no session state is relied upon.
    """

    name = "postgres"

    def __init__(
        self,
        credentials: DatabaseCredentials,
        *,
        max_size: int = 8,
        timeout: float = 2.0,
        application_name: str = SERVICE_NAME,
        name: str = "postgres",
        connection_class: type[psycopg.Connection] = psycopg.Connection,
    ) -> None:
        # "postgres" for the primary's pool, "postgres_read" for the read replica's.
        self.name = name
        self.timeout = timeout
        self.pool = ConnectionPool(
            conninfo="",
            kwargs={
                **credentials.connect_kwargs(),
                "connect_timeout": max(2, round(timeout)),
                "application_name": application_name,
                "prepare_threshold": None,
                "autocommit": True,
            },
            min_size=min(2, max_size),
            max_size=max_size,
            timeout=timeout,
            # A connection pgBouncer dropped (its restart, an idle timeout) is replaced before use.
            check=ConnectionPool.check_connection,
            name=f"{SERVICE_NAME}-{name}",
            # secret_refresh.rotating_connection_class: a refused login re-reads the secret.
            connection_class=connection_class,
            open=False,
        )

    def open(self) -> None:
        """Starts the pool; connections are made in the background (a down database is no crash)."""
        self.pool.open(wait=False)

    def close(self) -> None:
        self.pool.close(timeout=5)

    def _fetchone(self, query: str) -> tuple[Any, ...]:
        try:
            with self.pool.connection(timeout=self.timeout) as conn, _cancel_after(conn, self.timeout):
                row = conn.execute(query).fetchone()
        except (psycopg.Error, PoolTimeout) as error:
            raise DependencyError(self.name, error) from error
        if row is None:  # pragma: no cover - both queries return one row
            raise DependencyError(self.name, LookupError("no row"))
        return row

    def ping(self) -> None:
        """SELECT 1 through pgBouncer, within the timeout."""
        self._fetchone("SELECT 1")

    def server_time(self) -> datetime:
        """The database server's clock (a real round trip to PostgreSQL, not only to pgBouncer)."""
        return self._fetchone("SELECT now()")[0]


def _retryable(error: Exception) -> bool:
    """redis-py retries connection errors (three times with backoff, about 3 s); a refused login
    (AuthenticationError, a ConnectionError to redis-py) is not one: retrying the same password only
    delays Cache._call's re-read of the secret, long enough for a load balancer's health check to
    time out during a rotation."""
    return not isinstance(error, redis.AuthenticationError)


def _retry() -> redis.retry.Retry:
    """redis-py's default retry policy (redis.client's defaults), without retrying a refused login."""
    return redis.retry.Retry(
        redis.backoff.ExponentialWithJitterBackoff(
            base=redis.client.DEFAULT_RETRY_BASE, cap=redis.client.DEFAULT_RETRY_CAP
        ),
        retries=redis.client.DEFAULT_RETRY_COUNT,
        is_retryable=_retryable,
    )


class Cache:
    """A redis-py client over TLS (chain and host name verified), as an ACL user or with an AUTH token."""

    name = "redis"

    def __init__(
        self,
        credentials: RedisCredentials,
        *,
        timeout: float = 2.0,
        max_connections: int = 16,
        refresh: RotatingLogin | None = None,
    ):
        # refresh (secret_refresh.RotatingLogin): each new connection logs in with its login in use,
        # and a command refused with WRONGPASS is retried with the secret read again.
        self.refresh = refresh
        auth: dict[str, Any] = (
            {"credential_provider": RotatingRedisCredentials(refresh)}
            if refresh is not None
            # No user name: `AUTH <token>` (ElastiCache's AUTH token); else `AUTH <user> <password>`.
            else {"username": credentials.username or None, "password": credentials.password}
        )
        self.client = redis.Redis(
            host=credentials.host,
            port=credentials.port,
            **auth,
            ssl=True,
            ssl_ca_certs=credentials.ca or None,
            ssl_cert_reqs="required",
            ssl_check_hostname=True,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            health_check_interval=30,
            max_connections=max_connections,
            retry=_retry(),
            client_name=SERVICE_NAME,
        )

    def close(self) -> None:
        self.client.close()

    def _call(self, command, *args):
        try:
            try:
                return command(*args)
            except redis.AuthenticationError:
                if self.refresh is None:
                    raise
                used = self.refresh.current
                for candidate in self.refresh.candidates(used):
                    self.refresh.accepted(candidate)
                    try:
                        return command(*args)
                    except redis.AuthenticationError:
                        continue
                self.refresh.accepted(used)
                raise
        except redis.RedisError as error:
            raise DependencyError(self.name, error) from error

    def ping(self) -> None:
        self._call(self.client.ping)

    def incr(self, key: str) -> int:
        return int(self._call(self.client.incr, key))


def timed(call, *args) -> tuple[Any, float]:
    """(result, milliseconds) of a call."""
    start = time.perf_counter()
    result = call(*args)
    return result, round((time.perf_counter() - start) * 1000, 3)
