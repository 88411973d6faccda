"""Property-based tests (hypothesis) of the argument handling of every module in plugins/modules
(issue 8): bad names, injections, unicode, huge, empty and wrongly typed values.

Each module runs in-process as Ansible runs it (moto_modules.runner): the AWS modules under moto's
``mock_aws`` with the dummy environment, the database modules against the throwaway PostgreSQL
cluster (tests/unit/pg_cluster.py). Every property asserts that the run failed with a message
naming the offending option, and that nothing changed: the AWS resources listed before and after,
or the database catalog (and bookkeeping rows) compared before and after.
"""

from __future__ import annotations

import json
import os
import pathlib
from unittest import mock

import boto3
import botocore.client
import botocore.exceptions
import pytest
from ansible_collections.giftcrypto.platform.plugins.modules import (
    appconfig_feature_flags,
    audit_anchor,
    audit_verify,
    aws_offerings_info,
    budgets_budget,
    ce_cost_allocation_tags,
    cloudfront_origin_access_control,
    cloudwatch_dashboard,
    codebuild_webhook,
    cognito_user_pool,
    cognito_user_pool_client,
    config_recorder,
    ec2_vpc_endpoint_policy,
    ec2_vpc_flow_log,
    eks_access_entry,
    eks_addon,
    eks_cluster,
    elasticache_parameter_group,
    elasticache_replication_group,
    guardduty_detector,
    iam_openid_connect_provider,
    lambda_package,
    pg_migrate,
    pii_keyring,
    rds_automated_backups_replication,
    rds_instance_master_user_secret,
    secretsmanager_rotation_schedule,
    secretsmanager_rotation_schedule_info,
    securityhub_hub,
    sns_topic_encryption,
    wafv2_logging_configuration,
)
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from tests.unit import moto_modules
from tests.unit.moto_modules import ACCOUNT_ID, REGION
from tests.unit.pg_cluster import MIGRATIONS
from tests.unit.strategies import INJECTIONS, NASTY_TEXT

# Every module this file drives; test_every_module_has_a_property checks none is missing.
COVERED = (
    appconfig_feature_flags,
    audit_anchor,
    audit_verify,
    aws_offerings_info,
    budgets_budget,
    ce_cost_allocation_tags,
    cloudfront_origin_access_control,
    cloudwatch_dashboard,
    codebuild_webhook,
    cognito_user_pool,
    cognito_user_pool_client,
    config_recorder,
    ec2_vpc_endpoint_policy,
    ec2_vpc_flow_log,
    eks_access_entry,
    eks_addon,
    eks_cluster,
    elasticache_parameter_group,
    elasticache_replication_group,
    guardduty_detector,
    iam_openid_connect_provider,
    lambda_package,
    pg_migrate,
    pii_keyring,
    rds_automated_backups_replication,
    rds_instance_master_user_secret,
    secretsmanager_rotation_schedule,
    secretsmanager_rotation_schedule_info,
    securityhub_hub,
    sns_topic_encryption,
    wafv2_logging_configuration,
)

FIXTURES = settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

#: Values the argument spec cannot turn into a string (Ansible converts numbers and booleans).
NOT_A_STRING = st.one_of(
    # Within a C long: ansible-core's check_type_int reads a list of three ints as a Decimal tuple,
    # and a first one beyond 2**63 raises OverflowError, which it does not catch (a traceback, not a
    # refusal). That is ansible-core's defect, not the module's; the rest of the list space is kept.
    st.lists(st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1), min_size=1, max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), min_size=1, max_size=3),
)
#: Values the argument spec cannot turn into a list or a dict of options.
NOT_A_LIST = st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans())
NOT_A_BOOL = st.one_of(
    st.text(min_size=1, max_size=10).filter(
        lambda s: (
            s.strip().lower() not in {"yes", "no", "true", "false", "on", "off", "y", "n", "t", "f", "1", "0"}
        )
    ),
    st.integers().filter(lambda n: n not in (0, 1)),
    st.lists(st.integers(), min_size=1, max_size=2),
)


def _not_in(choices):
    return NASTY_TEXT.filter(lambda value: value not in choices)


def _failed(result: dict, *expected: str) -> str:
    assert result["rc"] == 1, result
    assert result.get("failed") is True, result
    assert result.get("changed", False) is False, result
    message = result["msg"]
    for text in expected:
        assert text in message, (text, message)
    assert "Traceback" not in message
    return message


# ---------------------------------------------------------------------------------------------
# AWS modules under moto


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch, tmp_path):
    moto_modules.dummy_environment(monkeypatch, tmp_path)


@pytest.fixture(scope="module")
def botocore_loader():
    with moto_modules.shared_botocore_loader():
        yield


@pytest.fixture
def aws(aws_environment, botocore_loader):
    with mock_aws():
        yield


@pytest.fixture
def run(capsys, aws):
    """run(module, args) -> result of the module run in-process."""
    return lambda module, args, **kwargs: moto_modules.runner(module, capsys)(args, **kwargs)


def _client(service):
    return boto3.client(service, region_name=REGION)


# cloudwatch_dashboard


def _dashboards():
    client = _client("cloudwatch")
    return [
        (d["DashboardName"], client.get_dashboard(DashboardName=d["DashboardName"])["DashboardBody"])
        for d in client.list_dashboards()["DashboardEntries"]
    ]


BODY = '{"widgets": []}'
bad_dashboard_names = st.one_of(
    NASTY_TEXT,
    st.text(st.sampled_from("abcXYZ019_-"), min_size=256, max_size=400),
    st.text(st.sampled_from("abc-_"), min_size=1, max_size=8).map(lambda s: s + "/../x"),
).filter(lambda s: not cloudwatch_dashboard.NAME_PATTERN.match(s))


@FIXTURES
@given(name=bad_dashboard_names, state=st.sampled_from(["present", "absent"]))
def test_cloudwatch_dashboard_refuses_bad_names(run, name, state):
    _client("cloudwatch").put_dashboard(DashboardName="keep", DashboardBody=BODY)
    before = _dashboards()
    result = run(cloudwatch_dashboard, {"name": name, "body": BODY, "state": state})
    _failed(result, "name: ", "up to 255 letters, digits, hyphens or underscores")
    assert _dashboards() == before


@FIXTURES
@given(
    body=st.one_of(
        NASTY_TEXT,
        st.sampled_from(["[]", "1", "null", '"x"', '{"widgets": {}}', '{"widgets": "x"}', "{}", "{'a': 1}"]),
        st.lists(st.integers(), max_size=3),
        st.integers(),
        st.dictionaries(st.sampled_from(["widget", "Widgets", "periodOverride"]), st.integers(), max_size=2),
    )
)
def test_cloudwatch_dashboard_refuses_bodies_without_a_widgets_list(run, body):
    _client("cloudwatch").put_dashboard(DashboardName="keep", DashboardBody=BODY)
    before = _dashboards()
    result = run(cloudwatch_dashboard, {"name": "keep", "body": body})
    _failed(result, "Refused before any change: body: ")
    assert _dashboards() == before


@FIXTURES
@given(name=NOT_A_STRING)
def test_cloudwatch_dashboard_refuses_a_name_of_the_wrong_type(run, name):
    # Ansible turns a list or a dict into its text for a str option: the name rule refuses it.
    result = run(cloudwatch_dashboard, {"name": name, "body": BODY})
    _failed(result, "name: ", "up to 255 letters")
    assert _dashboards() == []


def test_cloudwatch_dashboard_refuses_a_name_ending_in_a_newline(run):
    result = run(cloudwatch_dashboard, {"name": "giftcrypto\n", "body": BODY})
    _failed(result, "name: ")


# iam_openid_connect_provider


def _providers():
    client = _client("iam")
    return sorted(
        (
            p["Arn"],
            tuple(client.get_open_id_connect_provider(OpenIDConnectProviderArn=p["Arn"])["ThumbprintList"]),
        )
        for p in client.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    )


GOOD_THUMBPRINT = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280"


def _seed_provider():
    if _providers():
        return
    _client("iam").create_open_id_connect_provider(
        Url="https://keep.example.test", ClientIDList=["sts.amazonaws.com"], ThumbprintList=[GOOD_THUMBPRINT]
    )


