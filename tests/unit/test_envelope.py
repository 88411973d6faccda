"""The envelope library: AES-256-GCM fields bound to their context, HMAC blind indexes, KMS-wrapped
data keys cached per version (KMS is moto's in-process mock; nothing else is mocked)."""

from __future__ import annotations

import uuid

import boto3
import pytest
from ansible_collections.giftcrypto.platform.plugins.module_utils import envelope as env
from moto import mock_aws

REGION = "us-east-1"


class FakeThrottle(Exception):
    """A botocore-shaped service error (``.response['Error']['Code']``)."""

    def __init__(self, code: str):
        super().__init__(code)
        self.response = {"Error": {"Code": code, "Message": "slow down"}}


@pytest.fixture
def kms():
    with mock_aws():
        client = boto3.client("kms", region_name=REGION)
        key_id = client.create_key(Description="unit test pii")["KeyMetadata"]["KeyId"]
        client.create_alias(AliasName="alias/giftcrypto-unit-pii", TargetKeyId=key_id)
        yield client


@pytest.fixture
def api_calls(kms):
    """Counts the KMS API calls that really leave boto3 (botocore's before-call event)."""
    calls: list[str] = []
    kms.meta.events.register("before-call.kms.*", lambda model, **_: calls.append(model.name))
    return calls


def new_version(kms_client: env.KmsClient, source: env.StaticKeySource, purpose: str) -> env.WrappedKey:
    """What pii_keyring does against encryption_keys, here against an in-memory key source."""
    versions = [k.version for k in source.versions(purpose)]
    version = max(versions, default=0) + 1
    arn, blob, key = kms_client.generate_data_key("alias/giftcrypto-unit-pii", purpose, version)
    key.wipe()
    wrapped = env.WrappedKey(purpose, version, arn, blob, active=True)
    source.add(wrapped)
    return wrapped


@pytest.fixture
def keyring(kms):
    kms_client = env.KmsClient(kms)
    source = env.StaticKeySource()
    new_version(kms_client, source, "pii")
    new_version(kms_client, source, "blind_index")
    ring = env.EnvelopeKeyring(kms_client, source, active_ttl=0)
    yield ring
    ring.clear()


def test_round_trip_and_header(keyring):
    row = uuid.uuid4()
    blob = env.encrypt_field(keyring, "users", "email_ciphertext", row, "alice@example.test")
    assert blob[0] == 0x01
    assert blob[1:5] == (1).to_bytes(4, "big")
    assert len(blob) == 1 + 4 + 12 + len(b"alice@example.test") + 16
    assert b"alice" not in blob
    assert env.decrypt_text(keyring, "users", "email_ciphertext", row, blob) == "alice@example.test"
    assert env.decrypt_field(keyring, "users", "email_ciphertext", row, blob) == b"alice@example.test"
    assert env.encrypt_field(keyring, "users", "phone_ciphertext", row, None) is None
    assert env.decrypt_field(keyring, "users", "phone_ciphertext", row, None) is None


def test_ciphertexts_are_randomized(keyring):
    row = uuid.uuid4()
    one = env.encrypt_field(keyring, "users", "email_ciphertext", row, "same")
    two = env.encrypt_field(keyring, "users", "email_ciphertext", row, "same")
    assert one != two


@pytest.mark.parametrize(
    ("table", "column", "row"),
    [
        ("user_profiles", "first_name_ciphertext", None),  # another table
        ("users", "phone_ciphertext", None),  # another column
        ("users", "email_ciphertext", "other-row"),  # another row
    ],
)
def test_wrong_context_is_rejected(keyring, table, column, row):
    row_id = uuid.uuid4()
    blob = env.encrypt_field(keyring, "users", "email_ciphertext", row_id, "alice@example.test")
    with pytest.raises(env.DecryptionError) as error:
        env.decrypt_field(keyring, table, column, row or row_id, blob)
    assert "alice" not in str(error.value)


