"""Logins that follow a rotation (secret_refresh.py): a refused login re-reads the secret."""

# ruff: noqa: S105, S106 - the passwords here are fakes named "old", "new", "pending"

from __future__ import annotations

import dataclasses
import json
import typing

import psycopg
import pytest
import redis
from giftcrypto_api.config import Settings
from giftcrypto_api.credentials import Credentials, DatabaseCredentials, RedisCredentials, load_credentials
from giftcrypto_api.dependencies import Cache, DependencyError
from giftcrypto_api.secret_refresh import (
    Logins,
    RotatingLogin,
    RotatingRedisCredentials,
    pg_refused,
    rotating_connection_class,
    stage_reader,
)

DB = DatabaseCredentials("app_rw", "old", "127.0.0.1", 6432, "giftcrypto")
NEW = dataclasses.replace(DB, password="new")
PENDING = dataclasses.replace(DB, password="pending")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_refused_login_yields_awscurrent_then_awspending_read_again():
    reads = []

    def read(stage):
        reads.append(stage)
        return {"AWSCURRENT": NEW, "AWSPENDING": PENDING}[stage]

    login = RotatingLogin("s", DB, read, clock=Clock())
    assert login.candidates(DB) == [NEW, PENDING]
    assert reads == ["AWSCURRENT", "AWSPENDING"]
    login.accepted(PENDING)
    assert login.current == PENDING
    # Another connection refused with the old login is pointed at the one in use, no new read.
    assert login.candidates(DB) == [PENDING]
    assert reads == ["AWSCURRENT", "AWSPENDING"]


def test_secrets_manager_is_read_at_most_once_a_second_and_the_refused_value_is_never_offered():
    clock, reads = Clock(), []

    def read(stage):
        reads.append(stage)
        return DB if stage == "AWSCURRENT" else None

    login = RotatingLogin("s", DB, read, clock=clock)
    assert login.candidates(DB) == []
    assert login.candidates(DB) == []
    assert len(reads) == 2
    clock.now += 1.0
    assert login.candidates(DB) == []
    assert len(reads) == 4


def test_stage_reader_reads_each_stage_and_none_when_absent_or_unusable(sm, secrets, caplog):
    name = "giftcrypto/local/postgres/app_rw"
    settings = Settings()
    read = stage_reader(
        lambda: sm,
        name,
        lambda value: DatabaseCredentials(
            **{k: value[k] for k in ("username", "password", "host", "port", "dbname")}
        ),
    )
    assert read("AWSCURRENT").password == secrets["postgres"]["password"]
    assert read("AWSPENDING") is None, "no rotation under way: no AWSPENDING"
    sm.put_secret_value(
        SecretId=name,
        SecretString=json.dumps({**secrets["postgres"], "password": "p2"}),
        VersionStages=["AWSPENDING"],
    )
    assert read("AWSPENDING").password == "p2"  # pragma: allowlist secret
    unusable = "not json"
    sm.put_secret_value(SecretId=name, SecretString=unusable, VersionStages=["AWSPENDING"])
    assert read("AWSPENDING") is None
    assert "not json" not in caplog.text
    assert settings.db_credentials_id == name


def test_logins_parse_the_secrets_as_at_start(sm, secrets):
    settings = Settings()
    credentials = load_credentials(settings, client=sm)
    logins = Logins(settings, credentials, client_factory=lambda: sm)
    assert logins.read_database is None
    assert logins.database.current == credentials.database
    rotated = {**secrets["postgres"], "password": "rotated"}  # pragma: allowlist secret
    sm.put_secret_value(SecretId=settings.db_credentials_id, SecretString=json.dumps(rotated))
    (candidate,) = logins.database.candidates(credentials.database)
    assert candidate == dataclasses.replace(credentials.database, password="rotated")
    assert candidate.host == credentials.database.host, "pgBouncer's address, as at start"
    assert logins.redis.candidates(credentials.redis) == []


class FakeConnection:
    accepted = frozenset({"new"})
    attempts: typing.ClassVar[list[str]] = []

    @classmethod
    def connect(cls, conninfo="", **kwargs):
        cls.attempts.append(kwargs["password"])
        if kwargs["password"] not in cls.accepted:
            raise psycopg.OperationalError(
                'connection failed: FATAL:  password authentication failed for user "app_rw"'
            )
        return ("connection", kwargs["user"], kwargs["password"])


