"""Query suite of the database benchmark: the same questions to our schema and to the baseline.

Every query runs through pgBouncer (TLS, transaction pooling) with random parameters drawn once
and used for both schemas; a share of them (``HUB_SHARE``) are the high-degree users (friend
queries) or the busiest wallets (wallet queries). Ours runs as the application does: app_ro (or
app_rw for the login lookup) in a transaction that first sets ``app.user_id``, so row-level
security applies; the whole transaction (one round trip: ``BEGIN; set_config; query; COMMIT`` as
one simple-protocol message) is timed, with the blind index computed inside the timing for the
e-mail lookup. The KYC queue is a back-office read: there is no back-office role yet, so it runs
as migrator, the one role with a read-all policy on users. The baseline runs the most natural SQL
for the sprint's DDL, one statement, as app_ro.

Latencies are client-side wall-clock per call. Each query also gets one ``EXPLAIN (ANALYZE,
BUFFERS)`` (and, for function calls, the plans of the statements inside, via auto_explain) run by
the superuser under ``SET ROLE`` to the same role with the same ``app.user_id``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import pathlib
import random
import time
from collections.abc import Callable

import psycopg

from tests.bench import common

HUB_SHARE = 0.05  # every 20th parameter: a high-degree user or one of the busiest wallets
ZERO_UUID = "00000000-0000-0000-0000-000000000000"


@dataclasses.dataclass
class Query:
    name: str
    title: str
    ours_sql: str
    baseline_sql: str
    params: Callable  # (rng, scale, facts, high) -> dict with "me" (or None) and "high" (bool)
    ours_role: str = "app_ro"
    acts_as: bool = True


def _user(rng: random.Random, scale: common.Scale, high: bool) -> int:
    return rng.randint(1, scale.hubs) if high else rng.randint(1, scale.users)


def p_user(rng, scale, facts, high: bool) -> dict:
    return {"me": str(common.user_id(_user(rng, scale, high))), "high": high}


def p_pair(rng, scale, facts, high: bool) -> dict:
    """Two users who share a friend when there is one (a friend of a friend), else a random one."""
    i = _user(rng, scale, high)
    fof = facts["friend_of_friend"](i, rng)
    other = str(fof) if fof else str(common.user_id(rng.randint(1, scale.users)))
    return {"me": str(common.user_id(i)), "other": other, "high": high}


def p_wallet(rng, scale, facts, high: bool) -> dict:
    # high: the busiest wallets (the generator's transfer destinations are skewed to low numbers)
    i = rng.randint(1, scale.hubs) if high else rng.randint(1, scale.wallets)
    return {"me": str(common.user_id(i)), "wallet": str(common.wallet_id(i)), "high": high}


def p_wallet_next(rng, scale, facts, high: bool) -> dict:
    """A wallet people page through (busy: drawn like the generator's destinations) and the keyset
    cursor of the last row of its first page."""
    i = rng.randint(1, scale.hubs) if high else 1 + int(scale.wallets * rng.random() ** 2)
    before_at, before_id = facts["first_page_end"](i)
    return {
        "me": str(common.user_id(i)),
        "wallet": str(common.wallet_id(i)),
        "before_at": before_at,
        "before_id": before_id,
        "high": high,
    }


def p_email(rng, scale, facts, high: bool) -> dict:
    return {"me": None, "email": common.email_of(_user(rng, scale, high)), "high": high}


def p_kyc(rng, scale, facts, high: bool) -> dict:
    """A page of the queue from a random point in it: no high-degree case."""
    low, top = facts["users_created"]
    return {"me": None, "after_at": low + (top - low) * rng.random(), "after_id": ZERO_UUID, "high": False}


FRIENDS_BASELINE = (
    "SELECT CASE WHEN requester_id = {u} THEN addressee_id ELSE requester_id END AS friend "
    "FROM friendships WHERE (requester_id = {u} OR addressee_id = {u}) AND status = 'accepted'"
)
WALLET_HISTORY_BASELINE = (
    "SELECT * FROM transactions WHERE (from_wallet_id = %(wallet)s OR to_wallet_id = %(wallet)s){extra} "
    "ORDER BY created_at DESC, id DESC LIMIT 50"
)
SUGGESTIONS_BASELINE = (  # constants only (values are bound parameters), hence the noqa: S608
    "WITH mine AS (" + FRIENDS_BASELINE.format(u="%(me)s") + "), "  # noqa: S608
    "fof AS (SELECT CASE WHEN f.requester_id = m.friend THEN f.addressee_id ELSE f.requester_id END AS id "
    "FROM friendships AS f JOIN mine AS m ON m.friend IN (f.requester_id, f.addressee_id) "
    "WHERE f.status = 'accepted') "
    "SELECT id, count(*) AS mutual_friends FROM fof WHERE id <> %(me)s "
    "AND id NOT IN (SELECT friend FROM mine) "
    "AND NOT EXISTS (SELECT 1 FROM friendships AS x "
    "WHERE (x.requester_id = %(me)s AND x.addressee_id = fof.id) "
    "OR (x.requester_id = fof.id AND x.addressee_id = %(me)s)) "
    "GROUP BY id ORDER BY count(*) DESC, id LIMIT 10"
)
KYC_SQL = (
    "SELECT id, kyc_status, created_at FROM users WHERE kyc_status IN ('pending', 'in_review') "
    "AND deleted_at IS NULL AND (created_at, id) > (%(after_at)s, %(after_id)s) "
    "ORDER BY created_at, id LIMIT 50"
)

QUERIES = (
    Query(
        "friend_list",
        "friend list of a user (accepted, either side; first page of 50, keyset)",
        "SELECT * FROM friend_list()",
        FRIENDS_BASELINE.format(u="%(me)s") + " ORDER BY 1 LIMIT 50",
        p_user,
    ),
    Query(
        "pending_requests",
        "pending friend requests to a user (newest 50)",
        "SELECT id, requester_id, created_at FROM friendships WHERE addressee_id = %(me)s "
        "AND status = 'pending' ORDER BY created_at DESC LIMIT 50",
        "SELECT id, requester_id, created_at FROM friendships WHERE addressee_id = %(me)s "
        "AND status = 'pending' ORDER BY created_at DESC LIMIT 50",
        p_user,
    ),
    Query(
        "mutual_friends",
        "mutual friends of two users",
        "SELECT * FROM mutual_friends(%(other)s)",
        FRIENDS_BASELINE.format(u="%(me)s") + " INTERSECT " + FRIENDS_BASELINE.format(u="%(other)s"),
        p_pair,
    ),
    Query(
        "friend_suggestions",
        "top-10 friend-of-friend suggestions",
        "SELECT * FROM friend_suggestions(10)",
        SUGGESTIONS_BASELINE,
        p_user,
    ),
    Query(
        "wallet_balance",
        "wallet balance",
        "SELECT balance, currency FROM ledger_accounts WHERE wallet_id = %(wallet)s",
        "SELECT coalesce(sum(CASE WHEN to_wallet_id = %(wallet)s THEN amount ELSE -amount END), 0) "
        "AS balance FROM transactions WHERE (from_wallet_id = %(wallet)s OR to_wallet_id = %(wallet)s) "
        "AND status = 'confirmed'",
        p_wallet,
    ),
    Query(
        "wallet_history",
        "last 50 transactions of a wallet",
        "SELECT * FROM wallet_transactions(%(wallet)s)",
        WALLET_HISTORY_BASELINE.format(extra=""),
        p_wallet,
    ),
    Query(
        "wallet_history_next",
        "next page of 50 (keyset)",
        "SELECT * FROM wallet_transactions(%(wallet)s, %(before_at)s, %(before_id)s)",
        WALLET_HISTORY_BASELINE.format(extra=" AND (created_at, id) < (%(before_at)s, %(before_id)s)"),
        p_wallet_next,
    ),
    Query(
        "email_lookup",
        "user lookup by e-mail (blind index)",
        "SELECT * FROM auth_lookup_email(%(bidx)s)",
        "SELECT id, password_hash, email_verified, kyc_status FROM users WHERE email = %(email)s "
        "AND deleted_at IS NULL",
        p_email,
        ours_role="app_rw",
        acts_as=False,
    ),
    Query(
        "kyc_queue",
        "a page of the KYC pending queue",
        KYC_SQL,
        KYC_SQL,
        p_kyc,
        ours_role="migrator",
        acts_as=False,
    ),
)


# --------------------------------------------------------------------------------------------------
# Facts the parameters need (read untimed from our database)
# --------------------------------------------------------------------------------------------------
def facts_of(env: common.Env, ours: str) -> dict:
    conn = env.superuser(ours)
    low, high = conn.execute("SELECT min(created_at), max(created_at) FROM users").fetchone()

    def friend_of_friend(i: int, rng: random.Random):
        me = common.user_id(i)
        row = conn.execute(
            "WITH f AS (SELECT CASE WHEN user_low = %(me)s THEN user_high ELSE user_low END AS id "
            "FROM friendships WHERE (user_low = %(me)s OR user_high = %(me)s) AND status = 'accepted' "
            "ORDER BY 1 OFFSET %(k)s LIMIT 1) "
            "SELECT CASE WHEN x.user_low = f.id THEN x.user_high ELSE x.user_low END FROM f, friendships x "
            "WHERE (x.user_low = f.id OR x.user_high = f.id) AND x.status = 'accepted' "
            "AND %(me)s NOT IN (x.user_low, x.user_high) ORDER BY 1 LIMIT 1",
            {"me": me, "k": rng.randrange(5)},
        ).fetchone()
        return None if row is None else row[0]

    def first_page_end(i: int):
        wallet = common.wallet_id(i)
        rows = conn.execute(
            "SELECT created_at, id FROM wallet_transactions(%s) ORDER BY created_at, id LIMIT 1", (wallet,)
        ).fetchall()
        return (rows[0][0], rows[0][1]) if rows else (dt.datetime.now(dt.UTC), ZERO_UUID)

    return {
        "conn": conn,
        "users_created": (low, high),
        "friend_of_friend": friend_of_friend,
        "first_page_end": first_page_end,
    }


def draw_params(query: Query, n: int, scale: common.Scale, facts: dict, seed: int) -> list[dict]:
    rng = random.Random(f"bench-params:{seed}:{query.name}")
    out = []
    every = round(1 / HUB_SHARE)
    for k in range(n):
        out.append(query.params(rng, scale, facts, k % every == every - 1))
    return out


# --------------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------------
def _statement(query: Query, target: str) -> str:
    if target == "baseline":
        return query.baseline_sql
    if query.acts_as:
        return f"BEGIN; SELECT set_config('app.user_id', %(me)s, true); {query.ours_sql}; COMMIT"
    return query.ours_sql


def _rows_of(cur, target: str, query: Query) -> int:
    """Row count of the query's own result (the third result of BEGIN; set_config; query; COMMIT)."""
    if target == "ours" and query.acts_as:
        cur.nextset()
        cur.nextset()
    return len(cur.fetchall())


def time_query(conn, query, target, params, cipher, budget_s: float, warmup: int) -> dict:
    sql = _statement(query, target)
    samples, high_samples, rows = [], [], 0
    started = time.perf_counter()
    with psycopg.ClientCursor(conn) as cur:
        for k, p in enumerate(params):
            if k == warmup:
                started = time.perf_counter()  # the budget counts timed calls only
            t0 = time.perf_counter()
            bound = p
            if target == "ours" and query.name == "email_lookup":
                bound = {**p, "bidx": cipher.blind_index("users", "email_bidx", p["email"])}
            cur.execute(sql, bound)
            count = _rows_of(cur, target, query)
            elapsed = time.perf_counter() - t0
            if k < warmup:
                continue
            samples.append(elapsed)
            rows += count
            if p["high"]:
                high_samples.append(elapsed)
            if time.perf_counter() - started > budget_s:
                break
    result = common.summary_ms(samples)
    result["rows_per_call"] = round(rows / len(samples), 1)
    if high_samples:
        high = common.summary_ms(high_samples)
        result["high_degree"] = {"n": high["n"], "p95_ms": high["p95_ms"], "max_ms": high["max_ms"]}
    return result


# --------------------------------------------------------------------------------------------------
# EXPLAIN (ANALYZE, BUFFERS), with the statements inside functions through auto_explain
# --------------------------------------------------------------------------------------------------
def explain(env, dbname: str, query: Query, target: str, params: dict, cipher) -> str:
    notices: list[str] = []
    role = env.logins[query.ours_role if target == "ours" else "app_ro"]["username"]
    p = dict(params)
    if target == "ours" and query.name == "email_lookup":
        p["bidx"] = cipher.blind_index("users", "email_bidx", p["email"])
    sql = query.ours_sql if target == "ours" else query.baseline_sql
    with env.superuser(dbname) as conn:
        conn.add_notice_handler(lambda d: notices.append(d.message_primary))
        with psycopg.ClientCursor(conn) as cur:
            text = cur.mogrify(sql, p)
            for setting in (
                "LOAD 'auto_explain'",
                "SET auto_explain.log_min_duration = 0",
                "SET auto_explain.log_analyze = on",
                "SET auto_explain.log_buffers = on",
                "SET auto_explain.log_nested_statements = on",
                "SET auto_explain.log_level = 'notice'",
            ):
                cur.execute(setting)
            cur.execute("BEGIN")
            cur.execute(f'SET LOCAL ROLE "{role}"')
            if target == "ours" and query.acts_as:
                cur.execute("SELECT set_config('app.user_id', %s, true)", (p["me"],))
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + text)
            plan = "\n".join(r[0] for r in cur.fetchall())
            cur.execute("ROLLBACK")
    nested = [n for n in notices if "EXPLAIN (ANALYZE, BUFFERS)" not in n and "set_config" not in n]
    out = [
        f"-- {query.title}: {target} ({dbname}), as {role}"
        + (f" with app.user_id = {p['me']}" if target == "ours" and query.acts_as else ""),
        f"-- high-degree parameter: {params['high']}",
        "",
        text,
        "",
        plan,
    ]
    if nested:
        out += ["", "-- statements run inside the functions (auto_explain: ANALYZE, BUFFERS)", "", *nested]
    return "\n".join(out) + "\n"


