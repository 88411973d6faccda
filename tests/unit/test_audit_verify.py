"""giftcrypto.platform.audit_verify against a real audit trail (tests/unit/pg_cluster.py).

The rows are written by the real audit_capture() trigger of the db_schema role's migration
0004_audit (inserts as the application role acting as a user, an update and a delete, a keyring
row as migrator); the module, run as auditor the way Ansible runs it, must recompute every hash the
database made.
Tampering is done as the superuser with triggers off (session_replication_role = replica), the
only way past the append-only guards, and each kind of tampering must be reported where it is.
"""

from __future__ import annotations

import json
import uuid

import pytest
from ansible_collections.giftcrypto.platform.plugins.modules import audit_verify

from tests.unit import moto_modules

SHARDS = 64  # audit_shard_count() (16 before migration 0011)


@pytest.fixture
def run_verify(capsys):
    return moto_modules.runner(audit_verify, capsys)


def _fake_ciphertext() -> bytes:
    """Shaped like an envelope ciphertext (is_envelope_ciphertext); the audit does not decrypt."""
    return b"\x01" + uuid.uuid4().bytes * 3


def _user_row(user_id: uuid.UUID) -> tuple:
    return (user_id, _fake_ciphertext(), uuid.uuid4().bytes * 2, "$scrypt$" + "x" * 40)


INSERT_USER = "INSERT INTO users (id, email_ciphertext, email_bidx, password_hash) VALUES (%s, %s, %s, %s)"


@pytest.fixture
def audited(pg_cluster, migrated_db):
    """Three transactions audited on three shards: {db, users: shard of the 3 user inserts, keys: ...}."""
    users = [uuid.uuid4() for _ in range(3)]
    # 1. The application (app_rw) registers three users, acting as each (row-level security).
    with pg_cluster.connect(migrated_db, user="app_rw", autocommit=False) as conn:
        for user_id in users:
            conn.execute("SELECT set_config('app.user_id', %s, true)", (str(user_id),))
            conn.execute(INSERT_USER, _user_row(user_id))
        conn.commit()
    # 2. An operator (superuser) verifies one user and deletes another.
    with pg_cluster.connect(migrated_db, autocommit=False) as conn:
        conn.execute("UPDATE users SET kyc_status = 'verified' WHERE id = %s", (users[0],))
        conn.execute("DELETE FROM users WHERE id = %s", (users[2],))
        conn.commit()
    # 3. migrator stores a data key (wrapped_key is left out of the audited row data).
    with pg_cluster.connect(migrated_db, user="migrator") as conn:
        conn.execute(
            "INSERT INTO encryption_keys (purpose, version, kms_key_id, wrapped_key, active) "
            "VALUES ('pii', 1, 'arn:aws:kms:us-east-1:123456789012:key/unit', %s, true)",
            (b"wrapped",),
        )
    with pg_cluster.connect(migrated_db) as conn:
        rows = conn.execute(
            "SELECT table_name, operation, shard, seq, actor_role, actor_user_id FROM audit_log "
            "ORDER BY shard, seq"
        ).fetchall()
    by_op = {}
    for table, operation, shard, seq, role, actor in rows:
        by_op.setdefault((table, operation), []).append((shard, seq, role, actor))
    inserts = by_op[("users", "INSERT")]
    assert [(seq, role) for _, seq, role, _ in inserts] == [(1, "app_rw"), (2, "app_rw"), (3, "app_rw")]
    assert [actor for *_, actor in inserts] == users
    assert set(by_op) == {
        ("users", "INSERT"),
        ("users", "UPDATE"),
        ("users", "DELETE"),
        ("encryption_keys", "INSERT"),
    }
    shards = {key: {s for s, *_ in value} for key, value in by_op.items()}
    assert len(shards[("users", "INSERT")]) == 1
    return {
        "db": migrated_db,
        "users": shards[("users", "INSERT")].pop(),
        "operator": shards[("users", "UPDATE")].pop(),
        "keys": shards[("encryption_keys", "INSERT")].pop(),
        "rows": len(rows),
    }


def _tamper(cluster, db, *statements: tuple[str, tuple]) -> None:
    """As the superuser with every ordinary trigger off: past the append-only guards."""
    with cluster.connect(db) as conn:
        conn.execute("SET session_replication_role = replica")
        for statement, params in statements:
            conn.execute(statement, params)


def _heads(cluster, db) -> dict[str, dict]:
    with cluster.connect(db) as conn:
        rows = conn.execute("SELECT shard, seq, hash FROM audit_chain_heads").fetchall()
    return {str(shard): {"seq": seq, "hash": bytes(digest).hex()} for shard, seq, digest in rows}


