"""giftcrypto.platform.elb_load_balancer_attributes against moto: set, no-op, update, check mode."""

from __future__ import annotations

import boto3
import pytest
from ansible_collections.giftcrypto.platform.plugins.modules import elb_load_balancer_attributes
from moto import mock_aws

from tests.unit import moto_modules
from tests.unit.moto_modules import REGION

aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(elb_load_balancer_attributes)

WANTED = {
    "access_logs.s3.enabled": True,
    "access_logs.s3.bucket": "logs-bucket",
    "access_logs.s3.prefix": "alb",
    "routing.http.drop_invalid_header_fields.enabled": True,
    "idle_timeout.timeout_seconds": 60,
}


@pytest.fixture
def alb():
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{zone}")[
                "Subnet"
            ]["SubnetId"]
            for i, zone in ((1, "a"), (2, "b"))
        ]
        elb = boto3.client("elbv2", region_name=REGION)
        yield elb.create_load_balancer(Name="web", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]


def _attributes(arn: str) -> dict[str, str]:
    answer = boto3.client("elbv2", region_name=REGION).describe_load_balancer_attributes(LoadBalancerArn=arn)
    return {a["Key"]: a["Value"] for a in answer["Attributes"]}


def test_check_set_noop_update(run_module, alb):
    args = {"load_balancer_arn": alb, "attributes": WANTED}
    result = run_module(args, check_mode=True)
    assert result["rc"] == 0, result
    assert result["changed"] is True
    # The endpoint's answer lacks these attributes: they count as to be set (no KeyError).
    assert result["diff"]["before"]["routing.http.drop_invalid_header_fields.enabled"] is None
    assert result["diff"]["after"]["access_logs.s3.enabled"] == "true"
    assert "access_logs.s3.enabled" not in _attributes(alb)

    result = run_module(args)
    assert result["changed"] is True
    have = _attributes(alb)
    assert have["access_logs.s3.enabled"] == "true"
    assert have["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert have["idle_timeout.timeout_seconds"] == "60"

    assert run_module(args, check_mode=True)["changed"] is False
    result = run_module(args)
    assert result["changed"] is False
    assert result["diff"]["before"] == result["diff"]["after"]

    # Only the listed attributes are compared and changed.
    result = run_module({"load_balancer_arn": alb, "attributes": {"deletion_protection.enabled": True}})
    assert result["changed"] is True
    have = _attributes(alb)
    assert have["deletion_protection.enabled"] == "true"
    assert have["access_logs.s3.prefix"] == "alb"


def test_bad_input_is_refused_before_any_call(run_module, alb):
    for option, args in (
        ("load_balancer_arn", {"load_balancer_arn": "arn:aws:s3:::bucket", "attributes": WANTED}),
        ("attributes", {"load_balancer_arn": alb, "attributes": {"Not A Key": "x"}}),
        ("attributes", {"load_balancer_arn": alb, "attributes": {"idle_timeout.timeout_seconds": [1]}}),
        ("attributes", {"load_balancer_arn": alb, "attributes": {}}),
    ):
        result = run_module(args)
        assert result["failed"] is True, args
        assert option in result["msg"]
    assert "idle_timeout.timeout_seconds" not in _attributes(alb)
