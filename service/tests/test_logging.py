"""JSON logs: one object per request, the request id echoed, no secret."""

from __future__ import annotations

import io
import json
import logging
import re
import sys

import pytest
from giftcrypto_api import __version__, jsonlog
from giftcrypto_api.config import Settings
from giftcrypto_api.credentials import DatabaseCredentials, RedisCredentials

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_one_json_object_per_request_with_the_expected_fields(client, json_logs):
    client.get("/readyz", headers={"X-Request-Id": "rehearsal-42"})
    (entry,) = json_logs.requests()
    assert ISO_UTC.match(entry["time"])
    assert entry["level"] == "info"
    assert entry["msg"] == "request"
    assert entry["request_id"] == "rehearsal-42"
    assert entry["method"] == "GET"
    assert entry["route"] == "/readyz"
    assert entry["status"] == 200
    assert isinstance(entry["duration_ms"], float)
    assert entry["duration_ms"] >= 0
    assert entry["version"] == __version__
    assert entry["colour"] == "blue"
    assert entry["service"] == "giftcrypto-api"
    # Each line is one JSON document.
    assert all("\n" not in line for line in json_logs.lines)


def test_the_request_id_is_echoed(client):
    response = client.get("/healthz", headers={"X-Request-Id": "abc-DEF_1.2:3"})
    assert response.headers["X-Request-Id"] == "abc-DEF_1.2:3"


def test_a_request_id_is_generated_when_missing(client, json_logs):
    response = client.get("/healthz")
    generated = response.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert json_logs.requests()[0]["request_id"] == generated


@pytest.mark.parametrize("header", ['x" injected="1', "a" * 129, "semi;colon", "sp ace"])
def test_a_malformed_request_id_is_replaced(client, json_logs, header):
    response = client.get("/healthz", headers={"X-Request-Id": header})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-Id"])
    assert header not in "".join(json_logs.lines)


def test_the_raw_path_and_query_are_not_logged(client, json_logs):
    client.get("/api/v1/users/alice@example.com?email=alice@example.com")
    (entry,) = json_logs.requests()
    assert entry["route"] == "unmatched"
    assert "alice" not in json_logs.lines[0]


def test_credentials_never_show_their_password():
    db = DatabaseCredentials("app_rw", "pg-S3cret-value", "127.0.0.1", 6432, "giftcrypto", "/ca.crt")
    cache = RedisCredentials("app", "redis-S3cret-value", "127.0.0.1", 6379, "/ca.crt")
    for value in (repr(db), str(db), repr(cache), f"{cache}"):
        assert "S3cret" not in value


def test_formatter_static_fields_extra_fields_and_exceptions():
    formatter = jsonlog.JsonFormatter({"service": "giftcrypto-api", "colour": "green"})
    try:
        raise ValueError("bad thing")
    except ValueError:
        record = logging.LogRecord("x", logging.WARNING, __file__, 1, "hello %s", ("world",), sys.exc_info())
    record.fields = {"request_id": "r1"}
    entry = json.loads(formatter.format(record))
    assert entry["msg"] == "hello world"
    assert entry["level"] == "warning"
    assert entry["colour"] == "green"
    assert entry["request_id"] == "r1"
    assert entry["error_type"] == "ValueError"
    assert entry["error"] == "bad thing"
    assert ISO_UTC.match(entry["time"])


def test_static_fields_leave_out_what_is_not_given():
    assert jsonlog.static_fields(Settings()) == {
        "service": "giftcrypto-api",
        "version": __version__,
        "environment": "local",
    }
    assert jsonlog.static_fields(Settings(colour="green", release="r1"))["release"] == "r1"


def test_configure_sends_everything_to_stdout_as_json(monkeypatch, restore_logging):
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stdout", buffer)
    jsonlog.configure(Settings(colour="green", log_level="INFO"))
    logging.getLogger("gunicorn.error").info("Booting worker with pid: %s", 42)
    logging.getLogger("giftcrypto_api.app").debug("not shown at INFO")
    logging.getLogger("gunicorn.access").info("access lines stay off")
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["msg"] == "Booting worker with pid: 42"
    assert entry["colour"] == "green"
    assert entry["logger"] == "gunicorn.error"


def test_emergency_line(capsys):
    jsonlog.emergency_line("cannot start", error="GIFTCRYPTO_COLOUR='red'")
    entry = json.loads(capsys.readouterr().out)
    assert entry["level"] == "error"
    assert entry["msg"] == "cannot start"
    assert entry["error"] == "GIFTCRYPTO_COLOUR='red'"
