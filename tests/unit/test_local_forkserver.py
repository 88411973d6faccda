"""The connection plugin giftcrypto.platform.local_forkserver: local's results, from a warm interpreter.

Its command parser and preload check are tested directly; its behaviour end to end, by running the
same playbook (tests/unit/fixtures/forkserver_playbook.yml) with ansible-playbook under
ansible.builtin.local and under the plugin and comparing every result, then by what -vvv shows of
where each module ran, the server's lifetime, its socket's permissions, and the fallback to local.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import stat
import subprocess
import sys
import time

import pytest
from ansible_collections.giftcrypto.platform.plugins.connection.local_forkserver import (
    ForkserverUnavailable,
    parse_module_command,
    preload_specs,
    run_in_server,
)
from ansible_collections.giftcrypto.platform.plugins.module_utils import forkserver

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "tests" / "unit" / "fixtures" / "forkserver_playbook.yml"
ANSIBLE_PLAYBOOK = pathlib.Path(sys.executable).with_name("ansible-playbook")
PLUGIN = "giftcrypto.platform.local_forkserver"


# --- The command parser: what is a pipelined module run, what is not ------------------------------


@pytest.mark.parametrize(
    ("cmd", "expected"),
    [
        ("/bin/sh -c '/venv/bin/python && sleep 0'", ("/venv/bin/python", {})),
        ("/bin/sh -c /venv/bin/python3.11", ("/venv/bin/python3.11", {})),
        (
            "/bin/sh -c 'FOO='\"'\"'b a'\"'\"'\"'\"'\"'\"'\"'\"'r'\"'\"' LANG=C /venv/bin/python && sleep 0'",
            ("/venv/bin/python", {"FOO": "b a'r", "LANG": "C"}),
        ),
        ("/bin/sh -c 'A= /usr/bin/python3 && sleep 0'", ("/usr/bin/python3", {"A": ""})),
    ],
)
def test_a_pipelined_module_command_gives_its_interpreter_and_environment(cmd, expected):
    assert parse_module_command(cmd, "/bin/sh") == expected


@pytest.mark.parametrize(
    "cmd",
    [
        # become wraps the interpreter in sudo/su: local's own code handles it
        "/bin/sh -c 'sudo -H -S -n  -u nobody /bin/sh -c '\"'\"'echo BECOME-SUCCESS-x ; "
        "/venv/bin/python'\"'\"' && sleep 0'",
        # a module file run from the remote temporary directory (no pipelining)
        "/bin/sh -c '/venv/bin/python /root/.ansible/tmp/x/AnsiballZ_stat.py && sleep 0'",
        # a raw command, a relative interpreter, another shell, an unbalanced quote
        "/bin/sh -c 'echo ~root && sleep 0'",
        "/bin/sh -c 'python && sleep 0'",
        "/bin/bash -c '/venv/bin/python && sleep 0'",
        "/bin/sh -c '/venv/bin/python",
        "/bin/sh -c 'A=1'",
        "/bin/sh -c '1A=x /venv/bin/python'",
        "/bin/sh -c ''",
        "",
    ],
)
def test_anything_else_is_not_a_module_run(cmd):
    assert parse_module_command(cmd, "/bin/sh") is None


def test_a_preload_at_another_path_than_the_controllers_is_left_out():
    specs = preload_specs(["ansible.module_utils.basic", "json", "ansible.module_utils.not_there"])
    basic = next(s for s in specs if s.startswith("ansible.module_utils.basic="))
    assert pathlib.Path(basic.partition("=")[2]).is_file()
    assert "json" in specs  # a library outside ansible: no path to compare
    assert not any(s.startswith("ansible.module_utils.not_there") for s in specs)
    elsewhere = "ansible.module_utils.common.json=/elsewhere/json.py"
    assert forkserver.preload([elsewhere, "not_a_module_anywhere", basic]) == [
        elsewhere,
        "not_a_module_anywhere",
    ]


# --- End to end: the same playbook under local and under the plugin -------------------------------


def _env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{ANSIBLE_PLAYBOOK.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "PYTHONPATH": str(ROOT / ".collections"),
        **extra,
    }


def _play(tmp_path: pathlib.Path, connection: str, *args: str, hosts: str = "h1", **env: str):
    output = tmp_path / f"{connection}.json"
    inventory = tmp_path / f"{connection}.ini"
    inventory.write_text(
        "\n".join(f"{host} ansible_host=127.0.0.1" for host in hosts.split(","))
        + f"\n[all:vars]\nansible_connection={connection}\nansible_python_interpreter={sys.executable}\n"
    )
    result = subprocess.run(
        [
            str(ANSIBLE_PLAYBOOK),
            "-i",
            str(inventory),
            str(PLAYBOOK),
            "-e",
            f"forkserver_test_output={output}",
            *args,
        ],
        cwd=ROOT,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(output.read_text()), result.stdout


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("forkserver")
    local, _ = _play(tmp_path, "ansible.builtin.local")
    warm, verbose = _play(tmp_path, PLUGIN, "-vvv")
    return local, warm, verbose


def test_every_task_returns_what_it_returns_under_local(runs):
    local, warm, _ = runs
    assert warm == local
    assert local["environment"] == ["GIFTCRYPTO_FORKSERVER_TEST=a value with ' quotes \" and spaces"]
    assert local["directory"][0] == "/tmp"
    assert local["exit"] == [3, "", "to-stderr"]
    assert local["refused"][0] is True and "not_an_option" in local["refused"][1]
    assert local["large"] == 2 * 1024 * 1024
    assert local["become"] == "0"
    assert local["async"] == ["async", 1]


def test_python_modules_run_in_the_fork_server_and_the_rest_the_local_way(runs):
    _, _, verbose = runs
    # ansible-core quotes the command only when it needs quoting (2.21: a bare interpreter is not
    # quoted, and no `&& sleep 0` follows it).
    served = re.findall(
        r"EXEC /bin/sh -c (?:'(?:\S+=\S+ )*\S*python\S*(?: && sleep 0)?'|\S*python\S*) \(fork server (\S+)\)",
        verbose,
    )
    # stat, env, shell, the failing command, the refused stat, the large output, the collection's
    # module: one server for the run
    assert len(served) >= 7, verbose
    assert len(set(served)) == 1
    # become (not pipelined by su) and async run the module's file from the temporary directory,
    # as local does
    from_file = r"EXEC /bin/sh -c '\S*python\S* \S+/AnsiballZ_command\.py(?: && sleep 0)?'$"
    assert re.search(from_file, verbose, re.M)
    assert re.search(r"EXEC /bin/sh -c '.*async_wrapper\.py j\d+ 30 ", verbose)


def test_the_server_ends_with_the_run(tmp_path):
    _, verbose = _play(tmp_path, PLUGIN, "-vvv")
    (path,) = set(re.findall(r"\(fork server (\S+)\)", verbose))
    # In the run's private temporary directory, which goes with the run, and the server with it.
    assert pathlib.Path(path).parent.name.startswith("ansible-local-")
    assert not _serving(path, wait=10), f"a fork server still serves {path}"


def _serving(path: str, wait: float) -> bool:
    deadline = time.monotonic() + wait
    while True:
        alive = subprocess.run(["pgrep", "-f", path], capture_output=True, check=False).returncode == 0
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


# --- The server on its own: its socket, its answers, when it leaves ---------------------------------


@pytest.fixture
def server(tmp_path):
    """A fork server of this interpreter on a socket under tmp_path, for a stand-in controller."""
    controller = subprocess.Popen(["sleep", "300"])
    path = str(tmp_path / "s.sock")
    process = subprocess.Popen(
        [sys.executable, forkserver.__file__, path, str(controller.pid), "json", "not_a_module_anywhere"],
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while not os.path.exists(path):
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.01)
    yield path, process, controller
    controller.kill()
    process.kill()
    process.wait()
    controller.wait()


def test_the_socket_is_its_owners_only(server):
    path, _, _ = server
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_run_gets_its_environment_directory_umask_and_exit_code(server, tmp_path):
    path, _, _ = server
    code = b"""
