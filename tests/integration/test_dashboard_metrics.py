"""Every metric a dashboard or a rule names is really exported (issue 6): no empty panel, no blind alert.

Reads the metric names the local Prometheus holds (http://127.0.0.1:9090/api/v1/label/__name__/values,
filled by scraping node_exporter, postgres_exporter, redis_exporter, the pgBouncer exporter and mtail)
and compares them with the names in roles/monitoring/files/dashboards/*.json and
roles/monitoring/files/rules/*.yml. Recording-rule outputs count as existing: their own inputs
are checked like any other name.

A Prometheus that does not answer FAILS the test (run `nox -s deploy-local` first); it never skips.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS_DIR = ROOT / "roles" / "monitoring" / "files" / "dashboards"
RULE_FILES = sorted((ROOT / "roles" / "monitoring" / "files" / "rules").glob("*.yml"))
sys.path.insert(0, str(ROOT / "tests" / "monitoring"))
from promql_names import dashboard_expressions, recorded_names, rule_expressions, vector_selectors

pytestmark = pytest.mark.integration

# Names allowed to be missing from the live scrape: none. (Until issue 7 the API's http_* metrics
# were listed here; the service now runs and Prometheus scrapes it, job giftcrypto-api.)
ALLOWLIST: dict[str, str] = {}


@pytest.fixture(scope="module")
def prometheus(local_vars) -> str:
    host = local_vars.get("monitoring_listen_address", "127.0.0.1")
    port = local_vars.get("monitoring_prometheus_port", 9090)
    return f"http://{host}:{port}"


@pytest.fixture(scope="module")
def exported(prometheus) -> set[str]:
    url = f"{prometheus}/api/v1/label/__name__/values"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback http only
            body = json.load(response)
    except OSError as error:
        pytest.fail(
            f"the local Prometheus does not answer at {url} ({error}): deploy the local environment "
            "first (nox -s deploy-local)",
            pytrace=False,
        )
    assert body.get("status") == "success", f"{url}: {body}"
    return set(body["data"])


def _named() -> dict[str, list[tuple[str, str]]]:
    """metric name -> [(where, label matchers)] for every selector of the dashboards and rules."""
    expressions = [(f"rules {where}", expr) for where, expr in rule_expressions(RULE_FILES)]
    for path in sorted(DASHBOARDS_DIR.glob("*.json")):
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        expressions += [(f"{path.name} {where}", expr) for where, expr in dashboard_expressions(dashboard)]
    named: dict[str, list[tuple[str, str]]] = {}
    for where, expr in expressions:
        for name, matchers in vector_selectors(expr):
            named.setdefault(name, []).append((where, matchers))
    return named


NAMED = _named()
RECORDED = recorded_names(RULE_FILES)


def test_names_were_found():
    assert len(NAMED) > 50, f"suspiciously few metric names in the dashboards and rules: {sorted(NAMED)}"


def test_every_named_metric_is_exported(exported):
    missing = {
        name: sorted({where for where, _ in uses})
        for name, uses in sorted(NAMED.items())
        if name not in exported and name not in RECORDED and name not in ALLOWLIST
    }
    assert not missing, (
        f"{len(missing)} metric(s) named by dashboards or rules are exported by no local target "
        "(an empty panel, or an alert that can never fire):\n" + json.dumps(missing, indent=1)
    )
