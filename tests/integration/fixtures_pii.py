"""Fixtures of the PII envelope-encryption tests (tests/integration/test_pii.py).

Connections are the platform's own: login secrets ``<platform>/<env>/postgres/<role>`` from the
local Secrets Manager (``migrator`` for the keyring module, ``app_rw`` for seeding as the
application does), PostgreSQL's superuser over the unix socket to dump and read everything, and
KMS on the local AWS endpoint.

For development against another server (a scratch cluster before the local one is up), point
``GIFTCRYPTO_PII_TEST_LOGINS`` at a JSON file ``{"superuser": {...}, "migrator": {...},
"app_rw": {...}}`` of the same shape as the secrets; it is never set in CI.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import secrets
import sys
import warnings

import pytest
from ansible_collections.giftcrypto.platform.plugins.module_utils import envelope

from tests.integration.conftest import PLATFORM_STATE

ROOT = pathlib.Path(__file__).resolve().parents[2]
LOGINS_OVERRIDE = "GIFTCRYPTO_PII_TEST_LOGINS"


def _load_seed_tool():
    spec = importlib.util.spec_from_file_location("giftcrypto_seed_local", ROOT / "tools" / "seed_local.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def seed_tool():
    """tools/seed_local.py as a module (its seed() is what `nox -s seed-local` runs)."""
    return _load_seed_tool()


@pytest.fixture(scope="session")
def pg_login(secret, local_vars):
    """The login (username, password, host, port, dbname, sslmode, sslrootcert) of a role.

    ``superuser`` is PostgreSQL's own superuser over the unix socket (peer authentication maps
    root to it, as for backups): the one reader that sees every row whatever the row-level
    security, which is what a dump or a restore exposes.
    """
    override = os.environ.get(LOGINS_OVERRIDE)
    logins = json.loads(pathlib.Path(override).read_text()) if override else None

    def read(role: str) -> dict:
        if logins is not None:
            return logins[role]
        if role == "superuser":
            return {
                "host": local_vars.get("postgres_server_socket_dir", "/var/run/postgresql"),
                "port": local_vars.get("postgres_server_port", 5432),
                "username": "postgres",
                "password": "",
                "dbname": local_vars.get("postgres_server_database", "giftcrypto"),
                "sslmode": "disable",  # a unix socket: no TLS to negotiate
            }
        return secret(f"postgres/{role}")

    return read


def libpq_env(login: dict) -> dict[str, str]:
    """PG* environment variables of a login (for pg_dump and the seed tool's --libpq-env)."""
    env = {
        "PGHOST": str(login["host"]),
        "PGPORT": str(login["port"]),
        "PGUSER": login["username"],
        "PGPASSWORD": login["password"],
        "PGDATABASE": login["dbname"],
        "PGSSLMODE": login.get("sslmode") or "verify-full",
    }
    if not login["password"]:
        del env["PGPASSWORD"]
    if login.get("sslrootcert"):
        env["PGSSLROOTCERT"] = login["sslrootcert"]
    return env


@pytest.fixture(scope="session")
def pg_connect(pg_login, seed_tool):
    """Opens a psycopg connection as a role; closed at the end of the session."""
    opened = []

    def connect(role: str):
        conn = seed_tool.connect_from_secret(pg_login(role))
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        conn.close()


@pytest.fixture(scope="session")
def kms_client(aws):
    return envelope.KmsClient(aws("kms"))


@pytest.fixture
def fresh_keyring(aws, pg_connect):
    """A new keyring (empty cache, its own KMS call counter) reading encryption_keys as the superuser."""
    conn = pg_connect("superuser")
    ring = envelope.EnvelopeKeyring(envelope.KmsClient(aws("kms")), envelope.PostgresKeySource(conn))
    yield ring
    ring.clear()
    conn.rollback()


@pytest.fixture(scope="session")
def seeded_pii(aws, pg_connect, seed_tool):
    """Seeds 300 sample users of a fresh seed number through the envelope path as app_rw, as
    `nox -s seed-local` does; yields the report (with the plaintexts, in memory only) and
    deletes those users at the end."""
    conn = pg_connect("app_rw")
    seed_number = 100 + secrets.randbelow(899)
    with envelope.EnvelopeKeyring(envelope.KmsClient(aws("kms")), envelope.PostgresKeySource(conn)) as ring:
        report = seed_tool.seed(
            conn, envelope.FieldCipher(ring), users=300, seed_number=seed_number, batch_size=128
        )
    report.seed_number = seed_number
    yield report
    if PLATFORM_STATE["destroyed"]:
        return  # the destroy at the end of the run removed the server and these users
    admin = pg_connect("superuser")
    ids = [u.user_id for u in report.users]
    try:
        with admin.cursor() as cur:
            # The ledger opened an account per wallet (0003_ledger); the test users made no transfer.
            cur.execute(
                "DELETE FROM ledger_accounts WHERE wallet_id IN "
                "(SELECT id FROM wallet_accounts WHERE user_id = ANY(%s))",
                (ids,),
            )
            cur.execute("DELETE FROM wallet_accounts WHERE user_id = ANY(%s)", (ids,))
            cur.execute("DELETE FROM user_profiles WHERE user_id = ANY(%s)", (ids,))
            cur.execute("DELETE FROM users WHERE id = ANY(%s)", (ids,))
        admin.commit()
    except Exception as error:  # the data stays as sample data; say so instead of failing the run
        admin.rollback()
        warnings.warn(
            f"could not remove the {len(ids)} test users of seed {seed_number}: {error}", stacklevel=1
        )


@pytest.fixture(scope="session")
def run_pii_keyring(pg_login, tmp_path_factory):
    """Runs giftcrypto.platform.pii_keyring through ansible-playbook (as keyring.yml does, as the
    migrator) and returns its registered result, read back from a file."""
    from tests.integration.conftest import run_playbook

    workdir = tmp_path_factory.mktemp("pii_keyring")

    def run(check: bool = False, **args) -> dict:
        login = pg_login("migrator")
        extra = workdir / "login.json"
        extra.touch(mode=0o600)
        extra.write_text(json.dumps({"pii_test_login": login, "pii_test_args": args}))
        out = workdir / "result.json"
        out.unlink(missing_ok=True)
        playbook = workdir / "pii_keyring.yml"
        playbook.write_text(PLAYBOOK.replace("RESULT_PATH", str(out)))
        completed = run_playbook(
            "-e", f"@{extra}", *(["--check"] if check else []), playbook=str(playbook), timeout=900
        )
        extra.unlink()
        assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
        assert login["password"] not in completed.stdout + completed.stderr
        return json.loads(out.read_text())

    return run


PLAYBOOK = """\
- name: Run pii_keyring for the PII tests
  hosts: localhost
  gather_facts: false
  module_defaults:
    giftcrypto.platform.pii_keyring:
      region: "{{ aws_region }}"
      endpoint_url: "{{ aws_endpoint_url | default(omit, true) }}"
      access_key: "{{ aws_access_key_id | default(omit, true) }}"
      secret_key: "{{ aws_secret_access_key | default(omit, true) }}"
  tasks:
    - name: Keyring
      giftcrypto.platform.pii_keyring:
        login_host: "{{ pii_test_login.host }}"
        login_port: "{{ pii_test_login.port | int }}"
        login_user: "{{ pii_test_login.username }}"
        login_password: "{{ pii_test_login.password }}"
        login_db: "{{ pii_test_login.dbname }}"
        ssl_mode: "{{ pii_test_login.sslmode | default('verify-full', true) }}"
        ca_cert: "{{ pii_test_login.sslrootcert | default(omit, true) }}"
        kms_key_id: "{{ pii_test_args.kms_key_id | default(omit) }}"
        purpose: "{{ pii_test_args.purpose }}"
        state: "{{ pii_test_args.state | default('present') }}"
        reencrypt: "{{ pii_test_args.reencrypt | default(false) }}"
        batch_size: "{{ pii_test_args.batch_size | default(500) }}"
      register: pii_test_result
      no_log: true

    - name: Keep the result (counts, versions, SQL text; no secret) for the test
      ansible.builtin.copy:
        content: "{{ pii_test_result | to_json }}"
        dest: RESULT_PATH
        mode: "0600"
      check_mode: false
"""
