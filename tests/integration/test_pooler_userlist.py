"""The EKS pooler's userlist sidecar through a rotation under load (issue 23, ADR 0019 "Not built yet" 1).

On the deployed local platform (its Secrets Manager endpoint and PostgreSQL), a pgBouncer of this
test's own (/usr/sbin/pgbouncer started under a name of its own, on a free loopback port, as the
postgres user; the platform's pgBouncer is not touched) authenticates from an auth_file, as the EKS
pooler does: no auth_query. The program (plugins/module_utils/pooler_userlist.py) writes that file
once, as the init container would, before pgBouncer starts, then runs beside it (interval 1 s). The
login is a throwaway role created here as the local admin, with a throwaway secret
``<prefix>/postgres/<role>`` of the platform's login shape; both are dropped at the end.

Under a load of new client connections through the pooler, each logging in as the API does
(giftcrypto_api.secret_refresh: AWSCURRENT, on refusal AWSCURRENT then AWSPENDING), the platform's
rotation code (secret_rotation.rotate, without a pgBouncer to test through, as the EKS Lambda runs it)
rotates the secret. Then: the userlist holds the new password, pgBouncer was reloaded and a client
connection opened before the rotation still works, the old password is refused through pgBouncer and
directly, the new one accepted; not one request failed, during the rotation nor in a second load after
pgBouncer's server connections were ended (its new server logins use the new password from the file);
the program's log holds neither password. The times are written to tests/output/pooler_userlist.json.
"""

from __future__ import annotations

import collections
import json
import os
import pathlib
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import psycopg
import pytest
from ansible_collections.giftcrypto.platform.plugins.module_utils import secret_rotation
from psycopg import sql

from tests.integration.conftest import ROOT

PGBOUNCER = pathlib.Path("/usr/sbin/pgbouncer")
CA = "/etc/giftcrypto/pki/ca.crt"
MODULE = "ansible_collections.giftcrypto.platform.plugins.module_utils.pooler_userlist"
OUTPUT = ROOT / "tests" / "output" / "pooler_userlist-{}.json"
Creds = collections.namedtuple("Creds", "username password")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait(condition, timeout: float, what: str) -> float:
    """Seconds until condition() held; fails the test after `timeout`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"{what}: not within {timeout} s"
        time.sleep(0.02)
    return time.monotonic() - started


def _refused(error: BaseException) -> bool:
    return any(t in str(error) for t in ("password authentication failed", "SASL authentication failed"))


def _logs_in(user: str, password: str, **where) -> bool:
    """Whether a login is accepted; False when refused, any other failure raised without the password."""
    try:
        with psycopg.connect(
            user=user, password=password, connect_timeout=5, autocommit=True, **where
        ) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError as error:
        if _refused(error):
            return False
        raise ConnectionError(
            f"{user}@{where.get('host')}:{where.get('port')}: not refused, failed"
        ) from None


@pytest.fixture
def throwaway(aws, local_vars, secret):
    """(secret name, role, password): a login role of the local PostgreSQL and its secret."""
    prefix = f"{local_vars['platform_name']}/{local_vars['platform_environment']}"
    role = f"i23pool_{secrets.token_hex(4)}"
    name = f"{prefix}/postgres/{role}"
    sm = aws("secretsmanager")
    admin = secret("postgres/master")
    password = sm.get_random_password(PasswordLength=32, ExcludePunctuation=True)["RandomPassword"]

    def as_admin():
        return secret_rotation.pg_connect(admin)

    with as_admin() as conn:
        verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(verifier))
        )
    login = {
        "username": role,
        "password": password,
        "host": admin["host"],
        "port": int(admin["port"]),
        "dbname": "postgres",
        "sslmode": "verify-full",
        "sslrootcert": admin.get("sslrootcert") or CA,
    }
    try:
        sm.create_secret(Name=name, SecretString=json.dumps(login))
        yield name, role, password
    finally:
        try:
            sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
        finally:
            with as_admin() as conn:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,)
                )
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.fixture
def workdir():
    """A directory pgBouncer (the postgres user) can use: group postgres, setgid, so the userlist the
    program writes as root (mode 0640) is readable by it, as an fsGroup volume in the pod."""
    path = pathlib.Path(tempfile.mkdtemp(prefix="i23-pooler-"))
    shutil.chown(path, group="postgres")
    path.chmod(0o2770)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _program_env(local_vars) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") or k == "AWS_CA_BUNDLE"}
    env.pop("SECRETS_MANAGER_ENDPOINT", None)
    env.update(
        {
            "PYTHONPATH": str(ROOT / ".collections"),
            "AWS_ENDPOINT_URL": local_vars["aws_endpoint_url"],
            "AWS_REGION": local_vars["aws_region"],
            "AWS_ACCESS_KEY_ID": local_vars["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": local_vars["aws_secret_access_key"],
        }
    )
    return env


def _start_pgbouncer(workdir: pathlib.Path, name: str, port: int, admin: dict) -> subprocess.Popen:
    binary = workdir / name  # its comm is `name`: the program signals it, not the platform's pgBouncer
    binary.symlink_to(PGBOUNCER)
    config = workdir / "pgbouncer.ini"
    config.write_text(
        f"""[databases]
