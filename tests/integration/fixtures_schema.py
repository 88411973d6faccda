"""Fixtures of the schema tests (issue 4): connections as each database role, fresh databases.

Everything connects the way the platform does: the admin connection from the secret
`<platform_name>/<environment>/postgres/master`, the login roles (migrator, app_rw, app_ro,
auditor) from `.../postgres/<role>`, all written by `nox -s deploy-local`. The environment is the
local inventory's unless GIFTCRYPTO_SCHEMA_TEST_ENVIRONMENT names another one (development
against a scratch server whose secrets live under that name in the same endpoint).

The tests never write into the deployed database: each session migrates a fresh database of its
own (dropped at the end), and tamper tests get one each. Superuser access (only to tamper with
the audit trail) is the postgres OS user over the unix socket, as on any Debian server.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import secrets as pysecrets
import subprocess
import tempfile
import uuid

import psycopg
import pytest

from tests.integration.conftest import (
    LOCAL_INVENTORY,
    PLATFORM_STATE,
    assert_no_deprecations,
    load_group_vars,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "roles" / "db_schema" / "files" / "migrations"
LOGIN_ROLES = ("migrator", "app_rw", "app_ro", "auditor")
# The server's unix socket: the local inventory's postgres_server_socket_dir (Debian's default), or the
# throwaway server's when tests/integration/postgres17.py stands in for it (another inventory).
SOCKET_DIR = str(load_group_vars(LOCAL_INVENTORY).get("postgres_server_socket_dir", "/var/run/postgresql"))
# The client tools of the server's major (psql, pg_dump): on PATH (Debian's postgresql-client-15) unless
# GIFTCRYPTO_PG_CLIENT_BIN names their directory (pg_dump refuses a server of a newer major).
PG_CLIENT_BIN = os.environ.get("GIFTCRYPTO_PG_CLIENT_BIN", "")


def pg_tool(name: str) -> str:
    """The path of a PostgreSQL client tool of the server's major (see PG_CLIENT_BIN)."""
    return str(pathlib.Path(PG_CLIENT_BIN) / name) if PG_CLIENT_BIN else name


class Database:
    """Connection facts of one database and helpers to connect to it as each role."""

    def __init__(self, name: str, creds: dict[str, dict], master: dict):
        self.name = name
        self.creds = creds
        self.master = master

    def kwargs(self, role: str) -> dict:
        facts = self.master if role == "admin" else self.creds[role]
        kwargs = {
            "host": facts["host"],
            "port": int(facts["port"]),
            "user": facts["username"],
            "password": facts["password"],
            "dbname": self.name,
            "sslmode": facts.get("sslmode") or "prefer",
        }
        if facts.get("sslrootcert"):
            kwargs["sslrootcert"] = facts["sslrootcert"]
        return kwargs

    def connect(self, role: str, autocommit: bool = True) -> psycopg.Connection:
        return psycopg.connect(autocommit=autocommit, **self.kwargs(role))

    @contextlib.contextmanager
    def as_user(self, user_id, role: str = "app_rw"):
        """A transaction of `role` with app.user_id set the pgBouncer-safe way (transaction-local)."""
        with self.connect(role, autocommit=False) as conn:
            conn.execute("SELECT set_config('app.user_id', %s, true)", (str(user_id),))
            yield conn
            conn.commit()

    def superuser(self, sql: str, check: bool = True) -> subprocess.CompletedProcess:
        """Runs SQL as the postgres superuser over the unix socket (tampering only)."""
        return subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                pg_tool("psql"),
                "-h",
                SOCKET_DIR,
                "-p",
                str(self.master["port"]),
                "-d",
                self.name,
                "-v",
                "ON_ERROR_STOP=1",
                "-qAt",
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            check=check,
            timeout=60,
        )


def ciphertext(size: int = 48) -> bytes:
    """Random bytes shaped like an envelope ciphertext (0x01 | version | nonce | data + tag)."""
    return b"\x01" + (1).to_bytes(4, "big") + os.urandom(size)


def new_user(db: Database, with_wallet: bool = True, currency: str = "ETH") -> dict:
    """A user with a profile and (optionally) a wallet, created as app_rw under their own id."""
    user_id = uuid.uuid4()
    wallet_id = None
    with db.as_user(user_id) as conn:
        conn.execute(
            "INSERT INTO users (id, email_ciphertext, email_bidx, password_hash) VALUES (%s, %s, %s, %s)",
            (user_id, ciphertext(), os.urandom(32), "$argon2id$v=19$" + pysecrets.token_hex(24)),
        )
        conn.execute(
            "INSERT INTO user_profiles (user_id, first_name_ciphertext, last_name_ciphertext, "
            "date_of_birth_ciphertext, display_name) VALUES (%s, %s, %s, %s, %s)",
            (user_id, ciphertext(), ciphertext(), ciphertext(), f"user-{str(user_id)[:8]}"),
        )
        if with_wallet:
            wallet_id = conn.execute(
                "INSERT INTO wallet_accounts (user_id, wallet_address, private_key_ciphertext, public_key, "
                "currency) VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (
                    user_id,
                    "0x" + pysecrets.token_hex(20),
                    ciphertext(),
                    "04" + pysecrets.token_hex(32),
                    currency,
                ),
            ).fetchone()[0]
    return {"id": user_id, "wallet": wallet_id}


