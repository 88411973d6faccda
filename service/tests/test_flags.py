"""Feature flags (flags.py): the per-user percentage, the AppConfig data plane's session and tokens,
the cache between polls, the last good values kept on errors, the defaults, the settings; and the
flag's code path in GET /api/v1/stats. The AppConfig Data client here is a scripted stand-in that
answers as the API reference documents (a new token each call, an empty body when unchanged); the
real data plane is exercised by tests/integration/test_feature_flags.py against the local endpoint."""

from __future__ import annotations

import io
import json

import pytest
from giftcrypto_api.flags import (
    DEFAULTS,
    FeatureFlags,
    FlagSettings,
    FlagSettingsError,
    bucket,
    is_on,
)

SETTINGS = FlagSettings(
    application="giftcrypto-local", environment="local", profile="feature-flags", poll_seconds=30
)


class DataPlane:
    """appconfigdata as the API reference describes it: tokens used once, an empty body when unchanged."""

    def __init__(self) -> None:
        self.document: dict | None = None
        self.version = 0
        self.sessions: list[dict] = []
        self.tokens: dict[str, int | None] = {}
        self.calls = 0
        self.fail: Exception | None = None
        self.interval = 15

    def deploy(self, document: dict) -> None:
        self.document = document
        self.version += 1

    def start_configuration_session(self, **kwargs):
        if self.fail:
            raise self.fail
        self.sessions.append(kwargs)
        token = f"t{len(self.tokens)}"
        self.tokens[token] = None
        return {"InitialConfigurationToken": token}

    def get_latest_configuration(self, ConfigurationToken):
        self.calls += 1
        if self.fail:
            raise self.fail
        seen = self.tokens.pop(ConfigurationToken)  # KeyError: a token used twice
        body = b"" if seen == self.version else json.dumps(self.document).encode()
        token = f"t{len(self.tokens) + self.calls}"
        self.tokens[token] = self.version
        return {
            "NextPollConfigurationToken": token,
            "NextPollIntervalInSeconds": self.interval,
            "Configuration": io.BytesIO(body),
        }


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def plane():
    plane = DataPlane()
    plane.deploy({"stats_replica_reads": {"enabled": True, "percentage": 30}})
    return plane


def test_bucket_is_stable_spread_and_per_flag():
    assert bucket("stats_replica_reads", "alice") == bucket("stats_replica_reads", "alice")
    buckets = [bucket("stats_replica_reads", f"user-{i}") for i in range(10000)]
    assert min(buckets) == 0 and max(buckets) == 99
    # About a percentage of the users per percentage point (a uniform spread, within 10 %).
    share = sum(1 for b in buckets if b < 30) / len(buckets)
    assert 0.27 < share < 0.33
    # Another flag picks other users.
    assert [bucket("another_flag", f"user-{i}") for i in range(50)] != buckets[:50]


def test_a_percentage_turns_the_flag_on_for_that_share_and_raising_it_only_adds_users():
    users = [f"user-{i}" for i in range(2000)]
    on_at = {
        p: {u for u in users if is_on({"enabled": True, "percentage": p}, "f", u)} for p in (0, 10, 50, 100)
    }
    assert on_at[0] == set()
    assert on_at[100] == set(users)
    assert on_at[10] <= on_at[50] <= on_at[100]
    assert 0.4 < len(on_at[50]) / len(users) < 0.6
    assert not any(is_on({"enabled": False, "percentage": 100}, "f", u) for u in users)
    assert not is_on({"enabled": True, "percentage": "100"}, "f", "alice")  # not a number: off


def test_without_appconfig_every_flag_has_its_default():
    flags = FeatureFlags(FlagSettings(), client_factory=pytest.fail)
    assert flags.value("stats_replica_reads") == DEFAULTS["stats_replica_reads"]
    assert flags.evaluate("alice") == {"stats_replica_reads": True}
    assert flags.value("unknown") == {"enabled": False}
    assert flags.last_poll == "never"


def test_polls_follow_the_tokens_and_the_interval_and_cache_between(plane):
    clock = Clock()
    flags = FeatureFlags(SETTINGS, client_factory=lambda: plane, clock=clock)
    assert flags.value("stats_replica_reads") == {"enabled": True, "percentage": 30}
    assert plane.sessions == [
        {
            "ApplicationIdentifier": "giftcrypto-local",
            "EnvironmentIdentifier": "local",
            "ConfigurationProfileIdentifier": "feature-flags",
            "RequiredMinimumPollIntervalInSeconds": 30,
        }
    ]
    # Cached until the interval is over: no call.
    clock.now += 29
    plane.deploy({"stats_replica_reads": {"enabled": False, "percentage": 30}})
    assert flags.value("stats_replica_reads")["enabled"] is True
    assert plane.calls == 1
    # Then the next token (the first one is spent), and the new document.
    clock.now += 1
    assert flags.value("stats_replica_reads")["enabled"] is False
    assert plane.calls == 2
    # Unchanged: an empty body keeps the values.
    clock.now += 30
    assert flags.value("stats_replica_reads")["enabled"] is False
    assert (plane.calls, flags.last_poll) == (3, "unchanged")
    assert len(plane.sessions) == 1


def test_the_longer_interval_of_appconfig_wins(plane):
    clock = Clock()
    plane.interval = 120
    flags = FeatureFlags(SETTINGS, client_factory=lambda: plane, clock=clock)
    flags.value("stats_replica_reads")
    clock.now += 60
    flags.value("stats_replica_reads")
    assert plane.calls == 1
    clock.now += 60
    flags.value("stats_replica_reads")
    assert plane.calls == 2


