"""The service's feature flags (service/src/giftcrypto_api/flags.py) with boto3's real appconfigdata
client against the local AWS endpoint (its fidelity layer serves AppConfig Data as the API reference
documents it): the first answer, the cache, a flip reaching the service at its next poll, an empty
answer when nothing changed, and the last values kept while the endpoint is unreachable."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import sys
import urllib.request

import boto3
import pytest

from tests.unit.test_local_aws_endpoint_fidelity import endpoint  # noqa: F401 -- the fixture

# The service's module by its path: the service's package is installed only for its own tests (after
# these), and flags.py needs nothing of it (the standard library, and boto3 when it polls).
_FLAGS = pathlib.Path(__file__).resolve().parents[2] / "service" / "src" / "giftcrypto_api" / "flags.py"
_spec = importlib.util.spec_from_file_location("giftcrypto_service_flags", _FLAGS)
flags_module = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = flags_module  # its dataclasses look their module up there
_spec.loader.exec_module(flags_module)
FeatureFlags, FlagSettings = flags_module.FeatureFlags, flags_module.FlagSettings

PERCENTAGE = {"constraints": {"type": "number", "required": True, "minimum": 0, "maximum": 100}}


def _document(percentage: int) -> dict:
    return {
        "version": "1",
        "flags": {"stats_replica_reads": {"name": "Stats", "attributes": {"percentage": PERCENTAGE}}},
        "values": {"stats_replica_reads": {"enabled": True, "percentage": percentage}},
    }


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def appconfig(endpoint, monkeypatch):  # noqa: F811 -- the imported fixture
    reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310 -- loopback
    with urllib.request.urlopen(reset, timeout=10):  # noqa: S310 -- loopback
        pass
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # pragma: allowlist secret
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("appconfig")
    app = client.create_application(Name="giftcrypto-test")["Id"]
    environment = client.create_environment(ApplicationId=app, Name="test")["Id"]
    profile = client.create_configuration_profile(
        ApplicationId=app, Name="feature-flags", LocationUri="hosted", Type="AWS.AppConfig.FeatureFlags"
    )["Id"]
    strategy = client.create_deployment_strategy(
        Name="now", DeploymentDurationInMinutes=0, GrowthFactor=100, FinalBakeTimeInMinutes=0
    )["Id"]

    def deploy(percentage: int) -> None:
        version = client.create_hosted_configuration_version(
            ApplicationId=app,
            ConfigurationProfileId=profile,
            Content=json.dumps(_document(percentage)).encode(),
            ContentType="application/json",
        )["VersionNumber"]
        client.start_deployment(
            ApplicationId=app,
            EnvironmentId=environment,
            DeploymentStrategyId=strategy,
            ConfigurationProfileId=profile,
            ConfigurationVersion=str(version),
        )

    return deploy


def test_the_service_follows_a_flip_at_its_next_poll(appconfig, endpoint, monkeypatch):  # noqa: F811
    appconfig(100)
    clock = Clock()
    flags = FeatureFlags(FlagSettings("giftcrypto-test", "test", "feature-flags", 15), clock=clock)
    assert flags.value("stats_replica_reads") == {"enabled": True, "percentage": 100}
    assert (flags.last_poll, flags.from_appconfig) == ("ok", True)

    appconfig(10)
    clock.now += 14  # cached: the flip is not seen before the interval
    assert flags.value("stats_replica_reads")["percentage"] == 100
    clock.now += 1
    assert flags.value("stats_replica_reads")["percentage"] == 10
    clock.now += 15
    assert flags.value("stats_replica_reads")["percentage"] == 10
    assert flags.last_poll == "unchanged"  # an empty answer: nothing deployed since

    # The endpoint unreachable: the last values stay.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    stale = FeatureFlags(FlagSettings("giftcrypto-test", "test", "feature-flags", 15), clock=clock)
    assert stale.value("stats_replica_reads") == {"enabled": True, "percentage": 100}  # the default
    assert stale.from_appconfig is False
    flags._client = None
    flags._token = None
    clock.now += 15
    assert flags.value("stats_replica_reads")["percentage"] == 10
    assert flags.last_poll == "EndpointConnectionError"
