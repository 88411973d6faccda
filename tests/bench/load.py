"""Data generator of the database benchmark: our schema and the sprint's baseline, same data shape.

At scale 1.0: 1,000,000 users with profiles and one wallet each (every PII field encrypted through
plugins/module_utils/envelope.py with the database's own KMS-wrapped data keys, blind indexes by
the same library), 5,000,000 friendships with a skew (20 hubs with 500 to 10,000 friends, the
others about 10), 10,000,000 transactions (a 1,000 ETH deposit per wallet, then transfers from a
uniform source to a skewed destination) with their 20,000,000 double-entry ledger entries and
per-account balances. PII rows are encrypted by worker processes and streamed with COPY; the rest
is generated set-based in SQL. The baseline (the sprint document's DDL verbatim) gets the same
rows: plaintext where that schema stores plaintext, a copy of ours for the rest.

Loading is a restore: PostgreSQL's superuser with session_replication_role = replica, so the
row triggers (audit, ledger account opening, the balanced-entries check) and foreign keys do not
fire row by row; the invariants they protect are checked afterwards (tests/bench/transfers.py).
"""

from __future__ import annotations

import base64
import datetime as dt
import multiprocessing
import os
import random
import threading
import time

from ansible_collections.giftcrypto.platform.plugins.module_utils import envelope

from tests.bench import common

UTC = dt.UTC
FIRST = ("Olivia", "Liam", "Amara", "Noah", "Sofia", "Mateo", "Yuki", "Aarav", "Chloe", "Lucas", "Fatima")
LAST = ("Okafor", "Lindqvist", "Moreau", "Tanaka", "Castillo", "Novak", "Haddad", "Petrov", "Iyer")
WORDS = ("Brave", "Lucky", "Sunny", "Quiet", "Swift", "Merry", "Clever", "Gentle", "Bold", "Calm")
NOUNS = ("Otter", "Falcon", "Maple", "Comet", "Harbor", "Pixel", "Willow", "Ember", "Lynx", "Tide")
CHUNK = 20_000
DEPOSIT = 1000
EXTERNAL_ACCOUNT = "md5('bench:account:external:ETH')::uuid"

BASELINE_SCHEMA = common.ROOT / "tests" / "bench" / "baseline_schema.sql"
SEEDS_DIR = common.ROOT.parent / "shared" / "seeds"


# --------------------------------------------------------------------------------------------------
# Databases
# --------------------------------------------------------------------------------------------------
def baseline_ddl() -> str:
    """The vendored baseline DDL, checked against the sprint document when it is at hand."""
    ddl = BASELINE_SCHEMA.read_text()
    statements = _create_tables(ddl)
    if len(statements) != 5:
        raise AssertionError(
            f"{BASELINE_SCHEMA}: expected 5 CREATE TABLE statements, found {len(statements)}"
        )
    for document in sorted(SEEDS_DIR.glob("*.txt")) if SEEDS_DIR.is_dir() else []:
        found = _create_tables(document.read_text())
        if found and found != statements:
            raise AssertionError(f"{BASELINE_SCHEMA} no longer matches the DDL of {document}")
    return ddl


def _create_tables(text: str) -> list[str]:
    """The CREATE TABLE statements of a text, whitespace-normalized."""
    out, current = [], None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("CREATE TABLE"):
            current = []
        if current is not None:
            current.append(stripped)
            if stripped == ");":
                out.append(" ".join(current))
                current = None
    return out


def recreate_database(env: common.Env, name: str) -> None:
    common.check_own_database(name)
    master = env.logins["master"]
    with env.connect("master", master["dbname"]) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    with env.connect("master", name) as conn:
        conn.execute(f'GRANT CONNECT ON DATABASE "{name}" TO migrator, app_rw, app_ro')
        conn.execute("GRANT USAGE, CREATE ON SCHEMA public TO migrator")
        conn.execute("GRANT USAGE ON SCHEMA public TO app_rw, app_ro")


