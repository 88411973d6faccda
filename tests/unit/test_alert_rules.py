"""Alerting of issue 6: Prometheus rules, their unit tests, Alertmanager routing and inhibition.

Runs the real tools of the Debian 12 packages (prometheus: promtool; prometheus-alertmanager:
amtool and prometheus-alertmanager). They are required, not optional: a missing tool FAILS the
test with the package to install (`apt-get install -y --no-install-recommends prometheus
prometheus-alertmanager`), it does not skip.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "roles" / "monitoring" / "files" / "rules"
TESTS_DIR = ROOT / "tests" / "monitoring"
RUNBOOKS_DIR = ROOT / "docs" / "runbooks"
RUNBOOK_PREFIX = "https://github.com/giftcrypto/platform/blob/main/docs/runbooks/"
RUNBOOK_SECTIONS = ("## What it means", "## How to check", "## How to fix", "## How to escalate")
SEVERITIES = {"critical", "warning"}

sys.path.insert(0, str(TESTS_DIR))
from render_alertmanager import render

RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
TEST_FILES = sorted(TESTS_DIR.glob("*.test.yml"))
VARS_FILES = {
    "local": TESTS_DIR / "alertmanager_vars.local.yml",
    "production": TESTS_DIR / "alertmanager_vars.production.yml",
}
PACKAGES = {
    "promtool": "prometheus",
    "amtool": "prometheus-alertmanager",
    "prometheus-alertmanager": "prometheus-alertmanager",
}

# (labels of an alert, receivers it must reach, in route order)
ROUTES = [
    ({"alertname": "PostgresDown", "severity": "critical", "service": "postgres"}, "pager,chat,email"),
    ({"alertname": "ApiErrorBudgetBurn", "severity": "critical", "service": "api"}, "pager,chat,email"),
    ({"alertname": "RedisEvictions", "severity": "warning", "service": "redis"}, "chat"),
    ({"alertname": "UserRegistrationsDrop", "severity": "warning", "service": "business"}, "chat"),
    (
        {"alertname": "PostgresAuthenticationFailures", "severity": "critical", "category": "security"},
        "security,pager,chat,email",
    ),
    ({"alertname": "Unclassified"}, "chat"),
]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not installed: the alerting tests need the Debian package {PACKAGES[name]} "
            "(apt-get install -y --no-install-recommends prometheus prometheus-alertmanager)",
            pytrace=False,
        )
    return path


def _run(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def _alert_rules() -> list[tuple[str, dict]]:
    rules = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            rules += [(path.name, rule) for rule in group["rules"] if "alert" in rule]
    return rules


ALERT_RULES = _alert_rules()
ALERT_NAMES = sorted({rule["alert"] for _, rule in ALERT_RULES})


@pytest.fixture(scope="module", params=sorted(VARS_FILES))
def alertmanager_config(request, tmp_path_factory) -> Path:
    """The Alertmanager configuration rendered for the local or a cloud environment."""
    path = tmp_path_factory.mktemp("alertmanager") / f"alertmanager.{request.param}.yml"
    path.write_text(render(VARS_FILES[request.param]), encoding="utf-8")
    return path


def test_rule_files_and_unit_tests_exist():
    assert RULE_FILES, f"no Prometheus rule file in {RULES_DIR}"
    assert TEST_FILES, f"no promtool unit test file (*.test.yml) in {TESTS_DIR}"


def test_promtool_check_rules():
    result = _run(_tool("promtool"), "check", "rules", *RULE_FILES)
    assert result.returncode == 0, f"promtool check rules failed:\n{result.stdout}{result.stderr}"


def test_promtool_test_rules():
    result = _run(_tool("promtool"), "test", "rules", *[p.name for p in TEST_FILES], cwd=TESTS_DIR)
    assert result.returncode == 0, f"promtool test rules failed:\n{result.stdout}{result.stderr}"


def test_every_rule_file_is_unit_tested():
    tested = set()
    for path in TEST_FILES:
        for rule_file in yaml.safe_load(path.read_text(encoding="utf-8"))["rule_files"]:
            tested.add((TESTS_DIR / rule_file).resolve())
    missing = [p.name for p in RULE_FILES if p.resolve() not in tested]
    assert not missing, f"rule files without a promtool unit test in {TESTS_DIR}: {missing}"


@pytest.mark.parametrize("alertname", ALERT_NAMES)
def test_every_alert_has_a_firing_and_a_silent_test_case(alertname):
    firing, silent = 0, 0
    for path in TEST_FILES:
        for test in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for case in test.get("alert_rule_test", []):
                if case["alertname"] == alertname:
                    if case.get("exp_alerts"):
                        firing += 1
                    else:
                        silent += 1
    assert firing, f"alert {alertname}: no promtool test case where it fires (non-empty exp_alerts)"
    assert silent, f"alert {alertname}: no promtool test case where it stays silent (exp_alerts: [])"


@pytest.mark.parametrize(
    ("rule_file", "rule"),
    ALERT_RULES,
    ids=[f"{rule['alert']}-{rule['labels'].get('severity')}" for _, rule in ALERT_RULES],
)
def test_alert_metadata_and_runbook(rule_file, rule):
    name = f"{rule['alert']} ({rule_file})"
    labels, annotations = rule.get("labels", {}), rule.get("annotations", {})
    assert labels.get("severity") in SEVERITIES, (
        f"{name}: labels.severity must be one of {sorted(SEVERITIES)}"
    )
    assert labels.get("service"), f"{name}: labels.service is required (routing and inhibition use it)"
    for key in ("summary", "description", "runbook_url"):
        assert annotations.get(key), f"{name}: annotations.{key} is required"
    url = annotations["runbook_url"]
    assert url.startswith(RUNBOOK_PREFIX) and url.endswith(".md"), (
        f"{name}: annotations.runbook_url must be {RUNBOOK_PREFIX}<name>.md, got {url}"
    )
    runbook = RUNBOOKS_DIR / url.removeprefix(RUNBOOK_PREFIX)
    assert runbook.is_file(), f"{name}: runbook {runbook.relative_to(ROOT)} does not exist"
    text = runbook.read_text(encoding="utf-8")
    assert rule["alert"] in text, f"{runbook.relative_to(ROOT)} does not name the alert {rule['alert']}"
    missing = [s for s in RUNBOOK_SECTIONS if s not in text]
    assert not missing, f"{runbook.relative_to(ROOT)} lacks the sections {missing}"


def test_runbook_index_lists_every_runbook():
    index = (RUNBOOKS_DIR / "README.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(([\w.-]+\.md)\)", index))
    runbooks = {p.name for p in RUNBOOKS_DIR.glob("*.md") if p.name != "README.md"}
    assert runbooks <= linked, f"runbooks missing from docs/runbooks/README.md: {sorted(runbooks - linked)}"
    assert linked <= runbooks | {"README.md"}, (
        f"README.md links missing runbooks: {sorted(linked - runbooks)}"
    )


def test_rendered_example_is_up_to_date():
    example = TESTS_DIR / "alertmanager.yml"
    assert example.read_text(encoding="utf-8") == render(VARS_FILES["production"]), (
        "tests/monitoring/alertmanager.yml is stale: run python tests/monitoring/render_alertmanager.py "
        "tests/monitoring/alertmanager_vars.production.yml tests/monitoring/alertmanager.yml"
    )


def test_amtool_check_config(alertmanager_config):
    result = _run(_tool("amtool"), "check-config", alertmanager_config)
    assert result.returncode == 0, (
        f"amtool check-config {alertmanager_config.name}:\n{result.stdout}{result.stderr}"
    )


def test_no_inline_secret(alertmanager_config):
    config = yaml.safe_load(alertmanager_config.read_text(encoding="utf-8"))
    forbidden = {
        "slack_api_url",
        "smtp_auth_password",
        "api_url",
        "auth_password",
        "routing_key",
        "service_key",
    }

    def walk(node, where):
        if isinstance(node, dict):
            for key, value in node.items():
                assert key not in forbidden, f"{where}.{key}: secrets must be read from a *_file path"
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    walk(config, alertmanager_config.name)


@pytest.mark.parametrize(("labels", "receivers"), ROUTES, ids=[route["alertname"] for route, _ in ROUTES])
def test_amtool_routes(alertmanager_config, labels, receivers):
    args = [f"{k}={v}" for k, v in labels.items()]
    result = _run(
        _tool("amtool"),
        "config",
        "routes",
        "test",
        f"--config.file={alertmanager_config}",
        f"--verify.receivers={receivers}",
        *args,
    )
    assert result.returncode == 0, (
        f"{labels} must reach {receivers} in {alertmanager_config.name}, amtool says: "
        f"{result.stdout.strip()} {result.stderr.strip()}"
    )


# ----- inhibition: amtool cannot test it offline, so a throwaway Alertmanager on a free loopback
# port (own storage, clustering off) receives alerts through its API and reports which are muted.

INHIBITION = [
    # (alert, inhibited?)
    (
        {
            "alertname": "PostgresConnectionsSaturation",
            "severity": "warning",
            "service": "postgres",
            "instance": "pg1",
        },
        True,
    ),
    (
        {
            "alertname": "PostgresReplicationLag",
            "severity": "critical",
            "service": "postgres",
            "instance": "pg1",
        },
        True,
    ),
    (
        {
            "alertname": "PostgresConnectionsSaturation",
            "severity": "warning",
            "service": "postgres",
            "instance": "pg2",
        },
        False,
    ),
    (
        {
            "alertname": "PostgresAuthenticationFailures",
            "severity": "critical",
            "service": "postgres",
            "category": "security",
            "instance": "pg1",
        },
        False,
    ),
    ({"alertname": "UserRegistrationsDrop", "severity": "warning", "service": "business"}, True),
    ({"alertname": "RedisEvictions", "severity": "warning", "service": "redis", "instance": "redis1"}, True),
    ({"alertname": "RedisEvictions", "severity": "warning", "service": "redis", "instance": "redis2"}, False),
    ({"alertname": "ApiErrorBudgetBurn", "severity": "warning", "service": "api"}, True),
    ({"alertname": "ApiErrorBudgetBurn", "severity": "critical", "service": "api"}, False),
]
SOURCES = [
    {"alertname": "PostgresDown", "severity": "critical", "service": "postgres", "instance": "pg1"},
    {"alertname": "RedisDown", "severity": "critical", "service": "redis", "instance": "redis1"},
]


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _api(base: str, path: str, body: object | None = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - loopback http only
        base + path, data=data, headers={"Content-Type": "application/json"}, method="POST" if data else "GET"
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        text = response.read().decode()
    return json.loads(text) if text.strip() else None


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory):
    """A private Alertmanager with the local configuration, on a free 127.0.0.1 port."""
    binary = _tool("prometheus-alertmanager")
    work = tmp_path_factory.mktemp("am")
    config = work / "alertmanager.yml"
    config.write_text(render(VARS_FILES["local"]), encoding="utf-8")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = (work / "alertmanager.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/-/ready", timeout=2).close()  # noqa: S310
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"Alertmanager did not start:\n{(work / 'alertmanager.log').read_text()}")
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_inhibition_of_dependent_alerts(alertmanager):
    alerts = [*SOURCES, *(labels for labels, _ in INHIBITION)]
    _api(alertmanager, "/api/v2/alerts", [{"labels": labels} for labels in alerts])
    expected = {json.dumps(labels, sort_keys=True): inhibited for labels, inhibited in INHIBITION}
    deadline = time.monotonic() + 15
    while True:
        got = {
            json.dumps(alert["labels"], sort_keys=True): bool(alert["status"]["inhibitedBy"])
            for alert in _api(alertmanager, "/api/v2/alerts")
        }
        wrong = {k: got.get(k) for k, v in expected.items() if got.get(k) != v}
        if not wrong or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert not wrong, "inhibition differs from the expectation (alert: inhibited?): " + json.dumps(
        {k: {"expected": expected[k], "got": v} for k, v in wrong.items()}, indent=1
    )
    for source in SOURCES:
        key = json.dumps(source, sort_keys=True)
        assert got.get(key) is False, f"the source alert {source['alertname']} must not be inhibited"
