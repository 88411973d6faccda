"""Unit tests of plugins/modules/elasticache_replication_group.py under moto (create, no-op,
update, check mode, delete, refusals, throttling). The AUTH token must never come back."""

from __future__ import annotations

import json

import boto3
import botocore.client
import botocore.exceptions
import pytest
from ansible_collections.giftcrypto.platform.plugins.modules import elasticache_replication_group as module
from moto import mock_aws

from tests.unit import moto_modules
from tests.unit.moto_modules import ACCOUNT_ID, REGION

aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(module)

GROUP = "giftcrypto-test"
ARN = f"arn:aws:elasticache:{REGION}:{ACCOUNT_ID}:replicationgroup:{GROUP}"
TOKEN = "Zq8vN3xKp2LmR7tYw4HbC6dFj9"  # pragma: allowlist secret
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TAGS = {"Project": "GiftCrypto", "Environment": "test"}


def _client():
    return boto3.client("elasticache", region_name=REGION)


def _stored():
    groups = _client().describe_replication_groups()["ReplicationGroups"]
    return next((g for g in groups if g["ReplicationGroupId"] == GROUP and g["Status"] != "deleting"), None)


def _tags():
    return {t["Key"]: t["Value"] for t in _client().list_tags_for_resource(ResourceName=ARN)["TagList"]}


def _args(**changes) -> dict:
    return {
        "replication_group_id": GROUP,
        "description": "GiftCrypto Redis",
        "engine_version": "7.1",
        "cache_node_type": "cache.t4g.small",
        "node_count": 3,
        "kms_key_id": KEY,
        "auth_token": TOKEN,
        "snapshot_retention_limit": 7,
        "snapshot_window": "02:00-03:00",
        "preferred_maintenance_window": "sun:05:00-sun:06:00",
        "security_group_ids": ["sg-0123456789abcdef0"],
        "cache_subnet_group_name": "giftcrypto-test-cache",
        "tags": TAGS,
        **changes,
    }


def _no_token(result):
    assert TOKEN not in json.dumps(result)


@mock_aws
def test_lifecycle_check_create_noop_update_delete(run_module):
    # Check mode on nothing: planned, nothing stored.
    result = run_module(_args(), check_mode=True)
    assert result["rc"] == 0, result
    assert result["changed"] is True and result["planned"] == "create"
    assert result["replication_group"]["status"] == "planned"
    assert result["replication_group"]["name"] == GROUP and result["replication_group"]["arn"] == ""
    assert result["diff"]["before"] == {}
    assert result["diff"]["after"]["auth_token_enabled"] is True
    _no_token(result)
    assert _stored() is None

    # Create: encrypted at rest with the key, in transit, AUTH, three nodes, failover, Multi-AZ.
    result = run_module(_args())
    assert result["changed"] is True, result
    _no_token(result)
    group = _stored()
    assert group["AtRestEncryptionEnabled"] is True and group["KmsKeyId"] == KEY
    assert group["TransitEncryptionEnabled"] is True and group["AuthTokenEnabled"] is True
    assert group["AutomaticFailover"] == "enabled" and group["MultiAZ"] == "enabled"
    assert group["MemberClusters"] == [f"{GROUP}-001", f"{GROUP}-002", f"{GROUP}-003"]
    assert group["SnapshotRetentionLimit"] == 7 and group["SnapshotWindow"] == "02:00-03:00"
    assert _tags() == TAGS
    view = result["replication_group"]
    assert view["arn"] == ARN and view["node_count"] == 3 and view["status"] == "available"
    assert view["primary_endpoint"]["port"] == 6379

    # No-op, in check mode and for real; what moto does not describe is said, not compared.
    for check_mode in (True, False):
        result = run_module(_args(), check_mode=check_mode)
        assert result["changed"] is False, result
        assert result["changes"] == []
        assert "engine_version" in result["unverified"]
        assert result["diff"]["before"] == result["diff"]["after"]
        _no_token(result)

    # Update: node type, retention and a tag; check mode plans exactly that and stores nothing.
    updated = _args(
        cache_node_type="cache.t4g.medium", snapshot_retention_limit=14, tags={**TAGS, "Owner": "sre"}
    )
    result = run_module(updated, check_mode=True)
    assert result["changed"] is True
    assert result["changes"] == ["cache_node_type", "snapshot_retention_limit", "tags"]
    assert result["diff"]["before"]["cache_node_type"] == "cache.t4g.small"
    assert result["diff"]["after"]["cache_node_type"] == "cache.t4g.medium"
    assert _stored()["CacheNodeType"] == "cache.t4g.small" and _tags() == TAGS
    result = run_module(updated)
    assert result["changed"] is True, result
    assert _stored()["CacheNodeType"] == "cache.t4g.medium"
    assert _stored()["SnapshotRetentionLimit"] == 14
    assert _tags() == {**TAGS, "Owner": "sre"}
    assert run_module(updated)["changed"] is False

    # Delete: check mode first, then for real; a group being deleted counts as gone.
    # (wait=false: moto keeps a deleted group in "deleting" for ever; the wait has its own test.)
    absent = {"replication_group_id": GROUP, "state": "absent", "wait": False}
    result = run_module(absent, check_mode=True)
    assert result["changed"] is True and _stored() is not None
    assert run_module(absent)["changed"] is True
    assert _stored() is None
    assert run_module(absent)["changed"] is False
    refused = run_module(_args())
    assert refused["rc"] == 1 and "is being deleted" in refused["msg"]


