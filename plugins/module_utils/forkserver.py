# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The server half of the ``giftcrypto.platform.local_forkserver`` connection plugin.

A Python interpreter that has already imported what Ansible modules import (ansible's module_utils,
boto3, botocore, psycopg, the amazon.aws module_utils...) and then serves, over a UNIX socket, one
request per module run: it forks, the child runs the module's pipelined AnsiballZ wrapper exactly as
``python`` would run it from standard input, with the caller's environment, working directory, umask
and its standard output and error (passed as file descriptors), and the exit status goes back to the
caller. Every run is a fresh fork: nothing a module does is seen by the next one.

It is the "warm interpreter" half of what Mitogen gives Ansible, at the connection layer instead of
the strategy layer (ansible-core deprecated third-party strategy plugins): a module no longer
recompiles ansible's module_utils from the AnsiballZ zip (zipimport keeps no bytecode) nor imports
boto3 again. Standard library only: it runs as ``python forkserver.py SOCKET CONTROLLER_PID [MODULE...]``
with the interpreter that the modules would run with, before any collection loader exists.

Protocol (one connection per module run): the client sends a 4-byte big-endian length and a JSON
header of that length ({"env": {...}, "cwd": str, "umask": int, "code_length": int}) in one message
carrying two file descriptors (SCM_RIGHTS: standard output, standard error), then the code
(``code_length`` bytes, the wrapper's source). The server answers with a 4-byte big-endian signed
exit code (negative: killed by that signal, like ``subprocess``'s ``returncode``) and closes.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import resource
import signal
import socket
import struct
import sys
import types

HEADER = struct.Struct("!I")
STATUS = struct.Struct("!i")
# How often the server checks that the controller that started it is still there (seconds).
WATCH_INTERVAL = 1.0
# A header larger than this is refused (an environment is a few kB).
MAX_HEADER = 1 << 20


def preload(specs: list[str]) -> list[str]:
    """Imports the modules of specs; returns those left out.

    A spec is a module name, or ``name=path``: such a module is imported only when this interpreter
    finds it at that path (the file the caller would otherwise run), never another copy of it.
    """
    skipped = []
    for spec in specs:
        name, _equals, origin = spec.partition("=")
        try:
            if origin:
                found = importlib.util.find_spec(name)
                if found is None or found.origin != origin:
                    skipped.append(spec)
                    continue
            importlib.import_module(name)
        except Exception:  # a preload is an optimisation: what cannot be imported is left out
            skipped.append(spec)
    return skipped


def _recv_exact(conn: socket.socket, size: int, first: bytes = b"") -> bytes:
    data = bytearray(first)
    while len(data) < size:
        chunk = conn.recv(min(1 << 20, size - len(data)))
        if not chunk:
            raise ConnectionError("the client closed the connection before sending everything")
        data.extend(chunk)
    return bytes(data)


def read_request(conn: socket.socket) -> tuple[dict, bytes, list[int]]:
    """The header, the code and the two file descriptors of one request."""
    message, fds, _flags, _address = socket.recv_fds(conn, 1 << 16, 2)
    if len(fds) != 2:
        for fd in fds:
            os.close(fd)
        raise ConnectionError(f"expected 2 file descriptors (stdout, stderr), got {len(fds)}")
    prefix = _recv_exact(conn, HEADER.size, message[: HEADER.size])
    (length,) = HEADER.unpack(prefix)
    if length > MAX_HEADER:
        raise ConnectionError(f"header of {length} bytes refused (at most {MAX_HEADER})")
    header = json.loads(_recv_exact(conn, length, message[HEADER.size : HEADER.size + length]))
    rest = message[HEADER.size + length :]
    code = _recv_exact(conn, int(header["code_length"]), rest)
    return header, code, fds


def run_module_code(header: dict, code: bytes, stdout_fd: int, stderr_fd: int) -> int:
    """In a freshly forked child: become the process ``python`` would be, run code, return its exit code."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(stdout_fd, 1)
    os.dup2(stderr_fd, 2)
    for fd in (devnull, stdout_fd, stderr_fd):
        if fd > 2:
            os.close(fd)
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    os.closerange(3, min(soft, 65536))
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    os.environ.clear()
    os.environ.update(header["env"])
    os.umask(int(header["umask"]))
    os.chdir(header["cwd"])
    sys.argv = [""]
    # The program runs as __main__, as it would from standard input.
    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = __builtins__
    sys.modules["__main__"] = main
    try:
        exec(compile(code, "<stdin>", "exec"), main.__dict__)  # noqa: S102 - the module's own wrapper, as python would run it
        status = 0
    except SystemExit as exit_:
        if exit_.code is None:
            status = 0
        elif isinstance(exit_.code, int):
            status = exit_.code
        else:
            sys.stderr.write(f"{exit_.code}\n")
            status = 1
    except BaseException:  # what python prints for an uncaught exception, and its status 1
        import traceback

        traceback.print_exc()
        status = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    return status & 0xFF if status >= 0 else 1


def handle(conn: socket.socket) -> None:
    """One request, in a handler process of its own: fork the module's process, wait, answer its status."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    header, code, (stdout_fd, stderr_fd) = read_request(conn)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the module's process; covered through the plugin's tests
        conn.close()
        os._exit(run_module_code(header, code, stdout_fd, stderr_fd))
    os.close(stdout_fd)
    os.close(stderr_fd)
    _pid, wait_status = os.waitpid(pid, 0)
    conn.sendall(STATUS.pack(os.waitstatus_to_exitcode(wait_status)))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def serve(path: str, controller_pid: int, specs: list[str]) -> None:
    """Preloads specs, then serves on the UNIX socket path until the controller or the socket is gone."""
    skipped = preload(specs)
    if skipped:
        sys.stderr.write(f"not preloaded: {' '.join(skipped)}\n")
        sys.stderr.flush()
    # Handlers are not waited for: the kernel reaps them.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    temporary = f"{path}.{os.getpid()}"
    listener.bind(temporary)
    os.chmod(temporary, 0o600)
    listener.listen(16)
    # Ready only once it listens: the client waits for the path to exist.
    os.rename(temporary, path)
    listener.settimeout(WATCH_INTERVAL)
    identity = os.stat(path).st_ino
    while True:
        try:
            conn, _address = listener.accept()
        except TimeoutError:
            try:
                same = os.stat(path).st_ino == identity
            except FileNotFoundError:
                same = False
            if not same or not _alive(controller_pid):
                break
            continue
        if os.fork() == 0:  # pragma: no cover - the handler process; covered through the plugin's tests
            listener.close()
            try:
                conn.settimeout(None)
                handle(conn)
            finally:
                os._exit(0)
        conn.close()
    listener.close()
    try:
        if os.stat(path).st_ino == identity:
            os.unlink(path)
    except FileNotFoundError:
        pass


if __name__ == "__main__":  # pragma: no cover - started by the connection plugin
    # Python put this file's directory first on the path; a module run from standard input has ''
    # there instead (which the AnsiballZ wrapper removes).
    sys.path[0] = ""
    serve(sys.argv[1], int(sys.argv[2]), sys.argv[3:])
