"""The entry point: arguments, gunicorn's settings, fail-fast start, the worker's app."""

from __future__ import annotations

import json
import types

import pytest
from flask import Flask
from giftcrypto_api import server
from giftcrypto_api.config import Fault, Settings
from giftcrypto_api.credentials import Credentials, DatabaseCredentials, RedisCredentials

# Settings other than authentication's are tested with it off (test_auth.py tests it).
AUTH_OFF = {"GIFTCRYPTO_AUTH": "off"}


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_arguments():
    args = server.parse_args(["--host", "0.0.0.0", "--port", "8082"])  # noqa: S104 - parsed, not bound
    assert (args.host, args.port) == ("0.0.0.0", 8082)  # noqa: S104
    defaults = server.parse_args([])
    assert (defaults.host, defaults.port) == ("127.0.0.1", 8081)
    with pytest.raises(SystemExit):
        server.parse_args(["--port", "0"])


def test_bind_address():
    assert server.bind_address("127.0.0.1", 8081) == "127.0.0.1:8081"
    assert server.bind_address("::1", 8081) == "[::1]:8081"


def test_gunicorn_runs_one_threaded_worker_that_stops_gracefully():
    settings = Settings(colour="green", threads=6, graceful_timeout=25)
    gunicorn = server.GunicornServer(server.gunicorn_options(settings, "127.0.0.1", 8082), lambda: "app")
    cfg = gunicorn.cfg
    assert cfg.workers == 1
    assert cfg.worker_class_str == "gthread"
    assert cfg.threads == 6
    assert cfg.graceful_timeout == 25
    assert cfg.bind == ["127.0.0.1:8082"]
    assert cfg.accesslog is None
    assert cfg.proc_name == "giftcrypto-api-green"
    assert cfg.preload_app is False
    if "control_socket_disable" in cfg.settings:
        assert cfg.control_socket_disable is True
    assert gunicorn.load() == "app"


def test_options_unknown_to_gunicorn_are_left_out():
    gunicorn = server.GunicornServer({"workers": 1, "no_such_setting": 1, "timeout": None}, lambda: None)
    assert gunicorn.cfg.workers == 1
    assert gunicorn.cfg.timeout == 30


def test_bad_settings_fail_fast_with_one_json_line(capsys):
    code = server.main(["--port", "18099"], environ=AUTH_OFF | {"GIFTCRYPTO_COLOUR": "purple"})
    assert code == server.EXIT_CONFIG
    (entry,) = json_lines(capsys.readouterr().out)
    assert entry["level"] == "error"
    assert entry["msg"] == "cannot start: bad configuration"
    assert "GIFTCRYPTO_COLOUR='purple'" in entry["error"]


def test_a_missing_secret_fails_fast_naming_it(sm, capsys, monkeypatch, restore_logging):
    monkeypatch.setattr(server.GunicornServer, "run", lambda self: pytest.fail("must not start"))
    environ = {"GIFTCRYPTO_DB_SECRET": "giftcrypto/local/postgres/missing", "AWS_REGION": "us-east-1"}
    code = server.main([], environ=AUTH_OFF | environ)
    assert code == server.EXIT_CONFIG
    entries = json_lines(capsys.readouterr().out)
    assert entries[-1]["msg"] == "cannot start: credentials unavailable"
    assert "'giftcrypto/local/postgres/missing' does not exist" in entries[-1]["error"]


