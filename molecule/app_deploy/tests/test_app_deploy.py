# ruff: noqa: S603, S607  (a test runs podman and supervisorctl)
"""The scenario's release: served through HAProxy over verified TLS, on the colour the state file
names, locked down; then a second release and a rollback (playbooks/rollback.yml) move the traffic
and back, with the other colour kept warm.

The tests run in this file's order: those of the converged release first, the release and the
rollback last (they change which colour is active; every test reads it from the state file).
"""

from __future__ import annotations

import csv
import io
import json
import pathlib
import socket
import ssl
import subprocess
import threading
import time
import urllib.request

import pytest
import requests

ROOT = pathlib.Path(__file__).resolve().parents[3]
HTTPS_PORT = 28443
HTTP_PORT = 28080
COLOURS = {"blue": 28081, "green": 28082}
CA = "/etc/giftcrypto/pki/ca.crt"
REGISTRY = "127.0.0.1:25005"
CONTAINER_PREFIX = "giftcrypto-api-molecule"
CONFIG_DIR = "/etc/giftcrypto/app-molecule"
STATE_DIR = "/var/lib/giftcrypto-app-molecule"
LOG_DIR = "/var/log/giftcrypto/app-molecule"
RUN_DIR = "/run/giftcrypto-app-molecule"
CERT_DIR = "/etc/giftcrypto/pki/haproxy-api-molecule"
STATE_FILE = f"{STATE_DIR}/state.json"
FILE_SD = f"{STATE_DIR}/giftcrypto-api.json"
SOCKET = f"{RUN_DIR}/haproxy.sock"
ENVIRONMENT = "molecule-app"
URL = f"https://localhost:{HTTPS_PORT}"


# --- helpers -------------------------------------------------------------------------------------


def state() -> dict:
    return json.loads(pathlib.Path(STATE_FILE).read_text())


def haproxy_servers() -> dict[str, dict[str, str]]:
    """Backend api's servers as HAProxy's admin socket reports them (show stat)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(SOCKET)
        sock.sendall(b"show stat\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    rows = csv.DictReader(io.StringIO(b"".join(chunks).decode().lstrip("# ")))
    return {row["svname"]: row for row in rows if row["pxname"] == "api" and row["svname"] in COLOURS}


def https(path: str) -> requests.Response:
    return requests.get(f"{URL}{path}", verify=CA, timeout=10)


def served_colours(count: int = 10) -> set[str]:
    """The colours that answered `count` fresh requests through HAProxy."""
    return {https("/version").json()["colour"] for _ in range(count)}


def assert_serving(colour: str) -> None:
    """Every new request goes to `colour`: HAProxy's weights, the answers, the state file agree."""
    assert state()["active"] == colour
    servers = haproxy_servers()
    assert int(servers[colour]["weight"]) > 0 and servers[colour]["status"] == "UP"
    assert all(int(row["weight"]) == 0 for name, row in servers.items() if name != colour)
    assert served_colours() == {colour}
    assert https("/version").json()["release"] == state()["colours"][colour]["release"]


@pytest.fixture(scope="module")
def played(playbook):
    """A playbook run on localhost of the scenario's own inventory, which must succeed."""

    def run(path: pathlib.Path, *extra: str) -> None:
        result = playbook(path, *extra, limit="localhost")
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]

    return run


class Load:
    """Requests /healthz through HAProxy in a loop (about 20/s) and counts failures."""

    def __init__(self) -> None:
        self.ok = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with requests.Session() as session:
            while not self._stop.is_set():
                try:
                    response = session.get(f"{URL}/healthz", verify=CA, timeout=10)
                    if response.status_code == 200:
                        self.ok += 1
                    else:
                        self.failures.append(str(response.status_code))
                except requests.RequestException as error:
                    self.failures.append(type(error).__name__)
                time.sleep(0.05)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


# --- the converged release -----------------------------------------------------------------------


