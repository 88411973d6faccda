"""The image scan's allow-list (.github/image-allowlist.yaml): every entry carries a reason and an
expiry date, and none has expired.

    python .github/scripts/check_allowlist.py .github/image-allowlist.yaml [--today YYYY-MM-DD]

Fails (exit 1, one GitHub error annotation per problem) on an entry without an `id`, without a
`statement` of at least 20 characters (the reason), without an `expired_at` date, with an expiry
more than 90 days ahead, or whose expiry has passed: an accepted risk is reviewed again, never
forgotten. Runs without PyYAML too (the image job's runner): the file is then read with a minimal
parser of this format (a list of mappings under `vulnerabilities`).
"""

from __future__ import annotations

import argparse
import datetime
import pathlib
import re
import sys

MAX_DAYS = 90
FIELDS = ("id", "statement", "expired_at")


def _parse_minimal(text: str) -> dict:
    """`vulnerabilities:` followed by `- key: value` items (folded `>-` values joined)."""
    entries: list[dict] = []
    key = ""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip() or line.strip() == "---" or re.match(r"^vulnerabilities:\s*(\[\])?$", line):
            continue
        item = re.match(r"^\s*-\s+(\w+):\s*(.*)$", line)
        field = re.match(r"^\s+(\w+):\s*(.*)$", line)
        if item:
            entries.append({})
            key, value = item.groups()
        elif field and entries:
            key, value = field.groups()
        elif entries and key:
            entries[-1][key] = (entries[-1].get(key, "") + " " + line.strip()).strip()
            continue
        else:
            raise ValueError(f"unexpected line: {raw!r}")
        entries[-1][key] = "" if value in (">-", ">", "|") else value.strip().strip("\"'")
    return {"vulnerabilities": entries}


def load(path: pathlib.Path) -> dict:
    text = path.read_text(encoding="utf-8")
    try:
        import yaml
    except ImportError:
        return _parse_minimal(text)
    return yaml.safe_load(text) or {}


def problems(document: dict, today: datetime.date) -> list[str]:
    found = []
    entries = document.get("vulnerabilities") or []
    if not isinstance(entries, list):
        return ["`vulnerabilities` must be a list"]
    for index, entry in enumerate(entries):
        name = f"entry {index + 1} ({entry.get('id', 'no id')})"
        missing = [field for field in FIELDS if not str(entry.get(field) or "").strip()]
        if missing:
            found.append(f"{name}: missing {', '.join(missing)}")
            continue
        if len(str(entry["statement"]).strip()) < 20:
            found.append(f"{name}: the statement must say why the finding is accepted")
        try:
            expiry = datetime.date.fromisoformat(str(entry["expired_at"]))
        except ValueError:
            found.append(f"{name}: expired_at {entry['expired_at']!r} is not a YYYY-MM-DD date")
            continue
        if expiry < today:
            found.append(f"{name}: expired on {expiry} (renew it with a new reason, or fix the image)")
        elif expiry > today + datetime.timedelta(days=MAX_DAYS):
            found.append(f"{name}: expires {expiry}, more than {MAX_DAYS} days ahead")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=pathlib.Path)
    parser.add_argument("--today", type=datetime.date.fromisoformat, default=datetime.date.today())
    args = parser.parse_args(argv)
    found = problems(load(args.path), args.today)
    for problem in found:
        print(f"::error file={args.path}::{problem}")
    if not found:
        count = len(load(args.path).get("vulnerabilities") or [])
        print(f"{args.path}: {count} accepted finding(s), each with a reason and an expiry ahead")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
