"""The molecule cluster: running, loopback only, TLS-only, scram-sha-256 only, pgaudit loaded."""

import json

import psycopg
import pytest

PG_PORT = 25432
BOUNCER_PORT = 26432
CA = "/etc/giftcrypto/pki/ca.crt"
SECRET = "giftcrypto/molecule/postgres/master"


@pytest.fixture(scope="module")
def master(secret_json):
    return secret_json(SECRET)


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
    # Object audit logging of personal-data reads: driven by the role db_schema's migration 0010 grants.
    assert _psql(host, "show pgaudit.role") == "rds_pgaudit"
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


BACKUP_CONFIG = "/etc/pgbackrest/molecule.conf"
BACKUP_REPO = "/var/lib/pgbackrest/molecule"
BACKUP_SECRET = "giftcrypto/molecule/postgres/backup"  # pragma: allowlist secret


def _pgbackrest(host, *args):
    cmd = host.run(
        "runuser -u postgres -- pgbackrest --config=%s --stanza=molecule " + " ".join(["%s"] * len(args)),
        BACKUP_CONFIG,
        *args,
    )
    assert cmd.rc == 0, cmd.stderr + cmd.stdout
    return cmd.stdout


@pytest.fixture(scope="module")
def backup_secret(secret_json):
    return secret_json(BACKUP_SECRET)


def test_archiving_to_pgbackrest(host):
    assert _psql(host, "show archive_mode") == "on"
    assert _psql(host, "show archive_command") == (
        f"pgbackrest --config={BACKUP_CONFIG} --stanza=molecule archive-push %p"
    )
    assert 1 <= int(_psql(host, "select setting from pg_settings where name = 'archive_timeout'")) <= 60
    # pgbackrest check: forces a WAL switch and waits until the segment is in the repository.
    _pgbackrest(host, "check")
    archiver = "select failed_count = 0 or last_archived_time > last_failed_time from pg_stat_archiver"
    assert _psql(host, archiver) == "t"


def test_stanza_has_a_full_backup(host):
    (info,) = json.loads(_pgbackrest(host, "--output=json", "info"))
    assert info["name"] == "molecule"
    assert info["status"]["code"] == 0, info["status"]
    assert info["cipher"] == "aes-256-cbc"
    assert [b["type"] for b in info["backup"]][:1] == ["full"]
    assert info["archive"] and info["archive"][0]["max"]


def test_backup_schedule_and_cron_daemon(host):
    schedule = host.file("/etc/cron.d/giftcrypto-pgbackrest-molecule")
    assert (schedule.user, schedule.group, schedule.mode) == ("root", "root", 0o644)
    lines = [line for line in schedule.content_string.splitlines() if "pgbackrest" in line and line[0] != "#"]
    assert any("--type=full backup" in line for line in lines)
    assert any("--type=diff backup" in line for line in lines)
    assert all(line.split()[5] == "postgres" for line in lines)
    assert host.run("start-stop-daemon --status --pidfile /var/run/crond.pid --exec /usr/sbin/cron").rc == 0


def test_repository_encrypted_and_passphrase_only_in_secrets_manager(host, backup_secret):
    passphrase = backup_secret["cipher_pass"]
    assert backup_secret["cipher_type"] == "aes-256-cbc" and len(passphrase) >= 32
    config = host.file(BACKUP_CONFIG)
    # The passphrase is in the configuration, which only root and postgres may read.
    assert (config.user, config.group, config.mode) == ("root", "postgres", 0o640)
    assert host.file(BACKUP_REPO).mode == 0o750 and host.file(BACKUP_REPO).user == "postgres"
    # Every file of the repository is OpenSSL-encrypted ("Salted__" header) and none holds the
    # passphrase or a readable INI section.
    files = host.run("find %s -type f", BACKUP_REPO).stdout.split()
    assert any(f.endswith("backup.info") for f in files) and len(files) > 3
    for path in files:
        head = host.run("head -c 8 %s", path).stdout
        assert head == "Salted__", path
    assert host.run("grep -rlF -- %s %s", passphrase, BACKUP_REPO).stdout == ""
    assert host.run("grep -rl -- '\\[backup:current\\]' %s", BACKUP_REPO).stdout == ""