def drop_database(env: common.Env, name: str) -> None:
    common.check_own_database(name)
    with env.connect("master", env.logins["master"]["dbname"]) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run_module(module: str, env: common.Env, dbname: str, role: str, **args) -> dict:
    from tests.integration.fixtures_schema import run_module

    login = env.kwargs(role, dbname)
    full = {
        "login_host": login["host"],
        "login_port": login["port"],
        "login_user": login["user"],
        "login_db": dbname,
        "ssl_mode": login["sslmode"],
        **({"ca_cert": login["sslrootcert"]} if login.get("sslrootcert") else {}),
        **args,
    }
    result = run_module(module, full, {"login_password": login["password"]})
    if result.get("failed"):
        raise RuntimeError(f"{module} on {dbname} failed: {result.get('msg')}")
    return result


def prepare_ours(env: common.Env, name: str, months_back: int) -> None:
    """A fresh database migrated by pg_migrate, with its own data keys (pii_keyring) and monthly
    partitions of transactions for the months of history the data spans."""
    recreate_database(env, name)
    _run_module(
        "pg_migrate",
        env,
        name,
        "migrator",
        path=str(common.ROOT / "roles" / "db_schema" / "files" / "migrations"),
    )
    gv = env.group_vars
    aws = {
        "region": gv["aws_region"],
        **({"endpoint_url": gv["aws_endpoint_url"]} if gv.get("aws_endpoint_url") else {}),
        **({"access_key": gv["aws_access_key_id"]} if gv.get("aws_access_key_id") else {}),
        **({"secret_key": gv["aws_secret_access_key"]} if gv.get("aws_secret_access_key") else {}),
    }
    alias = f"alias/{gv['platform_name']}-{gv['platform_environment']}-pii"
    for purpose in ("pii", "blind_index"):
        _run_module("pii_keyring", env, name, "migrator", kms_key_id=alias, purpose=purpose, **aws)
    with env.connect("migrator", name) as conn:
        first = _month_start(dt.datetime.now(UTC), -months_back)
        for k in range(months_back):
            start = _month_start(first, k)
            end = _month_start(first, k + 1)
            partition = f"transactions_y{start:%Y}m{start:%m}"
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {partition} PARTITION OF transactions "
                f"FOR VALUES FROM ('{start:%Y-%m-%d} 00:00:00+00') TO ('{end:%Y-%m-%d} 00:00:00+00')"
            )


def prepare_baseline(env: common.Env, name: str) -> None:
    recreate_database(env, name)
    with env.connect("master", name) as conn:
        conn.execute(baseline_ddl())
        conn.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO app_ro")


def _month_start(moment: dt.datetime, months: int) -> dt.datetime:
    index = moment.year * 12 + moment.month - 1 + months
    return dt.datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


# --------------------------------------------------------------------------------------------------
# PII rows: encrypted in worker processes, streamed with COPY
# --------------------------------------------------------------------------------------------------
_CIPHER: envelope.FieldCipher | None = None


def _init_worker(group_vars: dict, wrapped: list[envelope.WrappedKey]) -> None:
    """Each worker unwraps the data keys once through KMS (key material is never pickled)."""
    global _CIPHER
    env = common.Env.from_facts(group_vars, {})
    ring = envelope.EnvelopeKeyring(envelope.KmsClient(env.kms()), envelope.StaticKeySource(wrapped))
    _CIPHER = envelope.FieldCipher(ring)


def _bx(value: bytes | None) -> str:
    return "\\N" if value is None else "\\\\x" + value.hex()


def _ts(epoch: float | None) -> str:
    return "\\N" if epoch is None else dt.datetime.fromtimestamp(epoch, UTC).isoformat()


