# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rotation of the platform's generated logins by Secrets Manager's four steps (ADR 0019, section 2).

One code for both runners:

- on AWS, ``lambda_handler(event, context)`` is the rotation Lambda Secrets Manager invokes with
  ``{"Step": "createSecret" | "setSecret" | "testSecret" | "finishSecret", "SecretId",
  "ClientRequestToken"}``;
- locally (the endpoint runs no Lambda), ``rotate(client, secret_id)`` runs the same four steps in
  the order Secrets Manager does, through the endpoint's Secrets Manager (``tools/rotate_secrets.py``,
  ``nox -s rotate-local``).

The steps follow AWS's published single-user templates (SecretsManagerRDSPostgreSQLRotationSingleUser):

- ``createSecret``: a new password (``GetRandomPassword``, letters and digits as the platform's
  generated ones) stored as the version ``ClientRequestToken`` with the stage ``AWSPENDING``; an
  existing ``AWSPENDING`` version of that token is kept (a retried step does nothing);
- ``setSecret``: the server learns it. PostgreSQL: ``ALTER ROLE ... PASSWORD`` through the admin
  connection (``<prefix>/postgres/master``, whose password is in the secret or, on RDS, in the
  ``rds!db-`` secret its ``password_secret_arn`` names), with the SCRAM-SHA-256 verifier computed
  client-side (libpq's PQencryptPasswordConn), so the clear password is never in a statement a log
  or pgaudit could keep. Redis: ``ACL SETUSER <user> #<sha256>`` through the ``redis/admin`` login,
  which *adds* the password: Redis accepts the old and the new one until ``finishSecret``;
- ``testSecret``: a login with ``AWSPENDING`` (PostgreSQL: ``SELECT 1``; Redis: ``AUTH`` + ``PING``);
- ``finishSecret``: ``AWSCURRENT`` moves to the new version (the old one becomes ``AWSPREVIOUS``),
  then the previous credential is expired: Redis removes the old password (``ACL SETUSER <user>
  !<sha256>``) and rewrites the hash in the ACL file Redis loads at start (``CONFIG GET aclfile``,
  where it is readable: the local server; the line stays as ``redis_server`` renders it, so its next
  deploy changes nothing). PostgreSQL's old password already stopped at ``setSecret`` (one password
  per role): the clients that open a connection in between fall back to ``AWSPENDING`` (the API's
  ``giftcrypto_api.secret_refresh``), those already connected keep their sessions.

