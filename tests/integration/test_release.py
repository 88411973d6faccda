"""Blue-green releases under load (issue 7), against the local environment: HAProxy on
https://127.0.0.1:8443 in front of the two colours under supervisor.

A bounded load generator (50 requests/s, 5 keep-alive connections, tests/integration/loadgen.py)
runs through every scenario: a good release and a rollback must not fail a single request; a
release that fails its health check never gets traffic; one that degrades after the switch is
rolled back on its own. Release and rollback times go to tests/output/release.json
(docs/benchmarks.md)."""

from __future__ import annotations

import json
import pathlib
import secrets
import time

import pytest

from tests.integration.conftest import ROOT, run_playbook
from tests.integration.loadgen import LoadGenerator

URL = "https://127.0.0.1:8443/version"
CA = "/etc/giftcrypto/pki/ca.crt"
STATE = pathlib.Path("/var/lib/giftcrypto-app/state.json")
OUTPUT = ROOT / "tests" / "output" / "release.json"
ROLLBACK_TARGET_S = 10.0
# Test releases skip the migrations (the schema is current) and watch for 10 s, not 30.
FAST = ["-e", "app_deploy_run_migrations=false", "-e", "app_deploy_watch_seconds=10"]
RESULTS: dict[str, float | int | str] = {}


def _state() -> dict:
    return json.loads(STATE.read_text())


def _active_release() -> str:
    state = _state()
    return state["colours"][state["active"]]["release"]


def _release(name: str, *extra: str):
    return run_playbook("-e", f"app_deploy_release={name}", *FAST, *extra, playbook="playbooks/app.yml")


def _record(**figures) -> None:
    RESULTS.update(figures)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(RESULTS, indent=2, sort_keys=True) + "\n")


@pytest.fixture(scope="module")
def releases():
    """Names of this run's releases (unique, so every test makes a real release)."""
    tag = secrets.token_hex(3)
    return {name: f"itest-{tag}-{name}" for name in ("good", "unhealthy", "degrading", "final")}


def test_01_release_under_load_fails_no_request(releases):
    before = _active_release()
    with LoadGenerator(URL, CA) as load:
        time.sleep(2)
        started = time.time()
        result = _release(releases["good"])
        finished = time.time()
        time.sleep(2)
    assert result.returncode == 0, result.stdout[-3000:]
    assert load.failures() == [], load.failures()[:5]
    assert len(load.samples) > 100
    switched = load.first_served_by(releases["good"], after=started)
    assert switched is not None
    assert load.releases(after=finished) == {releases["good"]}
    assert _state()["previous"] and _active_release() == releases["good"]
    _record(
        release_seconds=round(finished - started, 1),
        release_requests=len(load.samples),
        release_failed_requests=len(load.failures()),
        release_previous=before,
    )


def test_02_rollback_under_load_within_10_seconds(releases):
    previous = _state()["colours"][_state()["previous"]]["release"]
    with LoadGenerator(URL, CA) as load:
        time.sleep(2)
        started = time.time()
        result = run_playbook(playbook="playbooks/rollback.yml")
        finished = time.time()
        time.sleep(2)
    assert result.returncode == 0, result.stdout[-3000:]
    assert load.failures() == [], load.failures()[:5]
    back = load.first_served_by(previous, after=started)
    assert back is not None
    assert load.releases(after=finished) == {previous}
    _record(
        rollback_to_previous_traffic_seconds=round(back - started, 2),
        rollback_playbook_seconds=round(finished - started, 1),
        rollback_requests=len(load.samples),
        rollback_failed_requests=len(load.failures()),
    )
    assert back - started <= ROLLBACK_TARGET_S


def test_03_release_failing_its_health_check_never_gets_traffic(releases):
    live = _active_release()
    with LoadGenerator(URL, CA) as load:
        result = _release(
            releases["unhealthy"], "-e", "app_deploy_fault=unhealthy", "-e", "app_deploy_health_timeout=10"
        )
        time.sleep(1)
    assert result.returncode != 0
    assert "never received traffic" in result.stdout
    assert load.failures() == [], load.failures()[:5]
    assert load.releases() == {live}
    assert _active_release() == live


def test_04_release_degrading_after_the_switch_is_rolled_back(releases):
    live = _active_release()
    with LoadGenerator(URL, CA) as load:
        started = time.time()
        # Healthy long enough to pass its checks and take the traffic, then answers 500s.
        result = _release(
            releases["degrading"],
            "-e",
            "app_deploy_fault=degrade-after:10",
            "-e",
            "app_deploy_watch_seconds=30",
        )
        finished = time.time()
        time.sleep(2)
    assert result.returncode != 0
    assert "was rolled back" in result.stdout
    assert "5xx" in result.stdout or "/readyz failed" in result.stdout
    assert _active_release() == live
    assert load.releases(after=finished) == {live}
    failed = load.failures()
    degraded_window = (max(s.started for s in failed) - min(s.started for s in failed)) if failed else 0.0
    _record(
        degrading_release_seconds=round(finished - started, 1),
        degrading_failed_requests=len(failed),
        degrading_failed_window_seconds=round(degraded_window, 1),
    )
    # The release was taken out within a few seconds of degrading, not left serving errors.
    assert degraded_window <= 10


def test_05_a_good_release_leaves_the_environment_serving(releases):
    with LoadGenerator(URL, CA) as load:
        result = _release(
            releases["final"], "-e", "app_deploy_strategy=canary", "-e", "app_deploy_canary_step_seconds=3"
        )
        time.sleep(1)
    assert result.returncode == 0, result.stdout[-3000:]
    assert load.failures() == [], load.failures()[:5]
    assert _active_release() == releases["final"]
