"""TLS and access control at every network entry point of the local deploy (issue 8).

PostgreSQL, pgBouncer, Redis and HAProxy refuse TLS 1.1 and below and accept TLS 1.2 and 1.3;
they offer only modern cipher suites (no CBC / non-AEAD suite, no RSA key exchange, and a normal
handshake negotiates an AEAD suite). A wrong password and an unknown role are refused and
recorded: PostgreSQL in its JSON server log (user, state_code 28P01), pgBouncer in its log, Redis
in its ACL log; a plaintext PostgreSQL connection is refused and recorded too (state_code 28000).

The version and cipher probes use Python's ssl directly. The client context is opened up
(``DEFAULT:@SECLEVEL=0``, minimum version TLS 1.0) so that a refusal is the SERVER's, not
OpenSSL's client-side policy; for PostgreSQL and pgBouncer the SSLRequest (the 8-byte packet
80877103) is sent by hand on the socket before the TLS handshake.

Client certificates are not part of the design: clients authenticate with scram-sha-256 (Redis:
ACL user and password) over server-authenticated TLS, so no test here asks for a client
certificate, and none expects one to be required.

Every test carries ``@pytest.mark.soc2(...)``, the SOC 2 criteria it evidences (CC6.1 logical
access, CC6.6 boundary protection, CC6.7 transmission encryption, CC7.2 monitoring and audit
logging); ``nox -s evidence`` turns them into docs/compliance/soc2-matrix.md.
"""

from __future__ import annotations

import json
import pathlib
import socket
import ssl
import struct
import time
import uuid
import warnings

import psycopg
import pytest
import redis

from tests.integration.fixtures_data_servers import redis_client

pytestmark = pytest.mark.integration

CA = "/etc/giftcrypto/pki/ca.crt"
HAPROXY = ("127.0.0.1", 8443)
PGBOUNCER_LOG = pathlib.Path("/var/log/postgresql/pgbouncer-giftcrypto.log")
SSL_REQUEST = struct.pack("!II", 8, 80877103)
TARGETS = ["postgresql", "pgbouncer", "redis", "haproxy"]
# A client that offers only TLS 1.2 suites without AEAD (CBC with HMAC, stream and NULL ciphers).
NON_AEAD_CIPHERS = "ALL:COMPLEMENTOFALL:!AESGCM:!AESCCM:!CHACHA20:!ARIAGCM:@SECLEVEL=0"
# A client that offers only the static RSA key exchange (no forward secrecy).
RSA_KEX_CIPHERS = "kRSA:@SECLEVEL=0"


@pytest.fixture(scope="session")
def endpoints(pg_master_conninfo, pgbouncer_master_conninfo, redis_app_secret) -> dict:
    """target -> (host, port, speaks the PostgreSQL protocol)."""
    return {
        "postgresql": (pg_master_conninfo["host"], pg_master_conninfo["port"], True),
        "pgbouncer": (pgbouncer_master_conninfo["host"], pgbouncer_master_conninfo["port"], True),
        "redis": (redis_app_secret["host"], int(redis_app_secret["port"]), False),
        "haproxy": (*HAPROXY, False),
    }


