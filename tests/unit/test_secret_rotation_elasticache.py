"""The rotation of ElastiCache's AUTH token (elasticache/auth-token) by the four steps of
plugins/module_utils/secret_rotation.py (ADR 0019).

ElastiCache's and Secrets Manager's APIs are the local AWS endpoint (the launcher the role starts,
tests/local_endpoint.py, with its fidelity fix elasticache:auth-token-update-strategy, which keeps the
tokens a replication group accepts). ElastiCache's data plane cannot run here: a real redis-server,
started by this test on a free loopback port with TLS (a certificate made here), **stands in for the
cache's nodes**. After each ModifyReplicationGroup the test makes that server accept exactly the tokens
the endpoint's group accepts (``ACL SETUSER default resetpass >token...``, through a control user of
the test), as ElastiCache applies a token change to its nodes; the rotation function reaches it at the
address of the connection secret, as it reaches ElastiCache's primary endpoint.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request

import boto3
import pytest
import redis
from ansible_collections.giftcrypto.platform.plugins.module_utils import secret_rotation as rotation

from tests import local_endpoint

PREFIX = "giftcrypto/staging"
GROUP = "giftcrypto-staging"
AUTH = f"{PREFIX}/elasticache/auth-token"
CONNECTION = f"{PREFIX}/redis/app"
OLD = "Initial0AuthToken0Of0The0Cache0123456789"  # pragma: allowlist secret
CONTROL = ("standin-control", "standin-control-pw-1")  # the test's own user of the stand-in


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    state, port = tmp_path_factory.mktemp("endpoint"), local_endpoint.free_port()
    process, _ = local_endpoint.start(port, state)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        local_endpoint.stop(process)


@pytest.fixture
def sm(endpoint, monkeypatch):
    """Secrets Manager at the endpoint (reset), and the function's environment for ElastiCache."""
    reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310 -- loopback
    with urllib.request.urlopen(reset, timeout=10):  # noqa: S310 -- http on loopback only
        pass
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("ELASTICACHE_ENDPOINT", endpoint)
    monkeypatch.setenv("ROTATION_ELASTICACHE_GROUP_ID", GROUP)
    monkeypatch.setattr(rotation, "ELASTICACHE_WAIT", {"Delay": 1, "MaxAttempts": 10})
    return boto3.client("secretsmanager", endpoint_url=endpoint, region_name="us-east-1")


