-- Least privilege and row-level security. Roles (created by the db_schema role, not here, since
-- roles are cluster-wide):
--   migrator     LOGIN, owns every object, runs the migrations and owns the SECURITY DEFINER
--                functions (transfer, lookups, the audit and ledger triggers). FORCE ROW LEVEL
--                SECURITY applies to it too: its policies (`*_definer`, TO CURRENT_USER) grant
--                exactly what those functions read and write, so owning users does not mean
--                reading them
--   app_rw       LOGIN, the application: reads/writes the rows of the user in app.user_id
--   app_ro       LOGIN, read-only replica traffic: reads the rows of the user in app.user_id
--   auditor      LOGIN, reads the audit trail (audit_log, audit_chain_heads) and nothing else
-- None of them has BYPASSRLS. app.user_id is set per transaction (set_config('app.user_id',
-- <uuid>, true) or SET LOCAL) because pgBouncer pools transactions. Every policy reads it in a
-- scalar subquery, so it is evaluated once per query (an InitPlan), not once per row.

-- Never queue behind live traffic for long, nor run away (pg_migrate: one transaction).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '10min';

-- Login and lookup before a user id is known: the blind index finds the account.
CREATE FUNCTION auth_lookup_email(p_email_bidx bytea)
RETURNS TABLE (user_id uuid, password_hash text, email_verified boolean, kyc_status text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
  SELECT id, password_hash, email_verified, kyc_status FROM users
  WHERE email_bidx = p_email_bidx AND deleted_at IS NULL
$$;

CREATE FUNCTION auth_lookup_phone(p_phone_bidx bytea)
RETURNS TABLE (user_id uuid, password_hash text, phone_verified boolean, kyc_status text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
  SELECT id, password_hash, phone_verified, kyc_status FROM users
  WHERE phone_bidx = p_phone_bidx AND deleted_at IS NULL
$$;

-- Accepted friends of a user (either side of the pair), excluding soft-deleted users.
CREATE FUNCTION friend_ids(p_user uuid) RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
  SELECT f.friend FROM (
    SELECT user_high AS friend FROM friendships WHERE user_low = p_user AND status = 'accepted'
    UNION ALL
    SELECT user_low FROM friendships WHERE user_high = p_user AND status = 'accepted'
  ) AS f
  JOIN users AS u ON u.id = f.friend AND u.deleted_at IS NULL
$$;

-- Mutual friends of the current user (app.user_id) and p_other.
CREATE FUNCTION mutual_friends(p_other uuid) RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
  SELECT friend_ids(nullif(current_setting('app.user_id', true), '')::uuid)
  INTERSECT
  SELECT friend_ids(p_other)
$$;

-- Friends of the current user's friends who are not already connected, by mutual friends.
CREATE FUNCTION friend_suggestions(p_limit integer DEFAULT 20)
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

-- Views the application reads: soft-deleted users (deleted_at set) disappear from them. They
-- run with the caller's rights (security_invoker), so row-level security applies through them.
CREATE VIEW active_users WITH (security_invoker = true, security_barrier = true) AS
SELECT id, email_ciphertext, email_bidx, phone_ciphertext, phone_bidx, password_hash, email_verified,
  phone_verified, kyc_status, created_at, updated_at
FROM users WHERE deleted_at IS NULL;

CREATE VIEW active_user_profiles WITH (security_invoker = true, security_barrier = true) AS
SELECT p.* FROM user_profiles AS p
WHERE EXISTS (SELECT 1 FROM users AS u WHERE u.id = p.user_id AND u.deleted_at IS NULL);

CREATE VIEW active_wallet_accounts WITH (security_invoker = true, security_barrier = true) AS
SELECT w.* FROM wallet_accounts AS w
WHERE EXISTS (SELECT 1 FROM users AS u WHERE u.id = w.user_id AND u.deleted_at IS NULL);

-- A friendship shows only while both sides are active; the caller sees only their own pairs,
-- so the other side's deletion is checked through a definer function.
CREATE FUNCTION user_is_active(p_user uuid) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
  SELECT EXISTS (SELECT 1 FROM users WHERE id = p_user AND deleted_at IS NULL)
$$;

CREATE VIEW active_friendships WITH (security_invoker = true, security_barrier = true) AS
SELECT f.* FROM friendships AS f
WHERE user_is_active(f.requester_id) AND user_is_active(f.addressee_id);

-- Functions are executable by PUBLIC by default: not these.
REVOKE ALL ON FUNCTION auth_lookup_email(bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION auth_lookup_phone(bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION friend_ids(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION mutual_friends(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION friend_suggestions(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION user_is_active(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION wallet_transactions(uuid, timestamptz, uuid, integer) FROM PUBLIC;

-- The application.
GRANT SELECT, INSERT, UPDATE, DELETE ON users, user_profiles, friendships TO app_rw;
GRANT SELECT, INSERT ON wallet_accounts TO app_rw;
GRANT UPDATE (wallet_type, private_key_ciphertext, public_key) ON wallet_accounts TO app_rw;
GRANT SELECT ON transactions, ledger_accounts, ledger_entries, encryption_keys TO app_rw;
GRANT SELECT ON active_users, active_user_profiles, active_wallet_accounts, active_friendships TO app_rw;
GRANT EXECUTE ON FUNCTION transfer(uuid, uuid, numeric, text, text) TO app_rw;
GRANT EXECUTE ON FUNCTION auth_lookup_email(bytea), auth_lookup_phone(bytea) TO app_rw;

GRANT SELECT ON users, user_profiles, friendships, wallet_accounts, transactions, ledger_accounts,
  ledger_entries, encryption_keys TO app_ro;
GRANT SELECT ON active_users, active_user_profiles, active_wallet_accounts, active_friendships TO app_ro;

GRANT EXECUTE ON FUNCTION mutual_friends(uuid), friend_suggestions(integer), user_is_active(uuid),
  wallet_transactions(uuid, timestamptz, uuid, integer) TO app_rw, app_ro;

-- The auditor reads the trail and its heads, nothing else.
GRANT SELECT ON audit_log, audit_chain_heads TO auditor;

-- Row-level security on every user-owned table, forced for the owner too.
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_own_row ON users FOR ALL TO app_rw, app_ro
USING (id = (SELECT nullif(current_setting('app.user_id', true), '')::uuid))
WITH CHECK (id = (SELECT nullif(current_setting('app.user_id', true), '')::uuid));
CREATE POLICY users_definer ON users FOR SELECT TO CURRENT_USER USING (true);

ALTER TABLE user_profiles ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_profiles FORCE ROW LEVEL SECURITY;
CREATE POLICY user_profiles_own_row ON user_profiles FOR ALL TO app_rw, app_ro
USING (user_id = (SELECT nullif(current_setting('app.user_id', true), '')::uuid))
WITH CHECK (user_id = (SELECT nullif(current_setting('app.user_id', true), '')::uuid));

ALTER TABLE wallet_accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE wallet_accounts FORCE ROW LEVEL SECURITY;
CREATE POLICY wallet_accounts_own_row ON wallet_accounts FOR ALL TO app_rw, app_ro
USING (user_id = (SELECT nullif(current_setting('app.user_id', true), '')::uuid))
WITH CHECK (user_id = (SELECT nullif(current_setting('app.user_id', true), '')::uuid));

-- Either side of a pair sees it and may answer or remove it; only the requester creates it.
ALTER TABLE friendships ENABLE ROW LEVEL SECURITY;
ALTER TABLE friendships FORCE ROW LEVEL SECURITY;
CREATE POLICY friendships_either_side ON friendships FOR SELECT TO app_rw, app_ro
USING ((SELECT nullif(current_setting('app.user_id', true), '')::uuid) IN (user_low, user_high));
CREATE POLICY friendships_request ON friendships FOR INSERT TO app_rw
WITH CHECK (requester_id = (SELECT nullif(current_setting('app.user_id', true), '')::uuid));
CREATE POLICY friendships_answer ON friendships FOR UPDATE TO app_rw
USING ((SELECT nullif(current_setting('app.user_id', true), '')::uuid) IN (user_low, user_high))
WITH CHECK ((SELECT nullif(current_setting('app.user_id', true), '')::uuid) IN (user_low, user_high));
CREATE POLICY friendships_remove ON friendships FOR DELETE TO app_rw
USING ((SELECT nullif(current_setting('app.user_id', true), '')::uuid) IN (user_low, user_high));
CREATE POLICY friendships_definer ON friendships FOR SELECT TO CURRENT_USER USING (true);

ALTER TABLE ledger_accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE ledger_accounts FORCE ROW LEVEL SECURITY;
CREATE POLICY ledger_accounts_own_row ON ledger_accounts FOR SELECT TO app_rw, app_ro
USING (user_id = (SELECT nullif(current_setting('app.user_id', true), '')::uuid));
CREATE POLICY ledger_accounts_definer ON ledger_accounts FOR ALL TO CURRENT_USER
USING (true) WITH CHECK (true);

-- Entries and transactions belong to the user through their wallets: the user's wallet ids are
-- computed once per query, and the account / wallet indexes serve the filter.
ALTER TABLE ledger_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE ledger_entries FORCE ROW LEVEL SECURITY;
CREATE POLICY ledger_entries_own_row ON ledger_entries FOR SELECT TO app_rw, app_ro
USING (account_id = ANY ((
  SELECT array_agg(w.id) FROM wallet_accounts AS w
  WHERE w.user_id = (SELECT nullif(current_setting('app.user_id', true), '')::uuid)
)::uuid []));
CREATE POLICY ledger_entries_definer ON ledger_entries FOR ALL TO CURRENT_USER
USING (true) WITH CHECK (true);

ALTER TABLE transactions ENABLE ROW LEVEL SECURITY;
ALTER TABLE transactions FORCE ROW LEVEL SECURITY;
CREATE POLICY transactions_own_row ON transactions FOR SELECT TO app_rw, app_ro
USING (
  from_wallet_id = ANY ((
    SELECT array_agg(w.id) FROM wallet_accounts AS w
    WHERE w.user_id = (SELECT nullif(current_setting('app.user_id', true), '')::uuid)
  )::uuid [])
  OR to_wallet_id = ANY ((
    SELECT array_agg(w.id) FROM wallet_accounts AS w
    WHERE w.user_id = (SELECT nullif(current_setting('app.user_id', true), '')::uuid)
  )::uuid [])
);
CREATE POLICY transactions_definer ON transactions FOR ALL TO CURRENT_USER
USING (true) WITH CHECK (true);

ALTER TABLE ledger_idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE ledger_idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY ledger_idempotency_keys_definer ON ledger_idempotency_keys FOR ALL TO CURRENT_USER
USING (true) WITH CHECK (true);
