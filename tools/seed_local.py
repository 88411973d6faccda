#!/usr/bin/env python3
"""Seeds the local database with sample users, profiles and wallets through the real envelope path.

Every PII field is encrypted with the platform's envelope library (plugins/module_utils/envelope.py):
data keys come from ``encryption_keys`` (made by ``giftcrypto.platform.pii_keyring`` in the
db_schema role) and are unwrapped by the local KMS endpoint once per key version, then reused for
the whole run. Rows are written in batches, one transaction per batch, as the application role
(app_rw) acting as each user in turn (``app.user_id``, which row-level security checks).

Idempotent: sample user N of seed S always gets the same ids (uuid5), rows that exist are skipped
(a look-up before encrypting, and ``ON CONFLICT (id) DO NOTHING``), so a re-run adds nothing;
``--users`` larger than before adds the missing ones, another ``--seed`` adds a disjoint set.

    nox -s seed-local                                   # 200 users of seed 1
    nox -s seed-local -- --users 5000 --batch-size 1000
    python tools/seed_local.py --libpq-env              # connect with PG* variables instead

Connection: the login secret ``<platform_name>/<platform_environment>/postgres/<role>`` (JSON
username, password, host, port, dbname, sslmode, sslrootcert) from the inventory's Secrets
Manager, the AWS endpoint and credentials from the inventory's group_vars. Nothing PII or secret
is printed, only counts.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import os
import pathlib
import random
import secrets
import sys
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".collections"))

from ansible_collections.giftcrypto.platform.plugins.module_utils import envelope

NAMESPACE = uuid.UUID("6f1c2f4e-5f0b-4a7c-9d3e-2b8a1c0e9f11")  # giftcrypto sample data

FIRST_NAMES = (
    "Olivia", "Liam", "Amara", "Noah", "Sofia", "Mateo", "Yuki", "Aarav", "Chloe", "Lucas",
    "Fatima", "Elias", "Ingrid", "Kwame", "Leila", "Oskar", "Priya", "Rafael", "Saoirse", "Tomasz",
    "Ugo", "Valentina", "Wen", "Ximena", "Yusuf", "Zofia", "Anders", "Beatriz", "Chidi", "Dagny",
)  # fmt: skip
LAST_NAMES = (
    "Okafor", "Lindqvist", "Moreau", "Tanaka", "Castillo", "Novak", "Haddad", "Petrov", "Kowalski",
    "Fernandes", "Nakamura", "Abernathy", "Brennan", "Dimitriou", "Eriksen", "Gallagher", "Hoang",
    "Iyer", "Jovanovic", "Kaminski", "Larsen", "Mwangi", "Nilsson", "Ortega", "Quintero", "Rossi",
)  # fmt: skip
KYC = ("pending", "in_review", "verified", "rejected")
# Public display names are handles, never derived from the (encrypted) legal name.
HANDLE_WORDS = ("Brave", "Lucky", "Sunny", "Quiet", "Swift", "Merry", "Clever", "Gentle", "Bold", "Calm")
HANDLE_NOUNS = ("Otter", "Falcon", "Maple", "Comet", "Harbor", "Pixel", "Willow", "Ember", "Lynx", "Tide")


@dataclasses.dataclass
class SampleUser:
    """One sample user's rows in plaintext (kept in memory only: the tests check the dump)."""

    user_id: uuid.UUID
    profile_id: uuid.UUID
    wallet_id: uuid.UUID
    email: str
    phone: str | None
    first_name: str
    last_name: str
    date_of_birth: str
    private_key: bytes = dataclasses.field(repr=False)
    public_key: str
    wallet_address: str
    kyc_status: str
    display_name: str

    def __repr__(self) -> str:  # never print sample PII by accident either
        return f"SampleUser({self.user_id})"


@dataclasses.dataclass
class SeedReport:
    requested: int = 0
    inserted: int = 0
    skipped: int = 0
    kms_calls: int = 0
    users: list = dataclasses.field(default_factory=list, repr=False)