bad_thumbprints = st.one_of(
    NASTY_TEXT,
    st.text(st.sampled_from("0123456789abcdef"), min_size=0, max_size=39),
    st.text(st.sampled_from("0123456789abcdef"), min_size=41, max_size=200),
    st.text(st.sampled_from("0123456789abcdefg"), min_size=40, max_size=40),
    st.just("\uff19" * 40),
).filter(lambda s: not iam_openid_connect_provider.THUMBPRINT.match(s))


@FIXTURES
@given(thumbprints=st.lists(bad_thumbprints, min_size=1, max_size=3), good_first=st.booleans())
def test_iam_oidc_refuses_bad_thumbprints(run, thumbprints, good_first):
    _seed_provider()
    before = _providers()
    wanted = [GOOD_THUMBPRINT, *thumbprints] if good_first else thumbprints
    result = run(
        iam_openid_connect_provider,
        {"url": "https://new.example.test", "client_ids": ["sts.amazonaws.com"], "thumbprints": wanted},
    )
    _failed(result, "thumbprints: must be 40 hexadecimal digits")
    assert _providers() == before


@FIXTURES
@given(
    url=st.builds(
        lambda before, scheme, slashes, after: f"{before}{scheme}{slashes}{after}",
        st.text(" \t\n", max_size=3),
        st.sampled_from(["", "https://"]),
        st.text("/", max_size=4),
        st.text(" \t\n", max_size=3),
    )
)
def test_iam_oidc_refuses_an_empty_url(run, url):
    _seed_provider()
    before = _providers()
    result = run(
        iam_openid_connect_provider, {"url": url, "client_ids": ["x"], "thumbprints": [GOOD_THUMBPRINT]}
    )
    _failed(result, "url: must not be empty")
    assert _providers() == before


@FIXTURES
@given(
    option=st.sampled_from(["client_ids", "thumbprints"]),
    value=st.dictionaries(st.text(max_size=3), st.integers(), min_size=1, max_size=2),
)
def test_iam_oidc_refuses_lists_of_the_wrong_type(run, option, value):
    _seed_provider()
    before = _providers()
    args = {
        "url": "https://new.example.test",
        "client_ids": ["x"],
        "thumbprints": [GOOD_THUMBPRINT],
        option: value,
    }
    _failed(run(iam_openid_connect_provider, args), f"'{option}'", "list")
    assert _providers() == before


def test_iam_oidc_refuses_a_blank_host(run):
    result = run(
        iam_openid_connect_provider,
        {"url": "https:// /", "client_ids": ["x"], "thumbprints": [GOOD_THUMBPRINT]},
    )
    assert _providers() == []
    _failed(result, "must be an https URL with a host name")


def test_iam_oidc_refuses_a_thumbprint_ending_in_a_newline(run):
    result = run(
        iam_openid_connect_provider,
        {"url": "https://new.example.test", "client_ids": ["x"], "thumbprints": [GOOD_THUMBPRINT + "\n"]},
    )
    _failed(result, "thumbprints: must be 40 hexadecimal digits")


# cloudfront_origin_access_control and wafv2_logging_configuration


def _origin_access_controls():
    return _client("cloudfront").list_origin_access_controls()["OriginAccessControlList"].get("Items") or []


@FIXTURES
@given(
    args=st.one_of(
        st.builds(
            lambda v: {"name": v},
            st.one_of(st.just(""), st.text(min_size=65, max_size=80), st.sampled_from(INJECTIONS)),
        ),
        st.builds(
            lambda v: {"name": "oac", "signing_behavior": v}, _not_in(["always", "never", "no-override"])
        ),
        st.builds(
            lambda v: {"name": "oac", "origin_type": v},
            _not_in(["s3", "mediastore", "mediapackagev2", "lambda"]),
        ),
        st.builds(lambda v: {"name": "oac", "description": v}, st.text(min_size=257, max_size=300)),
    )
)
def test_cloudfront_origin_access_control_refuses_bad_options(run, args):
    assume(
        not (
            args.get("name")
            and len(args) == 1
            and 1 <= len(args["name"]) <= 64
            and not any(c.isspace() or not c.isprintable() for c in args["name"])
        )
    )
    option = next(k for k in args if k != "name" or len(args) == 1)
    _failed(run(cloudfront_origin_access_control, args), option)
    assert _origin_access_controls() == []


@FIXTURES
@given(
    args=st.one_of(
        st.builds(lambda v: {"web_acl_arn": v}, NASTY_TEXT),
        st.builds(
            lambda v: {
                "web_acl_arn": "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/a/1",
                "log_destination_arns": [v],
            },
            NASTY_TEXT,
        ),
        st.builds(
            lambda v: {
                "web_acl_arn": "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/a/1",
                "log_destination_arns": v,
            },
            NOT_A_LIST,
        ),
        st.builds(
            lambda v: {"web_acl_arn": "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/a/1", "state": v},
            _not_in(["present", "absent"]),
        ),
    )
)
def test_wafv2_logging_configuration_refuses_bad_options(run, args):
    option = list(args)[-1]
    value = args[option]
    assume(not (isinstance(value, str) and value.startswith("arn:aws")))
    assume(
        not (isinstance(value, list) and all(isinstance(v, str) and v.startswith("arn:aws") for v in value))
    )
    _failed(run(wafv2_logging_configuration, args), option)
    assert _client("wafv2").list_logging_configurations(Scope="REGIONAL")["LoggingConfigurations"] == []


# sns_topic_encryption


def _topics():
    client = _client("sns")
    return sorted(
        (
            t["TopicArn"],
            client.get_topic_attributes(TopicArn=t["TopicArn"])["Attributes"].get("KmsMasterKeyId", ""),
        )
        for t in client.list_topics()["Topics"]
    )