@mock_aws
def test_deletion_waits_until_the_group_is_gone_and_takes_a_final_snapshot(run_module, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda _s: None)
    run_module(_args())
    answers = iter(["available", "deleting", "deleting", None])

    def describe(params):
        status = next(answers)
        if status is None:
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "ReplicationGroupNotFoundFault", "Message": "gone"}},
                "DescribeReplicationGroups",
            )
        return {
            "ReplicationGroups": [
                {"ReplicationGroupId": GROUP, "Status": status, "ARN": ARN, "MemberClusters": []}
            ]
        }

    handlers = {
        "DescribeReplicationGroups": describe,
        "DeleteReplicationGroup": lambda p: {"ReplicationGroup": {}},
    }
    with moto_modules.fake_operations(handlers) as calls:
        result = run_module(
            {"replication_group_id": GROUP, "final_snapshot_identifier": f"{GROUP}-final", "state": "absent"}
        )
    assert result["changed"] is True, result
    assert [name for name, _ in calls].count("DescribeReplicationGroups") == 4
    assert calls[1] == (
        "DeleteReplicationGroup",
        {
            "ReplicationGroupId": GROUP,
            "RetainPrimaryCluster": False,
            "FinalSnapshotIdentifier": f"{GROUP}-final",
        },
    )


@mock_aws
def test_node_count_changes_use_the_replica_count_apis(run_module):
    run_module(_args())
    with moto_modules.fake_operations(
        {"IncreaseReplicaCount": lambda p: {}, "DecreaseReplicaCount": lambda p: {}}
    ) as calls:
        planned = run_module(_args(node_count=4), check_mode=True)
        assert calls == []
        more = run_module(_args(node_count=4))
        fewer = run_module(_args(node_count=2))
    assert planned["changes"] == ["node_count"] and planned["replication_group"]["node_count"] == 4
    assert more["changed"] is True and fewer["changed"] is True
    assert calls == [
        (
            "IncreaseReplicaCount",
            {"ReplicationGroupId": GROUP, "NewReplicaCount": 3, "ApplyImmediately": True},
        ),
        (
            "DecreaseReplicaCount",
            {"ReplicationGroupId": GROUP, "NewReplicaCount": 1, "ApplyImmediately": True},
        ),
    ]


def _member(**overrides):
    member = {
        "CacheClusterId": f"{GROUP}-001",
        "EngineVersion": "7.1.0",
        "CacheParameterGroup": {"CacheParameterGroupName": "giftcrypto-test-redis7"},
        "SecurityGroups": [{"SecurityGroupId": "sg-0123456789abcdef0", "Status": "active"}],
        "PreferredMaintenanceWindow": "sun:05:00-sun:06:00",
        "CacheSubnetGroupName": "giftcrypto-test-cache",
    }
    member.update(overrides)
    return {"CacheClusters": [member]}