def test_tampered_ciphertext_is_rejected(keyring):
    row = uuid.uuid4()
    blob = bytearray(env.encrypt_field(keyring, "users", "email_ciphertext", row, "alice@example.test"))
    for position in (5, 20, len(blob) - 1):  # nonce, ciphertext, tag
        tampered = bytearray(blob)
        tampered[position] ^= 0x01
        with pytest.raises(env.DecryptionError):
            env.decrypt_field(keyring, "users", "email_ciphertext", row, bytes(tampered))
    with pytest.raises(env.DecryptionError):
        env.decrypt_field(keyring, "users", "email_ciphertext", row, bytes(blob[:20]))
    with pytest.raises(env.DecryptionError):
        env.decrypt_field(keyring, "users", "email_ciphertext", row, b"\x02" + bytes(blob[1:]))


def test_relabelled_version_is_rejected(keyring, kms):
    source = keyring.source
    new_version(keyring.kms, source, "pii")  # version 2 exists, so the relabelled header resolves
    row = uuid.uuid4()
    blob = env.encrypt_field(keyring, "users", "email_ciphertext", row, "alice@example.test", version=1)
    relabelled = blob[:1] + (2).to_bytes(4, "big") + blob[5:]
    with pytest.raises(env.DecryptionError):
        env.decrypt_field(keyring, "users", "email_ciphertext", row, relabelled)
    unknown = blob[:1] + (99).to_bytes(4, "big") + blob[5:]
    with pytest.raises(env.KeyNotFoundError):
        env.decrypt_field(keyring, "users", "email_ciphertext", row, unknown)


def test_one_kms_call_per_key_version_for_1000_rows(kms, api_calls):
    kms_client = env.KmsClient(kms)
    source = env.StaticKeySource()
    new_version(kms_client, source, "pii")
    new_version(kms_client, source, "blind_index")
    new_version(kms_client, source, "pii")  # pii v2 active, v1 still holds rows
    api_calls.clear()
    ring = env.EnvelopeKeyring(kms_client, source)
    cipher = env.FieldCipher(ring)
    rows = [(uuid.uuid4(), f"user{i}@example.test") for i in range(1000)]
    old = [cipher.encrypt("users", "email_ciphertext", r, e, version=1) for r, e in rows[:500]]
    new = [cipher.encrypt("users", "email_ciphertext", r, e) for r, e in rows[500:]]
    indexes = [cipher.blind_index("users", "email_bidx", e) for _, e in rows]
    plain = [
        cipher.decrypt_text("users", "email_ciphertext", r, b)
        for (r, _), b in zip(rows, old + new, strict=True)
    ]
    assert plain == [e for _, e in rows]
    assert len(set(indexes)) == 1000
    # pii v1, pii v2, blind_index v1: three Decrypts for 4,000 field operations.
    assert api_calls == ["Decrypt", "Decrypt", "Decrypt"]
    assert kms_client.calls == {"generate_data_key": 3, "decrypt": 3}
    ring.clear()
    cipher.decrypt_text("users", "email_ciphertext", rows[0][0], old[0])
    assert api_calls.count("Decrypt") == 4  # cleared keys are unwrapped again


def test_blind_index_deterministic_normalized_and_key_dependent(keyring, kms):
    one = env.blind_index(keyring, "users", "email_bidx", "Alice@Example.TEST ")
    assert one == env.blind_index(keyring, "users", "email_bidx", "alice@example.test")
    assert len(one) == 1 + 4 + 32 and one[:5] == b"\x01" + (1).to_bytes(4, "big")
    assert one != env.blind_index(keyring, "users", "email_bidx", "bob@example.test")
    # Bound to its column: the same value indexes differently elsewhere.
    assert one[5:] != env.blind_index(keyring, "users", "phone_bidx", "alice@example.test")[5:]
    phone = env.blind_index(keyring, "users", "phone_bidx", "+1 (555) 010-2030")
    assert phone == env.blind_index(keyring, "users", "phone_bidx", "+15550102030")
    assert env.blind_index(keyring, "users", "phone_bidx", None) is None
    # Another key (a second keyring with its own blind-index key) gives another index.
    other_source = env.StaticKeySource()
    new_version(keyring.kms, other_source, "blind_index")
    other = env.EnvelopeKeyring(keyring.kms, other_source)
    assert other.key("blind_index", 1).wiped is False
    assert env.blind_index(other, "users", "email_bidx", "alice@example.test") != one
    # A new blind-index version: new token, and lookups during a rotation try both.
    new_version(keyring.kms, keyring.source, "blind_index")
    two = env.blind_index(keyring, "users", "email_bidx", "alice@example.test")
    assert two[:5] == b"\x01" + (2).to_bytes(4, "big") and two[5:] != one[5:]
    assert env.blind_index_candidates(keyring, "users", "email_bidx", "ALICE@example.test") == [one, two]


