"""Logins that follow a rotation: re-read from Secrets Manager when the server refuses them.

The platform rotates the API's logins with Secrets Manager's four steps (ADR 0019, section 2):
``setSecret`` gives the server the new password (as ``AWSPENDING``), ``finishSecret`` moves
``AWSCURRENT`` to it. The service reads its secrets at start; afterwards, a login the server refuses
(PostgreSQL or pgBouncer: "password authentication failed"; Redis: ``WRONGPASS``) makes it read the
secret again, ``AWSCURRENT`` and then ``AWSPENDING`` (which exists only during a rotation: between
``setSecret`` and ``finishSecret`` PostgreSQL already has the new password while ``AWSCURRENT``
still holds the old one), and log in with the first that the server accepts, which then stays in
use. Connections already open are not touched: the server keeps their sessions.

The hooks:

- ``rotating_connection_class(login)``: a ``psycopg.Connection`` class for the pool's
  ``connection_class`` (every new pooled connection goes through it);
- ``RotatingRedisCredentials(login)``: redis-py's ``credential_provider``, and
  ``Cache(..., refresh=login)`` retries a command refused with ``WRONGPASS`` once per new candidate.

A refusal re-reads Secrets Manager at most once per ``min_interval`` seconds (1 s), however many
connections fail together.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import psycopg
from botocore.exceptions import BotoCoreError, ClientError
from redis.credentials import CredentialProvider

log = logging.getLogger("giftcrypto_api.secret_refresh")

T = TypeVar("T")
STAGES = ("AWSCURRENT", "AWSPENDING")
# SQLSTATE invalid_password and invalid_authorization_specification (PostgreSQL); pgBouncer answers
# its own refusals with 08P01 and one of these messages (a SCRAM proof it refuses: "SASL
# authentication failed", pgbouncer's src/client.c; a clear-text password: the other).
_PG_REFUSED_STATES = frozenset({"28P01", "28000"})
_PG_REFUSED_TEXTS = ("password authentication failed", "SASL authentication failed")


class RotatingLogin(Generic[T]):  # noqa: UP046 - the service supports Python 3.11 (no PEP 695)
    """The login in use, and the ones to try after the server refused it."""

    def __init__(
        self,
        name: str,
        initial: T,
        read: Callable[[str], T | None],
        *,
        min_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._current = initial
        self._read = read
        self._min_interval = min_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._last_read = float("-inf")
        self._candidates: list[T] = []

    @property
    def current(self) -> T:
        return self._current

    def candidates(self, refused: T) -> list[T]:
        """The logins to try instead of `refused` (empty: none other is known)."""
        with self._lock:
            if self._current != refused:
                # Another connection already moved on: use what it found.
                return [self._current]
            now = self._clock()
            if now - self._last_read >= self._min_interval:
                self._last_read = now
                found: list[T] = []
                for stage in STAGES:
                    value = self._read(stage)
                    if value is not None and value != refused and value not in found:
                        found.append(value)
                self._candidates = found
                log.warning(
                    "login refused: secret read again",
                    extra={"fields": {"secret": self.name, "candidates": len(found)}},
                )
            return list(self._candidates)

    def accepted(self, login: T) -> None:
        """A candidate the server accepted becomes the login in use."""
        with self._lock:
            if self._current != login:
                self._current = login
                log.info("rotated login in use", extra={"fields": {"secret": self.name}})


def stage_reader(  # noqa: UP047 - Python 3.11, as above
    client_factory: Callable[[], Any], name: str, parse: Callable[[dict], T]
) -> Callable[[str], T | None]:
    """read(stage): the secret's version at that stage, parsed; None when there is none or it is unusable."""
    clients: list[Any] = []

    def read(stage: str) -> T | None:
        if not clients:
            clients.append(client_factory())
        try:
            text = clients[0].get_secret_value(SecretId=name, VersionStage=stage).get("SecretString") or ""
            return parse(json.loads(text))
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code != "ResourceNotFoundException":
                log.warning(
                    "cannot read secret", extra={"fields": {"secret": name, "stage": stage, "error": code}}
                )
        except (BotoCoreError, ValueError, TypeError, KeyError) as error:
            # A value the service cannot use is never tried (its content is not logged).
            log.warning(
                "cannot use secret",
                extra={"fields": {"secret": name, "stage": stage, "error": type(error).__name__}},
            )
        except Exception as error:
            log.warning(
                "cannot use secret",
                extra={"fields": {"secret": name, "stage": stage, "error": type(error).__name__}},
            )
        return None

    return read


def pg_refused(error: BaseException) -> bool:
    """True when PostgreSQL or pgBouncer refused the login's password."""
    state = getattr(error, "sqlstate", None)
    return state in _PG_REFUSED_STATES or any(text in str(error) for text in _PG_REFUSED_TEXTS)


def rotating_connection_class(
    login: RotatingLogin, base: type = psycopg.Connection
) -> type[psycopg.Connection]:
    """A Connection class whose connect() logs in with the login in use, then with the candidates."""

    class RotatingConnection(base):
        @classmethod
        def connect(cls, conninfo: str = "", **kwargs: Any):  # type: ignore[override]
            used = login.current
            try:
                return super().connect(conninfo, **{**kwargs, **_auth(used)})
            except psycopg.OperationalError as error:
                if not pg_refused(error):
                    raise
                refusal = error
            for candidate in login.candidates(used):
                try:
                    conn = super().connect(conninfo, **{**kwargs, **_auth(candidate)})
                except psycopg.OperationalError as error:
                    if not pg_refused(error):
                        raise
                    continue
                login.accepted(candidate)
                return conn
            raise refusal

    return RotatingConnection


def _auth(credentials: Any) -> dict[str, str]:
    return {"user": credentials.username, "password": credentials.password}


class RotatingRedisCredentials(CredentialProvider):
    """redis-py's credential provider: the login in use, read at each new connection."""

    def __init__(self, login: RotatingLogin) -> None:
        self.login = login

    def get_credentials(self):
        credentials = self.login.current
        if credentials.username:
            return credentials.username, credentials.password
        return (credentials.password,)


class Logins:
    """The service's rotating logins (None where a secret is not configured), built in the worker."""

    def __init__(
        self, settings: Any, credentials: Any, client_factory: Callable[[], Any] | None = None
    ) -> None:
        from giftcrypto_api.credentials import database_credentials, redis_credentials, secrets_client

        factory = client_factory or (lambda: secrets_client(settings))
        db_name, redis_name = settings.db_credentials_id, settings.redis_credentials_id
        self.database = RotatingLogin(
            db_name,
            credentials.database,
            stage_reader(factory, db_name, lambda value: database_credentials(value, db_name, settings)),
        )
        self.redis = RotatingLogin(
            redis_name,
            credentials.redis,
            stage_reader(factory, redis_name, lambda value: redis_credentials(value, redis_name)),
        )
        self.read_database = None
        if credentials.read_database is not None:
            read_name = settings.db_read_credentials_id
            self.read_database = RotatingLogin(
                read_name,
                credentials.read_database,
                stage_reader(
                    factory,
                    read_name,
                    lambda value: database_credentials(
                        value, read_name, settings, dbname=settings.db_read_dbname
                    ),
                ),
            )
