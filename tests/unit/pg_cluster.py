"""A throwaway PostgreSQL 15 cluster for the unit tests of the database-facing plugins.

One cluster per test session, made by ``initdb`` in its own temporary directory and started with
``pg_ctl``: it listens on 127.0.0.1 only, on a free port picked at run time (never one of the
machine's own services), and on a unix socket in that directory; every login uses a password
(scram-sha-256). At the end of the session it is stopped and its directory deleted.

The cluster holds the platform's login roles (migrator, app_rw, app_ro, auditor, as the db_schema
role creates them: no superuser, no BYPASSRLS) and a template database migrated with the real
roles/db_schema/files/migrations as migrator; each test gets a fresh database (empty, or a copy of
the template), dropped afterwards. The binaries are those of the Debian package postgresql-15: when they are
missing the fixture fails (it does not skip), since an untested database path proves nothing.

initdb refuses to run as root: as root, the cluster is made and run by the ``postgres`` system
user (``runuser``) in a directory it owns; as any other user, by that user.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import pathlib
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

PG_BIN = pathlib.Path("/usr/lib/postgresql/15/bin")
ROOT = pathlib.Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "roles" / "db_schema" / "files" / "migrations"
SUPERUSER = "giftcrypto_test"
LOGIN_ROLES = ("migrator", "app_rw", "app_ro", "auditor")
# pgaudit's object-audit role (roles/db_schema/vars/main.yml's db_schema__audit_role; RDS allows no other).
AUDIT_ROLE = "rds_pgaudit"
TEMPLATE = "giftcrypto_template"
# Ports of the services deployed on this machine (PostgreSQL, pgBouncer, Redis, Prometheus and
# Alertmanager, moto): the test cluster never takes one of them.
RESERVED_PORTS = (
    range(5000, 5101),
    range(5432, 5433),
    range(6379, 6380),
    range(6432, 6433),
    range(9090, 9201),
)
MISSING_BINARIES = (
    "PostgreSQL 15 server binaries not found in {bin} (initdb, pg_ctl, postgres): install the Debian "
    "package postgresql-15 (`apt-get install postgresql-15`; `nox -s unit` installs it). The database "
    "tests need a real server and fail rather than skip without one."
)


@dataclasses.dataclass
class Cluster:
    """A running cluster: where it listens and the passwords of its roles."""

    directory: pathlib.Path
    port: int
    passwords: dict[str, str] = dataclasses.field(repr=False)
    host: str = "127.0.0.1"

    @property
    def socket_dir(self) -> str:
        return str(self.directory / "socket")

    def connect(self, dbname: str = "postgres", user: str = SUPERUSER, autocommit: bool = True, **kwargs):
        """A psycopg connection over TCP with the role's password."""
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=user,
            password=self.passwords[user],
            dbname=dbname,
            autocommit=autocommit,
            connect_timeout=5,
            **kwargs,
        )

    def login(self, dbname: str, user: str = "migrator") -> dict:
        """The connection options of our database modules for a role (module args)."""
        return {
            "login_host": self.host,
            "login_port": self.port,
            "login_user": user,
            "login_password": self.passwords[user],
            "login_db": dbname,
            "connect_timeout": 5,
        }

    def create_database(self, name: str, template: str | None = None) -> str:
        """A database owned by the test superuser with the grants of roles/db_schema/tasks/grants.yml."""
        with self.connect() as conn:
            if template:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                        sql.Identifier(name), sql.Identifier(template)
                    )
                )
            else:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(
                        sql.Identifier(name)
                    )
                )
            conn.execute(
                sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                    sql.Identifier(name), sql.SQL(", ").join(map(sql.Identifier, LOGIN_ROLES))
                )
            )
        if not template:
            with self.connect(name) as conn:
                conn.execute("GRANT USAGE, CREATE ON SCHEMA public TO migrator")
                conn.execute("GRANT USAGE ON SCHEMA public TO app_rw, app_ro, auditor")
        return name

    def drop_database(self, name: str) -> None:
        with self.connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _free_port() -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if not any(port in reserved for reserved in RESERVED_PORTS):
            return port
    raise RuntimeError("no free TCP port outside the reserved ones")  # pragma: no cover