@mock_aws
def test_on_real_elasticache_member_settings_are_compared(run_module):
    run_module(_args(cache_parameter_group_name="giftcrypto-test-redis7"))
    described = {"DescribeCacheClusters": lambda p: _member()}
    with moto_modules.fake_operations(described):
        result = run_module(_args(cache_parameter_group_name="giftcrypto-test-redis7"))
    assert result["changed"] is False, result
    assert result["unverified"] == []
    assert result["replication_group"]["engine_version"] == "7.1.0"
    # A newer minor the group already runs is kept; another parameter group and group are applied.
    described = {
        "DescribeCacheClusters": lambda p: _member(EngineVersion="7.2.4"),
        "ModifyReplicationGroup": lambda p: {"ReplicationGroup": {}},
    }
    with moto_modules.fake_operations(described) as calls:
        result = run_module(
            _args(cache_parameter_group_name="giftcrypto-test-redis7-b", security_group_ids=["sg-1", "sg-0"])
        )
    assert result["changes"] == ["cache_parameter_group_name", "security_group_ids"], result
    modify = [params for name, params in calls if name == "ModifyReplicationGroup"]
    assert modify == [
        {
            "ReplicationGroupId": GROUP,
            "ApplyImmediately": False,
            "CacheParameterGroupName": "giftcrypto-test-redis7-b",
            "SecurityGroupIds": ["sg-0", "sg-1"],
        }
    ]


@mock_aws
def test_a_group_without_auth_gets_the_token_set_never_shown(run_module):
    run_module(_args(auth_token=None))
    assert _stored()["AuthTokenEnabled"] is False
    with moto_modules.fake_operations(
        {"ModifyReplicationGroup": lambda p: {"ReplicationGroup": {}}}
    ) as calls:
        result = run_module(_args())
    assert result["changes"] == ["auth_token"]
    _no_token(result)
    assert calls[0][1]["AuthToken"] == TOKEN and calls[0][1]["AuthTokenUpdateStrategy"] == "SET"


@mock_aws
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"at_rest_encryption": False, "kms_key_id": None},
            "at_rest_encryption=False but the group has True",
        ),
        (
            {"transit_encryption": False, "auth_token": None},
            "transit_encryption=False but the group has True",
        ),
        ({"kms_key_id": KEY.replace("1234abcd", "9999abcd")}, "kms_key_id="),
        ({"port": 6380}, "port=6380 but the group listens on 6379"),
    ],
)
def test_settings_that_cannot_change_in_place_are_refused(run_module, changes, message):
    run_module(_args())
    result = run_module(_args(**changes))
    assert result["rc"] == 1, result
    assert "cannot be changed in place" in result["msg"] and message in result["msg"]
    assert _stored()["AtRestEncryptionEnabled"] is True


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"replication_group_id": "Bad_Name"}, "replication_group_id: 1 to 40 lower-case"),
        ({"replication_group_id": "a" * 41}, "replication_group_id: "),
        ({"node_count": 1}, "automatic_failover and multi_az need at least 2 nodes"),
        ({"node_count": 7}, "node_count: 1 to 6 nodes (a primary and up to 5 replicas), got 7"),
        ({"multi_az": True, "automatic_failover": False}, "multi_az: true needs automatic_failover=true"),
        ({"transit_encryption": False}, "auth_token: needs transit_encryption=true"),
        ({"auth_token": "short"}, "auth_token: 16 to 128"),
        ({"snapshot_retention_limit": 36}, "snapshot_retention_limit: 0 to 35 days, got 36"),
        ({"snapshot_window": "25:00-26:00"}, "snapshot_window: hh:mm-hh:mm (UTC), got 25:00-26:00"),
        ({"preferred_maintenance_window": "Sunday"}, "preferred_maintenance_window: ddd:hh:mm-ddd:hh:mm"),
        ({"engine_version": "seven"}, "engine_version: a version such as 7.1, got seven"),
    ],
)
@mock_aws
def test_bad_input_is_refused_before_any_call(run_module, changes, message):
    result = run_module(_args(**changes))
    assert result["rc"] == 1, result
    assert message in result["msg"]
    assert "short" not in result["msg"] or "auth_token" in message
    assert _client().describe_replication_groups()["ReplicationGroups"] == []


@mock_aws
def test_a_new_group_needs_a_node_type(run_module):
    result = run_module(_args(cache_node_type=None))
    assert result["rc"] == 1 and "cache_node_type is required" in result["msg"]
    assert _stored() is None


@mock_aws
def test_throttling_is_retried(run_module, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda _s: None)
    original = botocore.client.BaseClient._make_api_call
    throttled = []

    def throttle_once(self, operation_name, api_params):
        if operation_name == "CreateReplicationGroup" and not throttled:
            throttled.append(operation_name)
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, operation_name
            )
        return original(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", throttle_once)
    result = run_module(_args())
    assert throttled == ["CreateReplicationGroup"]
    assert result["changed"] is True, result
    assert _stored() is not None
