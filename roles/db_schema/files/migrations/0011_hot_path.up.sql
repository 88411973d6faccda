-- The database hot path (issue 21, ADR 0014): transfers with the audit chain on, the friend graph's
-- reads. Same signatures, grants and results as before for every function it replaces; one new
-- function, friend_list(), and two documented cut-offs in friend_suggestions().
--
-- 1. The audit chain (0004): 64 shards instead of 16, and a transaction no longer waits for its
--    shard. It prefers shard txid % 64 (concurrent transactions have nearly consecutive ids, so
--    they land on different shards), takes that head with FOR UPDATE SKIP LOCKED and, when another
--    transaction holds it, the next free head; it waits only if every head is held. The shard it
--    got is remembered for the rest of the transaction (setting giftcrypto.audit_shard =
--    '<txid>:<shard>', transaction-local), so one transaction appends to one chain and holds one
--    head. Each chain is still appended only under its head's lock, in seq order, with the same
--    hashed text: plugins/modules/audit_verify.py verifies it unchanged. The head is locked and
--    read in one statement and advanced together with the audit row's insert in a second one
--    (three statements per audited row before).
-- 2. ledger_post(): the accounts' update, the transactions row and the two ledger entries are one
--    statement (data-modifying WITH): three statements per transfer instead of five. Constraints,
--    foreign keys and the balanced-entries trigger all still run (at the end of that statement).
-- 3. ledger_accounts keeps 20% free space per page (fillfactor 80): a balance update stays on its
--    page (HOT) and writes none of the table's four indexes. Takes effect on pages written from now
--    on (the benchmark's load, a restore, a VACUUM FULL); existing full pages move rows on update.
-- 4. friend_list(): the current user's accepted friends by keyset, 50 to a page, as
--    wallet_transactions() pages the wallet history.
-- 5. friend_suggestions(): counts friend-of-friend paths through at most 100 of the user's friends
--    and never through a friend who has more than 200 accepted friends (the "celebrity" cut-off).

-- Never queue behind live traffic for long, nor run away (pg_migrate: one transaction).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '10min';

-- 1. The audit chain ------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION audit_shard_count() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 64;

-- Genesis of the new chains, as 0004 made the first 16 (a re-run after the down migration, which
-- leaves them, finds them there).
INSERT INTO audit_chain_heads (shard, seq, hash)
SELECT s, 0, sha256(convert_to('giftcrypto-audit-genesis|' || s, 'UTF8'))
FROM generate_series(0, audit_shard_count() - 1) AS s
ON CONFLICT (shard) DO NOTHING;

CREATE OR REPLACE FUNCTION audit_capture() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
  v_txid bigint := pg_current_xact_id()::text::bigint;
  v_shards integer := audit_shard_count();
  v_held text := current_setting('giftcrypto.audit_shard', true);
  v_preferred smallint := (v_txid % v_shards)::smallint;
  v_at timestamptz := now();
  v_actor uuid := nullif(current_setting('app.user_id', true), '')::uuid;
  -- a partition (transactions_y2025m01) is audited under its parent's name
  v_table text := regexp_replace(TG_TABLE_NAME, '_y[0-9]{4}m[0-9]{2}$', '');
  v_old jsonb;
  v_new jsonb;
  v_data jsonb;
  v_columns text[];
  v_row jsonb;
  v_row_id text;
  v_head audit_chain_heads;
  v_hash bytea;
BEGIN
  IF TG_OP = 'INSERT' THEN
    v_new := to_jsonb(NEW);
    v_row := v_new;
    v_data := v_new;
    v_columns := ARRAY(SELECT jsonb_object_keys(v_new) ORDER BY 1);
  ELSIF TG_OP = 'UPDATE' THEN
    v_old := to_jsonb(OLD);
    v_new := to_jsonb(NEW);
    v_row := v_new;
    SELECT coalesce(array_agg(n.key ORDER BY n.key), '{}'), coalesce(jsonb_object_agg(n.key, n.value), '{}')
    INTO v_columns, v_data
    FROM jsonb_each(v_new) AS n
    WHERE v_old -> n.key IS DISTINCT FROM n.value;
  ELSE
    v_old := to_jsonb(OLD);
    v_row := v_old;
    v_data := v_old;
    v_columns := ARRAY(SELECT jsonb_object_keys(v_old) ORDER BY 1);
  END IF;
  IF strpos(TG_ARGV[0], ',') = 0 THEN
    v_row_id := v_row ->> TG_ARGV[0];
  ELSE
    SELECT string_agg(v_row ->> k, ':' ORDER BY ord) INTO v_row_id
    FROM unnest(string_to_array(TG_ARGV[0], ',')) WITH ORDINALITY AS key_columns (k, ord);
  END IF;
  v_data := v_data - TG_ARGV[1:];

  -- The head this transaction already holds, else its preferred one if free, else the next free
  -- one, else wait for the preferred one (every head held by someone else).
  IF v_held LIKE v_txid::text || ':%' THEN
    SELECT * INTO v_head FROM audit_chain_heads
    WHERE shard = substr(v_held, length(v_txid::text) + 2)::smallint
    FOR UPDATE;
  END IF;
  IF v_head.shard IS NULL THEN
    SELECT * INTO v_head FROM audit_chain_heads WHERE shard = v_preferred FOR UPDATE SKIP LOCKED;
    IF v_head.shard IS NULL THEN
      SELECT * INTO v_head FROM audit_chain_heads
      WHERE shard < v_shards
      ORDER BY (shard - v_preferred + v_shards) % v_shards
      LIMIT 1
      FOR UPDATE SKIP LOCKED;
    END IF;
    IF v_head.shard IS NULL THEN
      SELECT * INTO v_head FROM audit_chain_heads WHERE shard = v_preferred FOR UPDATE;
    END IF;
    PERFORM set_config('giftcrypto.audit_shard', v_txid::text || ':' || v_head.shard, true);
  END IF;

  v_hash := sha256(convert_to(concat_ws(chr(31),
    v_head.shard::text, (v_head.seq + 1)::text,
    to_char(v_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    v_txid::text, coalesce(v_actor::text, ''), session_user::text, v_table, TG_OP,
    v_row_id, array_to_string(v_columns, ','), v_data::text, encode(v_head.hash, 'hex')), 'UTF8'));
  WITH advanced AS (
    UPDATE audit_chain_heads SET seq = v_head.seq + 1, hash = v_hash, updated_at = v_at
    WHERE shard = v_head.shard
  )
  INSERT INTO audit_log (
    shard, seq, occurred_at, txid, actor_user_id, actor_role, table_name, operation, row_id,
    changed_columns, row_data, prev_hash, hash
  ) VALUES (
    v_head.shard, v_head.seq + 1, v_at, v_txid, v_actor, session_user, v_table, TG_OP, v_row_id,
    v_columns, v_data, v_head.hash, v_hash
  );
  RETURN NULL;
END
$$;

-- 2. ledger_post(): three statements per transfer ------------------------------------------------
CREATE OR REPLACE FUNCTION ledger_post(
  p_debit uuid, p_credit uuid, p_amount numeric, p_type text, p_idempotency_key text, p_owner uuid
) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
  v_tx uuid := gen_random_uuid();
  v_now timestamptz := now();
  v_request bytea;
  v_previous ledger_idempotency_keys;
  v_debit ledger_accounts;
  v_credit ledger_accounts;
  v_row ledger_accounts;
BEGIN
  IF p_amount IS NULL OR p_amount <= 0 OR p_amount <> round(p_amount, 18) THEN
    RAISE EXCEPTION 'transfer amount must be greater than 0 with at most 18 decimals (got %)', p_amount
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_debit IS NULL OR p_credit IS NULL OR p_debit = p_credit THEN
    RAISE EXCEPTION 'a transfer needs two different accounts' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_idempotency_key IS NULL OR char_length(p_idempotency_key) NOT BETWEEN 1 AND 200 THEN
    RAISE EXCEPTION 'a transfer needs an idempotency key of 1 to 200 characters'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  v_request := sha256(convert_to(concat_ws('|', p_debit, p_credit, p_amount::numeric(38, 18), p_type), 'UTF8'));

  -- A concurrent transfer with the same key waits here until the first one ends.
  INSERT INTO ledger_idempotency_keys (key, transaction_id, transaction_created_at, request_hash)
  VALUES (p_idempotency_key, v_tx, v_now, v_request)
  ON CONFLICT (key) DO NOTHING;
  IF NOT FOUND THEN
    SELECT * INTO v_previous FROM ledger_idempotency_keys WHERE key = p_idempotency_key;
    IF v_previous.request_hash <> v_request THEN
      RAISE EXCEPTION 'idempotency key % was already used for a different transfer', p_idempotency_key
        USING ERRCODE = 'GC002';
    END IF;
    RETURN v_previous.transaction_id;
  END IF;

  -- Lock both accounts in id order: no deadlock between concurrent transfers, no lost update.
  FOR v_row IN
    SELECT * FROM ledger_accounts WHERE id IN (p_debit, p_credit) ORDER BY id FOR UPDATE
  LOOP
    IF v_row.id = p_debit THEN v_debit := v_row; ELSE v_credit := v_row; END IF;
  END LOOP;
  IF v_debit.id IS NULL OR (p_owner IS NOT NULL AND v_debit.user_id IS DISTINCT FROM p_owner) THEN
    RAISE EXCEPTION 'source wallet % not found', p_debit USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF v_credit.id IS NULL THEN
    RAISE EXCEPTION 'destination wallet % not found', p_credit USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF v_debit.currency <> v_credit.currency THEN
    RAISE EXCEPTION 'currency mismatch: % to %', v_debit.currency, v_credit.currency
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT v_debit.allow_negative AND v_debit.balance < p_amount THEN
    RAISE EXCEPTION 'insufficient funds: wallet % has % %, transfer of % refused',
      p_debit, v_debit.balance, v_debit.currency, p_amount
      USING ERRCODE = 'GC001';
  END IF;

  -- One statement: the balances, the transactions row and its two entries. Foreign keys, CHECKs
  -- and the balanced-entries trigger run at its end, when all three parts are written.
  WITH moved AS (
    UPDATE ledger_accounts
    SET balance = CASE WHEN id = p_debit THEN balance - p_amount ELSE balance + p_amount END,
        updated_at = v_now
    WHERE id IN (p_debit, p_credit)
  ), recorded AS (
    INSERT INTO transactions (
      id, from_wallet_id, to_wallet_id, transaction_type, currency, amount, status,
      blockchain_network, idempotency_key, created_at, confirmed_at
    ) VALUES (
      v_tx, v_debit.wallet_id, v_credit.wallet_id, p_type, v_debit.currency, p_amount, 'confirmed',
      'internal', p_idempotency_key, v_now, v_now
    )
  )
  INSERT INTO ledger_entries (transaction_id, transaction_created_at, account_id, amount, balance_after)
  VALUES
    (v_tx, v_now, p_debit, -p_amount, v_debit.balance - p_amount),
    (v_tx, v_now, p_credit, p_amount, v_credit.balance + p_amount);
  RETURN v_tx;
END
$$;

-- 3. Balance updates stay on their page ----------------------------------------------------------
ALTER TABLE ledger_accounts SET (fillfactor = 80);

-- 4. The friend list, by keyset --------------------------------------------------------------------
-- Accepted friends of the current user (app.user_id) with an id after p_after, in id order, at most
-- p_limit (up to 500): pass the last id of a page to get the next. Runs with the caller's rights,
-- so row-level security applies; each side is an ordered index-only scan of its accepted-pair
-- index, merged.
CREATE FUNCTION friend_list(p_after uuid DEFAULT NULL, p_limit integer DEFAULT 50)
RETURNS TABLE (friend_id uuid)
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  v_me uuid := nullif(current_setting('app.user_id', true), '')::uuid;
  v_after uuid := coalesce(p_after, '00000000-0000-0000-0000-000000000000');
  v_limit integer := least(coalesce(p_limit, 50), 500);
BEGIN
  IF v_me IS NULL OR v_limit < 1 THEN
    RETURN;
  END IF;
  RETURN QUERY
  SELECT both_sides.friend FROM (
    (SELECT f.user_high AS friend FROM friendships AS f
     WHERE f.user_low = v_me AND f.status = 'accepted' AND f.user_high > v_after
     ORDER BY f.user_high LIMIT v_limit)
    UNION ALL
    (SELECT f.user_low FROM friendships AS f
     WHERE f.user_high = v_me AND f.status = 'accepted' AND f.user_low > v_after
     ORDER BY f.user_low LIMIT v_limit)
  ) AS both_sides
  ORDER BY both_sides.friend
  LIMIT v_limit;
END
$$;
REVOKE ALL ON FUNCTION friend_list(uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION friend_list(uuid, integer) TO app_rw, app_ro;

-- 5. Friend suggestions with their cut-offs --------------------------------------------------------
-- Friends of the current user's friends who are not already connected, by mutual friends, counted
-- through at most 100 of the user's friends (the first 100 by id: a stable sample; everyone but
-- about 0.1% of users has fewer) and never through a friend with more than 200 accepted friends
-- (a "celebrity": being friends with the same celebrity says little, and their friend lists are
-- what made the count cost 142 ms at p95 for the hubs, ADR 0014). Candidates are then checked (no
-- pair with the user, not soft-deleted) in order only until p_limit of them pass.
CREATE OR REPLACE FUNCTION friend_suggestions(p_limit integer DEFAULT 20)
RETURNS TABLE (user_id uuid, mutual_friends bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  v_me uuid := nullif(current_setting('app.user_id', true), '')::uuid;
  v_wanted integer := least(coalesce(p_limit, 20), 100);
  v_found integer := 0;
  v_candidate record;
BEGIN
  IF v_me IS NULL OR v_wanted < 1 THEN
    RETURN;
  END IF;
  FOR v_candidate IN
    WITH mine AS MATERIALIZED (
      SELECT m.friend FROM (
        (SELECT user_high AS friend FROM friendships WHERE user_low = v_me AND status = 'accepted'
         ORDER BY user_high LIMIT 100)
        UNION ALL
        (SELECT user_low FROM friendships WHERE user_high = v_me AND status = 'accepted'
         ORDER BY user_low LIMIT 100)
        ORDER BY 1
        LIMIT 100
      ) AS m
      WHERE EXISTS (SELECT 1 FROM users AS u WHERE u.id = m.friend AND u.deleted_at IS NULL)
    ),
    theirs AS (
      SELECT e.friends FROM mine
      CROSS JOIN LATERAL (
        SELECT array_agg(x.id) AS friends FROM (
          SELECT f.user_high AS id FROM friendships AS f
          WHERE f.user_low = mine.friend AND f.status = 'accepted'
          UNION ALL
          SELECT f.user_low FROM friendships AS f
          WHERE f.user_high = mine.friend AND f.status = 'accepted'
          LIMIT 201
        ) AS x
      ) AS e
      WHERE cardinality(e.friends) <= 200
    )
    SELECT c.id, count(*) AS mutual
    FROM theirs CROSS JOIN LATERAL unnest(theirs.friends) AS c (id)
    WHERE c.id <> v_me
    GROUP BY c.id
    ORDER BY count(*) DESC, c.id
  LOOP
    CONTINUE WHEN EXISTS (
      SELECT 1 FROM friendships AS x
      WHERE x.user_low = least(v_candidate.id, v_me) AND x.user_high = greatest(v_candidate.id, v_me)
    );
    CONTINUE WHEN NOT EXISTS (
      SELECT 1 FROM users AS u WHERE u.id = v_candidate.id AND u.deleted_at IS NULL
    );
    user_id := v_candidate.id;
    mutual_friends := v_candidate.mutual;
    RETURN NEXT;
    v_found := v_found + 1;
    EXIT WHEN v_found >= v_wanted;
  END LOOP;
END
$$;
