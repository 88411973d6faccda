-- Story 1.4's transactions, partitioned by month, and the function that keeps the monthly
-- partitions of every range-partitioned table of the schema created ahead of time.

-- Never queue behind live traffic for long, nor run away (pg_migrate: one transaction).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '10min';

-- Creates the partitions [month, month + 1) from the current month (UTC) to months_ahead months
-- later for every table partitioned by RANGE on one column of this schema; returns the names of
-- those it created (none on a re-run). Partitions of append-only tables (audit_log) get the
-- same guards as their parent: statement-level TRUNCATE triggers are not inherited.
CREATE FUNCTION ensure_monthly_partitions(months_ahead integer DEFAULT 3) RETURNS text[]
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
  parent record;
  month_start date;
  partition_name text;
  created text[] := '{}';
BEGIN
  IF months_ahead IS NULL OR months_ahead < 0 OR months_ahead > 36 THEN
    RAISE EXCEPTION 'months_ahead must be between 0 and 36 (got %)', months_ahead
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOR parent IN
    SELECT c.relname
    FROM pg_partitioned_table p
    JOIN pg_class c ON c.oid = p.partrelid
    WHERE c.relnamespace = 'public'::regnamespace AND p.partstrat = 'r' AND p.partnatts = 1
    ORDER BY c.relname
  LOOP
    FOR i IN 0..months_ahead LOOP
      month_start := (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i))::date;
      partition_name := format('%s_y%sm%s', parent.relname,
        to_char(month_start, 'YYYY'), to_char(month_start, 'MM'));
      CONTINUE WHEN to_regclass(format('public.%I', partition_name)) IS NOT NULL;
      EXECUTE format(
        'CREATE TABLE public.%I PARTITION OF public.%I FOR VALUES FROM (%L) TO (%L)',
        partition_name, parent.relname,
        month_start::text || ' 00:00:00+00',
        (month_start + interval '1 month')::date::text || ' 00:00:00+00');
      IF parent.relname = 'audit_log' THEN
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON public.%I FROM CURRENT_USER', partition_name);
        EXECUTE format(
          'CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON public.%I '
          'FOR EACH STATEMENT EXECUTE FUNCTION forbid_modification()', partition_name);
      END IF;
      created := created || partition_name;
    END LOOP;
  END LOOP;
  RETURN created;
END
$$;
REVOKE ALL ON FUNCTION ensure_monthly_partitions(integer) FROM PUBLIC;

CREATE TABLE transactions (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  from_wallet_id uuid REFERENCES wallet_accounts (id) ON DELETE RESTRICT,
  to_wallet_id uuid REFERENCES wallet_accounts (id) ON DELETE RESTRICT,
  transaction_hash text,
  transaction_type text NOT NULL,
  currency text NOT NULL,
  amount numeric(38, 18) NOT NULL,
  status text NOT NULL DEFAULT 'pending',
  blockchain_network text NOT NULL DEFAULT 'ethereum',
  gas_fee numeric(38, 18),
  idempotency_key text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  confirmed_at timestamptz,
  CONSTRAINT transactions_pkey PRIMARY KEY (id, created_at),
  CONSTRAINT transactions_amount_check CHECK (amount > 0),
  CONSTRAINT transactions_gas_fee_check CHECK (gas_fee IS NULL OR gas_fee >= 0),
  CONSTRAINT transactions_currency_check CHECK (currency ~ '^[A-Z][A-Z0-9]{2,9}$'),
  CONSTRAINT transactions_type_check CHECK (
    transaction_type IN ('transfer', 'gift', 'deposit', 'withdrawal', 'fee')
  ),
  CONSTRAINT transactions_status_check CHECK (
    status IN ('pending', 'confirmed', 'failed', 'cancelled')
  ),
  CONSTRAINT transactions_network_check CHECK (blockchain_network ~ '^[a-z][a-z0-9_-]{1,31}$'),
  CONSTRAINT transactions_hash_check CHECK (
    transaction_hash IS NULL OR transaction_hash ~ '^0x[0-9a-f]{64}$'
  ),
  CONSTRAINT transactions_wallets_check CHECK (
    (from_wallet_id IS NOT NULL OR to_wallet_id IS NOT NULL)
    AND from_wallet_id IS DISTINCT FROM to_wallet_id
  ),
  CONSTRAINT transactions_confirmed_check CHECK ((status = 'confirmed') = (confirmed_at IS NOT NULL)),
  CONSTRAINT transactions_idempotency_key_check CHECK (
    idempotency_key IS NULL OR char_length(idempotency_key) BETWEEN 1 AND 200
  )
) PARTITION BY RANGE (created_at);

-- The last 50 transactions of a wallet with keyset paging on (created_at, id), either side
-- (see wallet_transactions() in 0003); also the indexes of the two foreign keys.
CREATE INDEX transactions_from_wallet_idx ON transactions (from_wallet_id, created_at DESC, id DESC);
CREATE INDEX transactions_to_wallet_idx ON transactions (to_wallet_id, created_at DESC, id DESC);

CREATE TRIGGER transactions_set_updated_at BEFORE UPDATE ON transactions
FOR EACH ROW EXECUTE FUNCTION set_updated_at();

SELECT ensure_monthly_partitions(3);
