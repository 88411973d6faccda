"""Secrets rotated under load (issue 23 item 3, ADR 0019 section 2), on the deployed local platform.

The shipped local runner (`tools/rotate_secrets.py`, `nox -s rotate-local`) rotates the API's
logins, `postgres/app_rw` and `redis/app`, by Secrets Manager's four steps while a bounded load
(tests/integration/loadgen.py: 50 requests/s on 5 keep-alive connections) reads /api/v1/stats,
which goes to PostgreSQL through pgBouncer and to Redis. Then the API's gunicorn gets SIGHUP: its new
worker opens every connection anew with the credentials read at start (the old ones), is refused,
re-reads the secrets and logs in with the new ones, still under load. pgBouncer is not reloaded: it
looks passwords up in the server (auth_query); after the load its server connections of app_rw are
ended (pg_terminate_backend, none in use) and a second load makes it log in to PostgreSQL anew, with
the new password's SCRAM keys. Not one request of either load may fail. Afterwards
the old credentials are refused (PostgreSQL directly and through pgBouncer, Redis), the new ones
accepted, and the versions are labelled AWSCURRENT (new) and AWSPREVIOUS (old), AWSPENDING on none.

Seconds, on the platform the suite deployed; no deploy of its own.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time

import psycopg
import pytest
import redis

from tests.integration.conftest import ROOT, load_tool
from tests.integration.loadgen import LoadGenerator

URL = "https://127.0.0.1:8443/api/v1/stats"
CA = "/etc/giftcrypto/pki/ca.crt"
STATE = pathlib.Path("/var/lib/giftcrypto-app/state.json")
SUPERVISOR = ("supervisorctl", "-c", "/etc/giftcrypto/app/supervisord.conf")
ROTATED = ("postgres/app_rw", "redis/app")
OUTPUT = ROOT / "tests" / "output" / "rotation.json"
LOG_DIR = pathlib.Path("/var/log/giftcrypto/app")
local_cognito = load_tool("local_cognito")


def _versions(sm, name: str) -> dict[str, list[str]]:
    return sm.describe_secret(SecretId=name)["VersionIdsToStages"]


class Refused(Exception):
    """A login refused (the message names the user and where, never the password)."""


def _connect(login: dict, host: str, port: int, dbname: str):
    """A connection with a secret's login; its errors re-raised without the arguments (the password)."""
    try:
        return psycopg.connect(
            host=host,
            port=port,
            user=login["username"],
            password=login["password"],
            dbname=dbname,
            sslmode="verify-full",
            sslrootcert=login["sslrootcert"] or CA,
            autocommit=True,
            connect_timeout=5,
        )
    except psycopg.OperationalError as error:
        # PostgreSQL's words, and pgBouncer's for a refused SCRAM proof.
        refused = any(
            text in str(error) for text in ("password authentication failed", "SASL authentication failed")
        )
        kind = Refused if refused else ConnectionError
        raise kind(f"{login['username']}@{host}:{port}/{dbname}: {str(error).splitlines()[-1]}") from None


def _pg_logs_in(login: dict, host: str, port: int) -> bool:
    try:
        with _connect(login, host, port, login["dbname"]) as conn:
            conn.execute("SELECT 1")
        return True
    except Refused:
        return False


def _redis_logs_in(login: dict) -> bool:
    client = redis.Redis(
        host=login["host"],
        port=int(login["port"]),
        username=login["username"],
        password=login["password"],
        ssl=True,
        ssl_ca_certs=login["ca"] or CA,
        socket_timeout=5,
    )
    try:
        return client.ping()
    except redis.AuthenticationError:
        return False
    finally:
        client.close()


def _active_colour() -> str:
    return json.loads(STATE.read_text())["active"]


@pytest.fixture
def user():
    """A signed-in user of the local users pool: the API requires a token on /api/v1/stats."""
    with local_cognito.signed_in("users", prefix="rotation") as signed_in:
        yield signed_in


