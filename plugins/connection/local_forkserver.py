# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
name: local_forkserver
short_description: Run on the controller, each Python module in a fork of a warm interpreter
version_added: 0.2.0
description:
  - Behaves as C(ansible.builtin.local) (it is that plugin), except for one thing. A pipelined
    Python module that C(local) would start as a new interpreter (C(/bin/sh -c 'python'), the
    module's AnsiballZ wrapper on standard input) runs instead in a fork of an interpreter of the
    same executable that has already imported what modules import (ansible's module_utils, boto3,
    botocore, psycopg, the module_utils of amazon.aws, community.aws and community.postgresql).
    The fork gets the worker's environment (plus the task's C(environment)), working directory,
    umask, standard output and error, and its exit status is returned as C(local) returns it.
  - Fills a gap. Every task of C(local) starts a new interpreter, which recompiles ansible's
    module_utils from the AnsiballZ zip (zipimport keeps no bytecode) and imports boto3 again,
    0.2 s to 0.5 s per module run on the machines this collection is built on; a no-op deploy of
    the local environment spends most of its time there (C(docs/benchmarks.md)). Mitogen solved it
    with a strategy plugin, and ansible-core deprecated strategy plugins outside ansible.builtin;
    nothing else in ansible-core or a maintained collection keeps an interpreter warm. No part of
    ansible-core, Mitogen or botocore is patched; the plugin implements the connection interface.
  - Everything else goes exactly the C(local) way, in a new process, with C(local)'s code,
    privilege escalation (C(become)) included; so do file transfers, raw commands, C(async)
    tasks, and every module when the fork server cannot start. A module already preloaded is
    imported from the same file the controller puts into the AnsiballZ zip (checked file by file
    when the server starts), so a run sees the same code as under C(local).
  - One fork server per interpreter and run, on a UNIX socket in the run's private temporary
    directory (mode 0700); it exits when the controller does or when its socket is removed.
  - The server finds collections where the controller does, the directories of the controller's
    collection paths come first on its C(PYTHONPATH), so a module of a collection installed
    anywhere (C(ansible-galaxy collection install -p DIR), C(ANSIBLE_COLLECTIONS_PATH=DIR)) runs
    there as it does from a checkout.
  - Turn it off (C(local) behaviour for everything) with O(forkserver=false), for example
    C(GIFTCRYPTO_FORKSERVER=0).
author:
  - GiftCrypto platform team (@giftcrypto)
extends_documentation_fragment:
  - connection_pipelining
options:
  forkserver:
    description:
      - Whether Python modules run in the fork server. V(false) is C(ansible.builtin.local).
    type: bool
    default: true
    env:
      - name: GIFTCRYPTO_FORKSERVER
    vars:
      - name: ansible_forkserver
  forkserver_preload:
    description:
      - Modules the fork server imports before serving. A module of a collection (or of
        C(ansible)) is imported only when the server finds it at the path where the controller
        finds it; a module that cannot be imported is skipped. Third-party libraries (boto3...) are
        imported from the interpreter's own path, as a module would import them.
    type: list
    elements: str
    default:
      - ansible.module_utils.basic
      - ansible.module_utils.urls
      - ansible.module_utils.common.process
      - boto3
      - botocore.session
      - botocore.client
      - botocore.credentials
      - psycopg
      - ansible_collections.amazon.aws.plugins.module_utils.modules
      - ansible_collections.amazon.aws.plugins.module_utils.botocore
      - ansible_collections.amazon.aws.plugins.module_utils.ec2
      - ansible_collections.amazon.aws.plugins.module_utils.iam
      - ansible_collections.amazon.aws.plugins.module_utils.tagging
      - ansible_collections.amazon.aws.plugins.module_utils.policy
      - ansible_collections.amazon.aws.plugins.module_utils.retries
      - ansible_collections.amazon.aws.plugins.module_utils.waiters
      - ansible_collections.amazon.aws.plugins.module_utils.rds
      - ansible_collections.amazon.aws.plugins.module_utils.elbv2
      - ansible_collections.amazon.aws.plugins.module_utils.s3
      - ansible_collections.amazon.aws.plugins.module_utils.kms
      - ansible_collections.community.aws.plugins.module_utils.modules
      - ansible_collections.community.postgresql.plugins.module_utils.postgres
      - ansible_collections.community.postgresql.plugins.module_utils.database
    env:
      - name: GIFTCRYPTO_FORKSERVER_PRELOAD
    vars:
      - name: ansible_forkserver_preload
  forkserver_start_timeout:
    description:
      - Seconds to wait for a new fork server to listen before running the module the C(local)
        way instead.
    type: float
    default: 30
    vars:
      - name: ansible_forkserver_start_timeout
  become_success_timeout:
    description:
      - As C(ansible.builtin.local)'s option of that name (become always goes the C(local) way).
    type: int
    default: 10
    vars:
      - name: ansible_local_become_success_timeout
  become_strip_preamble:
    description:
      - As C(ansible.builtin.local)'s option of that name.
    type: bool
    default: true
    vars:
      - name: ansible_local_become_strip_preamble