def _attrs(seed: int, start: int, stop: int, users_from: float, users_span: float):
    """Plaintext attributes of users start..stop-1: the same for ours and the baseline."""
    rng = random.Random(f"bench:{seed}:{start}")
    for i in range(start, stop):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(0, 55 * 365))
        created = users_from + rng.random() * users_span
        k = rng.random()
        kyc = "verified" if k < 0.7 else "pending" if k < 0.85 else "in_review" if k < 0.9 else "rejected"
        yield {
            "i": i,
            "email": common.email_of(i),
            "phone": f"+1555{i:08d}" if rng.random() < 0.8 else None,
            "first": first,
            "last": last,
            "born": born.isoformat(),
            "kyc": kyc,
            "created": created,
            "deleted": created + 86400 * 30 if rng.random() < 0.01 else None,
            "display": f"{rng.choice(WORDS)}{rng.choice(NOUNS)}{i}",
            "birthday_public": rng.random() < 0.5,
            "profile_public": rng.random() < 0.5,
        }


def _bool(value: bool) -> str:
    return "t" if value else "f"


def encrypt_chunk(task: tuple) -> bytes:
    """COPY text of one table's rows for users start..stop-1 (ours: encrypted; baseline: plain)."""
    kind, target, seed, start, stop, users_from, users_span = task
    lines = []
    cipher = _CIPHER
    for a in _attrs(seed, start, stop, users_from, users_span):
        i, created = a["i"], _ts(a["created"])
        uid, pid, wid = common.user_id(i), common.profile_id(i), common.wallet_id(i)
        password = "$argon2id$v=19$m=65536,t=3,p=4$" + base64.b64encode(os.urandom(48)).decode()
        if kind == "users" and target == "ours":
            fields = (
                str(uid),
                _bx(cipher.encrypt("users", "email_ciphertext", uid, a["email"])),
                _bx(cipher.blind_index("users", "email_bidx", a["email"])),
                _bx(cipher.encrypt("users", "phone_ciphertext", uid, a["phone"])),
                _bx(cipher.blind_index("users", "phone_bidx", a["phone"])),
                password,
                "t",
                _bool(a["phone"] is not None),
                a["kyc"],
                created,
                created,
                _ts(a["deleted"]),
            )
        elif kind == "users":
            fields = (
                str(uid),
                a["email"],
                a["phone"] or "\\N",
                password,
                "t",
                _bool(a["phone"] is not None),
                a["kyc"],
                created,
                created,
                _ts(a["deleted"]),
            )
        elif kind == "profiles":
            if target == "ours":
                names = [
                    _bx(cipher.encrypt("user_profiles", column, pid, a[key]))
                    for column, key in (
                        ("first_name_ciphertext", "first"),
                        ("last_name_ciphertext", "last"),
                        ("date_of_birth_ciphertext", "born"),
                    )
                ]
            else:  # the sprint's *_encrypted TEXT columns: ciphertext-sized base64
                names = [
                    base64.b64encode(os.urandom(33 + len(a[k]))).decode() for k in ("first", "last", "born")
                ]
            fields = (
                str(pid),
                str(uid),
                *names,
                a["display"],
                "\\N",
                _bool(a["birthday_public"]),
                _bool(a["profile_public"]),
                created,
                created,
            )
        else:  # wallets
            address = "0x" + os.urandom(20).hex()
            public_key = "02" + os.urandom(32).hex()
            if target == "ours":
                key = _bx(cipher.encrypt("wallet_accounts", "private_key_ciphertext", wid, os.urandom(32)))
                fields = (str(wid), str(uid), address, "custodial", key, public_key, "ETH", "ethereum")
                fields += (created, created)
            else:
                key = base64.b64encode(os.urandom(65)).decode()
                fields = (str(wid), str(uid), address, "custodial", key, public_key, created)
        lines.append("\t".join(fields))
    return ("\n".join(lines) + "\n").encode()


