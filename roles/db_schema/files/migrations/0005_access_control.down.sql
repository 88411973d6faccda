-- Reverts 0005_access_control.
DROP POLICY ledger_idempotency_keys_definer ON ledger_idempotency_keys;
ALTER TABLE ledger_idempotency_keys NO FORCE ROW LEVEL SECURITY;
ALTER TABLE ledger_idempotency_keys DISABLE ROW LEVEL SECURITY;
DROP POLICY transactions_definer ON transactions;
DROP POLICY transactions_own_row ON transactions;
ALTER TABLE transactions NO FORCE ROW LEVEL SECURITY;
ALTER TABLE transactions DISABLE ROW LEVEL SECURITY;
DROP POLICY ledger_entries_definer ON ledger_entries;
DROP POLICY ledger_entries_own_row ON ledger_entries;
ALTER TABLE ledger_entries NO FORCE ROW LEVEL SECURITY;
ALTER TABLE ledger_entries DISABLE ROW LEVEL SECURITY;
DROP POLICY ledger_accounts_definer ON ledger_accounts;
DROP POLICY ledger_accounts_own_row ON ledger_accounts;
ALTER TABLE ledger_accounts NO FORCE ROW LEVEL SECURITY;
ALTER TABLE ledger_accounts DISABLE ROW LEVEL SECURITY;
DROP POLICY friendships_definer ON friendships;
DROP POLICY friendships_remove ON friendships;
DROP POLICY friendships_answer ON friendships;
DROP POLICY friendships_request ON friendships;
DROP POLICY friendships_either_side ON friendships;
ALTER TABLE friendships NO FORCE ROW LEVEL SECURITY;
ALTER TABLE friendships DISABLE ROW LEVEL SECURITY;
DROP POLICY wallet_accounts_own_row ON wallet_accounts;
ALTER TABLE wallet_accounts NO FORCE ROW LEVEL SECURITY;
ALTER TABLE wallet_accounts DISABLE ROW LEVEL SECURITY;
DROP POLICY user_profiles_own_row ON user_profiles;
ALTER TABLE user_profiles NO FORCE ROW LEVEL SECURITY;
ALTER TABLE user_profiles DISABLE ROW LEVEL SECURITY;
DROP POLICY users_definer ON users;
DROP POLICY users_own_row ON users;
ALTER TABLE users NO FORCE ROW LEVEL SECURITY;
ALTER TABLE users DISABLE ROW LEVEL SECURITY;

REVOKE ALL ON audit_log, audit_chain_heads FROM auditor;
REVOKE ALL ON users, user_profiles, friendships, wallet_accounts, transactions, ledger_accounts,
  ledger_entries, encryption_keys, active_users, active_user_profiles, active_wallet_accounts,
  active_friendships FROM app_rw, app_ro;
REVOKE EXECUTE ON FUNCTION transfer(uuid, uuid, numeric, text, text), auth_lookup_email(bytea),
  auth_lookup_phone(bytea), mutual_friends(uuid), friend_suggestions(integer), user_is_active(uuid),
  wallet_transactions(uuid, timestamptz, uuid, integer) FROM app_rw, app_ro;

GRANT EXECUTE ON FUNCTION wallet_transactions(uuid, timestamptz, uuid, integer) TO PUBLIC;

DROP VIEW active_friendships;
DROP FUNCTION user_is_active(uuid);
DROP VIEW active_wallet_accounts;
DROP VIEW active_user_profiles;
DROP VIEW active_users;
DROP FUNCTION friend_suggestions(integer);
DROP FUNCTION mutual_friends(uuid);
DROP FUNCTION friend_ids(uuid);
DROP FUNCTION auth_lookup_phone(bytea);
DROP FUNCTION auth_lookup_email(bytea);
