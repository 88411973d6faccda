"""Database and cache credentials, read once at start from AWS Secrets Manager.

The secrets are the ones the platform creates:

- ``<platform>/<env>/postgres/app_rw`` (and ``app_ro``, the read pool's login; giftcrypto.platform.db_schema):
  username, password, host, port, dbname, sslmode, sslrootcert;
- ``<platform>/<env>/redis/app``, the cache's one shape in every environment (written by whichever
  layer owns the cache: giftcrypto.platform.redis_server locally, aws_elasticache on AWS): host (the
  endpoint), port, username (the ACL user; empty for an AUTH token alone, as ElastiCache's),
  password (the ACL password or the AUTH token), tls (must be true), ca (CA file; empty: the
  system's trust store, which holds the Amazon roots ElastiCache's certificates chain to);
- when errors and traces are configured (their secrets are the operator's, holding what the vendors
  issued): GIFTCRYPTO_SENTRY_SECRET's ``dsn`` (the Sentry project's DSN) and
  GIFTCRYPTO_OTLP_HEADERS_SECRET's ``headers`` (an object of HTTP headers of the OTLP receiver, e.g.
  New Relic's ``{"api-key": "<license key>"}``).

Nothing is read from files but the CA certificate the secrets name. A missing or malformed secret
is a ConfigError naming the secret and what is wrong, never the secret's value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from giftcrypto_api.config import ConfigError, Settings

# An HTTP header's name (RFC 9110's token) and a value without control characters.
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_HEADER_VALUE = re.compile(r"^[^\x00-\x1f\x7f]*$")


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
    """Redis over TLS, as an ACL user or with an AUTH token alone; the password is left out of repr()."""

    # Empty: no user name, `AUTH <password>` (an ElastiCache AUTH token).
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
    # The read pool's login (GIFTCRYPTO_DB_READ_SECRET); None: reads go to `database`.
    read_database: DatabaseCredentials | None = None
    # Sentry's DSN (GIFTCRYPTO_SENTRY_SECRET); empty: Sentry is off. Left out of repr().
    sentry_dsn: str = field(default="", repr=False)
    # Headers of the OTLP receiver (GIFTCRYPTO_OTLP_HEADERS_SECRET); left out of repr().
    otlp_headers: Mapping[str, str] = field(default_factory=dict, repr=False)


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


def database_credentials(
    secret: dict[str, Any], name: str, settings: Settings, *, dbname: str = ""
) -> DatabaseCredentials:
    """A login, pointed at pgBouncer unless the settings say to use the secret's host.

    Through pgBouncer the server certificate is pgBouncer's, verified with
    GIFTCRYPTO_PGBOUNCER_SSLROOTCERT when set; `dbname`, when given, replaces the secret's (the
    pooler's entry of the read replica).
    """
    _require(secret, name, ("username", "password", "dbname"))
    sslrootcert = str(secret.get("sslrootcert") or "")
    if settings.pgbouncer_host:
        host, port = settings.pgbouncer_host, int(settings.pgbouncer_port or 6432)
        sslrootcert = settings.pgbouncer_sslrootcert or sslrootcert
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
        dbname=dbname or str(secret["dbname"]),
        sslrootcert=sslrootcert,
    )


def redis_credentials(secret: dict[str, Any], name: str) -> RedisCredentials:
    """The cache's login; a secret that does not ask for TLS is refused (the service is TLS only).

    `username` may be empty or absent: an AUTH token alone (ElastiCache without RBAC users).
    """
    _require(secret, name, ("password", "host", "port"))
    if str(secret.get("tls", "")).lower() not in ("true", "1", "yes"):
        raise ConfigError(f"secret {name!r} does not set tls: the service only talks to Redis over TLS")
    return RedisCredentials(
        username=str(secret.get("username") or ""),
        password=str(secret["password"]),
        host=str(secret["host"]),
        port=_port(secret, name),
        ca=str(secret.get("ca") or ""),
    )


def sentry_dsn(secret: dict[str, Any], name: str) -> str:
    """The DSN of a Sentry project (https://<public key>@<host>/<project id>), checked by the SDK's parser."""
    from sentry_sdk.utils import BadDsn, Dsn

    _require(secret, name, ("dsn",))
    value = str(secret["dsn"]).strip()
    try:
        Dsn(value)
    except BadDsn:
        raise ConfigError(f"secret {name!r} has a dsn that is not a Sentry DSN") from None
    return value


def otlp_headers(secret: dict[str, Any], name: str) -> dict[str, str]:
    """The OTLP receiver's headers: a JSON object of names to string values."""
    _require(secret, name, ("headers",))
    headers = secret["headers"]
    if not isinstance(headers, dict):
        raise ConfigError(f"secret {name!r}: headers is not a JSON object")
    for key, value in headers.items():
        if (
            not _HEADER_NAME.fullmatch(key)
            or not isinstance(value, str)
            or not _HEADER_VALUE.fullmatch(value)
        ):
            raise ConfigError(
                f"secret {name!r}: header {key!r} is not a valid HTTP header name and string value"
            )
    return dict(headers)


def load_credentials(settings: Settings, client=None) -> Credentials:
    """Reads the secrets (once, at start); raises ConfigError on the first that is unusable."""
    client = client if client is not None else secrets_client(settings)
    database = read_secret(client, settings.db_credentials_id, settings)
    cache = read_secret(client, settings.redis_credentials_id, settings)
    read_database = None
    if settings.db_read_credentials_id:
        read_name = settings.db_read_credentials_id
        read_secret_value = read_secret(client, read_name, settings)
        read_database = database_credentials(
            read_secret_value, read_name, settings, dbname=settings.db_read_dbname
        )
    dsn = ""
    if settings.sentry_credentials_id:
        name = settings.sentry_credentials_id
        dsn = sentry_dsn(read_secret(client, name, settings), name)
    headers: dict[str, str] = {}
    if settings.otlp_headers_id:
        name = settings.otlp_headers_id
        headers = otlp_headers(read_secret(client, name, settings), name)
    return Credentials(
        database=database_credentials(database, settings.db_credentials_id, settings),
        redis=redis_credentials(cache, settings.redis_credentials_id),
        read_database=read_database,
        sentry_dsn=dsn,
        otlp_headers=headers,
    )
