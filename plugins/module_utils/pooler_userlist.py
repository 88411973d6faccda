# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The EKS pooler's userlist kept current through rotations (issue 23, ADR 0019 item 5).

On EKS pgBouncer authenticates the API's logins (``postgres/app_rw``, ``postgres/app_ro``) from an
``auth_file`` (``userlist.txt``): RDS does not let it read ``pg_authid``, so ``auth_query`` is not
an option. Secrets Manager's rotation (``secret_rotation``: createSecret, setSecret, testSecret,
finishSecret) changes the password in PostgreSQL and in the secret, not in that file. This program
runs beside pgBouncer (a sidecar of the pooler pod, whose process namespace it shares) and rewrites
the file whenever the password PostgreSQL accepts changes::

    python3 -m ansible_collections.giftcrypto.platform.plugins.module_utils.pooler_userlist \\
        --secret-id <prefix>/postgres/app_rw --secret-id <prefix>/postgres/app_ro \\
        --userlist /etc/pgbouncer/userlist.txt [--interval 5] [--once] [--sslrootcert PATH] \\
        [--process-name pgbouncer]

Each pass reads, for each secret, ``AWSPENDING`` (when there is one) and then ``AWSCURRENT``, in that
order: a step of a rotation that lands between the two reads then makes the pass at most one pass
late, never wrong (read the other way round, a finishSecret in between would give the old password
after the new one was already written). The password written is the one the database accepts now:

- no ``AWSPENDING``, or the same password as ``AWSCURRENT``: ``AWSCURRENT``;
- otherwise a direct login to the database with the pending password (host, port, dbname, sslmode
  of the secret, 5 s connect timeout): accepted, ``AWSPENDING`` (setSecret has run); refused (invalid
  password or authorization), ``AWSCURRENT``; any other failure (network, TLS), the user's line
  already in the file (else ``AWSCURRENT``). A pending password is probed until accepted, then
  remembered; a refused one again after 1, 2, 4... intervals (at most a minute), so that a rotation
  stuck before setSecret does not fill PostgreSQL's log with failed logins.

