"""Credentials from Secrets Manager (moto in-process): read once, refused clearly when unusable."""

from __future__ import annotations

import dataclasses
import json

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from giftcrypto_api.config import ConfigError, Settings
from giftcrypto_api.credentials import (
    DatabaseCredentials,
    database_credentials,
    load_credentials,
    read_secret,
    redis_credentials,
    secrets_client,
)


def test_both_secrets_are_read_and_the_database_goes_through_pgbouncer(sm, secrets):
    db_password = secrets["postgres"]["password"]
    redis_password = secrets["redis"]["password"]
    credentials = load_credentials(Settings(), client=sm)
    db = credentials.database
    assert (db.host, db.port, db.username, db.password, db.dbname) == (
        "127.0.0.1",
        6432,
        "app_rw",
        db_password,
        "giftcrypto",
    )
    assert db.connect_kwargs()["sslmode"] == "verify-full"
    assert db.connect_kwargs()["sslrootcert"] == "/etc/giftcrypto/pki/ca.crt"
    cache = credentials.redis
    assert (cache.host, cache.port, cache.username, cache.password, cache.ca) == (
        "127.0.0.1",
        6379,
        "app",
        redis_password,
        "/etc/giftcrypto/pki/ca.crt",
    )


def test_the_pooler_ca_replaces_the_secrets_ca_only_through_pgbouncer(sm):
    settings = Settings(pgbouncer_host="pgbouncer.giftcrypto.svc", pgbouncer_sslrootcert="/etc/pooler/ca.crt")
    db = load_credentials(settings, client=sm).database
    assert (db.host, db.port, db.sslrootcert) == ("pgbouncer.giftcrypto.svc", 6432, "/etc/pooler/ca.crt")
    direct = dataclasses.replace(settings, pgbouncer_host=None, pgbouncer_port=None)
    assert load_credentials(direct, client=sm).database.sslrootcert == "/etc/giftcrypto/pki/ca.crt"


def test_no_read_pool_unless_asked(sm):
    assert load_credentials(Settings(), client=sm).read_database is None


def test_the_read_pool_uses_its_own_login_and_the_poolers_replica_entry(sm, secrets):
    password = "ro-Pa55word-never-logged"  # noqa: S105  # pragma: allowlist secret
    replica = {**secrets["postgres"], "username": "app_ro", "password": password}
    sm.create_secret(Name="giftcrypto/local/postgres/app_ro", SecretString=json.dumps(replica))
    settings = Settings(
        db_read_credentials_id="giftcrypto/local/postgres/app_ro", db_read_dbname="giftcrypto_replica"
    )
    credentials = load_credentials(settings, client=sm)
    read = credentials.read_database
    assert (read.host, read.port, read.username, read.dbname) == (
        "127.0.0.1",
        6432,
        "app_ro",
        "giftcrypto_replica",
    )
    assert credentials.database.dbname == "giftcrypto"
    without_name = load_credentials(dataclasses.replace(settings, db_read_dbname=""), client=sm).read_database
    assert without_name.dbname == "giftcrypto"


def test_a_missing_read_secret_is_named(sm):
    settings = Settings(db_read_credentials_id="giftcrypto/local/postgres/app_ro")
    with pytest.raises(ConfigError, match=r"'giftcrypto/local/postgres/app_ro' does not exist"):
        load_credentials(settings, client=sm)


def test_an_auth_token_alone_is_a_cache_login(secrets):
    """ElastiCache's shape (aws_elasticache): no user name, the AUTH token as password, the system CAs."""
    token = {**secrets["redis"], "username": "", "host": "master.gc.use1.cache.amazonaws.com", "ca": ""}
    cache = redis_credentials(token, "giftcrypto/production/redis/app")
    assert (cache.username, cache.host, cache.ca) == ("", "master.gc.use1.cache.amazonaws.com", "")
    del token["username"]
    assert redis_credentials(token, "s").username == ""


def test_without_pgbouncer_override_the_secrets_host_is_used(sm):
    settings = Settings(pgbouncer_host=None, pgbouncer_port=None)
    db = load_credentials(settings, client=sm).database
    assert (db.host, db.port) == ("127.0.0.1", 5432)