def run_suite(
    env, scale, ours, baseline, iterations=2000, budget_s=60.0, baseline_budget_s=45.0, warmup=20,
    explain_dir: pathlib.Path | None = None, seed=1, log=print, only=None,
) -> list[dict]:  # fmt: skip
    from ansible_collections.giftcrypto.platform.plugins.module_utils import envelope

    facts = facts_of(env, ours)
    results = []
    conns = {}
    ring = None
    try:
        with env.superuser(ours) as keys_conn:
            ring = envelope.EnvelopeKeyring(
                envelope.KmsClient(env.kms()), envelope.StaticKeySource([
                    envelope.PostgresKeySource(keys_conn).active("blind_index")
                ])
            )  # fmt: skip
        cipher = envelope.FieldCipher(ring)
        for query in QUERIES:
            if only and query.name not in only:
                continue
            params = draw_params(query, iterations + warmup, scale, facts, seed)
            row = {"name": query.name, "title": query.title}
            for target, dbname, role, budget in (
                ("ours", ours, query.ours_role, budget_s),
                ("baseline", baseline, "app_ro", baseline_budget_s),
            ):
                key = (dbname, role)
                if key not in conns:
                    conns[key] = env.connect(role, dbname, pgbouncer=True)
                # The baseline's warm-up is shorter: some of its calls take seconds.
                skip = warmup if target == "ours" else min(warmup, 3)
                row[target] = time_query(
                    conns[key], query, target, params[warmup - skip :], cipher, budget, skip
                )
                if explain_dir is not None:
                    explain_dir.mkdir(parents=True, exist_ok=True)
                    sample = next((p for p in params if p["high"]), params[0])
                    text = explain(env, dbname, query, target, sample, cipher)
                    (explain_dir / f"{query.name}.{target}.txt").write_text(text)
                log(
                    f"{query.name:20} {target:8} n={row[target]['n']:5} p50={row[target]['p50_ms']:9.3f} "
                    f"p95={row[target]['p95_ms']:9.3f} p99={row[target]['p99_ms']:9.3f} ms"
                )
            row["ratio_p95"] = round(row["baseline"]["p95_ms"] / row["ours"]["p95_ms"], 1)
            results.append(row)
    finally:
        for conn in conns.values():
            conn.close()
        facts["conn"].close()
        if ring is not None:
            ring.clear()
    return results