def sample_user(seed: int, index: int) -> SampleUser:
    """Sample user ``index`` of ``seed``: same ids and names every run, a fresh private key."""
    rng = random.Random(f"giftcrypto-seed:{seed}:{index}")  # noqa: S311 - reproducible sample data
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(0, 55 * 365))
    private_key = secrets.token_bytes(32)
    public_key = public_key_of(private_key)
    return SampleUser(
        user_id=uuid.uuid5(NAMESPACE, f"seed:{seed}:user:{index}"),
        profile_id=uuid.uuid5(NAMESPACE, f"seed:{seed}:profile:{index}"),
        wallet_id=uuid.uuid5(NAMESPACE, f"seed:{seed}:wallet:{index}"),
        email=f"{first}.{last}.s{seed}n{index}@example.test".lower(),
        # +1 555 numbers are reserved for fiction; 8 more digits keep them unique per seed/index.
        phone=f"+1555{seed % 1000:03d}{index:05d}" if rng.random() < 0.8 else None,
        first_name=first,
        last_name=last,
        date_of_birth=born.isoformat(),
        private_key=private_key,
        public_key=public_key,
        wallet_address="0x" + hashlib.sha3_256(bytes.fromhex(public_key)).digest()[-20:].hex(),
        kyc_status=rng.choice(KYC),
        display_name=f"{rng.choice(HANDLE_WORDS)}{rng.choice(HANDLE_NOUNS)}{index}",
    )


