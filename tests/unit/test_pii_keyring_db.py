"""giftcrypto.platform.pii_keyring against a real PostgreSQL 15 (tests/unit/pg_cluster.py) and KMS
under moto's ``mock_aws``.

The module runs in-process as Ansible runs it (moto_modules.runner), as migrator on the migrated
schema, exactly as roles/db_schema/tasks/keyring.yml calls it. Rows are written with the real
envelope library; every test reads back encryption_keys and the ciphertexts and decrypts them with
a fresh keyring, so a wrong version, a lost value or a key the module forgot to store fails.
"""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from ansible_collections.giftcrypto.platform.plugins.module_utils import envelope
from ansible_collections.giftcrypto.platform.plugins.modules import pii_keyring
from moto import mock_aws

from tests.unit import moto_modules
from tests.unit.moto_modules import REGION

ALIAS = "alias/giftcrypto-unit-pii"

PEOPLE = (
    # email, phone, first name, last name, date of birth, wallet private key (None: non-custodial)
    (
        "Alice@Example.test",
        "+1 (555) 010-2030",
        "Alice",
        "Liddell",
        "1990-01-02",
        b"alice-private-key-32-bytes......",
    ),
    ("bob@example.test", None, "Bob", "Builder", "1985-06-30", None),
    (
        "carol@example.test",
        "+15550102040",
        "Carol",
        "Danvers",
        "1979-11-11",
        b"carol-private-key-32-bytes......",
    ),
)
PII_COUNTS = {
    "users.email_ciphertext": 3,
    "users.phone_ciphertext": 2,
    "user_profiles.first_name_ciphertext": 3,
    "user_profiles.last_name_ciphertext": 3,
    "user_profiles.date_of_birth_ciphertext": 3,
    "wallet_accounts.private_key_ciphertext": 2,
}
BIDX_COUNTS = {"users.email_bidx": 3, "users.phone_bidx": 2}


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch, tmp_path):
    moto_modules.dummy_environment(monkeypatch, tmp_path)


@pytest.fixture(scope="module")
def botocore_loader():
    with moto_modules.shared_botocore_loader():
        yield


@pytest.fixture
def run_keyring(capsys, botocore_loader):
    return moto_modules.runner(pii_keyring, capsys)


@pytest.fixture
def kms(aws_environment):
    """The PII KMS key (and its alias) in moto; yields (client, key ARN)."""
    with mock_aws():
        client = boto3.client("kms", region_name=REGION)
        key = client.create_key(Description="giftcrypto unit pii")["KeyMetadata"]
        client.create_alias(AliasName=ALIAS, TargetKeyId=key["KeyId"])
        yield client, key["Arn"]


def _args(cluster, db, **overrides) -> dict:
    return {**cluster.login(db), "purpose": "pii", "kms_key_id": ALIAS, "region": REGION, **overrides}


def _keys(cluster, db) -> list[tuple]:
    """encryption_keys as (purpose, version, kms_key_id, active, retired)."""
    with cluster.connect(db) as conn:
        return conn.execute(
            "SELECT purpose, version, kms_key_id, active, retired_at IS NOT NULL FROM encryption_keys "
            "ORDER BY purpose, version"
        ).fetchall()


def _keyring(cluster, db, kms_client):
    """A fresh keyring on the database's encryption_keys (what the application builds)."""
    conn = cluster.connect(db)
    return conn, envelope.EnvelopeKeyring(envelope.KmsClient(kms_client), envelope.PostgresKeySource(conn))


