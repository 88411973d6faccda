"""tools/dast.py: the allow-list of `nox -s dast` (parser, expiry, matching), the gate's verdict on a
wapiti report, the target it scans and the verified TLS it insists on."""

from __future__ import annotations

import datetime
import importlib.util
import ipaddress
import json
import socket
import ssl
import sys
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("dast", ROOT / "tools" / "dast.py")
dast = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = dast  # dataclasses look their module up while the class is made
_spec.loader.exec_module(dast)

TODAY = datetime.date(2026, 12, 6)
CSP = "Content Security Policy Configuration"
ALL_ROUTES = [
    {"request": {"url": f"https://127.0.0.1:8443{route}", "method": "GET"}, "response": {"status_code": 200}}
    for route in dast.ROUTES
]


def _report(vulnerabilities=None, anomalies=None, crawled=ALL_ROUTES) -> dict:
    return {
        "vulnerabilities": vulnerabilities or {},
        "anomalies": anomalies or {},
        "additionals": {},
        "infos": {"target": "https://127.0.0.1:8443/", "version": "Wapiti 3.3.2", "crawled_pages": crawled},
    }


def _finding(
    level: int, path: str = "/version", method: str = "GET", info: str = "text", parameter: str = ""
):
    return {
        "method": method,
        "path": path,
        "info": info,
        "level": level,
        "parameter": parameter,
        "module": "m",
    }


def _allow(**entry) -> str:
    entry = {"category": CSP, "reason": "why", "expires": "2027-01-31", **entry}
    return "allow:\n" + "".join(
        f"  - {key}: {json.dumps(value)}\n" if i == 0 else f"    {key}: {json.dumps(value)}\n"
        for i, (key, value) in enumerate(entry.items())
    )


# --- the parser ----------------------------------------------------------------------------------


def test_the_repository_allowlist_parses_and_has_nothing_expired():
    entries = dast.parse_allowlist(dast.ALLOWLIST.read_text(), datetime.date.today())
    assert dast.expired(entries, datetime.date.today()) == []


def test_an_entry_parses_with_its_narrowing_keys():
    (entry,) = dast.parse_allowlist(_allow(path="/metrics", method="get", info_contains="unsafe"), TODAY)
    assert entry == dast.AllowEntry(
        category=CSP,
        reason="why",
        expires=datetime.date(2027, 1, 31),
        path="/metrics",
        method="get",
        info_contains="unsafe",
    )


def test_an_unquoted_yaml_date_is_a_date_too():
    (entry,) = dast.parse_allowlist(
        "allow:\n  - category: x\n    reason: r\n    expires: 2027-01-31\n", TODAY
    )
    assert entry.expires == datetime.date(2027, 1, 31)


@pytest.mark.parametrize("text", ["", "allow:\n", "allow: []\n"])
def test_an_empty_allowlist_is_no_entry(text):
    assert dast.parse_allowlist(text, TODAY) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_allow(reason=""), "`reason` is required"),
        (_allow(reason="   "), "`reason` is required"),
        ("allow:\n  - category: x\n    expires: 2027-01-31\n", "`reason` is required"),
        ("allow:\n  - reason: r\n    expires: 2027-01-31\n", "`category` is required"),
        ("allow:\n  - category: x\n    reason: r\n", "`expires` is required"),
        (_allow(expires="31/01/2027"), "`expires` is required, a date"),
        (_allow(expires="2027-01-31T10:00:00"), "`expires` is required, a date"),
        (_allow(expires="2027-06-05"), "more than 180 days"),
        (_allow(severity="high"), "unknown key(s) severity"),
        (_allow(path=""), "`path`, when given, is a non-empty string"),
        (_allow(method=3), "`method`, when given, is a non-empty string"),
        ("allow:\n  - just a string\n", "an entry is a mapping"),
        ("allow: {category: x}\n", "`allow` must be a list"),
        ("entries: []\n", "the one key `allow`"),
        ("allow: [\n", "not YAML"),
    ],
)
def test_a_malformed_entry_is_refused_naming_the_entry_and_the_rule(text, message):
    with pytest.raises(dast.DastError) as refused:
        dast.parse_allowlist(text, TODAY, source="allow.yml")
    assert message in str(refused.value)
    assert str(refused.value).startswith("allow.yml")


