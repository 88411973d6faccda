"""Which interpreter the shared environment is built on (noxfile._controller_python).

ansible-core 2.20 and later need Python 3.12 or newer on the controller; nox itself may run on an
older python3 (3.11 here). The finder runs each candidate: a pyenv shim of a version pyenv has not
selected is on PATH but exits with "command not found", and must not be chosen.
"""

from __future__ import annotations

import pathlib
import sys

import pytest

from tests.unit import noxfile_module

ROOT = pathlib.Path(__file__).resolve().parents[2]
# This test runs in the shared environment, whose Python is the controller's (3.12 or newer).
REAL = sys.executable


@pytest.fixture(scope="module")
def noxfile():
    return noxfile_module.load()


class Refused(Exception):
    pass


class Session:
    """What _controller_python uses of a nox session: error() stops the session."""

    def error(self, message):
        raise Refused(message)


def _script(path: pathlib.Path, body: str) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def machine(tmp_path, monkeypatch, noxfile):
    """A machine whose nox runs on an interpreter too old for the controller, with an empty PATH
    and an empty pyenv: each test adds what it needs."""
    old = _script(tmp_path / "old" / "python3", 'echo "3 11"')
    monkeypatch.setattr(noxfile.sys, "executable", str(old))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    monkeypatch.delenv("GIFTCRYPTO_PYTHON", raising=False)
    # uv that finds nothing of its own.
    uv = _script(tmp_path / "uv" / "uv", "exit 2")
    return tmp_path, str(uv)


def test_the_controller_python_is_at_least_3_12(noxfile):
    assert noxfile._python_version(REAL) >= (3, 12)
    assert noxfile.CONTROLLER_PYTHON == (3, 12)


def test_a_shim_that_does_not_run_is_passed_over_for_pyenvs_own_version(machine, noxfile):
    tmp_path, uv = machine
    # pyenv's shim of a version it has not selected: on PATH, but it does not run.
    _script(tmp_path / "bin" / "python3.12", 'echo "pyenv: python3.12: command not found" >&2; exit 127')
    versions = tmp_path / "pyenv" / "versions"
    _script(versions / "3.11.7" / "bin" / "python3", 'echo "3 11"')
    (versions / "3.13.0" / "bin").mkdir(parents=True)
    (versions / "3.13.0" / "bin" / "python3").symlink_to(REAL)
    (versions / "3.12.1" / "bin").mkdir(parents=True)
    (versions / "3.12.1" / "bin" / "python3").symlink_to(REAL)
    # The oldest version that is new enough: 3.12.1 (3.11.7 is too old).
    assert noxfile._controller_python(Session(), uv) == str(versions / "3.12.1" / "bin" / "python3")


def test_a_python3_12_on_path_that_runs_comes_before_pyenv(machine, noxfile):
    tmp_path, uv = machine
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python3.12").symlink_to(REAL)
    (tmp_path / "pyenv" / "versions" / "3.12.1" / "bin").mkdir(parents=True)
    (tmp_path / "pyenv" / "versions" / "3.12.1" / "bin" / "python3").symlink_to(REAL)
    assert noxfile._controller_python(Session(), uv) == str(tmp_path / "bin" / "python3.12")


def test_none_found_stops_and_says_how_to_get_one(machine, noxfile):
    _, uv = machine
    with pytest.raises(Refused) as refused:
        noxfile._controller_python(Session(), uv)
    message = str(refused.value)
    assert "Python 3.12 or newer" in message
    assert f"{uv} python install 3.12" in message
    assert "GIFTCRYPTO_PYTHON" in message


def test_giftcrypto_python_is_taken_only_if_it_is_new_enough(machine, monkeypatch, noxfile):
    tmp_path, uv = machine
    monkeypatch.setenv("GIFTCRYPTO_PYTHON", REAL)
    assert noxfile._controller_python(Session(), uv) == REAL
    monkeypatch.setenv("GIFTCRYPTO_PYTHON", str(tmp_path / "old" / "python3"))
    with pytest.raises(Refused, match=r"GIFTCRYPTO_PYTHON=.*not a Python 3\.12 or newer"):
        noxfile._controller_python(Session(), uv)
