#!/usr/bin/env python3
"""DAST of the deployed local API (issue 24 item 4, docs/adr/0021-dast-with-wapiti.md).

    python tools/dast.py scan --wapiti .nox/dast/bin/wapiti --output tests/output/dast
        scans the API that `nox -s deploy-local` serves through HAProxy (its URL and CA from the
        app_deploy role's defaults and the local inventory), over TLS verified with the local PKI's
        CA, with wapiti; writes wapiti.json, the HTML report (html/) and summary.md, then gates.
    python tools/dast.py gate REPORT.json --allowlist .dast-allowlist.yml
        the verdict alone, on a report already written.

The gate fails (exit 1) on a finding of level high or critical (wapiti's levels 3 and 4) that no
entry of the allow-list accepts, on an allow-list entry past its expiry date, on an allow-list that
does not parse, and on a scan that did not reach every route of the API (a scan of nothing proves
nothing). An entry that matched nothing is reported, so that it can be removed.

The allow-list (.dast-allowlist.yml) is a list under `allow:`; each entry names wapiti's category
(the report's key, e.g. "Content Security Policy Configuration") and may narrow it to a path, a
method, a parameter or a piece of the finding's text; it must carry a `reason` and an `expires`
date at most ALLOWLIST_MAX_DAYS ahead (an acceptance is temporary by construction).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
ALLOWLIST = ROOT / ".dast-allowlist.yml"
LOCAL_INVENTORY = ROOT / "inventories" / "local"
APP_DEPLOY_DEFAULTS = ROOT / "roles" / "app_deploy" / "defaults" / "main"

# wapiti's levels (wapitiCore.language.vulnerability): the gate stops at HIGH and above.
LEVELS = {0: "info", 1: "low", 2: "medium", 3: "high", 4: "critical"}
GATE_LEVEL = 3
ALLOWLIST_KEYS = frozenset({"category", "path", "method", "parameter", "info_contains", "reason", "expires"})
ALLOWLIST_MAX_DAYS = 180

# The API's routes (service/src/giftcrypto_api/app.py): the crawl starts from each, since the API
# links to nothing (JSON answers, no HTML to follow), and stays under the API's origin.
ROUTES = ("/healthz", "/readyz", "/version", "/metrics", "/api/v1/stats")

# wapiti's modules (`-m`): its default set ("common": injections, XSS, open redirect, file handling,
# uploads and the passive header, cookie, CSP and disclosure checks) plus the ones that apply to an
# HTTP API: CRLF injection, HTTP methods, Shellshock, Spring4Shell and backup files. Left out, each
# for its reason (docs/adr/0021-dast-with-wapiti.md): `ssl` (it looks the certificate up on crt.sh,
# off this machine, and needs sslscan; HAProxy's TLS policy is tested by
# tests/integration/test_tls_access.py), `ssrf`, `xxe` and `log4shell` (their checks are
# out-of-band, through wapiti's endpoint on the internet), `nikto` (its database is downloaded from
# GitHub at run time), `timesql` (time-based blind SQL injection: minutes of sleeps), `buster` and
# `brute_login_form` (brute force of 31,000 paths; no login form), `wapp` (downloads Wappalyzer's
# database) and the CMS, printer, network-device and takeover fingerprints (nothing of the kind).
MODULES = "common,-ssl,-ssrf,crlf,methods,shellshock,spring4shell,backup"
# The routes take no query parameter: each is also scanned with one (`?q=1`), so that the injection
# modules send their payloads through HAProxy's and Flask's request handling (a route that started
# reflecting or interpreting its query string would be found).
PROBE_QUERY = "q=1"
# The time budget: the whole scan, and each attack module.
MAX_SCAN_SECONDS = 120
MAX_ATTACK_SECONDS = 30


class DastError(Exception):
    """A problem the session reports as its failure, with what to do."""


# --- the allow-list ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class AllowEntry:
    category: str
    reason: str
    expires: datetime.date
    path: str | None = None
    method: str | None = None
    parameter: str | None = None
    info_contains: str | None = None

    def matches(self, finding: Finding) -> bool:
        return (
            finding.category == self.category
            and (self.path is None or finding.path == self.path)
            and (self.method is None or finding.method.upper() == self.method.upper())
            and (self.parameter is None or finding.parameter == self.parameter)
            and (self.info_contains is None or self.info_contains in finding.info)
        )

    def describe(self) -> str:
        narrowed = [
            f"{key}={value}"
            for key in ("path", "method", "parameter", "info_contains")
            if (value := getattr(self, key)) is not None
        ]
        return f"{self.category!r}" + (f" ({', '.join(narrowed)})" if narrowed else "")


def parse_allowlist(text: str, today: datetime.date, source: str = str(ALLOWLIST)) -> list[AllowEntry]:
    """The entries of an allow-list document; DastError naming the entry, the key and the rule for a
    malformed one. Expiry is not judged here (expired() does): an expired entry still parses."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise DastError(f"{source}: not YAML: {error}") from error
    if document is None:
        return []
    if not isinstance(document, dict) or set(document) != {"allow"}:
        raise DastError(f"{source}: the document must be a mapping with the one key `allow` (a list)")
    items = document["allow"] or []
    if not isinstance(items, list):
        raise DastError(f"{source}: `allow` must be a list of entries, not {type(items).__name__}")
    entries = []
    for number, item in enumerate(items, start=1):
        where = f"{source}: entry {number}"
        if not isinstance(item, dict):
            raise DastError(f"{where}: an entry is a mapping, not {item!r}")
        unknown = sorted(set(item) - ALLOWLIST_KEYS)
        if unknown:
            known = ", ".join(sorted(ALLOWLIST_KEYS))
            raise DastError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {known})")
        for key in ("category", "reason"):
            value = item.get(key)
            if not isinstance(value, str) or not value.strip():
                raise DastError(f"{where}: `{key}` is required, a non-empty string (got {value!r})")
        for key in ("path", "method", "parameter", "info_contains"):
            if key in item and (not isinstance(item[key], str) or not item[key]):
                raise DastError(f"{where}: `{key}`, when given, is a non-empty string (got {item[key]!r})")
        expires = item.get("expires")
        if isinstance(expires, str):
            with contextlib.suppress(ValueError):
                expires = datetime.date.fromisoformat(expires)
        if not isinstance(expires, datetime.date) or isinstance(expires, datetime.datetime):
            raise DastError(
                f"{where}: `expires` is required, a date YYYY-MM-DD (got {item.get('expires')!r})"
            )
        if expires > today + datetime.timedelta(days=ALLOWLIST_MAX_DAYS):
            raise DastError(
                f"{where}: `expires` {expires} is more than {ALLOWLIST_MAX_DAYS} days after {today}: "
                "an acceptance is reviewed at least that often"
            )
        entries.append(
            AllowEntry(
                category=item["category"],
                reason=item["reason"].strip(),
                expires=expires,
                **{key: item[key] for key in ("path", "method", "parameter", "info_contains") if key in item},
            )
        )
    return entries


