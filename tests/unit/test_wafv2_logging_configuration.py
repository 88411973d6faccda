"""giftcrypto.platform.wafv2_logging_configuration against moto: log, no-op, check mode, off, absent."""

from __future__ import annotations

import boto3
import pytest
from ansible_collections.giftcrypto.platform.plugins.modules import wafv2_logging_configuration
from moto import mock_aws

from tests.unit import moto_modules
from tests.unit.moto_modules import ACCOUNT_ID, REGION

aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(wafv2_logging_configuration)

LOG_GROUP = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:aws-waf-logs-test"


def _acl(name: str) -> str:
    return boto3.client("wafv2", region_name=REGION).create_web_acl(
        Name=name,
        Scope="REGIONAL",
        DefaultAction={"Allow": {}},
        VisibilityConfig={
            "SampledRequestsEnabled": True,
            "CloudWatchMetricsEnabled": True,
            "MetricName": name,
        },
        Rules=[],
    )["Summary"]["ARN"]


def _logging(acl: str) -> list[str]:
    client = boto3.client("wafv2", region_name=REGION)
    try:
        return client.get_logging_configuration(ResourceArn=acl)["LoggingConfiguration"][
            "LogDestinationConfigs"
        ]
    except client.exceptions.WAFNonexistentItemException:
        return []


@pytest.fixture
def acl():
    with mock_aws():
        yield _acl("edge")


def test_lifecycle_check_log_noop_absent(run_module, acl):
    args = {"web_acl_arn": acl, "log_destination_arns": [LOG_GROUP]}

    result = run_module(args, check_mode=True)
    assert result["rc"] == 0, result
    assert result["changed"] is True
    assert result["planned"] == "create"
    assert result["diff"] == {
        "before": {},
        "after": {"web_acl_arn": acl, "log_destination_arns": [LOG_GROUP]},
    }
    assert _logging(acl) == []

    result = run_module(args)
    assert result["changed"] is True
    assert _logging(acl) == [LOG_GROUP]

    assert run_module(args, check_mode=True)["changed"] is False
    result = run_module(args)
    assert result["changed"] is False
    assert result["log_destination_arns"] == [LOG_GROUP]

    # Destinations unset: not managed.
    assert run_module({"web_acl_arn": acl})["changed"] is False
    assert _logging(acl) == [LOG_GROUP]

    # Absent: logging deleted.
    result = run_module({**args, "state": "absent"}, check_mode=True)
    assert result["changed"] is True
    assert _logging(acl) == [LOG_GROUP]
    result = run_module({**args, "state": "absent"})
    assert result["changed"] is True
    assert _logging(acl) == []
    assert run_module({**args, "state": "absent"})["changed"] is False


def test_an_empty_list_turns_logging_off(run_module, acl):
    run_module({"web_acl_arn": acl, "log_destination_arns": [LOG_GROUP]})
    result = run_module({"web_acl_arn": acl, "log_destination_arns": []})
    assert result["changed"] is True
    assert result["planned"] == "delete"
    assert result["diff"]["after"] == {}
    assert result["log_destination_arns"] == []
    assert _logging(acl) == []


def test_bad_arns_are_refused_before_any_call(run_module, acl):
    for option, args in (
        ("web_acl_arn", {"web_acl_arn": "not-an-arn"}),
        ("log_destination_arns", {"web_acl_arn": acl, "log_destination_arns": ["log; rm -rf /"]}),
        ("log_destination_arns", {"web_acl_arn": acl, "log_destination_arns": [LOG_GROUP, LOG_GROUP + "2"]}),
    ):
        result = run_module(args)
        assert result["failed"] is True, args
        assert option in result["msg"]
    assert _logging(acl) == []