def _seed(cluster, db, kms_client) -> list[dict]:
    """The three PEOPLE, encrypted with the active keys, as their ids."""
    conn, ring = _keyring(cluster, db, kms_client)
    cipher = envelope.FieldCipher(ring)
    seeded = []
    with conn, cluster.connect(db) as admin:
        for email, phone, first, last, born, private_key in PEOPLE:
            user, profile, wallet = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
            admin.execute(
                "INSERT INTO users (id, email_ciphertext, email_bidx, phone_ciphertext, phone_bidx, "
                "password_hash) VALUES (%s, %s, %s, %s, %s, %s)",
                (
                    user,
                    cipher.encrypt("users", "email_ciphertext", user, email),
                    cipher.blind_index("users", "email_bidx", email),
                    cipher.encrypt("users", "phone_ciphertext", user, phone),
                    cipher.blind_index("users", "phone_bidx", phone),
                    "$scrypt$" + "x" * 40,
                ),
            )
            admin.execute(
                "INSERT INTO user_profiles (id, user_id, first_name_ciphertext, last_name_ciphertext, "
                "date_of_birth_ciphertext, display_name) VALUES (%s, %s, %s, %s, %s, %s)",
                (
                    profile,
                    user,
                    cipher.encrypt("user_profiles", "first_name_ciphertext", profile, first),
                    cipher.encrypt("user_profiles", "last_name_ciphertext", profile, last),
                    cipher.encrypt("user_profiles", "date_of_birth_ciphertext", profile, born),
                    first,
                ),
            )
            admin.execute(
                "INSERT INTO wallet_accounts (id, user_id, wallet_address, wallet_type, "
                "private_key_ciphertext, public_key, currency) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    wallet,
                    user,
                    "0x" + uuid.uuid4().hex + "00000000",
                    "custodial" if private_key else "non_custodial",
                    cipher.encrypt("wallet_accounts", "private_key_ciphertext", wallet, private_key),
                    "02" + "ab" * 32,
                    "ETH",
                ),
            )
            seeded.append({"user": user, "profile": profile, "wallet": wallet})
    ring.clear()
    return seeded


def _read_back(cluster, db, kms_client) -> dict:
    """Every PII value decrypted by a fresh keyring, with the key versions of its column values."""
    conn, ring = _keyring(cluster, db, kms_client)
    cipher = envelope.FieldCipher(ring)
    values, versions = set(), {}

    def note(name, blob):
        if blob is not None:
            versions.setdefault(name, set()).add(envelope.header_version(blob))

    with conn:
        for user, email, email_bidx, phone, phone_bidx in conn.execute(
            "SELECT id, email_ciphertext, email_bidx, phone_ciphertext, phone_bidx FROM users"
        ):
            plain_email = cipher.decrypt_text("users", "email_ciphertext", user, email)
            plain_phone = cipher.decrypt_text("users", "phone_ciphertext", user, phone)
            values |= {plain_email, plain_phone}
            # Each blind index still matches its value under the version it carries.
            assert bytes(email_bidx) == cipher.blind_index(
                "users", "email_bidx", plain_email, envelope.header_version(email_bidx)
            )
            if phone_bidx is not None:
                assert bytes(phone_bidx) == cipher.blind_index(
                    "users", "phone_bidx", plain_phone, envelope.header_version(phone_bidx)
                )
            for name, blob in (
                ("users.email_ciphertext", email),
                ("users.phone_ciphertext", phone),
                ("users.email_bidx", email_bidx),
                ("users.phone_bidx", phone_bidx),
            ):
                note(name, blob)
        for profile, first, last, born in conn.execute(
            "SELECT id, first_name_ciphertext, last_name_ciphertext, date_of_birth_ciphertext "
            "FROM user_profiles"
        ):
            for column, blob in (
                ("first_name_ciphertext", first),
                ("last_name_ciphertext", last),
                ("date_of_birth_ciphertext", born),
            ):
                values.add(cipher.decrypt_text("user_profiles", column, profile, blob))
                note(f"user_profiles.{column}", blob)
        for wallet, private_key in conn.execute("SELECT id, private_key_ciphertext FROM wallet_accounts"):
            values.add(cipher.decrypt("wallet_accounts", "private_key_ciphertext", wallet, private_key))
            note("wallet_accounts.private_key_ciphertext", private_key)
    ring.clear()
    return {"values": values - {None}, "versions": versions}


EXPECTED_VALUES = {v for person in PEOPLE for v in person if v is not None}