def test_errors_keep_the_last_good_values_and_start_a_new_session(plane):
    clock = Clock()
    flags = FeatureFlags(SETTINGS, client_factory=lambda: plane, clock=clock)
    assert flags.value("stats_replica_reads")["percentage"] == 30
    plane.fail = ConnectionError("endpoint unreachable")
    clock.now += 30
    assert flags.value("stats_replica_reads")["percentage"] == 30
    assert flags.last_poll == "ConnectionError"
    assert flags.from_appconfig is True
    plane.fail = None
    plane.deploy({"stats_replica_reads": {"enabled": True, "percentage": 60}})
    clock.now += 30
    assert flags.value("stats_replica_reads")["percentage"] == 60
    assert len(plane.sessions) == 2  # a new session after the failure


def test_unreachable_from_the_start_means_the_defaults(plane):
    plane.fail = ConnectionError("endpoint unreachable")
    flags = FeatureFlags(SETTINGS, client_factory=lambda: plane, clock=Clock())
    assert flags.value("stats_replica_reads") == DEFAULTS["stats_replica_reads"]
    assert flags.from_appconfig is False


def test_a_flag_missing_from_the_document_has_its_default(plane):
    plane.deploy({"other": {"enabled": True}})
    flags = FeatureFlags(SETTINGS, client_factory=lambda: plane, clock=Clock())
    assert flags.value("stats_replica_reads") == DEFAULTS["stats_replica_reads"]
    assert flags.evaluate("alice") == {"other": True, "stats_replica_reads": True}


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"GIFTCRYPTO_APPCONFIG_APPLICATION": "app"}, "GIFTCRYPTO_APPCONFIG_ENVIRONMENT is required"),
        (
            {"GIFTCRYPTO_APPCONFIG_POLL_SECONDS": "5"},
            "GIFTCRYPTO_APPCONFIG_POLL_SECONDS='5': expected 15 to 86400 seconds",
        ),
        ({"GIFTCRYPTO_APPCONFIG_POLL_SECONDS": "soon"}, "expected 15 to 86400 seconds"),
    ],
)
def test_bad_settings_are_refused(environ, message):
    with pytest.raises(FlagSettingsError, match=message):
        FlagSettings.from_environ(environ)


def test_settings_from_the_environment():
    settings = FlagSettings.from_environ(
        {
            "GIFTCRYPTO_APPCONFIG_APPLICATION": "giftcrypto-local",
            "GIFTCRYPTO_APPCONFIG_ENVIRONMENT": "local",
            "GIFTCRYPTO_APPCONFIG_POLL_SECONDS": "15",
        }
    )
    assert settings == FlagSettings("giftcrypto-local", "local", "feature-flags", 15)
    assert settings.enabled
    assert not FlagSettings.from_environ({}).enabled


def test_stats_reads_the_replica_for_the_users_the_flag_is_on_for(database, fakes, clock, cache, plane):
    """The flag's code path: GET /api/v1/stats reads the replica for the flag's share of the users, the
    primary for the others, and says which flags are on for the caller (X-User-Id)."""
    from giftcrypto_api.app import create_app
    from giftcrypto_api.auth import AuthSettings
    from giftcrypto_api.config import Settings
    from giftcrypto_api.metrics import Metrics

    fake_database, _ = fakes
    replica = fake_database()
    replica.name = "postgres_read"
    settings = Settings(colour="blue", auth=AuthSettings(mode="off"))  # authentication is test_auth.py's
    flags = FeatureFlags(SETTINGS, client_factory=lambda: plane, clock=Clock())
    app = create_app(
        settings, database, cache, metrics=Metrics(settings), clock=clock, read_database=replica, flags=flags
    )
    client = app.test_client()
    users = [f"user-{i}" for i in range(200)]
    answers = {user: client.get("/api/v1/stats", headers={"X-User-Id": user}).json for user in users}
    on = {user for user, answer in answers.items() if answer["features"]["stats_replica_reads"]}
    assert on == {user for user in users if bucket("stats_replica_reads", user) < 30}
    assert (replica.calls, database.calls) == (len(on), len(users) - len(on))
    # The same user, the same answer.
    again = client.get("/api/v1/stats", headers={"X-User-Id": users[0]}).json
    assert again["features"] == answers[users[0]]["features"]
    # A header that could forge log content is no user id: "anonymous".
    weird = client.get("/api/v1/stats", headers={"X-User-Id": "a b<c>"}).json
    assert weird["features"]["stats_replica_reads"] == (bucket("stats_replica_reads", "anonymous") < 30)


def test_the_flags_bucket_an_authenticated_caller_by_the_tokens_subject_not_a_header():
    """With authentication on, the caller is the verified token's subject: an X-User-Id header
    cannot choose another user's bucket."""
    from flask import Flask, g
    from giftcrypto_api.app import user_id_for_flags

    app = Flask(__name__)
    with app.test_request_context(headers={"X-User-Id": "someone-else"}):
        g.auth = {"sub": "5f1d-subject", "token_use": "access"}
        assert user_id_for_flags() == "5f1d-subject"
    with app.test_request_context(headers={"X-User-Id": "user-7"}):
        assert user_id_for_flags() == "user-7"
