"""giftcrypto.platform.wafv2_association against moto: associate, no-op, move, logging, check mode, absent."""

from __future__ import annotations

import boto3
import pytest
from ansible_collections.giftcrypto.platform.plugins.modules import wafv2_association
from moto import mock_aws

from tests.unit import moto_modules
from tests.unit.moto_modules import ACCOUNT_ID, REGION

aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(wafv2_association)

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


def _load_balancer() -> str:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{zone}")[
            "Subnet"
        ]["SubnetId"]
        for i, zone in ((1, "a"), (2, "b"))
    ]
    elb = boto3.client("elbv2", region_name=REGION)
    return elb.create_load_balancer(Name="web", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]


def _protecting(resource: str) -> str:
    answer = boto3.client("wafv2", region_name=REGION).get_web_acl_for_resource(ResourceArn=resource)
    return (answer.get("WebACL") or {}).get("ARN", "")


def _logging(acl: str) -> list[str]:
    client = boto3.client("wafv2", region_name=REGION)
    try:
        return client.get_logging_configuration(ResourceArn=acl)["LoggingConfiguration"][
            "LogDestinationConfigs"
        ]
    except client.exceptions.WAFNonexistentItemException:
        return []


@pytest.fixture
def setup():
    with mock_aws():
        yield _acl("edge"), _load_balancer()


def test_lifecycle_check_associate_noop_log_absent(run_module, setup):
    acl, alb = setup
    args = {"web_acl_arn": acl, "resource_arns": [alb], "log_destination_arns": [LOG_GROUP]}

    result = run_module(args, check_mode=True)
    assert result["rc"] == 0, result
    assert result["changed"] is True
    assert result["diff"]["before"] == {"associations": {alb: ""}, "log_destination_arns": []}
    assert result["diff"]["after"] == {"associations": {alb: acl}, "log_destination_arns": [LOG_GROUP]}
    assert _protecting(alb) == ""
    assert _logging(acl) == []

    result = run_module(args)
    assert result["changed"] is True
    assert _protecting(alb) == acl
    assert _logging(acl) == [LOG_GROUP]

    assert run_module(args, check_mode=True)["changed"] is False
    result = run_module(args)
    assert result["changed"] is False
    assert result["associations"] == {alb: acl}

    # Logging unset: not managed.
    assert run_module({"web_acl_arn": acl, "resource_arns": [alb]})["changed"] is False
    assert _logging(acl) == [LOG_GROUP]

    # Absent: disassociated, logging deleted.
    result = run_module({**args, "state": "absent"}, check_mode=True)
    assert result["changed"] is True
    assert _protecting(alb) == acl
    result = run_module({**args, "state": "absent"})
    assert result["changed"] is True
    assert result["associations"] == {alb: ""}
    assert _logging(acl) == []
    assert run_module({**args, "state": "absent"})["changed"] is False


def test_a_resource_of_another_acl_is_moved_and_logging_can_be_turned_off(run_module, setup):
    acl, alb = setup
    other = _acl("other")
    boto3.client("wafv2", region_name=REGION).associate_web_acl(WebACLArn=other, ResourceArn=alb)
    run_module({"web_acl_arn": other, "resource_arns": [alb], "log_destination_arns": [LOG_GROUP]})

    result = run_module({"web_acl_arn": acl, "resource_arns": [alb]})
    assert result["changed"] is True
    assert result["diff"]["before"]["associations"] == {alb: other}
    assert _protecting(alb) == acl

    # absent on the first ACL leaves a resource of another ACL alone.
    result = run_module({"web_acl_arn": other, "resource_arns": [alb], "state": "absent"})
    assert _protecting(alb) == acl
    assert _logging(other) == []

    run_module({"web_acl_arn": acl, "resource_arns": [alb], "log_destination_arns": [LOG_GROUP]})
    result = run_module({"web_acl_arn": acl, "resource_arns": [alb], "log_destination_arns": []})
    assert result["changed"] is True
    assert _logging(acl) == []


def test_bad_arns_are_refused_before_any_call(run_module, setup):
    acl, alb = setup
    for option, args in (
        ("web_acl_arn", {"web_acl_arn": "not-an-arn"}),
        ("resource_arns", {"web_acl_arn": acl, "resource_arns": ["alb; rm -rf /"]}),
        ("log_destination_arns", {"web_acl_arn": acl, "log_destination_arns": [LOG_GROUP, LOG_GROUP + "2"]}),
    ):
        result = run_module(args)
        assert result["failed"] is True, args
        assert option in result["msg"]
    assert _protecting(alb) == ""