def test_present_check_mode_creates_version_1_then_changes_nothing(pg_cluster, migrated_db, kms, run_keyring):
    client, arn = kms
    args = _args(pg_cluster, migrated_db)

    planned = run_keyring(args, check_mode=True)
    assert planned["rc"] == 0, planned
    assert (planned["changed"], planned["created"], planned["version"], planned["previous_version"]) == (
        True,
        True,
        1,
        None,
    )
    assert planned["kms_key_id"] == ALIAS  # in check mode, the requested id
    assert _keys(pg_cluster, migrated_db) == []

    created = run_keyring(args)
    assert created["rc"] == 0, created
    assert (created["changed"], created["created"], created["version"], created["active"]) == (
        True,
        True,
        1,
        True,
    )
    assert created["kms_key_id"] == arn  # the key ARN KMS answered with, not the alias
    assert created["diff"] == {
        "before": {"purpose": "pii", "active_version": None},
        "after": {"purpose": "pii", "active_version": 1},
    }
    assert _keys(pg_cluster, migrated_db) == [("pii", 1, arn, True, False)]
    # Stored only wrapped, under the encryption context of its purpose and version; the plaintext
    # key never appears in the result, nor does the password.
    conn, ring = _keyring(pg_cluster, migrated_db, client)
    with conn:
        material = ring.key("pii", 1).material()
        wrapped = ring.source.get("pii", 1).wrapped_key
    ring.clear()
    output = json.dumps(created)
    assert material.hex() not in output and wrapped.hex() not in output
    assert pg_cluster.passwords["migrator"] not in output
    assert created["invocation"]["module_args"]["login_password"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"

    again = run_keyring(args)
    assert again["rc"] == 0, again
    assert (again["changed"], again["created"], again["version"], again["previous_version"]) == (
        False,
        False,
        1,
        1,
    )
    assert again["kms_key_id"] == arn
    checked = run_keyring(args, check_mode=True)
    assert (checked["changed"], checked["version"]) == (False, 1)
    # Another purpose is independent: its own version 1.
    blind = run_keyring(_args(pg_cluster, migrated_db, purpose="blind_index"), diff=False)
    assert (blind["changed"], blind["version"]) == (True, 1)
    assert "diff" not in blind
    assert _keys(pg_cluster, migrated_db) == [
        ("blind_index", 1, arn, True, False),
        ("pii", 1, arn, True, False),
    ]


def test_rotation_reencrypts_every_pii_column_in_batches_and_retires_the_old_key(
    pg_cluster, migrated_db, kms, run_keyring
):
    client, arn = kms
    for purpose in envelope.PURPOSES:
        assert run_keyring(_args(pg_cluster, migrated_db, purpose=purpose))["rc"] == 0
    _seed(pg_cluster, migrated_db, client)
    before = _read_back(pg_cluster, migrated_db, client)
    assert before["values"] == EXPECTED_VALUES
    rotate = _args(pg_cluster, migrated_db, state="rotated", reencrypt=True, batch_size=2)

    planned = run_keyring(rotate, check_mode=True)
    assert planned["rc"] == 0, planned
    assert (planned["changed"], planned["created"], planned["version"], planned["previous_version"]) == (
        True,
        True,
        2,
        1,
    )
    assert planned["rows_pending"] == PII_COUNTS and planned["rows_reencrypted"] == 0
    assert [k[:2] for k in _keys(pg_cluster, migrated_db)] == [("blind_index", 1), ("pii", 1)]
    assert _read_back(pg_cluster, migrated_db, client)["versions"] == before["versions"]

    rotated = run_keyring(rotate)
    assert rotated["rc"] == 0, rotated
    assert (rotated["changed"], rotated["created"], rotated["version"], rotated["previous_version"]) == (
        True,
        True,
        2,
        1,
    )
    assert rotated["reencrypted"] == PII_COUNTS
    assert rotated["rows_reencrypted"] == sum(PII_COUNTS.values())
    assert rotated["rows_pending"] == dict.fromkeys(PII_COUNTS, 0)
    assert rotated["retired_versions"] == [1]
    # batch_size=2 over three rows: a first batch, then keyset pages after the last id.
    assert any(" > %s AND " in q for q in rotated["queries"])
    assert _keys(pg_cluster, migrated_db) == [
        ("blind_index", 1, arn, True, False),
        ("pii", 1, arn, False, True),
        ("pii", 2, arn, True, False),
    ]
    after = _read_back(pg_cluster, migrated_db, client)
    assert after["values"] == EXPECTED_VALUES
    assert {name: v for name, v in after["versions"].items() if name in PII_COUNTS} == {
        name: {2} for name in PII_COUNTS
    }
    assert after["versions"]["users.email_bidx"] == {1}  # blind indexes untouched

    again = run_keyring(_args(pg_cluster, migrated_db, reencrypt=True))
    assert again["rc"] == 0, again
    assert (again["changed"], again["created"], again["rows_reencrypted"], again["retired_versions"]) == (
        False,
        False,
        0,
        [],
    )
    assert again["rows_pending"] == dict.fromkeys(PII_COUNTS, 0)


def test_blind_index_rotation_recomputes_the_indexes(pg_cluster, migrated_db, kms, run_keyring):
    client, _ = kms
    for purpose in envelope.PURPOSES:
        run_keyring(_args(pg_cluster, migrated_db, purpose=purpose))
    _seed(pg_cluster, migrated_db, client)
    result = run_keyring(
        _args(pg_cluster, migrated_db, purpose="blind_index", state="rotated", reencrypt=True)
    )
    assert result["rc"] == 0, result
    assert (result["version"], result["reencrypted"], result["retired_versions"]) == (2, BIDX_COUNTS, [1])
    after = _read_back(pg_cluster, migrated_db, client)
    assert after["versions"]["users.email_bidx"] == after["versions"]["users.phone_bidx"] == {2}
    assert after["versions"]["users.email_ciphertext"] == {1}
    # A login looks the user up by the index of the normalized address, under the new key.
    conn, ring = _keyring(pg_cluster, migrated_db, client)
    with conn:
        token = envelope.blind_index(ring, "users", "email_bidx", " ALICE@example.TEST")
        found = conn.execute("SELECT count(*) FROM users WHERE email_bidx = %s", (token,)).fetchone()[0]
    ring.clear()
    assert found == 1


def test_some_columns_only_leave_the_old_version_unretired(pg_cluster, migrated_db, kms, run_keyring):
    client, _ = kms
    for purpose in envelope.PURPOSES:
        run_keyring(_args(pg_cluster, migrated_db, purpose=purpose))
    _seed(pg_cluster, migrated_db, client)
    assert run_keyring(_args(pg_cluster, migrated_db, state="rotated"))["version"] == 2
    only_email = [{"table": "users", "column": "email_ciphertext"}]
    result = run_keyring(_args(pg_cluster, migrated_db, reencrypt=True, columns=only_email))
    assert result["rc"] == 0, result
    assert (result["changed"], result["created"], result["version"]) == (True, False, 2)
    assert result["reencrypted"] == {"users.email_ciphertext": 3}
    assert result["rows_pending"] == {"users.email_ciphertext": 0}
    assert result["retired_versions"] == []  # other columns still use version 1
    after = _read_back(pg_cluster, migrated_db, client)
    assert after["versions"]["users.email_ciphertext"] == {2}
    assert after["versions"]["users.phone_ciphertext"] == {1}
    assert ("pii", 1, False, False) in [(p, v, a, r) for p, v, _, a, r in _keys(pg_cluster, migrated_db)]


def test_without_the_schema(pg_cluster, empty_db, kms, run_keyring):
    planned = run_keyring(_args(pg_cluster, empty_db), check_mode=True)
    assert planned["rc"] == 0, planned
    assert (planned["changed"], planned["created"], planned["version"]) == (True, True, 1)
    # ansible-core 2.19 returns each warning as a structured event.
    assert "encryption_keys does not exist yet (migrations not applied)" in json.dumps(planned["warnings"])

    result = run_keyring(_args(pg_cluster, empty_db))
    assert result["rc"] == 1
    assert result["msg"] == "encryption_keys does not exist: apply the migrations (db_schema) first"


def test_no_key_and_no_kms_key_id(pg_cluster, migrated_db, kms, run_keyring):
    result = run_keyring(_args(pg_cluster, migrated_db, kms_key_id=None))
    assert result["rc"] == 1
    assert result["msg"] == "kms_key_id is required: purpose pii has no active key to keep"
    assert _keys(pg_cluster, migrated_db) == []


def test_a_kms_failure_stores_nothing(pg_cluster, migrated_db, kms, run_keyring):
    result = run_keyring(_args(pg_cluster, migrated_db, kms_key_id="alias/does-not-exist"))
    assert result["rc"] == 1
    assert result["msg"].startswith("pii_keyring (pii): KMS generate_data_key failed: NotFoundException")
    assert _keys(pg_cluster, migrated_db) == []


def test_a_rotation_failure_keeps_the_active_key(pg_cluster, migrated_db, kms, run_keyring):
    _, arn = kms
    run_keyring(_args(pg_cluster, migrated_db))
    result = run_keyring(_args(pg_cluster, migrated_db, state="rotated", kms_key_id="alias/does-not-exist"))
    assert result["rc"] == 1 and "NotFoundException" in result["msg"]
    assert _keys(pg_cluster, migrated_db) == [("pii", 1, arn, True, False)]


def test_reencryption_refused_under_row_level_security(pg_cluster, migrated_db, kms, run_keyring):
    client, _ = kms
    for purpose in envelope.PURPOSES:
        run_keyring(_args(pg_cluster, migrated_db, purpose=purpose))
    _seed(pg_cluster, migrated_db, client)
    result = run_keyring(
        {**_args(pg_cluster, migrated_db, reencrypt=True), **pg_cluster.login(migrated_db, "app_rw")}
    )
    assert result["rc"] == 1
    assert result["msg"].startswith(
        "cannot re-encrypt as app_rw: row-level security hides rows of user_profiles, users, wallet_accounts"
    )
    assert [k[:2] for k in _keys(pg_cluster, migrated_db)] == [("blind_index", 1), ("pii", 1)]


def test_a_role_without_access_to_the_keyring_fails_clearly(pg_cluster, migrated_db, kms, run_keyring):
    result = run_keyring({**_args(pg_cluster, migrated_db), **pg_cluster.login(migrated_db, "auditor")})
    assert result["rc"] == 1
    assert result["msg"].startswith(
        "pii_keyring (pii): database error: permission denied for table encryption_keys"
    )


def test_a_tampered_ciphertext_stops_the_reencryption_without_revealing_values(
    pg_cluster, migrated_db, kms, run_keyring
):
    client, _ = kms
    for purpose in envelope.PURPOSES:
        run_keyring(_args(pg_cluster, migrated_db, purpose=purpose))
    seeded = _seed(pg_cluster, migrated_db, client)
    victim = seeded[0]["user"]
    with pg_cluster.connect(migrated_db) as conn:
        conn.execute(
            "UPDATE users SET phone_ciphertext = overlay(phone_ciphertext PLACING '\\xff'::bytea FROM 30) "
            "WHERE id = %s",
            (victim,),
        )
    result = run_keyring(_args(pg_cluster, migrated_db, state="rotated", reencrypt=True))
    assert result["rc"] == 1
    assert result["msg"] == (
        f"pii_keyring (pii): users.phone_ciphertext row {victim}: authentication failed under pii key "
        "version 1 (tampered, or bound to another row/column/version)"
    )
    assert not any(value in result["msg"] for value in ("Alice", "alice@example.test", "+1 (555) 010-2030"))


def test_a_role_that_cannot_write_the_keyring_stores_nothing(pg_cluster, migrated_db, kms, run_keyring):
    # app_rw reads encryption_keys but cannot write it: KMS makes the key, the insert is refused,
    # the transaction is rolled back (and the generated key wiped).
    result = run_keyring({**_args(pg_cluster, migrated_db), **pg_cluster.login(migrated_db, "app_rw")})
    assert result["rc"] == 1
    assert result["msg"].startswith(
        "pii_keyring (pii): database error: permission denied for table encryption_keys"
    )
    assert _keys(pg_cluster, migrated_db) == []


def test_without_cryptography_the_module_names_the_missing_library(
    pg_cluster, migrated_db, kms, run_keyring, monkeypatch
):
    # What a controller without the cryptography package sees (the import failure is simulated).
    monkeypatch.setattr(envelope, "HAS_CRYPTOGRAPHY", False)
    result = run_keyring(_args(pg_cluster, migrated_db))
    assert result["rc"] == 1
    assert "Failed to import the required Python library (cryptography)" in result["msg"]
    assert _keys(pg_cluster, migrated_db) == []


# --- The envelope library's database side (what the application and the module share) ------------


def test_the_postgres_key_source_and_a_long_lived_keyring_across_a_rotation(
    pg_cluster, migrated_db, kms, run_keyring
):
    client, arn = kms
    run_keyring(_args(pg_cluster, migrated_db))
    queries: list[str] = []
    with pg_cluster.connect(migrated_db, user="app_ro") as conn:
        source = envelope.PostgresKeySource(conn, queries)
        with envelope.EnvelopeKeyring(envelope.KmsClient(client), source) as ring:
            assert ring.active_version("pii") == 1
            key = ring.key("pii", 1)
            # Another process (the module) rotates; the application's cached active version lasts
            # until active_ttl or forget_active().
            assert run_keyring(_args(pg_cluster, migrated_db, state="rotated"))["version"] == 2
            assert ring.active_version("pii") == 1
            ring.forget_active()
            assert ring.active_version("pii") == 2
            assert ring.versions("pii") == [1, 2]
            assert source.get("pii", 2) == envelope.WrappedKey(
                "pii", 2, arn, source.get("pii", 2).wrapped_key, True
            )
            with pytest.raises(envelope.KeyNotFoundError, match="no pii key version 9 in encryption_keys"):
                source.get("pii", 9)
            with pytest.raises(
                envelope.KeyNotFoundError, match="no active blind_index key in encryption_keys"
            ):
                source.active("blind_index")
            # No row uses version 1 any more: a full re-encryption retires it, and it drops out.
            assert run_keyring(_args(pg_cluster, migrated_db, reencrypt=True))["retired_versions"] == [1]
            assert ring.versions("pii") == [2]
        assert key.wiped  # leaving the block cleared the cached keys
    assert envelope.PostgresKeySource.VERSIONS in queries and all("%s" in q for q in queries)


def test_reencrypt_refuses_bad_arguments_before_touching_the_database():
    spec = envelope.FieldSpec("users", "email_ciphertext")
    bidx = envelope.FieldSpec("users", "email_bidx", source_column="email_ciphertext")
    with pytest.raises(envelope.EnvelopeError, match="batch_size must be at least 1"):
        envelope.reencrypt(None, None, "pii", 2, [spec], batch_size=0)
    with pytest.raises(envelope.EnvelopeError, match=r"users\.email_bidx: source_column is required"):
        envelope.reencrypt(None, None, "pii", 2, [bidx])
    with pytest.raises(envelope.EnvelopeError, match=r"users\.email_ciphertext: source_column is required"):
        envelope.reencrypt(None, None, "blind_index", 2, [spec])
    with pytest.raises(envelope.EnvelopeError, match="purpose must be one of"):
        envelope.reencrypt(None, None, "passwords", 2, [spec])


PROBE = envelope.FieldSpec("rekey_probe", "secret_ciphertext")


def test_row_level_security_and_triggers_that_hide_rows_are_detected(
    pg_cluster, migrated_db, kms, run_keyring
):
    """A table of the migrator's own: no RLS, then RLS without and with the policies re-encryption
    needs, then a trigger that silently skips a row's update."""
    client, _ = kms
    run_keyring(_args(pg_cluster, migrated_db))
    with pg_cluster.connect(migrated_db, user="migrator", autocommit=False) as conn:
        conn.execute("CREATE TABLE rekey_probe (id integer PRIMARY KEY, secret_ciphertext bytea)")
        ring = envelope.EnvelopeKeyring(envelope.KmsClient(client), envelope.PostgresKeySource(conn))
        for row in (1, 2, 3):
            blob = envelope.encrypt_field(ring, "rekey_probe", "secret_ciphertext", row, f"secret {row}")
            conn.execute("INSERT INTO rekey_probe VALUES (%s, %s)", (row, blob))
        conn.commit()
        assert envelope.rls_blockers(conn, [PROBE]) == []  # RLS not enabled
        conn.execute("ALTER TABLE rekey_probe ENABLE ROW LEVEL SECURITY")
        conn.execute("ALTER TABLE rekey_probe FORCE ROW LEVEL SECURITY")
        conn.execute("CREATE POLICY probe_read ON rekey_probe FOR SELECT USING (true)")
        conn.commit()
        assert envelope.rls_blockers(conn, [PROBE]) == ["rekey_probe"]  # may read, not update
        conn.execute("CREATE POLICY probe_rekey ON rekey_probe FOR UPDATE USING (true) WITH CHECK (true)")
        conn.commit()
        assert envelope.rls_blockers(conn, [PROBE]) == []

        assert run_keyring(_args(pg_cluster, migrated_db, state="rotated"))["version"] == 2
        ring.forget_active()
        conn.execute(
            "CREATE FUNCTION skip_row_2() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN IF OLD.id = 2 THEN RETURN NULL; END IF; RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER skip_row_2 BEFORE UPDATE ON rekey_probe "
            "FOR EACH ROW EXECUTE FUNCTION skip_row_2()"
        )
        conn.commit()
        assert envelope.count_pending(conn, [PROBE], 2) == {"rekey_probe.secret_ciphertext": 3}
        with pytest.raises(
            envelope.EnvelopeError, match=r"rekey_probe: updated 2 of 3 rows; row-level security or a trigger"
        ):
            envelope.reencrypt(conn, ring, "pii", 2, [PROBE], batch_size=10)
        # The batch was rolled back: every row still on version 1, still decrypting.
        assert envelope.count_pending(conn, [PROBE], 2) == {"rekey_probe.secret_ciphertext": 3}
        rows = conn.execute("SELECT id, secret_ciphertext FROM rekey_probe ORDER BY id").fetchall()
        assert [envelope.decrypt_text(ring, "rekey_probe", "secret_ciphertext", i, b) for i, b in rows] == [
            "secret 1",
            "secret 2",
            "secret 3",
        ]
        conn.rollback()
        ring.clear()
