"""The secret scan of a commit (pre-commit hook `detect-secrets`, also run by `nox -s lint`).

    python tools/secrets_hook.py FILE...

detect-secrets' own hook (detect-secrets-hook, from .nox/security, the environment of
`nox -s security` and `nox -s lint`) on the files given, against the audited baseline
.secrets.baseline: any string that looks like a secret and is not in the baseline fails, with its
file and line. The baseline is given as a scratch copy, as `nox -s security` does, for two reasons:
the hook rewrites its baseline whenever an audited string moved to another line (and fails, asking
for a `git add`), and refuses to run while the baseline has unstaged changes. Audited strings are
matched by hash, not line, so a moved line is not a finding; the committed baseline changes only
when someone audits a new string (`detect-secrets audit`, see docs/ci-cd.md).
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
BASELINE = ROOT / ".secrets.baseline"
HOOK = ROOT / ".nox" / "security" / "bin" / "detect-secrets-hook"
# detect-secrets-hook: 0 nothing new, 1 new secrets (listed), 3 nothing new but the baseline's
# line numbers were brought up to date (in the scratch copy, thrown away).
NOTHING_NEW = (0, 3)


def main(files: list[str]) -> int:
    if not HOOK.exists():
        print(
            f"{HOOK.relative_to(ROOT)} is missing: run `nox -s lint` (or `nox -s security`) once, "
            "it builds the environment of the secret scan",
            file=sys.stderr,
        )
        return 1
    if not files:
        return 0
    with tempfile.TemporaryDirectory(prefix="secrets-hook-") as scratch:
        baseline = pathlib.Path(scratch) / "baseline.json"
        shutil.copyfile(BASELINE, baseline)
        # A fixed program of the security environment; the file names come from pre-commit.
        result = subprocess.run(  # noqa: S603
            [str(HOOK), "--baseline", str(baseline), *files],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode in NOTHING_NEW:
        return 0
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    print(
        "A string that looks like a secret is not in .secrets.baseline. A real secret: remove it "
        "(and rotate it). A false positive: end its line with `# pragma: allowlist secret`, or audit "
        "it into the baseline (docs/ci-cd.md).",
        file=sys.stderr,
    )
    return result.returncode or 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
