-- Reverts 0003_ledger.
DROP FUNCTION wallet_transactions(uuid, timestamptz, uuid, integer);
DROP FUNCTION ledger_deposit(uuid, numeric, text);
DROP FUNCTION transfer(uuid, uuid, numeric, text, text);
DROP FUNCTION ledger_post(uuid, uuid, numeric, text, text, uuid);
DROP TRIGGER wallet_accounts_freeze_owner ON wallet_accounts;
DROP FUNCTION wallet_accounts_freeze_owner();
DROP TRIGGER wallet_accounts_open_ledger_account ON wallet_accounts;
DROP FUNCTION wallet_accounts_open_ledger_account();
DROP TABLE ledger_idempotency_keys;
DROP TABLE ledger_entries;
DROP FUNCTION ledger_entries_check_balanced();
DROP TABLE ledger_accounts;
DROP FUNCTION forbid_modification();