def test_the_api_logins_rotate_under_load_and_the_old_ones_are_refused(aws, local_vars, secret, user):
    prefix = f"{local_vars['platform_name']}/{local_vars['platform_environment']}"
    sm = aws("secretsmanager")
    names = {short: f"{prefix}/{short}" for short in ROTATED}
    old = {short: secret(short) for short in ROTATED}
    old_versions = {
        short: next(v for v, stages in _versions(sm, name).items() if "AWSCURRENT" in stages)
        for short, name in names.items()
    }
    monitor = secret("postgres/monitor")
    pooler = (monitor["pgbouncer_host"], int(monitor["pgbouncer_port"]))
    admin = secret("postgres/master")
    colour = _active_colour()
    # The starting point: the stored logins are the ones the servers accept.
    assert _pg_logs_in(
        old["postgres/app_rw"], old["postgres/app_rw"]["host"], int(old["postgres/app_rw"]["port"])
    )
    assert _redis_logs_in(old["redis/app"]), "redis/app's AWSCURRENT is not accepted before the rotation"
    log = LOG_DIR / f"api-{colour}.log"
    log_offset = log.stat().st_size

    with LoadGenerator(URL, CA, headers=user.authorization) as load:
        time.sleep(2)
        started = time.monotonic()
        rotation = subprocess.run(
            [sys.executable, str(ROOT / "tools" / "rotate_secrets.py"), *ROTATED],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ},
        )
        rotated_in = time.monotonic() - started
        time.sleep(1)
        # The API's new worker starts with the credentials read at start: refused, it re-reads them.
        hup = subprocess.run([*SUPERVISOR, "signal", "HUP", f"api-{colour}"], capture_output=True, text=True)
        time.sleep(6)
    # pgBouncer's server connections of app_rw end (between two loads: none is in use), so that it
    # must log in to PostgreSQL anew, with the SCRAM keys of the new password.
    with _connect(admin, admin["host"], int(admin["port"]), "postgres") as conn:
        ended = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE usename = %s AND backend_type = 'client backend'",
            (old["postgres/app_rw"]["username"],),
        ).fetchone()[0]
    time.sleep(1)
    with LoadGenerator(URL, CA, headers=user.authorization) as after:
        time.sleep(4)
    assert rotation.returncode == 0, rotation.stdout + rotation.stderr
    assert hup.returncode == 0, hup.stdout + hup.stderr
    failures = load.failures() + after.failures()
    assert failures == [], failures[:5]
    assert len(load.samples) > 200 and len(after.samples) > 100
    assert ended > 0, "pgBouncer held no server connection of app_rw"

    # The new worker was refused with the credentials it started with, and took the rotated ones.
    with log.open(encoding="utf-8", errors="replace") as handle:
        handle.seek(log_offset)
        events = [json.loads(line) for line in handle if line.startswith("{")]
    taken = {e.get("secret") for e in events if e.get("msg") == "rotated login in use"}
    assert set(names.values()) <= taken, sorted(e.get("msg", "") for e in events)[-20:]

    reports = [json.loads(line) for line in rotation.stdout.splitlines()]
    assert [r["secret"] for r in reports] == list(names.values())
    new = {short: secret(short) for short in ROTATED}
    for (short, name), report in zip(names.items(), reports, strict=True):
        versions = _versions(sm, name)
        assert versions[report["version"]] == ["AWSCURRENT"], versions
        assert versions[old_versions[short]] == ["AWSPREVIOUS"], versions
        assert not any("AWSPENDING" in stages for stages in versions.values()), versions
        assert new[short]["password"] != old[short]["password"]
        assert {k: v for k, v in new[short].items() if k != "password"} == {
            k: v for k, v in old[short].items() if k != "password"
        }, "only the password changes"

    db_old, db_new = old["postgres/app_rw"], new["postgres/app_rw"]
    for host, port in ((db_new["host"], int(db_new["port"])), pooler):
        assert _pg_logs_in(db_new, host, port), f"new app_rw refused at {host}:{port}"
        assert not _pg_logs_in(db_old, host, port), f"old app_rw still accepted at {host}:{port}"
    assert _redis_logs_in(new["redis/app"])
    assert not _redis_logs_in(old["redis/app"]), "old redis/app password still accepted"

    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(
        json.dumps(
            {
                "rotation_seconds": round(rotated_in, 2),
                "rotation_requests": len(load.samples) + len(after.samples),
                "rotation_failed_requests": len(failures),
                "rotation_secrets": [r["secret"] for r in reports],
                "rotation_step_seconds": {r["secret"]: r["seconds"] for r in reports},
            },
            indent=2,
        )
        + "\n"
    )


def test_secrets_manager_rotates_a_login_with_the_platforms_function(aws, local_vars, secret):
    """The path AWS takes (ADR 0019 section 2): RotateSecret on a login with a schedule makes Secrets
    Manager run the rotation function the deploy uploaded (aws_secret_rotation; locally the endpoint
    runs its package in its own process, fix secretsmanager:rotation-lambda-in-process) through its
    four steps against the live PostgreSQL and pgBouncer. Afterwards the new password is AWSCURRENT
    and accepted, directly and through pgBouncer, the old one is refused, and the function's log group
    names the steps without either password. The login is the auditor's: nothing serves with it."""
    prefix = f"{local_vars['platform_name']}/{local_vars['platform_environment']}"
    name = f"{prefix}/postgres/auditor"
    sm = aws("secretsmanager")
    described = sm.describe_secret(SecretId=name)
    assert described["RotationEnabled"] is True and described["RotationLambdaARN"], described
    function = described["RotationLambdaARN"].rsplit(":", 1)[-1]
    old = secret("postgres/auditor")
    old_version = next(v for v, stages in _versions(sm, name).items() if "AWSCURRENT" in stages)
    pooler = (secret("postgres/monitor")["pgbouncer_host"], int(secret("postgres/monitor")["pgbouncer_port"]))
    direct = (old["host"], int(old["port"]))
    assert _pg_logs_in(old, *direct)

    token = sm.rotate_secret(SecretId=name)["VersionId"]

    versions = _versions(sm, name)
    assert versions[token] == ["AWSCURRENT"], versions
    assert versions[old_version] == ["AWSPREVIOUS"], versions
    assert not any("AWSPENDING" in stages for stages in versions.values()), versions
    assert sm.describe_secret(SecretId=name).get("LastRotatedDate") is not None
    new = secret("postgres/auditor")
    assert new["password"] != old["password"]
    assert {k: v for k, v in new.items() if k != "password"} == {
        k: v for k, v in old.items() if k != "password"
    }
    for where in (direct, pooler):
        assert _pg_logs_in(new, *where), f"new auditor login refused at {where}"
        assert not _pg_logs_in(old, *where), f"old auditor login still accepted at {where}"
    events = aws("logs").filter_log_events(logGroupName=f"/aws/lambda/{function}")["events"]
    text = "\n".join(event["message"] for event in events)
    arn = described["ARN"]
    assert all(
        f"{step} of {arn} done" in text
        for step in ("createSecret", "setSecret", "testSecret", "finishSecret")
    )
    assert old["password"] not in text and new["password"] not in text
