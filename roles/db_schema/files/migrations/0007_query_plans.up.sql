-- Read paths measured by the database benchmark (issue 5, docs/benchmarks.md): same signatures,
-- grants and results, cheaper plans.
--
-- pgBouncer pools transactions, so the application cannot keep server-side prepared statements:
-- a plain statement is planned on every call. A PL/pgSQL function keeps the plans of its queries
-- for the life of the server connection, which pgBouncer keeps open; plan_cache_mode =
-- force_generic_plan makes it use the cached (generic) plan from the first call instead of
-- re-planning five times per connection. That matters most for wallet_transactions: its plan
-- covers every monthly partition of transactions on both sides (planning cost > execution cost).
--
-- mutual_friends and friend_suggestions were SQL functions calling friend_ids() once per friend
-- (a planned statement each) and checking every friend against users before intersecting; they
-- now work set-based on the accepted-pair indexes (index-only scans), walk the friend list of the
-- side with fewer friends, and check users (soft deletion) only for the rows they return.

-- Never queue behind live traffic for long, nor run away (pg_migrate: one transaction).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '10min';

CREATE OR REPLACE FUNCTION wallet_transactions(
  p_wallet uuid, p_before_created_at timestamptz DEFAULT 'infinity', p_before_id uuid DEFAULT NULL,
  p_limit integer DEFAULT 50
) RETURNS SETOF transactions
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
  RETURN QUERY
  SELECT * FROM (
    (SELECT * FROM transactions
     WHERE from_wallet_id = p_wallet
       AND (created_at, id) < (p_before_created_at, coalesce(p_before_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
     ORDER BY created_at DESC, id DESC LIMIT least(p_limit, 500))
    UNION ALL
    (SELECT * FROM transactions
     WHERE to_wallet_id = p_wallet
       AND (created_at, id) < (p_before_created_at, coalesce(p_before_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
     ORDER BY created_at DESC, id DESC LIMIT least(p_limit, 500))
  ) AS both_sides
  ORDER BY created_at DESC, id DESC
  LIMIT least(p_limit, 500);
END
$$;

-- Mutual friends of the current user (app.user_id) and p_other: the friend list of the side with
-- fewer friends (counted up to 1,000), each probed against the other side's accepted pair.
CREATE OR REPLACE FUNCTION mutual_friends(p_other uuid) RETURNS SETOF uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  v_me uuid := nullif(current_setting('app.user_id', true), '')::uuid;
  v_walk uuid;
  v_probe uuid;
  v_mine integer;
  v_theirs integer;
BEGIN
  IF v_me IS NULL OR p_other IS NULL THEN
    RETURN;
  END IF;
  SELECT count(*) INTO v_mine FROM (
    SELECT 1 FROM friendships WHERE user_low = v_me AND status = 'accepted'
    UNION ALL
    SELECT 1 FROM friendships WHERE user_high = v_me AND status = 'accepted'
    LIMIT 1000
  ) AS f;
  SELECT count(*) INTO v_theirs FROM (
    SELECT 1 FROM friendships WHERE user_low = p_other AND status = 'accepted'
    UNION ALL
    SELECT 1 FROM friendships WHERE user_high = p_other AND status = 'accepted'
    LIMIT 1000
  ) AS f;
  IF v_mine <= v_theirs THEN
    v_walk := v_me;
    v_probe := p_other;
  ELSE
    v_walk := p_other;
    v_probe := v_me;
  END IF;
  RETURN QUERY
  SELECT f.friend FROM (
    SELECT user_high AS friend FROM friendships WHERE user_low = v_walk AND status = 'accepted'
    UNION ALL
    SELECT user_low FROM friendships WHERE user_high = v_walk AND status = 'accepted'
  ) AS f
  WHERE EXISTS (
      SELECT 1 FROM friendships AS p
      WHERE p.user_low = least(f.friend, v_probe) AND p.user_high = greatest(f.friend, v_probe)
        AND p.status = 'accepted'
    )
    AND EXISTS (SELECT 1 FROM users AS u WHERE u.id = f.friend AND u.deleted_at IS NULL);
END
$$;

-- Friends of the current user's friends who are not already connected, by mutual friends: the
-- candidates are counted set-based and sorted, then checked (no pair with the user, not
-- soft-deleted) in that order only until p_limit of them pass.
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
        SELECT user_high AS friend FROM friendships WHERE user_low = v_me AND status = 'accepted'
        UNION ALL
        SELECT user_low FROM friendships WHERE user_high = v_me AND status = 'accepted'
      ) AS m
      WHERE EXISTS (SELECT 1 FROM users AS u WHERE u.id = m.friend AND u.deleted_at IS NULL)
    )
    SELECT c.id, count(*) AS mutual
    FROM (
      SELECT f.user_high AS id FROM mine JOIN friendships AS f ON f.user_low = mine.friend
      WHERE f.status = 'accepted'
      UNION ALL
      SELECT f.user_low FROM mine JOIN friendships AS f ON f.user_high = mine.friend
      WHERE f.status = 'accepted'
    ) AS c
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