def _client_context(
    minimum: ssl.TLSVersion, maximum: ssl.TLSVersion, ciphers: str = "DEFAULT:@SECLEVEL=0", verify=True
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        context.load_verify_locations(CA)
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_ciphers(ciphers)
    with warnings.catch_warnings():
        # TLSVersion.TLSv1/TLSv1_1 are deprecated: exactly what these probes offer.
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = minimum
        context.maximum_version = maximum
    return context


def _handshake(endpoint: tuple, context: ssl.SSLContext) -> tuple[str, str]:
    """A TLS handshake with the endpoint (after an SSLRequest for PostgreSQL): (version, cipher)."""
    host, port, postgres = endpoint
    with socket.create_connection((host, port), timeout=10) as sock:
        if postgres:
            sock.sendall(SSL_REQUEST)
            answer = sock.recv(1)
            assert answer == b"S", f"the server declined the SSLRequest: {answer!r}"
        with context.wrap_socket(sock, server_hostname=host) as tls:
            return tls.version(), tls.cipher()[0]


def _is_aead(context: ssl.SSLContext, cipher: str) -> bool:
    return any(c["name"] == cipher and c["aead"] for c in context.get_ciphers())


def _pg_log_records(log: pathlib.Path, offset: int, wanted, attempts: int = 20) -> list[dict]:
    """The server log's JSON records after offset, waiting until one matches `wanted`."""
    records: list[dict] = []
    for _ in range(attempts):
        with log.open(errors="replace") as handle:
            handle.seek(offset)
            text = handle.read()
        # Complete lines only: the collector may be appending the last one right now.
        records = [json.loads(line) for line in text.splitlines() if line.endswith("}")]
        if any(wanted(r) for r in records):
            break
        time.sleep(0.25)
    return records


def _pgbouncer_log_after(offset: int, wanted: str, attempts: int = 20) -> str:
    text = ""
    for _ in range(attempts):
        with PGBOUNCER_LOG.open(errors="replace") as handle:
            handle.seek(offset)
            text = handle.read()
        if wanted in text:
            break
        time.sleep(0.25)
    return text


@pytest.mark.soc2("CC6.7")
@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
@pytest.mark.parametrize("target", TARGETS)
def test_tls_1_1_and_below_are_refused(target, version, endpoints):
    legacy = getattr(ssl.TLSVersion, version)
    context = _client_context(legacy, legacy, verify=False)
    with pytest.raises(ssl.SSLError, match=r"PROTOCOL_VERSION|protocol version|unsupported protocol"):
        _handshake(endpoints[target], context)


@pytest.mark.soc2("CC6.7")
@pytest.mark.parametrize("target", TARGETS)
def test_tls_1_2_and_below_negotiates_tls_1_2_not_lower(target, endpoints):
    # A client offering TLS 1.0 to 1.2 is answered with 1.2: the server never downgrades.
    context = _client_context(ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_2)
    version, _ = _handshake(endpoints[target], context)
    assert version == "TLSv1.2"


@pytest.mark.soc2("CC6.7")
@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
@pytest.mark.parametrize("target", TARGETS)
def test_tls_1_2_and_1_3_are_accepted_with_an_aead_suite(target, version, endpoints):
    wanted = getattr(ssl.TLSVersion, version)
    context = _client_context(wanted, wanted)
    negotiated, cipher = _handshake(endpoints[target], context)
    assert negotiated == version.replace("_", ".")
    assert _is_aead(context, cipher), f"{target} negotiated a non-AEAD suite: {cipher}"


@pytest.mark.soc2("CC6.7")
@pytest.mark.parametrize("target", TARGETS)
def test_non_aead_cipher_suites_are_refused(target, endpoints):
    context = _client_context(ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2, NON_AEAD_CIPHERS, verify=False)
    offered = [c for c in context.get_ciphers() if c["protocol"] != "TLSv1.3"]
    assert offered and not any(c["aead"] for c in offered), "the probe itself must offer no AEAD suite"
    try:
        version, cipher = _handshake(endpoints[target], context)
    except ssl.SSLError as refused:
        assert "HANDSHAKE_FAILURE" in str(refused) or "no shared cipher" in str(refused), refused
    else:
        pytest.fail(f"{target} accepted the non-AEAD suite {cipher} over {version}")


@pytest.mark.soc2("CC6.7")
@pytest.mark.parametrize("target", TARGETS)
def test_rsa_key_exchange_is_refused(target, endpoints):
    context = _client_context(ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2, RSA_KEX_CIPHERS, verify=False)
    offered = [c for c in context.get_ciphers() if c["protocol"] != "TLSv1.3"]
    assert offered and all(c["kea"] == "kx-rsa" for c in offered), "the probe must offer only RSA kex"
    try:
        version, cipher = _handshake(endpoints[target], context)
    except ssl.SSLError as refused:
        assert "HANDSHAKE_FAILURE" in str(refused) or "no shared cipher" in str(refused), refused
    else:
        pytest.fail(f"{target} accepted the RSA key exchange suite {cipher} over {version}")


@pytest.mark.soc2("CC6.1", "CC7.2")
def test_postgresql_wrong_password_is_refused_and_logged(pg_master_conninfo, pg_server_log):
    offset = pg_server_log.stat().st_size
    user = pg_master_conninfo["user"]
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(**{**pg_master_conninfo, "password": f"wrong-{uuid.uuid4().hex}"})

    def failed(r):
        return r.get("user") == user and r.get("state_code") == "28P01"

    records = _pg_log_records(pg_server_log, offset, failed)
    assert any(failed(r) for r in records), records[-5:]


@pytest.mark.soc2("CC6.1", "CC7.2")
def test_postgresql_unknown_role_is_refused_and_logged(pg_master_conninfo, pg_server_log):
    offset = pg_server_log.stat().st_size
    intruder = f"intruder_{uuid.uuid4().hex[:8]}"
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(**{**pg_master_conninfo, "user": intruder, "password": "anything"})

    def failed(r):
        return r.get("user") == intruder and r.get("state_code") == "28P01"

    records = _pg_log_records(pg_server_log, offset, failed)
    matching = [r for r in records if failed(r)]
    assert matching, records[-5:]
    # The client is told only "password authentication failed"; the log says why.
    assert all("does not exist" in r.get("detail", "") for r in matching), matching


@pytest.mark.soc2("CC6.1", "CC6.6", "CC6.7", "CC7.2")
def test_postgresql_plaintext_connection_is_refused_and_logged(pg_master_conninfo, pg_server_log):
    offset = pg_server_log.stat().st_size
    user = pg_master_conninfo["user"]
    with pytest.raises(psycopg.OperationalError, match=r"pg_hba\.conf rejects connection"):
        psycopg.connect(**{**pg_master_conninfo, "sslmode": "disable"})

    def refused(r):
        return r.get("user") == user and r.get("state_code") == "28000" and "no encryption" in r["message"]

    records = _pg_log_records(pg_server_log, offset, refused)
    assert any(refused(r) for r in records), records[-5:]


@pytest.mark.soc2("CC6.1", "CC7.2")
def test_pgbouncer_wrong_password_is_refused_and_logged(pgbouncer_master_conninfo):
    offset = PGBOUNCER_LOG.stat().st_size
    user = pgbouncer_master_conninfo["user"]
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        psycopg.connect(**{**pgbouncer_master_conninfo, "password": f"wrong-{uuid.uuid4().hex}"})
    text = _pgbouncer_log_after(offset, "password authentication failed")
    assert any(
        f"/{user}@" in line and "password authentication failed" in line for line in text.splitlines()
    ), text[-2000:]


@pytest.mark.soc2("CC6.1", "CC7.2")
def test_pgbouncer_unknown_role_is_refused_and_logged(pgbouncer_master_conninfo):
    offset = PGBOUNCER_LOG.stat().st_size
    intruder = f"intruder_{uuid.uuid4().hex[:8]}"
    with pytest.raises(psycopg.OperationalError, match=r"no such user|authentication failed"):
        psycopg.connect(**{**pgbouncer_master_conninfo, "user": intruder, "password": "anything"})
    # pgBouncer logs an unknown user as (nouser): the refusal is recorded, the name is not.
    text = _pgbouncer_log_after(offset, "no such user")
    assert "no such user" in text, text[-2000:]


@pytest.mark.soc2("CC6.1", "CC6.6", "CC6.7")
def test_pgbouncer_plaintext_connection_is_refused_and_logged(pgbouncer_master_conninfo):
    offset = PGBOUNCER_LOG.stat().st_size
    with pytest.raises(psycopg.OperationalError, match="SSL required"):
        psycopg.connect(**{**pgbouncer_master_conninfo, "sslmode": "disable"})
    text = _pgbouncer_log_after(offset, "SSL required")
    assert "SSL required" in text, text[-2000:]


def _acl_auth_failures(admin: redis.Redis, username: str) -> int:
    return sum(e["count"] for e in admin.acl_log() if e["reason"] == "auth" and e["username"] == username)


@pytest.fixture
def redis_admin_client(secret):
    client = redis_client(secret("redis/admin"))
    yield client
    client.close()


@pytest.mark.soc2("CC6.1", "CC7.2")
@pytest.mark.parametrize("who", ["wrong password", "unknown user"])
def test_redis_failed_login_is_refused_and_logged(who, redis_app_secret, redis_admin_client):
    username = redis_app_secret["username"] if who == "wrong password" else f"intruder_{uuid.uuid4().hex[:8]}"
    before = _acl_auth_failures(redis_admin_client, username)
    intruder = redis_client(
        {**redis_app_secret, "username": username, "password": f"wrong-{uuid.uuid4().hex}"}
    )
    with pytest.raises(redis.exceptions.AuthenticationError):
        intruder.ping()
    intruder.close()
    assert _acl_auth_failures(redis_admin_client, username) > before, "no ACL LOG auth entry"


# Where app_deploy writes the colours Prometheus scrapes (app_deploy_prometheus_file_sd).
FILE_SD = pathlib.Path("/etc/giftcrypto/monitoring/file_sd/giftcrypto-api.json")
# The spellings of /metrics a client may try on the public front; HAProxy matches the path
# percent-decoded, lowercased and with slashes merged (app_deploy_internal_path_prefixes).
INTERNAL_SPELLINGS = [
    "/metrics",
    "/metrics/",
    "//metrics",
    "/./metrics",
    "/%6detrics",
    "/%2Fmetrics",
    "/METRICS",
]


def _front(path: str) -> tuple[int, dict[str, str]]:
    """A GET of `path`, sent as written (no client-side normalisation), through HAProxy's front."""
    context = ssl.create_default_context(cafile=CA)
    with (
        socket.create_connection(HAPROXY, timeout=10) as sock,
        context.wrap_socket(sock, server_hostname=HAPROXY[0]) as tls,
    ):
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {HAPROXY[0]}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in head[1:])}
    return int(head[0].split()[1]), headers


@pytest.mark.soc2("CC6.6")
@pytest.mark.parametrize("path", INTERNAL_SPELLINGS)
def test_the_public_front_does_not_serve_the_metrics(path):
    status, headers = _front(path)
    assert status == 404, (path, status)
    assert headers.get("x-content-type-options") == "nosniff"


@pytest.mark.soc2("CC6.6", "CC7.2")
def test_prometheus_still_scrapes_the_colours_and_the_front_answers_nosniff():
    """The metrics stay reachable where Prometheus scrapes them (each colour's own port, loopback),
    and the front's answers carry nosniff and HSTS."""
    groups = json.loads(FILE_SD.read_text())  # the live colour, and the idle one after a release
    assert groups
    for target in (target for group in groups for target in group["targets"]):
        host, port = target.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(f"GET /metrics HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            first = sock.recv(64)
        assert first.startswith(b"HTTP/1.1 200"), (target, first)
    status, headers = _front("/version")
    assert status == 200
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["strict-transport-security"].startswith("max-age=")
