"""The EKS pooler's userlist sidecar (plugins/module_utils/pooler_userlist.py, issue 23, ADR 0019).

Secrets Manager is moto (in-process, or a moto server of its own for the program run as a process);
the database the probe logs in to is the throwaway PostgreSQL 15 cluster of tests/unit/pg_cluster.py;
the processes that get SIGHUP are real children renamed with prctl(PR_SET_NAME). Their names are
unique per test: this host may run a real pgBouncer, which a test must not signal.
"""

from __future__ import annotations

import itertools
import json
import os
import pathlib
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
import uuid

import boto3
import psycopg
import pytest
from ansible_collections.giftcrypto.platform.plugins.module_utils import pooler_userlist as pu
from moto import mock_aws

from tests.unit.k8s_helpers import moto_server
from tests.unit.moto_modules import dummy_environment

ROOT = pathlib.Path(__file__).resolve().parents[2]
PREFIX = "giftcrypto/test"
RW, RO = f"{PREFIX}/postgres/app_rw", f"{PREFIX}/postgres/app_ro"
MODULE = "ansible_collections.giftcrypto.platform.plugins.module_utils.pooler_userlist"


def _login(user: str, password: str, host: str = "127.0.0.1", port: int = 1) -> dict:
    return {
        "username": user,
        "password": password,
        "host": host,
        "port": port,
        "dbname": "postgres",
        "sslmode": "disable",
    }


def _pending(sm, name: str, login: dict) -> str:
    token = str(uuid.uuid4())
    sm.put_secret_value(
        SecretId=name, ClientRequestToken=token, SecretString=json.dumps(login), VersionStages=["AWSPENDING"]
    )
    return token


def _finish(sm, name: str, token: str) -> None:
    """finishSecret's moves: AWSCURRENT to `token`, AWSPENDING off it."""
    current = next(
        v for v, s in sm.describe_secret(SecretId=name)["VersionIdsToStages"].items() if "AWSCURRENT" in s
    )
    sm.update_secret_version_stage(
        SecretId=name, VersionStage="AWSCURRENT", MoveToVersionId=token, RemoveFromVersionId=current
    )
    sm.update_secret_version_stage(SecretId=name, VersionStage="AWSPENDING", RemoveFromVersionId=token)


def _assert_no_password(text: str, *passwords: str) -> None:
    for password in passwords:
        assert password not in text, "a password reached the logs"


@pytest.fixture
def sm(monkeypatch, tmp_path):
    dummy_environment(monkeypatch, tmp_path)
    monkeypatch.delenv("SECRETS_MANAGER_ENDPOINT", raising=False)
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


@pytest.fixture
def proc_name() -> str:
    """A process name no other process of this host has (comm: at most 15 characters)."""
    return f"pgb{uuid.uuid4().hex[:10]}"


HUP_CHILD = textwrap.dedent(
    """
    import ctypes, signal, sys, time
    ctypes.CDLL(None).prctl(15, sys.argv[1].encode(), 0, 0, 0)  # PR_SET_NAME
    out = open(sys.argv[2], "a", buffering=1)
    signal.signal(signal.SIGHUP, lambda *_: out.write("HUP\\n"))
    out.write("ready\\n")
    while True:
        time.sleep(0.05)
    """
)


@pytest.fixture
def renamed(tmp_path):
    """start(name) -> the file a real child process named `name` appends "HUP" to at each SIGHUP."""
    children: list[subprocess.Popen] = []

    def start(name: str) -> pathlib.Path:
        record = tmp_path / f"{name}.hups"
        children.append(subprocess.Popen([sys.executable, "-c", HUP_CHILD, name, str(record)]))
        deadline = time.monotonic() + 10
        while not (record.exists() and "ready" in record.read_text()):
            assert time.monotonic() < deadline, "the renamed child did not start"
            time.sleep(0.02)
        assert pu.processes_named(name) == [children[-1].pid]
        return record

    yield start
    for child in children:
        child.kill()
        child.wait()


def _hups(record: pathlib.Path, expected: int) -> int:
    """The SIGHUPs the child recorded, once `expected` arrived or after a short wait."""
    deadline = time.monotonic() + 3
    while record.read_text().count("HUP") < expected and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)
    return record.read_text().count("HUP")


def _syncer(sm, path, name: str, *secrets: str, probe=None) -> pu.Syncer:
    syncer = pu.Syncer(client=sm, secret_ids=list(secrets), userlist=str(path), process_name=name, interval=5)
    if probe is not None:
        syncer.probe_login = probe
    return syncer


