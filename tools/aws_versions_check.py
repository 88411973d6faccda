"""Every version the platform pins, against the dated catalogue, 90 days ahead (CI goes red before AWS).

    python tools/aws_versions_check.py                  judge on today's date (UTC)
    python tools/aws_versions_check.py --today 2027-06-01

Reads the EKS, RDS PostgreSQL and ElastiCache versions pinned in the role defaults
(roles/*/defaults/), the inventories (inventories/*/group_vars/) and the Molecule scenarios
(molecule/*/*.yml), and fails (exit 1) when one is past its end of standard support, within 90
days of it, or unknown to the catalogue roles/preflight/files/aws_catalogue.yml (an RDS minor must
be one RDS creates). A value that is a template ("{{ aws_eks_kubernetes_version }}") refers to
another pin and is not read twice. `nox -s lint` runs it (a pre-commit hook that runs every time:
the date moves even when the files do not); tests/unit/test_aws_versions_check.py runs it on a
later date and sees it fail.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".collections"))
from ansible_collections.giftcrypto.platform.plugins.module_utils import aws_offerings

CATALOGUE = ROOT / "roles" / "preflight" / "files" / "aws_catalogue.yml"
WINDOW_DAYS = 90
SOURCES = (
    "roles/*/defaults/main.yml",
    "roles/*/defaults/main/*.yml",
    "inventories/*/group_vars/*/*.yml",
    "inventories/*/group_vars/*.yml",
    "molecule/*/molecule.yml",
    "molecule/*/converge.yml",
)


def _walk(data, where: str, found: list[dict]) -> None:
    """Collects the pinned variables anywhere in a YAML document (group_vars, Molecule's nested vars)."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key in aws_offerings.PINNED_VARIABLES:
                values = value if isinstance(value, list) else [value]
                for item in values:
                    if isinstance(item, str | int | float) and "{{" not in str(item):
                        found.append({"where": where, "variable": key, "value": str(item)})
            else:
                _walk(value, where, found)
    elif isinstance(data, list):
        for item in data:
            _walk(item, where, found)


def pins(root: pathlib.Path = ROOT) -> list[dict]:
    """Every literal pinned version under `root`: [{where, variable, value}]."""
    found: list[dict] = []
    for pattern in SOURCES:
        for path in sorted(root.glob(pattern)):
            for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                _walk(document, str(path.relative_to(root)), found)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--today", help="the day to judge on, YYYY-MM-DD (default: today, UTC)")
    parser.add_argument("--root", type=pathlib.Path, default=ROOT, help="the checkout to read")
    args = parser.parse_args(argv)
    catalogue = yaml.safe_load((args.root / CATALOGUE.relative_to(ROOT)).read_text(encoding="utf-8"))
    found = pins(args.root)
    today = aws_offerings.parse_date(args.today) or aws_offerings.today_utc()
    problems = aws_offerings.pinned_version_problems(found, catalogue, today, WINDOW_DAYS)
    if problems:
        print(f"{len(problems)} pinned version(s) AWS stops supporting (judged on {today}):", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(
        f"{len(found)} pinned versions checked against the catalogue of {catalogue['as_of']} on {today}: "
        f"none past or within {WINDOW_DAYS} days of its end of standard support"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