@pytest.fixture
def cache(tmp_path):
    """A TLS redis-server standing in for ElastiCache's nodes: (port, CA file, control connection)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(
            "redis-server not found: install the Debian package redis-server (a real server is needed)"
        )
    cert, key = tmp_path / "tls.pem", tmp_path / "tls.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    aclfile = tmp_path / "users.acl"
    aclfile.write_text(
        f"user default on >{OLD} ~* &* +@all\nuser {CONTROL[0]} on >{CONTROL[1]} ~* &* +@all\n"
    )
    port = local_endpoint.free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--tls-cert-file",
            str(cert),
            "--tls-key-file",
            str(key),
            "--tls-ca-cert-file",
            str(cert),
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
            "--aclfile",
            str(aclfile),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    control = redis.Redis(
        port=port,
        host="127.0.0.1",
        username=CONTROL[0],
        password=CONTROL[1],
        ssl=True,
        ssl_ca_certs=str(cert),
        ssl_cert_reqs="required",
    )
    try:
        for _ in range(100):
            try:
                control.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield port, str(cert), control
    finally:
        control.close()
        process.terminate()
        process.wait(timeout=10)


def _valid_tokens(endpoint: str) -> list[str]:
    """The tokens the endpoint's replication group accepts (moto's data, see the fidelity fix)."""
    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=10) as answer:  # noqa: S310
        groups = json.loads(answer.read())["elasticache"]["ReplicationGroup"]
    return [group for group in groups if group["replication_group_id"] == GROUP][-1]["auth_tokens"]


def _apply_to_standin(endpoint: str, control) -> list[str]:
    """The stand-in's default user accepts exactly the group's tokens (ElastiCache's nodes would)."""
    tokens = _valid_tokens(endpoint)
    control.execute_command("ACL", "SETUSER", "default", "resetpass", *[f">{token}" for token in tokens])
    return tokens


def _logs_in(port: int, ca: str, token: str) -> bool:
    conn = redis.Redis(
        host="127.0.0.1", port=port, password=token, ssl=True, ssl_ca_certs=ca, ssl_cert_reqs="required"
    )
    try:
        return bool(conn.ping())
    except redis.AuthenticationError:
        return False
    finally:
        conn.close()


def _read(sm, name: str, stage: str = "AWSCURRENT") -> dict:
    return json.loads(sm.get_secret_value(SecretId=name, VersionStage=stage)["SecretString"])


def _stages(sm, name: str) -> dict:
    return sm.describe_secret(SecretId=name)["VersionIdsToStages"]


@pytest.fixture
def platform(endpoint, sm, cache):
    """The group (TLS, AUTH token OLD), the auth-token secret and the connection secret, as on AWS."""
    port, ca, control = cache
    boto3.client("elasticache", endpoint_url=endpoint, region_name="us-east-1").create_replication_group(
        ReplicationGroupId=GROUP,
        ReplicationGroupDescription="cache",
        Engine="redis",
        CacheNodeType="cache.t4g.micro",
        TransitEncryptionEnabled=True,
        AuthToken=OLD,
    )
    sm.create_secret(Name=AUTH, SecretString=json.dumps({"auth_token": OLD}))
    connection = {"host": "127.0.0.1", "port": port, "username": "", "password": OLD, "tls": True, "ca": ca}
    sm.create_secret(Name=CONNECTION, SecretString=json.dumps(connection))
    assert _apply_to_standin(endpoint, control) == [OLD]
    return sm, port, ca, control


def test_the_auth_token_rotates_in_four_steps_both_valid_between_then_only_the_new(endpoint, platform):
    sm, port, ca, control = platform
    token = "55555555-2222-3333-4444-555555555555"
    rotation.create_secret(sm, AUTH, token)
    new = _read(sm, AUTH, "AWSPENDING")["auth_token"]
    assert new != OLD and len(new) == rotation.AUTH_TOKEN_LENGTH and new.isalnum()
    rotation.create_secret(sm, AUTH, token)
    assert _read(sm, AUTH, "AWSPENDING")["auth_token"] == new, "a retried createSecret keeps the token"

    rotation.set_secret(sm, AUTH, token)
    assert _apply_to_standin(endpoint, control) == [OLD, new], "ROTATE: both tokens valid"
    rotation.set_secret(sm, AUTH, token)  # a retried setSecret
    assert _apply_to_standin(endpoint, control) == [OLD, new]
    assert _logs_in(port, ca, OLD) and _logs_in(port, ca, new)

    rotation.test_secret(sm, AUTH, token)
    # What finishSecret does before AWSCURRENT moves, then the step again (a retry after a failure
    # between SET and the label's move): ElastiCache refuses the second SET (only after ROTATE), the
    # data plane shows it done, and the step completes.
    rotation._elasticache_finish(sm, AUTH, PREFIX, _read(sm, AUTH), _read(sm, AUTH, "AWSPENDING"), token)
    assert _apply_to_standin(endpoint, control) == [new], "SET: only the new token"
    rotation.finish_secret(sm, AUTH, token)
    rotation.finish_secret(sm, AUTH, token)  # a retried finishSecret does nothing

    assert _valid_tokens(endpoint) == [new]
    assert _logs_in(port, ca, new) and not _logs_in(port, ca, OLD)
    assert _read(sm, AUTH) == {"auth_token": new}
    assert _read(sm, AUTH, "AWSPREVIOUS") == {"auth_token": OLD}
    assert _stages(sm, AUTH)[token] == ["AWSCURRENT"]
    assert not any("AWSPENDING" in stages for stages in _stages(sm, AUTH).values())
    connection = _read(sm, CONNECTION)
    assert connection["password"] == new, "the service's connection secret follows"
    assert {k: v for k, v in connection.items() if k != "password"} == {
        "host": "127.0.0.1",
        "port": port,
        "username": "",
        "tls": True,
        "ca": ca,
    }
    assert _read(sm, CONNECTION, "AWSPREVIOUS")["password"] == OLD
    group = boto3.client("elasticache", endpoint_url=endpoint, region_name="us-east-1")
    described = group.describe_replication_groups(ReplicationGroupId=GROUP)["ReplicationGroups"][0]
    assert described["Status"] == "available" and described["AuthTokenEnabled"] is True


def test_the_whole_rotation_in_secrets_managers_order(endpoint, platform, monkeypatch):
    sm, port, ca, control = platform

    # The stand-in learns each change as ElastiCache's nodes would: after the steps that modify
    # the group (the runner calls the module's functions, so the test wraps the two modifying ones).
    def following(step):
        def run(*args, **kwargs):
            step(*args, **kwargs)
            _apply_to_standin(endpoint, control)

        return run

    monkeypatch.setitem(rotation.__dict__, "set_secret", following(rotation.set_secret))
    token = rotation.rotate(sm, AUTH)
    new = _read(sm, AUTH)["auth_token"]
    assert _stages(sm, AUTH)[token] == ["AWSCURRENT"]
    assert _read(sm, CONNECTION)["password"] == new
    assert _apply_to_standin(endpoint, control) == [new]
    assert _logs_in(port, ca, new) and not _logs_in(port, ca, OLD)


def test_a_refused_pending_token_fails_test_secret_and_leaves_awscurrent(endpoint, platform):
    sm, port, ca, _control = platform
    token = "66666666-2222-3333-4444-555555555555"
    rotation.create_secret(sm, AUTH, token)
    rotation.set_secret(sm, AUTH, token)
    new = _read(sm, AUTH, "AWSPENDING")["auth_token"]
    # The stand-in is not told: the cache did not learn the token (a change ElastiCache did not apply).
    with pytest.raises(rotation.RotationError, match="does not log in") as error:
        rotation.test_secret(sm, AUTH, token)
    assert new not in str(error.value) and OLD not in str(error.value)
    assert _read(sm, AUTH) == {"auth_token": OLD}
    assert _read(sm, CONNECTION)["password"] == OLD
    assert _logs_in(port, ca, OLD)


def test_a_refused_modification_names_the_secret_and_step_only(endpoint, platform, monkeypatch):
    sm, *_ = platform
    token = "77777777-2222-3333-4444-555555555555"
    rotation.create_secret(sm, AUTH, token)
    new = _read(sm, AUTH, "AWSPENDING")["auth_token"]
    # SET before ROTATE: ElastiCache refuses it and the cache does not accept the new token.
    with pytest.raises(
        rotation.RotationError, match=r"finishSecret of .*SET.*InvalidParameterCombination"
    ) as error:
        rotation.finish_secret(sm, AUTH, token)
    assert new not in str(error.value) and OLD not in str(error.value)
    assert _read(sm, AUTH) == {"auth_token": OLD}
    assert _valid_tokens(endpoint) == [OLD]

    monkeypatch.setenv("ROTATION_ELASTICACHE_GROUP_ID", "missing-group")
    with pytest.raises(rotation.RotationError, match="missing-group is not available") as error:
        rotation.set_secret(sm, AUTH, token)
    assert new not in str(error.value)
    monkeypatch.delenv("ROTATION_ELASTICACHE_GROUP_ID")
    with pytest.raises(rotation.RotationError, match="ROTATION_ELASTICACHE_GROUP_ID"):
        rotation.set_secret(sm, AUTH, token)


def test_the_auth_token_is_the_only_elasticache_secret_rotated():
    # Other elasticache/* names are refused with the reason: test_secret_rotation.py's
    # test_keys_that_are_not_passwords_are_refused_with_the_reason.
    assert rotation.secret_kind(AUTH) == (PREFIX, "elasticache", "auth-token")


def test_a_token_json_without_auth_token_is_refused(sm):
    sm.create_secret(Name=AUTH, SecretString=json.dumps({"password": OLD}))
    with pytest.raises(rotation.RotationError, match="not a JSON login with an auth_token") as error:
        rotation.create_secret(sm, AUTH, "88888888-2222-3333-4444-555555555555")
    assert OLD not in str(error.value)