def test_health_readiness_and_version_through_haproxy_over_verified_tls():
    active = state()["active"]
    healthz = https("/healthz")
    assert healthz.status_code == 200 and healthz.json()["status"] == "ok"
    assert healthz.headers["X-Request-Id"]
    assert healthz.headers["Strict-Transport-Security"].startswith("max-age=")
    readyz = https("/readyz")
    assert readyz.status_code == 200, readyz.text
    assert readyz.json()["status"] == "ready"
    checks = readyz.json()["checks"]
    assert {name: check["ok"] for name, check in checks.items()} == {"postgres": True, "redis": True}
    version = https("/version").json()
    assert version["service"] == "giftcrypto-api"
    assert version["colour"] == active
    assert version["release"] == state()["colours"][active]["release"]
    assert version["environment"] == ENVIRONMENT


def test_the_certificate_is_the_scenarios_own_from_the_local_ca():
    context = ssl.create_default_context(cafile=CA)
    with (
        socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        served = tls.getpeercert(binary_form=True)
    issued = ssl.PEM_cert_to_DER_cert(pathlib.Path(f"{CERT_DIR}/server.crt").read_text())
    assert served == issued


def test_http_redirects_to_https():
    response = requests.get(f"http://127.0.0.1:{HTTP_PORT}/healthz", allow_redirects=False, timeout=10)
    assert response.status_code == 301
    assert response.headers["Location"] == f"https://127.0.0.1:{HTTPS_PORT}/healthz"


def _handshake(version: ssl.TLSVersion) -> str:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(CA)
    # The client is willing (security level 0 allows TLS 1.0/1.1): a failure is the server's refusal.
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.minimum_version = context.maximum_version = version
    with (
        socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        return tls.version()


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_tls_below_1_2_is_refused(version):
    with pytest.raises(ssl.SSLError) as refused:
        _handshake(version)
    # HAProxy's alert, not the client's own refusal (NO_PROTOCOLS_AVAILABLE).
    assert "ALERT_PROTOCOL_VERSION" in str(refused.value), refused.value


@pytest.mark.parametrize(
    ("version", "name"), [(ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")]
)
def test_tls_1_2_and_1_3_are_accepted(version, name):
    assert _handshake(version) == name


def test_the_active_colour_in_the_state_file_takes_all_the_traffic():
    current = state()
    assert current["active"] in COLOURS
    assert current["colours"][current["active"]]["failed"] is False
    assert_serving(current["active"])


def test_prometheus_targets_name_the_running_colours():
    current = state()
    targets = json.loads(pathlib.Path(FILE_SD).read_text())
    found = {t["labels"]["colour"]: (t["targets"], t["labels"]["release"]) for t in targets}
    wanted = {c: ([f"127.0.0.1:{COLOURS[c]}"], info["release"]) for c, info in current["colours"].items()}
    assert found == wanted


def test_listens_on_loopback_only(host):
    active = state()["active"]
    for port in (HTTPS_PORT, HTTP_PORT, COLOURS[active]):
        assert host.socket(f"tcp://127.0.0.1:{port}").is_listening
        assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening


def _container(colour: str) -> dict:
    inspected = subprocess.run(
        ["podman", "--runtime", "runc", "inspect", "--type", "container", f"{CONTAINER_PREFIX}-{colour}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(inspected.stdout)[0]


def test_the_colours_run_the_image_by_digest_under_the_scenarios_own_supervisord(host):
    active = state()["active"]
    status = host.run(f"supervisorctl -c {CONFIG_DIR}/supervisord.conf status api-{active}")
    assert status.rc == 0 and "RUNNING" in status.stdout, status.stdout + status.stderr
    image = state()["colours"][active]["image"]
    assert image.startswith(f"{REGISTRY}/giftcrypto/api@sha256:")
    container = _container(active)
    assert container["ImageName"] == image
    assert container["State"]["Running"]
    assert container["Config"]["User"] == "10001:10001"
    assert container["HostConfig"]["ReadonlyRootfs"] is True
    assert container["HostConfig"]["CapAdd"] in (None, [])
    assert container["HostConfig"]["NetworkMode"] == "host"
    # The only host path the colour sees: the local CA certificate, read-only.
    assert [(m["Source"], m["RW"]) for m in container["Mounts"]] == [(CA, False)]
    status = pathlib.Path(f"/proc/{container['State']['Pid']}/status").read_text()
    uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    assert set(uids) == {"10001"}
    assert "--port " + str(COLOURS[active]) in " ".join(container["Args"])


def test_the_image_of_each_colour_is_in_the_registry_by_digest():
    for info in state()["colours"].values():
        repository, digest = info["image"].removeprefix(f"{REGISTRY}/").split("@")
        request = urllib.request.Request(
            f"http://{REGISTRY}/v2/{repository}/manifests/{digest}",
            method="HEAD",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            assert response.headers["Docker-Content-Digest"] == digest
        assert not info["failed"]


def test_the_image_is_labelled_and_carries_no_build_tool():
    image = state()["colours"][state()["active"]]["image"]
    inspected = subprocess.run(
        ["podman", "--runtime", "runc", "image", "inspect", image], capture_output=True, text=True, check=True
    )
    labels = json.loads(inspected.stdout)[0]["Labels"]
    assert labels["org.opencontainers.image.title"] == "giftcrypto-api"
    assert "org.opencontainers.image.revision" in labels
    tools = subprocess.run(
        [
            "podman",
            "--runtime",
            "runc",
            "run",
            "--rm",
            "--pull",
            "never",
            "--entrypoint",
            "/bin/sh",
            image,
            "-c",
            "ls /opt/giftcrypto-api/bin; command -v gcc cc pip pip3 || true",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "giftcrypto-api" in tools
    assert not [t for t in tools if t.startswith("pip") or t.endswith(("/gcc", "/cc", "/pip", "/pip3"))]


@pytest.mark.parametrize(
    ("path", "mode", "group"),
    [
        (CONFIG_DIR, 0o750, "root"),
        (f"{CONFIG_DIR}/programs", 0o750, "root"),
        (f"{CONFIG_DIR}/haproxy.pem", 0o600, "root"),
        (f"{CONFIG_DIR}/haproxy.cfg", 0o640, "root"),
        (f"{CONFIG_DIR}/supervisord.conf", 0o640, "root"),
        (STATE_DIR, 0o750, "root"),
        (STATE_FILE, 0o640, "root"),
        (LOG_DIR, 0o750, "adm"),
        (RUN_DIR, 0o750, "root"),
        (SOCKET, 0o600, "root"),
        (f"{RUN_DIR}/supervisor.sock", 0o700, "root"),
        (f"{CERT_DIR}/server.key", 0o600, "root"),
    ],
)
def test_modes(host, path, mode, group):
    entry = host.file(path)
    assert entry.exists, path
    assert entry.user == "root" and entry.group == group
    assert entry.mode == mode, f"{path}: {oct(entry.mode)}"


def test_haproxy_and_colour_logs_are_json_and_rotated_daily_for_thirty_days(host):
    rotation = host.file("/etc/logrotate.d/giftcrypto-app-molecule").content_string
    logs = "/var/log/giftcrypto/app-molecule"
    assert f"{logs}/haproxy.log {logs}/api-*.log {{" in rotation
    assert "    rotate 30" in rotation.splitlines() and "    copytruncate" in rotation.splitlines()
    check = host.run("logrotate --debug /etc/logrotate.d/giftcrypto-app-molecule")
    assert check.rc == 0, check.stderr
    lines = host.file(f"{logs}/haproxy.log").content_string.split("\n")[:-1]
    requests = [json.loads(line) for line in lines if line.startswith("{")]
    assert requests and all({"time", "request_id", "status"} <= set(r) for r in requests)
    colour = state()["active"]
    lines = host.file(f"{logs}/api-{colour}.log").content_string.split("\n")[:-1]
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert records and all({"time", "level", "msg", "logger"} <= set(r) for r in records), colour


def test_no_secret_is_world_accessible():
    # The programs hold the service's AWS keys in their environment, haproxy.pem the TLS key:
    # nothing in the configuration is open to other users; of the certificate's files only the
    # certificate itself (public) is.
    programs = list(pathlib.Path(CONFIG_DIR, "programs").glob("api-*.env"))
    assert programs
    for path in [pathlib.Path(CONFIG_DIR), *pathlib.Path(CONFIG_DIR).rglob("*")]:
        assert path.lstat().st_mode & 0o007 == 0, f"{path}: {oct(path.lstat().st_mode)}"
    for path in pathlib.Path(CERT_DIR).iterdir():
        assert path.name == "server.crt" or path.lstat().st_mode & 0o007 == 0, path
    for program in programs:
        assert program.stat().st_mode & 0o777 == 0o600 and "AWS_SECRET_ACCESS_KEY" in program.read_text()
    for program in pathlib.Path(CONFIG_DIR, "programs").glob("api-*.conf"):
        assert program.stat().st_mode & 0o777 == 0o640 and "AWS_SECRET_ACCESS_KEY" not in program.read_text()


def test_no_secret_on_any_process_command_line(secret_json):
    roles = ("master", "monitor", "migrator", "app_rw", "app_ro", "auditor")
    names = [f"giftcrypto/{ENVIRONMENT}/postgres/{role}" for role in roles]
    names += [f"giftcrypto/{ENVIRONMENT}/redis/{user}" for user in ("app", "admin", "monitor")]
    secrets = {secret_json(name)["password"] for name in names}
    secrets.add("molecule-dummy-secret-key")  # the AWS secret key given to the colours
    assert all(len(s) >= 16 for s in secrets)
    checked = 0
    for proc in pathlib.Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # the process ended
        checked += 1
        leaked = [s[:4] + "..." for s in secrets if s in cmdline]
        assert not leaked, f"pid {proc.name}: {leaked} on its command line"
    assert checked > 10


# --- a second release, then a rollback -----------------------------------------------------------


@pytest.fixture(scope="module")
def released(played):
    """Releases again (another release name) through the converge play, under load.

    Its migrations are left out (the converge's release ran them through the role, and db_schema's
    own scenario covers them): this release is about the switch.
    """
    before = state()
    old = before["active"]
    old_release = before["colours"][old]["release"]
    name = "molecule-next" if old_release != "molecule-next" else "molecule-next-b"
    with Load() as load:
        played(
            ROOT / "molecule" / "app_deploy" / "converge.yml",
            *("-e", f"app_deploy_release={name}", "-e", "app_deploy_run_migrations=false"),
        )
    new = next(c for c in COLOURS if c != old)
    return {"old": old, "old_release": old_release, "new": new, "name": name, "load": load}


def test_a_new_release_goes_to_the_idle_colour_and_takes_the_traffic(released):
    current = state()
    assert current["active"] == released["new"] and current["previous"] == released["old"]
    assert current["colours"][released["new"]]["release"] == released["name"]
    assert_serving(released["new"])
    assert https("/version").json()["release"] == released["name"]
    assert released["load"].ok > 0 and released["load"].failures == []


def test_the_previous_colour_is_kept_warm(released, host):
    old = released["old"]
    ready = requests.get(f"http://127.0.0.1:{COLOURS[old]}/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["colour"] == old
    assert haproxy_servers()[old]["status"] == "UP"
    status = host.run(f"supervisorctl -c {CONFIG_DIR}/supervisord.conf status api-{old}")
    assert "RUNNING" in status.stdout


def test_rollback_sends_the_traffic_back_to_the_previous_colour(released, played):
    with Load() as load:
        played(ROOT / "playbooks" / "rollback.yml")
    current = state()
    assert current["active"] == released["old"] and current["previous"] == released["new"]
    assert current["history"][-1]["event"].startswith("rolled back from")
    assert_serving(released["old"])
    assert https("/version").json()["release"] == released["old_release"]
    assert load.ok > 0 and load.failures == []
    # The release rolled back from stays warm too, for a release of it again.
    assert requests.get(f"http://127.0.0.1:{COLOURS[released['new']]}/readyz", timeout=5).status_code == 200