def expired(entries: list[AllowEntry], today: datetime.date) -> list[AllowEntry]:
    """The entries whose date has passed (an entry expiring today still holds today)."""
    return [entry for entry in entries if entry.expires < today]


# --- the report ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Finding:
    category: str
    level: int
    method: str
    path: str
    parameter: str
    info: str
    module: str

    @property
    def severity(self) -> str:
        return LEVELS.get(self.level, f"level {self.level}")

    def describe(self) -> str:
        where = f"{self.method} {self.path}" + (f" [{self.parameter}]" if self.parameter else "")
        return f"{self.severity.upper()} {self.category}: {where}: {self.info}"


def findings(report: dict) -> list[Finding]:
    """Every finding of a wapiti JSON report: its vulnerabilities and anomalies (e.g. an internal
    server error an attack caused), each with its level."""
    found = []
    for section in ("vulnerabilities", "anomalies"):
        for category, items in (report.get(section) or {}).items():
            for item in items or []:
                found.append(
                    Finding(
                        category=category,
                        level=int(item.get("level", 0)),
                        method=str(item.get("method", "")),
                        path=str(item.get("path", "")),
                        parameter=str(item.get("parameter") or ""),
                        info=str(item.get("info", "")),
                        module=str(item.get("module", "")),
                    )
                )
    return sorted(found, key=lambda f: (-f.level, f.category, f.path, f.method, f.parameter, f.info))


def crawled_paths(report: dict) -> set[str]:
    """The paths the scan's crawl reached (wapiti's detailed report, `-dr 1`): those that answered
    without a server error (HAProxy without a live colour answers 503 on every path)."""
    paths = set()
    for page in (report.get("infos") or {}).get("crawled_pages") or []:
        url = (page.get("request") or {}).get("url")
        status = (page.get("response") or {}).get("status_code")
        if url and isinstance(status, int) and status < 500:
            paths.add(urllib.parse.urlsplit(url).path or "/")
    return paths


@dataclasses.dataclass
class Verdict:
    blocking: list[Finding]
    allowed: list[tuple[Finding, AllowEntry]]
    below: list[Finding]
    expired: list[AllowEntry]
    unused: list[AllowEntry]
    missing_routes: list[str]

    @property
    def passed(self) -> bool:
        return not self.blocking and not self.expired and not self.missing_routes


