# Copyright: GiftCrypto platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Envelope encryption of PII fields: KMS-wrapped data keys, AES-256-GCM fields, HMAC blind indexes.

This file is both an Ansible ``module_utils`` (used by ``giftcrypto.platform.pii_keyring``) and a
plain Python library the application imports; it depends only on the standard library and
``cryptography`` (a boto3 KMS client and a DB-API connection, psycopg 3 in practice, are passed in).

Key hierarchy (docs/adr/0002-envelope-encryption.md):

* a KMS key (``alias/<platform>-<env>-pii``, yearly rotation by KMS) wraps
* versioned 256-bit data keys, one active per purpose (``pii``: AES-256-GCM field encryption,
  ``blind_index``: HMAC-SHA256), stored only wrapped in the ``encryption_keys`` table.

Field ciphertext (bytea)::

    0x01 | key version (uint32 big-endian) | 12-byte nonce | AES-256-GCM ciphertext + 16-byte tag
    AAD = b"giftcrypto:v1:" + f"{table}.{column}:{row_id}:{version}"

so a ciphertext copied to another row, column or table, or relabelled with another version, does
not decrypt. Rows on key version N match ``substring(col from 2 for 4) = int4send(N)``.

Blind index (bytea, same header so the same SQL finds rows per version)::

    0x01 | blind-index key version (uint32 big-endian) | HMAC-SHA256(key, b"giftcrypto:bidx:v1:"
                                                           + f"{table}.{column}:" + normalized value)