def _audit_rows(cluster, db) -> list[tuple]:
    with cluster.connect(db) as conn:
        return conn.execute("SELECT * FROM audit_log ORDER BY shard, seq, occurred_at").fetchall()


def test_an_intact_trail_verifies_in_check_mode_too(pg_cluster, audited, run_verify):
    args = pg_cluster.login(audited["db"], user="auditor")
    for check_mode in (False, True):
        result = run_verify(args, check_mode=check_mode)
        assert result["rc"] == 0, result
        assert (result["ok"], result["changed"], result["breaks"], result["first_break"]) == (
            True,
            False,
            [],
            None,
        )
        assert result["rows_checked"] == audited["rows"] == 6
        # Every shard's last verified link is its head row: what to anchor outside the database.
        assert result["heads"] == _heads(pg_cluster, audited["db"])
        assert len(result["heads"]) == SHARDS
        assert result["heads"][str(audited["users"])]["seq"] == 3
        assert result["queries"][0] == "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
        assert audit_verify.ROWS_SQL in result["queries"]


def test_anchored_heads_stay_valid_as_the_chains_grow(pg_cluster, audited, run_verify):
    args = pg_cluster.login(audited["db"], user="auditor")
    anchored = run_verify(args)["heads"]
    # More audited writes after the anchoring, on the same rows.
    with pg_cluster.connect(audited["db"], autocommit=False) as conn:
        for _ in range(3):
            conn.execute("UPDATE users SET email_verified = NOT email_verified")
            conn.commit()
    result = run_verify({**args, "expected_heads": anchored})
    assert result["rc"] == 0, result
    assert result["ok"] is True and result["rows_checked"] == audited["rows"] + 6
    assert result["heads"] == _heads(pg_cluster, audited["db"])


TAMPERING = {
    "modified": (
        "UPDATE audit_log SET row_data = jsonb_set(row_data, '{kyc_status}', '\"verified\"') "
        "WHERE shard = %s AND seq = 2",
        2,
        "row content does not match its hash (row modified)",
    ),
    "relinked": (
        "UPDATE audit_log SET prev_hash = sha256('forged') WHERE shard = %s AND seq = 2",
        2,
        "prev_hash is not the hash of the previous row (chain broken)",
    ),
    "removed": (
        "DELETE FROM audit_log WHERE shard = %s AND seq = 2",
        3,
        "seq 3 found where 2 was expected (row removed, inserted or reordered)",
    ),
    "duplicated": (
        "INSERT INTO audit_log SELECT shard, seq, occurred_at + interval '1 microsecond', txid, "
        "actor_user_id, actor_role, table_name, operation, row_id, changed_columns, row_data, "
        "prev_hash, hash FROM audit_log WHERE shard = %s AND seq = 2",
        2,
        "seq 2 appears again after 2 (row inserted or reordered)",
    ),
    "truncated": (
        "DELETE FROM audit_log WHERE shard = %s AND seq = 3",
        2,
        "chain ends at seq 2 but its head says seq 3 (rows removed at the end, or head altered)",
    ),
    "head altered": (
        "UPDATE audit_chain_heads SET hash = sha256('forged') WHERE shard = %s",
        3,
        "chain ends at seq 3 but its head says seq 3 (rows removed at the end, or head altered)",
    ),
    "head removed": (
        "DELETE FROM audit_chain_heads WHERE shard = %s",
        3,
        "no head row for this shard",
    ),
}


@pytest.mark.parametrize("kind", list(TAMPERING))
def test_tampering_is_found_where_it_is(pg_cluster, audited, run_verify, kind):
    statement, seq, reason = TAMPERING[kind]
    shard = audited["users"]
    _tamper(pg_cluster, audited["db"], (statement, (shard,)))
    trail = _audit_rows(pg_cluster, audited["db"])
    args = pg_cluster.login(audited["db"], user="auditor")

    failed = run_verify(args)
    assert failed["rc"] == 1 and failed["failed"] is True and failed["changed"] is False
    assert failed["msg"] == f"audit chain broken: shard {shard} seq {seq}: {reason}"
    assert failed["first_break"]["reason"] == reason
    assert failed["breaks"] == [failed["first_break"]]
    assert failed["ok"] is False

    reported = run_verify({**args, "fail_on_break": False})
    assert reported["rc"] == 0 and "failed" not in reported
    assert reported["ok"] is False
    assert (reported["first_break"]["shard"], reported["first_break"]["seq"]) == (shard, seq)
    # Other shards still verify; the module changed nothing.
    assert all(b["shard"] == shard for b in reported["breaks"])
    assert _audit_rows(pg_cluster, audited["db"]) == trail