def befriend(db: Database, requester: dict, addressee: dict, accept: bool = True):
    with db.as_user(requester["id"]) as conn:
        friendship = conn.execute(
            "INSERT INTO friendships (requester_id, addressee_id) VALUES (%s, %s) RETURNING id",
            (requester["id"], addressee["id"]),
        ).fetchone()[0]
    if accept:
        with db.as_user(addressee["id"]) as conn:
            conn.execute("UPDATE friendships SET status = 'accepted' WHERE id = %s", (friendship,))
    return friendship


def deposit(db: Database, wallet, amount, key: str | None = None):
    with db.connect("migrator") as conn:
        return conn.execute(
            "SELECT ledger_deposit(%s, %s, %s)", (wallet, amount, key or f"deposit-{uuid.uuid4()}")
        ).fetchone()[0]


def run_module(
    module: str, args: dict, secret_args: dict | None = None, check: bool = False, diff: bool = False
) -> dict:
    """Runs a giftcrypto.platform module the way Ansible does (ad hoc from the checkout).

    Secret arguments travel in a 0600 vars file, not on the command line. Returns the module's
    result (with `failed`) as the ansible.posix.json callback reports it.
    """
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
    }
    full_args = dict(args)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        os.chmod(handle.name, 0o600)
        json.dump({f"schema_test_{k}": v for k, v in (secret_args or {}).items()}, handle)
        vars_file = handle.name
    for key in secret_args or {}:
        full_args[key] = f"{{{{ schema_test_{key} }}}}"
    cmd = [
        "ansible",
        "localhost",
        "-m",
        f"giftcrypto.platform.{module}",
        "-a",
        json.dumps(full_args),
        "-e",
        f"@{vars_file}",
    ]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    try:
        proc = subprocess.run(
            cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
        )
    finally:
        os.unlink(vars_file)
    assert_no_deprecations(proc.stderr)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"no JSON from ansible: {proc.stdout[-2000:]} {proc.stderr[-2000:]}") from exc
    return report["plays"][0]["tasks"][0]["hosts"]["localhost"]


def migrate(db: Database, path: pathlib.Path = MIGRATIONS, **options) -> dict:
    facts = db.kwargs("migrator")
    args = {
        "path": str(path),
        "login_host": facts["host"],
        "login_port": facts["port"],
        "login_user": facts["user"],
        "login_db": db.name,
        "ssl_mode": facts["sslmode"],
        **({"ca_cert": facts["sslrootcert"]} if facts.get("sslrootcert") else {}),
    }
    check = options.pop("check", False)
    diff = options.pop("diff", False)
    args.update(options)
    return run_module("pg_migrate", args, {"login_password": facts["password"]}, check=check, diff=diff)


def audit_verify(db: Database, **options) -> dict:
    facts = db.kwargs("auditor")
    args = {
        "login_host": facts["host"],
        "login_port": facts["port"],
        "login_user": facts["user"],
        "login_db": db.name,
        "ssl_mode": facts["sslmode"],
        **({"ca_cert": facts["sslrootcert"]} if facts.get("sslrootcert") else {}),
        **options,
    }
    return run_module("audit_verify", args, {"login_password": facts["password"]})


@pytest.fixture(scope="session")
def schema_environment(local_vars) -> str:
    return os.environ.get("GIFTCRYPTO_SCHEMA_TEST_ENVIRONMENT") or local_vars["platform_environment"]


@pytest.fixture(scope="session")
def pg_secrets(aws, local_vars, schema_environment) -> dict:
    """The master secret and the login roles' secrets, as deploy-local stored them."""
    sm = aws("secretsmanager")
    prefix = f"{local_vars['platform_name']}/{schema_environment}/postgres"
    found = {}
    for role in ("master", *LOGIN_ROLES):
        try:
            found[role] = json.loads(sm.get_secret_value(SecretId=f"{prefix}/{role}")["SecretString"])
        except sm.exceptions.ResourceNotFoundException:
            pytest.fail(f"secret {prefix}/{role} missing: run `nox -s deploy-local` first")
    return found


@pytest.fixture(scope="session")
def new_database(pg_secrets):
    """A factory of fresh, empty databases prepared like db_schema prepares the platform's."""
    created: list[str] = []
    master = pg_secrets["master"]
    creds = {role: pg_secrets[role] for role in LOGIN_ROLES}

    def make(prefix: str = "schema_test") -> Database:
        name = f"{prefix}_{pysecrets.token_hex(4)}"
        db = Database(name, creds, master)
        admin = Database(master["dbname"], creds, master)
        with admin.connect("admin") as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        with db.connect("admin") as conn:
            conn.execute(f'GRANT CONNECT ON DATABASE "{name}" TO migrator, app_rw, app_ro, auditor')
            conn.execute("GRANT USAGE, CREATE ON SCHEMA public TO migrator")
            conn.execute("GRANT USAGE ON SCHEMA public TO app_rw, app_ro, auditor")
        return db

    yield make
    if PLATFORM_STATE["destroyed"]:
        return  # the destroy at the end of the run removed the server and these databases
    admin = Database(master["dbname"], creds, master)
    with admin.connect("admin") as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def schema_db(new_database) -> Database:
    """One migrated database shared by the RLS and ledger tests of a session."""
    db = new_database("schema_test")
    result = migrate(db)
    assert not result.get("failed"), result.get("msg")
    return db