The lines are pgBouncer's ``"user" "password"`` (a ``"`` in a value doubled), in the order of
``--secret-id``. A different content replaces the file atomically (a temporary file in its directory,
mode 0640, fsync, rename) and every process whose ``/proc/<pid>/comm`` is ``--process-name`` gets
SIGHUP: pgBouncer re-reads its auth_file on reload and keeps its client and server connections. The
same content: no write, no signal. A secret that cannot be read keeps its previous line (``--once``,
the init container's run that pgBouncer starts after, fails instead, naming the secret). SIGTERM or
SIGINT ends the program with status 0. Each event is one JSON line on stderr (secret names, stages,
users, error codes; never a password, nor an error message that could hold one).

The timing, honestly: between setSecret (PostgreSQL has the new password) and the next pass (at most
``--interval`` seconds, plus the probe), pgBouncer still holds the old password, so a server login it
opens in that window is refused (its existing server connections keep working: server_lifetime 3600,
server_idle_timeout 600, and a pool at its size opens none). After the pass pgBouncer accepts only the
new password: the API, whose login it then refuses, re-reads ``AWSCURRENT`` then ``AWSPENDING``
(service/src/giftcrypto_api/secret_refresh.py) and its new client connections succeed; its open
ones are not touched. Until finishSecret the API reaches the new password through ``AWSPENDING``.

The region and endpoint come from the environment (``AWS_REGION`` or ``AWS_DEFAULT_REGION``;
``SECRETS_MANAGER_ENDPOINT`` or ``AWS_ENDPOINT_URL``), as for the rotation function; the sidecar's
credentials from boto3's chain (the pod's IAM role, aws_security_baseline's ``<name>-pooler``). It
needs ``secretsmanager:GetSecretValue`` on the secrets (and ``kms:Decrypt`` on their key if it is a
customer managed one; the logins use ``aws/secretsmanager``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ansible_collections.giftcrypto.platform.plugins.module_utils import secret_rotation

try:
    import psycopg

    HAS_PSYCOPG = True
except ImportError:  # pragma: no cover - the execution environment ships it
    psycopg = None
    HAS_PSYCOPG = False

try:
    from botocore.config import Config
except ImportError:  # pragma: no cover - the execution environment ships it
    Config = None

CURRENT, PENDING, KEPT = "AWSCURRENT", "AWSPENDING", "kept"
ACCEPTED, REFUSED, UNKNOWN = "accepted", "refused", "unknown"
REMEMBERED = "remembered"
# SQLSTATE invalid_password and invalid_authorization_specification. libpq gives a failed connection
# no SQLSTATE (psycopg's sqlstate is None): the server's words stand for it. pgBouncer answers a
# refused SCRAM proof with its own.
REFUSED_STATES = frozenset({"28P01", "28000"})
_REFUSED_TEXTS = (
    ("password authentication failed", "28P01"),
    ("SASL authentication failed", "28P01"),
    ("pg_hba.conf rejects connection", "28000"),
    ("no pg_hba.conf entry", "28000"),
)
PROBE_TIMEOUT = 5
MAX_PROBE_BACKOFF = 60.0
FILE_MODE = 0o640
_LINE = re.compile(r'^"((?:[^"]|"")*)"\s+"((?:[^"]|"")*)"')


class SecretUnreadable(Exception):
    """A secret's stage that cannot be used; the message is the secret, the stage and an error code."""

    def __init__(self, secret: str, stage: str, code: str) -> None:
        super().__init__(f"{secret} ({stage}): {code}")
        self.secret, self.stage, self.code = secret, stage, code


def log(event: str, **fields) -> None:
    """One JSON line on stderr. Callers pass names, stages and codes only, never a value."""
    record = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "event": event, **fields}
    sys.stderr.write(json.dumps(record, sort_keys=False) + "\n")
    sys.stderr.flush()


# --- The file -----------------------------------------------------------------------------------


def _quote(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def render_line(username: str, password: str) -> str:
    """pgBouncer's auth_file line ``"user" "password"``."""
    return f"{_quote(username)} {_quote(password)}\n"


def parse_userlist(text: str) -> dict[str, str]:
    """user -> its whole line, in the file's order (lines that are not ``"user" "..."`` are skipped)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = _LINE.match(line.strip())
        if match:
            found.setdefault(match.group(1).replace('""', '"'), line.strip() + "\n")
    return found


def read_file(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def write_atomically(path: str, content: str, mode: int = FILE_MODE) -> None:
    """`content` replaces the file at `path` in one rename (a temporary file of its directory, fsync)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".userlist.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    directory_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directory_fd)
    finally:
        os.close(directory_fd)


# --- The processes to reload ------------------------------------------------------------------


def processes_named(name: str, proc: str = "/proc") -> list[int]:
    """The pids whose ``comm`` is `name` (this process left out)."""
    found = []
    for entry in os.listdir(proc):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(os.path.join(proc, entry, "comm"), encoding="utf-8", errors="replace") as handle:
                comm = handle.read().rstrip("\n")
        except OSError:  # the process ended meanwhile
            continue
        if comm == name:
            found.append(int(entry))
    return sorted(found)


def reload_processes(name: str) -> list[int]:
    """SIGHUP to every process named `name`; the pids signalled."""
    signalled = []
    for pid in processes_named(name):
        try:
            os.kill(pid, signal.SIGHUP)
            signalled.append(pid)
        except (ProcessLookupError, PermissionError) as error:
            log("signal_failed", process=name, pid=pid, error=type(error).__name__)
    if signalled:
        log("reloaded", process=name, pids=signalled)
    else:
        log("no_process", process=name)
    return signalled


# --- The password the database accepts ----------------------------------------------------------


def refusal_state(error: BaseException) -> str | None:
    """The SQLSTATE of a refused login (28P01, 28000), None for any other failure."""
    state = getattr(error, "sqlstate", None)
    if state:
        return state if state in REFUSED_STATES else None
    text = str(error)
    return next((code for words, code in _REFUSED_TEXTS if words in text), None)


def probe(login: dict, sslrootcert: str | None = None) -> tuple[str, str]:
    """(ACCEPTED | REFUSED | UNKNOWN, sqlstate or error class): a direct login with `login`."""
    try:
        with secret_rotation.pg_connect(login, timeout=PROBE_TIMEOUT, sslrootcert=sslrootcert) as conn:
            conn.execute("SELECT 1").fetchone()
    except Exception as error:  # psycopg's errors, a missing key: their messages are not kept
        state = refusal_state(error) if HAS_PSYCOPG and isinstance(error, psycopg.Error) else None
        if state:
            return REFUSED, state
        return UNKNOWN, getattr(error, "sqlstate", None) or type(error).__name__
    return ACCEPTED, ""


Probe = Callable[[dict], "tuple[str, str]"]


@dataclass
class ProbeMemory:
    """Pending passwords already accepted, and when a refused one may be tried again."""

    interval: float
    clock: Callable[[], float] = time.monotonic
    accepted: set = field(default_factory=set)
    retry: dict = field(default_factory=dict)  # key -> (not before, delay)

    def check(self, key: tuple[str, str], login: dict, probe_login: Probe) -> tuple[str, str]:
        """The probe's (outcome, code), or the one remembered (code ``remembered``)."""
        if key in self.accepted:
            return ACCEPTED, REMEMBERED
        not_before, delay = self.retry.get(key, (float("-inf"), 0.0))
        if self.clock() < not_before:
            return REFUSED, REMEMBERED
        outcome, detail = probe_login(login)
        if outcome == ACCEPTED:
            self.accepted.add(key)
            self.retry.pop(key, None)
        elif outcome == REFUSED:
            # Tried again at the next pass, then after 2, 4... intervals.
            delay = min(max(delay * 2, self.interval), MAX_PROBE_BACKOFF)
            self.retry[key] = (self.clock() + delay, delay)
        return outcome, detail


@dataclass
class Choice:
    """What a pass decided for one secret: the user, its password (None: keep its line) and why."""

    secret: str
    username: str | None
    password: str | None
    stage: str
    error: str = ""


def _read(client, secret_id: str, stage: str) -> dict | None:
    """A stage's JSON login; None when the stage does not exist. SecretUnreadable otherwise."""
    try:
        login = secret_rotation.read_login(client, secret_id, stage)
    except secret_rotation.RotationError:
        raise SecretUnreadable(secret_id, stage, "NotAJsonLogin") from None
    except Exception as error:  # botocore's ClientError and connection errors: the code only
        if stage == PENDING and secret_rotation.not_found(error):
            return None
        raise SecretUnreadable(secret_id, stage, secret_rotation.error_code(error)) from None
    for key in ("username", "password"):
        value = login.get(key)
        if not isinstance(value, str) or not value or "\n" in value or "\r" in value:
            raise SecretUnreadable(secret_id, stage, f"NoUsable{key.capitalize()}")
    return login


def choose(
    client, secret_id: str, previous: dict[str, str], memory: ProbeMemory, probe_login: Probe
) -> Choice:
    """The login of `secret_id` the database accepts now (see the module's docstring)."""
    try:
        pending = _read(client, secret_id, PENDING)
    except SecretUnreadable as error:  # no rotation to follow: AWSCURRENT
        log("secret_unreadable", secret=secret_id, stage=PENDING, error=error.code)
        pending = None
    current = _read(client, secret_id, CURRENT)
    user = current["username"]
    if pending is None or pending["password"] == current["password"] or pending["username"] != user:
        return Choice(secret_id, user, current["password"], CURRENT)
    outcome, detail = memory.check((secret_id, pending["password"]), pending, probe_login)
    if detail != REMEMBERED:
        log("probe", secret=secret_id, user=user, outcome=outcome, code=detail or None)
    if outcome == ACCEPTED:
        return Choice(secret_id, user, pending["password"], PENDING)
    if outcome == REFUSED or user not in previous:
        return Choice(secret_id, user, current["password"], CURRENT, error=detail)
    return Choice(secret_id, user, None, KEPT, error=detail)


# --- One pass -------------------------------------------------------------------------------------


@dataclass
class Syncer:
    """The program's state between passes: the options, what each secret chose, the probe memory."""

    client: object
    secret_ids: Sequence[str]
    userlist: str
    process_name: str = "pgbouncer"
    sslrootcert: str | None = None
    interval: float = 5.0
    strict: bool = False  # --once: no write when a secret cannot be read
    users: dict = field(default_factory=dict)  # secret -> its username, once read
    stages: dict = field(default_factory=dict)  # secret -> the stage of the last pass
    memory: ProbeMemory | None = None
    passes: int = 0

    def __post_init__(self) -> None:
        if self.memory is None:
            self.memory = ProbeMemory(self.interval)

    def probe_login(self, login: dict) -> tuple[str, str]:
        return probe(login, self.sslrootcert)

    def choices(self, previous: dict[str, str]) -> tuple[list[Choice], list[str]]:
        """Each secret's choice, and the secrets that could not be read."""
        made, unreadable = [], []
        for secret_id in self.secret_ids:
            try:
                choice = choose(self.client, secret_id, previous, self.memory, self.probe_login)
            except SecretUnreadable as error:
                log("secret_unreadable", secret=secret_id, stage=error.stage, error=error.code)
                unreadable.append(secret_id)
                choice = Choice(secret_id, self.users.get(secret_id), None, KEPT, error="unreadable")
            if choice.username:
                self.users[secret_id] = choice.username
            if self.stages.get(secret_id) != choice.stage:
                log("stage", secret=secret_id, user=choice.username, stage=choice.stage)
                self.stages[secret_id] = choice.stage
            made.append(choice)
        return made, unreadable

    def render(self, made: list[Choice], previous: dict[str, str]) -> str:
        """The file's content: a line per secret, in order; kept lines as they were."""
        lines: dict[str, str] = {}
        unknown = False
        for choice in made:
            if choice.password is not None:
                lines.setdefault(choice.username, render_line(choice.username, choice.password))
            elif choice.username in previous:
                lines.setdefault(choice.username, previous[choice.username])
            else:
                unknown = True
        if unknown:
            # A secret never read (whose user is not known yet): the file's other lines stay.
            for user, line in previous.items():
                lines.setdefault(user, line)
        return "".join(lines.values())

    def run_pass(self) -> tuple[bool, list[str]]:
        """One pass: (whether the file changed, the secrets that could not be read)."""
        existing = read_file(self.userlist)
        previous = parse_userlist(existing or "")
        made, unreadable = self.choices(previous)
        self.passes += 1
        if unreadable and self.strict:
            return False, unreadable
        content = self.render(made, previous)
        if content == existing:
            if self.passes == 1:
                log("userlist_unchanged", path=self.userlist)
            return False, unreadable
        write_atomically(self.userlist, content)
        log("userlist_written", path=self.userlist, users=list(parse_userlist(content)))
        reload_processes(self.process_name)
        return True, unreadable


# --- The program ----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="pooler_userlist",
        description="Keep pgBouncer's auth_file current through Secrets Manager rotations.",
    )
    parser.add_argument("--secret-id", action="append", required=True, help="a login secret (repeatable)")
    parser.add_argument("--userlist", required=True, help="pgBouncer's auth_file to write")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between passes (5)")
    parser.add_argument("--once", action="store_true", help="one pass, then exit (non-zero on a bad secret)")
    parser.add_argument("--sslrootcert", help="CA bundle of the probe login (instead of the secret's)")
    parser.add_argument("--process-name", default="pgbouncer", help="processes to SIGHUP after a change")
    args = parser.parse_args(argv)
    if args.interval <= 0:
        parser.error("--interval must be positive")
    return args


def _client():
    config = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"})
    return secret_rotation.secrets_manager_client(config)


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum, _frame) -> None:
        log("stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run_once(syncer: Syncer) -> int:
    """One strict pass: 1, naming the secrets, when one cannot be read (the file is then not written)."""
    syncer.strict = True
    _changed, unreadable = syncer.run_pass()
    if unreadable:
        log("failed", secrets=unreadable)
        names = ", ".join(unreadable)
        sys.stderr.write(
            f"pooler_userlist: cannot read the secret(s) {names}: {syncer.userlist} not written\n"
        )
        return 1
    return 0


def run_loop(syncer: Syncer, stop: threading.Event) -> int:
    while not stop.is_set():
        try:
            syncer.run_pass()
        except Exception as error:  # one bad pass (a full disk...) never ends the loop
            log("pass_failed", error=secret_rotation.error_code(error))
        stop.wait(syncer.interval)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    syncer = Syncer(
        client=_client(),
        secret_ids=args.secret_id,
        userlist=args.userlist,
        process_name=args.process_name,
        sslrootcert=args.sslrootcert,
        interval=args.interval,
    )
    log(
        "started",
        secrets=list(args.secret_id),
        userlist=args.userlist,
        once=args.once,
        interval=args.interval,
    )
    if args.once:
        return run_once(syncer)
    stop = threading.Event()
    _stop_on_signals(stop)
    return run_loop(syncer, stop)


if __name__ == "__main__":
    # sys.exit(main()) but for ansible-test's pylint (ansible-bad-function: sys.exit in module_utils).
    raise SystemExit(main())