def test_the_longest_acceptance_is_180_days():
    limit = TODAY + datetime.timedelta(days=180)
    assert dast.parse_allowlist(_allow(expires=limit.isoformat()), TODAY)[0].expires == limit


# --- expiry --------------------------------------------------------------------------------------


def test_an_entry_holds_on_its_expiry_date_and_expires_the_day_after():
    (entry,) = dast.parse_allowlist(_allow(expires="2026-12-06"), TODAY)
    assert dast.expired([entry], TODAY) == []
    assert dast.expired([entry], TODAY + datetime.timedelta(days=1)) == [entry]


def test_an_expired_entry_fails_the_gate_and_no_longer_accepts_its_finding():
    entries = dast.parse_allowlist(_allow(expires="2026-12-05"), TODAY)
    verdict = dast.judge(_report({CSP: [_finding(3)]}), entries, TODAY)
    assert not verdict.passed
    assert verdict.expired == entries
    assert [f.category for f in verdict.blocking] == [CSP]


def test_an_expired_entry_fails_even_when_nothing_matches_it():
    entries = dast.parse_allowlist(_allow(expires="2026-11-30"), TODAY)
    verdict = dast.judge(_report(), entries, TODAY)
    assert not verdict.passed and verdict.expired == entries


# --- matching ------------------------------------------------------------------------------------


def _one(**fields) -> dast.Finding:
    base = {
        "category": CSP,
        "level": 3,
        "method": "GET",
        "path": "/version",
        "parameter": "",
        "info": "x",
        "module": "csp",
    }
    return dast.Finding(**{**base, **fields})


@pytest.mark.parametrize(
    ("narrowing", "finding", "matches"),
    [
        ({}, _one(), True),
        ({}, _one(category="SQL Injection"), False),
        ({"path": "/version"}, _one(), True),
        ({"path": "/version"}, _one(path="/metrics"), False),
        ({"path": "/version"}, _one(path="/version/"), False),
        ({"method": "get"}, _one(method="GET"), True),
        ({"method": "POST"}, _one(method="GET"), False),
        ({"parameter": "q"}, _one(parameter="q"), True),
        ({"parameter": "q"}, _one(parameter=""), False),
        ({"info_contains": "unsafe-inline"}, _one(info="CSP allows 'unsafe-inline'"), True),
        ({"info_contains": "unsafe-inline"}, _one(info="CSP is not set"), False),
    ],
)
def test_an_entry_matches_its_category_and_every_narrowing_it_gives(narrowing, finding, matches):
    entry = dast.AllowEntry(category=CSP, reason="r", expires=TODAY, **narrowing)
    assert entry.matches(finding) is matches


# --- the verdict ---------------------------------------------------------------------------------


def test_a_clean_report_that_reached_every_route_passes():
    verdict = dast.judge(_report(), [], TODAY)
    assert verdict.passed
    assert (verdict.blocking, verdict.allowed, verdict.below, verdict.missing_routes) == ([], [], [], [])


@pytest.mark.parametrize("level", [3, 4])
def test_a_high_or_critical_finding_fails(level):
    verdict = dast.judge(_report({"SQL Injection": [_finding(level, parameter="id")]}), [], TODAY)
    assert not verdict.passed
    assert [(f.category, f.level, f.parameter) for f in verdict.blocking] == [("SQL Injection", level, "id")]


@pytest.mark.parametrize("level", [0, 1, 2])
def test_findings_below_high_are_reported_not_gated(level):
    verdict = dast.judge(_report({CSP: [_finding(level)]}), [], TODAY)
    assert verdict.passed and [f.level for f in verdict.below] == [level]


