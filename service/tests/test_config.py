"""Settings from the environment: defaults, overrides, and every error reported at once."""

from __future__ import annotations

import pytest
from giftcrypto_api.config import ConfigError, Fault, Settings

# Settings other than authentication's are tested with it off (test_auth.py tests it).
AUTH_OFF = {"GIFTCRYPTO_AUTH": "off"}


def test_defaults_are_the_local_environment():
    settings = Settings.from_env(AUTH_OFF | {})
    assert settings.environment == "local"
    assert settings.platform == "giftcrypto"
    assert settings.db_credentials_id == "giftcrypto/local/postgres/app_rw"
    assert settings.redis_credentials_id == "giftcrypto/local/redis/app"
    assert (settings.pgbouncer_host, settings.pgbouncer_port) == ("127.0.0.1", 6432)
    assert settings.pgbouncer_sslrootcert == ""
    assert (settings.db_read_credentials_id, settings.db_read_dbname) == (None, "")
    assert settings.aws_region == "us-east-1"
    assert settings.aws_endpoint_url is None
    assert settings.colour == ""
    assert settings.fault == Fault()
    assert settings.threads == 8
    assert settings.cache_prefix == "giftcrypto:local:api:"


def test_secret_names_follow_platform_and_environment():
    settings = Settings.from_env(
        AUTH_OFF | {"GIFTCRYPTO_ENVIRONMENT": "staging", "GIFTCRYPTO_PLATFORM": "gc"}
    )
    assert settings.db_credentials_id == "gc/staging/postgres/app_rw"
    assert settings.redis_credentials_id == "gc/staging/redis/app"
    assert settings.cache_prefix == "gc:staging:api:"


def test_every_variable_overrides():
    settings = Settings.from_env(
        AUTH_OFF
        | {
            "GIFTCRYPTO_DB_SECRET": "other/db",
            "GIFTCRYPTO_REDIS_SECRET": "other/redis",
            "GIFTCRYPTO_PGBOUNCER_HOST": "pgbouncer.internal",
            "GIFTCRYPTO_PGBOUNCER_PORT": "16432",
            "GIFTCRYPTO_PGBOUNCER_SSLROOTCERT": "/etc/giftcrypto/pgbouncer/ca.crt",
            "GIFTCRYPTO_DB_READ_SECRET": "other/db_ro",  # pragma: allowlist secret
            "GIFTCRYPTO_DB_READ_DBNAME": "giftcrypto_replica",
            "AWS_REGION": "eu-west-1",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
            "GIFTCRYPTO_COLOUR": "Green",
            "GIFTCRYPTO_RELEASE": "0.1.0-1a2b3c4d5e",
            "GIFTCRYPTO_GIT_SHA": "0123456789abcdef0123456789abcdef01234567",
            "GIFTCRYPTO_FAULT": "degrade-after:10",
            "GIFTCRYPTO_THREADS": "4",
            "GIFTCRYPTO_GRACEFUL_TIMEOUT": "25",
            "GIFTCRYPTO_KEEPALIVE": "15",
            "GIFTCRYPTO_READYZ_TIMEOUT": "0.5",
            "GIFTCRYPTO_LOG_LEVEL": "debug",
        }
    )
    assert settings.db_credentials_id == "other/db"
    assert settings.redis_credentials_id == "other/redis"
    assert (settings.pgbouncer_host, settings.pgbouncer_port) == ("pgbouncer.internal", 16432)
    assert settings.pgbouncer_sslrootcert == "/etc/giftcrypto/pgbouncer/ca.crt"
    assert (settings.db_read_credentials_id, settings.db_read_dbname) == ("other/db_ro", "giftcrypto_replica")
    assert settings.aws_region == "eu-west-1"
    assert settings.aws_endpoint_url == "http://127.0.0.1:4566"
    assert settings.colour == "green"
    assert settings.release == "0.1.0-1a2b3c4d5e"
    assert settings.git_sha.startswith("0123")
    assert settings.fault == Fault(mode="degrade", after_seconds=10)
    assert settings.threads == 4
    assert settings.graceful_timeout == 25
    assert settings.keepalive == 15
    assert settings.readyz_timeout == 0.5
    assert settings.log_level == "DEBUG"


def test_aws_default_region_is_the_fallback():
    assert Settings.from_env(AUTH_OFF | {"AWS_DEFAULT_REGION": "us-west-2"}).aws_region == "us-west-2"


def test_empty_values_mean_the_default():
    settings = Settings.from_env(
        AUTH_OFF | {"AWS_ENDPOINT_URL": "", "GIFTCRYPTO_COLOUR": "", "GIFTCRYPTO_FAULT": ""}
    )
    assert settings.aws_endpoint_url is None
    assert settings.colour == ""
    assert settings.fault == Fault()


