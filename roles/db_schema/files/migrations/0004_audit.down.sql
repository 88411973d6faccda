-- Reverts 0004_audit. Dropping the audit trail is a deliberate act of the owner: the
-- append-only guards refuse row changes and TRUNCATE, not DROP.
DROP TRIGGER encryption_keys_audit ON encryption_keys;
DROP TRIGGER friendships_audit ON friendships;
DROP TRIGGER transactions_audit ON transactions;
DROP TRIGGER wallet_accounts_audit ON wallet_accounts;
DROP TRIGGER user_profiles_audit ON user_profiles;
DROP TRIGGER users_audit ON users;
DROP FUNCTION audit_capture();
DROP TABLE audit_log;
DROP TABLE audit_chain_heads;
DROP FUNCTION audit_chain_heads_forward_only();
DROP FUNCTION audit_shard_count();
