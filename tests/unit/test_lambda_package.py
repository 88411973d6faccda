"""giftcrypto.platform.lambda_package: a reproducible .zip of the rotation function's code and wheels,
laid out as Lambda's Python runtime imports it (the handler module at the root), rewritten only when
its content changes, check mode and diff, and the inputs it refuses before writing anything.

https://docs.aws.amazon.com/lambda/latest/dg/python-package.html (.zip deployment package: the
handler's module and the dependencies at the root of the archive) and
https://docs.aws.amazon.com/lambda/latest/api/API_FunctionConfiguration.html (CodeSha256, base64).
"""

from __future__ import annotations

import base64
import hashlib
import pathlib
import sys
import zipfile

import pytest
from ansible_collections.giftcrypto.platform.plugins.modules import lambda_package

from tests.unit import moto_modules

ROOT = pathlib.Path(__file__).resolve().parents[2]
HANDLER = ROOT / "plugins" / "module_utils" / "secret_rotation.py"


@pytest.fixture
def run_module(capsys):
    return moto_modules.runner(lambda_package, capsys)


def _wheel(path: pathlib.Path, members: dict[str, str]) -> str:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return str(path)


@pytest.fixture
def inputs(tmp_path):
    wheel = _wheel(
        tmp_path / "demo-1.0-py3-none-any.whl",
        {"demo/__init__.py": "VALUE = 1\n", "demo-1.0.dist-info/METADATA": "Name: demo\n"},
    )
    return {
        "dest": str(tmp_path / "out" / "package.zip"),
        "files": [{"src": str(HANDLER), "dest": "secret_rotation.py"}],
        "wheels": [wheel],
    }


def test_build_noop_and_the_layout_lambda_imports(run_module, inputs, tmp_path):
    (tmp_path / "out").mkdir()
    planned = run_module(inputs, check_mode=True)
    assert planned["rc"] == 0 and planned["changed"] is True, planned
    assert not pathlib.Path(inputs["dest"]).exists()
    assert planned["diff"]["before"] == {}

    built = run_module(inputs)
    assert built["changed"] is True and built["entries"] == 3, built
    content = pathlib.Path(inputs["dest"]).read_bytes()
    assert built["sha256"] == planned["sha256"] == hashlib.sha256(content).hexdigest()
    assert built["code_sha256"] == base64.b64encode(hashlib.sha256(content).digest()).decode()
    assert oct(pathlib.Path(inputs["dest"]).stat().st_mode & 0o777) == "0o644"
    with zipfile.ZipFile(inputs["dest"]) as archive:
        names = archive.namelist()
        assert names == sorted(names)
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert {info.external_attr >> 16 & 0o777 for info in archive.infolist()} == {0o644}
    assert names == ["demo-1.0.dist-info/METADATA", "demo/__init__.py", "secret_rotation.py"]

    # The handler module imports from the archive's root, as the runtime loads secret_rotation.lambda_handler.
    sys.path.insert(0, inputs["dest"])
    try:
        sys.modules.pop("secret_rotation", None)
        import secret_rotation

        assert callable(secret_rotation.lambda_handler)
        assert pathlib.Path(secret_rotation.__file__).parent == pathlib.Path(inputs["dest"])
    finally:
        sys.path.remove(inputs["dest"])
        sys.modules.pop("secret_rotation", None)

    for check_mode in (True, False):
        again = run_module(inputs, check_mode=check_mode)
        assert again["changed"] is False and again["sha256"] == built["sha256"], again
    assert pathlib.Path(inputs["dest"]).read_bytes() == content

    # A change in the code: a new package.
    changed_source = tmp_path / "secret_rotation.py"
    changed_source.write_text(HANDLER.read_text() + "\n# changed\n")
    changed = run_module({**inputs, "files": [{"src": str(changed_source), "dest": "secret_rotation.py"}]})
    assert changed["changed"] is True and changed["sha256"] != built["sha256"]
    assert changed["diff"]["before"]["sha256"] == built["sha256"]


def test_the_same_inputs_give_the_same_bytes_elsewhere(run_module, inputs, tmp_path):
    (tmp_path / "out").mkdir()
    first = run_module(inputs)
    second = run_module({**inputs, "dest": str(tmp_path / "out" / "other.zip")})
    assert first["sha256"] == second["sha256"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (
            lambda i, t: {"files": [*i["files"], {"src": str(HANDLER), "dest": "secret_rotation.py"}]},
            "comes from both",
        ),
        (lambda i, t: {"files": [{"src": str(HANDLER), "dest": "/abs.py"}]}, "is not a relative path"),
        (lambda i, t: {"files": [{"src": str(HANDLER), "dest": "../up.py"}]}, "is not a relative path"),
        (lambda i, t: {"files": [{"src": str(t / "missing.py"), "dest": "m.py"}]}, "cannot read"),
        (lambda i, t: {"wheels": [str(HANDLER)]}, "is not a wheel"),
        (
            lambda i, t: {"wheels": [_wheel(t / "s-1.0-py3-none-any.whl", {"s-1.0.data/scripts/run": "x"})]},
            "has a s-1.0.data directory",
        ),
        (lambda i, t: {"files": [], "wheels": []}, "nothing to package"),
    ],
)
def test_bad_inputs_are_refused_before_writing(run_module, inputs, tmp_path, change, named):
    (tmp_path / "out").mkdir()
    result = run_module({**inputs, **change(inputs, tmp_path)})
    assert result["rc"] == 1 and result["failed"] is True, result
    assert named in result["msg"] and result["msg"].startswith("Refused before any change")
    assert not pathlib.Path(inputs["dest"]).exists()
