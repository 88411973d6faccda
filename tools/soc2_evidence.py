"""The SOC 2 evidence matrix (issue 8): which tests evidence which criterion, and did they pass.

    python tools/soc2_evidence.py [--output docs/compliance/soc2-matrix.md] [--strict]

Run by ``nox -s evidence``. Two inputs:

* the ``@pytest.mark.soc2("CC6.1", ...)`` markers, collected with ``pytest --collect-only`` and
  this module loaded as a plugin (``-p tools.soc2_evidence --soc2-markers=FILE``), which dumps
  nodeid -> criteria to JSON;
* the junit XML of the last runs in tests/output/ (unit.xml from ``nox -s unit``, integration.xml
  from ``nox -s integration``); a test found in several files takes its result from the newest.

It writes docs/compliance/soc2-matrix.md: per criterion its control (CONTROLS below), each test
with its result (passed, failed, skipped or not run) and the date of its run. A criterion is
evidenced only when it has at least one test and every one of its tests passed: a failed, skipped
or missing result makes it NOT evidenced, so the matrix never claims a control that no passing
test shows. With --strict the script exits 1 when a criterion is not evidenced.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

ROOT = pathlib.Path(__file__).resolve().parents[1]
MARKER = "soc2"
DEFAULT_TESTS = ("tests/unit", "tests/integration")
DEFAULT_JUNIT_DIR = ROOT / "tests" / "output"
DEFAULT_OUTPUT = ROOT / "docs" / "compliance" / "soc2-matrix.md"

# criterion -> the control of this platform that its tests evidence.
CONTROLS: dict[str, str] = {
    "A1.2": (
        "Backup and recovery infrastructure: continuous WAL archiving (archive_timeout at most 60 s) "
        "into an encrypted pgBackRest repository whose passphrase is only in Secrets Manager, a full "
        "backup after deploy, scheduled differentials"
    ),
    "A1.3": (
        "Recovery plan testing: the disaster-recovery drill restores to the point before a disaster "
        "into a fresh cluster and proves ledger, balances and audit chain equal, RPO and RTO met"
    ),
    "CC6.1": (
        "Logical access: scram-sha-256 / ACL-user authentication on every data server, no default or "
        "anonymous user, row-level security between users, least-privilege roles, secrets kept out "
        "of logs, PII encrypted (envelope encryption)"
    ),
    "CC6.3": (
        "Least privilege: no IAM policy of ours allows broad wildcards, the application role reads only "
        "its own secrets and uses only the pii key, database roles hold exactly their designed privileges"
    ),
    "CC6.6": "Boundary protection: only TLS listeners on the network entry points, plaintext refused",
    "CC6.7": (
        "Transmission encryption: TLS 1.2/1.3 only, AEAD cipher suites with forward secrecy, "
        "server certificates verified against the platform CA"
    ),
    "CC7.2": (
        "Monitoring and audit logging: pgaudit (writes, DDL, role changes, and every read of personal "
        "data through object audit logging) and failed logins in the JSON server log (kept a year), "
        "tamper-evident audit trail"
    ),
    "CC8.1": (
        "Change management: production changes only with an explicit approval, whichever playbook "
        "applies them; a plan needs none"
    ),
}

PASSED, FAILED, SKIPPED, NOT_RUN = "passed", "failed", "skipped", "not run"


# --- pytest plugin (loaded with -p tools.soc2_evidence) -------------------------------------------


def pytest_addoption(parser) -> None:
    parser.addoption("--soc2-markers", default=None, help="write nodeid -> SOC 2 criteria (JSON) here")


def pytest_collection_finish(session) -> None:
    target = session.config.getoption("--soc2-markers")
    if not target:
        return
    markers: dict[str, list[str]] = {}
    for item in session.items:
        criteria = [str(c) for mark in item.iter_markers(name=MARKER) for c in mark.args]
        if criteria:
            markers[item.nodeid] = sorted(set(criteria))
    pathlib.Path(target).write_text(json.dumps(markers, indent=2, sort_keys=True) + "\n")


# --- the script ----------------------------------------------------------------------------------


def collect_markers(paths: list[str], cwd: pathlib.Path = ROOT) -> dict[str, list[str]]:
    """nodeid -> criteria of every collected test carrying the soc2 marker."""
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "markers.json"
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
        command += ["-p", "tools.soc2_evidence", f"--soc2-markers={out}", *paths]
        result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0 or not out.exists():
            raise SystemExit(f"collecting the soc2 markers failed:\n{result.stdout}\n{result.stderr}")
        return json.loads(out.read_text())


def junit_key(nodeid: str) -> tuple[str, str]:
    """The (classname, name) pytest's junitxml gives a nodeid.

    a/b/test_x.py::Cls::t[p] -> (a.b.test_x.Cls, t[p])
    """
    parts = nodeid.split("::")
    path = parts[0]
    if path.endswith(".py"):
        path = path[: -len(".py")]
    classname = ".".join([path.replace("/", "."), *parts[1:-1]])
    return classname, parts[-1]


def _case_result(case: ET.Element) -> str:
    tags = {child.tag for child in case}
    if tags & {"failure", "error"}:
        return FAILED
    if "skipped" in tags:
        return SKIPPED
    return PASSED


def _worse(a: str, b: str) -> str:
    order = [FAILED, SKIPPED, NOT_RUN, PASSED]
    return min(a, b, key=order.index)


def read_junit(path: pathlib.Path) -> tuple[str, dict[tuple[str, str], str]] | None:
    """(date of the run, (classname, name) -> result) of a junit XML file; None if it is not one."""
    try:
        root = ET.parse(path).getroot()  # noqa: S314 - our own pytest output
    except ET.ParseError:
        return None
    suites = (
        [root] if root.tag == "testsuite" else root.findall("testsuite") if root.tag == "testsuites" else []
    )
    if not suites:
        return None
    stamp = next((s.get("timestamp") for s in suites if s.get("timestamp")), None)
    if stamp:
        when = datetime.datetime.fromisoformat(stamp)
    else:
        when = datetime.datetime.fromtimestamp(path.stat().st_mtime, tz=datetime.UTC)
    if when.tzinfo is None:
        when = when.astimezone()
    results: dict[tuple[str, str], str] = {}
    for suite in suites:
        for case in suite.iter("testcase"):
            key = (case.get("classname", ""), case.get("name", ""))
            result = _case_result(case)
            # A test reported twice (e.g. a teardown error after its call) keeps its worse result.
            results[key] = _worse(results[key], result) if key in results else result
    return when.astimezone(datetime.UTC).isoformat(timespec="seconds"), results


def read_results(junit_files: list[pathlib.Path]) -> dict[tuple[str, str], tuple[str, str]]:
    """(classname, name) -> (result, date of its run), the newest run of a test winning."""
    runs = [(run[0], run[1]) for f in junit_files if (run := read_junit(f)) is not None]
    merged: dict[tuple[str, str], tuple[str, str]] = {}
    for when, results in sorted(runs, key=lambda r: r[0]):
        for key, result in results.items():
            merged[key] = (result, when)
    return merged


def build_matrix(
    markers: dict[str, list[str]], results: dict[tuple[str, str], tuple[str, str]]
) -> dict[str, dict]:
    """criterion -> {control, evidenced, tests: [(nodeid, result, date)]}, for every criterion."""
    criteria = sorted(set(CONTROLS) | {c for cs in markers.values() for c in cs})
    matrix: dict[str, dict] = {}
    for criterion in criteria:
        tests = []
        for nodeid in sorted(n for n, cs in markers.items() if criterion in cs):
            result, when = results.get(junit_key(nodeid), (NOT_RUN, ""))
            tests.append((nodeid, result, when))
        known = criterion in CONTROLS
        matrix[criterion] = {
            "control": CONTROLS.get(criterion, "UNKNOWN CRITERION: no control in tools/soc2_evidence.py"),
            # Evidenced: a known control, at least one test, and every test passed.
            "evidenced": known and bool(tests) and all(result == PASSED for _, result, _ in tests),
            "tests": tests,
        }
    return matrix


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(matrix: dict[str, dict], sources: list[str], generated: str) -> str:
    lines = [
        "# SOC 2 evidence matrix",
        "",
        f"Generated by `nox -s evidence` (tools/soc2_evidence.py) on {generated}, from the "
        f"`@pytest.mark.soc2` markers and the junit results in {', '.join(sources) or 'no junit file'}.",
        "Do not edit by hand. A criterion is **evidenced** only when it has at least one test and "
        "every one of its tests passed in the last run; otherwise it is **NOT evidenced**.",
        "",
        "## Summary",
        "",
        "| Criterion | Control | Status | Passed |",
        "|---|---|---|---|",
    ]
    for criterion, row in matrix.items():
        passed = sum(result == PASSED for _, result, _ in row["tests"])
        status = "evidenced" if row["evidenced"] else "**NOT evidenced**"
        lines.append(f"| {criterion} | {_cell(row['control'])} | {status} | {passed}/{len(row['tests'])} |")
    lines += [
        "",
        "## Tests",
        "",
        "| Criterion | Control | Test | Result | Date of the run |",
        "|---|---|---|---|---|",
    ]
    for criterion, row in matrix.items():
        if not row["tests"]:
            lines.append(f"| {criterion} | {_cell(row['control'])} | (no test) | {NOT_RUN} | |")
        for nodeid, result, when in row["tests"]:
            shown = result if result == PASSED else f"**{result}**"
            lines.append(f"| {criterion} | {_cell(row['control'])} | `{_cell(nodeid)}` | {shown} | {when} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", nargs="+", default=list(DEFAULT_TESTS), help="paths to collect")
    parser.add_argument("--junit-dir", type=pathlib.Path, default=DEFAULT_JUNIT_DIR)
    parser.add_argument("--markers", type=pathlib.Path, help="a markers JSON instead of collecting")
    parser.add_argument("--output", type=pathlib.Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a criterion is not evidenced")
    args = parser.parse_args(argv)

    markers = json.loads(args.markers.read_text()) if args.markers else collect_markers(args.tests)
    junit_files = sorted(p for p in args.junit_dir.glob("*.xml") if read_junit(p) is not None)
    matrix = build_matrix(markers, read_results(junit_files))
    sources = [str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in junit_files]
    generated = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(matrix, sources, generated))

    missing = [c for c, row in matrix.items() if not row["evidenced"]]
    for criterion, row in matrix.items():
        passed = sum(result == PASSED for _, result, _ in row["tests"])
        state = "evidenced" if row["evidenced"] else "NOT evidenced"
        print(f"{criterion}: {state} ({passed}/{len(row['tests'])} tests passed)")
    print(f"wrote {args.output}")
    return 1 if args.strict and missing else 0


if __name__ == "__main__":
    sys.exit(main())
