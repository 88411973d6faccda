-- Key rotation (pii_keyring state=rotated reencrypt=true) re-encrypts every PII column and
-- recomputes every blind index as migrator. FORCE ROW LEVEL SECURITY applies to migrator too, so
-- it gets exactly that: read and rewrite the encrypted columns of every row, nothing else new.
-- The application roles are untouched: they still see only the rows of app.user_id.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '10min';

CREATE POLICY users_rekey ON users FOR UPDATE TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY user_profiles_rekey_read ON user_profiles FOR SELECT TO CURRENT_USER USING (true);
CREATE POLICY user_profiles_rekey ON user_profiles FOR UPDATE TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY wallet_accounts_rekey_read ON wallet_accounts FOR SELECT TO CURRENT_USER USING (true);
CREATE POLICY wallet_accounts_rekey ON wallet_accounts FOR UPDATE TO CURRENT_USER USING (true) WITH CHECK (true);
