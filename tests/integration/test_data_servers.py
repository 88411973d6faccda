"""The local data-plane servers as a full local deploy leaves them.

Plaintext TCP is refused by PostgreSQL, pgBouncer and Redis; TLS with verify-full against the
local CA works directly and through pgBouncer; writes leave pgaudit AUDIT lines (without
parameters) in the server log; the default Redis user is off and the app user works over TLS.
"""

from __future__ import annotations

import json
import pathlib
import socket
import stat
import subprocess
import time
import uuid

import psycopg
import pytest
import redis
from psycopg import sql

from tests.integration.fixtures_data_servers import redis_client

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("target", ["postgresql", "pgbouncer"])
@pytest.mark.soc2("CC6.1", "CC6.6", "CC6.7")
def test_plaintext_postgres_connection_is_refused(target, pg_master_conninfo, pgbouncer_master_conninfo):
    conninfo = pg_master_conninfo if target == "postgresql" else pgbouncer_master_conninfo
    with pytest.raises(psycopg.OperationalError, match=r"pg_hba.conf rejects connection|SSL required"):
        psycopg.connect(**{**conninfo, "sslmode": "disable"})


@pytest.mark.parametrize("target", ["postgresql", "pgbouncer"])
@pytest.mark.soc2("CC6.7")
def test_tls_verify_full_connection_succeeds(target, pg_master_conninfo, pgbouncer_master_conninfo):
    conninfo = pg_master_conninfo if target == "postgresql" else pgbouncer_master_conninfo
    assert conninfo["sslmode"] == "verify-full"
    with psycopg.connect(**conninfo) as conn:
        assert conn.info.pgconn.ssl_in_use
        assert conn.execute("select current_user").fetchone()[0] == conninfo["user"]
        if target == "postgresql":
            tls = conn.execute("select version from pg_stat_ssl where pid = pg_backend_pid()").fetchone()[0]
            assert tls in ("TLSv1.2", "TLSv1.3")


@pytest.mark.soc2("CC6.7")
def test_tls_with_an_unknown_ca_is_refused(pg_master_conninfo, tmp_path):
    other_ca = tmp_path / "other-ca.crt"
    other_ca.write_text(pathlib.Path("/etc/ssl/certs/ca-certificates.crt").read_text())
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        psycopg.connect(**{**pg_master_conninfo, "sslrootcert": str(other_ca)})


@pytest.mark.soc2("CC7.2")
def test_a_write_is_audited_without_parameters(pg_master_conn, pg_server_log):
    schema = f"scratch_audit_{uuid.uuid4().hex[:8]}"
    marker = f"pii-{uuid.uuid4().hex}"
    ident = sql.Identifier(schema)
    offset = pg_server_log.stat().st_size
    try:
        pg_master_conn.execute(sql.SQL("create schema {}").format(ident))
        pg_master_conn.execute(sql.SQL("create table {}.probe (id int primary key, note text)").format(ident))
        pg_master_conn.execute(
            sql.SQL("insert into {}.probe values (%s, %s)").format(ident), (1, marker), prepare=True
        )
    finally:
        pg_master_conn.execute(sql.SQL("drop schema if exists {} cascade").format(ident))
    audit: list[str] = []
    for _ in range(20):
        with pg_server_log.open(errors="replace") as log:
            log.seek(offset)
            text = log.read()
        # The server log is JSON lines (jsonlog): every complete line is one object.
        records = [json.loads(line) for line in text.splitlines() if line.endswith("}")]
        audited = [r for r in records if r["message"].startswith("AUDIT:") and schema in r["message"]]
        audit = [r["message"] for r in audited]
        if any(",WRITE," in message for message in audit):
            break
        time.sleep(0.25)
    assert any(",DDL,CREATE TABLE," in message for message in audit), audit
    assert any(",WRITE,INSERT," in message for message in audit), audit
    assert all({"timestamp", "error_severity", "message", "pid"} <= set(r) for r in records)
    assert all(r.get("user") == pg_master_conn.info.user for r in audited), "audit records name their user"
    assert marker not in text, "a bind value (PII) reached the server log"


@pytest.mark.soc2("CC7.2")
def test_server_log_is_json_lines_kept_a_year(pg_server_log):
    # Complete lines only: the collector may be appending the last one right now.
    lines = pg_server_log.read_text(errors="replace").split("\n")[:-1]
    assert lines, "the server log is empty"
    for line in lines[-200:]:
        record = json.loads(line)
        assert {"timestamp", "error_severity", "message"} <= set(record), record
    assert stat.S_IMODE(pg_server_log.stat().st_mode) & 0o007 == 0, "the server log is world-readable"
    # Readable by the log readers' group (mtail runs in it) through the setgid directory.
    assert (pg_server_log.owner(), pg_server_log.group()) == ("postgres", "adm")
    rotation = pathlib.Path("/etc/logrotate.d/giftcrypto-postgresql-giftcrypto").read_text()
    assert f"{pg_server_log} {{" in rotation and "rotate 365" in rotation and "copytruncate" in rotation
    check = subprocess.run(
        ["logrotate", "--debug", "/etc/logrotate.d/giftcrypto-postgresql-giftcrypto"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr


@pytest.mark.soc2("CC6.1", "CC6.6", "CC6.7")
def test_plaintext_redis_connection_is_refused(redis_app_secret):
    with socket.create_connection(
        (redis_app_secret["host"], int(redis_app_secret["port"])), timeout=5
    ) as sock:
        sock.sendall(b"PING\r\n")
        try:
            answer = sock.recv(64)
        except (ConnectionResetError, TimeoutError):
            answer = b""
    assert b"PONG" not in answer
    client = redis.Redis(host=redis_app_secret["host"], port=int(redis_app_secret["port"]), socket_timeout=5)
    with pytest.raises(redis.exceptions.ConnectionError):
        client.ping()


@pytest.mark.soc2("CC6.1")
def test_default_redis_user_cannot_authenticate(redis_app_secret):
    anonymous = redis_client({**redis_app_secret, "username": None, "password": None}, protocol=2)
    with pytest.raises(redis.exceptions.AuthenticationError):
        anonymous.ping()
    default = redis_client({**redis_app_secret, "username": "default", "password": "anything"})
    with pytest.raises(redis.exceptions.AuthenticationError):
        default.ping()


@pytest.mark.soc2("CC6.1", "CC6.7")
def test_redis_app_user_sets_and_gets_over_tls(redis_app_client):
    key = f"integration:{uuid.uuid4().hex}"
    assert redis_app_client.set(key, "value", ex=60)
    assert redis_app_client.get(key) == b"value"
    redis_app_client.delete(key)
    with pytest.raises(redis.exceptions.NoPermissionError):
        redis_app_client.flushall()