* = host={admin["host"]} port={admin["port"]}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
logfile = {workdir}/pgbouncer.log
pidfile = {workdir}/pgbouncer.pid
auth_type = scram-sha-256
auth_file = {workdir}/userlist.txt
pool_mode = transaction
default_pool_size = 4
max_client_conn = 200
server_lifetime = 3600
server_idle_timeout = 600
ignore_startup_parameters = extra_float_digits
server_tls_sslmode = verify-full
server_tls_ca_file = {admin.get("sslrootcert") or CA}
""",
        encoding="utf-8",
    )
    shutil.chown(config, group="postgres")
    config.chmod(0o640)
    process = subprocess.Popen(
        [str(binary), str(config)],
        user="postgres",
        group="postgres",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def listening() -> bool:
        assert process.poll() is None, (workdir / "pgbouncer.log").read_text()
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    _wait(listening, 15, "the private pgBouncer listening")
    return process


class Load:
    """Threads opening a new client connection through the pooler per request, logging in as the API."""

    def __init__(self, connection_class, where: dict, threads: int = 6) -> None:
        self.connection_class, self.where = connection_class, where
        self.samples: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        while not self._stop.is_set():
            at = time.monotonic()
            try:
                with self.connection_class.connect(**self.where) as conn:
                    conn.execute("SELECT 1").fetchone()
                outcome = "ok"
            except Exception as error:  # the class and the server's last line (no password in either)
                outcome = f"{type(error).__name__}: {str(error).splitlines()[-1][:160]}"
            self.samples.append((at, outcome))
            time.sleep(0.01)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)

    def failures(self) -> list[tuple[float, str]]:
        return [sample for sample in self.samples if sample[1] != "ok"]


def _rotate(sm, name: str, pause: float, changed: list[float]) -> dict[str, float]:
    """The platform's rotation; with `pause`, its steps one by one as Secrets Manager invokes the EKS
    Lambda, waiting after setSecret until the userlist changed (at most `pause` s): the times of the
    steps."""
    if not pause:
        started = time.monotonic()
        secret_rotation.rotate(sm, name)  # the four steps, as the EKS function (no pgBouncer argument)
        return {"started": started, "finished": time.monotonic()}
    token = str(uuid.uuid4())
    started = time.monotonic()
    secret_rotation.create_secret(sm, name, token)
    secret_rotation.set_secret(sm, name, token)
    set_at = time.monotonic()
    _wait(lambda: bool(changed), pause, "the userlist changed to AWSPENDING before finishSecret")
    secret_rotation.test_secret(sm, name, token)
    secret_rotation.finish_secret(sm, name, token)
    return {"started": started, "set": set_at, "finished": time.monotonic()}


# 0: rotate() (the four steps at once); 3: setSecret, then up to 3 s until finishSecret (pass and probe).
@pytest.mark.parametrize("pause", [0, 3], ids=["rotate", "steps"])
def test_the_userlist_follows_a_rotation_under_load(aws, local_vars, secret, throwaway, workdir, pause):
    from giftcrypto_api.secret_refresh import RotatingLogin, rotating_connection_class, stage_reader

    name, role, old = throwaway
    sm = aws("secretsmanager")
    admin = secret("postgres/master")
    userlist = workdir / "userlist.txt"
    process_name = f"pgb{secrets.token_hex(5)}"
    port = _free_port()
    env = _program_env(local_vars)
    command = [sys.executable, "-m", MODULE, "--secret-id", name, "--userlist", str(userlist)]
    command += ["--process-name", process_name, "--sslrootcert", admin.get("sslrootcert") or CA]

    # The init container: the file before pgBouncer starts.
    once = subprocess.run([*command, "--once"], env=env, capture_output=True, text=True, timeout=60)
    assert once.returncode == 0, once.stderr
    assert userlist.read_text() == f'"{role}" "{old}"\n'
    pgbouncer = _start_pgbouncer(workdir, process_name, port, admin)
    program = subprocess.Popen([*command, "--interval", "1"], env=env, stderr=subprocess.PIPE, text=True)
    pooler = {"host": "127.0.0.1", "port": port, "dbname": "postgres", "sslmode": "disable"}
    try:
        login = RotatingLogin(
            name,
            Creds(role, old),
            stage_reader(lambda: aws("secretsmanager"), name, lambda v: Creds(v["username"], v["password"])),
        )
        client = rotating_connection_class(login)
        where = {**pooler, "connect_timeout": 5, "autocommit": True}
        held = psycopg.connect(user=role, password=old, **where)
        assert held.execute("SELECT current_user").fetchone() == (role,)

        changed: list[float] = []

        def watch(stop: threading.Event) -> None:
            while not stop.is_set() and not changed:
                if old not in userlist.read_text():
                    changed.append(time.monotonic())
                time.sleep(0.01)

        stop_watch = threading.Event()
        watcher = threading.Thread(target=watch, args=(stop_watch,), daemon=True)
        with Load(client, where) as load:
            time.sleep(2)
            watcher.start()
            times = _rotate(sm, name, pause, changed)
            started, finished = times["started"], times["finished"]
            new = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])["password"]
            _wait(lambda: bool(changed), 10, "the userlist changed")
            time.sleep(3)
        stop_watch.set()

        assert new != old
        assert userlist.read_text() == f'"{role}" "{new}"\n'
        assert held.execute("SELECT 1").fetchone() == (1,), "the connection opened before was kept"
        # pgBouncer's server connections of the role end; a second load makes it log in to PostgreSQL
        # anew, with the password of the reloaded file.
        with secret_rotation.pg_connect(admin) as conn:
            ended = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = %s", (role,)
            ).fetchone()[0]
        time.sleep(0.5)
        with Load(client, where) as after:
            time.sleep(3)
        direct = {"host": admin["host"], "port": int(admin["port"]), "dbname": "postgres"}
        direct.update(sslmode="verify-full", sslrootcert=admin.get("sslrootcert") or CA)
        refused = {
            "old through pgBouncer": not _logs_in(role, old, **pooler),
            "old directly": not _logs_in(role, old, **direct),
        }
        accepted = {
            "new through pgBouncer": _logs_in(role, new, **pooler),
            "new directly": _logs_in(role, new, **direct),
        }
        held.close()
    finally:
        program.terminate()
        try:
            program_exit = program.wait(timeout=10)
        finally:
            program.kill()
            log = program.communicate()[1]
            pgbouncer.terminate()
            pgbouncer.wait(timeout=10)
    pgbouncer_log = (workdir / "pgbouncer.log").read_text()

    failures = load.failures() + after.failures()
    measured = {
        "rotate_seconds": round(finished - started, 3),
        "userlist_changed_after_rotate_start_seconds": round(changed[0] - started, 3),
        "userlist_changed_after_finish_seconds": round(changed[0] - finished, 3),
        "requests": len(load.samples) + len(after.samples),
        "failed_requests": len(failures),
        "server_connections_ended": ended,
    }
    if "set" in times:
        measured["userlist_changed_after_setsecret_seconds"] = round(changed[0] - times["set"], 3)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(str(OUTPUT).format("steps" if pause else "rotate")).write_text(
        json.dumps(measured, indent=2) + "\n"
    )
    print(json.dumps(measured))

    assert failures == [], failures[:5]
    assert len(load.samples) > 100 and len(after.samples) > 50, measured
    assert all(refused.values()) and all(accepted.values()), (refused, accepted)
    assert ended > 0, "pgBouncer held no server connection of the role"
    assert changed[0] - started < 1 + 5 + (finished - started), measured  # one interval and a probe
    assert program_exit == 0, log[-2000:]
    assert "got SIGHUP" in pgbouncer_log, "pgBouncer was not reloaded"
    assert old not in log and new not in log, "a password in the program's log"
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    reloads = [e for e in events if e["event"] == "reloaded"]
    assert reloads and all(e["pids"] == [pgbouncer.pid] for e in reloads), reloads
    assert [e["event"] for e in events].count("userlist_written") == 1, "one change: one write"
    if pause:  # the pass between setSecret and finishSecret wrote AWSPENDING, which PostgreSQL accepted
        assert ("probe", "accepted") in [(e["event"], e.get("outcome")) for e in events], events
        assert ("stage", "AWSPENDING") in [(e["event"], e.get("stage")) for e in events], events
