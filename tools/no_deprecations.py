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


def deprecations(lines) -> list[str]:
    """The lines of an output that report a deprecation."""
    return [line.rstrip("\n") for line in lines if DEPRECATION.search(line)]


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