def test_start_reads_the_secrets_then_runs_gunicorn_without_logging_them(
    sm, capsys, monkeypatch, restore_logging, secrets
):
    db_password = secrets["postgres"]["password"]
    redis_password = secrets["redis"]["password"]
    started = {}

    def run(self):
        started["options"] = self.options
        started["factory"] = self.factory

    monkeypatch.setattr(server.GunicornServer, "run", run)
    monkeypatch.setattr(server, "build_app", lambda settings, credentials, *_flag_settings: credentials)
    code = server.main(
        ["--port", "18123"], environ=AUTH_OFF | {"GIFTCRYPTO_COLOUR": "blue", "AWS_REGION": "us-east-1"}
    )
    assert code == 0
    assert started["options"]["bind"] == ["127.0.0.1:18123"]
    credentials = started["factory"]()
    assert credentials.database.password == db_password
    out = capsys.readouterr().out
    assert db_password not in out
    assert redis_password not in out
    starting = [e for e in json_lines(out) if e["msg"] == "starting"]
    assert starting[0]["colour"] == "blue"
    assert starting[0]["secrets"]["postgres"] == "giftcrypto/local/postgres/app_rw"


def test_the_worker_builds_the_app_with_its_dependencies(monkeypatch, json_logs, secrets, fakes):
    fake_database, fake_cache = fakes
    db_password = secrets["postgres"]["password"]
    redis_password = secrets["redis"]["password"]
    import giftcrypto_api.dependencies as dependencies

    made = {}

    def fake(cls):
        def build(*args, **kwargs):
            instance = cls()
            instance.name = kwargs.get("name", cls.name)
            made[instance.name] = instance
            made[instance.name + "_kwargs"] = kwargs
            return instance

        return build

    monkeypatch.setattr(dependencies, "Database", fake(fake_database))
    monkeypatch.setattr(dependencies, "Cache", fake(fake_cache))
    credentials = Credentials(
        DatabaseCredentials("app_rw", db_password, "127.0.0.1", 6432, "giftcrypto"),
        RedisCredentials("app", redis_password, "127.0.0.1", 6379),
    )
    settings = Settings(colour="green", threads=3, fault=Fault.parse("degrade-after:60"))
    app = server.build_app(settings, credentials)
    assert isinstance(app, Flask)
    assert made["postgres"].opened
    assert made["postgres_kwargs"]["application_name"] == "giftcrypto-api-green"
    assert made["postgres_kwargs"]["max_size"] == 3
    assert made["redis_kwargs"]["max_connections"] == 5
    ready = [e for e in json_logs.entries() if e["msg"] == "ready to serve"]
    assert ready[0]["postgres"] == "127.0.0.1:6432"
    assert ready[0]["fault"] == "degrade-after:60"
    assert db_password not in "".join(json_logs.lines)

    worker = types.SimpleNamespace(wsgi=app, pid=4242)
    server._worker_exit(None, worker)
    assert made["postgres"].closed
    assert made["redis"].closed
    server._worker_exit(None, types.SimpleNamespace(wsgi=object(), pid=1))
    assert "postgres_read" not in made, "no read pool unless the settings ask for one"


def test_the_worker_opens_a_read_pool_when_asked(monkeypatch, json_logs, fakes):
    fake_database, fake_cache = fakes
    import giftcrypto_api.dependencies as dependencies

    made = {}

    def fake(cls):
        def build(*args, **kwargs):
            instance = cls()
            instance.name = kwargs.get("name", cls.name)
            made[instance.name] = instance
            return instance

        return build

    monkeypatch.setattr(dependencies, "Database", fake(fake_database))
    monkeypatch.setattr(dependencies, "Cache", fake(fake_cache))
    credentials = Credentials(
        DatabaseCredentials("app_rw", "x", "pgbouncer", 6432, "giftcrypto"),
        RedisCredentials("", "token", "master.cache", 6379),
        read_database=DatabaseCredentials("app_ro", "y", "pgbouncer", 6432, "giftcrypto_replica"),
    )
    app = server.build_app(Settings(colour="blue"), credentials)
    assert made["postgres_read"].opened and made["postgres"].opened
    ready = [e for e in json_logs.entries() if e["msg"] == "ready to serve"]
    assert ready[0]["postgres_read"] == "pgbouncer:6432/giftcrypto_replica"
    server._worker_exit(None, types.SimpleNamespace(wsgi=app, pid=1))
    assert made["postgres_read"].closed