def test_an_empty_pgbouncer_host_means_the_secrets_host():
    settings = Settings.from_env(AUTH_OFF | {"GIFTCRYPTO_PGBOUNCER_HOST": ""})
    assert settings.pgbouncer_host is None
    assert settings.pgbouncer_port is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GIFTCRYPTO_COLOUR": "red"}, "GIFTCRYPTO_COLOUR='red'"),
        ({"GIFTCRYPTO_FAULT": "explode"}, "GIFTCRYPTO_FAULT='explode'"),
        ({"GIFTCRYPTO_THREADS": "0"}, "GIFTCRYPTO_THREADS='0'"),
        ({"GIFTCRYPTO_THREADS": "many"}, "expected an integer"),
        ({"GIFTCRYPTO_READYZ_TIMEOUT": "inf"}, "GIFTCRYPTO_READYZ_TIMEOUT='inf'"),
        ({"GIFTCRYPTO_PGBOUNCER_PORT": "70000"}, "GIFTCRYPTO_PGBOUNCER_PORT=70000"),
        ({"GIFTCRYPTO_ENVIRONMENT": "Prod/1"}, "GIFTCRYPTO_ENVIRONMENT='Prod/1'"),
        ({"GIFTCRYPTO_GIT_SHA": "main"}, "GIFTCRYPTO_GIT_SHA='main'"),
        ({"GIFTCRYPTO_RELEASE": "a b"}, "GIFTCRYPTO_RELEASE='a b'"),
        ({"GIFTCRYPTO_LOG_LEVEL": "loud"}, "GIFTCRYPTO_LOG_LEVEL='LOUD'"),
        (
            {"GIFTCRYPTO_DB_READ_SECRET": "x", "GIFTCRYPTO_DB_READ_DBNAME": "a b"},
            "GIFTCRYPTO_DB_READ_DBNAME='a b'",
        ),
        (
            {"GIFTCRYPTO_DB_READ_DBNAME": "replica"},
            "GIFTCRYPTO_DB_READ_DBNAME is set without GIFTCRYPTO_DB_READ_SECRET",
        ),
        ({"GIFTCRYPTO_OTLP_ENDPOINT": "otlp.nr-data.net"}, "GIFTCRYPTO_OTLP_ENDPOINT='otlp.nr-data.net'"),
        ({"GIFTCRYPTO_OTLP_ENDPOINT": "ftp://collector"}, "expected an http(s) URL"),
        ({"GIFTCRYPTO_OTLP_ENDPOINT": "https://collector:port"}, "expected an http(s) URL"),
        ({"GIFTCRYPTO_OTLP_ENDPOINT": "https://u:p@collector"}, "expected no user, query or fragment"),
        ({"GIFTCRYPTO_OTLP_ENDPOINT": "https://collector?api-key=x"}, "expected no user, query or fragment"),
        (
            {"GIFTCRYPTO_OTLP_ENDPOINT": "http://otlp.nr-data.net", "GIFTCRYPTO_OTLP_HEADERS_SECRET": "x"},
            "the OTLP headers (credentials) go over https only",
        ),
        (
            {"GIFTCRYPTO_OTLP_HEADERS_SECRET": "x"},
            "GIFTCRYPTO_OTLP_HEADERS_SECRET is set without GIFTCRYPTO_OTLP_ENDPOINT",
        ),
        ({"GIFTCRYPTO_TRACES_SAMPLE_RATIO": "1.5"}, "GIFTCRYPTO_TRACES_SAMPLE_RATIO=1.5: expected 0 to 1"),
        ({"GIFTCRYPTO_TRACES_SAMPLE_RATIO": "-0.1"}, "GIFTCRYPTO_TRACES_SAMPLE_RATIO='-0.1'"),
    ],
)
def test_bad_values_are_refused_by_name(env, message):
    with pytest.raises(ConfigError, match="invalid configuration") as caught:
        Settings.from_env(AUTH_OFF | env)
    assert message in str(caught.value)


def test_all_errors_are_reported_together():
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(
            AUTH_OFF | {"GIFTCRYPTO_COLOUR": "red", "GIFTCRYPTO_THREADS": "-1", "GIFTCRYPTO_FAULT": "x"}
        )
    text = str(caught.value)
    assert "GIFTCRYPTO_COLOUR" in text
    assert "GIFTCRYPTO_THREADS" in text
    assert "GIFTCRYPTO_FAULT" in text


def test_errors_and_traces_are_off_by_default():
    settings = Settings.from_env(AUTH_OFF | {})
    assert settings.sentry_credentials_id is None
    assert (settings.otlp_endpoint, settings.otlp_headers_id) == ("", None)
    assert settings.traces_sample_ratio == 1.0


def test_errors_and_traces_are_configured_by_their_variables():
    settings = Settings.from_env(
        AUTH_OFF
        | {
            "GIFTCRYPTO_SENTRY_SECRET": "giftcrypto/production/sentry/dsn",  # pragma: allowlist secret
            "GIFTCRYPTO_OTLP_ENDPOINT": "https://otlp.eu01.nr-data.net/",
            "GIFTCRYPTO_OTLP_HEADERS_SECRET": "giftcrypto/production/otlp/h",  # pragma: allowlist secret
            "GIFTCRYPTO_TRACES_SAMPLE_RATIO": "0.25",
        }
    )
    assert settings.sentry_credentials_id == "giftcrypto/production/sentry/dsn"
    assert settings.otlp_endpoint == "https://otlp.eu01.nr-data.net"
    assert settings.otlp_headers_id == "giftcrypto/production/otlp/h"
    assert settings.traces_sample_ratio == 0.25


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:4318", "http://localhost:4318", "http://[::1]:4318"])
def test_headers_may_go_over_http_to_a_collector_on_loopback(endpoint):
    settings = Settings.from_env(
        AUTH_OFF | {"GIFTCRYPTO_OTLP_ENDPOINT": endpoint, "GIFTCRYPTO_OTLP_HEADERS_SECRET": "x"}
    )
    assert settings.otlp_endpoint == endpoint


def test_an_http_collector_without_headers_is_allowed():
    endpoint = "http://otel-collector.observability.svc:4318"
    assert Settings.from_env(AUTH_OFF | {"GIFTCRYPTO_OTLP_ENDPOINT": endpoint}).otlp_endpoint == endpoint
