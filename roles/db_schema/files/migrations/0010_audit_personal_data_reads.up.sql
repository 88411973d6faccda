-- Reads of personal data on the record: pgaudit object audit logging (issue 23).
--
-- pgaudit logs a statement as `AUDIT: OBJECT,...,READ,SELECT,TABLE,public.<table>,...` when the
-- role named by the server setting pgaudit.role holds a privilege the statement needs on one of
-- its relations. That role is rds_pgaudit: on RDS the only value pgaudit.role accepts (roles/aws_rds
-- sets it in the parameter group), and locally the same name (roles/postgres_server), so this
-- migration is the same everywhere. The role is NOLOGIN with no members, created by the db_schema
-- role (a cluster-wide object; migrator may not create roles); its privileges here only mark what
-- is audited. The log record names the session user (jsonlog "user") and the table; bind values
-- never reach it (pgaudit.log_parameter stays off).
--
-- Personal data: the tables whose rows belong to one person, those with a row-level policy on
-- app.user_id (0005): account and contact (users), profile (user_profiles), wallets and their
-- keys (wallet_accounts), the friend graph (friendships), money movements and balances
-- (transactions, ledger_accounts, ledger_entries). Not audited: encryption_keys, the idempotency
-- keys, the audit trail and its heads (ciphertext and hashes, read by the auditor only).
--
-- Only SELECT is granted, so reads are what is logged (and writes that read rows: UPDATE or DELETE
-- with a WHERE clause, SELECT ... FOR UPDATE). What pgaudit leaves out by design:
--   * statements inside SECURITY DEFINER functions called by another role (auth_lookup_*,
--     friend_ids and the friend queries, transfer): pgaudit does not log a statement whose current
--     user the session user is not a member of; the same rule drops foreign-key checks. Transfers
--     therefore log nothing here.
--   * partitions: a read through the partitioned table is checked, and so logged, on the parent
--     (pgaudit skips partitions), so the monthly partitions ensure_monthly_partitions() creates
--     later are covered by the grant on transactions. Only the owner (migrator) and superusers
--     can read a partition directly.
-- No default privileges for rds_pgaudit: a new table is audited when a migration grants it, which
-- tests/integration/test_audit_reads.py demands of every table with an app.user_id policy.

-- Never queue behind live traffic for long, nor run away (pg_migrate: one transaction).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '10min';

DO $$
BEGIN
  IF to_regrole('rds_pgaudit') IS NULL THEN
    RAISE EXCEPTION 'role rds_pgaudit does not exist: the db_schema role creates it (NOLOGIN) before the migrations'
      USING ERRCODE = 'undefined_object';
  END IF;
END
$$;

GRANT SELECT ON users, user_profiles, wallet_accounts, friendships, transactions, ledger_accounts,
  ledger_entries TO rds_pgaudit;