def test_rotation_reencrypts_onto_the_new_version(keyring):
    cipher = env.FieldCipher(keyring)
    row = uuid.uuid4()
    before = cipher.encrypt("user_profiles", "date_of_birth_ciphertext", row, "1987-03-14")
    assert env.header_version(before) == 1
    new_version(keyring.kms, keyring.source, "pii")
    assert keyring.active_version("pii") == 2
    after = cipher.reencrypt("user_profiles", "date_of_birth_ciphertext", row, before)
    assert env.header_version(after) == 2
    assert cipher.decrypt_text("user_profiles", "date_of_birth_ciphertext", row, after) == "1987-03-14"
    assert cipher.reencrypt("user_profiles", "date_of_birth_ciphertext", row, after) == after
    # The old version still decrypts what was not moved yet.
    assert cipher.decrypt_text("user_profiles", "date_of_birth_ciphertext", row, before) == "1987-03-14"


def test_no_key_material_in_reprs_or_errors(keyring):
    key = keyring.key("pii", 1)
    material = key.material()
    for text in (repr(key), str(key), repr(keyring), repr(env.FieldCipher(keyring)), repr(keyring.kms)):
        assert material.hex() not in text and repr(material) not in text
        assert "redacted" in repr(key) or "cached" in text or "calls" in text
    wrapped = keyring.source.get("pii", 1)
    assert wrapped.wrapped_key.hex() not in repr(wrapped)
    with pytest.raises(TypeError):
        __import__("pickle").dumps(key)


def test_clear_zeroizes_cached_keys(keyring):
    key = keyring.key("pii", 1)
    keyring.aead(1)
    keyring.clear()
    assert key.wiped
    assert "wiped" in repr(key)
    with pytest.raises(env.EnvelopeError, match="cleared"):
        key.material()


def test_kms_throttling_is_retried_with_backoff():
    class Flaky:
        def __init__(self, failures):
            self.failures = list(failures)

        def decrypt(self, **_):
            if self.failures:
                raise FakeThrottle(self.failures.pop(0))
            return {"Plaintext": b"k" * 32}

    sleeps: list[float] = []
    client = env.KmsClient(Flaky(["ThrottlingException", "KMSInternalException"]), sleep=sleeps.append)
    key = client.unwrap(env.WrappedKey("pii", 1, "arn:key", b"blob"))
    assert key.version == 1 and client.calls == {"decrypt": 3} and len(sleeps) == 2
    assert all(0 <= s <= 10 for s in sleeps)

    client = env.KmsClient(Flaky(["ThrottlingException"] * 3), retries=2, sleep=sleeps.append)
    with pytest.raises(env.KmsError) as error:
        client.unwrap(env.WrappedKey("pii", 1, "arn:key", b"blob"))
    assert error.value.code == "ThrottlingException"

    client = env.KmsClient(Flaky(["AccessDeniedException"]), sleep=sleeps.append)
    with pytest.raises(env.KmsError, match="AccessDeniedException"):
        client.unwrap(env.WrappedKey("pii", 1, "arn:key", b"blob"))
    assert client.calls == {"decrypt": 1}  # not retried


def test_wrapped_key_is_bound_to_purpose_and_version(keyring):
    wrapped = keyring.source.get("pii", 1)
    for purpose, version in (("blind_index", 1), ("pii", 2)):
        with pytest.raises(env.KmsError, match="InvalidCiphertext"):
            keyring.kms.unwrap(env.WrappedKey(purpose, version, wrapped.kms_key_id, wrapped.wrapped_key))