The kind of a secret is read from its name, ``<platform>/<env>/<kind>/<login>``: ``postgres/*``
(but ``postgres/master``'s admin login itself on RDS, owned by RDS, and ``postgres/backup``),
``redis/*``, and ``elasticache/auth-token``. Keys that are not passwords are not rotated here
(``NOT_ROTATED``): asked to, the handler refuses with the reason.

ElastiCache's AUTH token (``<prefix>/elasticache/auth-token``, JSON ``{"auth_token": ...}``; ADR 0019)
is not an ACL user: the replication group holds it, and ``ModifyReplicationGroup`` changes it in two
moves (AuthTokenUpdateStrategy ``ROTATE``: the new token is accepted beside the old one; ``SET``:
only the given one). Its four steps:

- ``createSecret``: a new token of 40 letters and digits (AWS's rules: 16 to 128 printable ASCII
  characters, none of space, ``"``, ``/``, ``@``, ``%``), the JSON's other keys kept;
- ``setSecret``: ``ROTATE`` to the new token (both valid), then the group ``available`` again;
- ``testSecret``: ``AUTH <token>`` (no user) and ``PING`` over TLS at the host and port of the
  connection secret the service reads, ``<prefix>/redis/app``;
- ``finishSecret``: the new token into ``<prefix>/redis/app`` (a new ``AWSCURRENT`` version, so the
  service, which re-reads it on WRONGPASS, follows), then ``SET`` to the new token (the old one
  stops), the group ``available`` again, and only then ``AWSCURRENT`` of the auth-token secret moves.

The replication group is the one ``ROTATION_ELASTICACHE_GROUP_ID`` names (the function's environment,
set by aws_secret_rotation from aws_elasticache's id): a value of the deploy, not of the secret, so a
secret cannot point the function at another group. A retried step sends its ``ModifyReplicationGroup``
again; if ElastiCache refuses it (the change already made), the data plane decides: the step is done
when the cache already accepts the new token (and, after ``SET``, refuses the old one).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable

try:
    import psycopg
    from psycopg import sql

    HAS_PSYCOPG = True
except ImportError:  # pragma: no cover - the Lambda's package and the controller both ship it
    psycopg = None
    sql = None
    HAS_PSYCOPG = False

try:
    import redis

    HAS_REDIS = True
except ImportError:  # pragma: no cover - the Lambda's package and the controller both ship it
    redis = None
    HAS_REDIS = False

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
PASSWORD_LENGTH = 32
# ElastiCache's AUTH token: as long as the one aws_security_baseline generates (letters and digits).
AUTH_TOKEN_LENGTH = 40
# The key that holds the password in each kind's JSON.
PASSWORD_KEYS = {"postgres": "password", "redis": "password", "elasticache": "auth_token"}
# The ElastiCache secrets this function rotates (the AUTH token of the platform's replication group).
ELASTICACHE_LOGINS = ("auth-token",)
# ModifyReplicationGroup answers at once and applies asynchronously: each step waits until the group
# is available again, at most Delay x MaxAttempts seconds (10 minutes; the function's timeout, at
# most 15 minutes, must leave room for it).
ELASTICACHE_WAIT = {"Delay": 15, "MaxAttempts": 40}

# Secrets that are keys, not passwords: their own procedures rotate them (ADR 0019, "Keys are not
# passwords"); the posture test lists the same ones as SecretsManager.1's documented exceptions.
NOT_ROTATED = {
    "postgres/backup": (
        "pgBackRest's repository cipher: a new value cannot read the existing backups, so its own "
        "procedure makes a new repository and keeps the old one restore-only (nox -s rotate-backup-cipher, "
        "runbook rotate-keys-and-secrets.md)"
    ),
    "pgbouncer/tls": "the pooler's certificate and key, renewed by app_deploy before it ends",
}

_NAME = re.compile(
    r"^(?P<prefix>[^/]+/[^/]+)/(?P<kind>postgres|redis|elasticache|pgbouncer)/(?P<login>[^/]+)$"
)


class RotationError(Exception):
    """A step that cannot go on; the message names the secret and the step, never a value."""


def secret_kind(name: str) -> tuple[str, str, str]:
    """(prefix, kind, login) of a platform secret's name; RotationError for one not rotated here."""
    # An ARN ends with "-" and six random characters after the name.
    match = _NAME.match(
        re.sub(r"-[A-Za-z0-9]{6}$", "", name.split(":secret:", 1)[1]) if ":secret:" in name else name
    )
    if not match:
        raise RotationError(
            f"secret {name!r} is not a generated login of the platform (<platform>/<env>/<kind>/<login>)"
        )
    kind_login = f"{match['kind']}/{match['login']}"
    if kind_login in NOT_ROTATED:
        raise RotationError(f"secret {name!r} is not rotated by this function: {NOT_ROTATED[kind_login]}")
    if match["kind"] not in ("postgres", "redis", "elasticache"):
        raise RotationError(f"secret {name!r}: no rotation for the kind {match['kind']!r} here")
    if match["kind"] == "elasticache" and match["login"] not in ELASTICACHE_LOGINS:
        raise RotationError(
            f"secret {name!r}: no rotation for elasticache/{match['login']} here (only "
            f"{', '.join('elasticache/' + login for login in ELASTICACHE_LOGINS)})"
        )
    return match["prefix"], match["kind"], match["login"]


def read_login(
    client, secret_id: str, stage: str = "AWSCURRENT", version_id: str | None = None, *, key: str = "password"
) -> dict:
    """A version's JSON login; RotationError (naming the secret and stage, not the value) otherwise.

    `key`: where the password is (``auth_token`` for ElastiCache's token); a login without it is
    refused, but a PostgreSQL login whose password RDS manages (``password_secret_arn``).
    """
    kwargs = {"SecretId": secret_id, "VersionStage": stage}
    if version_id:
        kwargs["VersionId"] = version_id
    text = client.get_secret_value(**kwargs).get("SecretString") or ""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if key == "password":
        valid = isinstance(value, dict) and bool(value.get("password") or value.get("password_secret_arn"))
    else:
        valid = isinstance(value, dict) and isinstance(value.get(key), str) and bool(value[key])
    if not valid:
        what = "a password" if key == "password" else f"an {key}"
        raise RotationError(f"secret {secret_id!r} ({stage}) is not a JSON login with {what}")
    return value


def secrets_manager_client(config=None):
    """A Secrets Manager client of the environment: ``AWS_REGION`` (else ``AWS_DEFAULT_REGION``), and
    ``SECRETS_MANAGER_ENDPOINT`` (else ``AWS_ENDPOINT_URL``; empty: the region's) for the endpoint."""
    import boto3

    return boto3.client(
        "secretsmanager",
        region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None,
        endpoint_url=os.environ.get("SECRETS_MANAGER_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL") or None,
        config=config,
    )


def not_found(error: Exception) -> bool:
    """Whether a botocore ClientError is ResourceNotFoundException (no such secret, or stage)."""
    response = getattr(error, "response", None) or {}
    return response.get("Error", {}).get("Code") == "ResourceNotFoundException"


# --- PostgreSQL -------------------------------------------------------------------------------


def pg_connect(login: dict, *, dbname: str | None = None, timeout: int = 5, sslrootcert: str | None = None):
    """A connection (autocommit) with a secret's login: its host, port, dbname, sslmode, sslrootcert.

    The CA bundle: `sslrootcert` when given, else ``ROTATION_PG_SSLROOTCERT``, else the secret's.
    """
    if not HAS_PSYCOPG:  # pragma: no cover
        raise RotationError("psycopg (3) is not installed")
    kwargs = {
        "host": login["host"],
        "port": int(login["port"]),
        "user": login["username"],
        "password": login["password"],
        "dbname": dbname or login.get("dbname") or "postgres",
        "sslmode": login.get("sslmode") or "verify-full",
        "connect_timeout": timeout,
        "autocommit": True,
    }
    # The Lambda ships the RDS certificate bundle in its package: the secret's sslrootcert is the path
    # on the deploy's hosts (aws_rds_ssl_root_cert), which the function does not have.
    sslrootcert = sslrootcert or os.environ.get("ROTATION_PG_SSLROOTCERT") or login.get("sslrootcert")
    if sslrootcert:
        kwargs["sslrootcert"] = sslrootcert
    return psycopg.connect(**kwargs)


def _pg_admin(client, prefix: str) -> dict:
    admin = read_login(client, f"{prefix}/postgres/master")
    if not admin.get("password") and admin.get("password_secret_arn"):
        # RDS manages the master password (ADR 0019, section 1): read it where RDS keeps it.
        admin = {**admin, "password": read_login(client, admin["password_secret_arn"])["password"]}
    return admin


def _pg_set(client, prefix: str, pending: dict) -> None:
    admin = _pg_admin(client, prefix)
    with pg_connect(admin) as conn:
        verifier = conn.pgconn.encrypt_password(
            pending["password"].encode(), pending["username"].encode(), b"scram-sha-256"
        ).decode()
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(pending["username"]), sql.Literal(verifier)
            )
        )


def _pg_test(login: dict) -> None:
    with pg_connect(login) as conn:
        conn.execute("SELECT 1").fetchone()


# --- Redis ------------------------------------------------------------------------------------


def _sha256(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def _redis(login: dict, *, timeout: float = 5.0):
    if not HAS_REDIS:  # pragma: no cover
        raise RotationError("redis (redis-py) is not installed")
    tls = str(login.get("tls", "")).lower() in ("true", "1", "yes")
    return redis.Redis(
        host=login["host"],
        port=int(login["port"]),
        username=login.get("username") or None,
        password=login["password"],
        ssl=tls,
        ssl_ca_certs=(login.get("ca") or None) if tls else None,
        ssl_cert_reqs="required" if tls else None,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )


def _redis_admin(client, prefix: str):
    return _redis(read_login(client, f"{prefix}/redis/admin"))


def _redis_set(client, prefix: str, pending: dict) -> None:
    admin = _redis_admin(client, prefix)
    try:
        admin.execute_command("ACL", "SETUSER", pending["username"], f"#{_sha256(pending['password'])}")
    finally:
        admin.close()


def _redis_test(login: dict) -> None:
    conn = _redis(login)
    try:
        conn.ping()
    finally:
        conn.close()


def _redis_expire(client, prefix: str, user: str, old: str, new: str) -> None:
    """The old password out of the user (live) and the ACL file's hash replaced in place."""
    admin = _redis_admin(client, prefix)
    try:
        if old != new:
            try:
                admin.execute_command("ACL", "SETUSER", user, f"!{_sha256(old)}")
            except redis.ResponseError as error:
                # Already gone (a retried finishSecret): the old password is refused, as wanted.
                if "does not exist" not in str(error):
                    raise
        try:
            aclfile = admin.config_get("aclfile").get("aclfile") or ""
        except redis.ResponseError:  # CONFIG is not allowed (ElastiCache): no file of ours to keep
            aclfile = ""
    finally:
        admin.close()
    if aclfile and os.access(aclfile, os.R_OK | os.W_OK):
        _replace_hash(aclfile, user, _sha256(old), _sha256(new))


def _replace_hash(path: str, user: str, old_hash: str, new_hash: str) -> None:
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines(keepends=True)
    changed = False
    for index, line in enumerate(lines):
        words = line.split()
        if len(words) > 2 and words[0] == "user" and words[1] == user and f"#{old_hash}" in words:
            lines[index] = line.replace(f"#{old_hash}", f"#{new_hash}")
            changed = True
    if not changed:
        return
    stat = os.stat(path)
    fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".users.acl.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines(lines)
        os.chmod(temporary, stat.st_mode & 0o7777)
        os.chown(temporary, stat.st_uid, stat.st_gid)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


# --- ElastiCache's AUTH token ------------------------------------------------------------------


def error_code(error: Exception) -> str:
    """A botocore ClientError's code, or the exception's class name (never its message)."""
    response = getattr(error, "response", None) or {}
    return response.get("Error", {}).get("Code") or type(error).__name__


def _elasticache(client):
    """An ElastiCache client in the Secrets Manager client's region (``ELASTICACHE_ENDPOINT``: another
    endpoint than the region's, as ``SECRETS_MANAGER_ENDPOINT``)."""
    import boto3

    return boto3.client(
        "elasticache",
        region_name=client.meta.region_name,
        endpoint_url=os.environ.get("ELASTICACHE_ENDPOINT") or None,
    )


def _group_id(secret_id: str) -> str:
    group = os.environ.get("ROTATION_ELASTICACHE_GROUP_ID", "")
    if not re.match(r"^[A-Za-z][A-Za-z0-9-]{0,39}$", group):
        raise RotationError(
            f"secret {secret_id!r}: the function's ROTATION_ELASTICACHE_GROUP_ID names no replication group"
        )
    return group


def _wait_available(elasticache, group: str, secret_id: str, step: str) -> None:
    try:
        elasticache.get_waiter("replication_group_available").wait(
            ReplicationGroupId=group, WaiterConfig=dict(ELASTICACHE_WAIT)
        )
    except Exception as error:  # botocore's WaiterError or ClientError
        raise RotationError(
            f"{step} of {secret_id!r}: the replication group {group} is not available ({error_code(error)})"
        ) from None


def _connection(client, prefix: str) -> dict:
    """The cache's connection secret the service reads (host, port, tls, ca; password: the token)."""
    return read_login(client, f"{prefix}/redis/app")


def _cache_accepts(connection: dict, token: str) -> bool:
    """Whether the cache at the connection's address accepts AUTH with `token` (no user) and PING."""
    conn = _redis({**connection, "username": "", "password": token})
    try:
        conn.ping()
        return True
    except redis.AuthenticationError:
        return False
    except redis.ResponseError as error:  # WRONGPASS, or NOAUTH/ERR of a server without that token
        if "WRONGPASS" in str(error) or "invalid password" in str(error) or "invalid username" in str(error):
            return False
        raise
    finally:
        conn.close()


def _modify_token(
    client, secret_id: str, step: str, strategy: str, token: str, done: Callable[[], bool]
) -> None:
    """ModifyReplicationGroup with the token and strategy, applied now, then the group available again.

    Refused (a retried step whose change ElastiCache already made), the step is done when `done()`
    (the data plane) says so; otherwise RotationError naming the secret, the step and the error code.
    """
    elasticache = _elasticache(client)
    group = _group_id(secret_id)
    _wait_available(elasticache, group, secret_id, step)
    try:
        elasticache.modify_replication_group(
            ReplicationGroupId=group,
            AuthToken=token,
            AuthTokenUpdateStrategy=strategy,
            ApplyImmediately=True,
        )
    except Exception as error:
        code = error_code(error)
        refused = code in ("InvalidParameterCombination", "InvalidParameterValue")
        try:
            already = refused and done()
        except Exception:
            already = False
        if not already:
            raise RotationError(
                f"{step} of {secret_id!r}: ModifyReplicationGroup ({strategy}) of {group} failed ({code})"
            ) from None
    _wait_available(elasticache, group, secret_id, step)


def _elasticache_set(client, secret_id: str, prefix: str, pending: dict) -> None:
    """ROTATE: the group accepts the new token beside the old one."""
    token = pending["auth_token"]
    _modify_token(
        client,
        secret_id,
        "setSecret",
        "ROTATE",
        token,
        lambda: _cache_accepts(_connection(client, prefix), token),
    )


def _elasticache_finish(client, secret_id: str, prefix: str, old: dict, new: dict, token: str) -> None:
    """The service's connection secret to the new token, then SET (only the new token is valid)."""
    name = f"{prefix}/redis/app"
    connection = _connection(client, prefix)
    if connection["password"] != new["auth_token"]:
        # The version id of the rotation: a retry with the same value is the same version.
        client.put_secret_value(
            SecretId=name,
            ClientRequestToken=token,
            SecretString=json.dumps({**connection, "password": new["auth_token"]}),
            VersionStages=["AWSCURRENT"],
        )

    def done() -> bool:
        return _cache_accepts(connection, new["auth_token"]) and (
            old["auth_token"] == new["auth_token"] or not _cache_accepts(connection, old["auth_token"])
        )

    _modify_token(client, secret_id, "finishSecret", "SET", new["auth_token"], done)


# --- The four steps ---------------------------------------------------------------------------


def create_secret(client, secret_id: str, token: str) -> None:
    """A new password as version `token`, stage AWSPENDING (kept if that version already has one).

    ElastiCache's AUTH token: 40 letters and digits in ``auth_token``, the JSON's other keys kept.
    """
    _prefix, kind, _login = secret_kind(secret_id)
    key = PASSWORD_KEYS[kind]
    current = read_login(client, secret_id, key=key)
    if not current.get(key):
        raise RotationError(
            f"secret {secret_id!r} holds no password (password_secret_arn: RDS manages and rotates it)"
        )
    try:
        read_login(client, secret_id, "AWSPENDING", token, key=key)
        return
    except Exception as error:  # botocore's ClientError, or a version without a value
        if not (not_found(error) or isinstance(error, RotationError)):
            raise
    password = client.get_random_password(
        PasswordLength=AUTH_TOKEN_LENGTH if kind == "elasticache" else PASSWORD_LENGTH,
        ExcludePunctuation=True,
        IncludeSpace=False,
    )["RandomPassword"]
    client.put_secret_value(
        SecretId=secret_id,
        ClientRequestToken=token,
        SecretString=json.dumps({**current, key: password}),
        VersionStages=["AWSPENDING"],
    )


def set_secret(client, secret_id: str, token: str) -> None:
    """The server learns the AWSPENDING password.

    Setting it again is harmless (the same password), so a retried step just sets it
    again; it does not try the pending login first, which would leave a failed login in the server's
    log (PostgresAuthenticationFailures counts them) at every rotation.
    """
    prefix, kind, _login = secret_kind(secret_id)
    pending = read_login(client, secret_id, "AWSPENDING", token, key=PASSWORD_KEYS[kind])
    if kind == "postgres":
        _pg_set(client, prefix, pending)
    elif kind == "elasticache":
        _elasticache_set(client, secret_id, prefix, pending)
    else:
        _redis_set(client, prefix, pending)


def test_secret(client, secret_id: str, token: str, *, pgbouncer: tuple[str, int] | None = None) -> None:
    """A login with the AWSPENDING credential; for PostgreSQL also through pgBouncer when one is named.

    pgBouncer (auth_query, SCRAM pass-through) opens its server connections with the keys of the last
    client login of that user: a login with the new password through it gives it the new keys
    before it needs a new server connection (otherwise that server login fails until a client logs
    in anew; pgbouncer/pgbouncer#676).
    """
    prefix, kind, _login = secret_kind(secret_id)
    pending = read_login(client, secret_id, "AWSPENDING", token, key=PASSWORD_KEYS[kind])
    if kind == "elasticache":
        # The token alone (no user), over TLS, at the address the service connects to.
        pending = {**_connection(client, prefix), "username": "", "password": pending["auth_token"]}
        kind = "redis"
    logins = [pending]
    if kind == "postgres" and pgbouncer:
        logins.append({**pending, "host": pgbouncer[0], "port": int(pgbouncer[1])})
    for login in logins:
        try:
            (_pg_test if kind == "postgres" else _redis_test)(login)
        except Exception as error:
            raise RotationError(
                f"testSecret of {secret_id!r}: the AWSPENDING credential does not log in at "
                f"{login['host']}:{login['port']} ({type(error).__name__})"
            ) from None


def _stage_versions(client, secret_id: str) -> dict:
    return client.describe_secret(SecretId=secret_id).get("VersionIdsToStages", {})


def finish_secret(client, secret_id: str, token: str) -> None:
    """AWSCURRENT to version `token` (the old one becomes AWSPREVIOUS); then the old credential expires."""
    prefix, kind, _login = secret_kind(secret_id)
    versions = _stage_versions(client, secret_id)
    current = next((version for version, stages in versions.items() if "AWSCURRENT" in stages), None)
    if current == token:
        return
    old = read_login(client, secret_id, "AWSCURRENT", key=PASSWORD_KEYS[kind])
    new = read_login(client, secret_id, "AWSPENDING", token, key=PASSWORD_KEYS[kind])
    if kind == "elasticache":
        # Before AWSCURRENT moves, so that a retry (AWSCURRENT not yet on `token`) does it again.
        _elasticache_finish(client, secret_id, prefix, old, new, token)
    client.update_secret_version_stage(
        SecretId=secret_id, VersionStage="AWSCURRENT", MoveToVersionId=token, RemoveFromVersionId=current
    )
    # AWSPENDING leaves the new version: Secrets Manager's own rotation does the same at its end.
    client.update_secret_version_stage(
        SecretId=secret_id, VersionStage="AWSPENDING", RemoveFromVersionId=token
    )
    if kind == "redis":
        _redis_expire(client, prefix, new["username"], old.get("password", ""), new["password"])


STEP_FUNCTIONS = {
    "createSecret": create_secret,
    "setSecret": set_secret,
    "testSecret": test_secret,
    "finishSecret": finish_secret,
}


def rotate(
    client, secret_id: str, token: str | None = None, *, pgbouncer: tuple[str, int] | None = None
) -> str:
    """The four steps in Secrets Manager's order (the local runner); returns the new version's id.

    `pgbouncer` (host, port): the pooler in front of the database, logged into by testSecret too.
    """
    import uuid

    token = token or str(uuid.uuid4())
    pending = [v for v, stages in _stage_versions(client, secret_id).items() if "AWSPENDING" in stages]
    for version in pending:
        # A rotation that stopped half-way: its AWSPENDING is dropped and a new one starts, as
        # RotateSecret does (moto's and AWS's RemoveFromVersionId of the stale label).
        client.update_secret_version_stage(
            SecretId=secret_id, VersionStage="AWSPENDING", RemoveFromVersionId=version
        )
    create_secret(client, secret_id, token)
    set_secret(client, secret_id, token)
    test_secret(client, secret_id, token, pgbouncer=pgbouncer)
    finish_secret(client, secret_id, token)
    return token


def lambda_handler(event, context):  # pragma: no cover - exercised through dispatch() in the tests
    """The rotation Lambda's entry point (AWS invokes it once per step).

    Its environment: ``SECRETS_MANAGER_ENDPOINT`` (empty: the region's), ``PGBOUNCER_HOST`` and
    ``PGBOUNCER_PORT`` (the pooler testSecret also logs in through, when set) and
    ``ROTATION_PG_SSLROOTCERT`` (the CA bundle in the package, instead of the secret's path),
    ``ROTATION_ELASTICACHE_GROUP_ID`` (the replication group whose AUTH token ``elasticache/auth-token``
    holds) and ``ELASTICACHE_ENDPOINT`` (empty: the region's).
    """
    client = secrets_manager_client()
    pgbouncer = os.environ.get("PGBOUNCER_HOST")
    dispatch(
        client,
        event,
        pgbouncer=(pgbouncer, int(os.environ.get("PGBOUNCER_PORT", "6432"))) if pgbouncer else None,
    )


def dispatch(client, event: dict, *, pgbouncer: tuple[str, int] | None = None) -> None:
    """One step of a rotation Secrets Manager started (AWS's checks of the version first)."""
    step, secret_id, token = event["Step"], event["SecretId"], event["ClientRequestToken"]
    if step not in STEP_FUNCTIONS:
        raise RotationError(f"unknown step {step!r} (expected one of {', '.join(STEPS)})")
    metadata = client.describe_secret(SecretId=secret_id)
    if not metadata.get("RotationEnabled"):
        raise RotationError(f"secret {secret_id!r} does not have rotation enabled")
    versions = metadata.get("VersionIdsToStages", {})
    if token not in versions:
        raise RotationError(f"secret {secret_id!r}: version {token} has no stage for rotation")
    if "AWSCURRENT" in versions[token]:
        return
    if "AWSPENDING" not in versions[token]:
        raise RotationError(f"secret {secret_id!r}: version {token} is not AWSPENDING")
    if step == "testSecret":
        test_secret(client, secret_id, token, pgbouncer=pgbouncer)
    else:
        STEP_FUNCTIONS[step](client, secret_id, token)