Unwrapped keys are cached per (purpose, version): bulk work costs one KMS Decrypt per key version,
not per row. :meth:`EnvelopeKeyring.clear` zeroizes the cached key buffers (best effort: Python and
OpenSSL may hold copies we cannot reach). No key material ever appears in a repr, a log line or an
exception message.
"""

from __future__ import annotations

import hmac
import os
import random
import re
import struct
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from hashlib import sha256

try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the module with missing_required_lib
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = exc

FORMAT_V1 = 0x01
HEADER = struct.Struct(">BI")  # format byte, key version
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32
MAC_BYTES = 32
AAD_PREFIX = b"giftcrypto:v1:"
BIDX_PREFIX = b"giftcrypto:bidx:v1:"
PURPOSES = ("pii", "blind_index")
KMS_CONTEXT_APP = "giftcrypto"

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class EnvelopeError(Exception):
    """Base error of this library. Messages name tables, columns, row ids and versions only."""


class KeyNotFoundError(EnvelopeError):
    """No such key version (or no active key) for a purpose in encryption_keys."""


class DecryptionError(EnvelopeError):
    """A ciphertext is malformed, tampered with, or bound to another context/version."""


class KmsError(EnvelopeError):
    """KMS refused or failed a call (after retries on throttling)."""

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------------------------------
# Key material
# --------------------------------------------------------------------------------------------------
class SecretKey:
    """A 256-bit key held in a mutable buffer so that :meth:`wipe` can overwrite it.

    ``repr``/``str`` never show the bytes; there is deliberately no ``__eq__`` on the contents.
    """

    __slots__ = ("_buf", "purpose", "version")

    def __init__(self, material: bytes | bytearray, purpose: str, version: int):
        if len(material) != KEY_BYTES:
            raise EnvelopeError(f"{purpose} key version {version}: expected a {KEY_BYTES}-byte data key")
        self._buf = bytearray(material)
        self.purpose = purpose
        self.version = version

    def __repr__(self) -> str:
        state = "wiped" if self.wiped else "redacted"
        return f"SecretKey(purpose={self.purpose!r}, version={self.version}, material=<{state}>)"

    __str__ = __repr__

    def __reduce__(self):  # never pickled (multiprocessing, caches): re-fetch instead
        raise TypeError("SecretKey cannot be pickled")

    @property
    def wiped(self) -> bool:
        return not any(self._buf)

    def material(self) -> bytes:
        if self.wiped:
            raise EnvelopeError(f"{self.purpose} key version {self.version} has been cleared")
        return bytes(self._buf)

    def wipe(self) -> None:
        for i in range(len(self._buf)):
            self._buf[i] = 0


@dataclass(frozen=True)
class WrappedKey:
    """One row of ``encryption_keys``: the data key only as KMS wrapped it."""

    purpose: str
    version: int
    kms_key_id: str
    wrapped_key: bytes = field(repr=False)
    active: bool = False
    retired: bool = False


def kms_encryption_context(purpose: str, version: int) -> dict[str, str]:
    """The KMS encryption context a data key is wrapped under: binds purpose and version."""
    return {"app": KMS_CONTEXT_APP, "purpose": purpose, "version": str(version)}


# --------------------------------------------------------------------------------------------------
# KMS
# --------------------------------------------------------------------------------------------------
class KmsClient:
    """A thin wrapper of a boto3 KMS client: jittered exponential backoff on throttling (like
    amazon.aws's ``AWSRetry.jittered_backoff``) and a call counter, never logging key material.
    """

    RETRY_CODES = frozenset(
        {
            "ThrottlingException",
            "Throttling",
            "TooManyRequestsException",
            "RequestLimitExceeded",
            "LimitExceededException",
            "ServiceUnavailable",
            "ServiceUnavailableException",
            "InternalFailure",
            "InternalError",
            "KMSInternalException",
            "DependencyTimeoutException",
        }
    )

    def __init__(self, client, retries: int = 8, delay: float = 0.2, max_delay: float = 10.0, sleep=None):
        self._client = client
        self.retries = retries
        self.delay = delay
        self.max_delay = max_delay
        self._sleep = sleep or time.sleep
        self._rng = random.SystemRandom()
        self.calls: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"KmsClient(calls={self.calls!r})"

    @staticmethod
    def _code(error: Exception) -> str | None:
        response = getattr(error, "response", None)
        if isinstance(response, dict):
            return response.get("Error", {}).get("Code")
        return None

    def _call(self, operation: str, **kwargs):
        attempt = 0
        while True:
            self.calls[operation] = self.calls.get(operation, 0) + 1
            try:
                return getattr(self._client, operation)(**kwargs)
            except Exception as error:
                code = self._code(error)
                if code is None:
                    # Not an AWS service error (e.g. endpoint unreachable): no key material in it.
                    raise KmsError(f"KMS {operation} failed: {type(error).__name__}: {error}") from error
                if code in self.RETRY_CODES and attempt < self.retries:
                    # Full jitter: sleep a random time up to the exponential backoff.
                    backoff = min(self.max_delay, self.delay * (2**attempt))
                    self._sleep(self._rng.uniform(0, backoff))
                    attempt += 1
                    continue
                message = getattr(error, "response", {}).get("Error", {}).get("Message", "")
                raise KmsError(f"KMS {operation} failed: {code}: {message}".rstrip(": "), code) from None

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def generate_data_key(self, kms_key_id: str, purpose: str, version: int) -> tuple[str, bytes, SecretKey]:
        """A new 256-bit data key: (KMS key ARN, wrapped blob, plaintext key)."""
        response = self._call(
            "generate_data_key",
            KeyId=kms_key_id,
            KeySpec="AES_256",
            EncryptionContext=kms_encryption_context(purpose, version),
        )
        key = SecretKey(response["Plaintext"], purpose, version)
        response["Plaintext"] = None
        return response["KeyId"], bytes(response["CiphertextBlob"]), key

    def unwrap(self, wrapped: WrappedKey) -> SecretKey:
        response = self._call(
            "decrypt",
            CiphertextBlob=wrapped.wrapped_key,
            KeyId=wrapped.kms_key_id,
            EncryptionContext=kms_encryption_context(wrapped.purpose, wrapped.version),
        )
        key = SecretKey(response["Plaintext"], wrapped.purpose, wrapped.version)
        response["Plaintext"] = None
        return key


# --------------------------------------------------------------------------------------------------
# Where wrapped keys live
# --------------------------------------------------------------------------------------------------
class StaticKeySource:
    """Wrapped keys held in memory (tests, tools that already read the table)."""

    def __init__(self, keys=()):
        self._keys: dict[tuple[str, int], WrappedKey] = {}
        for key in keys:
            self.add(key)

    def add(self, key: WrappedKey) -> None:
        if key.active:
            for (purpose, version), other in list(self._keys.items()):
                if purpose == key.purpose and other.active:
                    self._keys[(purpose, version)] = WrappedKey(
                        other.purpose, other.version, other.kms_key_id, other.wrapped_key, False, False
                    )
        self._keys[(key.purpose, key.version)] = key

    def get(self, purpose: str, version: int) -> WrappedKey:
        try:
            return self._keys[(purpose, version)]
        except KeyError:
            raise KeyNotFoundError(f"no {purpose} key version {version}") from None

    def active(self, purpose: str) -> WrappedKey:
        for key in self._keys.values():
            if key.purpose == purpose and key.active:
                return key
        raise KeyNotFoundError(f"no active {purpose} key")

    def versions(self, purpose: str) -> list[WrappedKey]:
        found = [k for k in self._keys.values() if k.purpose == purpose and not k.retired]
        return sorted(found, key=lambda k: k.version)


class PostgresKeySource:
    """Reads ``encryption_keys`` through a DB-API connection (psycopg 3; ``%s`` placeholders)."""

    # Constant SQL text (no identifier or value is interpolated), hence the noqa: S608.
    COLUMNS = "purpose, version, kms_key_id, wrapped_key, active, retired_at IS NOT NULL"
    GET = f"SELECT {COLUMNS} FROM encryption_keys WHERE purpose = %s AND version = %s"  # noqa: S608
    ACTIVE = f"SELECT {COLUMNS} FROM encryption_keys WHERE purpose = %s AND active"  # noqa: S608
    VERSIONS = f"SELECT {COLUMNS} FROM encryption_keys WHERE purpose = %s AND retired_at IS NULL"  # noqa: S608
    VERSIONS += " ORDER BY version"

    def __init__(self, conn, queries: list | None = None):
        self.conn = conn
        self.queries = queries

    def _rows(self, sql: str, params: tuple) -> list[WrappedKey]:
        if self.queries is not None and sql not in self.queries:
            self.queries.append(sql)
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            rows = cur.fetchall()
        return [WrappedKey(r[0], int(r[1]), r[2], bytes(r[3]), bool(r[4]), bool(r[5])) for r in rows]

    def get(self, purpose: str, version: int) -> WrappedKey:
        rows = self._rows(self.GET, (purpose, version))
        if not rows:
            raise KeyNotFoundError(f"no {purpose} key version {version} in encryption_keys")
        return rows[0]

    def active(self, purpose: str) -> WrappedKey:
        rows = self._rows(self.ACTIVE, (purpose,))
        if not rows:
            raise KeyNotFoundError(f"no active {purpose} key in encryption_keys")
        return rows[0]

    def versions(self, purpose: str) -> list[WrappedKey]:
        return self._rows(self.VERSIONS, (purpose,))


# --------------------------------------------------------------------------------------------------
# The keyring: unwrapped keys cached by (purpose, version)
# --------------------------------------------------------------------------------------------------
class EnvelopeKeyring:
    """Unwraps data keys on first use and caches them by (purpose, version).

    ``active_ttl`` bounds how long the *active version number* is cached (a long-running
    application notices a rotation within that time); key versions themselves never change, so
    an unwrapped version stays cached until :meth:`clear`.
    """

    def __init__(self, kms: KmsClient, source, active_ttl: float = 300.0):
        if not HAS_CRYPTOGRAPHY:
            raise EnvelopeError(f"the cryptography package is required: {CRYPTOGRAPHY_IMPORT_ERROR}")
        self.kms = kms if isinstance(kms, KmsClient) else KmsClient(kms)
        self.source = source
        self.active_ttl = active_ttl
        self._keys: dict[tuple[str, int], SecretKey] = {}
        self._aead: dict[int, AESGCM] = {}
        self._active: dict[str, tuple[int, float]] = {}
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        cached = sorted(self._keys)
        return f"EnvelopeKeyring(cached={cached!r}, kms={self.kms!r})"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.clear()

    def active_version(self, purpose: str) -> int:
        _check_purpose(purpose)
        with self._lock:
            cached = self._active.get(purpose)
            if cached and time.monotonic() - cached[1] < self.active_ttl:
                return cached[0]
            version = self.source.active(purpose).version
            self._active[purpose] = (version, time.monotonic())
            return version

    def versions(self, purpose: str) -> list[int]:
        """Every unretired version of a purpose (the ones rows may still be on)."""
        _check_purpose(purpose)
        return [k.version for k in self.source.versions(purpose)]

    def key(self, purpose: str, version: int) -> SecretKey:
        _check_purpose(purpose)
        with self._lock:
            key = self._keys.get((purpose, version))
            if key is None:
                wrapped = self.source.get(purpose, version)
                key = self.kms.unwrap(wrapped)
                self._keys[(purpose, version)] = key
            return key

    def add(self, key: SecretKey) -> None:
        """Caches a key just generated (rotation), saving the KMS Decrypt of it."""
        with self._lock:
            self._keys[(key.purpose, key.version)] = key

    def aead(self, version: int) -> AESGCM:
        with self._lock:
            aead = self._aead.get(version)
            if aead is None:
                aead = AESGCM(self.key("pii", version).material())
                self._aead[version] = aead
            return aead

    def forget_active(self) -> None:
        """Drops the cached active version numbers (after a rotation in this process)."""
        with self._lock:
            self._active.clear()

    def clear(self) -> None:
        """Zeroizes and drops every cached key (best effort, see the module docstring)."""
        with self._lock:
            for key in self._keys.values():
                key.wipe()
            self._keys.clear()
            self._aead.clear()
            self._active.clear()


def _check_purpose(purpose: str) -> None:
    if purpose not in PURPOSES:
        raise EnvelopeError(f"purpose must be one of {', '.join(PURPOSES)}, not {purpose!r}")


# --------------------------------------------------------------------------------------------------
# Fields
# --------------------------------------------------------------------------------------------------
def check_identifier(name: str, what: str = "identifier") -> str:
    """A table or column name usable unquoted in SQL (lower case, digits, underscore)."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise EnvelopeError(f"{what} {name!r} must match {_IDENTIFIER.pattern}")
    return name


def aad(table: str, column: str, row_id, version: int) -> bytes:
    """Additional authenticated data binding a field ciphertext to its place and key version."""
    return AAD_PREFIX + f"{table}.{column}:{row_id}:{version}".encode()


def header_version(blob: bytes) -> int:
    """The key version of a field ciphertext or blind index, read from its header."""
    if blob is None or len(blob) < HEADER.size or blob[0] != FORMAT_V1:
        raise DecryptionError("not a giftcrypto v1 ciphertext (bad format byte or too short)")
    return HEADER.unpack_from(bytes(blob[: HEADER.size]))[1]


def encrypt_field(keyring: EnvelopeKeyring, table: str, column: str, row_id, plaintext, version=None):
    """AES-256-GCM ciphertext of a field (``None`` stays ``None``), under the active pii key
    unless ``version`` is given."""
    if plaintext is None:
        return None
    if isinstance(plaintext, str):
        plaintext = plaintext.encode()
    if version is None:
        version = keyring.active_version("pii")
    nonce = os.urandom(NONCE_BYTES)
    sealed = keyring.aead(version).encrypt(nonce, bytes(plaintext), aad(table, column, row_id, version))
    return HEADER.pack(FORMAT_V1, version) + nonce + sealed


def decrypt_field(keyring: EnvelopeKeyring, table: str, column: str, row_id, blob) -> bytes | None:
    """The plaintext bytes of a field ciphertext; :class:`DecryptionError` if it was tampered with
    or belongs to another table/column/row/version."""
    if blob is None:
        return None
    blob = bytes(blob)
    version = header_version(blob)
    if len(blob) < HEADER.size + NONCE_BYTES + TAG_BYTES:
        raise DecryptionError(f"{table}.{column} row {row_id}: ciphertext too short")
    nonce = blob[HEADER.size : HEADER.size + NONCE_BYTES]
    try:
        return keyring.aead(version).decrypt(
            nonce, blob[HEADER.size + NONCE_BYTES :], aad(table, column, row_id, version)
        )
    except InvalidTag:
        raise DecryptionError(
            f"{table}.{column} row {row_id}: authentication failed under pii key version {version} "
            "(tampered, or bound to another row/column/version)"
        ) from None


def decrypt_text(keyring: EnvelopeKeyring, table: str, column: str, row_id, blob) -> str | None:
    value = decrypt_field(keyring, table, column, row_id, blob)
    return None if value is None else value.decode()


def normalize_email(value: str) -> str:
    return unicodedata.normalize("NFC", value).strip().casefold()


def normalize_phone(value: str) -> str:
    """E.164-ish: keep a leading ``+`` and the digits (spaces, dots, dashes, brackets dropped)."""
    value = unicodedata.normalize("NFKC", value).strip()
    digits = "".join(ch for ch in value if ch.isdigit())
    return ("+" if value.startswith("+") else "") + digits


def normalize_text(value: str) -> str:
    return unicodedata.normalize("NFC", value).strip()


NORMALIZERS = {
    ("users", "email_bidx"): normalize_email,
    ("users", "phone_bidx"): normalize_phone,
}


def blind_index(keyring: EnvelopeKeyring, table: str, column: str, value, version=None, normalize=None):
    """Deterministic, key-dependent lookup token of a value for a blind-index column (e.g.
    ``users.email_bidx``); ``None`` stays ``None``. The value is normalized first (emails
    case-folded, phones reduced to ``+`` and digits) so that equal values index equally."""
    if value is None:
        return None
    if version is None:
        version = keyring.active_version("blind_index")
    if isinstance(value, bytes):
        value = value.decode()
    normalize = normalize or NORMALIZERS.get((table, column), normalize_text)
    message = BIDX_PREFIX + f"{table}.{column}:".encode() + normalize(value).encode()
    mac = hmac.new(keyring.key("blind_index", version).material(), message, sha256).digest()
    return HEADER.pack(FORMAT_V1, version) + mac


def blind_index_candidates(keyring: EnvelopeKeyring, table: str, column: str, value) -> list[bytes]:
    """The blind index of a value under every unretired version: what a lookup matches with
    ``WHERE email_bidx = ANY(%s)`` while a blind-index rotation is under way."""
    return [blind_index(keyring, table, column, value, version=v) for v in keyring.versions("blind_index")]


class FieldCipher:
    """The three operations bound to one keyring (what the application holds)."""

    def __init__(self, keyring: EnvelopeKeyring):
        self.keyring = keyring

    def __repr__(self) -> str:
        return f"FieldCipher({self.keyring!r})"

    def encrypt(self, table, column, row_id, plaintext, version=None):
        return encrypt_field(self.keyring, table, column, row_id, plaintext, version)

    def decrypt(self, table, column, row_id, blob):
        return decrypt_field(self.keyring, table, column, row_id, blob)

    def decrypt_text(self, table, column, row_id, blob):
        return decrypt_text(self.keyring, table, column, row_id, blob)

    def blind_index(self, table, column, value, version=None):
        return blind_index(self.keyring, table, column, value, version)

    def reencrypt(self, table, column, row_id, blob, version=None):
        """The same plaintext under another (by default the active) pii key version."""
        if blob is None:
            return None
        if version is None:
            version = self.keyring.active_version("pii")
        if header_version(blob) == version:
            return bytes(blob)
        return self.encrypt(table, column, row_id, self.decrypt(table, column, row_id, blob), version)


# --------------------------------------------------------------------------------------------------
# The PII columns of the schema, and batch re-encryption over a DB-API connection
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FieldSpec:
    """A column holding ciphertext (purpose pii) or a blind index computed from ``source_column``
    (purpose blind_index, the source being a pii ciphertext column of the same row)."""

    table: str
    column: str
    id_column: str = "id"
    source_column: str | None = None

    def __post_init__(self):
        check_identifier(self.table, "table")
        check_identifier(self.column, "column")
        check_identifier(self.id_column, "id_column")
        if self.source_column is not None:
            check_identifier(self.source_column, "source_column")

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"


PII_FIELDS = (
    FieldSpec("users", "email_ciphertext"),
    FieldSpec("users", "phone_ciphertext"),
    FieldSpec("user_profiles", "first_name_ciphertext"),
    FieldSpec("user_profiles", "last_name_ciphertext"),
    FieldSpec("user_profiles", "date_of_birth_ciphertext"),
    FieldSpec("wallet_accounts", "private_key_ciphertext"),
)
BLIND_INDEX_FIELDS = (
    FieldSpec("users", "email_bidx", source_column="email_ciphertext"),
    FieldSpec("users", "phone_bidx", source_column="phone_ciphertext"),
)
DEFAULT_FIELDS = {"pii": PII_FIELDS, "blind_index": BLIND_INDEX_FIELDS}

# The predicate of "this column holds a value that is not on key version %s".
NOT_ON_VERSION = "({col} IS NOT NULL AND substring({col} from 2 for 4) <> int4send(%s))"


def _by_table(fields) -> dict[tuple[str, str], list[FieldSpec]]:
    grouped: dict[tuple[str, str], list[FieldSpec]] = {}
    for spec in fields:
        grouped.setdefault((spec.table, spec.id_column), []).append(spec)
    return grouped


def _record(queries, sql):
    if queries is not None and sql not in queries:
        queries.append(sql)


def count_pending(conn, fields, version: int, queries: list | None = None) -> dict[str, int]:
    """Per ``table.column``: how many rows hold a value not on ``version``."""
    pending = {}
    with conn.cursor() as cur:
        for spec in fields:
            # Identifiers checked by FieldSpec (check_identifier), hence the noqa: S608.
            sql = f"SELECT count(*) FROM {spec.table} WHERE " + NOT_ON_VERSION.format(col=spec.column)  # noqa: S608
            _record(queries, sql)
            cur.execute(sql, (version,))
            pending[spec.name] = int(cur.fetchone()[0])
    return pending


RLS_ACTIVE = "SELECT row_security_active(%s::regclass)"
FULL_ACCESS_POLICY = (
    "SELECT count(*) FILTER (WHERE cmd IN ('ALL', 'SELECT')), "
    "count(*) FILTER (WHERE cmd IN ('ALL', 'UPDATE')) "
    "FROM pg_policies WHERE schemaname = current_schema() AND tablename = %s AND permissive = 'PERMISSIVE' "
    "AND qual = 'true' AND (current_user::name = ANY(roles) OR 'public' = ANY(roles))"
)


def rls_blockers(conn, fields, queries: list | None = None) -> list[str]:
    """Tables of ``fields`` whose rows this role cannot all read and update because row-level
    security is active for it without a permissive ``USING (true)`` policy for SELECT and UPDATE.
    Re-encryption must see every row: counting under RLS would call a table done too early."""
    blockers = []
    with conn.cursor() as cur:
        for table in sorted({spec.table for spec in fields}):
            _record(queries, RLS_ACTIVE)
            cur.execute(RLS_ACTIVE, (table,))
            if not cur.fetchone()[0]:
                continue
            _record(queries, FULL_ACCESS_POLICY)
            cur.execute(FULL_ACCESS_POLICY, (table,))
            can_select, can_update = cur.fetchone()
            if not (can_select and can_update):
                blockers.append(table)
    conn.rollback()
    return blockers


def _batch_sql(table: str, id_column: str, specs: list[FieldSpec]) -> tuple[str, str, str]:
    """The first-batch SELECT, next-batch SELECT (keyset after the last id) and UPDATE of a table.

    Every identifier went through :func:`check_identifier` (FieldSpec), hence the noqa: S608.
    """
    wanted = " OR ".join(NOT_ON_VERSION.format(col=s.column) for s in specs)
    columns = ", ".join([s.column for s in specs] + [s.source_column or s.column for s in specs])
    head = f"SELECT {id_column}, {columns} FROM {table} WHERE "  # noqa: S608
    tail = f"({wanted}) ORDER BY {id_column} LIMIT %s FOR UPDATE"
    first = head + tail
    following = head + f"{id_column} > %s AND " + tail
    assignments = ", ".join(f"{s.column} = %s" for s in specs)
    update = f"UPDATE {table} SET {assignments} WHERE {id_column} = %s"  # noqa: S608
    return first, following, update


def _rekey_row(keyring, purpose, version, table, specs, row, done) -> tuple:
    """The new values of one row's columns (unchanged where already on ``version``) + its id."""
    row_id = row[0]
    current = row[1 : 1 + len(specs)]
    sources = row[1 + len(specs) :]
    new_values = []
    for spec, value, source in zip(specs, current, sources, strict=True):
        if value is None or header_version(value) == version:
            new_values.append(value)
            continue
        if purpose == "pii":
            plaintext = decrypt_field(keyring, table, spec.column, row_id, value)
            new_values.append(encrypt_field(keyring, table, spec.column, row_id, plaintext, version))
        else:
            plaintext = decrypt_text(keyring, table, spec.source_column, row_id, source)
            new_values.append(blind_index(keyring, table, spec.column, plaintext, version))
        done[spec.name] += 1
    return (*new_values, row_id)


def reencrypt(
    conn,
    keyring: EnvelopeKeyring,
    purpose: str,
    version: int,
    fields=None,
    batch_size: int = 500,
    queries: list | None = None,
) -> dict[str, int]:
    """Moves every value of ``fields`` onto key ``version`` of ``purpose``, ``batch_size`` rows per
    transaction (committed as it goes, so a re-run resumes where it stopped), and returns the
    number of values rewritten per ``table.column``.

    purpose ``pii``: decrypt under the row's version, encrypt under ``version``;
    purpose ``blind_index``: decrypt ``source_column`` and recompute the HMAC under ``version``.
    Rows are locked (``FOR UPDATE``) batch by batch, so concurrent application writes wait at
    most one batch.
    """
    _check_purpose(purpose)
    fields = tuple(fields if fields is not None else DEFAULT_FIELDS[purpose])
    if batch_size < 1:
        raise EnvelopeError("batch_size must be at least 1")
    for spec in fields:
        if (purpose == "blind_index") != (spec.source_column is not None):
            raise EnvelopeError(f"{spec.name}: source_column is required for blind_index and only for it")
    done = {spec.name: 0 for spec in fields}
    for (table, id_column), specs in _by_table(fields).items():
        first, following, update = _batch_sql(table, id_column, specs)
        versions = [version] * len(specs)
        last_id = None
        while True:
            with conn.cursor() as cur:
                if last_id is None:
                    _record(queries, first)
                    cur.execute(first, (*versions, batch_size))
                else:
                    _record(queries, following)
                    cur.execute(following, (last_id, *versions, batch_size))
                rows = cur.fetchall()
                if rows:
                    updates = [_rekey_row(keyring, purpose, version, table, specs, r, done) for r in rows]
                    _record(queries, update)
                    cur.executemany(update, updates)
                    if cur.rowcount != len(updates):
                        conn.rollback()
                        raise EnvelopeError(
                            f"{table}: updated {cur.rowcount} of {len(updates)} rows; row-level security "
                            "or a trigger hides rows from this role (see rls_blockers)"
                        )
            conn.commit()
            if len(rows) < batch_size:
                break
            last_id = rows[-1][0]
    return done


# --------------------------------------------------------------------------------------------------
# encryption_keys administration (the migrator's job: giftcrypto.platform.pii_keyring)
# --------------------------------------------------------------------------------------------------
LOCK_PURPOSE = "SELECT pg_advisory_xact_lock(hashtext(%s))"
NEXT_VERSION = "SELECT coalesce(max(version), 0) + 1 FROM encryption_keys WHERE purpose = %s"
DEACTIVATE = "UPDATE encryption_keys SET active = false WHERE purpose = %s AND active"
INSERT_KEY = (
    "INSERT INTO encryption_keys (purpose, version, kms_key_id, wrapped_key, active) "
    "VALUES (%s, %s, %s, %s, true)"
)
RETIRE = (
    "UPDATE encryption_keys SET retired_at = now() "
    "WHERE purpose = %s AND NOT active AND retired_at IS NULL RETURNING version"
)


def create_key_version(
    conn, kms: KmsClient, purpose: str, kms_key_id: str, queries: list | None = None
) -> tuple[WrappedKey, SecretKey]:
    """Generates a data key with KMS, stores it wrapped as the next version of ``purpose`` and
    makes it the active one (the previous one stays, inactive, to decrypt rows not yet moved).
    One transaction under an advisory lock per purpose, so concurrent runs cannot race."""
    _check_purpose(purpose)
    key = None
    try:
        with conn.cursor() as cur:
            for sql in (LOCK_PURPOSE, NEXT_VERSION, DEACTIVATE, INSERT_KEY):
                _record(queries, sql)
            cur.execute(LOCK_PURPOSE, (f"encryption_keys:{purpose}",))
            cur.execute(NEXT_VERSION, (purpose,))
            version = int(cur.fetchone()[0])
            arn, blob, key = kms.generate_data_key(kms_key_id, purpose, version)
            cur.execute(DEACTIVATE, (purpose,))
            cur.execute(INSERT_KEY, (purpose, version, arn, blob))
        conn.commit()
    except BaseException:
        conn.rollback()
        if key is not None:
            key.wipe()
        raise
    return WrappedKey(purpose, version, arn, blob, True, False), key


def retire_unused_versions(conn, purpose: str, queries: list | None = None) -> list[int]:
    """Marks inactive versions retired (``retired_at``); call it only once no row is left on them."""
    _record(queries, RETIRE)
    with conn.cursor() as cur:
        cur.execute(RETIRE, (purpose,))
        retired = sorted(int(r[0]) for r in cur.fetchall())
    conn.commit()
    return retired