import os, sys
print(os.environ["ONLY_HERE"], os.getcwd(), oct(os.umask(0)), sys.argv, __name__)
print("err", file=sys.stderr)
sys.exit(7)
"""
    old = os.umask(0o027)
    try:
        rc, out, err = run_in_server(path, {"ONLY_HERE": "yes", "PATH": "/usr/bin"}, str(tmp_path), code)
    finally:
        os.umask(old)
    assert (rc, err) == (7, b"err\n")
    assert out.decode().split() == ["yes", str(tmp_path), "0o27", "['']", "__main__"]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (b"pass", (0, b"", b"")),
        (b"import sys; sys.exit('bad')", (1, b"", b"bad\n")),
        (b"raise ValueError('boom')", (1, b"", b"ValueError: boom")),
        (b"import os, signal; os.kill(os.getpid(), signal.SIGKILL)", (-9, b"", b"")),
        (b"import json, sys; sys.stdout.write('x' * 3000000)", (0, b"x" * 3000000, b"")),
    ],
)
def test_exit_codes_signals_exceptions_and_output_as_python_gives_them(server, code, expected):
    path, _, _ = server
    rc, out, err = run_in_server(path, {}, "/", code)
    assert (rc, out) == expected[:2]
    assert expected[2] in err


def test_runs_do_not_see_each_other(server):
    path, _, _ = server
    run_in_server(path, {}, "/", b"import json; json.LEAKED = 1")
    assert run_in_server(path, {}, "/", b"import json; print(hasattr(json, 'LEAKED'))")[1] == b"False\n"


def test_the_server_leaves_when_its_socket_is_removed(server):
    path, process, _ = server
    os.unlink(path)
    assert process.wait(timeout=10) == 0


def test_the_server_leaves_when_the_controller_does(server):
    _, process, controller = server
    controller.kill()
    controller.wait()
    assert process.wait(timeout=10) == 0


def test_a_gone_server_is_unavailable_not_a_failure(tmp_path):
    with pytest.raises(ForkserverUnavailable):
        run_in_server(str(tmp_path / "none.sock"), {}, "/", b"print(1)")


def test_several_hosts_at_once_each_get_their_own_results(tmp_path):
    results, verbose = _play(tmp_path, PLUGIN, "-vvv", "-f", "3", hosts="h1,h2,h3")
    assert results["exit"] == [3, "", "to-stderr"]
    assert verbose.count("(fork server") >= 24


def test_a_server_that_cannot_start_leaves_the_modules_to_local(tmp_path):
    # An interpreter that refuses to run the server, and runs anything else as python does.
    interpreter = tmp_path / "python"
    interpreter.write_text(
        f'#!/bin/sh\ncase "$1" in *forkserver.py) exit 3;; esac\nexec {sys.executable} "$@"\n'
    )
    interpreter.chmod(0o755)
    local, _ = _play(tmp_path, "ansible.builtin.local")
    fallback, verbose = _play(tmp_path, PLUGIN, "-vvv", "-e", f"ansible_python_interpreter={interpreter}")
    assert "fork server unavailable (the server exited with 3" in verbose
    assert "(fork server /" not in verbose
    assert fallback == local


def test_turned_off_it_is_local(tmp_path):
    local, _ = _play(tmp_path, "ansible.builtin.local")
    off, verbose = _play(tmp_path, PLUGIN, "-vvv", GIFTCRYPTO_FORKSERVER="0")
    assert "(fork server" not in verbose
    assert off == local