notes:
  - Python modules are always pipelined with this plugin (the O(pipelining) option does not turn
    that off), unless C(ANSIBLE_KEEP_REMOTE_FILES) is set or the task is C(async), as with
    C(local).
  - The interpreter is the module's (C(ansible_python_interpreter)); each interpreter gets its own
    server, started on first use.
"""

EXAMPLES = r"""
# inventories/local/hosts.yml
all:
  hosts:
    localhost:
      ansible_connection: giftcrypto.platform.local_forkserver
      ansible_python_interpreter: "{{ ansible_playbook_python }}"
"""

import contextlib
import errno
import fcntl
import hashlib
import importlib.util
import json
import os
import re
import selectors
import shlex
import socket
import subprocess
import tempfile
import time

import ansible.constants as C
from ansible.errors import AnsibleConnectionFailure
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.connection.local import Connection as LocalConnection
from ansible.utils.display import Display
from ansible_collections.giftcrypto.platform.plugins.module_utils import forkserver

display = Display()

_ASSIGNMENT = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)$", re.DOTALL)
# AF_UNIX paths are limited to 108 bytes on Linux (with the terminating NUL).
_MAX_SOCKET_PATH = 100


class ForkserverUnavailable(Exception):
    """The fork server could not take the run; nothing was run, the module goes the local way."""


def parse_module_command(cmd, executable):
    """The (interpreter, environment) of a pipelined module command, or None for any other command.

    The action plugins run a pipelined module as ``<executable> -c '[NAME=value ...] <interpreter>
    [&& sleep 0]'`` (the shell plugin's quoting), which is all this recognises; anything else (become
    wrappers, raw commands, a module file run from the temporary directory) is not a module run.
    """
    if not isinstance(cmd, str) or not executable:
        return None
    try:
        outer = shlex.split(cmd)
    except ValueError:
        return None
    if len(outer) != 3 or outer[0] != executable or outer[1] != "-c":
        return None
    try:
        words = shlex.split(outer[2])
    except ValueError:
        return None
    if words[-3:] == ["&&", "sleep", "0"]:
        words = words[:-3]
    if not words:
        return None
    *assignments, interpreter = words
    if not os.path.isabs(interpreter) or _ASSIGNMENT.match(interpreter):
        return None
    environment = {}
    for word in assignments:
        match = _ASSIGNMENT.match(word)
        if not match:
            return None
        environment[match.group("name")] = match.group("value")
    return interpreter, environment


def preload_specs(names):
    """name=origin for each module of names that this controller resolves to a file (others are left out).

    The server imports a module only where it finds it at that same path, so a preloaded module is
    the file the controller would put into the AnsiballZ zip. Libraries outside ansible and its
    collections are not in the zip and are named without a path.
    """
    specs = []
    for name in names:
        if not (name.startswith("ansible.") or name.startswith("ansible_collections.")):
            specs.append(name)
            continue
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is not None and spec.origin and os.path.isfile(spec.origin):
            specs.append(f"{name}={spec.origin}")
    return specs


def server_environment(environ=None):
    """The server's environment: environ with the controller's collection paths first on PYTHONPATH.

    A module runs as ``ansible_collections.<namespace>.<name>...`` from the AnsiballZ zip, whose
    ``ansible_collections`` is a package the server has already imported (as a namespace package,
    by its preloads) from the directories on its path when it started: a collection is found only
    under those, so they must be the controller's own collection paths.
    """
    environ = dict(os.environ if environ is None else environ)
    # The configured collection paths (collections_path, ANSIBLE_COLLECTIONS_PATH) only: the
    # ansible_collections of the interpreter's site-packages are on the server's path anyway, after
    # the standard library, and ansible-core's own internal one must not shadow it.
    paths = [
        os.path.abspath(os.path.expanduser(path))
        for path in C.COLLECTIONS_PATHS or []
        if os.path.isdir(os.path.join(os.path.expanduser(path), "ansible_collections"))
    ]
    current = [path for path in environ.get("PYTHONPATH", "").split(os.pathsep) if path]
    environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([*paths, *current]))
    return environ


def _private_directory():
    """A directory only this user can use, shared by the run's workers: the run's local temp directory."""
    base = C.DEFAULT_LOCAL_TMP
    if base and len(os.path.join(base, "forkserver-0123456789ab.sock")) <= _MAX_SOCKET_PATH:
        return base
    # A long temporary path (Molecule's, for example): a directory of this run under the system's.
    path = os.path.join(tempfile.gettempdir(), f"giftcrypto-forkserver-{os.getuid()}-{os.getppid()}")
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    info = os.lstat(path)
    if not os.path.isdir(path) or os.path.islink(path) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ForkserverUnavailable(f"{path} is not a private directory of this user")
    return path


class Connection(LocalConnection):
    """ansible.builtin.local, with pipelined Python modules run in forks of a warm interpreter."""

    transport = "giftcrypto.platform.local_forkserver"
    has_pipelining = True

    def is_pipelining_enabled(self, wrap_async=False):
        """Always pipeline what local can pipeline (the module's code then reaches the fork server)."""
        if not self.get_option("forkserver"):
            return super().is_pipelining_enabled(wrap_async)
        return bool(
            (not self.become or self.become.pipelining)
            and not C.DEFAULT_KEEP_REMOTE_FILES
            and (not wrap_async or self.has_native_async)
        )

    def exec_command(self, cmd, in_data=None, sudoable=True):
        parsed = None
        if in_data is not None and self.become is None and self.get_option("forkserver"):
            parsed = parse_module_command(to_text(cmd), (C.DEFAULT_EXECUTABLE or "").split()[0])
        if parsed is None:
            return super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        interpreter, environment = parsed
        try:
            path = self._server(interpreter)
            display.vvv(f"EXEC {to_text(cmd)} (fork server {path})", host=self._play_context.remote_addr)
            return run_in_server(path, {**os.environ, **environment}, self.cwd or os.getcwd(), in_data)
        except ForkserverUnavailable as reason:
            display.vvv(f"fork server unavailable ({reason}): running the module the local way")
            return super().exec_command(cmd, in_data=in_data, sudoable=sudoable)

    def _server(self, interpreter):
        """The socket path of the fork server of interpreter, started if it is not running yet."""
        preload = preload_specs(self.get_option("forkserver_preload"))
        key = hashlib.sha256("\0".join([interpreter, *preload]).encode()).hexdigest()[:12]
        path = os.path.join(_private_directory(), f"forkserver-{key}.sock")
        if os.path.exists(path):
            return path
        with open(f"{path}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if os.path.exists(path):
                return path
            log = open(f"{path}.log", "ab")  # noqa: SIM115 - handed over to the server process
            try:
                server = subprocess.Popen(  # noqa: S603 - the module's own interpreter, our own server file
                    [interpreter, forkserver.__file__, path, str(os.getppid()), *preload],
                    stdin=subprocess.DEVNULL,
                    env=server_environment(),
                    stdout=log,
                    stderr=log,
                    cwd="/",
                    start_new_session=True,
                )
            except OSError as error:
                raise ForkserverUnavailable(f"cannot start {interpreter}: {error}") from error
            finally:
                log.close()
            deadline = time.monotonic() + float(self.get_option("forkserver_start_timeout"))
            while not os.path.exists(path):
                if server.poll() is not None:
                    raise ForkserverUnavailable(
                        f"the server exited with {server.returncode} (see {path}.log)"
                    )
                if time.monotonic() > deadline:
                    server.kill()
                    raise ForkserverUnavailable("the server did not listen in time")
                time.sleep(0.01)
        return path


def run_in_server(path, environment, cwd, code):
    """Runs code in a fork of the server at path, with environment and cwd.

    Returns (returncode, stdout, stderr) as ansible.builtin.local returns them. Raises
    ForkserverUnavailable when nothing ran (the caller may run the module another way), and
    AnsibleConnectionFailure when the module may have run but its exit status was lost.
    """
    umask = os.umask(0o022)
    os.umask(umask)
    header = json.dumps({"env": environment, "cwd": cwd, "umask": umask, "code_length": len(code)}).encode()
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(path)
    except OSError as error:
        client.close()
        if error.errno in (errno.ENOENT, errno.ECONNREFUSED):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # a server that is gone; the next module starts a new one
        raise ForkserverUnavailable(f"cannot connect to {path}: {error}") from error
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    try:
        try:
            socket.send_fds(client, [forkserver.HEADER.pack(len(header)) + header], [out_write, err_write])
        except OSError as error:
            raise ForkserverUnavailable(f"cannot send the request: {error}") from error
        finally:
            os.close(out_write)
            os.close(err_write)
        try:
            client.sendall(code)
        except OSError as error:
            # The server forks the module only once it has all of it: nothing ran.
            raise ForkserverUnavailable(f"cannot send the module: {error}") from error
        stdout, stderr = _read_until_closed(out_read, err_read)
        status = b""
        while len(status) < forkserver.STATUS.size:
            chunk = client.recv(forkserver.STATUS.size - len(status))
            if not chunk:
                raise AnsibleConnectionFailure(
                    f"the fork server ({path}) closed the connection without the module's exit status "
                    f"(see {path}.log); the module may have run"
                )
            status += chunk
    finally:
        client.close()
        os.close(out_read)
        os.close(err_read)
    (returncode,) = forkserver.STATUS.unpack(status)
    return returncode, stdout, stderr


def _read_until_closed(*fds):
    """Everything written to the pipes fds until every writer closed them, one bytes per pipe."""
    buffers = {fd: bytearray() for fd in fds}
    with selectors.DefaultSelector() as selector:
        for fd in fds:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            for key, _events in selector.select():
                chunk = os.read(key.fd, 1 << 16)
                if chunk:
                    buffers[key.fd].extend(chunk)
                else:
                    selector.unregister(key.fd)
    return tuple(bytes(buffers[fd]) for fd in fds)
