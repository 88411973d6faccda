-- Reverts 0007_query_plans: the definitions of 0003_ledger (wallet_transactions) and
-- 0005_access_control (mutual_friends, friend_suggestions), verbatim.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '10min';

CREATE OR REPLACE FUNCTION wallet_transactions(
  p_wallet uuid, p_before_created_at timestamptz DEFAULT 'infinity', p_before_id uuid DEFAULT NULL,
  p_limit integer DEFAULT 50
) RETURNS SETOF transactions
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
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
  LIMIT least(p_limit, 500)
$$;

CREATE OR REPLACE FUNCTION mutual_friends(p_other uuid) RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
  SELECT friend_ids(nullif(current_setting('app.user_id', true), '')::uuid)
  INTERSECT
  SELECT friend_ids(p_other)
$$;

CREATE OR REPLACE FUNCTION friend_suggestions(p_limit integer DEFAULT 20)
RETURNS TABLE (user_id uuid, mutual_friends bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
  WITH me AS (SELECT nullif(current_setting('app.user_id', true), '')::uuid AS id),
  mine AS (SELECT friend_ids((SELECT id FROM me)) AS id)
  SELECT fof.id, count(*) AS mutual_friends
  FROM mine CROSS JOIN LATERAL friend_ids(mine.id) AS fof (id)
  WHERE fof.id <> (SELECT id FROM me)
    AND fof.id NOT IN (SELECT id FROM mine)
    AND NOT EXISTS (
      SELECT 1 FROM friendships AS f
      WHERE f.user_low = least(fof.id, (SELECT id FROM me))
        AND f.user_high = greatest(fof.id, (SELECT id FROM me))
    )
  GROUP BY fof.id
  ORDER BY count(*) DESC, fof.id
  LIMIT least(p_limit, 100)
$$;
