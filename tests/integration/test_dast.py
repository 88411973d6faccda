"""DAST of the deployed API (issue 24 item 4): `tools/dast.py scan`, as `nox -s dast` runs it, against
the platform this session deployed, before test_zzz_destroy tears it down (so the suite scans the
API without a deploy of its own).

wapiti comes from its own environment (.nox/dast, tools/dast/'s lock), which `nox -s integration`
builds and names in GIFTCRYPTO_WAPITI. The scan verifies HAProxy's certificate with the local CA,
keeps within its time budget, writes tests/output/dast/ (wapiti.json, html/, summary.md) and fails
on a high or critical finding that .dast-allowlist.yml does not accept, or an expired entry
(docs/adr/0021-dast-with-wapiti.md)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import urllib.parse

import pytest

from tests.integration.conftest import ROOT

pytestmark = pytest.mark.integration

OUTPUT = ROOT / "tests" / "output" / "dast"


def test_dast_of_the_deployed_api_finds_nothing_high_that_is_not_allow_listed():
    wapiti = pathlib.Path(os.environ.get("GIFTCRYPTO_WAPITI", ROOT / ".nox" / "dast" / "bin" / "wapiti"))
    assert wapiti.is_file(), f"{wapiti}: no wapiti; `nox -s integration` (or `nox -s dast`) installs it"
    scan = [sys.executable, "tools/dast.py", "scan", "--wapiti", str(wapiti), "--output", str(OUTPUT)]
    result = subprocess.run(scan, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    report = json.loads((OUTPUT / "wapiti.json").read_text())
    assert report["infos"]["target"] == "https://127.0.0.1:8443/"
    assert list((OUTPUT / "html").glob("*.html"))
    # The scan signed in (tools/local_cognito.py): the protected route answered it, not only 401.
    stats = [
        page["response"].get("status_code")
        for page in report["infos"].get("crawled_pages") or []
        if urllib.parse.urlsplit(page["request"]["url"]).path == "/api/v1/stats"
    ]
    assert 200 in stats, f"/api/v1/stats answered the scan {stats}"
    # Its access token is in none of what the scan left.
    leftovers = [p for p in OUTPUT.rglob("*") if p.is_file() and b"Bearer eyJ" in p.read_bytes()]
    assert leftovers == []
