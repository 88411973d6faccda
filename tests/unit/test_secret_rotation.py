"""The four-step rotation of the generated logins (plugins/module_utils/secret_rotation.py, ADR 0019).

Against real servers: the throwaway PostgreSQL 15 cluster (tests/unit/pg_cluster.py) and a
redis-server started here on a free loopback port with an ACL file written like redis_server's;
Secrets Manager is moto in-process (mock_aws).
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time

import boto3
import psycopg
import pytest
import redis
from ansible_collections.giftcrypto.platform.plugins.module_utils import secret_rotation as rotation
from moto import mock_aws

PREFIX = "giftcrypto/local"


def _stages(client, name):
    return client.describe_secret(SecretId=name)["VersionIdsToStages"]


def _password(client, name, stage="AWSCURRENT"):
    return json.loads(client.get_secret_value(SecretId=name, VersionStage=stage)["SecretString"])["password"]


@pytest.fixture
def sm(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def _pg_login(cluster, user, dbname="postgres"):
    return {
        "username": user,
        "password": cluster.passwords[user],
        "host": cluster.host,
        "port": cluster.port,
        "dbname": dbname,
        "sslmode": "disable",
    }


@pytest.fixture
def pg_secrets(sm, pg_cluster):
    from tests.unit.pg_cluster import SUPERUSER

    sm.create_secret(
        Name=f"{PREFIX}/postgres/master", SecretString=json.dumps(_pg_login(pg_cluster, SUPERUSER))
    )
    sm.create_secret(
        Name=f"{PREFIX}/postgres/app_ro", SecretString=json.dumps(_pg_login(pg_cluster, "app_ro"))
    )
    yield sm
    # Give the cluster its password back (other tests log in with pg_cluster.passwords).
    with pg_cluster.connect() as conn:
        conn.execute(
            psycopg.sql.SQL("ALTER ROLE app_ro PASSWORD {}").format(
                psycopg.sql.Literal(pg_cluster.passwords["app_ro"])
            )
        )


def _pg_logs_in(cluster, password) -> bool:
    try:
        with psycopg.connect(
            host=cluster.host,
            port=cluster.port,
            user="app_ro",
            password=password,
            dbname="postgres",
            sslmode="disable",
            connect_timeout=5,
        ):
            return True
    except psycopg.OperationalError:
        return False


def test_a_postgresql_login_rotates_in_four_steps(pg_secrets, pg_cluster):
    sm, name = pg_secrets, f"{PREFIX}/postgres/app_ro"
    old = _password(sm, name)
    token = rotation.rotate(sm, name)
    new = _password(sm, name)
    assert new != old and len(new) == rotation.PASSWORD_LENGTH and new.isalnum()
    stages = _stages(sm, name)
    assert stages[token] == ["AWSCURRENT"]
    assert [v for v, s in stages.items() if "AWSPREVIOUS" in s] != [token]
    assert _password(sm, name, "AWSPREVIOUS") == old
    assert _pg_logs_in(pg_cluster, new)
    assert not _pg_logs_in(pg_cluster, old), "the previous password is refused"
    # The verifier, not the password, went to the server.
    with pg_cluster.connect() as conn:
        stored = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'app_ro'").fetchone()[0]
    assert stored.startswith("SCRAM-SHA-256$") and new not in stored


def test_each_step_is_idempotent_and_a_retried_rotation_keeps_its_pending_value(pg_secrets, pg_cluster):
    sm, name = pg_secrets, f"{PREFIX}/postgres/app_ro"
    token = "11111111-2222-3333-4444-555555555555"
    rotation.create_secret(sm, name, token)
    pending = _password(sm, name, "AWSPENDING")
    rotation.create_secret(sm, name, token)
    assert _password(sm, name, "AWSPENDING") == pending, "a retried createSecret keeps the pending value"
    for step in ("setSecret", "setSecret", "testSecret", "finishSecret", "finishSecret"):
        rotation.STEP_FUNCTIONS[step](sm, name, token)
    assert _password(sm, name) == pending
    assert not any("AWSPENDING" in stages for stages in _stages(sm, name).values())


def test_the_lambda_entry_checks_the_version_as_aws_templates_do(pg_secrets):
    sm, name = pg_secrets, f"{PREFIX}/postgres/app_ro"
    event = {
        "Step": "createSecret",
        "SecretId": name,
        "ClientRequestToken": "22222222-2222-3333-4444-555555555555",
    }
    with pytest.raises(rotation.RotationError, match="does not have rotation enabled"):
        rotation.dispatch(sm, event)
    with pytest.raises(rotation.RotationError, match="unknown step"):
        rotation.dispatch(sm, {**event, "Step": "dropSecret"})


def test_test_secret_fails_when_the_pending_login_is_refused(pg_secrets):
    sm, name = pg_secrets, f"{PREFIX}/postgres/app_ro"
    token = "33333333-2222-3333-4444-555555555555"
    rotation.create_secret(sm, name, token)
    with pytest.raises(rotation.RotationError, match="does not log in") as error:
        rotation.test_secret(sm, name, token)
    assert _password(sm, name, "AWSPENDING") not in str(error.value)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (f"{PREFIX}/postgres/backup", "repository cipher.*nox -s rotate-backup-cipher"),
        (f"{PREFIX}/pgbouncer/tls", "certificate"),
        ("other/secret", "not a generated login"),
        (f"{PREFIX}/elasticache/other-login", "no rotation for elasticache/other-login"),
        (f"{PREFIX}/pgbouncer/app", "no rotation for the kind"),
    ],
)
def test_keys_that_are_not_passwords_are_refused_with_the_reason(name, message):
    with pytest.raises(rotation.RotationError, match=message):
        rotation.secret_kind(name)


def test_an_arn_names_its_secret():
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:giftcrypto/prod/redis/app-AbC123"
    assert rotation.secret_kind(arn) == ("giftcrypto/prod", "redis", "app")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def redis_server():
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(
            "redis-server not found: install the Debian package redis-server (a real server is needed)"
        )
    directory = pathlib.Path(tempfile.mkdtemp(prefix="giftcrypto-redis-"))
    passwords = {"admin": "admin-pw-1", "app": "app-pw-1"}
    aclfile = directory / "users.acl"
    sha = {user: hashlib.sha256(pw.encode()).hexdigest() for user, pw in passwords.items()}
    aclfile.write_text(
        "user default off resetpass -@all\n"
        f"user admin on #{sha['admin']} ~* &* +@all\n"
        f"user app on #{sha['app']} ~* &* +@all -@admin -@dangerous\n"
    )
    port = _free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
            "--aclfile",
            str(aclfile),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                redis.Redis(port=port, username="admin", password=passwords["admin"]).ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield port, passwords, aclfile
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


def _redis_login(port, user, password):
    return {"username": user, "password": password, "host": "127.0.0.1", "port": port, "tls": False}


def _redis_logs_in(port, user, password) -> bool:
    try:
        redis.Redis(port=port, username=user, password=password, socket_timeout=5).ping()
        return True
    except redis.AuthenticationError:
        return False


def test_a_redis_acl_user_keeps_both_passwords_until_finish_then_only_the_new(sm, redis_server):
    port, passwords, aclfile = redis_server
    sm.create_secret(
        Name=f"{PREFIX}/redis/admin", SecretString=json.dumps(_redis_login(port, "admin", passwords["admin"]))
    )
    name = f"{PREFIX}/redis/app"
    sm.create_secret(Name=name, SecretString=json.dumps(_redis_login(port, "app", passwords["app"])))
    connected = redis.Redis(
        port=port, username="app", password=passwords["app"], single_connection_client=True
    )
    connected.ping()
    token = "44444444-2222-3333-4444-555555555555"
    rotation.create_secret(sm, name, token)
    rotation.set_secret(sm, name, token)
    new = _password(sm, name, "AWSPENDING")
    assert _redis_logs_in(port, "app", passwords["app"]) and _redis_logs_in(port, "app", new), (
        "between setSecret and finishSecret both passwords log in"
    )
    rotation.test_secret(sm, name, token)
    before = aclfile.read_text()
    rotation.finish_secret(sm, name, token)
    assert _password(sm, name) == new and _password(sm, name, "AWSPREVIOUS") == passwords["app"]
    assert _redis_logs_in(port, "app", new)
    assert not _redis_logs_in(port, "app", passwords["app"]), "the previous password is refused"
    assert connected.ping(), "a connection already open keeps its session"
    expected = before.replace(
        hashlib.sha256(passwords["app"].encode()).hexdigest(), hashlib.sha256(new.encode()).hexdigest()
    )
    assert aclfile.read_text() == expected, "the ACL file keeps its lines, with the new hash"
    assert new not in aclfile.read_text()


def test_the_local_runner_refuses_another_environment_and_asks_what_to_rotate(tmp_path, capsys):
    import sys

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
    from tools import rotate_secrets

    (tmp_path / "group_vars" / "all").mkdir(parents=True)
    (tmp_path / "group_vars" / "all" / "platform.yml").write_text(
        "platform_environment: production\nplatform_name: giftcrypto\naws_region: eu-west-1\n"
    )
    assert rotate_secrets.main(["--inventory", str(tmp_path), "postgres/app_rw"]) == 2
    assert "local only" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        rotate_secrets.main(["--all", "postgres/app_rw"])
    with pytest.raises(SystemExit):
        rotate_secrets.main([])
    assert "postgres/backup" not in rotate_secrets.ROTATABLE
    assert not set(rotate_secrets.ROTATABLE) & set(rotation.NOT_ROTATED)
