"""The molecule cluster: running, loopback only, TLS-only, scram-sha-256 only, pgaudit loaded."""

import json

import boto3
import psycopg
import pytest

PG_PORT = 55432
BOUNCER_PORT = 56432
CA = "/etc/giftcrypto/pki/ca.crt"
SECRET = "giftcrypto/molecule/postgres/master"


@pytest.fixture(scope="module")
def master():
    sm = boto3.client(
        "secretsmanager",
        endpoint_url="http://127.0.0.1:4566",
        region_name="us-east-1",
        aws_access_key_id="molecule",
        aws_secret_access_key="molecule",
    )
    return json.loads(sm.get_secret_value(SecretId=SECRET)["SecretString"])


def _psql(host, sql):
    """Runs SQL as the postgres superuser over the unix socket (peer: root maps to postgres)."""
    cmd = host.run("psql -h /var/run/postgresql -p %s -U postgres -d giftcrypto -XAtc %s", str(PG_PORT), sql)
    assert cmd.rc == 0, cmd.stderr
    return cmd.stdout.strip()


def test_cluster_and_pgbouncer_run(host):
    assert host.run("pg_ctlcluster 15 molecule status").rc == 0
    pgbouncers = host.process.filter(user="postgres", comm="pgbouncer")
    assert any("pgbouncer-molecule" in p.args for p in pgbouncers)


def test_listens_on_loopback_only(host):
    ports = (f":{PG_PORT}", f":{BOUNCER_PORT}")
    sockets = sorted(
        s for s in host.socket.get_listening_sockets() if s.startswith("tcp") and s.endswith(ports)
    )
    assert sockets == [f"tcp://127.0.0.1:{PG_PORT}", f"tcp://127.0.0.1:{BOUNCER_PORT}"]


@pytest.mark.parametrize("port", [PG_PORT, BOUNCER_PORT])
def test_plaintext_connection_refused(master, port):
    with pytest.raises(psycopg.OperationalError, match=r"pg_hba.conf rejects|SSL required"):
        psycopg.connect(
            host="127.0.0.1",
            port=port,
            user=master["username"],
            password=master["password"],
            dbname="giftcrypto",
            sslmode="disable",
            connect_timeout=5,
        )


@pytest.mark.parametrize("port", [PG_PORT, BOUNCER_PORT])
def test_tls_verify_full_login(master, port):
    with psycopg.connect(
        host=master["host"],
        port=port,
        user=master["username"],
        password=master["password"],
        dbname="giftcrypto",
        sslmode="verify-full",
        sslrootcert=master["sslrootcert"],
        connect_timeout=5,
    ) as conn:
        assert conn.info.pgconn.ssl_in_use
        assert conn.execute("select current_user").fetchone()[0] == master["username"]


def test_wrong_password_refused(master):
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(
            host="127.0.0.1",
            port=PG_PORT,
            user=master["username"],
            password="not-the-password",
            dbname="giftcrypto",
            sslmode="verify-full",
            sslrootcert=CA,
        )


def test_tcp_rules_are_tls_and_scram_only(host):
    rules = _psql(host, "select type, auth_method from pg_hba_file_rules where type <> 'local'").splitlines()
    assert rules
    for rule in rules:
        kind, method = rule.split("|")
        assert (kind, method) in {("hostssl", "scram-sha-256"), ("hostnossl", "reject")}, rule
    assert _psql(host, "show password_encryption") == "scram-sha-256"
    assert _psql(host, "show ssl_min_protocol_version") in {"TLSv1.2", "TLSv1.3"}
    assert (
        _psql(
            host,
            "select rolpassword like 'SCRAM-SHA-256$%' from pg_authid where rolname = 'giftcrypto_admin'",
        )
        == "t"
    )


def test_admin_is_not_superuser(host):
    assert (
        _psql(
            host,
            "select rolsuper, rolcreatedb, rolcreaterole from pg_roles where rolname = 'giftcrypto_admin'",
        )
        == "f|t|t"
    )


def test_pgaudit_loaded_without_parameters(host):
    assert "pgaudit" in _psql(host, "show shared_preload_libraries")
    assert _psql(host, "show pgaudit.log_parameter") == "off"
    assert {"write", "ddl"} <= {c.strip() for c in _psql(host, "show pgaudit.log").split(",")}
    assert (
        _psql(host, "select count(*) from pg_extension where extname in ('pgaudit', 'pg_stat_statements')")
        == "2"
    )


def test_server_log_is_json_and_kept_a_year(host):
    log = host.file("/var/log/postgresql/molecule/postgresql-15-molecule.json")
    assert log.exists and (log.user, log.group, log.mode) == ("postgres", "adm", 0o640)
    directory = host.file("/var/log/postgresql/molecule")
    assert (directory.user, directory.group, directory.mode) == ("postgres", "adm", 0o2750)
    lines = log.content_string.split("\n")[:-1]
    assert lines
    for line in lines[-50:]:
        record = json.loads(line)
        assert {"timestamp", "error_severity", "message"} <= set(record), record
    rotation = host.file("/etc/logrotate.d/giftcrypto-postgresql-molecule").content_string
    assert "/var/log/postgresql/molecule/postgresql-15-molecule.json {" in rotation
    assert "    rotate 365" in rotation.splitlines()
    debug = host.run("logrotate --debug /etc/logrotate.d/giftcrypto-postgresql-molecule")
    assert debug.rc == 0, debug.stderr
