"""tools/security_gate.py: what `nox -s security` calls HIGH, and the history it hands to detect-secrets."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("security_gate", ROOT / "tools" / "security_gate.py")
gate = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = gate  # dataclasses look their module up while the class is made
_spec.loader.exec_module(gate)


def _write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _clean_reports(directory: Path, baseline: dict) -> Path:
    """Every report of a run that found nothing, the dependency audit skipped."""
    _write(directory / "bandit.json", {"results": []})
    _write(directory / "ansible-lint.sarif", {"runs": [{"results": []}]})
    _write(directory / "checkov" / "results_json.json", {"check_type": "github_actions", "results": {}})
    _write(directory / "zizmor.json", [])
    _write(directory / "squawk.json", [])
    _write(directory / "detect-secrets.json", baseline)
    _write(directory / "detect-secrets-history.json", {"results": {}})
    (directory / "pip-audit.skipped").write_text("the database did not answer\n")
    return _write(directory / "baseline.json", baseline)


def _secret(kind: str, hashed: str, **audit) -> dict:
    """A detect-secrets result (the hash of a made-up string)."""
    return {"type": kind, "hashed_secret": hashed, "line_number": 1, **audit}  # pragma: allowlist secret


AUDITED = {"results": {"a.yml": [_secret("Secret Keyword", "f00", is_secret=False)]}}


def test_a_clean_run_passes_and_says_the_audit_was_skipped(tmp_path):
    baseline = _clean_reports(tmp_path, AUDITED)
    assert gate.gate(tmp_path, baseline) == 0
    summary = (tmp_path / "summary.md").read_text()
    assert "pip-audit: SKIPPED" in summary
    assert "1 secret finding(s) audited as false positives" in summary


def test_a_scanner_without_a_report_fails_the_gate(tmp_path):
    baseline = _clean_reports(tmp_path, AUDITED)
    (tmp_path / "zizmor.json").unlink()
    assert gate.gate(tmp_path, baseline) == 1
    assert "zizmor: no report" in (tmp_path / "summary.md").read_text()


@pytest.mark.parametrize(
    ("name", "data", "high"),
    [
        (
            "bandit.json",
            {
                "results": [
                    {
                        "filename": "plugins/x.py",
                        "line_number": 1,
                        "issue_severity": "HIGH",
                        "issue_confidence": "LOW",
                        "test_id": "B602",
                        "issue_text": "shell=True",
                    }
                ]
            },
            True,
        ),
        (
            "bandit.json",
            {
                "results": [
                    {
                        "filename": "plugins/x.py",
                        "line_number": 1,
                        "issue_severity": "MEDIUM",
                        "issue_confidence": "HIGH",
                        "test_id": "B608",
                        "issue_text": "sql",
                    }
                ]
            },
            False,
        ),
        (
            "zizmor.json",
            [
                {
                    "ident": "excessive-permissions",
                    "desc": "d",
                    "determinations": {"severity": "Medium", "confidence": "High"},
                }
            ],
            True,
        ),
        (
            "zizmor.json",
            [
                {
                    "ident": "self-repository",
                    "desc": "d",
                    "determinations": {"severity": "Low", "confidence": "High"},
                }
            ],
            False,
        ),
        (
            "checkov/results_json.json",
            [
                {
                    "check_type": "secrets",
                    "results": {
                        "failed_checks": [
                            {
                                "check_id": "CKV_SECRET_2",
                                "check_name": "AWS key",
                                "file_path": "/a",
                                "severity": None,
                            }
                        ]
                    },
                }
            ],
            True,
        ),
        (
            "checkov/results_json.json",
            {
                "check_type": "kubernetes",
                "results": {
                    "failed_checks": [
                        {"check_id": "CKV_K8S_1", "check_name": "n", "file_path": "/m.yml", "severity": "LOW"}
                    ]
                },
            },
            False,
        ),
        (
            "ansible-lint.sarif",
            {
                "runs": [
                    {
                        "results": [
                            {
                                "ruleId": "no-log-password",
                                "level": "warning",
                                "message": {"text": "Task/Handler: x"},
                                "locations": [
                                    {
                                        "physicalLocation": {
                                            "artifactLocation": {"uri": "roles/r/tasks/main.yml"},
                                            "region": {"startLine": 4},
                                        }
                                    }
                                ],
                            }
                        ]
                    }
                ]
            },
            True,
        ),
        (
            "squawk.json",
            [
                {
                    "file": "m.sql",
                    "line": 0,
                    "level": "Warning",
                    "rule_name": "ban-drop-column",
                    "message": "m",
                }
            ],
            True,
        ),
        (
            "detect-secrets.json",
            {"results": {"b.py": [_secret("AWS Access Key", "bad")]}},
            True,
        ),
        (
            "detect-secrets-history.json",
            {"results": {"history/0123456789ab/old.py": [_secret("Secret Keyword", "bad")]}},
            True,
        ),
        (
            "detect-secrets-history.json",
            {"results": {"history/0123456789ab/a.yml": [_secret("Secret Keyword", "f00")]}},
            False,
        ),
    ],
)
def test_what_is_high_tool_by_tool(tmp_path, name, data, high):
    baseline = _clean_reports(tmp_path, AUDITED)
    _write(tmp_path / name, data)
    assert gate.gate(tmp_path, baseline) == (1 if high else 0)


def test_a_known_vulnerability_fails_and_an_unaudited_package_is_listed(tmp_path):
    baseline = _clean_reports(tmp_path, AUDITED)
    (tmp_path / "pip-audit.skipped").unlink()
    audit = {
        "dependencies": [
            {
                "name": "jinja2",
                "version": "2.10",
                "vulns": [{"id": "PYSEC-2019-217", "fix_versions": ["2.10.1"]}],
            },
            {"name": "ours", "skip_reason": "Dependency not found on PyPI"},
        ]
    }
    _write(tmp_path / "pip-audit.json", audit)
    assert gate.gate(tmp_path, baseline) == 1
    summary = (tmp_path / "summary.md").read_text()
    assert "PYSEC-2019-217" in summary and "fixed in: 2.10.1" in summary
    assert "`ours`: not audited" in summary


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_history_keeps_what_a_later_commit_removed(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "t@example.org")
    git("config", "user.name", "t")
    (repo / "conf").mkdir()
    (repo / "conf" / "app.yml").write_text("user: app\npassword: hunter2-but-longer\n")
    digest = "9cadc012cf345bc452222ad0f983edd297bc9329"  # pragma: allowlist secret
    (repo / ".secrets.baseline").write_text(json.dumps({"hashed_secret": digest}) + "\n")
    git("add", ".")
    git("commit", "-q", "-m", "one")
    (repo / "conf" / "app.yml").write_text("user: app\n")
    git("commit", "-q", "-am", "two")

    out = tmp_path / "history"
    meta = gate.extract_history(out, repo)
    assert meta == {"commits": 2, "files": 2, "shallow": False}
    # The baseline's hashes are not secrets: never written out for the history scan.
    assert not list(out.glob("*/.secrets.baseline"))
    (written,) = out.glob("*/conf/app.yml")
    assert written.read_text() == "user: app\npassword: hunter2-but-longer\n"
    assert json.loads(out.with_suffix(".json").read_text())["commits"] == 2
