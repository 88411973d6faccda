-- Reverts 0006_keyring_rekey.
DROP POLICY wallet_accounts_rekey ON wallet_accounts;
DROP POLICY wallet_accounts_rekey_read ON wallet_accounts;
DROP POLICY user_profiles_rekey ON user_profiles;
DROP POLICY user_profiles_rekey_read ON user_profiles;
DROP POLICY users_rekey ON users;