@FIXTURES
@given(
    # ARN-shaped: moto itself crashes (ValueError) on a topic ARN of fewer than six fields.
    topic=st.one_of(
        NASTY_TEXT.map(lambda s: f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{s}"),
        NASTY_TEXT.map(lambda s: f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:keep{s}"),
        st.just(f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:keep/../other"),
    ),
    key=st.sampled_from(["alias/aws/sns", "", "'; DROP TABLE x; --"]),
)
def test_sns_topic_encryption_refuses_unknown_or_malformed_topics(run, topic, key):
    keep = _client("sns").create_topic(Name="keep")["TopicArn"]
    assume(topic != keep)
    before = _topics()
    message = _failed(run(sns_topic_encryption, {"topic_arn": topic, "kms_master_key_id": key}))
    assert message.startswith(
        (
            f"Create the encryption of the topic {topic}: the topic does not exist",
            f"Could not read the encryption of the topic {topic}",
        )
    )
    assert _topics() == before


def test_sns_topic_encryption_requires_both_options(run):
    keep = _client("sns").create_topic(Name="keep")["TopicArn"]
    before = _topics()
    _failed(run(sns_topic_encryption, {"topic_arn": keep}), "missing required arguments: kms_master_key_id")
    assert _topics() == before


# ec2_vpc_endpoint_policy


def _endpoint_policies():
    described = _client("ec2").describe_vpc_endpoints()["VpcEndpoints"]
    return sorted((e["VpcEndpointId"], e.get("PolicyDocument", "")) for e in described)


@FIXTURES
@given(
    endpoint=st.one_of(NASTY_TEXT, NASTY_TEXT.map(lambda s: f"vpce-{s}")),
    policy=st.one_of(
        st.just('{"Version": "2012-10-17", "Statement": []}'),
        NASTY_TEXT,
        st.just("[1, 2]"),
        st.just('{"Version": "2012-10-17"}'),
    ),
)
def test_ec2_vpc_endpoint_policy_refuses_unknown_endpoints_and_malformed_policies(run, endpoint, policy):
    ec2 = _client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.5.0.0/16")["Vpc"]["VpcId"]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    keep = ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.s3", RouteTableIds=[table], VpcEndpointType="Gateway"
    )["VpcEndpoint"]["VpcEndpointId"]
    assume(endpoint != keep)
    before = _endpoint_policies()
    message = _failed(run(ec2_vpc_endpoint_policy, {"vpc_endpoint_id": endpoint, "policy": policy}))
    assert message.startswith(
        (
            "Refused before ",
            "Create the policy of the VPC endpoint",
            "Could not read the policy of the VPC endpoint",
            "argument 'policy' is of type",
        )
    ), message
    assert _endpoint_policies() == before


# ec2_vpc_flow_log


def _flow_logs():
    return sorted(
        (f["FlowLogId"], f["ResourceId"], f.get("LogGroupName", ""))
        for f in _client("ec2").describe_flow_logs()["FlowLogs"]
    )


def _vpc():
    vpcs = _client("ec2").describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.0.0.0/16"]}])["Vpcs"]
    if vpcs:
        return vpcs[0]["VpcId"]
    return _client("ec2").create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]


FLOW_ARGS = {
    "log_group_name": "/giftcrypto/flow",
    "deliver_logs_permission_arn": f"arn:aws:iam::{ACCOUNT_ID}:role/flow-logs",
}


@FIXTURES
@given(
    option=st.sampled_from(
        ["resource_type", "traffic_type", "log_destination_type", "state", "max_aggregation_interval"]
    ),
    value=NASTY_TEXT,
)
def test_ec2_vpc_flow_log_refuses_values_outside_the_choices(run, option, value):
    vpc = _vpc()
    before = _flow_logs()
    result = run(ec2_vpc_flow_log, {"resource_id": vpc, **FLOW_ARGS, option: value})
    _failed(result, option)
    assert _flow_logs() == before


@FIXTURES
@given(
    # No control characters: moto answers them with XML botocore cannot parse (AWS escapes them).
    resource_id=NASTY_TEXT.filter(lambda s: s.strip() != "" and all(c.isprintable() for c in s))
)
def test_ec2_vpc_flow_log_refuses_unknown_resources(run, resource_id):
    _vpc()
    before = _flow_logs()
    result = run(ec2_vpc_flow_log, {"resource_id": resource_id, **FLOW_ARGS})
    assert result["rc"] == 1 and result.get("failed") is True, result
    assert "Traceback" not in result["msg"]
    assert _flow_logs() == before


def test_ec2_vpc_flow_log_needs_the_delivery_role_for_cloudwatch(run):
    vpc = _vpc()
    result = run(
        ec2_vpc_flow_log, {"resource_id": vpc, "log_group_name": "/x", "deliver_logs_permission_arn": ""}
    )
    _failed(result, "deliver_logs_permission_arn: required")
    assert _flow_logs() == []


# config_recorder


def _recorders():
    client = _client("config")
    return (
        client.describe_configuration_recorders()["ConfigurationRecorders"],
        client.describe_delivery_channels()["DeliveryChannels"],
        client.describe_configuration_recorder_status()["ConfigurationRecordersStatus"],
    )


@FIXTURES
@given(
    args=st.one_of(
        st.builds(
            lambda v: {"delivery_channel": {"s3_bucket_name": "b", "delivery_frequency": v}}, _not_in([])
        ),
        st.builds(lambda v: {"state": v}, _not_in(["present", "absent"])),
        st.builds(lambda v: {"recording": v}, NOT_A_BOOL),
        # No wrong type for recording_group or delivery_channel: ansible-core's own set_fallbacks
        # raises TypeError on an int or a list for a dict option with suboptions (not our code).
        st.builds(
            lambda v: {"recording_group": {"resource_types": v}},
            st.dictionaries(st.text(max_size=3), st.integers(), min_size=1),
        ),
    )
)
def test_config_recorder_refuses_bad_options(run, args):
    before = _recorders()
    wanted = {
        "role_arn": f"arn:aws:iam::{ACCOUNT_ID}:role/config",
        "delivery_channel": {"s3_bucket_name": "giftcrypto-config"},
        **args,
    }
    option = next(iter(args))
    message = _failed(run(config_recorder, wanted))
    assert option in message or "delivery_frequency" in message or "resource_types" in message, message
    assert _recorders() == before


def test_config_recorder_needs_resource_types_or_all_supported(run):
    wanted = {
        "role_arn": f"arn:aws:iam::{ACCOUNT_ID}:role/config",
        "delivery_channel": {"s3_bucket_name": "giftcrypto-config"},
        "recording_group": {"all_supported": False, "resource_types": []},
    }
    _failed(run(config_recorder, wanted), "recording_group.resource_types: required")
    assert _recorders() == ([], [], [])


# eks_access_entry (moto has no access entries: every operation of it, and DescribeCluster, is answered
# by a recorder, so the property is that a bad option is refused before any of them is called)

_ACCESS_ENTRY = {
    "cluster_name": "giftcrypto-staging",
    "principal_arn": f"arn:aws:iam::{ACCOUNT_ID}:role/giftcrypto-staging-ci-deploy",
}
_ACCESS_ENTRY_OPERATIONS = (
    "CreateAccessEntry",
    "DescribeAccessEntry",
    "UpdateAccessEntry",
    "DeleteAccessEntry",
    "AssociateAccessPolicy",
    "DisassociateAccessPolicy",
    "ListAssociatedAccessPolicies",
    "DescribeCluster",
)


@FIXTURES
@given(
    args=st.one_of(
        st.builds(lambda v: {"state": v}, _not_in([])),
        st.builds(lambda v: {"type": v}, _not_in([])),
        st.builds(lambda v: {"purge_access_policies": v}, NOT_A_BOOL),
        st.builds(lambda v: {"access_policies": v}, NOT_A_LIST),
        st.builds(
            lambda v: {"access_policies": [{"policy_arn": "arn:aws:eks::aws:x", "scope": v}]}, _not_in([])
        ),
        st.builds(
            lambda v: {
                "access_policies": [
                    {"policy_arn": "arn:aws:eks::aws:x", "scope": "namespace", "namespaces": v}
                ]
            },
            st.just([]),
        ),
        st.builds(lambda v: {"principal_arn": v}, NASTY_TEXT.filter(lambda s: not s.startswith("arn:"))),
        st.builds(
            lambda v: {"cluster_name": v},
            NASTY_TEXT.filter(lambda s: not eks_access_entry.CLUSTER_NAME.fullmatch(s)),
        ),
        st.builds(lambda v: {"username": v}, st.sampled_from(eks_access_entry.RESERVED_USERNAME)),
        st.builds(
            lambda v: {"access_policies": [{"policy_arn": v}]},
            NASTY_TEXT.filter(lambda s: not eks_access_entry.POLICY.fullmatch(s)),
        ),
    )
)
def test_eks_access_entry_refuses_bad_options_before_any_call(run, args):
    handlers = {name: (lambda params: {}) for name in _ACCESS_ENTRY_OPERATIONS}
    with moto_modules.fake_operations(handlers) as calls:
        option = next(iter(args))
        message = _failed(run(eks_access_entry, {**_ACCESS_ENTRY, **args}))
    assert option in message or "scope" in message or "namespace" in message, message
    assert calls == []


# eks_addon (moto has no add-ons: every operation of it, and DescribeCluster, is answered by a
# recorder, so the property is that a bad option is refused before any of them is called)

_ADDON = {"cluster_name": "giftcrypto-staging", "name": "vpc-cni"}
_ADDON_OPERATIONS = (
    "CreateAddon",
    "DescribeAddon",
    "UpdateAddon",
    "DeleteAddon",
    "DescribeAddonVersions",
    "DescribeCluster",
    "TagResource",
    "UntagResource",
)


@FIXTURES
@given(
    args=st.one_of(
        st.builds(lambda v: {"state": v}, _not_in([])),
        st.builds(lambda v: {"resolve_conflicts": v}, _not_in([])),
        st.builds(lambda v: {"wait": v}, NOT_A_BOOL),
        st.builds(lambda v: {"configuration_values": v}, NOT_A_LIST),
        st.builds(
            lambda v: {"cluster_name": v},
            NASTY_TEXT.filter(lambda s: not eks_addon.CLUSTER_NAME.fullmatch(s)),
        ),
        st.builds(lambda v: {"name": v}, NASTY_TEXT.filter(lambda s: not eks_addon.ADDON_NAME.fullmatch(s))),
        st.builds(
            lambda v: {"addon_version": v},
            NASTY_TEXT.filter(lambda s: s != eks_addon.DEFAULT and not eks_addon.VERSION.fullmatch(s)),
        ),
        st.builds(
            lambda v: {"service_account_role_arn": v},
            NASTY_TEXT.filter(lambda s: s and not eks_addon.ROLE.fullmatch(s)),
        ),
    )
)
def test_eks_addon_refuses_bad_options_before_any_call(run, args):
    handlers = {name: (lambda params: {}) for name in _ADDON_OPERATIONS}
    with moto_modules.fake_operations(handlers) as calls:
        option = next(iter(args))
        message = _failed(run(eks_addon, {**_ADDON, **args}))
    assert option in message, message
    assert calls == []


@FIXTURES
@given(
    args=st.one_of(
        st.builds(lambda v: {"state": v}, _not_in([])),
        st.builds(lambda v: {"build_type": v}, _not_in([])),
        st.builds(lambda v: {"filter_groups": v}, NOT_A_LIST),
        st.builds(
            lambda v: {"filter_groups": [[{"type": v, "pattern": "PUSH"}]]},
            _not_in(list(codebuild_webhook.FILTER_TYPES)),
        ),
        st.builds(
            lambda v: {"filter_groups": [[{"type": "EVENT", "pattern": v}]]}, st.sampled_from(["", None, 3])
        ),
        st.builds(
            lambda v: {"project_name": v},
            NASTY_TEXT.filter(lambda s: not codebuild_webhook.PROJECT_NAME.fullmatch(s)),
        ),
    )
)
def test_codebuild_webhook_refuses_bad_options_before_any_call(run, args):
    handlers = {
        name: (lambda params: {})
        for name in ("BatchGetProjects", "CreateWebhook", "UpdateWebhook", "DeleteWebhook")
    }
    with moto_modules.fake_operations(handlers) as calls:
        message = _failed(run(codebuild_webhook, {"project_name": "giftcrypto-staging-ci-runner", **args}))
    assert next(iter(args)) in message or "filter" in message, message
    assert calls == []


# guardduty_detector and securityhub_hub


def _detectors():
    return _client("guardduty").list_detectors()["DetectorIds"]


@FIXTURES
@given(
    args=st.one_of(
        st.builds(lambda v: {"finding_publishing_frequency": v}, _not_in([])),
        st.builds(lambda v: {"state": v}, _not_in([])),
        st.builds(lambda v: {"enable": v}, NOT_A_BOOL),
        st.builds(lambda v: {"features": v}, NOT_A_LIST),
        st.builds(lambda v: {"features": [{"name": "S3_DATA_EVENTS", "status": v}]}, _not_in([])),
        st.builds(lambda v: {"tags": v}, st.one_of(NOT_A_LIST, st.lists(st.integers(), min_size=1))),
    )
)
def test_guardduty_detector_refuses_bad_options(run, args):
    assert _detectors() == []
    option = next(iter(args))
    message = _failed(run(guardduty_detector, args))
    assert option in message or "status" in message, message
    assert _detectors() == []


def _hub():
    try:
        return _client("securityhub").describe_hub()["HubArn"]
    except botocore.exceptions.ClientError:  # InvalidAccessException: not enabled
        return None


@FIXTURES
@given(
    args=st.one_of(
        st.builds(lambda v: {"state": v}, _not_in([])),
        st.builds(
            lambda v: {"standards": v},
            st.dictionaries(st.text(max_size=3), st.integers(), min_size=1, max_size=2),
        ),
        st.builds(lambda v: {"tags": v}, st.lists(st.integers(), min_size=1, max_size=2)),
        st.builds(lambda v: {"purge_standards": v}, NOT_A_BOOL),
        st.builds(lambda v: {"enable_default_standards": v}, NOT_A_BOOL),
    )
)
def test_securityhub_hub_refuses_bad_options(run, args):
    assert _hub() is None
    option = next(iter(args))
    _failed(run(securityhub_hub, args), option)
    assert _hub() is None


# rds_automated_backups_replication (moto lacks the start call: any call that reached it would fail
# differently; the properties assert the refusal names the option before any write)

REPLICATION_ARGS = {
    "region": "us-west-2",
    "source_db_instance_arn": f"arn:aws:rds:{REGION}:{ACCOUNT_ID}:db:keep",
    "backup_retention_period": 7,
}


@FIXTURES
@given(
    args=st.one_of(
        st.builds(
            lambda v: {"source_db_instance_arn": v},
            st.one_of(st.sampled_from(INJECTIONS), NASTY_TEXT).filter(
                lambda s: not rds_automated_backups_replication.SOURCE_ARN.fullmatch(s)
            ),
        ),
        st.builds(
            lambda v: {"kms_key_id": v},
            st.one_of(st.sampled_from(INJECTIONS), NASTY_TEXT).filter(
                lambda s: not rds_automated_backups_replication.KEY.fullmatch(s)
            ),
        ),
        st.builds(lambda v: {"backup_retention_period": v}, st.integers().filter(lambda n: not 1 <= n <= 35)),
        st.builds(lambda v: {"backup_retention_period": v}, NOT_A_STRING),
        st.builds(lambda v: {"state": v}, _not_in(["present", "absent"])),
    )
)
def test_rds_automated_backups_replication_refuses_bad_options(run, args):
    calls = []
    with moto_modules.fake_operations(
        {
            "StartDBInstanceAutomatedBackupsReplication": lambda p: calls.append(p) or {},
            "StopDBInstanceAutomatedBackupsReplication": lambda p: calls.append(p) or {},
        }
    ):
        result = run(rds_automated_backups_replication, {**REPLICATION_ARGS, **args})
    _failed(result, next(iter(args)))
    assert calls == []


# rds_instance_master_user_secret (bad options are refused before any call: no instance is ever modified)


@FIXTURES
@given(
    args=st.one_of(
        st.builds(
            lambda v: {"db_instance_identifier": v},
            st.one_of(st.sampled_from(INJECTIONS), NASTY_TEXT).filter(
                lambda s: not rds_instance_master_user_secret.IDENTIFIER.fullmatch(s)
            ),
        ),
        st.builds(
            lambda v: {"kms_key_id": v},
            st.one_of(st.sampled_from(INJECTIONS), NASTY_TEXT).filter(
                lambda s: not rds_instance_master_user_secret.KEY.fullmatch(s)
            ),
        ),
        st.builds(lambda v: {"rotation_days": v}, st.integers().filter(lambda n: not 1 <= n <= 1000)),
        st.builds(lambda v: {"rotation_days": v}, NOT_A_STRING),
    )
)
def test_rds_instance_master_user_secret_refuses_bad_options(run, args):
    calls = []
    with moto_modules.fake_operations(
        {
            "DescribeDBInstances": lambda p: calls.append(p) or {"DBInstances": []},
            "ModifyDBInstance": lambda p: calls.append(p) or {},
        }
    ):
        result = run(rds_instance_master_user_secret, {"db_instance_identifier": "keep", **args})
    _failed(result, next(iter(args)))
    assert calls == []


# secretsmanager_rotation_schedule (bad options are refused before any call: no schedule is ever set)

ROTATION_FUNCTION = f"arn:aws:lambda:{REGION}:123456789012:function:keep"


@FIXTURES
@given(
    args=st.one_of(
        st.builds(
            lambda v: {"rotation_lambda_arn": v},
            st.one_of(st.sampled_from(INJECTIONS), NASTY_TEXT).filter(
                lambda s: not secretsmanager_rotation_schedule.FUNCTION_ARN.fullmatch(s)
            ),
        ),
        st.builds(lambda v: {"rotation_days": v}, st.integers().filter(lambda n: not 1 <= n <= 1000)),
        st.builds(lambda v: {"rotation_days": v}, NOT_A_STRING),
        st.builds(lambda v: {"secrets": v}, st.lists(st.sampled_from(["", " "]), min_size=1, max_size=3)),
        st.builds(lambda v: {"state": v}, _not_in(["present", "absent"])),
    )
)
def test_secretsmanager_rotation_schedule_refuses_bad_options(run, args):
    calls = []
    with moto_modules.fake_operations(
        {
            "DescribeSecret": lambda p: calls.append(p) or {},
            "RotateSecret": lambda p: calls.append(p) or {},
            "CancelRotateSecret": lambda p: calls.append(p) or {},
        }
    ):
        result = run(
            secretsmanager_rotation_schedule,
            {"secrets": ["keep/postgres/app_rw"], "rotation_lambda_arn": ROTATION_FUNCTION, **args},
        )
    _failed(result, next(iter(args)))
    assert calls == []


# lambda_package (bad inputs are refused before anything is written)


@FIXTURES
@given(
    args=st.one_of(
        st.builds(
            lambda v: {"files": [{"src": __file__, "dest": v}]},
            st.one_of(
                st.sampled_from(["/etc/passwd", "../x.py", "a/../../b", ".", "a\\b", ""]),
                st.text(max_size=5).map(lambda t: "/" + t),
            ),
        ),
        st.builds(lambda v: {"files": v}, NOT_A_LIST),
        st.builds(
            lambda v: {"wheels": [v]},
            st.text(min_size=1, max_size=20).filter(lambda t: not t.endswith(".whl")),
        ),
    )
)
def test_lambda_package_refuses_bad_inputs_before_writing(run, args, tmp_path_factory):
    dest = tmp_path_factory.mktemp("package") / "package.zip"
    result = run(lambda_package, {"dest": str(dest), "files": [{"src": __file__, "dest": "a.py"}], **args})
    _failed(result, next(iter(args)))
    assert not dest.exists()


# elasticache_replication_group


def _replication_groups():
    return sorted(
        (g["ReplicationGroupId"], g["Status"], g["CacheNodeType"], g["SnapshotRetentionLimit"])
        for g in _client("elasticache").describe_replication_groups()["ReplicationGroups"]
    )


CACHE_GROUP = {"replication_group_id": "keep", "cache_node_type": "cache.t4g.small", "node_count": 2}


@FIXTURES
@given(
    group_id=NASTY_TEXT.filter(lambda s: not elasticache_replication_group.ID_PATTERN.fullmatch(s)),
    state=st.sampled_from(["present", "absent"]),
)
def test_elasticache_replication_group_refuses_bad_identifiers(run, group_id, state):
    before = _replication_groups()
    args = {**CACHE_GROUP, "replication_group_id": group_id, "state": state}
    result = run(elasticache_replication_group, args)
    _failed(result, "Refused before any change: ", "replication_group_id: ")
    assert _replication_groups() == before


@FIXTURES
@given(
    args=st.one_of(
        st.builds(lambda v: {"node_count": v}, st.one_of(st.integers(max_value=0), st.integers(min_value=7))),
        st.builds(
            lambda v: {"snapshot_retention_limit": v},
            st.one_of(st.integers(max_value=-1), st.integers(min_value=36)),
        ),
        st.builds(
            lambda v: {"snapshot_window": v},
            st.one_of(st.sampled_from(INJECTIONS), NASTY_TEXT).filter(
                lambda s: not elasticache_replication_group.WINDOW.fullmatch(s)
            ),
        ),
        st.builds(
            lambda v: {"preferred_maintenance_window": v},
            NASTY_TEXT.filter(lambda s: not elasticache_replication_group.WEEKLY_WINDOW.fullmatch(s)),
        ),
        st.builds(
            lambda v: {"engine_version": v},
            NASTY_TEXT.filter(lambda s: not elasticache_replication_group.VERSION.fullmatch(s)),
        ),
        st.builds(lambda v: {"at_rest_encryption": v}, NOT_A_BOOL),
        st.builds(lambda v: {"transit_encryption": v}, NOT_A_BOOL),
        st.builds(lambda v: {"engine": v}, _not_in(["redis"])),
        st.builds(lambda v: {"state": v}, _not_in(["present", "absent"])),
        st.builds(lambda v: {"port": v}, st.one_of(st.integers(max_value=0), st.integers(min_value=65536))),
    )
)
def test_elasticache_replication_group_refuses_bad_options(run, args):
    before = _replication_groups()
    option = next(iter(args))
    _failed(run(elasticache_replication_group, {**CACHE_GROUP, **args}), option)
    assert _replication_groups() == before


@FIXTURES
@given(token=st.text(st.characters(codec="ascii", min_codepoint=33, max_codepoint=126), max_size=15))
def test_elasticache_replication_group_never_echoes_a_refused_token(run, token):
    assume(len(token) >= 4)  # Ansible masks no_log values everywhere, but not the shortest ones
    before = _replication_groups()
    message = _failed(run(elasticache_replication_group, {**CACHE_GROUP, "auth_token": token}), "auth_token")
    assert token not in message
    assert _replication_groups() == before


# elasticache_parameter_group (moto implements no cache parameter groups: a refusal must make no call)


@FIXTURES
@given(
    args=st.one_of(
        st.builds(
            lambda v: {"name": v},
            NASTY_TEXT.filter(lambda s: not elasticache_parameter_group.NAME_PATTERN.fullmatch(s)),
        ),
        st.builds(
            lambda v: {"family": v},
            NASTY_TEXT.filter(lambda s: not elasticache_parameter_group.FAMILY_PATTERN.fullmatch(s)),
        ),
        st.builds(
            lambda v: {"parameters": {v: "1"}},
            st.one_of(st.sampled_from(INJECTIONS), NASTY_TEXT).filter(
                lambda s: not elasticache_parameter_group.PARAMETER_NAME.fullmatch(s)
            ),
        ),
        st.builds(lambda v: {"parameters": {"maxmemory-policy": v}}, NOT_A_STRING),
        st.builds(lambda v: {"state": v}, _not_in(["present", "absent"])),
    )
)
def test_elasticache_parameter_group_refuses_bad_options_without_a_call(run, args):
    option = next(iter(args))
    operations = (
        "DescribeCacheParameterGroups",
        "DescribeCacheParameters",
        "CreateCacheParameterGroup",
        "ModifyCacheParameterGroup",
        "DeleteCacheParameterGroup",
        "AddTagsToResource",
        "RemoveTagsFromResource",
        "ListTagsForResource",
    )
    with moto_modules.fake_operations(dict.fromkeys(operations, lambda params: {})) as calls:
        result = run(elasticache_parameter_group, {"name": "keep", "family": "redis7", **args})
    _failed(result, option)
    assert calls == []


# eks_cluster


EKS_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/keep"


def _eks_state():
    eks = _client("eks")
    return sorted(
        (
            name,
            json_dumps(eks.describe_cluster(name=name)["cluster"].get("resourcesVpcConfig", {})),
            tuple(
                (
                    g,
                    json_dumps(
                        eks.describe_nodegroup(clusterName=name, nodegroupName=g)["nodegroup"][
                            "scalingConfig"
                        ]
                    ),
                )
                for g in sorted(eks.list_nodegroups(clusterName=name)["nodegroups"])
            ),
        )
        for name in eks.list_clusters()["clusters"]
    )


def json_dumps(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _seed_cluster():
    eks = _client("eks")
    if "keep" in eks.list_clusters()["clusters"]:
        return
    eks.create_cluster(
        name="keep", roleArn=EKS_ROLE, resourcesVpcConfig={"subnetIds": ["subnet-1", "subnet-2"]}
    )
    eks.create_nodegroup(
        clusterName="keep",
        nodegroupName="general",
        nodeRole=EKS_ROLE,
        subnets=["subnet-1"],
        scalingConfig={"minSize": 1, "desiredSize": 1, "maxSize": 2},
    )


world = st.one_of(
    st.just("0.0.0.0/0"),
    st.just("::/0"),
    st.builds(lambda a, b: f"{a}.{b}.0.0/0", st.integers(0, 255), st.integers(0, 255)),
)


@FIXTURES
@given(
    args=st.one_of(
        st.builds(
            lambda v: {"name": v}, NASTY_TEXT.filter(lambda s: not eks_cluster.NAME_PATTERN.fullmatch(s))
        ),
        st.builds(
            lambda v: {"version": v},
            NASTY_TEXT.filter(lambda s: not eks_cluster.VERSION_PATTERN.fullmatch(s)),
        ),
        st.builds(
            lambda cidrs: {"endpoint_public_access": True, "public_access_cidrs": cidrs},
            st.lists(
                st.one_of(world, NASTY_TEXT.filter(lambda s: "/" not in s or not s.strip())),
                min_size=1,
                max_size=3,
            ),
        ),
        st.builds(lambda v: {"secrets_kms_key_arn": v}, st.one_of(st.sampled_from(INJECTIONS), NASTY_TEXT)),
        st.builds(lambda v: {"logging_types": [v]}, _not_in(eks_cluster.LOG_TYPES)),
        st.builds(lambda v: {"state": v}, _not_in(["present", "absent"])),
        st.builds(lambda v: {"endpoint_public_access": v}, NOT_A_BOOL),
    )
)
def test_eks_cluster_refuses_bad_options(run, args):
    _seed_cluster()
    before = _eks_state()
    option = next(iter(args))
    if option == "endpoint_public_access" and "public_access_cidrs" in args:
        option = "public_access_cidrs"
    result = run(
        eks_cluster, {"name": "keep", "role_arn": EKS_ROLE, "subnets": ["subnet-1", "subnet-2"], **args}
    )
    _failed(result, option)
    assert _eks_state() == before


# ---------------------------------------------------------------------------------------------
# Database modules against the throwaway PostgreSQL cluster


CATALOG = (
    "SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' "
    "ORDER BY 1, 2"
)


def _catalog(cluster, db) -> tuple:
    with cluster.connect(db) as conn:
        relations = conn.execute(CATALOG).fetchall()
        schemas = conn.execute("SELECT nspname FROM pg_namespace ORDER BY 1").fetchall()
        functions = conn.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'public' ORDER BY 1"
        ).fetchall()
        rows = ()
        if conn.execute("SELECT to_regclass('public.schema_migrations') IS NOT NULL").fetchone()[0]:
            rows = tuple(
                conn.execute("SELECT version, name, checksum FROM public.schema_migrations ORDER BY 1")
            )
        keys = ()
        if conn.execute("SELECT to_regclass('public.encryption_keys') IS NOT NULL").fetchone()[0]:
            keys = tuple(conn.execute("SELECT purpose, version, active FROM encryption_keys ORDER BY 1, 2"))
    return relations, schemas, functions, rows, keys


@pytest.fixture
def run_db(capsys):
    return lambda module, args, **kwargs: moto_modules.runner(module, capsys)(args, **kwargs)


bad_tables = st.one_of(
    st.sampled_from(INJECTIONS),
    NASTY_TEXT,
    st.sampled_from(
        ["Public.schema_migrations", "a.b.c", ".t", "t.", "public.", "1t", '"t"', "pg_catalog.pg_class;"]
    ),
).filter(lambda s: not pg_migrate.TABLE_RE.match(s))


@FIXTURES
@given(table=bad_tables, check_mode=st.booleans())
def test_pg_migrate_refuses_bad_migrations_tables(pg_cluster, empty_db, run_db, table, check_mode):
    before = _catalog(pg_cluster, empty_db)
    args = {**pg_cluster.login(empty_db), "path": str(MIGRATIONS), "migrations_table": table}
    _failed(
        run_db(pg_migrate, args, check_mode=check_mode), "migrations_table=", "[schema.]table in lower case"
    )
    assert _catalog(pg_cluster, empty_db) == before


@FIXTURES
@given(
    target=st.one_of(
        st.text(st.characters(codec="ascii"), min_size=1, max_size=10).filter(
            lambda s: not s.strip().isdigit()
        ),
        st.sampled_from(["-1", "1.5", "0x3", "3; DROP TABLE users", "1e3", "+3", "3 4"]),
        st.sampled_from(INJECTIONS),
    ).filter(lambda s: s.strip() != "")
)
def test_pg_migrate_refuses_bad_targets(pg_cluster, migrated_db, run_db, target):
    before = _catalog(pg_cluster, migrated_db)
    args = {**pg_cluster.login(migrated_db), "path": str(MIGRATIONS), "target": target}
    _failed(run_db(pg_migrate, args), "target=", "must be a version number")
    assert _catalog(pg_cluster, migrated_db) == before


@pytest.fixture
def migrated_by_module(pg_cluster, empty_db, run_db):
    """empty_db migrated by pg_migrate itself (with its bookkeeping table)."""
    assert run_db(pg_migrate, {**pg_cluster.login(empty_db), "path": str(MIGRATIONS)})["rc"] == 0
    return empty_db


@FIXTURES
@given(target=st.integers(max(int(p.name[:4]) for p in MIGRATIONS.glob("*.up.sql")) + 1, 10**6).map(str))
def test_pg_migrate_refuses_targets_of_no_migration(pg_cluster, migrated_by_module, run_db, target):
    before = _catalog(pg_cluster, migrated_by_module)
    args = {**pg_cluster.login(migrated_by_module), "path": str(MIGRATIONS), "target": target}
    _failed(run_db(pg_migrate, args), f"target={int(target)}: no migration has this version")
    assert _catalog(pg_cluster, migrated_by_module) == before


def test_pg_migrate_refused_target_leaves_a_fresh_database_unchanged(pg_cluster, empty_db, run_db):
    before = _catalog(pg_cluster, empty_db)
    args = {**pg_cluster.login(empty_db), "path": str(MIGRATIONS), "target": "9999"}
    _failed(run_db(pg_migrate, args), "target=9999: no migration has this version")
    assert _catalog(pg_cluster, empty_db) == before


def test_pg_migrate_refuses_a_superscript_target(pg_cluster, migrated_db, run_db):
    args = {**pg_cluster.login(migrated_db), "path": str(MIGRATIONS), "target": "²"}
    _failed(run_db(pg_migrate, args), "target=")


def test_pg_migrate_refuses_a_migrations_table_ending_in_a_newline(pg_cluster, empty_db, run_db):
    before = _catalog(pg_cluster, empty_db)
    args = {
        **pg_cluster.login(empty_db),
        "path": str(MIGRATIONS),
        "migrations_table": "public.schema_migrations\n",
    }
    result = run_db(pg_migrate, args)
    assert _catalog(pg_cluster, empty_db) == before
    _failed(result, "migrations_table=")


@FIXTURES
@given(
    path=st.one_of(
        st.sampled_from(
            ["../../etc", "/etc/passwd", "", "/nonexistent/../../x", "~nobody/x", "$HOME/x", "a\x00b"]
        ),
        NASTY_TEXT.map(lambda s: "/nonexistent-" + s.replace("\x00", "")),
    )
)
def test_pg_migrate_refuses_paths_that_are_no_directory_of_migrations(pg_cluster, empty_db, run_db, path):
    assume(not os.path.isdir(os.path.expanduser(os.path.expandvars(path))))  # e.g. ../../etc is /etc
    before = _catalog(pg_cluster, empty_db)
    args = {**pg_cluster.login(empty_db), "path": path}
    message = _failed(run_db(pg_migrate, args))
    assert (
        "path=" in message
        or "not a directory" in message
        or "'path'" in message
        or "a migration file" in message
    ), message
    assert _catalog(pg_cluster, empty_db) == before


@FIXTURES
@given(name=NASTY_TEXT.filter(lambda s: "\x00" not in s and "/" not in s and s not in (".", "..")))
def test_pg_migrate_refuses_badly_named_migration_files(pg_cluster, empty_db, run_db, tmp_path_factory, name):
    directory = tmp_path_factory.mktemp("migrations")
    try:
        (directory / f"{name}.sql").write_text("CREATE TABLE should_not_exist (id int);")
    except OSError:
        assume(False)
    assume(not pg_migrate.FILE_RE.match(f"{name}.sql"))
    before = _catalog(pg_cluster, empty_db)
    _failed(
        run_db(pg_migrate, {**pg_cluster.login(empty_db), "path": str(directory)}),
        "a migration file must be named",
    )
    assert _catalog(pg_cluster, empty_db) == before


@FIXTURES
@given(
    option=st.sampled_from(["lock_key", "lock_timeout", "login_port", "connect_timeout"]), value=NASTY_TEXT
)
def test_pg_migrate_refuses_integers_that_are_not(pg_cluster, empty_db, run_db, option, value):
    assume(not value.strip().lstrip("+-").isdigit())
    before = _catalog(pg_cluster, empty_db)
    args = {**pg_cluster.login(empty_db), "path": str(MIGRATIONS), option: value}
    _failed(run_db(pg_migrate, args), f"'{option}'", "int")
    assert _catalog(pg_cluster, empty_db) == before


bad_identifiers = st.one_of(
    st.sampled_from(INJECTIONS),
    NASTY_TEXT,
    st.text(st.sampled_from("abc_"), min_size=64, max_size=100),
).filter(lambda s: not pii_keyring.envelope._IDENTIFIER.match(s))


@FIXTURES
@given(
    field=st.sampled_from(["table", "column", "id_column", "source_column"]),
    value=bad_identifiers,
)
def test_pii_keyring_refuses_bad_identifiers_in_columns(pg_cluster, migrated_db, run_db, aws, field, value):
    before = _catalog(pg_cluster, migrated_db)
    purpose = "blind_index" if field == "source_column" else "pii"
    column = {"table": "users", "column": "email_bidx" if purpose == "blind_index" else "email_ciphertext"}
    if purpose == "blind_index":
        column["source_column"] = "email_ciphertext"
    assume(not (field == "id_column" and value == ""))  # empty means the default, id
    column[field] = value
    args = {**pg_cluster.login(migrated_db), "purpose": purpose, "kms_key_id": "alias/x", "region": REGION}
    result = run_db(pii_keyring, {**args, "columns": [column]})
    if field == "source_column" and value == "":
        _failed(result, "columns[0].source_column is required when purpose=blind_index")
    else:
        _failed(result, "columns[0]: ", f"{field} {value!r} must match")
    assert _catalog(pg_cluster, migrated_db) == before


@FIXTURES
@given(
    args=st.one_of(
        st.builds(lambda v: {"purpose": v}, _not_in(["pii", "blind_index"])),
        st.builds(lambda v: {"state": v}, _not_in(["present", "rotated"])),
        st.builds(
            lambda v: {"batch_size": v}, st.one_of(st.integers(max_value=0), st.integers(min_value=100001))
        ),
        st.builds(
            lambda v: {"batch_size": v}, NASTY_TEXT.filter(lambda s: not s.strip().lstrip("+-").isdigit())
        ),
        st.builds(lambda v: {"kms_key_id": v}, st.text(" \t\n", min_size=1, max_size=5)),
        st.builds(lambda v: {"connect_timeout": v}, st.integers(max_value=0)),
        st.builds(
            lambda v: {"columns": v}, st.one_of(NOT_A_LIST, st.lists(st.integers(), min_size=1, max_size=2))
        ),
    )
)
def test_pii_keyring_refuses_bad_options(pg_cluster, migrated_db, run_db, aws, args):
    before = _catalog(pg_cluster, migrated_db)
    login = {**pg_cluster.login(migrated_db), "purpose": "pii", "kms_key_id": "alias/x", "region": REGION}
    option = next(iter(args))
    _failed(run_db(pii_keyring, {**login, **args}), option)
    assert _catalog(pg_cluster, migrated_db) == before


def test_pii_keyring_refuses_a_source_column_for_pii(pg_cluster, migrated_db, run_db, aws):
    before = _catalog(pg_cluster, migrated_db)
    column = {"table": "users", "column": "email_ciphertext", "source_column": "email_ciphertext"}
    args = {**pg_cluster.login(migrated_db), "purpose": "pii", "kms_key_id": "alias/x", "region": REGION}
    _failed(run_db(pii_keyring, {**args, "columns": [column]}), "columns[0].source_column is only valid")
    assert _catalog(pg_cluster, migrated_db) == before


def test_pii_keyring_refuses_an_identifier_ending_in_a_newline(pg_cluster, migrated_db, run_db, aws):
    column = {"table": "users\n", "column": "email_ciphertext"}
    args = {**pg_cluster.login(migrated_db), "purpose": "pii", "kms_key_id": "alias/x", "region": REGION}
    _failed(run_db(pii_keyring, {**args, "columns": [column]}), "columns[0]: ", "must match")


@FIXTURES
@given(
    args=st.one_of(
        st.builds(lambda v: {"fail_on_break": v}, NOT_A_BOOL),
        st.builds(
            lambda v: {"expected_heads": v},
            st.one_of(NOT_A_LIST, st.lists(st.integers(), min_size=1, max_size=2)),
        ),
        st.builds(lambda v: {"ssl_mode": v}, _not_in([])),
        st.builds(
            lambda v: {"login_port": v}, NASTY_TEXT.filter(lambda s: not s.strip().lstrip("+-").isdigit())
        ),
    )
)
def test_audit_verify_refuses_bad_options(pg_cluster, migrated_db, run_db, args):
    before = _catalog(pg_cluster, migrated_db)
    option = next(iter(args))
    _failed(run_db(audit_verify, {**pg_cluster.login(migrated_db, user="auditor"), **args}), option)
    assert _catalog(pg_cluster, migrated_db) == before


def test_audit_verify_names_a_non_numeric_expected_heads_key(pg_cluster, migrated_db, run_db):
    args = {**pg_cluster.login(migrated_db, user="auditor"), "expected_heads": {"shard-0": {"seq": 1}}}
    _failed(run_db(audit_verify, args), "expected_heads")


# audit_anchor (a bucket that cannot keep anchors: the run fails, nothing is signed nor written)

PLAIN_BUCKET = "anchors-without-object-lock"


@FIXTURES
@given(
    bucket=st.one_of(st.just(PLAIN_BUCKET), NASTY_TEXT),
    prefix=st.one_of(st.just("audit-anchors/"), NASTY_TEXT),
)
def test_audit_anchor_writes_nothing_to_a_bucket_without_a_compliance_lock(
    pg_cluster, migrated_db, run_db, aws, bucket, prefix
):
    s3 = _client("s3")
    if PLAIN_BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=PLAIN_BUCKET)
    args = {
        **pg_cluster.login(migrated_db, user="auditor"),
        "bucket": bucket,
        "prefix": prefix,
        "key_id": "alias/audit-anchor",
        "region": REGION,
    }
    message = _failed(run_db(audit_anchor, args))
    assert message.startswith(("could not list the anchors", f"bucket={bucket}: anchors go only")), message
    assert s3.list_object_versions(Bucket=PLAIN_BUCKET).get("Versions", []) == []


