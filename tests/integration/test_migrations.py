"""pg_migrate, run the way Ansible runs it, on fresh databases of the real server."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.integration.fixtures_schema import MIGRATIONS, SOCKET_DIR, migrate, pg_tool

pytestmark = pytest.mark.integration

VERSIONS = sorted({int(p.name[:4]) for p in MIGRATIONS.glob("*.up.sql")})


def schema_dump(db) -> str:
    """pg_dump --schema-only, less the random \\restrict key that recent pg_dump versions add."""
    dump = subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            pg_tool("pg_dump"),
            "-h",
            SOCKET_DIR,
            "-p",
            str(db.master["port"]),
            "--schema-only",
            "--no-comments",
            "-d",
            db.name,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return "\n".join(
        line for line in dump.splitlines() if not line.startswith(("\\restrict", "\\unrestrict"))
    )


def tables(db) -> list[str]:
    with db.connect("admin") as conn:
        return [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            ).fetchall()
        ]


@pytest.fixture
def fresh(new_database):
    return new_database("migrate_test")


def test_check_mode_lists_pending_and_applies_nothing(fresh):
    result = migrate(fresh, check=True, diff=True)
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True
    assert [p["version"] for p in result["pending"]] == VERSIONS
    assert result["pending"][0]["file"] == "0001_core_tables.up.sql"
    assert result["applied"] == VERSIONS
    assert "0005" in result["diff"]["after"] and result["diff"]["before"] == ""
    assert tables(fresh) == []


def test_apply_then_nothing_to_do(fresh):
    first = migrate(fresh)
    assert not first.get("failed"), first.get("msg")
    assert first["changed"] is True and first["applied"] == VERSIONS and first["current"] == VERSIONS[-1]
    assert "0001_core_tables.up.sql" in first["queries"]
    second = migrate(fresh)
    assert second["changed"] is False and second["applied"] == [] and second["pending"] == []
    check = migrate(fresh, check=True)
    assert check["changed"] is False and check["pending"] == []
    with fresh.connect("migrator") as conn:
        rows = conn.execute(
            "SELECT version, checksum, applied_at IS NOT NULL, duration >= '0'::interval "
            "FROM schema_migrations ORDER BY version"
        ).fetchall()
    assert [r[0] for r in rows] == VERSIONS
    assert all(len(r[1]) == 64 and r[2] and r[3] for r in rows)


def test_up_down_to_zero_up_gives_the_same_schema(fresh):
    assert migrate(fresh)["changed"]
    before = schema_dump(fresh)
    down = migrate(fresh, target="0")
    assert not down.get("failed"), down.get("msg")
    assert down["reverted"] == sorted(VERSIONS, reverse=True) and down["current"] == 0
    assert tables(fresh) == ["schema_migrations"]
    again = migrate(fresh)
    assert again["applied"] == VERSIONS
    assert schema_dump(fresh) == before


def test_down_check_mode_then_partial_down(fresh):
    migrate(fresh)
    above = [v for v in VERSIONS if v > 3]
    check = migrate(fresh, target="3", check=True)
    assert check["changed"] is True and check["reverted"] == above[::-1] and check["current"] == 3
    assert "audit_log" in tables(fresh)
    down = migrate(fresh, target="3")
    assert down["reverted"] == above[::-1]
    assert "audit_log" not in tables(fresh) and "ledger_entries" in tables(fresh)
    assert migrate(fresh)["applied"] == above


def test_edited_applied_migration_is_refused_naming_the_file(fresh, tmp_path):
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, copy)
    assert migrate(fresh, path=copy)["changed"]
    edited = copy / "0002_transactions.up.sql"
    edited.write_text(edited.read_text() + "\n-- an innocent-looking edit\n")
    for check in (False, True):
        result = migrate(fresh, path=copy, check=check)
        assert result["failed"] is True
        assert str(edited) in result["msg"] and "changed after it was applied" in result["msg"]


def test_missing_down_file_refused_before_any_change(fresh, tmp_path):
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, copy)
    migrate(fresh, path=copy)
    (copy / "0004_audit.down.sql").unlink()
    result = migrate(fresh, path=copy, target="2")
    assert result["failed"] is True and "0004_audit.down.sql" in result["msg"]
    assert "audit_log" in tables(fresh) and "ledger_entries" in tables(fresh)


def test_failed_migration_rolls_back_and_names_the_file(fresh, tmp_path):
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, copy)
    broken = f"{max(VERSIONS) + 1:04d}_broken.up.sql"
    (copy / broken).write_text("CREATE TABLE half_done (id int);\nSELECT 1/0;\n")
    result = migrate(fresh, path=copy)
    assert result["failed"] is True and broken in result["msg"]
    assert result["applied"] == VERSIONS
    assert "half_done" not in tables(fresh)


def test_advisory_lock_keeps_runs_apart(fresh):
    with fresh.connect("migrator") as conn:
        conn.execute("SELECT pg_advisory_lock(4472019411)")
        result = migrate(fresh, lock_timeout=1)
        assert result["failed"] is True and "advisory lock" in result["msg"]
        assert tables(fresh) == ["schema_migrations"] or tables(fresh) == []
    assert migrate(fresh)["applied"] == VERSIONS
