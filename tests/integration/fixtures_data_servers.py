"""Connection fixtures of the local data-plane servers (PostgreSQL, pgBouncer, Redis).

Facts come from the local inventory (ports) and credentials from the local Secrets Manager, as the
platform reads them: ``giftcrypto/local/postgres/master`` and ``giftcrypto/local/redis/{app,admin}``.
Every connection is TLS with verification against the local CA.
"""

from __future__ import annotations

import pathlib

import psycopg
import pytest
import redis

PG_LOG = pathlib.Path("/var/log/postgresql/giftcrypto/postgresql-15-giftcrypto.json")


class Credentials(dict):
    """A dict of connection facts whose repr hides the password (pytest prints fixtures on failure)."""

    def __repr__(self) -> str:
        return repr({k: ("***" if k == "password" and v else v) for k, v in self.items()})


@pytest.fixture(scope="session")
def pg_master_secret(secret) -> dict:
    """The admin credentials JSON: username, password, host, port, dbname, sslmode, sslrootcert."""
    return Credentials(secret("postgres/master"))


@pytest.fixture(scope="session")
def pg_master_conninfo(pg_master_secret, local_vars) -> dict:
    """Keyword arguments of psycopg.connect() for the admin, straight to PostgreSQL, database giftcrypto."""
    return Credentials(
        host=pg_master_secret["host"],
        port=int(pg_master_secret["port"]),
        user=pg_master_secret["username"],
        password=pg_master_secret["password"],
        dbname=local_vars.get("postgres_server_database", "giftcrypto"),
        sslmode=pg_master_secret["sslmode"],
        sslrootcert=pg_master_secret["sslrootcert"],
        connect_timeout=10,
    )


@pytest.fixture(scope="session")
def pgbouncer_master_conninfo(pg_master_conninfo, local_vars) -> dict:
    """The same as pg_master_conninfo, through pgBouncer (transaction pooling)."""
    return Credentials(
        pg_master_conninfo,
        host=local_vars.get("postgres_server_pgbouncer_listen_address", "127.0.0.1"),
        port=int(local_vars.get("postgres_server_pgbouncer_port", 6432)),
    )


@pytest.fixture
def pg_master_conn(pg_master_conninfo):
    """An autocommit admin connection straight to PostgreSQL, closed after the test."""
    with psycopg.connect(**pg_master_conninfo, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def pg_server_log() -> pathlib.Path:
    """The cluster's server log (pgaudit writes its AUDIT lines there)."""
    return PG_LOG


def redis_client(credentials: dict, **overrides) -> redis.Redis:
    """A TLS Redis client (certificate verified against the local CA) from a secret's JSON."""
    options = {
        "host": credentials["host"],
        "port": int(credentials["port"]),
        "username": credentials["username"],
        "password": credentials["password"],
        "ssl": bool(credentials["tls"]),
        "ssl_ca_certs": credentials["ca"],
        "ssl_cert_reqs": "required",
        "socket_timeout": 10,
    }
    options.update(overrides)
    return redis.Redis(**options)


@pytest.fixture(scope="session")
def redis_app_secret(secret) -> dict:
    """The app user's credentials JSON: username, password, host, port, tls, ca."""
    return Credentials(secret("redis/app"))


@pytest.fixture
def redis_app_client(redis_app_secret):
    """A TLS Redis client logged in as the app user, closed after the test."""
    client = redis_client(redis_app_secret)
    yield client
    client.close()