COPY_SQL = {
    ("users", "ours"): "COPY users (id, email_ciphertext, email_bidx, phone_ciphertext, phone_bidx, "
    "password_hash, email_verified, phone_verified, kyc_status, created_at, updated_at, deleted_at) "
    "FROM STDIN",
    (
        "users",
        "baseline",
    ): "COPY users (id, email, phone_number, password_hash, email_verified, phone_verified, "
    "kyc_status, created_at, updated_at, deleted_at) FROM STDIN",
    ("profiles", "ours"): "COPY user_profiles (id, user_id, first_name_ciphertext, last_name_ciphertext, "
    "date_of_birth_ciphertext, display_name, avatar_url, birthday_public, profile_public, created_at, "
    "updated_at) FROM STDIN",
    ("profiles", "baseline"): "COPY user_profiles (id, user_id, first_name_encrypted, last_name_encrypted, "
    "date_of_birth_encrypted, display_name, avatar_url, birthday_public, profile_public, created_at, "
    "updated_at) FROM STDIN",
    ("wallets", "ours"): "COPY wallet_accounts (id, user_id, wallet_address, wallet_type, "
    "private_key_ciphertext, public_key, currency, blockchain_network, created_at, updated_at) FROM STDIN",
    ("wallets", "baseline"): "COPY wallet_accounts (id, user_id, wallet_address, wallet_type, "
    "private_key_encrypted, public_key, created_at) FROM STDIN",
}
TABLE_OF = {"users": "users", "profiles": "user_profiles", "wallets": "wallet_accounts"}


def _restore_session(conn) -> None:
    conn.execute("SET session_replication_role = replica")
    conn.execute("SET work_mem = '512MB'")
    conn.execute("SET maintenance_work_mem = '1GB'")
    conn.execute("SET synchronous_commit = off")


def _wrapped_keys(env: common.Env, ours: str) -> list[envelope.WrappedKey]:
    with env.superuser(ours) as conn:
        source = envelope.PostgresKeySource(conn)
        return [source.active("pii"), source.active("blind_index")]


def load_pii(env, scale, ours, targets, seed, workers, users_from, users_span, log) -> dict:
    """users, user_profiles, wallet_accounts into each (target, database); seconds per table."""
    times = {}
    wrapped = _wrapped_keys(env, ours)
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_init_worker, initargs=(env.group_vars, wrapped)) as pool:
        for kind in ("users", "profiles", "wallets"):
            for target, dbname in targets:
                started = time.perf_counter()
                tasks = [
                    (kind, target, seed, s, min(scale.users + 1, s + CHUNK), users_from, users_span)
                    for s in range(1, scale.users + 1, CHUNK)
                ]
                with env.superuser(dbname) as conn:
                    _restore_session(conn)
                    with conn.cursor() as cur, cur.copy(COPY_SQL[(kind, target)]) as copy:
                        for buffer in pool.imap(encrypt_chunk, tasks):
                            copy.write(buffer)
                elapsed = time.perf_counter() - started
                times[(TABLE_OF[kind], target)] = elapsed
                log(f"{target} {TABLE_OF[kind]}: {scale.users} rows in {elapsed:.1f} s")
    return times


# --------------------------------------------------------------------------------------------------
# Set-based tables
# --------------------------------------------------------------------------------------------------
FRIENDSHIPS = """
INSERT INTO friendships (requester_id, addressee_id, status, created_at, updated_at)
SELECT CASE WHEN flip THEN ub ELSE ua END, CASE WHEN flip THEN ua ELSE ub END, status, ts, ts
FROM (
  SELECT md5('bench:user:' || a)::uuid AS ua, md5('bench:user:' || b)::uuid AS ub, random() < 0.5 AS flip,
    CASE WHEN r < 0.80 THEN 'accepted' WHEN r < 0.92 THEN 'pending' WHEN r < 0.97 THEN 'declined'
      ELSE 'blocked' END AS status,
    %(t0)s::timestamptz + random() * (%(t1)s::timestamptz - %(t0)s::timestamptz) AS ts
  FROM (
    SELECT h.hub AS a, 1 + floor(random() * %(n)s)::int AS b, random() AS r
    FROM unnest(%(hubs)s::int[], %(degrees)s::int[]) AS h (hub, degree)
    CROSS JOIN LATERAL generate_series(1, h.degree)
    UNION ALL
    SELECT 1 + floor(random() * %(n)s)::int, 1 + floor(%(n)s * random() ^ 1.5)::int, random()
    FROM generate_series(1, %(others)s)
  ) AS pairs
  WHERE a <> b
) AS rows
ON CONFLICT (user_low, user_high) DO NOTHING
"""