# --- The file -------------------------------------------------------------------------------------


def test_lines_are_pgbouncers_auth_file_format_with_quotes_doubled():
    assert pu.render_line("app_rw", "abc123") == '"app_rw" "abc123"\n'
    assert pu.render_line('we"ird', 'p"a""ss') == '"we""ird" "p""a""""ss"\n'
    text = pu.render_line('we"ird', 'p"a""ss') + "; a comment\n" + pu.render_line("app_ro", "x")
    assert pu.parse_userlist(text) == {
        'we"ird': '"we""ird" "p""a""""ss"\n',
        "app_ro": '"app_ro" "x"\n',
    }


def test_once_writes_a_line_per_secret_in_their_order_with_mode_0640(sm, tmp_path, proc_name, capsys):
    sm.create_secret(Name=RW, SecretString=json.dumps(_login("app_rw", 'rw"pass-1')))
    sm.create_secret(Name=RO, SecretString=json.dumps(_login("app_ro", "ro-pass-1")))
    path = tmp_path / "userlist.txt"
    args = ["--secret-id", RO, "--secret-id", RW, "--userlist", str(path), "--process-name", proc_name]

    assert pu.main([*args, "--once"]) == 0

    assert path.read_text() == '"app_ro" "ro-pass-1"\n"app_rw" "rw""pass-1"\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["userlist.txt"], "no temporary file left"
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert {"event": "no_process", "process": proc_name} in [
        {k: v for k, v in e.items() if k != "time"} for e in events
    ]
    _assert_no_password(json.dumps(events), 'rw"pass-1', "ro-pass-1", 'rw""pass-1')


def test_once_fails_naming_a_missing_secret_and_writes_nothing(sm, tmp_path, proc_name, capsys):
    sm.create_secret(Name=RW, SecretString=json.dumps(_login("app_rw", "rw-pass-1")))
    path = tmp_path / "userlist.txt"

    code = pu.main(
        ["--secret-id", RW, "--secret-id", RO, "--userlist", str(path), "--once", "--process-name", proc_name]
    )

    assert code == 1
    err = capsys.readouterr().err
    assert f"cannot read the secret(s) {RO}" in err
    assert "ResourceNotFoundException" in err
    assert not path.exists()
    _assert_no_password(err, "rw-pass-1")


def test_a_secret_that_is_not_a_json_login_is_named_not_shown(sm, tmp_path, proc_name, capsys):
    sm.create_secret(Name=RW, SecretString="plain-text-value-1")  # pragma: allowlist secret
    code = pu.main(
        ["--secret-id", RW, "--userlist", str(tmp_path / "u"), "--once", "--process-name", proc_name]
    )
    err = capsys.readouterr().err
    assert code == 1 and RW in err and "NotAJsonLogin" in err
    _assert_no_password(err, "plain-text-value-1")


# --- Which password -------------------------------------------------------------------------------


@pytest.fixture
def app_ro_secret(sm, pg_cluster):
    """postgres/app_ro of the test cluster (its real password); the cluster's password back afterwards."""
    sm.create_secret(
        Name=RO,
        SecretString=json.dumps(_login("app_ro", pg_cluster.passwords["app_ro"], port=pg_cluster.port)),
    )
    yield sm
    with pg_cluster.connect() as conn:
        conn.execute(
            psycopg.sql.SQL("ALTER ROLE app_ro PASSWORD {}").format(
                psycopg.sql.Literal(pg_cluster.passwords["app_ro"])
            )
        )


def _set_password(pg_cluster, password: str) -> None:
    with pg_cluster.connect() as conn:
        conn.execute(psycopg.sql.SQL("ALTER ROLE app_ro PASSWORD {}").format(psycopg.sql.Literal(password)))


