-- Double-entry ledger: balances come from ledger_entries (the source of truth); each account keeps
-- its balance in one row updated in the same transaction as its entries, so reading a balance is
-- one primary-key lookup and a transfer touches two account rows. Model: pgledger (accounts of a
-- transfer locked with SELECT ... FOR UPDATE in id order, so concurrent transfers cannot deadlock;
-- bounds checked under the lock) and TigerBeetle (a transfer id applied at most once).
--
-- The functions that move money are SECURITY DEFINER, owned by the NOLOGIN role app_definer,
-- which has exactly the grants and row-level security policies they need (0005).

-- Never queue behind live traffic for long, nor run away (pg_migrate: one transaction).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '10min';

-- Guard of append-only tables (ledger_entries here, audit_log in 0004): refuses UPDATE, DELETE
-- and TRUNCATE whoever asks, table owner included.
CREATE FUNCTION forbid_modification() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% on %.% is forbidden: the table is append-only',
    TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TABLE ledger_accounts (
  -- a wallet's account has the wallet's id; system accounts (code 'external:ETH'...) a random one
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  wallet_id uuid REFERENCES wallet_accounts (id) ON DELETE RESTRICT,
  user_id uuid REFERENCES users (id) ON DELETE RESTRICT,
  code text,
  currency text NOT NULL,
  balance numeric(38, 18) NOT NULL DEFAULT 0,
  allow_negative boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT ledger_accounts_wallet_id_key UNIQUE (wallet_id),
  CONSTRAINT ledger_accounts_code_key UNIQUE (code),
  CONSTRAINT ledger_accounts_kind_check CHECK ((wallet_id IS NULL) <> (code IS NULL)),
  CONSTRAINT ledger_accounts_wallet_check CHECK (wallet_id IS NULL OR wallet_id = id),
  CONSTRAINT ledger_accounts_owner_check CHECK ((wallet_id IS NULL) = (user_id IS NULL)),
  CONSTRAINT ledger_accounts_code_format_check CHECK (code IS NULL OR code ~ '^[a-z_]+:[A-Z0-9]+$'),
  CONSTRAINT ledger_accounts_currency_check CHECK (currency ~ '^[A-Z][A-Z0-9]{2,9}$'),
  -- user wallets never go below zero; only system accounts (the outside world) may
  CONSTRAINT ledger_accounts_negative_check CHECK (allow_negative OR balance >= 0),
  CONSTRAINT ledger_accounts_wallet_negative_check CHECK (wallet_id IS NULL OR NOT allow_negative)
);
CREATE INDEX ledger_accounts_user_id_idx ON ledger_accounts (user_id);

CREATE TABLE ledger_entries (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  transaction_id uuid NOT NULL,
  transaction_created_at timestamptz NOT NULL,
  account_id uuid NOT NULL REFERENCES ledger_accounts (id) ON DELETE RESTRICT,
  amount numeric(38, 18) NOT NULL,
  balance_after numeric(38, 18) NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT ledger_entries_transaction_fkey FOREIGN KEY (transaction_id, transaction_created_at)
    REFERENCES transactions (id, created_at) ON DELETE RESTRICT,
  CONSTRAINT ledger_entries_amount_check CHECK (amount <> 0)
);
-- Statement of an account, newest first; also the foreign key's index.
CREATE INDEX ledger_entries_account_idx ON ledger_entries (account_id, id DESC);
CREATE INDEX ledger_entries_transaction_idx ON ledger_entries (transaction_id);

-- Every INSERT statement's entries sum to zero per transaction (debits = credits).
CREATE FUNCTION ledger_entries_check_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  unbalanced uuid;
BEGIN
  SELECT transaction_id INTO unbalanced FROM new_entries
  GROUP BY transaction_id HAVING sum(amount) <> 0 LIMIT 1;
  IF unbalanced IS NOT NULL THEN
    RAISE EXCEPTION 'ledger entries of transaction % do not sum to zero', unbalanced
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
REFERENCING NEW TABLE AS new_entries
FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_check_balanced();
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
FOR EACH ROW EXECUTE FUNCTION forbid_modification();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
FOR EACH STATEMENT EXECUTE FUNCTION forbid_modification();

