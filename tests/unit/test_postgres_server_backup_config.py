"""postgres_server's pgBackRest configurations around a passphrase rotation (ADR 0019, keys).

Rendered as the template module does (trim_blocks): without a rotation the live configuration is the
one the role wrote before rotations existed (a no-op deploy stays changed=0); while one is under way
it names the new repository as repo2 (WAL is pushed to every repository); a retired repository's
restore-only configuration names that repository alone, with its own passphrase.
"""

from __future__ import annotations

import pathlib
import re
import subprocess

import jinja2
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "roles" / "postgres_server" / "templates"
LIVE = "L" * 64
NEXT = "N" * 64
OLD = "O" * 64

VARS = {
    "ansible_managed": "Ansible managed",
    "postgres_server_cluster": "giftcrypto",
    "postgres_server_backup_stanza": "giftcrypto",
    "postgres_server_backup_config_file": "/etc/pgbackrest/giftcrypto.conf",
    "postgres_server_backup_retention_full": 2,
    "postgres_server_backup_retention_diff": 7,
    "postgres_server_backup_compress_type": "zst",
    "postgres_server_backup_compress_level": 3,
    "postgres_server_backup_process_max": 2,
    "postgres_server_backup_log_path": "/var/log/pgbackrest",
    "postgres_server_version": "15",
    "postgres_server_port": 5432,
    "postgres_server_socket_dir": "/var/run/postgresql",
    "postgres_server__backup_cipher_pass": LIVE,
    "postgres_server__backup_repo": "/var/lib/pgbackrest/giftcrypto-20261207T120000Z",
    "postgres_server__backup_next": None,
}


def _render(name: str, source: str | None = None, **overrides) -> str:
    # The template module's Jinja settings that matter here: trim_blocks on, no autoescape.
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, autoescape=False)  # noqa: S701
    text = source if source is not None else (TEMPLATES / name).read_text()
    return environment.from_string(text).render({**VARS, **overrides})


def _options(text: str) -> dict[str, str]:
    return dict(re.findall(r"(?m)^([a-z0-9-]+)=(.*)$", text))


def test_without_a_rotation_the_live_configuration_is_the_one_written_before_rotations():
    """The template as it was before rotations (the parent of the commit that added the restore-only
    template), with repo1-path from the inventory, renders the same file as the template now with the
    repository read from the secret."""
    before = subprocess.run(
        [
            "git",
            "log",
            "--format=%H",
            "-1",
            "--",
            "roles/postgres_server/templates/pgbackrest_retired.conf.j2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if not before:
        pytest.skip("no git history of the change at hand")
    old_template = subprocess.run(
        ["git", "show", f"{before}~1:roles/postgres_server/templates/pgbackrest.conf.j2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    old = _render(
        "pgbackrest.conf.j2",
        source=old_template,
        postgres_server_backup_repo_path=VARS["postgres_server__backup_repo"],
    )
    assert _render("pgbackrest.conf.j2") == old


def test_a_rotation_under_way_names_the_new_repository_as_repo2():
    text = _render(
        "pgbackrest.conf.j2",
        postgres_server__backup_next={
            "cipher_pass": NEXT,
            "repo_path": "/var/lib/pgbackrest/giftcrypto-20261208T000000Z",
        },
    )
    options = _options(text)
    assert (
        options["repo1-path"] == VARS["postgres_server__backup_repo"] and options["repo1-cipher-pass"] == LIVE
    )
    assert options["repo2-path"] == "/var/lib/pgbackrest/giftcrypto-20261208T000000Z"
    assert options["repo2-cipher-pass"] == NEXT and options["repo2-cipher-type"] == "aes-256-cbc"
    assert options["repo2-retention-full"] == "2" and options["repo2-retention-diff"] == "7"
    assert "repo3-path" not in options


def test_a_retired_repository_has_a_restore_only_configuration_of_its_own():
    retired = {
        "cipher_pass": OLD,
        "repo_path": "/var/lib/pgbackrest/giftcrypto",
        "config_file": "/etc/pgbackrest/retired/giftcrypto-20261207T120000Z.conf",
        "retired_at": "2026-12-07T12:00:00Z",
    }
    text = _render("pgbackrest_retired.conf.j2", postgres_server__retired=retired)
    options = _options(text)
    assert [key for key in options if key.startswith("repo")] == [
        "repo1-path",
        "repo1-cipher-type",
        "repo1-cipher-pass",
    ]
    assert options["repo1-path"] == "/var/lib/pgbackrest/giftcrypto" and options["repo1-cipher-pass"] == OLD
    assert LIVE not in text and "RESTORE-ONLY" in text and "2026-12-07T12:00:00Z" in text
    assert options["pg1-path"] == "/var/lib/postgresql/15/giftcrypto"
    # No retention: nothing ever expires (or backs up) through this file.
    assert not [key for key in options if "retention" in key]