def _as_cluster_owner() -> tuple[list[str], int | None, int | None]:
    """The command prefix, uid and gid that run the server: the postgres user when we are root."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        owner = pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail(
            "running as root, but there is no postgres system user to run initdb as: "
            + MISSING_BINARIES.format(bin=PG_BIN)
        )
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.fail("running as root, but runuser (util-linux) is missing: initdb must run as postgres")
    return [runuser, "-u", "postgres", "--"], owner.pw_uid, owner.pw_gid


def _run(prefix: list[str], *args: str, cwd: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def _start(prefix: list[str], directory: pathlib.Path) -> int:
    """Starts the server on a free port (another one if the port was taken meanwhile)."""
    data, log = directory / "data", directory / "server.log"
    output = ""
    for _ in range(5):
        port = _free_port()
        settings = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={directory / 'socket'} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50 "
            "-c shared_buffers=32MB -c log_min_messages=warning"
        )
        started = _run(
            prefix,
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-w",
            "-t",
            "60",
            "-o",
            settings,
            "start",
            cwd=directory,
        )
        if started.returncode == 0:
            return port
        output = started.stdout + started.stderr + (log.read_text() if log.exists() else "")
    pytest.fail(f"could not start the test PostgreSQL cluster in {directory}:\n{output}")


def _migrate_template(cluster: Cluster) -> None:
    """The template database: every up migration of the db_schema role, in order, as migrator."""
    cluster.create_database(TEMPLATE)
    with cluster.connect(TEMPLATE, user="migrator", autocommit=False) as conn:
        for path in sorted(MIGRATIONS.glob("*.up.sql")):
            with conn.transaction():
                conn.execute(path.read_text(encoding="utf-8"))


@contextlib.contextmanager
def running_cluster() -> Iterator[Cluster]:
    """Creates, starts, yields, then stops and deletes a cluster."""
    if not all((PG_BIN / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
        pytest.fail(MISSING_BINARIES.format(bin=PG_BIN))
    prefix, uid, gid = _as_cluster_owner()
    directory = pathlib.Path(tempfile.mkdtemp(prefix="giftcrypto-pg-"))
    (directory / "socket").mkdir()
    passwords = {role: secrets.token_urlsafe(18) for role in (SUPERUSER, *LOGIN_ROLES)}
    pwfile = directory / "pwfile"
    pwfile.write_text(passwords[SUPERUSER] + "\n")
    pwfile.chmod(0o600)
    if uid is not None:
        for path in (directory, directory / "socket", pwfile):
            os.chown(path, uid, gid)
    started = False
    try:
        init = _run(
            prefix,
            str(PG_BIN / "initdb"),
            "-D",
            str(directory / "data"),
            f"--username={SUPERUSER}",
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            cwd=directory,
        )
        if init.returncode != 0:
            pytest.fail(f"initdb of the test PostgreSQL cluster failed:\n{init.stdout}{init.stderr}")
        pwfile.unlink()
        port = _start(prefix, directory)
        started = True
        cluster = Cluster(directory=directory, port=port, passwords=passwords)
        with cluster.connect() as conn:
            for role in LOGIN_ROLES:
                # What roles/db_schema/tasks/login_roles.yml creates: LOGIN, nothing more.
                conn.execute(
                    sql.SQL(
                        "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD {}"
                    ).format(sql.Identifier(role), sql.Literal(passwords[role]))
                )
            # The pgaudit object-audit role db_schema creates before the migrations (0010 grants to it).
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(AUDIT_ROLE)))
        _migrate_template(cluster)
        yield cluster
    finally:
        if started:
            _run(
                prefix,
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(directory / "data"),
                "-m",
                "immediate",
                "-w",
                "stop",
                cwd=directory,
            )
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """The session's PostgreSQL 15 cluster (see the module docstring)."""
    with running_cluster() as cluster:
        yield cluster


_names = itertools.count(1)


@pytest.fixture
def empty_db(pg_cluster: Cluster) -> Iterator[str]:
    """A new database with no schema (only the grants migrator needs to create one)."""
    name = pg_cluster.create_database(f"unit_empty_{os.getpid()}_{next(_names)}")
    yield name
    pg_cluster.drop_database(name)


@pytest.fixture
def migrated_db(pg_cluster: Cluster) -> Iterator[str]:
    """A new database holding the whole migrated schema (a copy of the template)."""
    name = pg_cluster.create_database(f"unit_migrated_{os.getpid()}_{next(_names)}", template=TEMPLATE)
    yield name
    pg_cluster.drop_database(name)