# Constants only are interpolated (EXTERNAL_ACCOUNT, DEPOSIT), hence the noqa: S608.
TX_STAGE = f"""
CREATE UNLOGGED TABLE bench_tx_stage AS
SELECT g, gen_random_uuid() AS id,
  CASE WHEN src IS NULL THEN {EXTERNAL_ACCOUNT} ELSE md5('bench:wallet:' || src)::uuid END AS debit,
  md5('bench:wallet:' || dst)::uuid AS credit, src IS NULL AS deposit, amount, ttype, created_at
FROM (
  SELECT g, NULL::int AS src, g AS dst, {DEPOSIT}::numeric AS amount, 'deposit' AS ttype,
    %(t0)s::timestamptz + (g::float8 / %(n)s) * interval '1 day' AS created_at
  FROM generate_series(1, %(n)s) AS g
  UNION ALL
  SELECT g, s, CASE WHEN d = s THEN s %% %(n)s + 1 ELSE d END,
    round((0.01 + random() * 9.99)::numeric, 8), CASE WHEN random() < 0.1 THEN 'gift' ELSE 'transfer' END,
    %(t0)s::timestamptz + interval '1 day'
      + ((g - %(n)s)::float8 / (%(total)s - %(n)s))
        * (%(t1)s::timestamptz - %(t0)s::timestamptz - interval '1 day')
  FROM (
    SELECT g, 1 + floor(random() * %(n)s)::int AS s, 1 + floor(%(n)s * random() ^ 2)::int AS d
    FROM generate_series(%(n)s + 1, %(total)s) AS g
  ) AS draws
) AS t
"""  # noqa: S608

TRANSACTIONS = """
INSERT INTO transactions (id, from_wallet_id, to_wallet_id, transaction_hash, transaction_type, currency,
  amount, status, blockchain_network, created_at, updated_at, confirmed_at)
SELECT id, CASE WHEN deposit THEN NULL ELSE debit END, credit,
  CASE WHEN deposit THEN '0x' || encode(sha256(convert_to(id::text, 'UTF8')), 'hex') END,
  ttype, 'ETH', amount, 'confirmed', CASE WHEN deposit THEN 'ethereum' ELSE 'internal' END,
  created_at, created_at, created_at
FROM bench_tx_stage ORDER BY g
"""

LEDGER_ENTRIES = """
INSERT INTO ledger_entries (transaction_id, transaction_created_at, account_id, amount, balance_after,
  created_at)
SELECT id, created_at, account_id, amount,
  sum(amount) OVER (PARTITION BY account_id ORDER BY g, side ROWS UNBOUNDED PRECEDING), created_at
FROM (
  SELECT g, id, created_at, debit AS account_id, -amount AS amount, 0 AS side FROM bench_tx_stage
  UNION ALL
  SELECT g, id, created_at, credit, amount, 1 FROM bench_tx_stage
) AS entries
"""

# Constants only are interpolated (EXTERNAL_ACCOUNT), hence the noqa: S608.
LEDGER_ACCOUNTS = f"""
INSERT INTO ledger_accounts (id, wallet_id, user_id, code, currency, balance, allow_negative, created_at,
  updated_at)
SELECT w.id, w.id, w.user_id, NULL, w.currency, coalesce(b.balance, 0), false, w.created_at, w.created_at
FROM wallet_accounts AS w
LEFT JOIN (
  SELECT account_id, sum(amount) AS balance FROM (
    SELECT credit AS account_id, amount FROM bench_tx_stage
    UNION ALL
    SELECT debit, -amount FROM bench_tx_stage WHERE NOT deposit
  ) AS e GROUP BY account_id
) AS b ON b.account_id = w.id;
INSERT INTO ledger_accounts (id, code, currency, allow_negative, balance)
SELECT {EXTERNAL_ACCOUNT}, 'external:ETH', 'ETH', true, -sum(amount) FROM bench_tx_stage WHERE deposit
"""  # noqa: S608


