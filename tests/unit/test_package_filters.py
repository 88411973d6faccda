"""dpkg_not_installed: the roles skip the apt module when dpkg already has every package."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.giftcrypto.platform.plugins.filter.packages import dpkg_not_installed


def test_all_installed_means_nothing_to_install():
    lines = ["haproxy ii ", "supervisor ii ", "python3-venv ii "]
    assert dpkg_not_installed(["haproxy", "supervisor", "python3-venv"], lines) == []


def test_unknown_and_removed_packages_are_missing_in_list_order():
    # dpkg-query prints nothing for a package it has never seen (rc 1), "rc" for one removed with
    # its configuration left, "iU" for one unpacked but not configured, "iF" for a failed configure.
    lines = ["pgbackrest rc ", "cron iU ", "redis-server iF ", "haproxy ii "]
    names = ["redis-server", "haproxy", "cron", "pgbackrest", "mtail"]
    assert dpkg_not_installed(names, lines) == ["redis-server", "cron", "pgbackrest", "mtail"]


def test_reinstall_required_flag_is_not_installed():
    assert dpkg_not_installed(["haproxy"], ["haproxy iiR"]) == ["haproxy"]


def test_empty_answer_means_everything_is_missing():
    assert dpkg_not_installed(["haproxy", "cron"], []) == ["haproxy", "cron"]


@pytest.mark.parametrize(
    ("packages", "lines"),
    [("haproxy", []), (["haproxy", 3], []), (["haproxy"], "haproxy ii")],
)
def test_wrong_types_are_refused(packages, lines):
    with pytest.raises(AnsibleFilterError, match="dpkg_not_installed"):
        dpkg_not_installed(packages, lines)
