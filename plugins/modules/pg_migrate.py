#!/usr/bin/python
# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_migrate
short_description: Applies versioned SQL migrations to a PostgreSQL database, up or down
version_added: "0.1.0"
description:
  - Applies the files C(NNNN_name.up.sql) of O(path) in version order, each in its own
    transaction together with the row that records it in O(migrations_table) (version, name,
    sha256 checksum, applied_at, duration).
  - Refuses to run, naming the file, when the checksum of an applied migration changed, when an
    applied migration has no file any more, or when a migration older than the newest applied
    one is still pending.
  - Holds a session-level advisory lock (O(lock_key)) for the whole run, so that two runs cannot
    interleave; a second run waits up to O(lock_timeout) seconds.
  - With O(target) lower than the newest applied version, migrates down by running the
    C(NNNN_name.down.sql) files in reverse order, each in a transaction with the deletion of its
    record; every down file needed is checked to exist before anything is run.
  - In check mode it only reads, and returns the migrations it would apply or revert.
  - Why a custom module. community.postgresql.postgresql_script runs one file with no notion of
    what was already applied, no checksum, no ordering, no lock and no way down; postgresql_query
    likewise. Migration tools (Flyway, sqitch...) would be another runtime on the controller.
author:
  - GiftCrypto platform team (@giftcrypto)
requirements:
  - psycopg >= 3.1
options:
  path:
    description: Directory holding the C(NNNN_name.up.sql) and C(NNNN_name.down.sql) files.
    type: path
    required: true
  target:
    description:
      - Version to migrate to (V(3) or V(0003)). V(0) reverts every migration.
      - Omitted, every pending migration is applied.
    type: str
  migrations_table:
    description: Table (optionally schema-qualified) that records the applied migrations.
    type: str
    default: public.schema_migrations
  lock_key:
    description: Key of the session-level advisory lock (pg_advisory_lock) held during a run.
    type: int
    default: 4472019411
  lock_timeout:
    description: Seconds to wait for the advisory lock held by another run before failing.
    type: int
    default: 300
attributes:
  check_mode:
    support: full
    description: Only reads, and returns the migrations it would apply or revert.
  diff_mode:
    support: full
    description: Returns the applied versions before and after the run (or the planned run in check mode).
notes:
  - A migration file must not contain transaction control (BEGIN/COMMIT) or statements that
    cannot run in a transaction block (CREATE INDEX CONCURRENTLY, VACUUM).
  - The SQL text of each migration is not returned in RV(queries); its file name is.
extends_documentation_fragment:
  - giftcrypto.platform.postgres
"""

EXAMPLES = r"""
- name: Apply every pending migration
  giftcrypto.platform.pg_migrate:
    path: "{{ role_path }}/files/migrations"
    login_host: 127.0.0.1
    login_user: migrator
    login_password: "{{ migrator_password }}"
    login_db: giftcrypto
    ssl_mode: verify-full
    ca_cert: /etc/giftcrypto/pki/ca.crt
  no_log: true

- name: List what would be applied, changing nothing
  giftcrypto.platform.pg_migrate:
    path: roles/db_schema/files/migrations
    login_user: migrator
    login_db: giftcrypto
  check_mode: true
  register: plan

- name: Migrate down to version 3
  giftcrypto.platform.pg_migrate:
    path: roles/db_schema/files/migrations
    target: "3"
    login_user: migrator
    login_db: giftcrypto
"""

RETURN = r"""
applied:
  description: Versions applied (upwards) by this run, in order; in check mode, those it would apply.
  returned: always
  type: list
  elements: int
  sample: [1, 2, 3]
reverted:
  description: Versions reverted (down files run) by this run, in order; in check mode, would revert.
  returned: always
  type: list
  elements: int
  sample: []
pending:
  description: Migrations not applied before this run (up to O(target)), with their file names.
  returned: always
  type: list
  elements: dict
  sample: [{"version": 4, "name": "audit", "file": "0004_audit.up.sql"}]
current:
  description: Newest applied version after the run (0 when none); in check mode, the one it would be.
  returned: always
  type: int
  sample: 5
durations:
  description: Seconds each applied or reverted migration took, keyed by file name.
  returned: always
  type: dict
  sample: {"0001_core.up.sql": 0.042}
queries:
  description: SQL executed, in order; a migration appears as the name of its file.
  returned: always
  type: list
  elements: str
  sample: ["SELECT pg_try_advisory_lock(%s)", "0001_core.up.sql"]
