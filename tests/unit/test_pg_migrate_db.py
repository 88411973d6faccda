"""giftcrypto.platform.pg_migrate against a real PostgreSQL 15 (tests/unit/pg_cluster.py).

The module runs in-process as Ansible runs it (``main()`` with module args, moto_modules.runner),
as migrator, on the real migrations (roles/db_schema/files/migrations) or on small migrations
written for a test; every test asserts on what the database holds afterwards, not only on what the
module says.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from ansible_collections.giftcrypto.platform.plugins.modules import pg_migrate

from tests.unit import moto_modules
from tests.unit.pg_cluster import MIGRATIONS

REAL_VERSIONS = sorted(int(p.name[:4]) for p in MIGRATIONS.glob("*.up.sql"))
LOCK_KEY = 4472019411  # the module's default


@pytest.fixture
def run_migrate(capsys):
    return moto_modules.runner(pg_migrate, capsys)


def _rows(cluster, db, query, params=None) -> list[tuple]:
    with cluster.connect(db) as conn:
        return conn.execute(query, params).fetchall()


def _tables(cluster, db, schema="public") -> set[str]:
    rows = _rows(
        cluster,
        db,
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition",
        (schema,),
    )
    return {name for (name,) in rows}


def _recorded(cluster, db, table="public.schema_migrations") -> list[tuple]:
    return _rows(cluster, db, f"SELECT version, name, checksum FROM {table} ORDER BY version")  # noqa: S608


def _lock_is_free(cluster, db, key=LOCK_KEY) -> bool:
    """Whether another session can take the advisory lock (the module released it)."""
    with cluster.connect(db) as conn:
        free = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]
        if free:
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        return free


def _write(path, files: dict[str, str]):
    for name, text in files.items():
        (path / name).write_text(text)
    return path


def test_real_migrations_check_mode_apply_and_idempotence(pg_cluster, empty_db, run_migrate):
    args = {**pg_cluster.login(empty_db), "path": str(MIGRATIONS)}

    planned = run_migrate(args, check_mode=True)
    assert planned["rc"] == 0, planned
    assert planned["changed"] is True
    assert planned["applied"] == REAL_VERSIONS and planned["reverted"] == []
    assert planned["current"] == REAL_VERSIONS[-1]
    assert planned["pending"][0] == {"version": 1, "name": "core_tables", "file": "0001_core_tables.up.sql"}
    assert planned["durations"] == {}
    assert (
        planned["diff"]["before"] == ""
        and planned["diff"]["after"].splitlines()[-1] == f"{REAL_VERSIONS[-1]:04d}"
    )
    # Check mode only reads: no lock, no bookkeeping table, no schema.
    assert not any("advisory_lock" in q or "CREATE" in q for q in planned["queries"])
    assert _tables(pg_cluster, empty_db) == set()

    applied = run_migrate(args)
    assert applied["rc"] == 0, applied
    assert applied["changed"] is True
    assert applied["applied"] == REAL_VERSIONS and applied["current"] == REAL_VERSIONS[-1]
    assert sorted(applied["durations"]) == sorted(p.name for p in MIGRATIONS.glob("*.up.sql"))
    assert applied["diff"]["after"] == "".join(f"{v:04d}\n" for v in REAL_VERSIONS)
    # The SQL of a migration is not returned, its file name is.
    assert "0004_audit.up.sql" in applied["queries"]
    assert not any("CREATE TABLE users" in q for q in applied["queries"])
    recorded = _recorded(pg_cluster, empty_db)
    assert [(v, n) for v, n, _ in recorded] == [
        (int(p.name[:4]), p.name[5:-7]) for p in sorted(MIGRATIONS.glob("*.up.sql"))
    ]
    for version, _, checksum in recorded:
        (path,) = MIGRATIONS.glob(f"{version:04d}_*.up.sql")
        assert checksum == hashlib.sha256(path.read_bytes()).hexdigest()
    assert {"users", "encryption_keys", "audit_log", "transactions", "schema_migrations"} <= _tables(
        pg_cluster, empty_db
    )
    owners = _rows(pg_cluster, empty_db, "SELECT tableowner FROM pg_tables WHERE tablename = 'users'")
    assert owners == [("migrator",)]
    assert _lock_is_free(pg_cluster, empty_db)

    again = run_migrate(args)
    assert again["rc"] == 0, again
    assert again["changed"] is False
    assert (again["applied"], again["reverted"], again["pending"]) == ([], [], [])
    assert again["current"] == REAL_VERSIONS[-1]
    assert again["diff"]["before"] == again["diff"]["after"]
    assert _recorded(pg_cluster, empty_db) == recorded

    checked = run_migrate(args, check_mode=True)
    assert (checked["changed"], checked["applied"], checked["current"]) == (False, [], REAL_VERSIONS[-1])


def test_real_migrations_down_to_a_target_then_to_nothing_and_up_again(pg_cluster, empty_db, run_migrate):
    args = {**pg_cluster.login(empty_db), "path": str(MIGRATIONS)}
    assert run_migrate(args)["rc"] == 0

    def rekey_policies():
        return _rows(
            pg_cluster, empty_db, "SELECT policyname FROM pg_policies WHERE policyname LIKE '%%rekey%%'"
        )

    assert len(rekey_policies()) == 5

    planned = run_migrate({**args, "target": "5"}, check_mode=True)
    after_5 = [v for v in reversed(REAL_VERSIONS) if v > 5]
    assert (planned["changed"], planned["reverted"], planned["current"]) == (True, after_5, 5)
    assert len(rekey_policies()) == 5  # nothing reverted in check mode

    down = run_migrate({**args, "target": "0005"})
    assert down["rc"] == 0, down
    assert (down["changed"], down["reverted"], down["applied"], down["current"]) == (True, after_5, [], 5)
    assert sorted(down["durations"]) == sorted(
        p.name for p in MIGRATIONS.glob("*.down.sql") if int(p.name[:4]) > 5
    )
    assert [v for v, _, _ in _recorded(pg_cluster, empty_db)] == [1, 2, 3, 4, 5]
    assert rekey_policies() == []
    assert _rows(
        pg_cluster, empty_db, "SELECT to_regprocedure('metrics_user_registrations_last_minute()')"
    ) == [(None,)]

    nothing = run_migrate({**args, "target": "0"})
    assert nothing["rc"] == 0, nothing
    assert nothing["reverted"] == [5, 4, 3, 2, 1] and nothing["current"] == 0
    assert nothing["diff"]["after"] == ""
    assert _tables(pg_cluster, empty_db) == {"schema_migrations"}
    assert _recorded(pg_cluster, empty_db) == []

    up = run_migrate(args)
    assert up["rc"] == 0, up
    assert up["applied"] == REAL_VERSIONS and up["current"] == REAL_VERSIONS[-1]
    assert len(rekey_policies()) == 5


def test_a_failing_migration_is_rolled_back_and_stops_the_run(pg_cluster, empty_db, run_migrate, tmp_path):
    _write(
        tmp_path,
        {
            "0001_first.up.sql": "CREATE TABLE first_table (id int);\n",
            "0002_broken.up.sql": "CREATE TABLE broken_table (id int);\nSELECT 1 / 0;\n",
            "0003_never.up.sql": "CREATE TABLE never_table (id int);\n",
        },
    )
    result = run_migrate({**pg_cluster.login(empty_db), "path": str(tmp_path)})
    assert result["rc"] == 1 and result["failed"] is True
    assert f"{tmp_path / '0002_broken.up.sql'} failed and was rolled back: division by zero" in result["msg"]
    assert result["applied"] == [1]
    # What the run committed before the failure is reported as a change, with the version it left.
    assert (result["changed"], result["current"]) == (True, 1)
    assert _tables(pg_cluster, empty_db) == {"first_table", "schema_migrations"}
    assert [v for v, _, _ in _recorded(pg_cluster, empty_db)] == [1]
    assert _lock_is_free(pg_cluster, empty_db)

    # Fixed, the next run applies what is left.
    (tmp_path / "0002_broken.up.sql").write_text("CREATE TABLE broken_table (id int);\n")
    result = run_migrate({**pg_cluster.login(empty_db), "path": str(tmp_path)})
    assert (result["rc"], result["applied"], result["current"]) == (0, [2, 3], 3)
    assert _tables(pg_cluster, empty_db) == {
        "first_table",
        "broken_table",
        "never_table",
        "schema_migrations",
    }


def test_an_edited_applied_migration_is_refused_and_nothing_runs(pg_cluster, empty_db, run_migrate, tmp_path):
    _write(tmp_path, {"0001_first.up.sql": "CREATE TABLE first_table (id int);\n"})
    args = {**pg_cluster.login(empty_db), "path": str(tmp_path)}
    assert run_migrate(args)["applied"] == [1]
    before = _recorded(pg_cluster, empty_db)
    _write(
        tmp_path,
        {
            "0001_first.up.sql": "CREATE TABLE first_table (id bigint);\n",
            "0002_second.up.sql": "CREATE TABLE second_table (id int);\n",
        },
    )
    result = run_migrate(args)
    assert result["rc"] == 1 and result["changed"] is False
    assert "0001_first.up.sql changed after it was applied" in result["msg"]
    assert before[0][2] in result["msg"]  # the recorded checksum
    assert _recorded(pg_cluster, empty_db) == before
    assert "second_table" not in _tables(pg_cluster, empty_db)
    assert _lock_is_free(pg_cluster, empty_db)


def test_waits_for_the_advisory_lock_then_gives_up(pg_cluster, empty_db, run_migrate, tmp_path):
    _write(tmp_path, {"0001_first.up.sql": "CREATE TABLE first_table (id int);\n"})
    with pg_cluster.connect(empty_db) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (42,))
        result = run_migrate(
            {**pg_cluster.login(empty_db), "path": str(tmp_path), "lock_key": 42, "lock_timeout": 1}
        )
    assert result["rc"] == 1
    assert result["msg"] == (
        f"another pg_migrate run holds advisory lock 42 on {empty_db}; gave up after lock_timeout=1s"
    )
    assert result["queries"].count("SELECT pg_try_advisory_lock(%s)") >= 2  # it did wait
    assert _tables(pg_cluster, empty_db) == set()


def test_migrations_table_in_another_schema(pg_cluster, empty_db, run_migrate, tmp_path):
    _write(tmp_path, {"0001_first.up.sql": "CREATE TABLE first_table (id int);\n"})
    args = {**pg_cluster.login(empty_db), "path": str(tmp_path), "migrations_table": "ops.schema_migrations"}
    missing = run_migrate(args)
    assert missing["rc"] == 1
    assert (
        missing["msg"].startswith("pg_migrate failed: ") and 'schema "ops" does not exist' in missing["msg"]
    )
    assert _tables(pg_cluster, empty_db) == set()

    with pg_cluster.connect(empty_db) as conn:
        conn.execute("CREATE SCHEMA ops AUTHORIZATION migrator")
    result = run_migrate(args)
    assert result["rc"] == 0, result
    assert result["diff"]["before_header"] == f"{empty_db} ops.schema_migrations"
    assert [v for v, _, _ in _recorded(pg_cluster, empty_db, "ops.schema_migrations")] == [1]
    assert _tables(pg_cluster, empty_db) == {"first_table"}


def test_over_the_unix_socket_without_diff(pg_cluster, empty_db, run_migrate, tmp_path):
    _write(tmp_path, {"0001_first.up.sql": "CREATE TABLE first_table (id int);\n"})
    args = {**pg_cluster.login(empty_db), "login_host": pg_cluster.socket_dir, "path": str(tmp_path)}
    result = run_migrate(args, diff=False)
    assert (result["rc"], result["applied"]) == (0, [1])
    assert "diff" not in result
    assert _tables(pg_cluster, empty_db) == {"first_table", "schema_migrations"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"path": "/nonexistent/migrations"}, "path=/nonexistent/migrations: not a directory of migrations"),
        ({"target": "v3"}, "target=v3: must be a version number"),
        ({"migrations_table": "Public.Migrations"}, "migrations_table=Public.Migrations: must be"),
        ({"target": "9"}, "target=9: no migration has this version"),
    ],
)
def test_bad_arguments_fail_clearly_and_change_nothing(pg_cluster, empty_db, run_migrate, overrides, message):
    result = run_migrate({**pg_cluster.login(empty_db), "path": str(MIGRATIONS), **overrides})
    assert result["rc"] == 1 and result["failed"] is True and result["changed"] is False
    assert message in result["msg"]
    assert _tables(pg_cluster, empty_db) <= {"schema_migrations"}
    assert _lock_is_free(pg_cluster, empty_db)


def test_a_wrong_password_fails_without_showing_it(pg_cluster, empty_db, run_migrate):
    args = {**pg_cluster.login(empty_db), "login_password": "not-the-password", "path": str(MIGRATIONS)}
    result = run_migrate(args)
    assert result["rc"] == 1
    assert result["msg"].startswith(
        f"Unable to connect to database {empty_db} on 127.0.0.1:{pg_cluster.port} as migrator "
        "(ssl_mode=prefer): "
    )
    assert "password authentication failed" in result["msg"]
    assert "not-the-password" not in json.dumps(result)
    assert _tables(pg_cluster, empty_db) == set()
