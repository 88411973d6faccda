"""PII envelope encryption against the real local PostgreSQL and the local KMS endpoint.

Acceptance of tracker issue 4: seeded PII (names, birth dates, emails, phones, private keys)
appears nowhere in a pg_dump of the database; a key rotation leaves every row decryptable and no
row on the old key version.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from ansible_collections.giftcrypto.platform.plugins.module_utils import envelope

from tests.integration.conftest import LOCAL_INVENTORY
from tests.integration.fixtures_pii import ROOT, libpq_env
from tests.integration.fixtures_schema import pg_tool

pytestmark = pytest.mark.integration


def version_counts(conn, fields, version: int) -> dict[str, tuple[int, int]]:
    """Per table.column: (values on `version`, values not on it)."""
    counts = {}
    with conn.cursor() as cur:
        for spec in fields:
            on = f"substring({spec.column} from 2 for 4) = int4send(%s)"
            off = envelope.NOT_ON_VERSION.format(col=spec.column)
            # Identifiers from envelope.FieldSpec (checked), hence the noqa: S608.
            sql = f"SELECT count(*) FILTER (WHERE {on}), count(*) FILTER (WHERE {off}) FROM {spec.table}"  # noqa: S608
            cur.execute(sql, (version, version))
            counts[spec.name] = tuple(cur.fetchone())
    conn.rollback()
    return counts


def decrypt_everything(conn, keyring) -> int:
    """Decrypts every PII value and checks every blind index of the database; returns the count."""
    cipher = envelope.FieldCipher(keyring)
    checked = 0
    with conn.cursor() as cur:
        for spec in envelope.PII_FIELDS:
            cur.execute(f"SELECT id, {spec.column} FROM {spec.table} WHERE {spec.column} IS NOT NULL")  # noqa: S608
            for row_id, blob in cur.fetchall():
                assert cipher.decrypt(spec.table, spec.column, row_id, blob) is not None
                checked += 1
        cur.execute("SELECT id, email_ciphertext, email_bidx, phone_ciphertext, phone_bidx FROM users")
        for row_id, email, email_bidx, phone, phone_bidx in cur.fetchall():
            version = envelope.header_version(email_bidx)
            plain_email = cipher.decrypt_text("users", "email_ciphertext", row_id, email)
            assert cipher.blind_index("users", "email_bidx", plain_email, version) == bytes(email_bidx)
            if phone is not None:
                plain_phone = cipher.decrypt_text("users", "phone_ciphertext", row_id, phone)
                assert cipher.blind_index("users", "phone_bidx", plain_phone, version) == bytes(phone_bidx)
    conn.rollback()
    return checked


def test_seeding_goes_through_the_envelope_in_bulk(seeded_pii, fresh_keyring, pg_connect):
    assert seeded_pii.inserted == 300 and seeded_pii.skipped == 0
    # One KMS Decrypt per key version (pii + blind_index), not one per row.
    assert seeded_pii.kms_calls == 2
    conn = pg_connect("superuser")
    cipher = envelope.FieldCipher(fresh_keyring)
    by_id = {u.user_id: u for u in seeded_pii.users}
    with conn.cursor() as cur:
        cur.execute(
            "SELECT u.id, u.email_ciphertext, u.phone_ciphertext, p.id, p.first_name_ciphertext, "
            "p.date_of_birth_ciphertext, w.id, w.private_key_ciphertext FROM users u "
            "JOIN user_profiles p ON p.user_id = u.id JOIN wallet_accounts w ON w.user_id = u.id "
            "WHERE u.id = ANY(%s)",
            (list(by_id),),
        )
        rows = cur.fetchall()
    conn.rollback()
    assert len(rows) == 300
    for uid, email, phone, pid, first, dob, wid, private_key in rows:
        user = by_id[uid]
        assert cipher.decrypt_text("users", "email_ciphertext", uid, email) == user.email
        assert cipher.decrypt_text("users", "phone_ciphertext", uid, phone) == user.phone
        assert cipher.decrypt_text("user_profiles", "first_name_ciphertext", pid, first) == user.first_name
        assert (
            cipher.decrypt_text("user_profiles", "date_of_birth_ciphertext", pid, dob) == user.date_of_birth
        )
        assert (
            cipher.decrypt("wallet_accounts", "private_key_ciphertext", wid, private_key) == user.private_key
        )
    assert fresh_keyring.kms.total_calls == 1  # 1,500 values read, one Decrypt of the pii key
    # A lookup by email goes through the blind index, case-insensitively.
    user = seeded_pii.users[0]
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id FROM users WHERE email_bidx = ANY(%s)",
            (envelope.blind_index_candidates(fresh_keyring, "users", "email_bidx", user.email.upper()),),
        )
        assert cur.fetchall() == [(user.user_id,)]
    conn.rollback()


def test_seed_tool_is_idempotent(pg_login, seed_tool, seeded_pii):
    env = {**os.environ, "PYTHONPATH": str(ROOT / ".collections")}
    # The inventory the tests read (GIFTCRYPTO_INVENTORY may name another one than inventories/local).
    args = ["--users", "5", "--seed", str(seeded_pii.seed_number), "--inventory", str(LOCAL_INVENTORY)]
    if os.environ.get("GIFTCRYPTO_PII_TEST_LOGINS"):
        env.update(libpq_env(pg_login("app_rw")))
        args.append("--libpq-env")
    run = subprocess.run(
        ["python", str(ROOT / "tools" / "seed_local.py"), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "5 sample users wanted, 0 inserted, 5 already there" in run.stdout
    for user in seeded_pii.users[:5]:
        assert user.email not in run.stdout + run.stderr


@pytest.mark.soc2("CC6.1")
def test_pg_dump_holds_no_plaintext_pii(seeded_pii, pg_login, fresh_keyring):
    login = pg_login("superuser")
    dump = subprocess.run(
        [pg_tool("pg_dump"), "--no-owner", "--no-privileges"],
        env={**os.environ, **libpq_env(login)}, capture_output=True, timeout=600, check=True,
    ).stdout.decode()  # fmt: skip
    assert "CREATE TABLE public.users" in dump and "COPY public.users" in dump
    lowered = dump.lower()
    leaks = []
    for user in seeded_pii.users:
        texts = [user.email, user.first_name, user.last_name, user.date_of_birth]
        if user.phone:
            texts += [user.phone, user.phone.removeprefix("+")]
        for text in texts:
            # Plain text anywhere (names as whole words, case-sensitive: short names are words).
            if len(text) < 6:
                found = re.search(rf"\b{re.escape(text)}\b", dump) is not None
            else:
                found = text.lower() in lowered
            # ...or a bytea column holding it: pg_dump writes bytea as hex.
            found = found or (len(text) >= 6 and text.encode().hex() in lowered)
            if found:
                leaks.append(f"user {user.user_id}: a {len(text)}-character PII value")
        if user.private_key.hex() in lowered:
            leaks.append(f"user {user.user_id}: wallet private key")
    # Nor any unwrapped data key.
    for purpose in envelope.PURPOSES:
        for version in fresh_keyring.versions(purpose):
            if fresh_keyring.key(purpose, version).material().hex() in lowered:
                leaks.append(f"{purpose} data key version {version} unwrapped")
    assert not leaks, leaks[:20]


@pytest.mark.soc2("CC6.1")
def test_rotation_reencrypts_every_row(seeded_pii, run_pii_keyring, pg_connect, fresh_keyring):
    conn = pg_connect("superuser")
    before = {p: envelope.PostgresKeySource(conn).active(p) for p in envelope.PURPOSES}
    conn.rollback()

    plan = run_pii_keyring(check=True, purpose="pii", state="rotated", reencrypt=True,
                           kms_key_id=before["pii"].kms_key_id)  # fmt: skip
    assert plan["changed"] and plan["created"] and plan["version"] == before["pii"].version + 1
    assert plan["rows_pending"]["users.email_ciphertext"] >= 300 and plan["rows_reencrypted"] == 0
    assert envelope.PostgresKeySource(conn).active("pii").version == before["pii"].version  # nothing done
    conn.rollback()

    results = {}
    for purpose in ("pii", "blind_index"):  # pii first: the blind indexes are recomputed from it
        results[purpose] = run_pii_keyring(
            purpose=purpose,
            state="rotated",
            reencrypt=True,
            batch_size=97,
            kms_key_id=before[purpose].kms_key_id,
        )
    for purpose, result in results.items():
        old, new = before[purpose].version, before[purpose].version + 1
        assert result["changed"] and result["created"]
        assert (result["previous_version"], result["version"]) == (old, new)
        assert result["rows_reencrypted"] >= (1500 if purpose == "pii" else 300)
        assert not any(result["rows_pending"].values())
        assert old in result["retired_versions"]
        assert all("wrapped" not in q or "%s" in q for q in result["queries"])
        for name, (_on_new, not_on_new) in version_counts(
            conn, envelope.DEFAULT_FIELDS[purpose], new
        ).items():
            assert not_on_new == 0, f"{name}: {not_on_new} values not on version {new}"
        assert all(c[0] == 0 for c in version_counts(conn, envelope.DEFAULT_FIELDS[purpose], old).values())

    checked = decrypt_everything(conn, fresh_keyring)
    assert checked >= 1500
    # Every value of the whole database read with one Decrypt per key version in use.
    assert fresh_keyring.kms.calls["decrypt"] == 2

    # Converged: the same module with state=present changes nothing.
    again = run_pii_keyring(purpose="pii", reencrypt=True)
    assert (
        not again["changed"]
        and again["rows_reencrypted"] == 0
        and again["version"] == before["pii"].version + 1
    )
