#!/usr/bin/env python3
"""The verdict of ``nox -s security`` (issue 8), from the scanners' reports in tests/output/security/.

    python tools/security_gate.py history OUT_DIR
        writes the lines added by every commit of the repository (all refs) into
        OUT_DIR/<commit>/<path>, each under its own file name, so that detect-secrets reads them as
        it reads the tree (its keyword rules depend on the file type); OUT_DIR.json tells how many
        commits were read and whether the clone is shallow.
    python tools/security_gate.py gate REPORT_DIR --baseline .secrets.baseline
        lists every finding, HIGH first, writes REPORT_DIR/summary.md and exits 1 if one is HIGH or
        a report is missing (a scanner that did not run proves nothing).

What HIGH means, tool by tool:

- bandit: severity HIGH, at any confidence (``bandit -lll``);
- ansible-lint: every finding. The project runs it ``--strict`` (lint), and ``no-log-password``,
  a password that reaches the log, is reported by ansible-lint as a mere warning (experimental rule);
- checkov: a failed check of severity HIGH or CRITICAL; every failed check when checkov gives no
  severity (it gives none without a Prisma Cloud API key, i.e. here);
- zizmor: medium and high (the project's bar for the workflows: nothing above low);
- squawk: every violation (squawk rates all its rules "warning"; lint fails on any of them);
- detect-secrets: a secret of the tree that the audited baseline does not mark as a false positive
  (``"is_secret": false``), and a secret of the history whose value is not one of those;
- pip-audit: every known vulnerability (the PyPI database gives no severity), in what the shared
  environment and the service install (pip-audit.json) and in what the API's image installs
  (pip-audit-image.json, from service/requirements.lock). When the database
  did not answer, the audit is skipped with a notice (REPORT_DIR/pip-audit.skipped), not failed.

Standard library only: it runs with any Python 3.11.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class Finding:
    tool: str
    high: bool
    where: str
    what: str


# --- history -------------------------------------------------------------------------------------


BASELINE_NAME = ".secrets.baseline"


def extract_history(out: Path, repo: Path = ROOT) -> dict[str, object]:
    """Writes the added lines of every commit of repo into out/<sha12>/<path>; returns what was read."""
    git = shutil.which("git")
    if git is None:
        raise SystemExit("security_gate: git is not installed: the history cannot be scanned")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    log = subprocess.run(  # noqa: S603 -- a fixed argv: git log of this repository
        [
            git,
            "-c",
            "core.quotePath=off",
            "log",
            "--all",
            "--patch",
            "--unified=0",
            "--no-color",
            "--no-ext-diff",
            "--no-renames",
            "--no-textconv",
            "--format=%x00%H",
        ],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout
    shallow = subprocess.run(  # noqa: S603 -- a fixed argv
        [git, "rev-parse", "--is-shallow-repository"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    added: dict[tuple[str, str], list[bytes]] = {}
    commits = 0
    for chunk in log.split(b"\x00")[1:]:
        commits += 1
        sha, _, diff = chunk.partition(b"\n")
        commit = sha.decode().strip()
        path: str | None = None
        in_header = False
        for line in diff.split(b"\n"):
            if line.startswith(b"diff --git "):
                in_header, path = True, None
            elif in_header and line.startswith(b"@@"):
                in_header = False
            elif in_header and line.startswith(b"+++ "):
                target = line[4:].rstrip(b"\t").strip(b'"')
                path = None if target == b"/dev/null" else target[2:].decode("utf-8", "surrogateescape")
            elif not in_header and path is not None and line.startswith(b"+"):
                added.setdefault((commit, path), []).append(line[1:])
    base = out.resolve()
    for (commit, path), lines in added.items():
        if path == BASELINE_NAME:
            # The baseline holds the hashes of the audited strings, not secrets (the tree scan
            # leaves it out too); scanned, every hash would read as a high-entropy string.
            continue
        target = (base / commit[:12] / path).resolve()
        if not target.is_relative_to(base):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"\n".join(lines) + b"\n")
    meta = {"commits": commits, "files": len(added), "shallow": shallow == "true"}
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta


# --- the reports ---------------------------------------------------------------------------------

# A secret that only the history holds (removed from the tree since) and that was audited as a false
# positive: its detect-secrets hashed_secret -> why it is not a secret. A real secret found in the
# history is never listed here: rotate it, it is leaked for as long as the history exists.
HISTORY_FALSE_POSITIVES: dict[str, str] = {}


def _load(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))


def bandit(report: Path) -> list[Finding]:
    found = []
    for r in _load(report)["results"]:
        found.append(
            Finding(
                "bandit",
                r["issue_severity"] == "HIGH",
                f"{r['filename']}:{r['line_number']}",
                f"{r['test_id']} {r['issue_text']} (severity {r['issue_severity']}, "
                f"confidence {r['issue_confidence']})",
            )
        )
    return found


def ansible_lint(report: Path) -> list[Finding]:
    found = []
    for run in _load(report)["runs"]:
        for r in run.get("results", []):
            location = r["locations"][0]["physicalLocation"]
            line = location.get("region", {}).get("startLine", "")
            found.append(
                Finding(
                    "ansible-lint",
                    True,
                    f"{location['artifactLocation']['uri']}:{line}",
                    f"{r['ruleId']} ({r.get('level', 'error')}): {r['message']['text']}",
                )
            )
    return found


def checkov(report: Path) -> list[Finding]:
    data = _load(report)
    found = []
    for framework in data if isinstance(data, list) else [data]:
        failed = framework.get("results", {}).get("failed_checks", [])
        for c in failed:
            severity = c.get("severity")
            high = severity is None or str(severity).upper() in {"HIGH", "CRITICAL"}
            lines = c.get("file_line_range") or ["", ""]
            found.append(
                Finding(
                    "checkov",
                    high,
                    f"{c['file_path'].lstrip('/')}:{lines[0]}",
                    f"{c['check_id']} {c['check_name']} [{framework.get('check_type')}, "
                    f"severity {severity or 'not given'}] {c.get('resource', '')}",
                )
            )
        errors = framework.get("summary", {}).get("parsing_errors", 0)
        if errors:
            found.append(
                Finding("checkov", False, framework.get("check_type", "?"), f"{errors} file(s) not parsed")
            )
    return found


def zizmor(report: Path) -> list[Finding]:
    found = []
    for r in _load(report):
        severity = r["determinations"]["severity"]
        where = "?"
        for location in r.get("locations", []):
            key = location.get("symbolic", {}).get("key", {})
            path = key.get("Local", {}).get("given_path") or key.get("Local", {}).get("verbatim_path")
            if path:
                row = location["concrete"]["location"]["start_point"]["row"] + 1
                where = f"{path}:{row}"
                break
        found.append(
            Finding(
                "zizmor",
                severity.lower() in {"medium", "high"},
                where,
                f"{r['ident']} (severity {severity}, confidence {r['determinations']['confidence']}): "
                f"{r.get('desc', '')}",
            )
        )
    return found


def squawk(report: Path) -> list[Finding]:
    return [
        Finding(
            "squawk",
            True,
            f"{r['file']}:{r['line'] + 1}",
            f"{r['rule_name']} ({r['level']}): {r['message']}",
        )
        for r in _load(report)
    ]


def _false_positives(baseline: dict) -> set[str]:
    return {
        s["hashed_secret"]
        for secrets in baseline.get("results", {}).values()
        for s in secrets
        if s.get("is_secret") is False
    }


def secrets_tree(report: Path) -> list[Finding]:
    """The baseline as updated by ``detect-secrets scan --baseline``: unaudited entries are new."""
    found = []
    for filename, secrets in _load(report).get("results", {}).items():
        for s in secrets:
            audited = s.get("is_secret") is False
            if audited:
                what = f"{s['type']}: audited false positive (.secrets.baseline)"
            elif s.get("is_secret") is True:
                what = f"{s['type']}: a real secret (audited so): remove it and rotate it"
            else:
                what = f"{s['type']}: new, not in the audited baseline"
            found.append(Finding("detect-secrets", not audited, f"{filename}:{s['line_number']}", what))
    return found


def secrets_history(report: Path, baseline: Path, prefix: str) -> list[Finding]:
    accepted = _false_positives(_load(baseline)) | set(HISTORY_FALSE_POSITIVES)
    found = []
    for filename, secrets in _load(report).get("results", {}).items():
        commit, _, path = filename.removeprefix(prefix).lstrip("/").partition("/")
        for s in secrets:
            ok = s["hashed_secret"] in accepted
            what = s["type"] + (
                ": an audited false positive" if ok else ": in the history, not an audited false positive"
            )
            found.append(
                Finding("detect-secrets (history)", not ok, f"commit {commit} {path} (added line)", what)
            )
    return found


def pip_audit(report: Path) -> list[Finding]:
    found = []
    for dep in _load(report).get("dependencies", []):
        for v in dep.get("vulns", []):
            fixes = ", ".join(v.get("fix_versions", [])) or "none yet"
            aliases = ", ".join(v.get("aliases", []))
            found.append(
                Finding(
                    "pip-audit",
                    True,
                    f"{dep['name']}=={dep.get('version', '?')}",
                    f"{v['id']} ({aliases}) fixed in: {fixes}",
                )
            )
        if "skip_reason" in dep:
            found.append(Finding("pip-audit", False, dep["name"], f"not audited: {dep['skip_reason']}"))
    return found


# --- the gate ------------------------------------------------------------------------------------


def gate(reports: Path, baseline: Path) -> int:
    history_dir = reports / "history"
    sources = {
        "bandit": (reports / "bandit.json", bandit),
        "ansible-lint": (reports / "ansible-lint.sarif", ansible_lint),
        "checkov": (reports / "checkov" / "results_json.json", checkov),
        "zizmor": (reports / "zizmor.json", zizmor),
        "squawk": (reports / "squawk.json", squawk),
        "detect-secrets": (reports / "detect-secrets.json", secrets_tree),
        "detect-secrets (history)": (
            reports / "detect-secrets-history.json",
            lambda p: secrets_history(p, baseline, os.path.relpath(history_dir, ROOT)),
        ),
        "pip-audit": (reports / "pip-audit.json", pip_audit),
        # What the API's image installs (service/requirements.lock, its pins with their hashes).
        "pip-audit (image)": (reports / "pip-audit-image.json", pip_audit),
    }
    findings: list[Finding] = []
    notes: list[str] = []
    problems: list[str] = []
    counts: dict[str, tuple[int, int]] = {}
    for tool, (path, parse) in sources.items():
        if tool.startswith("pip-audit") and (reports / "pip-audit.skipped").exists():
            notes.append(f"{tool}: SKIPPED: " + (reports / "pip-audit.skipped").read_text().strip())
            counts[tool] = (0, 0)
            continue
        if not path.exists():
            problems.append(f"{tool}: no report at {os.path.relpath(path, ROOT)}: the scanner did not run")
            continue
        try:
            tool_findings = parse(path)
        except (ValueError, KeyError, TypeError) as error:
            problems.append(f"{tool}: unreadable report {os.path.relpath(path, ROOT)}: {error!r}")
            continue
        findings.extend(tool_findings)
        counts[tool] = (sum(f.high for f in tool_findings), sum(not f.high for f in tool_findings))
    meta_path = history_dir.with_suffix(".json")
    if meta_path.exists():
        meta = _load(meta_path)
        notes.append(f"history: {meta['commits']} commit(s) read, {meta['files']} file version(s) scanned")
        if meta["shallow"]:
            notes.append(
                "history: WARNING: shallow clone, the older commits were not scanned (fetch-depth: 0)"
            )

    high = [f for f in findings if f.high]
    below = [f for f in findings if not f.high]
    lines = ["# nox -s security", "", "| Tool | HIGH | below |", "|---|---|---|"]
    lines += [f"| {tool} | {h} | {b} |" for tool, (h, b) in counts.items()]
    lines += ["", *(f"- {n}" for n in notes)]
    for title, group in (("HIGH", high), ("Below HIGH", below)):
        lines += ["", f"## {title} ({len(group)})", ""]
        audited = [f for f in group if "audited false positive" in f.what]
        listed = [f for f in group if f not in audited]
        lines += [f"- **{f.tool}** `{f.where}`: {f.what}" for f in listed]
        if audited:
            lines.append(f"- and {len(audited)} secret finding(s) audited as false positives (not listed)")
    if problems:
        lines += ["", "## Scanners that did not report", "", *(f"- {p}" for p in problems)]
    text = "\n".join(lines) + "\n"
    (reports / "summary.md").write_text(text, encoding="utf-8")
    print(text)
    if high or problems:
        print(
            f"security: FAILED: {len(high)} HIGH finding(s), {len(problems)} scanner(s) without a report",
            file=sys.stderr,
        )
        return 1
    print(f"security: passed: no HIGH finding ({len(below)} below HIGH listed above)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    history = commands.add_parser(
        "history", help="the lines every commit added, one file per commit and path"
    )
    history.add_argument("out", type=Path)
    verdict = commands.add_parser("gate", help="lists the findings and fails on a HIGH one")
    verdict.add_argument("reports", type=Path)
    verdict.add_argument("--baseline", type=Path, default=ROOT / ".secrets.baseline")
    args = parser.parse_args(argv)
    if args.command == "history":
        meta = extract_history(args.out.resolve())
        print(f"history: {meta['commits']} commit(s), {meta['files']} file version(s) -> {args.out}")
        return 0
    return gate(args.reports.resolve(), args.baseline.resolve())


if __name__ == "__main__":
    sys.exit(main())