def _run_steps(env, ours, steps, params, times, log) -> None:
    with env.superuser(ours) as conn:
        _restore_session(conn)
        for name, sql in steps:
            started = time.perf_counter()
            with conn.cursor() as cur:
                for statement in sql.split(";\n"):
                    cur.execute(statement, params if "%(" in statement else None)
            times[(name, "ours")] = time.perf_counter() - started
            log(f"ours {name}: {times[(name, 'ours')]:.1f} s")


def load_sql(env, scale, ours, t0, t1, log) -> dict:
    """friendships on one connection while the transactions chain runs on another (two cores),
    then the ledger accounts with their balances."""
    times: dict = {}
    hubs = list(range(1, scale.hubs + 1))
    params = {
        "t0": t0,
        "t1": t1,
        "n": scale.users,
        "total": scale.transactions,
        "hubs": hubs,
        "degrees": [scale.hub_degree(h) for h in hubs],
        "others": scale.friendships - scale.hub_edges,
    }
    with env.superuser(ours) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_tx_stage")
    chain = (
        ("transactions (staging)", TX_STAGE),
        ("transactions", TRANSACTIONS),
        ("ledger_entries", LEDGER_ENTRIES),
    )
    errors: list[BaseException] = []

    def side():
        try:
            _run_steps(env, ours, (("friendships", FRIENDSHIPS),), params, times, log)
        except BaseException as error:  # re-raised in the main thread
            errors.append(error)

    thread = threading.Thread(target=side, name="friendships")
    thread.start()
    try:
        _run_steps(env, ours, chain, params, times, log)
    finally:
        thread.join()
    if errors:
        raise errors[0]
    _run_steps(env, ours, (("ledger_accounts", LEDGER_ACCOUNTS),), params, times, log)
    with env.superuser(ours) as conn:
        conn.execute("DROP TABLE bench_tx_stage")
    return times


# Indexes that are not constraints are built after the data, as pg_restore does: one sort per
# index instead of millions of random B-tree insertions. Constraint indexes (primary keys, unique
# pairs, blind indexes) stay, so duplicates are refused during the load itself.
DEFERRED_INDEXES = """
SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
FROM pg_index AS i
JOIN pg_class AS t ON t.oid = i.indrelid
LEFT JOIN pg_constraint AS c ON c.conindid = i.indexrelid
LEFT JOIN pg_inherits AS h ON h.inhrelid = i.indexrelid
WHERE t.relnamespace = 'public'::regnamespace AND t.relname = ANY(%s) AND c.oid IS NULL AND h.inhrelid IS NULL
ORDER BY 1
"""
LOADED_TABLES = [
    "users", "user_profiles", "wallet_accounts", "friendships", "transactions", "ledger_entries",
    "ledger_accounts",
]  # fmt: skip


def drop_deferred_indexes(env, ours) -> list[tuple[str, str]]:
    with env.superuser(ours) as conn:
        indexes = conn.execute(DEFERRED_INDEXES, (LOADED_TABLES,)).fetchall()
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
    return indexes


def build_indexes(env, ours, indexes, log) -> None:
    """CREATE INDEX on two connections (two cores), biggest tables first."""
    queue = list(indexes)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker():
        try:
            with env.superuser(ours) as conn:
                conn.execute("SET maintenance_work_mem = '1GB'")
                while True:
                    with lock:
                        if not queue:
                            return
                        name, definition = queue.pop(0)
                    started = time.perf_counter()
                    # pg_get_indexdef says ON ONLY for a partitioned table's index: that would build
                    # the parent's index alone; without ONLY it builds every partition's too.
                    conn.execute(definition.replace(" ON ONLY ", " ON ", 1))
                    log(f"ours index {name}: {time.perf_counter() - started:.1f} s")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


COPY_ACROSS = {
    "friendships": (
        "COPY (SELECT id, requester_id, addressee_id, status, created_at, updated_at FROM friendships) "
        "TO STDOUT",
        "COPY friendships (id, requester_id, addressee_id, status, created_at, updated_at) FROM STDIN",
    ),
    "transactions": (
        "COPY (SELECT id, from_wallet_id, to_wallet_id, transaction_hash, transaction_type, currency, "
        "amount, status, blockchain_network, gas_fee, created_at, confirmed_at FROM transactions) TO STDOUT",
        "COPY transactions (id, from_wallet_id, to_wallet_id, transaction_hash, transaction_type, currency, "
        "amount, status, blockchain_network, gas_fee, created_at, confirmed_at) FROM STDIN",
    ),
}


