"""Unit tests of plugins/modules/elasticache_parameter_group.py (create, no-op, update, check mode,
delete, refusals). moto 5.2 does not implement cache parameter groups: a small in-memory stand-in
answers those operations (moto_modules.fake_operations) and records every call."""

from __future__ import annotations

import pytest
from ansible_collections.giftcrypto.platform.plugins.modules import elasticache_parameter_group as module
from moto import mock_aws

from tests.unit import moto_modules
from tests.unit.moto_modules import ACCOUNT_ID, REGION

aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(module)

NAME = "giftcrypto-test-redis7"
ARN = f"arn:aws:elasticache:{REGION}:{ACCOUNT_ID}:parametergroup:{NAME}"
DEFAULTS = {"maxmemory-policy": "volatile-lru", "notify-keyspace-events": "", "timeout": "0"}


class FakeElastiCache:
    """Cache parameter groups as ElastiCache keeps them: every family parameter with its value."""

    def __init__(self):
        self.groups: dict = {}
        self.tags: dict = {}

    def handlers(self):
        return {
            "DescribeCacheParameterGroups": self.describe_groups,
            "DescribeCacheParameters": self.describe_parameters,
            "CreateCacheParameterGroup": self.create,
            "ModifyCacheParameterGroup": self.modify,
            "DeleteCacheParameterGroup": self.delete,
            "ListTagsForResource": lambda p: {
                "TagList": [{"Key": k, "Value": v} for k, v in self.tags.items()]
            },
            "AddTagsToResource": lambda p: self.tags.update({t["Key"]: t["Value"] for t in p["Tags"]}) or {},
            "RemoveTagsFromResource": lambda p: [self.tags.pop(k) for k in p["TagKeys"]] and {},
        }

    def _not_found(self, name):
        import botocore.exceptions

        raise botocore.exceptions.ClientError(
            {"Error": {"Code": "CacheParameterGroupNotFound", "Message": f"{name} not found"}}, "Describe"
        )

    def describe_groups(self, params):
        name = params["CacheParameterGroupName"]
        if name not in self.groups:
            self._not_found(name)
        return {"CacheParameterGroups": [self.groups[name]["group"]]}

    def describe_parameters(self, params):
        values = self.groups[params["CacheParameterGroupName"]]["values"]
        return {"Parameters": [{"ParameterName": k, "ParameterValue": v} for k, v in values.items()]}

    def create(self, params):
        name = params["CacheParameterGroupName"]
        group = {
            "CacheParameterGroupName": name,
            "CacheParameterGroupFamily": params["CacheParameterGroupFamily"],
            "Description": params["Description"],
            "ARN": ARN,
        }
        self.groups[name] = {"group": group, "values": dict(DEFAULTS)}
        self.tags = {t["Key"]: t["Value"] for t in params.get("Tags", [])}
        return {"CacheParameterGroup": group}

    def modify(self, params):
        for pair in params["ParameterNameValues"]:
            self.groups[params["CacheParameterGroupName"]]["values"][pair["ParameterName"]] = pair[
                "ParameterValue"
            ]
        return {"CacheParameterGroupName": params["CacheParameterGroupName"]}

    def delete(self, params):
        self.groups.pop(params["CacheParameterGroupName"])
        return {}


@pytest.fixture
def fake():
    stand_in = FakeElastiCache()
    with mock_aws(), moto_modules.fake_operations(stand_in.handlers()) as calls:
        stand_in.calls = calls
        yield stand_in


def _args(**changes):
    return {
        "name": NAME,
        "family": "redis7",
        "description": "GiftCrypto Redis 7",
        "parameters": {"maxmemory-policy": "allkeys-lru"},
        "tags": {"Project": "GiftCrypto"},
        **changes,
    }


def _writes(fake):
    return [name for name, _ in fake.calls if not name.startswith(("Describe", "List"))]


def test_lifecycle_check_create_noop_update_delete(run_module, fake):
    result = run_module(_args(), check_mode=True)
    assert result["changed"] is True and result["planned"] == "create"
    assert result["parameter_group"]["parameters"] == {"maxmemory-policy": "allkeys-lru"}
    assert _writes(fake) == [] and fake.groups == {}

    result = run_module(_args())
    assert result["changed"] is True, result
    assert fake.groups[NAME]["values"]["maxmemory-policy"] == "allkeys-lru"
    assert fake.tags == {"Project": "GiftCrypto"}
    assert result["parameter_group"]["arn"] == ARN

    fake.calls.clear()
    for check_mode in (True, False):
        result = run_module(_args(), check_mode=check_mode)
        assert result["changed"] is False, result
    assert _writes(fake) == []

    updated = _args(parameters={"maxmemory-policy": "volatile-lru", "timeout": 300})
    result = run_module(updated, check_mode=True)
    assert result["changes"] == ["parameters.maxmemory-policy", "parameters.timeout"]
    assert result["diff"]["before"]["parameters"] == {"maxmemory-policy": "allkeys-lru", "timeout": "0"}
    assert _writes(fake) == []
    result = run_module(updated)
    assert result["parameters"] == {"maxmemory-policy": "volatile-lru", "timeout": "300"}
    assert run_module(updated)["changed"] is False

    assert run_module({"name": NAME, "state": "absent"}, check_mode=True)["changed"] is True
    assert NAME in fake.groups
    assert run_module({"name": NAME, "state": "absent"})["changed"] is True
    assert run_module({"name": NAME, "state": "absent"})["changed"] is False
    assert fake.groups == {}


def test_a_family_cannot_change(run_module, fake):
    run_module(_args())
    result = run_module(_args(family="redis6.x"))
    assert result["rc"] == 1 and "family=redis6.x" in result["msg"]


def test_more_than_twenty_parameters_go_in_batches(run_module, fake):
    many = {f"param-{n:02d}": n for n in range(45)}
    run_module(_args(parameters=many))
    sizes = [len(p["ParameterNameValues"]) for name, p in fake.calls if name == "ModifyCacheParameterGroup"]
    assert sizes == [20, 20, 5]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"name": "1abc"},
            "name: a letter then up to 254 letters, digits or hyphens, no -- nor trailing -, got 1abc",
        ),
        ({"family": "postgres14"}, "family: a family such as redis7, got postgres14"),
        ({"parameters": {"Bad Name": 1}}, "is not a parameter name"),
        ({"parameters": {"timeout": [1]}}, "parameters.timeout: a value must be text"),
    ],
)
def test_bad_input_is_refused_before_any_call(run_module, fake, changes, message):
    result = run_module(_args(**changes))
    assert result["rc"] == 1 and message in result["msg"]
    assert fake.calls == []


def test_an_answer_that_is_not_the_api_fails_cleanly(run_module):
    """moto 5.2 answers an HTML page for cache parameter groups: a clear failure, not a traceback."""
    import botocore.parsers

    def html(_params):
        raise botocore.parsers.ResponseParserError("Unable to parse response: <html>" + "x" * 2000)

    with mock_aws(), moto_modules.fake_operations({"DescribeCacheParameterGroups": html}):
        result = run_module(_args())
    assert result["failed"] is True
    assert result["msg"].startswith(f"Read the cache parameter group {NAME}: ")
    assert "not an ElastiCache API response" in result["msg"]
    assert "Traceback" not in result["msg"]
    assert len(result["msg"]) < 800