-- One row per idempotency key: the first transfer that inserts it wins; a retry with the same
-- key and the same request gets the first one's transaction id back.
CREATE TABLE ledger_idempotency_keys (
  key text PRIMARY KEY,
  transaction_id uuid NOT NULL,
  transaction_created_at timestamptz NOT NULL,
  request_hash bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT ledger_idempotency_keys_key_check CHECK (char_length(key) BETWEEN 1 AND 200),
  CONSTRAINT ledger_idempotency_keys_transaction_fkey
    FOREIGN KEY (transaction_id, transaction_created_at)
    REFERENCES transactions (id, created_at) ON DELETE RESTRICT
    DEFERRABLE INITIALLY DEFERRED
);

-- A wallet gets its ledger account when it is created; owner and currency never change after.
CREATE FUNCTION wallet_accounts_open_ledger_account() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
  INSERT INTO ledger_accounts (id, wallet_id, user_id, currency)
  VALUES (NEW.id, NEW.id, NEW.user_id, NEW.currency);
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION wallet_accounts_open_ledger_account() FROM PUBLIC;
CREATE TRIGGER wallet_accounts_open_ledger_account AFTER INSERT ON wallet_accounts
FOR EACH ROW EXECUTE FUNCTION wallet_accounts_open_ledger_account();

CREATE FUNCTION wallet_accounts_freeze_owner() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.user_id IS DISTINCT FROM OLD.user_id OR NEW.currency IS DISTINCT FROM OLD.currency
     OR NEW.id IS DISTINCT FROM OLD.id THEN
    RAISE EXCEPTION 'wallet %: id, user_id and currency cannot change', OLD.id
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER wallet_accounts_freeze_owner BEFORE UPDATE ON wallet_accounts
FOR EACH ROW EXECUTE FUNCTION wallet_accounts_freeze_owner();

-- The core of every money movement: p_amount from account p_debit to account p_credit.
-- p_owner, when given, must own the debited account. Returns the transactions row's id.
-- Errors: GC001 insufficient funds, GC002 idempotency key reused for another request,
-- 42501 account not found / not the caller's, 22023 bad argument.
CREATE FUNCTION ledger_post(
  p_debit uuid, p_credit uuid, p_amount numeric, p_type text, p_idempotency_key text, p_owner uuid
) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
  v_tx uuid := gen_random_uuid();
  v_now timestamptz := now();
  v_request bytea;
  v_previous ledger_idempotency_keys;
  v_debit ledger_accounts;
  v_credit ledger_accounts;
  v_row ledger_accounts;
BEGIN
  IF p_amount IS NULL OR p_amount <= 0 OR p_amount <> round(p_amount, 18) THEN
    RAISE EXCEPTION 'transfer amount must be greater than 0 with at most 18 decimals (got %)', p_amount
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_debit IS NULL OR p_credit IS NULL OR p_debit = p_credit THEN
    RAISE EXCEPTION 'a transfer needs two different accounts' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_idempotency_key IS NULL OR char_length(p_idempotency_key) NOT BETWEEN 1 AND 200 THEN
    RAISE EXCEPTION 'a transfer needs an idempotency key of 1 to 200 characters'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  v_request := sha256(convert_to(concat_ws('|', p_debit, p_credit, p_amount::numeric(38, 18), p_type), 'UTF8'));

  -- A concurrent transfer with the same key waits here until the first one ends.
  INSERT INTO ledger_idempotency_keys (key, transaction_id, transaction_created_at, request_hash)
  VALUES (p_idempotency_key, v_tx, v_now, v_request)
  ON CONFLICT (key) DO NOTHING;
  IF NOT FOUND THEN
    SELECT * INTO v_previous FROM ledger_idempotency_keys WHERE key = p_idempotency_key;
    IF v_previous.request_hash <> v_request THEN
      RAISE EXCEPTION 'idempotency key % was already used for a different transfer', p_idempotency_key
        USING ERRCODE = 'GC002';
    END IF;
    RETURN v_previous.transaction_id;
  END IF;

  -- Lock both accounts in id order: no deadlock between concurrent transfers, no lost update.
  FOR v_row IN
    SELECT * FROM ledger_accounts WHERE id IN (p_debit, p_credit) ORDER BY id FOR UPDATE
  LOOP
    IF v_row.id = p_debit THEN v_debit := v_row; ELSE v_credit := v_row; END IF;
  END LOOP;
  IF v_debit.id IS NULL OR (p_owner IS NOT NULL AND v_debit.user_id IS DISTINCT FROM p_owner) THEN
    RAISE EXCEPTION 'source wallet % not found', p_debit USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF v_credit.id IS NULL THEN
    RAISE EXCEPTION 'destination wallet % not found', p_credit USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF v_debit.currency <> v_credit.currency THEN
    RAISE EXCEPTION 'currency mismatch: % to %', v_debit.currency, v_credit.currency
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT v_debit.allow_negative AND v_debit.balance < p_amount THEN
    RAISE EXCEPTION 'insufficient funds: wallet % has % %, transfer of % refused',
      p_debit, v_debit.balance, v_debit.currency, p_amount
      USING ERRCODE = 'GC001';
  END IF;

  UPDATE ledger_accounts
  SET balance = CASE WHEN id = p_debit THEN balance - p_amount ELSE balance + p_amount END,
      updated_at = v_now
  WHERE id IN (p_debit, p_credit);

  INSERT INTO transactions (
    id, from_wallet_id, to_wallet_id, transaction_type, currency, amount, status,
    blockchain_network, idempotency_key, created_at, confirmed_at
  ) VALUES (
    v_tx, v_debit.wallet_id, v_credit.wallet_id, p_type, v_debit.currency, p_amount, 'confirmed',
    'internal', p_idempotency_key, v_now, v_now
  );

  INSERT INTO ledger_entries (transaction_id, transaction_created_at, account_id, amount, balance_after)
  VALUES
    (v_tx, v_now, p_debit, -p_amount, v_debit.balance - p_amount),
    (v_tx, v_now, p_credit, p_amount, v_credit.balance + p_amount);
  RETURN v_tx;