def test_a_modified_row_names_the_audited_row(pg_cluster, audited, run_verify):
    shard = audited["users"]
    _tamper(pg_cluster, audited["db"], (TAMPERING["modified"][0], (shard,)))
    result = run_verify({**pg_cluster.login(audited["db"], user="auditor"), "fail_on_break": False})
    with pg_cluster.connect(audited["db"]) as conn:
        (row_id,) = conn.execute(
            "SELECT row_id FROM audit_log WHERE shard = %s AND seq = 2", (shard,)
        ).fetchone()
    assert result["first_break"] == {
        "shard": shard,
        "seq": 2,
        "table_name": "users",
        "row_id": row_id,
        "reason": "row content does not match its hash (row modified)",
    }
    # The last verified link is the one before the break.
    assert result["heads"][str(shard)]["seq"] == 1


def test_breaks_on_several_shards_are_all_reported_lowest_first(pg_cluster, audited, run_verify):
    modified = TAMPERING["modified"][0]
    _tamper(
        pg_cluster,
        audited["db"],
        (modified, (audited["users"],)),
        ("DELETE FROM audit_chain_heads WHERE shard = %s", (audited["keys"],)),
    )
    result = run_verify({**pg_cluster.login(audited["db"], user="auditor"), "fail_on_break": False})
    assert [b["shard"] for b in result["breaks"]] == sorted([audited["users"], audited["keys"]])
    assert result["first_break"] == result["breaks"][0]


def test_a_shard_deleted_whole_with_its_head_is_still_found(pg_cluster, audited, run_verify):
    args = pg_cluster.login(audited["db"], user="auditor")
    anchored = run_verify(args)["heads"]
    shard = audited["users"]
    _tamper(
        pg_cluster,
        audited["db"],
        ("DELETE FROM audit_log WHERE shard = %s", (shard,)),
        ("DELETE FROM audit_chain_heads WHERE shard = %s", (shard,)),
    )
    # Without anchors: the schema still defines the shard, so its missing head is a break.
    result = run_verify({**args, "fail_on_break": False})
    assert result["ok"] is False
    assert result["first_break"] == {"shard": shard, "seq": 0, "reason": "no head row for this shard"}
    assert len(result["heads"]) == SHARDS
    # With the heads anchored before: the anchored seq is gone from the chain.
    result = run_verify({**args, "expected_heads": anchored, "fail_on_break": False})
    assert result["first_break"]["shard"] == shard
    assert result["first_break"]["reason"] == "anchored head seq 3 is no longer on the chain (rows removed)"


def test_a_chain_rewritten_with_its_head_is_caught_by_the_anchored_heads(pg_cluster, audited, run_verify):
    args = pg_cluster.login(audited["db"], user="auditor")
    anchored = run_verify(args)["heads"]
    shard = str(audited["users"])
    forged = {**anchored, shard: {"seq": 2, "hash": "ab" * 32}}
    result = run_verify({**args, "expected_heads": forged, "fail_on_break": False})
    assert result["ok"] is False
    assert result["first_break"]["seq"] == 2
    assert result["first_break"]["reason"] == "hash differs from the anchored head (chain rewritten)"
    assert result["heads"][shard]["seq"] == 1

    gone = {shard: {"seq": 7, "hash": anchored[shard]["hash"]}}
    result = run_verify({**args, "expected_heads": gone})
    assert result["rc"] == 1
    assert result["msg"] == (
        f"audit chain broken: shard {shard} seq 7: "
        "anchored head seq 7 is no longer on the chain (rows removed)"
    )


@pytest.mark.parametrize(
    ("database", "user", "message"),
    [
        ("empty", "auditor", 'relation "audit_chain_heads" does not exist'),
        ("migrated", "app_rw", "permission denied for table audit_chain_heads"),
    ],
)
def test_an_unreadable_trail_fails_clearly(
    pg_cluster, empty_db, migrated_db, run_verify, database, user, message
):
    db = empty_db if database == "empty" else migrated_db
    result = run_verify(pg_cluster.login(db, user=user))
    assert result["rc"] == 1 and result["failed"] is True
    assert result["msg"].startswith("audit_verify could not read the audit trail: ")
    assert message in result["msg"]
    assert result["queries"][0] == "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"


def test_a_wrong_password_fails_without_showing_it(pg_cluster, migrated_db, run_verify):
    result = run_verify({**pg_cluster.login(migrated_db, user="auditor"), "login_password": "wrong-secret"})
    assert result["rc"] == 1
    assert (
        f"Unable to connect to database {migrated_db} on 127.0.0.1:{pg_cluster.port} as auditor"
        in result["msg"]
    )
    assert "wrong-secret" not in json.dumps(result)