def public_key_of(private_key: bytes) -> str:
    """Compressed secp256k1 public key (hex) of a 32-byte private key (a real key pair)."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    scalar = int.from_bytes(private_key, "big") % (2**256 - 2**32 - 977) or 1
    key = ec.derive_private_key(scalar, ec.SECP256K1())
    return key.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint).hex()


INSERT_USER = (
    "INSERT INTO users (id, email_ciphertext, email_bidx, phone_ciphertext, phone_bidx, password_hash, "
    "email_verified, phone_verified, kyc_status) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (id) DO NOTHING"
)
INSERT_PROFILE = (
    "INSERT INTO user_profiles (id, user_id, first_name_ciphertext, last_name_ciphertext, "
    "date_of_birth_ciphertext, display_name, birthday_public, profile_public) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING"
)
INSERT_WALLET = (
    "INSERT INTO wallet_accounts (id, user_id, wallet_address, wallet_type, currency, "
    "private_key_ciphertext, public_key) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING"
)
ACT_AS = "SELECT set_config('app.user_id', %s, true)"
EXISTS = "SELECT 1 FROM users WHERE id = %s"


def password_hash(rng_bytes: bytes) -> str:
    """An scrypt hash of a random throw-away password (sample users cannot log in)."""
    salt = rng_bytes[:16]
    digest = hashlib.scrypt(rng_bytes[16:], salt=salt, n=2**10, r=8, p=1, dklen=32)
    return f"$scrypt$ln=10,r=8,p=1${salt.hex()}${digest.hex()}"


def rng_bool(user: SampleUser, what: str) -> bool:
    return uuid.uuid5(user.user_id, what).int % 2 == 0


def rows_of(cipher: envelope.FieldCipher, user: SampleUser, wallet_type: str, currency: str):
    uid = user.user_id
    enc = cipher.encrypt
    user_row = (
        uid,
        enc("users", "email_ciphertext", uid, user.email),
        cipher.blind_index("users", "email_bidx", user.email),
        enc("users", "phone_ciphertext", uid, user.phone),
        cipher.blind_index("users", "phone_bidx", user.phone),
        password_hash(secrets.token_bytes(32)),
        True,
        user.phone is not None,
        user.kyc_status,
    )
    pid = user.profile_id
    profile_row = (
        pid,
        uid,
        enc("user_profiles", "first_name_ciphertext", pid, user.first_name),
        enc("user_profiles", "last_name_ciphertext", pid, user.last_name),
        enc("user_profiles", "date_of_birth_ciphertext", pid, user.date_of_birth),
        user.display_name,
        rng_bool(user, "birthday_public"),
        rng_bool(user, "profile_public"),
    )
    wid = user.wallet_id
    wallet_row = (
        wid,
        uid,
        user.wallet_address,
        wallet_type,
        currency,
        enc("wallet_accounts", "private_key_ciphertext", wid, user.private_key),
        user.public_key,
    )
    return user_row, profile_row, wallet_row


def seed(
    conn,
    cipher: envelope.FieldCipher,
    users: int = 200,
    seed_number: int = 1,
    batch_size: int = 500,
    wallet_type: str = "custodial",
    currency: str = "ETH",
) -> SeedReport:
    """Inserts the sample users ``0..users-1`` of ``seed_number`` that are missing."""
    report = SeedReport(requested=users)
    calls_before = cipher.keyring.kms.total_calls
    for start in range(0, users, batch_size):
        batch = [sample_user(seed_number, i) for i in range(start, min(users, start + batch_size))]
        inserted = []
        with conn.cursor() as cur:
            for user in batch:
                # Row-level security: the application acts as one user per transaction step;
                # set_config(..., true) lasts until the batch commits and is replaced per user.
                cur.execute(ACT_AS, (str(user.user_id),))
                cur.execute(EXISTS, (user.user_id,))
                if cur.fetchone() is not None:
                    continue
                user_row, profile_row, wallet_row = rows_of(cipher, user, wallet_type, currency)
                cur.execute(INSERT_USER, user_row)
                cur.execute(INSERT_PROFILE, profile_row)
                cur.execute(INSERT_WALLET, wallet_row)
                inserted.append(user)
        conn.commit()
        report.inserted += len(inserted)
        report.skipped += len(batch) - len(inserted)
        report.users.extend(inserted)
    report.kms_calls = cipher.keyring.kms.total_calls - calls_before
    return report


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------
def load_group_vars(inventory: pathlib.Path) -> dict:
    import yaml

    merged: dict = {}
    for path in sorted((inventory / "group_vars" / "all").glob("*.yml")):
        merged.update(yaml.safe_load(path.read_text()) or {})
    return merged


def aws_session(group_vars: dict):
    import boto3

    return boto3.session.Session(
        aws_access_key_id=group_vars.get("aws_access_key_id") or None,
        aws_secret_access_key=group_vars.get("aws_secret_access_key") or None,
        region_name=group_vars["aws_region"],
    )


def connect_from_secret(secret: dict):
    import psycopg

    kwargs = {
        "host": secret["host"],
        "port": int(secret["port"]),
        "user": secret["username"],
        "dbname": secret["dbname"],
        "sslmode": secret.get("sslmode", "verify-full"),
        "application_name": "giftcrypto-seed-local",
    }
    if secret.get("password"):
        kwargs["password"] = secret["password"]
    if secret.get("sslrootcert"):
        kwargs["sslrootcert"] = secret["sslrootcert"]
    return psycopg.connect(**kwargs)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200, help="sample users to have (default 200)")
    parser.add_argument("--seed", type=int, default=1, help="which sample set (default 1)")
    parser.add_argument("--batch-size", type=int, default=500, help="users per transaction")
    parser.add_argument("--inventory", type=pathlib.Path, default=ROOT / "inventories" / "local")
    parser.add_argument("--role", default="app_rw", help="login secret postgres/<role> (default app_rw)")
    parser.add_argument(
        "--libpq-env", action="store_true", help="connect with the PG* environment variables instead"
    )
    parser.add_argument("--wallet-type", default="custodial")
    parser.add_argument("--currency", default="ETH")
    args = parser.parse_args(argv)
    if args.users < 0 or args.batch_size < 1:
        parser.error("--users must be >= 0 and --batch-size >= 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    group_vars = load_group_vars(args.inventory)
    if group_vars.get("platform_environment") != "local":
        print(f"refusing to seed sample data into {group_vars.get('platform_environment')!r}: local only")
        return 2
    session = aws_session(group_vars)
    endpoint = group_vars.get("aws_endpoint_url") or None
    if args.libpq_env:
        import psycopg

        conn = psycopg.connect(application_name="giftcrypto-seed-local")
    else:
        name = f"{group_vars['platform_name']}/{group_vars['platform_environment']}/postgres/{args.role}"
        sm = session.client("secretsmanager", endpoint_url=endpoint)
        conn = connect_from_secret(json.loads(sm.get_secret_value(SecretId=name)["SecretString"]))
    kms = envelope.KmsClient(session.client("kms", endpoint_url=endpoint))
    try:
        with conn, envelope.EnvelopeKeyring(kms, envelope.PostgresKeySource(conn)) as keyring:
            report = seed(
                conn,
                envelope.FieldCipher(keyring),
                users=args.users,
                seed_number=args.seed,
                batch_size=args.batch_size,
                wallet_type=args.wallet_type,
                currency=args.currency,
            )
    except envelope.KeyNotFoundError as error:
        print(f"{error}: deploy the schema with the keyring first (db_schema, db_schema_keyring_enabled)")
        return 1
    except envelope.EnvelopeError as error:
        print(f"seeding failed: {error}")
        return 1
    print(
        f"seed {args.seed}: {report.requested} sample users wanted, {report.inserted} inserted, "
        f"{report.skipped} already there; {report.kms_calls} KMS calls"
    )
    return 0


if __name__ == "__main__":
    os.umask(0o077)
    sys.exit(main())
