-- Reverts 0001_core_tables.
DROP TABLE encryption_keys;
DROP TABLE friendships;
DROP TABLE wallet_accounts;
DROP TABLE user_profiles;
DROP TABLE users;
DROP FUNCTION set_updated_at();
DROP FUNCTION is_envelope_ciphertext(bytea);
