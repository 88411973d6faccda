"""giftcrypto.platform.appconfig_feature_flags against the local AWS endpoint with its fidelity layer
(moto has no AppConfig environments, strategies nor deployments: the endpoint's appconfig fix adds
them, as the AWS API reference documents them): check mode, create, no-op (no new version, no new
deployment), a flag flipped, a strategy changed, tags, refusals before any call, delete."""

from __future__ import annotations

import copy

import boto3
import pytest
from ansible_collections.giftcrypto.platform.plugins.modules import appconfig_feature_flags

from tests.unit import moto_modules
from tests.unit.test_local_aws_endpoint_fidelity import endpoint  # noqa: F401 -- the fixture

aws_environment, botocore_loader, run_module = moto_modules.module_fixtures(appconfig_feature_flags)

PERCENTAGE = {"constraints": {"type": "number", "required": True, "minimum": 0, "maximum": 100}}
DOCUMENT = {
    "version": "1",
    "flags": {
        "stats_replica_reads": {
            "name": "Stats from the read replica",
            "attributes": {"percentage": PERCENTAGE},
        }
    },
    "values": {"stats_replica_reads": {"enabled": True, "percentage": 100}},
}


@pytest.fixture
def appconfig(endpoint):  # noqa: F811 -- the imported fixture
    import urllib.request

    reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310 -- loopback
    with urllib.request.urlopen(reset, timeout=10):  # noqa: S310 -- loopback
        pass
    return boto3.client("appconfig", endpoint_url=endpoint, region_name="us-east-1")


@pytest.fixture
def options(endpoint):  # noqa: F811 -- the imported fixture
    return {
        "endpoint_url": endpoint,
        "region": "us-east-1",
        "application": "giftcrypto-test",
        "environment": "test",
        "gated_flags": ["stats_replica_reads"],
        "deployment_strategy": {"name": "giftcrypto-test-now"},
        "content": copy.deepcopy(DOCUMENT),
        "tags": {"Project": "GiftCrypto", "Environment": "test"},
    }


def _deployments(appconfig, result) -> list[dict]:
    return appconfig.list_deployments(
        ApplicationId=result["application_id"], EnvironmentId=result["environment_id"]
    )["Items"]


def _versions(appconfig, result) -> list[dict]:
    return appconfig.list_hosted_configuration_versions(
        ApplicationId=result["application_id"], ConfigurationProfileId=result["profile_id"]
    )["Items"]


def test_lifecycle_check_create_noop_flip_strategy_delete(run_module, appconfig, options):
    # Check mode on nothing: the whole chain planned, nothing made.
    result = run_module(options, check_mode=True)
    assert (result["changed"], result["planned"]) == (True, "create"), result
    assert result["diff"]["before"] == {}
    assert result["feature_flags"]["content"] == DOCUMENT
    assert appconfig.list_applications()["Items"] == []

    result = run_module(options)
    assert (result["changed"], result["planned"]) == (True, "create"), result
    flags = result["feature_flags"]
    assert (flags["application"], flags["environment"], flags["profile"]) == (
        "giftcrypto-test",
        "test",
        "feature-flags",
    )
    assert (flags["version_number"], flags["deployment_number"], flags["deployment_state"]) == (
        1,
        1,
        "COMPLETE",
    )
    assert flags["tags"] == {"Project": "GiftCrypto", "Environment": "test"}
    assert result["configuration_arn"].endswith(
        f"application/{result['application_id']}/environment/{result['environment_id']}"
        f"/configuration/{result['profile_id']}"
    )
    profile = appconfig.get_configuration_profile(
        ApplicationId=result["application_id"], ConfigurationProfileId=result["profile_id"]
    )
    assert profile["Type"] == "AWS.AppConfig.FeatureFlags"

    # No-op, and check mode on the converged chain: no new version, no new deployment.
    for check_mode in (False, True):
        again = run_module(options, check_mode=check_mode)
        assert (again["changed"], again["planned"], again["changes"]) == (False, "none", []), again
    assert len(_versions(appconfig, result)) == 1
    assert len(_deployments(appconfig, result)) == 1

    # A flag flipped: check mode names the content, the run deploys a second version.
    flipped = copy.deepcopy(options)
    flipped["content"]["values"]["stats_replica_reads"] = {"enabled": True, "percentage": 30}
    planned = run_module(flipped, check_mode=True)
    assert (planned["planned"], planned["changes"]) == ("update", ["content"]), planned
    assert planned["diff"]["before"]["content"]["values"]["stats_replica_reads"]["percentage"] == 100
    assert planned["diff"]["after"]["content"]["values"]["stats_replica_reads"]["percentage"] == 30
    assert len(_versions(appconfig, result)) == 1
    changed = run_module(flipped)
    assert (changed["changed"], changed["changes"]) == (True, ["content"]), changed
    assert (changed["feature_flags"]["version_number"], changed["feature_flags"]["deployment_number"]) == (
        2,
        2,
    )
    assert run_module(flipped)["changed"] is False

    # The strategy's settings and the tags.
    slower = copy.deepcopy(flipped)
    slower["deployment_strategy"] = {"name": "giftcrypto-test-now", "final_bake_time_in_minutes": 5}
    slower["tags"] = {"Project": "GiftCrypto", "Environment": "test", "CostCenter": "platform"}
    changed = run_module(slower)
    assert changed["changes"] == ["deployment_strategy", "tags"], changed
    assert changed["feature_flags"]["deployment_strategy"]["final_bake_time_in_minutes"] == 5
    assert changed["feature_flags"]["tags"]["CostCenter"] == "platform"
    assert len(_deployments(appconfig, result)) == 2  # a strategy change deploys nothing

    # Delete, then delete again: nothing left, nothing to do.
    gone = run_module({**slower, "state": "absent"})
    assert (gone["changed"], gone["planned"]) == (True, "delete"), gone
    assert appconfig.list_applications()["Items"] == []
    assert {s["Id"] for s in appconfig.list_deployment_strategies()["Items"]} == {
        "AppConfig.AllAtOnce",
        "AppConfig.Canary10Percent20Minutes",
        "AppConfig.Linear20PercentEvery6Minutes",
        "AppConfig.Linear50PercentEvery30Seconds",
    }
    assert run_module({**slower, "state": "absent"})["changed"] is False


