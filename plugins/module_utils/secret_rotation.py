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
(but ``postgres/master``'s admin login itself on RDS, owned by RDS, and ``postgres/backup-cipher``),
``redis/*``. Keys that are not passwords are not rotated here (``NOT_ROTATED``): asked to, the
handler refuses with the reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile

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

# Secrets that are keys, not passwords: their own procedures rotate them (ADR 0019, "Keys are not
# passwords"); the posture test lists the same ones as SecretsManager.1's documented exceptions.
NOT_ROTATED = {
    "postgres/backup-cipher": (
        "pgBackRest's repository cipher: a new value cannot read the existing backups (a new stanza, "
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
    if match["kind"] not in ("postgres", "redis"):
        raise RotationError(f"secret {name!r}: no rotation for the kind {match['kind']!r} here")
    return match["prefix"], match["kind"], match["login"]


def _value(client, secret_id: str, stage: str = "AWSCURRENT", version_id: str | None = None) -> dict:
    """A version's JSON login; RotationError (naming the secret and stage, not the value) otherwise."""
    kwargs = {"SecretId": secret_id, "VersionStage": stage}
    if version_id:
        kwargs["VersionId"] = version_id
    text = client.get_secret_value(**kwargs).get("SecretString") or ""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict) or not (value.get("password") or value.get("password_secret_arn")):
        raise RotationError(f"secret {secret_id!r} ({stage}) is not a JSON login with a password")
    return value


def _not_found(error: Exception) -> bool:
    response = getattr(error, "response", None) or {}
    return response.get("Error", {}).get("Code") == "ResourceNotFoundException"


# --- PostgreSQL -------------------------------------------------------------------------------


def _pg_connect(login: dict, *, dbname: str | None = None, timeout: int = 5):
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
    sslrootcert = os.environ.get("ROTATION_PG_SSLROOTCERT") or login.get("sslrootcert")
    if sslrootcert:
        kwargs["sslrootcert"] = sslrootcert
    return psycopg.connect(**kwargs)


def _pg_admin(client, prefix: str) -> dict:
    admin = _value(client, f"{prefix}/postgres/master")
    if not admin.get("password") and admin.get("password_secret_arn"):
        # RDS manages the master password (ADR 0019, section 1): read it where RDS keeps it.
        admin = {**admin, "password": _value(client, admin["password_secret_arn"])["password"]}
    return admin


def _pg_set(client, prefix: str, pending: dict) -> None:
    admin = _pg_admin(client, prefix)
    with _pg_connect(admin) as conn:
        verifier = conn.pgconn.encrypt_password(
            pending["password"].encode(), pending["username"].encode(), b"scram-sha-256"
        ).decode()
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(pending["username"]), sql.Literal(verifier)
            )
        )


def _pg_test(login: dict) -> None:
    with _pg_connect(login) as conn:
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
    return _redis(_value(client, f"{prefix}/redis/admin"))


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


# --- The four steps ---------------------------------------------------------------------------


def create_secret(client, secret_id: str, token: str) -> None:
    """A new password as version `token`, stage AWSPENDING (kept if that version already has one)."""
    secret_kind(secret_id)
    current = _value(client, secret_id)
    if not current.get("password"):
        raise RotationError(
            f"secret {secret_id!r} holds no password (password_secret_arn: RDS manages and rotates it)"
        )
    try:
        _value(client, secret_id, "AWSPENDING", token)
        return
    except Exception as error:  # botocore's ClientError, or a version without a value
        if not (_not_found(error) or isinstance(error, RotationError)):
            raise
    password = client.get_random_password(
        PasswordLength=PASSWORD_LENGTH, ExcludePunctuation=True, IncludeSpace=False
    )["RandomPassword"]
    client.put_secret_value(
        SecretId=secret_id,
        ClientRequestToken=token,
        SecretString=json.dumps({**current, "password": password}),
        VersionStages=["AWSPENDING"],
    )


def set_secret(client, secret_id: str, token: str) -> None:
    """The server learns the AWSPENDING password.

    Setting it again is harmless (the same password), so a retried step just sets it
    again; it does not try the pending login first, which would leave a failed login in the server's
    log (PostgresAuthenticationFailures counts them) at every rotation.
    """
    prefix, kind, _login = secret_kind(secret_id)
    pending = _value(client, secret_id, "AWSPENDING", token)
    if kind == "postgres":
        _pg_set(client, prefix, pending)
    else:
        _redis_set(client, prefix, pending)


def test_secret(client, secret_id: str, token: str, *, pgbouncer: tuple[str, int] | None = None) -> None:
    """A login with the AWSPENDING credential; for PostgreSQL also through pgBouncer when one is named.

    pgBouncer (auth_query, SCRAM pass-through) opens its server connections with the keys of the last
    client login of that user: a login with the new password through it gives it the new keys
    before it needs a new server connection (otherwise that server login fails until a client logs
    in anew; pgbouncer/pgbouncer#676).
    """
    _prefix, kind, _login = secret_kind(secret_id)
    pending = _value(client, secret_id, "AWSPENDING", token)
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
    old = _value(client, secret_id, "AWSCURRENT")
    new = _value(client, secret_id, "AWSPENDING", token)
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
    ``ROTATION_PG_SSLROOTCERT`` (the CA bundle in the package, instead of the secret's path).
    """
    import boto3

    client = boto3.client("secretsmanager", endpoint_url=os.environ.get("SECRETS_MANAGER_ENDPOINT") or None)
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
