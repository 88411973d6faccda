"""The scenario's database is migrated, locked down and audited, as db_schema left it."""

import json
import pathlib
import time
import uuid

import psycopg
import pytest
from psycopg import sql

MIGRATIONS = pathlib.Path(__file__).resolve().parents[3] / "roles" / "db_schema" / "files" / "migrations"
# Every version shipped in roles/db_schema/files/migrations, read from the file names (NNNN_name.up.sql).
VERSIONS = sorted(int(p.name.split("_", 1)[0]) for p in MIGRATIONS.glob("*.up.sql"))


@pytest.fixture(scope="module")
def secret(secret_json):
    """The connection secret of a database role."""
    return lambda role: secret_json(f"giftcrypto/molecule_schema/postgres/{role}")


@pytest.fixture(scope="module")
def connect(secret):
    """A connection as a database role, with what its secret says."""

    def connection(role):
        facts = secret(role)
        return psycopg.connect(
            host=facts["host"],
            port=facts["port"],
            user=facts["username"],
            password=facts["password"],
            dbname=facts["dbname"],
            sslmode=facts["sslmode"],
            sslrootcert=facts["sslrootcert"] or None,
            autocommit=True,
        )

    return connection


@pytest.mark.parametrize("role", ["migrator", "app_rw", "app_ro", "auditor"])
def test_secret_shape_and_login(role, connect, secret):
    facts = secret(role)
    assert set(facts) == {"username", "password", "host", "port", "dbname", "sslmode", "sslrootcert"}
    assert facts["username"] == role and len(facts["password"]) >= 24
    with connect(role) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == role
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()[0]


def test_every_migration_applied(connect):
    with connect("migrator") as conn:
        assert [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")] == VERSIONS


def test_partitions_ahead(connect):
    with connect("migrator") as conn:
        assert conn.execute("SELECT ensure_monthly_partitions(3)").fetchone()[0] == []


def test_application_sees_nothing_without_a_user(connect):
    with connect("app_rw") as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM audit_log")


def test_auditor_reads_the_chain_heads(connect):
    with connect("auditor") as conn:
        # 64 chains since migration 0011 (issue 21, ADR 0014), each with its head row.
        assert conn.execute("SELECT count(*) FROM audit_chain_heads").fetchone()[0] == 64


def test_no_login_role_can_bypass_rls(connect):
    with connect("migrator") as conn:
        rows = conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s) AND (rolsuper OR rolbypassrls)",
            (["migrator", "app_rw", "app_ro", "auditor"],),
        ).fetchall()
    assert rows == []


def test_the_heads_are_anchored_signed_and_locked(connect, aws):
    """The deploy step anchored the heads once (the idempotence run wrote nothing more).

    The bucket outlives the scenario (its anchors are locked): earlier runs' anchors are there too.
    """
    bucket = "giftcrypto-molecule-schema-audit-anchors"
    s3 = aws("s3")
    with connect("auditor") as conn:
        rows = conn.execute("SELECT shard, seq, encode(hash, 'hex') FROM audit_chain_heads").fetchall()
    heads = {str(s): {"seq": q, "hash": h} for s, q, h in rows}
    found = []
    for version in s3.list_object_versions(Bucket=bucket, Prefix="audit-anchors/giftcrypto/").get(
        "Versions", []
    ):
        anchor = json.loads(s3.get_object(Bucket=bucket, Key=version["Key"])["Body"].read())
        if anchor["document"]["heads"] == heads:
            found.append((version["Key"], anchor))
    assert len(found) == 1, [key for key, _ in found]
    key, anchor = found[0]
    assert s3.head_object(Bucket=bucket, Key=key)["ObjectLockMode"] == "COMPLIANCE"
    assert anchor["signing_algorithm"] == "ECDSA_SHA_256" and anchor["signature"]


def test_personal_data_reads_are_audited(connect):
    """pgaudit.role (postgres_server) names rds_pgaudit, which db_schema created NOLOGIN and migration
    0010 granted the personal-data tables: a read of one leaves an AUDIT: OBJECT record with the
    reading role; a read of encryption_keys leaves none."""
    with connect("migrator") as conn:
        assert conn.execute("SHOW pgaudit.role").fetchone()[0] == "rds_pgaudit"
        login = conn.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'rds_pgaudit'").fetchone()
        assert login == (False,)
        assert conn.execute(
            "SELECT has_table_privilege('rds_pgaudit', 'user_profiles', 'SELECT')"
        ).fetchone()[0]
        assert not conn.execute(
            "SELECT has_table_privilege('rds_pgaudit', 'encryption_keys', 'SELECT')"
        ).fetchone()[0]
    log = pathlib.Path("/var/log/postgresql/molecule_schema/postgresql-15-molecule_schema.json")
    offset = log.stat().st_size
    marker = f"probe_{uuid.uuid4().hex}"
    with connect("app_ro") as conn:
        for table in ("encryption_keys", "user_profiles"):
            conn.execute(
                sql.SQL("SELECT count(*) FROM {} /* {} */").format(sql.Identifier(table), sql.SQL(marker))
            )
    records: list[dict] = []
    for _ in range(50):
        with log.open(errors="replace") as handle:
            handle.seek(offset)
            lines = handle.read().splitlines()
        records = [json.loads(line) for line in lines if line.endswith("}") and marker in line]
        if any("user_profiles" in r["message"] for r in records):
            break
        time.sleep(0.2)
    # AUDIT: OBJECT,<statement>,<substatement>,READ,SELECT,TABLE,public.user_profiles,<text>,<not logged>
    audited = [
        (r["user"], fields[0], fields[3:7])
        for r in records
        if r["message"].startswith("AUDIT:")
        for fields in [r["message"].split(",")]
    ]
    assert audited == [("app_ro", "AUDIT: OBJECT", ["READ", "SELECT", "TABLE", "public.user_profiles"])]