def test_predefined_strategy_is_used_as_it_is(run_module, appconfig, options):
    # AppConfig.AllAtOnce bakes 10 minutes: without wait the run returns once it has started.
    result = run_module({**options, "deployment_strategy": {"name": "AppConfig.AllAtOnce"}, "wait": False})
    assert result["feature_flags"]["deployment_strategy"]["name"] == "AppConfig.AllAtOnce"
    assert result["feature_flags"]["deployment_state"] == "BAKING"
    (deployment,) = _deployments(appconfig, result)
    assert deployment["FinalBakeTimeInMinutes"] == 10
    assert run_module({**options, "deployment_strategy": {"name": "AppConfig.AllAtOnce"}})["changed"] is False


@pytest.mark.parametrize(
    ("change", "option", "message"),
    [
        (
            {"values": {"stats_replica_reads": {"enabled": True, "percentage": 101}}},
            "content",
            "above the maximum 100",
        ),
        (
            {"values": {"stats_replica_reads": {"percentage": 5}}},
            "content",
            "'enabled' is a required property",
        ),
        ({"version": "2"}, "content", "'2' is not one of ['1']"),
        ({"values": {"Stats": {"enabled": True}}}, "content", "does not match any of the regexes"),
        (
            {
                "flags": {"stats_replica_reads": {"name": "no percentage"}},
                "values": {"stats_replica_reads": {"enabled": True}},
            },
            "content",
            "'percentage' must be constrained",
        ),
    ],
)
def test_a_bad_document_is_refused_before_any_call(run_module, appconfig, options, change, option, message):
    bad = {**options, "content": {**DOCUMENT, **change}}
    result = run_module(bad)
    assert result.get("failed") is True, result
    assert result["msg"].startswith("Refused before any change"), result["msg"]
    assert message in result["problems"][option], result["problems"]
    assert appconfig.list_applications()["Items"] == []


def test_bad_names_and_strategy_settings_are_refused(run_module, appconfig, options):
    result = run_module(
        {
            **options,
            "application": "x" * 65,
            "deployment_strategy": {
                "name": "slow",
                "deployment_duration_in_minutes": 2000,
                "growth_factor": 0,
            },
        }
    )
    assert result.get("failed") is True, result
    assert set(result["problems"]) == {
        "application",
        "deployment_strategy.deployment_duration_in_minutes",
        "deployment_strategy.growth_factor",
    }
    assert appconfig.list_applications()["Items"] == []