"""

import contextlib
import hashlib
import os
import re
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.giftcrypto.platform.plugins.module_utils.pg import (
    QueryLog,
    connect,
    connection_argument_spec,
)

FILE_RE = re.compile(r"^(?P<version>\d{4,})_(?P<name>[a-z0-9_]+)\.(?P<direction>up|down)\.sql$")
# migrations_table is checked against TABLE_RE and double-quoted before it enters any SQL.
TABLE_RE = re.compile(r"^(?:[a-z_][a-z0-9_]*\.)?[a-z_][a-z0-9_]*$")


class MigrationError(Exception):
    pass


def sha256_file(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def scan(path: str) -> dict[int, dict]:
    """The migrations of a directory: {version: {name, up, down}} (file paths), validated."""
    if not os.path.isdir(path):
        raise MigrationError(f"path={path}: not a directory of migrations")
    found: dict[int, dict] = {}
    for entry in sorted(os.listdir(path)):
        if not entry.endswith(".sql"):
            continue
        match = FILE_RE.match(entry)
        if not match:
            raise MigrationError(
                f"{os.path.join(path, entry)}: a migration file must be named NNNN_name.up.sql or "
                "NNNN_name.down.sql (digits, lower-case letters, digits and underscores)"
            )
        version = int(match["version"])
        item = found.setdefault(
            version, {"version": version, "name": match["name"], "up": None, "down": None}
        )
        if item["name"] != match["name"]:
            raise MigrationError(
                f"{os.path.join(path, entry)}: version {version} is also used by '{item['name']}'"
            )
        item[match["direction"]] = os.path.join(path, entry)
    for version, item in found.items():
        if item["up"] is None:
            raise MigrationError(f"{item['down']}: version {version} has a down file but no up file")
    return dict(sorted(found.items()))


def parse_target(value: str | None) -> int | None:
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    if not re.fullmatch(r"[0-9]+", text):
        raise MigrationError(f"target={value}: must be a version number such as 3 or 0003 (0 = none)")
    return int(text)


def committed(result: dict, before: list[int]) -> dict:
    """The result of a run that failed part way: what the earlier files committed stays, and says so."""
    if result["applied"] or result["reverted"]:
        after = (set(before) - set(result["reverted"])) | set(result["applied"])
        return {**result, "changed": True, "current": max(after, default=0)}
    return result


def plan(migrations: dict[int, dict], applied: dict[int, dict], target: int | None) -> tuple[list, list]:
    """(up, down) lists of migrations to run, after checking the applied ones against the files."""
    for version, row in sorted(applied.items()):
        item = migrations.get(version)
        if item is None:
            raise MigrationError(
                f"migration {version:04d}_{row['name']} is applied (checksum {row['checksum']}) but its "
                "file is missing from path: restore it; applied migrations are never removed"
            )
        checksum = sha256_file(item["up"])
        if checksum != row["checksum"]:
            raise MigrationError(
                f"{item['up']} changed after it was applied (recorded sha256 {row['checksum']}, file "
                f"now {checksum}): restore the applied file and put the change in a new migration"
            )
    newest = max(applied, default=0)
    if target is not None and target and target not in migrations:
        raise MigrationError(f"target={target}: no migration has this version")
    goal = max(migrations, default=0) if target is None else target
    late = [v for v in migrations if v not in applied and v < newest and v <= goal]
    if late:
        raise MigrationError(
            f"{migrations[late[0]]['up']} is pending but version {newest} is already applied: "
            "renumber it after the newest applied migration"
        )
    up = [migrations[v] for v in migrations if v not in applied and v <= goal]
    down = [migrations[v] for v in sorted(applied, reverse=True) if v > goal]
    missing = [item["up"].replace(".up.sql", ".down.sql") for item in down if not item["down"]]
    if missing:
        raise MigrationError(f"cannot migrate down to {goal}: missing {', '.join(missing)}")
    return up, down


def split_table(name: str) -> tuple[str, str]:
    if not TABLE_RE.fullmatch(name):
        raise MigrationError(f"migrations_table={name}: must be [schema.]table in lower case")
    schema, _dot, table = name.rpartition(".")
    return schema or "public", table


def main() -> None:
    argument_spec = connection_argument_spec()
    argument_spec.update(
        path={"type": "path", "required": True},
        target={"type": "str"},
        migrations_table={"type": "str", "default": "public.schema_migrations"},
        lock_key={"type": "int", "default": 4472019411, "no_log": False},
        lock_timeout={"type": "int", "default": 300},
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    result = {
        "changed": False,
        "applied": [],
        "reverted": [],
        "pending": [],
        "current": 0,
        "durations": {},
        "queries": [],
    }
    try:
        migrations = scan(params["path"])
        target = parse_target(params["target"])
        schema, table = split_table(params["migrations_table"])
        if target and target not in migrations:
            # Refused before connecting: a bad target changes nothing (not even the table).
            raise MigrationError(f"target={target}: no migration has this version")
    except MigrationError as exc:
        module.fail_json(msg=str(exc), **result)

    conn = connect(module, autocommit=True)
    log = QueryLog(conn)
    result["queries"] = log.queries
    qualified = f'"{schema}"."{table}"'
    before: list[int] = []
    locked = False
    try:
        if not module.check_mode:
            deadline = time.monotonic() + params["lock_timeout"]
            while not log.fetchone("SELECT pg_try_advisory_lock(%s)", (params["lock_key"],))[0]:
                if time.monotonic() > deadline:
                    raise MigrationError(
                        f"another pg_migrate run holds advisory lock {params['lock_key']} on "
                        f"{params['login_db']}; gave up after lock_timeout={params['lock_timeout']}s"
                    )
                time.sleep(0.5)
            locked = True
        exists = log.fetchone("SELECT to_regclass(%s) IS NOT NULL", (qualified,))[0]
        if not exists and not module.check_mode:
            log.execute(
                f"CREATE TABLE IF NOT EXISTS {qualified} ("
                " version bigint PRIMARY KEY,"
                " name text NOT NULL,"
                " checksum text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),"
                " applied_at timestamptz NOT NULL DEFAULT now(),"
                " duration interval NOT NULL)"
            )
            exists = True
        applied = {}
        if exists:
            rows = log.fetchall(f"SELECT version, name, checksum FROM {qualified} ORDER BY version")  # noqa: S608
            applied = {int(v): {"name": n, "checksum": c} for v, n, c in rows}
        up, down = plan(migrations, applied, target)
        result["pending"] = [
            {"version": m["version"], "name": m["name"], "file": os.path.basename(m["up"])} for m in up
        ]
        before = sorted(applied)
        result["current"] = max(applied, default=0)
        if module.check_mode:
            result["applied"] = [m["version"] for m in up]
            result["reverted"] = [m["version"] for m in down]
            after = sorted((set(applied) - set(result["reverted"])) | set(result["applied"]))
            result["current"] = max(after, default=0)
        else:

            def run_file(path, bookkeeping):
                """Runs one migration file and its bookkeeping row in one transaction, timing it."""
                started = time.monotonic()
                try:
                    with conn.transaction():
                        with open(path, encoding="utf-8") as handle:
                            log.execute(handle.read(), remember=os.path.basename(path))
                        bookkeeping(time.monotonic() - started)
                except Exception as exc:
                    raise MigrationError(f"{path} failed and was rolled back: {exc}") from exc
                result["durations"][os.path.basename(path)] = round(time.monotonic() - started, 3)

            for item in down:
                run_file(
                    item["down"],
                    lambda _elapsed, item=item: log.execute(
                        f"DELETE FROM {qualified} WHERE version = %s",  # noqa: S608
                        (item["version"],),
                    ),
                )
                result["reverted"].append(item["version"])
            for item in up:
                run_file(
                    item["up"],
                    lambda elapsed, item=item: log.execute(
                        f"INSERT INTO {qualified} (version, name, checksum, duration) "  # noqa: S608
                        "VALUES (%s, %s, %s, make_interval(secs => %s))",
                        (item["version"], item["name"], sha256_file(item["up"]), elapsed),
                    ),
                )
                result["applied"].append(item["version"])
            after = sorted((set(applied) - set(result["reverted"])) | set(result["applied"]))
            result["current"] = max(after, default=0)
        result["changed"] = bool(result["applied"] or result["reverted"])
        if module._diff:
            result["diff"] = {
                "before": "".join(f"{v:04d}\n" for v in before),
                "after": "".join(f"{v:04d}\n" for v in after)
                if result["changed"]
                else "".join(f"{v:04d}\n" for v in before),
                "before_header": f"{params['login_db']} {params['migrations_table']}",
                "after_header": f"{params['login_db']} {params['migrations_table']}",
            }
    except MigrationError as exc:
        module.fail_json(msg=str(exc), **committed(result, before))
    except Exception as exc:  # psycopg errors outside a migration (lock, bookkeeping)
        module.fail_json(msg=f"pg_migrate failed: {exc}", **committed(result, before))
    finally:
        if locked and not conn.closed:
            # closing the session releases the lock anyway
            with contextlib.suppress(Exception):
                conn.execute("SELECT pg_advisory_unlock(%s)", (params["lock_key"],))
        conn.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