def judge(report: dict, entries: list[AllowEntry], today: datetime.date, routes=ROUTES) -> Verdict:
    """Sorts the report's findings: blocking (high or critical, not allowed), allowed, below the bar."""
    gone = expired(entries, today)
    valid = [entry for entry in entries if entry not in gone]
    blocking, allowed, below = [], [], []
    used: set[AllowEntry] = set()
    for finding in findings(report):
        if finding.level < GATE_LEVEL:
            below.append(finding)
            continue
        entry = next((entry for entry in valid if entry.matches(finding)), None)
        if entry is None:
            blocking.append(finding)
        else:
            allowed.append((finding, entry))
            used.add(entry)
    crawled = crawled_paths(report)
    return Verdict(
        blocking=blocking,
        allowed=allowed,
        below=below,
        expired=gone,
        unused=[entry for entry in valid if entry not in used],
        missing_routes=[route for route in routes if route not in crawled],
    )


def summary(verdict: Verdict, report: dict) -> str:
    infos = report.get("infos") or {}
    lines = [
        "# DAST of the local API (nox -s dast)",
        "",
        f"Target {infos.get('target', '?')}, wapiti {infos.get('version', '?')}, {infos.get('date', '?')}; "
        f"verdict: **{'passed' if verdict.passed else 'FAILED'}**.",
        "",
    ]

    def section(title: str, rows: list[str]) -> None:
        lines.extend([f"## {title} ({len(rows)})", "", *(f"- {row}" for row in rows or ["none"]), ""])

    section("High and critical findings not allow-listed (fail)", [f.describe() for f in verdict.blocking])
    section(
        "Expired allow-list entries (fail)", [f"{e.describe()}: expired {e.expires}" for e in verdict.expired]
    )
    section("Routes the scan did not reach (fail)", verdict.missing_routes)
    section(
        "Allow-listed findings",
        [f"{f.describe()} (until {e.expires}: {e.reason})" for f, e in verdict.allowed],
    )
    section("Allow-list entries that matched nothing (remove them?)", [e.describe() for e in verdict.unused])
    section("Findings below high (reported, not gated)", [f.describe() for f in verdict.below])
    return "\n".join(lines)