def copy_to_baseline(env, ours, baseline, log) -> dict:
    times = {}
    for table, (out_sql, in_sql) in COPY_ACROSS.items():
        started = time.perf_counter()
        with env.superuser(ours) as src, env.superuser(baseline) as dst:
            _restore_session(dst)
            with (
                src.cursor() as out_cur,
                dst.cursor() as in_cur,
                out_cur.copy(out_sql) as out_copy,
                in_cur.copy(in_sql) as in_copy,
            ):
                for block in out_copy:
                    in_copy.write(block)
        times[(table, "baseline")] = time.perf_counter() - started
        log(f"baseline {table}: {times[(table, 'baseline')]:.1f} s")
    return times


def vacuum_analyze(env, dbname) -> float:
    started = time.perf_counter()
    with env.superuser(dbname) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("VACUUM (ANALYZE)")
    return time.perf_counter() - started


def row_counts(env, dbname, tables) -> dict[str, int]:
    with env.superuser(dbname) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}  # noqa: S608


# --------------------------------------------------------------------------------------------------
# The whole load
# --------------------------------------------------------------------------------------------------
def load(env, scale, ours, baseline, seed=1, workers=2, months_back=11, log=print) -> dict:
    """Creates and fills our database, then the baseline; per-table seconds, wall-clock totals and
    row counts. friendships and the transactions chain run concurrently, so the per-table seconds
    of those overlap; the totals are wall-clock."""
    now = dt.datetime.now(UTC).replace(microsecond=0)
    t0 = _month_start(now, -months_back)
    t1 = now - dt.timedelta(minutes=5)
    users_span = 3 * 365 * 86400
    users_from = t0.timestamp() - users_span
    times: dict = {}
    totals = {}
    started = time.perf_counter()
    prepare_ours(env, ours, months_back)
    times[("prepare (create, migrate, keyring, partitions)", "ours")] = time.perf_counter() - started
    indexes = drop_deferred_indexes(env, ours)
    times.update(load_pii(env, scale, ours, (("ours", ours),), seed, workers, users_from, users_span, log))
    times.update(load_sql(env, scale, ours, t0, t1, log))
    mark = time.perf_counter()
    build_indexes(env, ours, indexes, log)
    times[(f"secondary indexes ({len(indexes)}, built after the data)", "ours")] = time.perf_counter() - mark
    times[("VACUUM (ANALYZE)", "ours")] = vacuum_analyze(env, ours)
    totals["ours"] = time.perf_counter() - started
    log(f"ours loaded in {totals['ours']:.1f} s")

    started = time.perf_counter()
    prepare_baseline(env, baseline)
    times[("prepare (create, DDL)", "baseline")] = time.perf_counter() - started
    times.update(
        load_pii(env, scale, ours, (("baseline", baseline),), seed, workers, users_from, users_span, log)
    )
    times.update(copy_to_baseline(env, ours, baseline, log))
    times[("VACUUM (ANALYZE)", "baseline")] = vacuum_analyze(env, baseline)
    totals["baseline"] = time.perf_counter() - started
    log(f"baseline loaded in {totals['baseline']:.1f} s")
    base_tables = ("users", "user_profiles", "wallet_accounts", "friendships", "transactions")
    ours_tables = (*base_tables, "ledger_entries", "ledger_accounts")
    return {
        "seconds": [
            {"step": step, "target": target, "seconds": round(s, 1)} for (step, target), s in times.items()
        ],
        "total_ours_s": round(totals["ours"], 1),
        "total_baseline_s": round(totals["baseline"], 1),
        "rows": {
            "ours": row_counts(env, ours, ours_tables),
            "baseline": row_counts(env, baseline, base_tables),
        },
        "history": {"from": t0.isoformat(), "to": t1.isoformat()},
    }
