"""Feature flags from AWS AppConfig: a code path turned on for a percentage of the users, no release.

The flags are read through AppConfig's data plane (``appconfigdata``): one configuration session
(StartConfigurationSession), then GetLatestConfiguration with the token each answer gives
(``NextPollConfigurationToken``), no sooner than the interval it asks
(``NextPollIntervalInSeconds``) nor than ``GIFTCRYPTO_APPCONFIG_POLL_SECONDS``. An empty answer means
"unchanged". The values are cached between polls; a failed poll keeps the last good values (and is
logged); before any good answer, or without AppConfig (``GIFTCRYPTO_APPCONFIG_APPLICATION`` unset),
each flag has its documented default (``DEFAULTS``), as has a flag the deployed document lacks.

A flag's value is AppConfig's ``{"enabled": bool, "percentage": 0-100}``. It is on for a user when
enabled and the user's bucket, a stable hash of the flag's name and the user id into 0-99, is below
the percentage: the same user gets the same answer on every request and every replica, and raising
the percentage only adds users.

The refresh happens on the request that finds the cache due (one at a time; the others keep
answering from the cache), so a flag costs no thread and no call between polls.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("giftcrypto_api.flags")

#: Each flag the service reads, and its value whenever AppConfig has given none (not configured,
#: not reachable yet, or the flag missing from the deployed document): the behaviour before flags.
DEFAULTS: dict[str, dict[str, Any]] = {
    # GET /api/v1/stats reads the database clock from the read replica (when the service has one)
    # for this share of the users, from the primary for the others.
    "stats_replica_reads": {"enabled": True, "percentage": 100},
}
#: AppConfig's smallest RequiredMinimumPollIntervalInSeconds.
MIN_POLL_SECONDS = 15
DEFAULT_POLL_SECONDS = 30


class FlagSettingsError(ValueError):
    """GIFTCRYPTO_APPCONFIG_* variables that cannot be used."""


@dataclass(frozen=True)
class FlagSettings:
    """Where the flags are: AppConfig's application, environment and profile (names or ids)."""

    application: str = ""
    environment: str = ""
    profile: str = "feature-flags"
    poll_seconds: int = DEFAULT_POLL_SECONDS

    @property
    def enabled(self) -> bool:
        return bool(self.application)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> FlagSettings:
        application = environ.get("GIFTCRYPTO_APPCONFIG_APPLICATION", "").strip()
        environment = environ.get("GIFTCRYPTO_APPCONFIG_ENVIRONMENT", "").strip()
        profile = environ.get("GIFTCRYPTO_APPCONFIG_PROFILE", "").strip() or "feature-flags"
        text = environ.get("GIFTCRYPTO_APPCONFIG_POLL_SECONDS", "").strip() or str(DEFAULT_POLL_SECONDS)
        problems = []
        if application and not environment:
            problems.append(
                "GIFTCRYPTO_APPCONFIG_ENVIRONMENT is required with GIFTCRYPTO_APPCONFIG_APPLICATION"
            )
        try:
            poll = int(text)
        except ValueError:
            poll = 0
        if not MIN_POLL_SECONDS <= poll <= 86400:
            problems.append(
                f"GIFTCRYPTO_APPCONFIG_POLL_SECONDS={text!r}: expected {MIN_POLL_SECONDS} to 86400 seconds"
            )
        if problems:
            raise FlagSettingsError("; ".join(problems))
        return cls(application, environment, profile, poll)