def gate(report_path: Path, allowlist: Path, today: datetime.date, out: Path | None = None) -> Verdict:
    if not report_path.is_file():
        raise DastError(f"{report_path}: no report (wapiti did not write one): the scan proves nothing")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    entries = parse_allowlist(
        allowlist.read_text(encoding="utf-8") if allowlist.exists() else "", today, str(allowlist)
    )
    verdict = judge(report, entries, today)
    text = summary(verdict, report)
    if out is not None:
        (out / "summary.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    return verdict


# --- the target and the scan ---------------------------------------------------------------------


def _yaml_files(directory: Path) -> dict:
    merged: dict = {}
    for path in sorted(directory.glob("*.yml")):
        merged.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    return merged


@dataclasses.dataclass(frozen=True)
class Target:
    url: str
    cafile: Path

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        return urllib.parse.urlsplit(self.url).port or 443


def local_target(inventory: Path = LOCAL_INVENTORY, defaults: Path = APP_DEPLOY_DEFAULTS) -> Target:
    """HAProxy's HTTPS front of the local deploy and the local CA, as app_deploy configures them
    (its defaults, overridden by the inventory's group_vars)."""
    settings = {**_yaml_files(defaults), **_yaml_files(inventory / "group_vars" / "all")}
    values = {}
    for name in ("app_deploy_listen_address", "app_deploy_https_port", "app_deploy_pki_dir"):
        value = settings.get(name)
        if value is None or "{{" in str(value):
            raise DastError(f"{name}={value!r}: the DAST needs a literal value (inventory or role default)")
        values[name] = value
    host = values["app_deploy_listen_address"]
    return Target(
        f"https://{host}:{values['app_deploy_https_port']}", Path(values["app_deploy_pki_dir"]) / "ca.crt"
    )


def check_reachable(target: Target, timeout: float = 5.0) -> None:
    """A TLS handshake verified with the local CA (certificate chain and host name): the scan runs
    only against the deployed API, never with verification off."""
    if not target.cafile.is_file():
        raise DastError(f"{target.cafile}: no local CA: deploy the platform first (nox -s deploy-local)")
    context = ssl.create_default_context(cafile=str(target.cafile))
    try:
        with (
            socket.create_connection((target.host, target.port), timeout=timeout) as sock,
            context.wrap_socket(sock, server_hostname=target.host),
        ):
            pass
    except (OSError, ssl.SSLError) as error:
        raise DastError(
            f"{target.url}: no TLS answer verified by {target.cafile} ({error}): deploy the platform first "
            "(nox -s deploy-local)"
        ) from error


def wapiti_args(
    target: Target,
    out: Path,
    session_dir: Path,
    report_format: str,
    output: Path,
    headers: tuple[str, ...] = (),
) -> list[str]:
    args = ["-u", f"{target.url}/", "--scope", "folder", "-m", MODULES, "--verify-ssl", "1"]
    args += [arg for header in headers for arg in ("-H", header)]
    args += ["--store-session", str(session_dir), "--store-config", str(session_dir / "config")]
    args += [
        "--no-bugreport",
        "--max-scan-time",
        str(MAX_SCAN_SECONDS),
        "--max-attack-time",
        str(MAX_ATTACK_SECONDS),
    ]
    args += ["-f", report_format, "-o", str(output), "-dr", "1", "-v", "1"]
    return args


def redact(out: Path, secret: str) -> None:
    """Replaces secret in every file under out (the reports and the log may echo request headers)."""
    if not secret:
        return
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if secret.encode() in data:
                path.write_bytes(data.replace(secret.encode(), b"[REDACTED]"))


def scan(wapiti: str, target: Target, out: Path, token: str = "") -> Path:
    """Runs wapiti twice on one session: the scan, writing the JSON report, then the HTML report of
    the same session (no crawl, no attack again: wapiti writes one format a run). SSL_CERT_FILE is
    the CA wapiti's HTTP client (httpx) verifies with when --verify-ssl is on. With token (a
    signed-in user's access token), every request carries it, so the scan reaches what the API does
    for a caller, not only its 401; the token is redacted from what the scan leaves and the session
    (wapiti's database of requests) is deleted after the reports."""
    session_dir = out / "session"
    session_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SSL_CERT_FILE": str(target.cafile)}
    report = out / "wapiti.json"
    urls = [f"{target.url}{route}{query}" for route in ROUTES for query in ("", f"?{PROBE_QUERY}")]
    starts = [arg for url in urls for arg in ("-s", url)]
    started = time.monotonic()
    headers = (f"Authorization: Bearer {token}",) if token else ()
    scan_args = wapiti_args(target, out, session_dir, "json", report, headers)
    first = [wapiti, *scan_args, *starts, "--flush-session"]
    with (out / "wapiti.log").open("w", encoding="utf-8") as log:
        code = subprocess.call(first, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 -- our argv
        if code != 0:
            raise DastError(f"wapiti exited {code}: see {out / 'wapiti.log'}")
        print(f"wapiti: scan of {target.url} in {time.monotonic() - started:.0f} s", flush=True)
        html = [wapiti, *wapiti_args(target, out, session_dir, "html", out / "html"), "--skip-crawl"]
        code = subprocess.call(html, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 -- our argv
        if code != 0:
            raise DastError(f"wapiti (HTML report) exited {code}: see {out / 'wapiti.log'}")
    shutil.rmtree(session_dir, ignore_errors=True)
    redact(out, token)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    scan_parser = commands.add_parser("scan", help="scan the deployed local API, then gate")
    scan_parser.add_argument("--wapiti", required=True)
    scan_parser.add_argument("--output", type=Path, required=True)
    scan_parser.add_argument("--allowlist", type=Path, default=ALLOWLIST)
    scan_parser.add_argument(
        "--anonymous",
        action="store_true",
        help="scan without signing in (by default a throwaway user of the local users pool signs in)",
    )
    gate_parser = commands.add_parser("gate", help="the verdict on a wapiti JSON report")
    gate_parser.add_argument("report", type=Path)
    gate_parser.add_argument("--allowlist", type=Path, default=ALLOWLIST)
    args = parser.parse_args(argv)
    today = datetime.date.today()
    try:
        # The allow-list is checked before the scan: a malformed one fails in a second.
        if args.allowlist.exists():
            parse_allowlist(args.allowlist.read_text(encoding="utf-8"), today, str(args.allowlist))
        if args.command == "scan":
            target = local_target()
            check_reachable(target)
            args.output.mkdir(parents=True, exist_ok=True)
            with contextlib.ExitStack() as stack:
                token = ""
                if not args.anonymous:
                    import local_cognito  # tools/local_cognito.py, beside this script

                    token = stack.enter_context(local_cognito.signed_in("users", prefix="dast")).access_token
                report = scan(args.wapiti, target, args.output, token)
            verdict = gate(report, args.allowlist, today, out=args.output)
        else:
            verdict = gate(args.report, args.allowlist, today, out=None)
    except DastError as error:
        print(f"dast: {error}", file=sys.stderr)
        return 1
    return 0 if verdict.passed else 1


if __name__ == "__main__":
    sys.exit(main())