def test_an_anomaly_of_level_high_is_gated_like_a_vulnerability():
    verdict = dast.judge(
        _report(anomalies={"Internal Server Error": [_finding(3, path="/api/v1/stats")]}), [], TODAY
    )
    assert [f.category for f in verdict.blocking] == ["Internal Server Error"]


def test_an_allowed_high_finding_passes_and_the_other_does_not():
    entries = dast.parse_allowlist(_allow(path="/metrics"), TODAY)
    report = _report({CSP: [_finding(3, path="/metrics"), _finding(3, path="/version")]})
    verdict = dast.judge(report, entries, TODAY)
    assert [(f.path, e) for f, e in verdict.allowed] == [("/metrics", entries[0])]
    assert [f.path for f in verdict.blocking] == ["/version"]
    assert not verdict.passed


def test_an_entry_that_matched_nothing_is_reported_unused_without_failing():
    entries = dast.parse_allowlist(_allow(), TODAY)
    verdict = dast.judge(_report(), entries, TODAY)
    assert verdict.passed and verdict.unused == entries


def test_a_scan_that_did_not_reach_a_route_fails():
    crawled = [page for page in ALL_ROUTES if not page["request"]["url"].endswith("/api/v1/stats")]
    verdict = dast.judge(_report(crawled=crawled), [], TODAY)
    assert not verdict.passed and verdict.missing_routes == ["/api/v1/stats"]


def test_a_route_that_answered_a_server_error_was_not_reached():
    crawled = [
        {**page, "response": {"status_code": 503}} if page["request"]["url"].endswith("/version") else page
        for page in ALL_ROUTES
    ]
    verdict = dast.judge(_report(crawled=crawled), [], TODAY)
    assert not verdict.passed and verdict.missing_routes == ["/version"]


def test_a_scan_that_crawled_nothing_fails():
    verdict = dast.judge(_report(crawled=[]), [], TODAY)
    assert verdict.missing_routes == list(dast.ROUTES)


def test_the_gate_command_exits_1_on_a_high_finding_and_writes_the_summary(tmp_path, capsys):
    report = tmp_path / "wapiti.json"
    report.write_text(json.dumps(_report({"Cross Site Scripting": [_finding(3, info="XSS in q")]})))
    allowlist = tmp_path / "allow.yml"
    allowlist.write_text("allow: []\n")
    assert dast.main(["gate", str(report), "--allowlist", str(allowlist)]) == 1
    assert "HIGH Cross Site Scripting: GET /version: XSS in q" in capsys.readouterr().out
    report.write_text(json.dumps(_report()))
    assert dast.main(["gate", str(report), "--allowlist", str(allowlist)]) == 0


def test_the_gate_command_refuses_a_malformed_allowlist_and_a_missing_report(tmp_path, capsys):
    report = tmp_path / "wapiti.json"
    allowlist = tmp_path / "allow.yml"
    allowlist.write_text("allow: []\n")
    assert dast.main(["gate", str(report), "--allowlist", str(allowlist)]) == 1
    assert "no report" in capsys.readouterr().err
    report.write_text(json.dumps(_report()))
    allowlist.write_text(_allow(reason=""))
    assert dast.main(["gate", str(report), "--allowlist", str(allowlist)]) == 1
    assert "`reason` is required" in capsys.readouterr().err


# --- the target and its TLS ----------------------------------------------------------------------


def test_the_target_is_haproxys_https_front_and_the_local_ca():
    target = dast.local_target()
    assert (target.url, target.cafile) == ("https://127.0.0.1:8443", Path("/etc/giftcrypto/pki/ca.crt"))


def test_an_inventory_override_wins_over_the_role_default(tmp_path):
    (tmp_path / "group_vars" / "all").mkdir(parents=True)
    (tmp_path / "group_vars" / "all" / "app.yml").write_text("app_deploy_https_port: 9443\n")
    assert dast.local_target(inventory=tmp_path).url == "https://127.0.0.1:9443"