# aws_offerings_info (read-only: a bad option is refused before any question is asked)


def _not_matching(option):
    return NASTY_TEXT.filter(lambda value: not aws_offerings_info.PATTERNS[option].match(value))


@FIXTURES
@given(
    args=st.one_of(
        st.builds(lambda v: {"eks_versions": v}, NOT_A_BOOL),
        st.builds(lambda v: {"cache_engine": v}, _not_in(["redis", "valkey"])),
        st.builds(
            lambda v: {"instance_types": [v], "zones": ["us-east-1a"]}, _not_matching("instance_types")
        ),
        st.builds(lambda v: {"zones": [v], "instance_types": ["t3.medium"]}, _not_matching("zones")),
        st.builds(lambda v: {"eks_cluster_name": v}, _not_matching("eks_cluster_name")),
        st.builds(lambda v: {"rds_engine_version": v}, _not_matching("rds_engine_version")),
        st.builds(lambda v: {"rds_engine_version": "17.10", "rds_engine": v}, _not_matching("rds_engine")),
    )
)
def test_aws_offerings_info_refuses_bad_options_without_asking_aws(run, args):
    calls = []
    original = botocore.client.BaseClient._make_api_call

    def record(self, operation, params):
        calls.append(operation)
        return original(self, operation, params)

    with mock.patch.object(botocore.client.BaseClient, "_make_api_call", record):
        message = _failed(run(aws_offerings_info, args))
    assert any(option in message for option in args), message
    assert calls == []


