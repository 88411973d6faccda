"""Which Debian packages of a list are not installed, from `dpkg-query --show`'s answer.

The roles that install Debian packages ask dpkg first (a few milliseconds) and call the apt module
only when something is missing. Opening apt's cache costs 1.2 s per task, five times in a no-op
deploy-local (docs/benchmarks.md).
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

# The format the roles give `dpkg-query --show`: the package's name and its db:Status-Abbrev. That
# is three letters: desired action, status, error flag. "ii " is installed and healthy.
DPKG_QUERY_FORMAT = "${Package} ${db:Status-Abbrev}\n"


def dpkg_not_installed(packages, dpkg_query_lines) -> list[str]:
    """The packages of the list that the answer does not show as installed ("ii"), in list order."""
    if not isinstance(packages, list) or not all(isinstance(name, str) for name in packages):
        raise AnsibleFilterError(
            f"dpkg_not_installed: the input must be a list of package names, got {packages!r}"
        )
    if not isinstance(dpkg_query_lines, list):
        raise AnsibleFilterError(
            "dpkg_not_installed: the argument must be the stdout_lines of dpkg-query --show "
            f"--showformat='{DPKG_QUERY_FORMAT!r}', got {dpkg_query_lines!r}"
        )
    installed = set()
    for line in dpkg_query_lines:
        fields = str(line).split()
        if len(fields) >= 2 and fields[1] == "ii":
            installed.add(fields[0])
    return [name for name in packages if name not in installed]


class FilterModule:
    """giftcrypto.platform package filters."""

    def filters(self):
        return {"dpkg_not_installed": dpkg_not_installed}