def test_identifiers_and_field_specs_are_checked():
    assert env.check_identifier("users") == "users"
    for bad in ("Users", "users; drop table users", "1users", "", "a" * 64):
        with pytest.raises(env.EnvelopeError):
            env.check_identifier(bad)
    with pytest.raises(env.EnvelopeError):
        env.FieldSpec("users", "email_ciphertext", source_column="x-y")
    assert {f.name for f in env.DEFAULT_FIELDS["pii"]} == {
        "users.email_ciphertext",
        "users.phone_ciphertext",
        "user_profiles.first_name_ciphertext",
        "user_profiles.last_name_ciphertext",
        "user_profiles.date_of_birth_ciphertext",
        "wallet_accounts.private_key_ciphertext",
    }
    with pytest.raises(env.EnvelopeError, match="purpose"):
        env.EnvelopeKeyring(env.KmsClient(object()), env.StaticKeySource()).active_version("other")


def test_key_material_must_be_256_bits():
    with pytest.raises(env.EnvelopeError, match="pii key version 3: expected a 32-byte data key"):
        env.SecretKey(b"short", "pii", 3)


def test_static_key_source_keeps_one_active_version_per_purpose():
    one = env.WrappedKey("pii", 1, "arn:key", b"blob-1", active=True)
    two = env.WrappedKey("pii", 2, "arn:key", b"blob-2", active=True)
    other = env.WrappedKey("blind_index", 1, "arn:key", b"blob-3", active=True)
    source = env.StaticKeySource([one, other, two])
    assert source.active("pii") == two
    assert source.get("pii", 1).active is False and source.active("blind_index") == other
    with pytest.raises(env.KeyNotFoundError, match="no active pii key"):
        env.StaticKeySource([env.WrappedKey("pii", 1, "arn:key", b"blob")]).active("pii")


def test_keyring_as_a_context_manager_clears_its_keys(kms):
    kms_client = env.KmsClient(kms)
    source = env.StaticKeySource()
    new_version(kms_client, source, "pii")
    with env.EnvelopeKeyring(kms_client, source) as ring:
        key = ring.key("pii", 1)
        assert not key.wiped
    assert key.wiped
    assert kms_client.total_calls == 2  # generate_data_key, decrypt


def test_keyring_needs_cryptography(monkeypatch):
    # What an application without the cryptography package sees (the import failure is simulated).
    monkeypatch.setattr(env, "HAS_CRYPTOGRAPHY", False)
    with pytest.raises(env.EnvelopeError, match="the cryptography package is required"):
        env.EnvelopeKeyring(env.KmsClient(object()), env.StaticKeySource())


def test_blind_index_of_other_columns_and_of_bytes(keyring):
    # Columns without a dedicated normalizer are only NFC-normalized and stripped (case kept).
    token = env.blind_index(keyring, "kyc_documents", "number_bidx", b" AB-123 ")
    assert token == env.blind_index(keyring, "kyc_documents", "number_bidx", "AB-123")
    assert token != env.blind_index(keyring, "kyc_documents", "number_bidx", "ab-123")


def test_reencrypt_keeps_none_and_honours_an_explicit_version(keyring):
    cipher = env.FieldCipher(keyring)
    assert cipher.reencrypt("users", "phone_ciphertext", "row", None) is None
    new_version(keyring.kms, keyring.source, "pii")
    blob = cipher.encrypt("users", "phone_ciphertext", "row", "+15550100", version=2)
    back = cipher.reencrypt("users", "phone_ciphertext", "row", blob, version=1)
    assert env.header_version(back) == 1
    assert cipher.decrypt_text("users", "phone_ciphertext", "row", back) == "+15550100"


def test_an_unreachable_kms_endpoint_is_reported_without_a_code():
    # A real botocore client pointed at a closed local port: no AWS service error, no retry loop.
    import botocore.config

    client = boto3.client(
        "kms",
        region_name=REGION,
        endpoint_url="http://127.0.0.1:1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=botocore.config.Config(retries={"total_max_attempts": 1}, connect_timeout=1),
    )
    kms_client = env.KmsClient(client, sleep=lambda _s: pytest.fail("must not back off"))
    with pytest.raises(env.KmsError, match="KMS decrypt failed: EndpointConnectionError") as error:
        kms_client.unwrap(env.WrappedKey("pii", 1, "arn:key", b"blob"))
    assert error.value.code is None
    assert kms_client.calls == {"decrypt": 1} and kms_client.total_calls == 1