# secretsmanager_rotation_schedule_info (read-only: a list with an empty name is refused before any
# question; any other names are answered without a change)


@FIXTURES
@given(
    names=st.lists(NASTY_TEXT, min_size=0, max_size=3),
    blank=st.sampled_from(["", " ", "\t", "  \n"]),
    where=st.integers(min_value=0, max_value=3),
)
def test_secretsmanager_rotation_schedule_info_refuses_an_empty_name_without_asking_aws(
    run, names, blank, where
):
    secrets = [*names[:where], blank, *names[where:]]
    calls = []
    original = botocore.client.BaseClient._make_api_call

    def record(self, operation, params):
        calls.append(operation)
        return original(self, operation, params)

    with mock.patch.object(botocore.client.BaseClient, "_make_api_call", record):
        message = _failed(run(secretsmanager_rotation_schedule_info, {"secrets": secrets}))
    assert "secrets: one or more secret names or ARNs, none of them empty" in message, message
    assert calls == []


# budgets_budget and ce_cost_allocation_tags (every AWS call recorded: a bad option is refused before
# any, STS's included)

_BUDGET = {
    "name": "giftcrypto-test-monthly",
    "limit_amount": 100,
    "notifications": [{"threshold": 80, "sns_topic_arns": [f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:warning"]}],
}


def _calls_of(module, args, run):
    calls = []
    original = botocore.client.BaseClient._make_api_call

    def record(self, operation, params):
        calls.append(operation)
        return original(self, operation, params)

    with mock.patch.object(botocore.client.BaseClient, "_make_api_call", record):
        result = run(module, args)
    return result, calls


@FIXTURES
@given(
    args=st.one_of(
        st.builds(lambda v: {"name": v}, NASTY_TEXT.filter(lambda s: not s or ":" in s or "\\" in s)),
        st.builds(
            lambda v: {"limit_amount": v}, st.floats(max_value=0, allow_nan=False, allow_infinity=False)
        ),
        st.builds(lambda v: {"limit_amount": v}, NASTY_TEXT.filter(lambda s: not _is_float(s))),
        st.builds(lambda v: {"time_unit": v}, _not_in(["DAILY", "MONTHLY", "QUARTERLY", "ANNUALLY"])),
        st.builds(lambda v: {"budget_type": v}, _not_in(["COST"])),
        st.builds(lambda v: {"notifications": v}, NOT_A_LIST),
        st.builds(
            lambda v: {"notifications": [{**_BUDGET["notifications"][0], "threshold": v}]},
            st.floats(max_value=0, allow_nan=False, allow_infinity=False),
        ),
        st.builds(
            lambda v: {"notifications": [{"threshold": 80, "sns_topic_arns": [v]}]},
            NASTY_TEXT.filter(lambda s: not (s.startswith("arn:") and ":sns:" in s)),
        ),
        st.builds(lambda v: {"cost_filters": {"TagKeyValue": v}}, st.one_of(st.integers(), st.just([]))),
    )
)
def test_budgets_budget_refuses_bad_options_before_any_call(run, args):
    result, calls = _calls_of(budgets_budget, {**_BUDGET, **args}, run)
    message = _failed(result)
    option = next(iter(args))
    assert option in message or "threshold" in message or "sns_topic_arns" in message, message
    assert calls == []


def _is_float(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


@FIXTURES
@given(
    args=st.one_of(
        st.builds(lambda v: {"tag_keys": v}, st.just([])),
        st.builds(lambda v: {"tag_keys": ["Project", v]}, st.text(max_size=20).map(lambda s: "aws:" + s)),
        st.builds(lambda v: {"tag_keys": [str(i) for i in range(v)]}, st.integers(101, 150)),
        st.builds(lambda v: {"tag_keys": ["Project"], "status": v}, _not_in(["Active", "Inactive"])),
    )
)
def test_ce_cost_allocation_tags_refuses_bad_options_before_any_call(run, args):
    result, calls = _calls_of(ce_cost_allocation_tags, args, run)
    message = _failed(result)
    assert "tag_keys" in message or "status" in message, message
    assert calls == []


# cognito_user_pool, cognito_user_pool_client and appconfig_feature_flags (every AWS call recorded:
# a bad option is refused before any)


@FIXTURES
@given(
    args=st.one_of(
        st.builds(
            lambda v: {"password_policy": {"minimum_length": v}},
            st.integers().filter(lambda n: not 6 <= n <= 99),
        ),
        st.builds(
            lambda v: {"password_policy": {"temporary_password_validity_days": v}},
            st.integers().filter(lambda n: not 0 <= n <= 365),
        ),
        st.builds(
            lambda v: {"password_policy": {"password_history_size": v}},
            st.integers().filter(lambda n: not 0 <= n <= 24),
        ),
        st.builds(lambda v: {"mfa": v}, _not_in(["OFF", "ON", "OPTIONAL"])),
        st.builds(lambda v: {"tier": v}, _not_in(["LITE", "ESSENTIALS", "PLUS"])),
        st.builds(
            lambda v: {"advanced_security_mode": v, "tier": "ESSENTIALS"},
            st.sampled_from(["AUDIT", "ENFORCED"]),
        ),
        st.builds(lambda v: {"deletion_protection": v}, NOT_A_BOOL),
    )
)
def test_cognito_user_pool_refuses_bad_options_before_any_call(run, args):
    result, calls = _calls_of(cognito_user_pool, {"name": "giftcrypto-test-users", **args}, run)
    message = _failed(result)
    option = next(iter(args))
    assert option in message, message
    assert calls == []


@FIXTURES
@given(
    args=st.one_of(
        st.builds(
            lambda option, v: {option: v},
            st.sampled_from(["access_token_validity_minutes", "id_token_validity_minutes"]),
            st.integers().filter(lambda n: not 5 <= n <= 1440),
        ),
        st.builds(
            lambda v: {"refresh_token_validity_minutes": v},
            st.integers().filter(lambda n: not 60 <= n <= 3650 * 1440),
        ),
        st.builds(
            lambda v: {"auth_session_validity_minutes": v}, st.integers().filter(lambda n: not 3 <= n <= 15)
        ),
        st.builds(
            lambda v: {"refresh_token_retry_grace_seconds": v},
            st.integers().filter(lambda n: not 0 <= n <= 60),
        ),
        st.builds(lambda v: {"explicit_auth_flows": v}, NOT_A_LIST),
        st.builds(lambda v: {"refresh_token_rotation": v}, NOT_A_BOOL),
    )
)
def test_cognito_user_pool_client_refuses_bad_options_before_any_call(run, args):
    base = {"user_pool_id": f"{REGION}_AbCdEf123", "name": "giftcrypto-test-api"}
    result, calls = _calls_of(cognito_user_pool_client, {**base, **args}, run)
    message = _failed(result)
    assert next(iter(args)) in message, message
    assert calls == []


_FLAGS = {
    "application": "giftcrypto-test",
    "environment": "test",
    "deployment_strategy": {"name": "giftcrypto-test-linear", "deployment_duration_in_minutes": 10},
    "content": {
        "version": "1",
        "flags": {"stats_replica_reads": {"name": "stats_replica_reads"}},
        "values": {"stats_replica_reads": {"enabled": True}},
    },
}


@FIXTURES
@given(
    args=st.one_of(
        st.builds(lambda v: {"application": v}, st.text(min_size=65, max_size=80)),
        st.builds(lambda v: {"environment": v}, st.one_of(st.just(""), st.text(min_size=65, max_size=80))),
        st.builds(lambda v: {"configuration_profile": v}, st.text(min_size=129, max_size=140)),
        st.builds(
            lambda v: {"deployment_strategy": {"name": "giftcrypto-test-linear", "growth_factor": v}},
            st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not 1 <= f <= 100),
        ),
        st.builds(
            lambda v: {
                "deployment_strategy": {"name": "giftcrypto-test-linear", "final_bake_time_in_minutes": v}
            },
            st.integers().filter(lambda n: not 0 <= n <= 1440),
        ),
        st.builds(
            lambda v: {"deployment_strategy": {"name": "giftcrypto-test-linear", "growth_type": v}},
            _not_in(["LINEAR", "EXPONENTIAL"]),
        ),
        st.builds(
            lambda v: {"content": {**_FLAGS["content"], "version": v}}, NASTY_TEXT.filter(lambda s: s != "1")
        ),
        st.builds(lambda v: {"content": {**_FLAGS["content"], "flags": v}}, NOT_A_LIST),
    )
)
def test_appconfig_feature_flags_refuses_bad_options_before_any_call(run, args):
    result, calls = _calls_of(appconfig_feature_flags, {**_FLAGS, **args}, run)
    message = _failed(result)
    assert next(iter(args)) in message, message
    assert calls == []


def test_every_module_has_a_property():
    modules = {p.stem for p in pathlib.Path(pg_migrate.__file__).parent.glob("*.py") if p.stem != "__init__"}
    tested = {m.__name__.rsplit(".", 1)[1] for m in COVERED}
    assert modules == tested