def test_a_pooled_connection_refused_logs_in_with_the_secret_read_again():
    FakeConnection.attempts = []
    login = RotatingLogin("s", DB, lambda stage: {"AWSCURRENT": DB, "AWSPENDING": NEW}[stage], clock=Clock())
    cls = rotating_connection_class(login, base=FakeConnection)
    ignored = {"user": "ignored", "password": "ignored"}  # pragma: allowlist secret
    assert cls.connect("", dbname="x", **ignored) == ("connection", "app_rw", "new")
    assert FakeConnection.attempts == ["old", "new"]
    assert login.current == NEW
    FakeConnection.attempts = []
    cls.connect("")
    assert FakeConnection.attempts == ["new"], "the accepted login stays in use"


def test_a_refusal_with_no_better_login_and_other_errors_are_raised_as_they_are():
    FakeConnection.attempts = []
    login = RotatingLogin("s", DB, lambda stage: None, clock=Clock())
    cls = rotating_connection_class(login, base=FakeConnection)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        cls.connect("")

    class Down:
        @classmethod
        def connect(cls, conninfo="", **kwargs):
            raise psycopg.OperationalError("connection refused")

    reads = []
    login = RotatingLogin("s", DB, lambda stage: reads.append(stage), clock=Clock())
    with pytest.raises(psycopg.OperationalError, match="refused"):
        rotating_connection_class(login, base=Down).connect("")
    assert reads == [], "only a refused password re-reads the secret"


def test_pg_refused_recognises_postgresql_and_pgbouncer():
    assert pg_refused(psycopg.OperationalError('FATAL:  password authentication failed for user "x"'))
    assert pg_refused(psycopg.OperationalError("FATAL:  SASL authentication failed"))  # pgBouncer's SCRAM
    assert not pg_refused(psycopg.OperationalError("could not connect to server"))


REDIS = RedisCredentials("app", "old", "127.0.0.1", 6379)
REDIS_NEW = dataclasses.replace(REDIS, password="new")


def test_the_redis_client_logs_in_with_the_login_in_use():
    login = RotatingLogin("r", REDIS, lambda stage: None)
    assert RotatingRedisCredentials(login).get_credentials() == ("app", "old")
    token = RotatingLogin("r", dataclasses.replace(REDIS, username=""), lambda stage: None)
    assert RotatingRedisCredentials(token).get_credentials() == ("old",)
    cache = Cache(REDIS, refresh=login)
    assert cache.client.connection_pool.connection_kwargs["credential_provider"].login is login


def test_a_redis_command_refused_is_retried_with_the_secret_read_again(monkeypatch):
    login = RotatingLogin(
        "r", REDIS, lambda stage: {"AWSCURRENT": REDIS_NEW, "AWSPENDING": None}[stage], clock=Clock()
    )
    cache = Cache(REDIS, refresh=login)
    used = []

    def incr(key):
        used.append(login.current.password)
        if login.current.password != "new":  # pragma: allowlist secret
            raise redis.AuthenticationError("WRONGPASS invalid username-password pair or user is disabled.")
        return 7

    monkeypatch.setattr(cache.client, "incr", incr)
    assert cache.incr("k") == 7
    assert used == ["old", "new"]
    assert login.current == REDIS_NEW


def test_a_redis_refusal_without_a_new_login_is_a_dependency_error(monkeypatch):
    login = RotatingLogin("r", REDIS, lambda stage: None, clock=Clock())
    cache = Cache(REDIS, refresh=login)

    def ping():
        raise redis.AuthenticationError("WRONGPASS")

    monkeypatch.setattr(cache.client, "ping", ping)
    with pytest.raises(DependencyError):
        cache.ping()
    assert login.current == REDIS
    assert Credentials(DB, REDIS).database == DB


def test_a_refused_redis_login_is_not_retried_before_the_secret_is_read_again():
    """redis-py retries a ConnectionError three times with backoff (about 3 s), and a refused login
    is one to it: retried, a rotation made /readyz slower than HAProxy's check and the colour was
    marked down. The client's policy gives a refusal back at once; a lost connection is retried."""
    cache = Cache(REDIS, refresh=RotatingLogin("r", REDIS, lambda stage: None, clock=Clock()))
    retry = cache.client.get_retry()
    assert cache.client.connection_pool.connection_kwargs["retry"] is retry
    calls = []

    def refused():
        calls.append("auth")
        raise redis.AuthenticationError("WRONGPASS invalid username-password pair or user is disabled.")

    with pytest.raises(redis.AuthenticationError):
        retry.call_with_retry(refused, lambda error: None)
    assert calls == ["auth"]

    def reset_once():
        calls.append("reset")
        if calls.count("reset") == 1:
            raise redis.ConnectionError("Connection reset by peer")
        return "PONG"

    assert retry.call_with_retry(reset_once, lambda error: None) == "PONG"
    assert calls == ["auth", "reset", "reset"]
