"""Runs a command, shows its output as it comes, and fails on any deprecation warning in it.

    python tools/no_deprecations.py ansible-playbook -i inventories/local playbooks/site.yml

The platform's rule is zero deprecation warnings: a deprecated option or return value still works
today and breaks on the next collection release. `nox -s integration` runs its deploy through this
wrapper, so the deploy fails on a `[DEPRECATION WARNING]` (Ansible's) or a Python
`DeprecationWarning` / `PendingDeprecationWarning` line, as it fails on an error; the lines found are
listed at the end. The exit code is the command's when it failed, 3 when only deprecations were
found, 0 otherwise. The command's standard error is merged into its standard output, in order.
"""

from __future__ import annotations

import re
import subprocess
import sys

# Ansible's marker, and the category names Python's warnings module prints.
DEPRECATION = re.compile(r"\[DEPRECATION WARNING\]|\b(Pending)?DeprecationWarning\b")
FOUND_DEPRECATIONS = 3

# The deprecations the platform cannot stop at their source, each accepted only while what emits
# it is older than the release that removed it (it then expires by itself, and the line
# fails the run again). amazon.aws 10.x's iam_role and iam_role_info announce the end of their
# `assume_role_policy_document_raw` return value on every call, whatever the options (module.deprecate
# is unconditional in both); no task of the collection reads that value (tests/unit/
# test_no_deprecations.py checks). Not removed yet upstream: amazon.aws 11.4.0 (ansible 14.5.0, the
# newest bundle on PyPI on 2026-12-06) still calls it unconditionally; writing our own IAM role
# module only to silence it would fork a stock module. Accepted until amazon.aws 12, whose major
# release is the first that may drop the value; a later 11.x that drops it makes the line go away.
ACCEPTED_UNTIL_FIXED = (
    {
        "line": re.compile(
            r"\[DEPRECATION WARNING\]: In a release after 2026-05-01 "
            r"iam_role\.assume_role_policy_document_raw will no longer be returned\."
        ),
        "collection": ("amazon", "aws"),
        "fixed_in": (12, 0, 0),
    },
    # amazon.aws's AnsibleAWSModule (10.x, and 11.4.0, the newest) hands the warnings a module gave
    # through module.warn() to exit_json/fail_json itself on ansible-core 2.19 and later
    # (_should_inject_warnings), which ansible-core announces as this deprecation: any module built on
    # it that warns prints the line, the stock amazon.aws.backup_vault on every vault it creates (AWS
    # answers AccessDeniedException for a vault that does not exist yet: a first deploy, a plan from
    # nothing) and ours in their edge cases (tests/unit/test_no_deprecations.py shows the cause).
    # Accepted until ansible-core 2.23, which removes what the line announces: from then on
    # amazon.aws must have changed, and the line fails the run again.
    {
        "line": re.compile(
            r"\[DEPRECATION WARNING\]: Passing `warnings` to `exit_json` or `fail_json` is deprecated\."
        ),
        "collection": ("ansible", "core"),
        "fixed_in": (2, 23, 0),
    },
    # ansible-core 2.21 announces the end of the `ansible.module_utils._text` shim (removed in 2.24)
    # whenever a module imports to_bytes, to_native or to_text from it. community.aws 11.2.0 (ansible
    # 14.5.0, the newest bundle on PyPI on 2026-12-06) still does in 15 modules, secretsmanager_secret
    # among ours (a first deploy creates its secrets); none of our plugins nor of the other
    # collections we use does (tests/unit/test_no_deprecations.py checks both). Accepted until
    # ansible-core 2.24, which removes the shim: from then on community.aws must have changed, and
    # the line fails the run again; a community.aws that imports from common.text.converters makes
    # it go away before.
    {
        "line": re.compile(
            r"\[DEPRECATION WARNING\]: Importing '(to_bytes|to_native|to_text)' from "
            r"'ansible\.module_utils\._text' is deprecated\."
        ),
        "collection": ("ansible", "core"),
        "fixed_in": (2, 24, 0),
    },
)


def collection_version(namespace: str, name: str) -> tuple[int, ...]:
    """The installed version of a collection (its MANIFEST.json), (0,) when it is not installed;
    ("ansible", "core"): ansible-core's own version."""
    import importlib.util
    import json
    import pathlib

    if (namespace, name) == ("ansible", "core"):
        try:
            from ansible.release import __version__
        except ImportError:
            return (0,)
        return tuple(int(part) for part in re.findall(r"\d+", __version__)[:3])

    try:
        spec = importlib.util.find_spec(f"ansible_collections.{namespace}.{name}")
    except ModuleNotFoundError:
        spec = None
    if spec is None or not spec.submodule_search_locations:
        return (0,)
    manifest = pathlib.Path(next(iter(spec.submodule_search_locations))) / "MANIFEST.json"
    version = json.loads(manifest.read_text())["collection_info"]["version"]
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def accepted(line: str) -> bool:
    """Whether a deprecation line is one of ACCEPTED_UNTIL_FIXED, unfixed in the installed collection."""
    return any(
        known["line"].search(line) and collection_version(*known["collection"]) < known["fixed_in"]
        for known in ACCEPTED_UNTIL_FIXED
    )


def deprecations(lines) -> list[str]:
    """The lines of an output that report a deprecation (not the accepted ones: ACCEPTED_UNTIL_FIXED)."""
    return [line.rstrip("\n") for line in lines if DEPRECATION.search(line) and not accepted(line)]


def run(command: list[str], out=sys.stdout) -> int:
    """Runs `command`, copies its output to `out` line by line, returns the exit code (see the module)."""
    found: list[str] = []
    with subprocess.Popen(  # noqa: S603 - the command line nox gives, run as given (no shell)
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1
    ) as process:
        for line in process.stdout:
            out.write(line)
            out.flush()
            found += deprecations([line])
    if found:
        out.write(
            f"\n{len(found)} deprecation warning(s) in the output of {' '.join(command[:1])}: failing.\n"
        )
        for line in found:
            out.write(f"  {line}\n")
    return process.returncode or (FOUND_DEPRECATIONS if found else 0)


def main(argv: list[str] | None = None) -> int:
    command = list(sys.argv[1:] if argv is None else argv)
    if not command:
        print(__doc__, file=sys.stderr)
        return 2
    return run(command)


if __name__ == "__main__":
    sys.exit(main())