def test_pending_is_written_only_once_the_database_accepts_it(
    app_ro_secret, pg_cluster, tmp_path, proc_name, capsys
):
    sm, old, new = app_ro_secret, pg_cluster.passwords["app_ro"], "pendingPassword42"
    path = tmp_path / "userlist.txt"
    syncer = _syncer(sm, path, proc_name, RO)
    syncer.run_pass()
    assert path.read_text() == f'"app_ro" "{old}"\n'
    token = _pending(sm, RO, _login("app_ro", new, port=pg_cluster.port))

    # createSecret done, setSecret not yet: PostgreSQL refuses the pending password.
    assert syncer.run_pass() == (False, [])
    assert path.read_text() == f'"app_ro" "{old}"\n'
    assert syncer.stages[RO] == "AWSCURRENT"

    # setSecret: PostgreSQL has it. The refusal is tried again at the next pass (one interval later).
    _set_password(pg_cluster, new)
    syncer.memory.clock = lambda: time.monotonic() + syncer.interval
    assert syncer.run_pass() == (True, [])
    assert path.read_text() == f'"app_ro" "{new}"\n'
    assert syncer.stages[RO] == "AWSPENDING"

    # finishSecret: AWSCURRENT is the new one, no pending: the same line, no write.
    _finish(sm, RO, token)
    assert syncer.run_pass() == (False, [])
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    probes = [(e["outcome"], e["code"]) for e in events if e["event"] == "probe"]
    assert probes == [("refused", "28P01"), ("accepted", None)]
    _assert_no_password(json.dumps(events), old, new)


def test_a_refused_pending_password_is_tried_again_later_and_later(sm, tmp_path, proc_name):
    sm.create_secret(Name=RW, SecretString=json.dumps(_login("app_rw", "current-1")))
    _pending(sm, RW, _login("app_rw", "pending-1"))
    probed = []
    now = [1000.0]
    syncer = _syncer(
        sm, tmp_path / "u", proc_name, RW, probe=lambda login: probed.append(now[0]) or ("refused", "28P01")
    )
    syncer.memory.clock = lambda: now[0]
    for _ in range(40):  # 40 passes of 5 s
        syncer.run_pass()
        now[0] += 5
    gaps = [b - a for a, b in itertools.pairwise(probed)]
    assert gaps[:4] == [5, 10, 20, 40] and set(gaps[4:]) == {60}
    assert (tmp_path / "u").read_text() == '"app_rw" "current-1"\n'


def test_an_unreachable_database_keeps_the_line_of_the_file(sm, tmp_path, proc_name, capsys):
    with socket.socket() as closed:  # a loopback port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    sm.create_secret(Name=RW, SecretString=json.dumps(_login("app_rw", "current-1", port=port)))
    path = tmp_path / "userlist.txt"
    path.write_text('"app_rw" "already-pending-1"\n')
    _pending(sm, RW, _login("app_rw", "already-pending-1", port=port))
    syncer = _syncer(sm, path, proc_name, RW)

    assert syncer.run_pass() == (False, [])
    assert path.read_text() == '"app_rw" "already-pending-1"\n'
    assert syncer.stages[RW] == "kept"
    # No line of that user in the file: AWSCURRENT.
    path.unlink()
    assert syncer.run_pass() == (True, [])
    assert path.read_text() == '"app_rw" "current-1"\n'
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert {e["code"] for e in events if e["event"] == "probe"} == {"OperationalError"}
    _assert_no_password(json.dumps(events), "current-1", "already-pending-1")


# --- Writing and reloading ------------------------------------------------------------------------


def test_only_processes_of_that_name_get_sighup(renamed, proc_name):
    target = renamed(proc_name)
    decoy = renamed(proc_name + "x")
    prefix = renamed(proc_name[:-1])

    assert len(pu.reload_processes(proc_name)) == 1

    assert _hups(target, 1) == 1
    assert _hups(decoy, 0) == 0 and _hups(prefix, 0) == 0


def test_a_change_replaces_the_file_atomically_and_reloads_unchanged_does_neither(
    sm, tmp_path, proc_name, renamed, capsys
):
    hups = renamed(proc_name)
    sm.create_secret(Name=RW, SecretString=json.dumps(_login("app_rw", "first-pass-1")))
    path = tmp_path / "userlist.txt"
    syncer = _syncer(sm, path, proc_name, RW)
    assert syncer.run_pass() == (True, [])
    assert _hups(hups, 1) == 1
    before = path.stat()
    reader = path.open()  # a reader of the old file (pgBouncer mid-read) keeps the old content

    assert syncer.run_pass() == (False, [])
    assert _hups(hups, 1) == 1, "unchanged: no signal"
    assert path.stat().st_ino == before.st_ino and path.stat().st_mtime_ns == before.st_mtime_ns

    sm.put_secret_value(SecretId=RW, SecretString=json.dumps(_login("app_rw", "second-pass-2")))
    assert syncer.run_pass() == (True, [])
    assert _hups(hups, 2) == 2
    after = path.stat()
    assert after.st_ino != before.st_ino, "replaced by a rename, not rewritten in place"
    assert stat.S_IMODE(after.st_mode) == 0o640
    assert reader.read() == '"app_rw" "first-pass-1"\n'
    reader.close()
    assert path.read_text() == '"app_rw" "second-pass-2"\n'
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".hups")) == ["userlist.txt"]
    _assert_no_password(capsys.readouterr().err, "first-pass-1", "second-pass-2")


