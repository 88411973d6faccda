-- Reverts 0010_audit_personal_data_reads: reads of personal data are no longer object-audited
-- (the role rds_pgaudit stays: it is the db_schema role's, like the login roles).
REVOKE ALL ON users, user_profiles, wallet_accounts, friendships, transactions, ledger_accounts,
  ledger_entries FROM rds_pgaudit;
