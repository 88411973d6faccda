"""Smoke check after a deploy: the environment matches the inventory (no drift).

Reads the JSON written by the plan_summary callback (GIFTCRYPTO_PLAN_JSON, set by the CD workflows
around `nox -s plan-<env>`) and fails when the plan is incomplete or would still create or change
anything right after a deploy. Resources that check mode could not look at are reported, not failed.

    python .github/scripts/check_plan.py tests/output/plan-staging.json
"""

from __future__ import annotations

import json
import pathlib
import sys


def main(path: str) -> int:
    file = pathlib.Path(path)
    if not file.is_file():
        print(f"::error::{path} was not written: the plan did not reach its summary")
        return 1
    summary = json.loads(file.read_text(encoding="utf-8"))
    totals = summary.get("totals", {})
    failed = summary.get("failed_hosts", 0)
    print(
        f"plan: {totals.get('create', 0)} to create, {totals.get('change', 0)} to change, "
        f"{totals.get('unchanged', 0)} unchanged, {totals.get('unchecked', 0)} not checked, "
        f"{failed} failed host(s)"
    )
    for layer in summary.get("layers", []):
        for what in layer.get("to_create", []):
            print(f"  + {layer['layer']}: {what}")
        for what in layer.get("to_change", []):
            print(f"  ~ {layer['layer']}: {what}")
    if failed:
        print(f"::error::the plan is incomplete: {failed} host(s) failed or were unreachable")
        return 1
    if totals.get("create", 0) or totals.get("change", 0):
        print("::error::drift right after the deploy: the plan would still create or change resources")
        return 1
    if totals.get("unchecked", 0):
        print(f"::warning::{totals['unchecked']} resource(s) could not be checked in check mode")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
