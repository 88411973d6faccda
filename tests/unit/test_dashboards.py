"""Grafana dashboards of roles/monitoring/files/dashboards/ (issue 6).

Offline checks: valid JSON, stable unique uids, the `${datasource}` variable everywhere, a query in
every panel, and every PromQL expression of the dashboards and of the rule files parsed by the
real promtool (Debian package prometheus; missing, the test FAILS with the package to install).
That every metric they name is really exported is tests/integration/test_dashboard_metrics.py's
job, against the live local Prometheus.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS_DIR = ROOT / "roles" / "monitoring" / "files" / "dashboards"
RULES_DIR = ROOT / "roles" / "monitoring" / "files" / "rules"
sys.path.insert(0, str(ROOT / "tests" / "monitoring"))
from promql_names import (
    dashboard_expressions,
    dashboard_panels,
    metric_names,
    recorded_names,
    rule_expressions,
    substitute_grafana_variables,
    vector_selectors,
)

EXPECTED = {"postgresql.json", "redis.json", "hosts.json", "service-red.json", "business.json"}
SCHEMA_VERSION = 39
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
DASHBOARD_FILES = sorted(DASHBOARDS_DIR.glob("*.json"))
RULE_FILES = sorted(RULES_DIR.glob("*.yml"))


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not installed: apt-get install -y --no-install-recommends prometheus",
            pytrace=False,
        )
    return path


def test_the_dashboards_exist():
    assert {p.name for p in DASHBOARD_FILES} == EXPECTED


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=[p.name for p in DASHBOARD_FILES])
def test_dashboard_structure(path):
    try:
        dashboard = _load(path)
    except json.JSONDecodeError as error:
        pytest.fail(f"{path.name} is not valid JSON: {error}", pytrace=False)
    assert dashboard.get("schemaVersion") == SCHEMA_VERSION, f"{path.name}: schemaVersion must be 39"
    uid = dashboard.get("uid", "")
    assert re.fullmatch(r"giftcrypto-[a-z0-9-]+", uid) and len(uid) <= 40, (
        f"{path.name}: uid {uid!r} must be a stable giftcrypto-<name> of at most 40 characters"
    )
    assert dashboard.get("id") is None, f"{path.name}: drop the instance-specific id (the uid identifies it)"
    assert dashboard.get("title"), f"{path.name}: title required"

    variables = {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}
    datasource = variables.get("datasource")
    assert datasource and datasource["type"] == "datasource" and datasource["query"] == "prometheus", (
        f"{path.name}: a template variable `datasource` of type datasource (prometheus) is required"
    )
    for name, variable in variables.items():
        if variable["type"] == "query":
            assert variable.get("datasource") == DATASOURCE, (
                f"{path.name}: variable {name} must use ${{datasource}}"
            )

    panels = list(dashboard_panels(dashboard))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), f"{path.name}: panel ids must be unique"
    for panel in panels:
        where = f"{path.name} panel {panel['id']} {panel.get('title')!r}"
        grid = panel.get("gridPos", {})
        assert grid.get("w", 0) > 0 and grid.get("x", 0) + grid.get("w", 0) <= 24, f"{where}: bad gridPos"
        if panel["type"] == "row":
            continue
        assert panel.get("datasource") == DATASOURCE, f"{where}: datasource must be ${{datasource}}"
        targets = panel.get("targets") or []
        assert targets, f"{where}: no query: an empty panel"
        for target in targets:
            assert target.get("expr", "").strip(), f"{where}: target {target.get('refId')} has no expr"
            assert target.get("datasource") == DATASOURCE, (
                f"{where}: target datasource must be ${{datasource}}"
            )
            assert metric_names(substitute_grafana_variables(target["expr"])), (
                f"{where}: {target['expr']!r} selects no metric"
            )


def test_dashboard_uids_and_titles_are_unique():
    dashboards = [_load(p) for p in DASHBOARD_FILES]
    uids = [d["uid"] for d in dashboards]
    titles = [d["title"] for d in dashboards]
    assert len(set(uids)) == len(uids), f"duplicate uids: {uids}"
    assert len(set(titles)) == len(titles), f"duplicate titles: {titles}"


def _expressions() -> list[tuple[str, str]]:
    found = []
    for path in DASHBOARD_FILES:
        found += [(f"{path.name} {where}", expr) for where, expr in dashboard_expressions(_load(path))]
    return found


def test_every_promql_expression_parses(tmp_path):
    """promtool check rules on the dashboards' expressions, each wrapped as a recording rule."""
    expressions = _expressions()
    assert expressions, "no PromQL found in the dashboards"
    rules = {
        "groups": [
            {
                "name": "dashboards",
                "rules": [
                    {"record": f"dashboard:expr_{i}", "expr": expr} for i, (_, expr) in enumerate(expressions)
                ],
            }
        ]
    }
    rules_file = tmp_path / "dashboards.rules.yml"
    rules_file.write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
    result = subprocess.run(
        [_promtool(), "check", "rules", str(rules_file), *map(str, RULE_FILES)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    # Name the dashboard panel behind each failing expr_<n>.
    for i, (where, _) in enumerate(expressions):
        output = output.replace(f"dashboard:expr_{i}", f"dashboard:expr_{i} ({where})")
    assert result.returncode == 0, f"promtool check rules failed:\n{output}"


def test_recording_rules_named_by_dashboards_exist():
    recorded = recorded_names(RULE_FILES)
    missing = {}
    for where, expr in _expressions():
        for name in metric_names(expr):
            if ":" in name and name not in recorded:
                missing.setdefault(name, []).append(where)
    assert not missing, f"recording rules used by dashboards but defined in no rule file: {missing}"


def test_api_panels_use_the_slo_rules_names():
    """service-red.json reads the same API metrics and labels as slo.yml (job, code)."""
    slo = RULES_DIR / "slo.yml"
    slo_names = set()
    for _, expr in rule_expressions([slo]):
        slo_names |= metric_names(expr)
    for where, expr in _expressions():
        for name, matchers in vector_selectors(expr):
            if name.startswith("http_"):
                assert name in slo_names, f"{where}: {name} is not a metric of slo.yml ({sorted(slo_names)})"
                assert 'job = "giftcrypto-api"' in matchers, (
                    f'{where}: {name} must select job="giftcrypto-api"'
                )
                assert "status" not in matchers, f"{where}: the status label of {name} is `code` (slo.yml)"
