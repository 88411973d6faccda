"""What the unit tests of our AWS modules share: a sealed AWS environment and an in-process runner.

A module's ``main()`` runs in-process with its arguments exposed by ``patch_module_args``; its
result is the JSON it prints before exiting. The tests run under moto's ``mock_aws`` with dummy
credentials, so nothing leaves the process. (The same pattern as test_ec2_vpc_flow_log.py.)
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from types import ModuleType
from unittest import mock

import botocore.client
import botocore.loaders
import pytest
from ansible.module_utils.testing import patch_module_args

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account


def dummy_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Dummy credentials and region; no profile, config file or endpoint of the machine leaks in."""
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_URL",
        "EC2_URL",
        "AWS_REGION",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))


@contextlib.contextmanager
def shared_botocore_loader() -> Iterator[None]:
    """One loader of botocore's service models for every boto3 session made inside the block.

    Each run of a module builds a new boto3 session, which would parse the service models again.
    """
    loader = botocore.loaders.create_loader()
    with mock.patch("botocore.session.create_loader", lambda *_args, **_kwargs: loader):
        yield


def runner(module: ModuleType, capsys: pytest.CaptureFixture) -> Callable[..., dict]:
    """A function that runs ``module.main()`` with options and returns its result (exit code in ``rc``)."""

    def run(args: dict, check_mode: bool = False, diff: bool = True) -> dict:
        # As the controller runs a module with INJECT_INVOCATION on (ansible-core 2.21 returns the
        # invocation, where no_log values must show masked, only then).
        module_args = {
            **args,
            "_ansible_check_mode": check_mode,
            "_ansible_diff": diff,
            "_ansible_inject_invocation": True,
        }
        # Without the host's syslog and journal (a host without them: the module logs nothing):
        # the tests' options hold NUL characters, which syslog refuses before the module reads them.
        quiet = (
            mock.patch("ansible.module_utils.basic.HAS_SYSLOG", False),
            mock.patch("ansible.module_utils.basic.has_journal", False),
        )
        # On the target side, as a module runs: once a test of the same process has loaded the
        # controller (a callback, a playbook run), ansible-core would send the module's warnings to
        # the controller's display instead of its result.
        target = mock.patch("ansible.module_utils._internal.is_controller", False)
        # A process runs one module, so ansible-core never clears its warnings and deprecations:
        # each run here starts from none, as its own process would.
        fresh = (
            mock.patch("ansible.module_utils.common.warnings._global_warnings", {}),
            mock.patch("ansible.module_utils.common.warnings._global_deprecations", {}),
        )
        with (
            quiet[0],
            quiet[1],
            target,
            fresh[0],
            fresh[1],
            patch_module_args(module_args),
            pytest.raises(SystemExit) as exited,
        ):
            module.main()
        result = json.loads(capsys.readouterr().out)
        result["rc"] = exited.value.code
        return result

    return run


def module_fixtures(module: ModuleType) -> tuple:
    """The fixtures every module's test file uses: ``aws_environment`` (autouse, the dummy AWS
    environment), ``botocore_loader`` (one per test module) and ``run_module`` (``runner`` of module).

    Assign them at module level: ``aws_environment, botocore_loader, run_module = module_fixtures(m)``.
    """

    @pytest.fixture(autouse=True)
    def aws_environment(monkeypatch, tmp_path):
        dummy_environment(monkeypatch, tmp_path)

    @pytest.fixture(scope="module")
    def botocore_loader():
        with shared_botocore_loader():
            yield

    @pytest.fixture
    def run_module(capsys, botocore_loader):
        return runner(module, capsys)

    return aws_environment, botocore_loader, run_module


@contextlib.contextmanager
def fake_operations(handlers: dict[str, Callable[[dict], dict]]) -> Iterator[list]:
    """Answers the named API operations with ``handlers`` instead of moto (which lacks them).

    Every other operation still goes to moto. Yields the list of ``(operation, params)`` calls
    that the handlers answered, in order.
    """
    calls: list = []
    original = botocore.client.BaseClient._make_api_call

    def make_api_call(self, operation_name, api_params):
        if operation_name in handlers:
            calls.append((operation_name, api_params))
            return handlers[operation_name](api_params)
        return original(self, operation_name, api_params)

    with mock.patch.object(botocore.client.BaseClient, "_make_api_call", make_api_call):
        yield calls