def test_the_default_client_uses_the_settings(sm):
    credentials = load_credentials(Settings())
    assert credentials.database.username == "app_rw"
    client = secrets_client(Settings(aws_region="eu-west-1", aws_endpoint_url="http://127.0.0.1:4566"))
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.endpoint_url == "http://127.0.0.1:4566"


def test_a_missing_secret_is_named(sm):
    settings = Settings(db_credentials_id="giftcrypto/local/postgres/nobody")
    with pytest.raises(ConfigError, match=r"'giftcrypto/local/postgres/nobody' does not exist.*us-east-1"):
        load_credentials(settings, client=sm)


def test_a_secret_that_is_not_json_is_refused_without_its_value(sm):
    sm.put_secret_value(SecretId="giftcrypto/local/redis/app", SecretString="plain-Pa55word")
    with pytest.raises(ConfigError, match="is not a JSON object") as caught:
        load_credentials(Settings(), client=sm)
    assert "Pa55word" not in str(caught.value)


def test_a_binary_secret_is_refused(sm):
    sm.create_secret(Name="binary", SecretBinary=b"\x00\x01")
    with pytest.raises(ConfigError, match="no string value"):
        read_secret(sm, "binary", Settings())


def test_other_api_errors_are_named_by_code():
    class Denied:
        def get_secret_value(self, SecretId):
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetSecretValue")

    with pytest.raises(ConfigError, match=r"cannot read secret 's1'.*AccessDeniedException"):
        read_secret(Denied(), "s1", Settings())


def test_an_unreachable_endpoint_is_named():
    class Unreachable:
        def get_secret_value(self, SecretId):
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")

    settings = Settings(aws_endpoint_url="http://127.0.0.1:1")
    with pytest.raises(ConfigError, match=r"cannot reach Secrets Manager.*endpoint http://127.0.0.1:1"):
        read_secret(Unreachable(), "s1", settings)


@pytest.mark.parametrize("field", ["username", "password", "dbname"])
def test_database_secret_fields_are_required(field, secrets):
    db_secret = secrets["postgres"]
    db_password = secrets["postgres"]["password"]
    secret = {**db_secret, field: ""}
    with pytest.raises(ConfigError, match=f"lacks {field}") as caught:
        database_credentials(secret, "db", Settings())
    assert db_password not in str(caught.value)


def test_database_secret_host_is_required_without_pgbouncer(secrets):
    db_secret = secrets["postgres"]
    secret = {k: v for k, v in db_secret.items() if k != "host"}
    with pytest.raises(ConfigError, match="lacks host"):
        database_credentials(secret, "db", Settings(pgbouncer_host=None, pgbouncer_port=None))


def test_database_secret_port_must_be_a_port(secrets):
    db_secret = secrets["postgres"]
    with pytest.raises(ConfigError, match="invalid port"):
        database_credentials({**db_secret, "port": "x"}, "db", Settings(pgbouncer_host=None))


def test_a_weaker_sslmode_is_refused(secrets):
    db_secret = secrets["postgres"]
    with pytest.raises(ConfigError, match="sslmode=require"):
        database_credentials({**db_secret, "sslmode": "require"}, "db", Settings())


def test_no_sslrootcert_means_the_system_trust_store(secrets):
    db_secret = secrets["postgres"]
    db = database_credentials({**db_secret, "sslrootcert": ""}, "db", Settings())
    assert db.connect_kwargs()["sslrootcert"] == "system"


def test_redis_without_tls_is_refused(secrets):
    redis_secret = secrets["redis"]
    with pytest.raises(ConfigError, match="does not set tls"):
        redis_credentials({**redis_secret, "tls": False}, "redis")


def test_redis_fields_are_required_and_port_checked(secrets):
    redis_secret = secrets["redis"]
    with pytest.raises(ConfigError, match="lacks password"):
        redis_credentials({**redis_secret, "password": None}, "redis")
    with pytest.raises(ConfigError, match="invalid port"):
        redis_credentials({**redis_secret, "port": 0}, "redis")
    assert redis_credentials({**redis_secret, "tls": "true", "ca": ""}, "redis").ca == ""


def test_repr_hides_the_password(secrets):
    db_password = secrets["postgres"]["password"]
    db = DatabaseCredentials("u", db_password, "h", 1, "d")
    assert db_password not in repr(db)