def test_an_unreadable_secret_keeps_its_line_while_the_others_follow(sm, tmp_path, proc_name, capsys):
    sm.create_secret(Name=RW, SecretString=json.dumps(_login("app_rw", "rw-old-1")))
    sm.create_secret(Name=RO, SecretString=json.dumps(_login("app_ro", "ro-old-1")))
    path = tmp_path / "userlist.txt"
    syncer = _syncer(sm, path, proc_name, RW, RO)
    syncer.run_pass()
    sm.delete_secret(SecretId=RW, ForceDeleteWithoutRecovery=True)
    sm.put_secret_value(SecretId=RO, SecretString=json.dumps(_login("app_ro", "ro-new-2")))

    assert syncer.run_pass() == (True, [RW])
    assert path.read_text() == '"app_rw" "rw-old-1"\n"app_ro" "ro-new-2"\n'

    # A program started anew (the user of the unreadable secret not known yet) keeps the file's line too.
    fresh = _syncer(sm, path, proc_name, RW, RO)
    sm.put_secret_value(SecretId=RO, SecretString=json.dumps(_login("app_ro", "ro-new-3")))
    assert fresh.run_pass() == (True, [RW])
    assert path.read_text() == '"app_ro" "ro-new-3"\n"app_rw" "rw-old-1"\n'
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    unreadable = [e for e in events if e["event"] == "secret_unreadable" and e["stage"] == "AWSCURRENT"]
    assert {(e["secret"], e["error"]) for e in unreadable} == {(RW, "ResourceNotFoundException")}
    _assert_no_password(json.dumps(events), "rw-old-1", "ro-old-1", "ro-new-2", "ro-new-3")


# --- The program as a process ---------------------------------------------------------------------


def test_the_program_follows_changes_reloads_and_stops_on_sigterm(tmp_path, proc_name, renamed):
    hups = renamed(proc_name)
    path = tmp_path / "userlist.txt"
    with moto_server() as options:
        sm = boto3.client("secretsmanager", **options)
        sm.create_secret(Name=RW, SecretString=json.dumps(_login("app_rw", "process-pass-1")))
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            "PYTHONPATH": str(ROOT / ".collections"),
            "AWS_ENDPOINT_URL": options["endpoint_url"],
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",  # pragma: allowlist secret
        }
        env.pop("SECRETS_MANAGER_ENDPOINT", None)
        command = [sys.executable, "-m", MODULE, "--secret-id", RW, "--userlist", str(path)]
        program = subprocess.Popen(
            [*command, "--interval", "0.2", "--process-name", proc_name],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 20
            while not (path.exists() and "process-pass-1" in path.read_text()):
                assert program.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
            assert _hups(hups, 1) == 1
            sm.put_secret_value(SecretId=RW, SecretString=json.dumps(_login("app_rw", "process-pass-2")))
            while "process-pass-2" not in path.read_text():
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert _hups(hups, 2) == 2
            time.sleep(0.5)  # passes with nothing new: no signal
            assert _hups(hups, 2) == 2
            stopped = time.monotonic()
            program.send_signal(signal.SIGTERM)
            assert program.wait(timeout=5) == 0
            assert time.monotonic() - stopped < 2
        finally:
            program.kill()
            err = program.communicate()[1]
    events = [json.loads(line) for line in err.splitlines()]
    assert [e["event"] for e in events].count("userlist_written") == 2
    assert events[-1]["event"] == "stopping" and events[-1]["signal"] == "SIGTERM"
    _assert_no_password(err, "process-pass-1", "process-pass-2")


def test_the_cli_defaults_and_requirements(capsys):
    args = pu.parse_args(["--secret-id", RW, "--userlist", "/tmp/u"])
    assert (args.interval, args.once, args.process_name, args.sslrootcert) == (5.0, False, "pgbouncer", None)
    assert pu.parse_args(["--secret-id", RW, "--secret-id", RO, "--userlist", "u"]).secret_id == [RW, RO]
    for argv in (
        ["--userlist", "u"],
        ["--secret-id", RW],
        ["--secret-id", RW, "--userlist", "u", "--interval", "0"],
    ):
        with pytest.raises(SystemExit) as exited:
            pu.parse_args(argv)
        assert exited.value.code == 2
