"""The end of the integration run: `playbooks/destroy.yml` destroys the real deployment every other
test ran against (the lifecycle's, or the one deployed before a selection of tests), and nothing of
the local environment is left: no server of it answers on this machine, the AWS endpoint (and with it
every AWS resource it held) included. Runs last (file name)."""

from __future__ import annotations

import pytest

from tests.integration.conftest import PLATFORM_STATE, open_ports, run_playbook
from tests.integration.test_00_lifecycle import _our_vpcs, _recap

pytestmark = pytest.mark.integration


def test_destroy_removes_everything(aws, local_vars):
    # A real deployment: the endpoint holds the platform's VPC, the data servers answer.
    answering = open_ports(local_vars)
    for server in ("local_aws_endpoint_port", "postgres_server_port", "redis_server_port"):
        assert server in answering, answering
    assert len(_our_vpcs(aws)) == 1

    result = run_playbook(playbook="playbooks/destroy.yml")
    assert result.returncode == 0, result.stdout[-5000:]
    recap = _recap(result.stdout)["localhost"]
    assert recap["failed"] == 0 and recap["changed"] > 0, recap
    PLATFORM_STATE["destroyed"] = True
    assert open_ports(local_vars) == {}
