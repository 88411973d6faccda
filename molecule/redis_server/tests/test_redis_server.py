"""The molecule Redis instance: running, loopback only, TLS-only, default user off, ACL app user."""

import socket

import pytest
import redis

PORT = 26379
CA = "/etc/giftcrypto/pki/ca.crt"


@pytest.fixture(scope="module")
def app(secret_json):
    return secret_json("giftcrypto/molecule/redis/app")


def test_process_runs(host):
    servers = host.process.filter(user="redis", comm="redis-server")
    assert any(f":{PORT}" in p.args for p in servers)


def test_listens_on_loopback_only(host):
    sockets = [
        s for s in host.socket.get_listening_sockets() if s.startswith("tcp") and s.endswith(f":{PORT}")
    ]
    assert sockets == [f"tcp://127.0.0.1:{PORT}"]


def test_plaintext_refused():
    with socket.create_connection(("127.0.0.1", PORT), timeout=5) as sock:
        sock.sendall(b"PING\r\n")
        try:
            answer = sock.recv(64)
        except (ConnectionResetError, TimeoutError):
            answer = b""
    assert b"PONG" not in answer


def test_default_user_is_off():
    client = redis.Redis(host="127.0.0.1", port=PORT, ssl=True, ssl_ca_certs=CA, protocol=2)
    with pytest.raises(redis.exceptions.AuthenticationError):
        client.ping()
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(
            host="127.0.0.1", port=PORT, username="default", password="anything", ssl=True, ssl_ca_certs=CA
        ).ping()


def test_app_user_sets_and_gets_over_tls(app):
    assert app["tls"] is True and app["port"] == PORT
    client = redis.Redis(
        host=app["host"],
        port=app["port"],
        username=app["username"],
        password=app["password"],
        ssl=True,
        ssl_ca_certs=app["ca"],
        ssl_cert_reqs="required",
    )
    client.set("molecule:probe", "ok", ex=60)
    assert client.get("molecule:probe") == b"ok"
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.flushall()


def test_acl_file_has_no_plain_password(host, app):
    acl = host.file("/etc/giftcrypto/redis-molecule/users.acl")
    assert acl.mode == 0o640
    assert app["password"] not in acl.content_string
    assert "user default off" in acl.content_string


def test_config(host):
    conf = host.file("/etc/giftcrypto/redis-molecule/redis.conf").content_string
    for line in ("port 0", f"tls-port {PORT}", "appendonly yes", "appendfsync everysec", "maxmemory 64mb"):
        assert line in conf.splitlines()


def test_log_rotated_daily_for_thirty_days(host):
    rotation = host.file("/etc/logrotate.d/giftcrypto-redis-molecule")
    assert rotation.user == "root" and rotation.mode == 0o644
    assert "/var/log/giftcrypto/redis-molecule/redis-server.log {" in rotation.content_string
    assert "    rotate 30" in rotation.content_string.splitlines()
    debug = host.run("logrotate --debug /etc/logrotate.d/giftcrypto-redis-molecule")
    assert debug.rc == 0, debug.stderr