def _certificate(name: str, key, issuer_name: str, issuer_key, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def tls_server(tmp_path):
    """A TLS server on loopback with a certificate of its own CA; yields (port, CA file, another CA)."""
    ca_key, server_key, other_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = _certificate("test CA", ca_key, "test CA", ca_key, ca=True)
    other = _certificate("other CA", other_key, "other CA", other_key, ca=True)
    server = _certificate("127.0.0.1", server_key, "test CA", ca_key, ca=False)
    (tmp_path / "ca.crt").write_bytes(_pem(ca))
    (tmp_path / "other.crt").write_bytes(_pem(other))
    (tmp_path / "server.pem").write_bytes(
        _pem(server)
        + server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], tmp_path / "ca.crt", tmp_path / "other.crt"
    stop.set()
    thread.join(timeout=5)
    listener.close()


def test_the_scan_starts_only_after_a_handshake_verified_with_the_ca(tls_server):
    port, ca, _ = tls_server
    dast.check_reachable(dast.Target(f"https://127.0.0.1:{port}", ca))


def test_a_server_whose_certificate_the_ca_did_not_sign_is_refused(tls_server):
    port, _, other = tls_server
    with pytest.raises(dast.DastError, match="no TLS answer verified by"):
        dast.check_reachable(dast.Target(f"https://127.0.0.1:{port}", other))


def test_a_missing_ca_or_a_closed_port_says_to_deploy_first(tmp_path, tls_server):
    port, ca, _ = tls_server
    with pytest.raises(dast.DastError, match="no local CA: deploy the platform first"):
        dast.check_reachable(dast.Target(f"https://127.0.0.1:{port}", tmp_path / "absent.crt"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    with pytest.raises(dast.DastError, match="nox -s deploy-local"):
        dast.check_reachable(dast.Target(f"https://127.0.0.1:{closed}", ca), timeout=2)


def test_wapiti_verifies_tls_and_keeps_to_the_api_within_the_time_budget(tmp_path):
    target = dast.Target("https://127.0.0.1:8443", Path("/etc/giftcrypto/pki/ca.crt"))
    args = dast.wapiti_args(target, tmp_path, tmp_path / "s", "json", tmp_path / "r.json")

    def option(name: str) -> str:
        return args[args.index(name) + 1]

    assert option("--verify-ssl") == "1"
    assert option("-u") == "https://127.0.0.1:8443/" and option("--scope") == "folder"
    assert float(option("--max-scan-time")) <= 180
    assert "ssl" not in option("-m").split(",")  # `-ssl`: its certificate look-up leaves the machine
    assert "--no-bugreport" in args  # wapiti's crash reports go to the internet otherwise


def test_an_authenticated_scan_sends_the_token_and_leaves_none_behind(tmp_path):
    target = dast.Target("https://127.0.0.1:8443", Path("/etc/giftcrypto/pki/ca.crt"))
    header = "Authorization: Bearer eyJ.secret.token"
    args = dast.wapiti_args(target, tmp_path, tmp_path / "s", "json", tmp_path / "r.json", (header,))
    assert args[args.index("-H") + 1] == header
    assert "-H" not in dast.wapiti_args(target, tmp_path, tmp_path / "s", "json", tmp_path / "r.json")

    (tmp_path / "html").mkdir()
    (tmp_path / "wapiti.json").write_text('{"headers": {"Authorization": "Bearer eyJ.secret.token"}}')
    (tmp_path / "html" / "report.html").write_text("<td>Bearer eyJ.secret.token</td>")
    (tmp_path / "wapiti.log").write_text("nothing to hide\n")
    dast.redact(tmp_path, "eyJ.secret.token")
    texts = [p.read_text() for p in tmp_path.rglob("*") if p.is_file()]
    assert not any("eyJ.secret.token" in text for text in texts)
    assert sum("[REDACTED]" in text for text in texts) == 2
    assert (tmp_path / "wapiti.log").read_text() == "nothing to hide\n"
