"""pg_migrate's pure logic: file discovery, ordering, checksums, the plan up or down."""

from __future__ import annotations

import hashlib

import pytest
from ansible_collections.giftcrypto.platform.plugins.modules.pg_migrate import (
    MigrationError,
    parse_target,
    plan,
    scan,
    split_table,
)


@pytest.fixture
def migrations(tmp_path):
    for version, name in ((1, "core"), (2, "ledger"), (3, "audit")):
        (tmp_path / f"{version:04d}_{name}.up.sql").write_text(f"CREATE TABLE t{version} ();\n")
        (tmp_path / f"{version:04d}_{name}.down.sql").write_text(f"DROP TABLE t{version};\n")
    (tmp_path / "README.md").write_text("not a migration")
    return tmp_path


def applied_rows(path, versions):
    found = scan(str(path))
    return {
        v: {
            "name": found[v]["name"],
            "checksum": hashlib.sha256(open(found[v]["up"], "rb").read()).hexdigest(),
        }
        for v in versions
    }


def test_scan_orders_by_version(migrations):
    found = scan(str(migrations))
    assert list(found) == [1, 2, 3]
    assert found[2]["up"].endswith("0002_ledger.up.sql") and found[2]["down"].endswith("0002_ledger.down.sql")


@pytest.mark.parametrize("bad", ["1_x.up.sql", "0001_X.up.sql", "0001_x.sideways.sql", "0001-x.up.sql"])
def test_scan_refuses_badly_named_files(migrations, bad):
    (migrations / bad).write_text("")
    with pytest.raises(MigrationError, match=bad):
        scan(str(migrations))


def test_scan_refuses_two_names_for_one_version(migrations):
    (migrations / "0002_other.up.sql").write_text("")
    with pytest.raises(MigrationError, match="version 2 is also used"):
        scan(str(migrations))


def test_scan_refuses_down_without_up(migrations):
    (migrations / "0004_orphan.down.sql").write_text("")
    with pytest.raises(MigrationError, match="no up file"):
        scan(str(migrations))


def test_plan_up_from_nothing_and_from_partial(migrations):
    found = scan(str(migrations))
    up, down = plan(found, {}, None)
    assert [m["version"] for m in up] == [1, 2, 3] and down == []
    up, down = plan(found, applied_rows(migrations, [1]), None)
    assert [m["version"] for m in up] == [2, 3]
    up, _ = plan(found, applied_rows(migrations, [1]), 2)
    assert [m["version"] for m in up] == [2]


def test_plan_down_in_reverse(migrations):
    found = scan(str(migrations))
    up, down = plan(found, applied_rows(migrations, [1, 2, 3]), 1)
    assert up == [] and [m["version"] for m in down] == [3, 2]
    _, down = plan(found, applied_rows(migrations, [1, 2, 3]), 0)
    assert [m["version"] for m in down] == [3, 2, 1]


def test_plan_refuses_an_edited_applied_file(migrations):
    applied = applied_rows(migrations, [1, 2])
    (migrations / "0002_ledger.up.sql").write_text("CREATE TABLE t2 (changed int);\n")
    with pytest.raises(MigrationError, match=r"0002_ledger\.up\.sql changed after it was applied"):
        plan(scan(str(migrations)), applied, None)


def test_plan_refuses_a_missing_applied_file(migrations):
    applied = applied_rows(migrations, [1, 2])
    (migrations / "0002_ledger.up.sql").unlink()
    (migrations / "0002_ledger.down.sql").unlink()
    with pytest.raises(MigrationError, match="0002_ledger is applied"):
        plan(scan(str(migrations)), applied, None)


def test_plan_refuses_a_late_migration(migrations):
    applied = applied_rows(migrations, [1, 3])
    with pytest.raises(MigrationError, match=r"0002_ledger\.up\.sql is pending but version 3"):
        plan(scan(str(migrations)), applied, None)


def test_plan_refuses_down_without_down_file(migrations):
    applied = applied_rows(migrations, [1, 2, 3])
    (migrations / "0003_audit.down.sql").unlink()
    with pytest.raises(MigrationError, match=r"missing .*0003_audit\.down\.sql"):
        plan(scan(str(migrations)), applied, 1)


def test_plan_refuses_an_unknown_target(migrations):
    with pytest.raises(MigrationError, match="target=7"):
        plan(scan(str(migrations)), {}, 7)


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("", None), ("3", 3), ("0003", 3), ("0", 0)])
def test_parse_target(value, expected):
    assert parse_target(value) == expected


@pytest.mark.parametrize("value", ["v3", "-1", "3.0"])
def test_parse_target_refuses(value):
    with pytest.raises(MigrationError):
        parse_target(value)


def test_split_table():
    assert split_table("schema_migrations") == ("public", "schema_migrations")
    assert split_table("ops.schema_migrations") == ("ops", "schema_migrations")
    with pytest.raises(MigrationError):
        split_table('x"; DROP TABLE users; --')