def bucket(flag: str, user_id: str) -> int:
    """The user's bucket for flag, 0 to 99: stable across processes (not Python's salted hash)."""
    digest = hashlib.sha256(f"{flag}\0{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def is_on(value: Mapping[str, Any], flag: str, user_id: str) -> bool:
    """Whether a flag with value ({"enabled", "percentage"}) is on for user_id."""
    if not value.get("enabled"):
        return False
    percentage = value.get("percentage", 100)
    if isinstance(percentage, bool) or not isinstance(percentage, (int, float)):
        return False
    return bucket(flag, user_id) < percentage


class FeatureFlags:
    """The flags' values, cached and refreshed from AppConfig's data plane.

    ``client_factory`` makes the ``appconfigdata`` client (boto3's, or a fake in tests); ``clock`` is
    monotonic seconds.
    """

    def __init__(
        self,
        settings: FlagSettings,
        client_factory: Callable[[], Any] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        defaults: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.settings = settings
        self._client_factory = client_factory or _boto3_client
        self._client = None
        self._clock = clock
        self._defaults = {
            name: dict(value) for name, value in (DEFAULTS if defaults is None else defaults).items()
        }
        self._values: dict[str, dict[str, Any]] = {}
        self._token: str | None = None
        self._next_poll = 0.0
        self._lock = threading.Lock()
        #: the last poll's outcome: "never", "ok", "unchanged" or the error's type
        self.last_poll = "never"
        #: whether the values come from AppConfig (at least one good answer)
        self.from_appconfig = False

    def value(self, flag: str) -> dict[str, Any]:
        """The flag's current value (AppConfig's, or its default)."""
        self.refresh_if_due()
        return dict(self._values.get(flag) or self._defaults.get(flag) or {"enabled": False})

    def enabled(self, flag: str, user_id: str) -> bool:
        """Whether flag is on for user_id."""
        return is_on(self.value(flag), flag, user_id)

    def evaluate(self, user_id: str) -> dict[str, bool]:
        """Every known flag, on or off for user_id."""
        names = sorted(set(self._defaults) | set(self._values))
        return {name: self.enabled(name, user_id) for name in names}

    def refresh_if_due(self) -> None:
        """Polls AppConfig when the interval is over; one caller at a time, the others don't wait."""
        if not self.settings.enabled or self._clock() < self._next_poll:
            return
        if not self._lock.acquire(blocking=False):
            return
        try:
            if self._clock() >= self._next_poll:
                self._poll()
        finally:
            self._lock.release()

    def _poll(self) -> None:
        interval = self.settings.poll_seconds
        try:
            if self._client is None:
                self._client = self._client_factory()
            if self._token is None:
                self._token = self._client.start_configuration_session(
                    ApplicationIdentifier=self.settings.application,
                    EnvironmentIdentifier=self.settings.environment,
                    ConfigurationProfileIdentifier=self.settings.profile,
                    RequiredMinimumPollIntervalInSeconds=self.settings.poll_seconds,
                )["InitialConfigurationToken"]
            answer = self._client.get_latest_configuration(ConfigurationToken=self._token)
            self._token = answer["NextPollConfigurationToken"]
            interval = max(interval, int(answer.get("NextPollIntervalInSeconds") or 0))
            body = answer["Configuration"].read()
            if body:
                document = json.loads(body)
                if not isinstance(document, dict):
                    raise ValueError("the configuration is not a JSON object of flags")
                self._values = {k: v for k, v in document.items() if isinstance(v, dict)}
                self.from_appconfig = True
                self.last_poll = "ok"
                log.info(
                    "feature flags updated",
                    extra={"fields": {"flags": {k: self._values[k] for k in sorted(self._values)}}},
                )
            else:
                self.last_poll = "unchanged"
        except Exception as error:
            # A token is good once and for 24 hours: after a failure, start a new session.
            self._token = None
            self.last_poll = type(error).__name__
            log.warning(
                "feature flags not refreshed, keeping the last values",
                extra={
                    "fields": {
                        "error_type": type(error).__name__,
                        "error": str(error)[:300],
                        "from_appconfig": self.from_appconfig,
                    }
                },
            )
        self._next_poll = self._clock() + interval


def _boto3_client():
    import boto3
    import botocore.config

    config = botocore.config.Config(connect_timeout=2, read_timeout=2, retries={"max_attempts": 2})
    return boto3.client("appconfigdata", config=config)
