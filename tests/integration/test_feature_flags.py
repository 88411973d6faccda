"""Feature flags without a release (issue 24): flipping a flag in AWS AppConfig changes the deployed
service's answer within its poll interval, for the users the percentage selects, and the release
serving stays the same; then the flag is put back.

The flip is an operator's: a new hosted configuration version of the profile and a deployment with
the environment's strategy (boto3 against the local endpoint, whose fidelity layer serves AppConfig
and its data plane). Seconds: it reuses the deployed platform and runs no playbook.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import ssl
import time
import urllib.request

import pytest

from tests.integration.conftest import ROOT, load_tool

local_cognito = load_tool("local_cognito")

pytestmark = pytest.mark.integration

API = "https://127.0.0.1:8443"
CA = "/etc/giftcrypto/pki/ca.crt"
FLAG = "stats_replica_reads"
OUTPUT = ROOT / "tests" / "output" / "feature_flags.json"


def _get(path: str, user=None) -> dict:
    """GET path, as the signed-in user (local_cognito.SignedIn) when given."""
    request = urllib.request.Request(f"{API}{path}", headers=user.authorization if user else {})  # noqa: S310
    context = ssl.create_default_context(cafile=CA)
    with urllib.request.urlopen(request, timeout=10, context=context) as answer:  # noqa: S310 -- loopback
        return json.loads(answer.read())


def bucket(flag: str, user_id: str) -> int:
    """The user's bucket, as the service computes it (service/src/giftcrypto_api/flags.py; the
    service's package is not installed in the integration session's environment)."""
    return int.from_bytes(hashlib.sha256(f"{flag}\0{user_id}".encode()).digest()[:8], "big") % 100


@pytest.fixture
def users():
    """Two signed-in users of the local users pool, one whose subject (what the service buckets: the
    verified token's `sub`) falls below 50 and one at or above: (selected, other). Cognito chooses
    subjects, so users are made until both kinds exist (each is one in two), the others deleted."""
    with contextlib.ExitStack() as stack:
        found: dict[bool, object] = {}
        for _ in range(40):
            user = stack.enter_context(local_cognito.signed_in("users", prefix="flags"))
            found.setdefault(bucket(FLAG, user.sub) < 50, user)
            if len(found) == 2:
                yield found[True], found[False]
                return
        pytest.fail("40 users, and none on one side of 50: the buckets are not what flags.py computes")


@pytest.fixture
def flags(aws, local_vars):
    """The local environment's flags in AppConfig: deploy(document) as an operator would, and the
    document deployed before the test, put back after it."""
    appconfig = aws("appconfig")
    application = local_vars["app_deploy_appconfig_application"]
    (app,) = [a for a in appconfig.list_applications()["Items"] if a["Name"] == application]
    (environment,) = [
        e
        for e in appconfig.list_environments(ApplicationId=app["Id"])["Items"]
        if e["Name"] == local_vars["app_deploy_appconfig_environment"]
    ]
    (profile,) = [
        p
        for p in appconfig.list_configuration_profiles(ApplicationId=app["Id"])["Items"]
        if p["Name"] == local_vars["app_deploy_appconfig_profile"]
    ]
    (strategy,) = [
        s
        for s in appconfig.list_deployment_strategies()["Items"]
        if s["Name"] == local_vars["aws_appconfig_deployment_strategy"]["name"]
    ]
    ids = {"ApplicationId": app["Id"], "EnvironmentId": environment["Id"]}
    latest = max(appconfig.list_deployments(**ids)["Items"], key=lambda d: d["DeploymentNumber"])
    original = json.loads(
        appconfig.get_hosted_configuration_version(
            ApplicationId=app["Id"],
            ConfigurationProfileId=profile["Id"],
            VersionNumber=int(latest["ConfigurationVersion"]),
        )["Content"].read()
    )

    def deploy(document: dict) -> None:
        version = appconfig.create_hosted_configuration_version(
            ApplicationId=app["Id"],
            ConfigurationProfileId=profile["Id"],
            Content=json.dumps(document).encode(),
            ContentType="application/json",
            Description="tests/integration/test_feature_flags.py",
        )["VersionNumber"]
        appconfig.start_deployment(
            **ids,
            DeploymentStrategyId=strategy["Id"],
            ConfigurationProfileId=profile["Id"],
            ConfigurationVersion=str(version),
            Description="tests/integration/test_feature_flags.py",
        )

    deploy.original = original
    deploy.poll_seconds = int(local_vars["app_deploy_appconfig_poll_seconds"])
    try:
        yield deploy
    finally:
        deploy(original)


def _until(condition, limit: float) -> float:
    """Seconds until condition() holds, polled every 0.5 s; fails after limit seconds."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < limit, f"not within {limit} s"
        time.sleep(0.5)
    return time.monotonic() - started


def test_flipping_a_flag_changes_the_answer_within_the_poll_interval_without_a_release(flags, users):
    selected, other = users
    release = _get("/version").get("release")
    # As deployed: on for every user.
    assert flags.original["values"][FLAG] == {"enabled": True, "percentage": 100}
    assert _get("/api/v1/stats", selected)["features"][FLAG] is True
    assert _get("/api/v1/stats", other)["features"][FLAG] is True

    # Half the users: the other user's answer changes within the service's poll interval (plus the
    # time of one poll), the selected user's does not.
    half = copy.deepcopy(flags.original)
    half["values"][FLAG] = {"enabled": True, "percentage": 50}
    flags(half)
    limit = flags.poll_seconds + 5
    flipped_in = _until(lambda: _get("/api/v1/stats", other)["features"][FLAG] is False, limit)
    assert _get("/api/v1/stats", selected)["features"][FLAG] is True
    # The same user gets the same answer every time.
    assert {_get("/api/v1/stats", other)["features"][FLAG] for _ in range(5)} == {False}

    # Put back: on for every user again, within the interval.
    flags(flags.original)
    back_in = _until(lambda: _get("/api/v1/stats", other)["features"][FLAG] is True, limit)
    assert _get("/version").get("release") == release, "a flag change is no release"
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(
        json.dumps(
            {
                "poll_seconds": flags.poll_seconds,
                "flip_seconds": round(flipped_in, 1),
                "back_seconds": round(back_in, 1),
            },
            indent=2,
        )
        + "\n"
    )
