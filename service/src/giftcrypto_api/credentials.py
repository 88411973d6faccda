"""Database and cache credentials, read once at start from AWS Secrets Manager.

The secrets are the ones the platform creates (giftcrypto.platform.db_schema and redis_server):

- ``<platform>/<env>/postgres/app_rw``: username, password, host, port, dbname, sslmode, sslrootcert;
- ``<platform>/<env>/redis/app``: username, password, host, port, tls, ca.

Nothing is read from files but the CA certificate the secrets name. A missing or malformed secret
is a ConfigError naming the secret and what is wrong, never the secret's value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from giftcrypto_api.config import ConfigError, Settings


@dataclass(frozen=True)
class DatabaseCredentials:
    """PostgreSQL through pgBouncer; the password is left out of repr() (logs, tracebacks)."""

    username: str
    password: str = field(repr=False)
    host: str
    port: int
    dbname: str
    # Empty: libpq's trust store for the server certificate ("system", libpq 16+).
    sslrootcert: str = ""

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of psycopg.connect(): TLS with the server's name and chain verified."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.username,
            "password": self.password,
            "dbname": self.dbname,
            "sslmode": "verify-full",
            "sslrootcert": self.sslrootcert or "system",
        }


@dataclass(frozen=True)
class RedisCredentials:
    """An ACL user of Redis over TLS; the password is left out of repr()."""

    username: str
    password: str = field(repr=False)
    host: str
    port: int
    # Empty: the system's trust store.
    ca: str = ""


@dataclass(frozen=True)
class Credentials:
    database: DatabaseCredentials
    redis: RedisCredentials


def secrets_client(settings: Settings):
    """A Secrets Manager client: boto3's credential chain, the region and endpoint of the settings."""
    config = Config(
        connect_timeout=5,
        read_timeout=10,
        retries={"max_attempts": 3, "mode": "standard"},
    )
    return boto3.session.Session().client(
        "secretsmanager",
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        config=config,
    )


def read_secret(client, name: str, settings: Settings) -> dict[str, Any]:
    """The JSON object stored in a secret; ConfigError (naming the secret, not its value) otherwise."""
    where = f"region {settings.aws_region}" + (
        f", endpoint {settings.aws_endpoint_url}" if settings.aws_endpoint_url else ""
    )
    try:
        response = client.get_secret_value(SecretId=name)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "Unknown")
        if code == "ResourceNotFoundException":
            raise ConfigError(f"secret {name!r} does not exist in Secrets Manager ({where})") from None
        raise ConfigError(f"cannot read secret {name!r} from Secrets Manager ({where}): {code}") from None
    except BotoCoreError as error:
        raise ConfigError(
            f"cannot reach Secrets Manager for secret {name!r} ({where}): {type(error).__name__}: {error}"
        ) from None
    text = response.get("SecretString")
    if not text:
        raise ConfigError(f"secret {name!r} has no string value (expected a JSON object)")
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ConfigError(f"secret {name!r} is not a JSON object")
    return value


def _require(secret: dict[str, Any], name: str, fields: tuple[str, ...]) -> None:
    missing = [key for key in fields if secret.get(key) in (None, "")]
    if missing:
        raise ConfigError(f"secret {name!r} lacks {', '.join(missing)}")


def _port(secret: dict[str, Any], name: str) -> int:
    try:
        port = int(secret["port"])
    except (TypeError, ValueError):
        port = 0
    if not 0 < port < 65536:
        raise ConfigError(f"secret {name!r} has an invalid port")
    return port


def database_credentials(secret: dict[str, Any], name: str, settings: Settings) -> DatabaseCredentials:
    """The app_rw login, pointed at pgBouncer unless the settings say to use the secret's host."""
    _require(secret, name, ("username", "password", "dbname"))
    if settings.pgbouncer_host:
        host, port = settings.pgbouncer_host, int(settings.pgbouncer_port or 6432)
    else:
        _require(secret, name, ("host", "port"))
        host, port = str(secret["host"]), _port(secret, name)
    sslmode = str(secret.get("sslmode") or "verify-full")
    if sslmode != "verify-full":
        raise ConfigError(f"secret {name!r} asks for sslmode={sslmode}: the service only uses verify-full")
    return DatabaseCredentials(
        username=str(secret["username"]),
        password=str(secret["password"]),
        host=host,
        port=port,
        dbname=str(secret["dbname"]),
        sslrootcert=str(secret.get("sslrootcert") or ""),
    )


def redis_credentials(secret: dict[str, Any], name: str) -> RedisCredentials:
    """The Redis ACL user; a secret that does not ask for TLS is refused (the service is TLS only)."""
    _require(secret, name, ("username", "password", "host", "port"))
    if str(secret.get("tls", "")).lower() not in ("true", "1", "yes"):
        raise ConfigError(f"secret {name!r} does not set tls: the service only talks to Redis over TLS")
    return RedisCredentials(
        username=str(secret["username"]),
        password=str(secret["password"]),
        host=str(secret["host"]),
        port=_port(secret, name),
        ca=str(secret.get("ca") or ""),
    )


def load_credentials(settings: Settings, client=None) -> Credentials:
    """Reads both secrets (once, at start); raises ConfigError on the first that is unusable."""
    client = client if client is not None else secrets_client(settings)
    database = read_secret(client, settings.db_credentials_id, settings)
    cache = read_secret(client, settings.redis_credentials_id, settings)
    return Credentials(
        database=database_credentials(database, settings.db_credentials_id, settings),
        redis=redis_credentials(cache, settings.redis_credentials_id),
    )
