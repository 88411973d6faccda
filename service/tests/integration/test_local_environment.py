"""The real server against the local environment (`nox -s deploy-local`): run with `-m integration`.

Each test starts `python -m giftcrypto_api` (gunicorn) on a free loopback port, with the local
AWS endpoint (moto on 127.0.0.1:4566, AWS_ENDPOINT_URL overrides it) for its secrets, then talks
to it over HTTP: PostgreSQL through pgBouncer (127.0.0.1:6432) and Redis (127.0.0.1:6379) are the
real servers, over TLS with the local CA.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

import boto3
import pytest

pytestmark = pytest.mark.integration

AWS_ENDPOINT_URL = os.environ.get("AWS_ENDPOINT_URL") or "http://127.0.0.1:4566"
AWS_REGION = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
# moto accepts any credentials; these are the local inventory's dummies unless the caller has some.
AWS_KEY = os.environ.get("AWS_ACCESS_KEY_ID") or "local-dummy-access-key"
AWS_SECRET_KEY = os.environ.get("AWS_SECRET_ACCESS_KEY") or "local-dummy-secret-key"
# The local environment may be restarting (a redeploy): readiness is awaited this long.
READY_WITHIN = float(os.environ.get("GIFTCRYPTO_TEST_READY_WITHIN", "60"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback http
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback http
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class Server:
    """The service in a subprocess; its stdout lines are collected as they come."""

    def __init__(self, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = {
            **os.environ,
            "AWS_ENDPOINT_URL": AWS_ENDPOINT_URL,
            "AWS_REGION": AWS_REGION,
            "AWS_ACCESS_KEY_ID": AWS_KEY,
            "AWS_SECRET_ACCESS_KEY": AWS_SECRET_KEY,
            "GIFTCRYPTO_ENVIRONMENT": "local",
            "GIFTCRYPTO_PLATFORM": "giftcrypto",
            "GIFTCRYPTO_THREADS": "4",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        command = [sys.executable, "-m", "giftcrypto_api", "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = subprocess.Popen(  # noqa: S603 - our own entry point, fixed arguments
            command,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def entries(self) -> list[dict]:
        return [json.loads(line) for line in self.lines if line.startswith("{")]

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, path: str, status: int, within: float) -> tuple[int, dict[str, str], bytes]:
        deadline = time.monotonic() + within
        last: tuple[int, dict[str, str], bytes] | str = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited with {self.process.returncode}:\n{self.output()}")
            try:
                last = http(self.url + path)
            except OSError as error:  # not listening yet
                last = repr(error)
            else:
                if last[0] == status:
                    return last
            time.sleep(0.25)
        pytest.fail(f"{path} did not answer {status} within {within:g} s (last: {last!r}):\n{self.output()}")

    def stop(self) -> int:
        """SIGTERM, as supervisor stops a colour; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(timeout=10)
        self._reader.join(timeout=5)
        return code


@contextlib.contextmanager
def running(**env: str):
    server = Server(**env)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def passwords() -> list[str]:
    """The app's real passwords (to make sure the service never writes them)."""
    client = boto3.client(
        "secretsmanager",
        endpoint_url=AWS_ENDPOINT_URL,
        region_name=AWS_REGION,
        aws_access_key_id=AWS_KEY,
        aws_secret_access_key=AWS_SECRET_KEY,
    )
    values = []
    for name in ("giftcrypto/local/postgres/app_rw", "giftcrypto/local/redis/app"):
        values.append(json.loads(client.get_secret_value(SecretId=name)["SecretString"])["password"])
    return values


def test_the_server_is_ready_against_the_local_environment_and_logs_json(passwords):
    request_id = f"it-{uuid.uuid4().hex[:12]}"
    with running(GIFTCRYPTO_COLOUR="green", GIFTCRYPTO_RELEASE="0.1.0-integration") as server:
        status, _, body = server.wait_for("/healthz", 200, within=30)
        status, _, body = server.wait_for("/readyz", 200, within=READY_WITHIN)
        ready = json.loads(body)
        assert ready["status"] == "ready"
        assert ready["checks"]["postgres"]["ok"] is True
        assert ready["checks"]["redis"]["ok"] is True

        status, headers, body = http(server.url + "/api/v1/stats", {"X-Request-Id": request_id})
        assert status == 200, body
        assert headers["X-Request-Id"] == request_id
        stats = json.loads(body)
        assert stats["cache"]["stats_requests"] >= 1
        assert stats["database"]["server_time"]

        status, _, body = http(server.url + "/version")
        version = json.loads(body)
        assert (version["colour"], version["release"]) == ("green", "0.1.0-integration")

        status, _, body = http(server.url + "/metrics")
        assert status == 200
        metrics = body.decode()
        assert 'http_requests_total{code="200",method="GET",route="/readyz"}' in metrics
        assert 'http_request_duration_seconds_bucket{le="1.0",method="GET",route="/api/v1/stats"}' in metrics
        assert 'giftcrypto_api_dependency_up{dependency="postgres"} 1.0' in metrics

        # Graceful stop on SIGTERM: exit 0.
        assert server.stop() == 0

    entries = server.entries()
    assert len(entries) == len(server.lines), "every line on stdout is one JSON object"
    (logged,) = [e for e in entries if e.get("request_id") == request_id and e["msg"] == "request"]
    assert logged["route"] == "/api/v1/stats"
    assert logged["status"] == 200
    assert logged["method"] == "GET"
    assert logged["duration_ms"] > 0
    assert logged["colour"] == "green"
    assert logged["version"] == version["version"]
    assert logged["time"].endswith("Z")
    assert any(e["msg"] == "Shutting down: Master" for e in entries)
    for password in passwords:
        assert password not in server.output()


def test_a_missing_secret_stops_the_start_with_a_clear_error():
    with running(**{"GIFTCRYPTO_DB_SECRET": "giftcrypto/local/postgres/no-such-login"}) as server:
        code = server.process.wait(timeout=60)
        server._reader.join(timeout=5)
    assert code == 2
    (error,) = [e for e in server.entries() if e["level"] == "error"]
    assert error["msg"] == "cannot start: credentials unavailable"
    assert "'giftcrypto/local/postgres/no-such-login' does not exist" in error["error"]


def test_the_unhealthy_fault_fails_health_checks_from_the_start():
    with running(GIFTCRYPTO_FAULT="unhealthy") as server:
        server.wait_for("/version", 200, within=30)
        for path in ("/healthz", "/readyz"):
            status, _, body = http(server.url + path)
            assert status == 503
            assert json.loads(body)["reason"] == "fault injection: GIFTCRYPTO_FAULT=unhealthy"


def test_the_degrade_fault_starts_failing_after_its_delay():
    with running(GIFTCRYPTO_FAULT="degrade-after:4") as server:
        _, _, body = server.wait_for("/version", 200, within=30)
        if json.loads(body)["uptime_seconds"] < 2:
            assert http(server.url + "/api/v1/stats")[0] == 200
        # Past the delay the business and readiness endpoints fail; health, version, metrics do not.
        server.wait_for("/api/v1/stats", 500, within=15)
        assert json.loads(http(server.url + "/version")[2])["uptime_seconds"] >= 4
        assert http(server.url + "/readyz")[0] == 500
        assert http(server.url + "/healthz")[0] == 200
        assert http(server.url + "/metrics")[0] == 200