END
$$;
REVOKE ALL ON FUNCTION ledger_post(uuid, uuid, numeric, text, text, uuid) FROM PUBLIC;

-- What the application calls: moves p_amount from a wallet of the current user (app.user_id,
-- set per transaction with set_config('app.user_id', ..., true)) to any wallet.
CREATE FUNCTION transfer(
  p_from_wallet uuid, p_to_wallet uuid, p_amount numeric, p_idempotency_key text,
  p_type text DEFAULT 'transfer'
) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
  v_user uuid := nullif(current_setting('app.user_id', true), '')::uuid;
BEGIN
  IF v_user IS NULL THEN
    RAISE EXCEPTION 'transfer needs app.user_id: set_config(''app.user_id'', <user uuid>, true)'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF p_type NOT IN ('transfer', 'gift') THEN
    RAISE EXCEPTION 'transfer type must be transfer or gift (got %)', p_type
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN ledger_post(p_from_wallet, p_to_wallet, p_amount, p_type, p_idempotency_key, v_user);
END
$$;
REVOKE ALL ON FUNCTION transfer(uuid, uuid, numeric, text, text) FROM PUBLIC;

-- Credits a wallet from the outside world (an on-chain deposit): the system account
-- 'external:<currency>' is debited and may go negative. Not for the application roles.
CREATE FUNCTION ledger_deposit(p_to_wallet uuid, p_amount numeric, p_idempotency_key text)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
  v_currency text;
  v_external uuid;
BEGIN
  SELECT currency INTO v_currency FROM ledger_accounts WHERE id = p_to_wallet AND wallet_id IS NOT NULL;
  IF v_currency IS NULL THEN
    RAISE EXCEPTION 'destination wallet % not found', p_to_wallet USING ERRCODE = 'insufficient_privilege';
  END IF;
  INSERT INTO ledger_accounts (code, currency, allow_negative)
  VALUES ('external:' || v_currency, v_currency, true)
  ON CONFLICT (code) DO NOTHING;
  SELECT id INTO v_external FROM ledger_accounts WHERE code = 'external:' || v_currency;
  RETURN ledger_post(v_external, p_to_wallet, p_amount, 'deposit', p_idempotency_key, NULL);
END
$$;
REVOKE ALL ON FUNCTION ledger_deposit(uuid, numeric, text) FROM PUBLIC;

-- The last p_limit transactions of a wallet (either side), newest first, keyset-paged: pass
-- the (created_at, id) of the last row of a page to get the next. Runs with the caller's rights,
-- so row-level security applies. Each side is an ordered scan of its own index, merged.
CREATE FUNCTION wallet_transactions(
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
