-- Tamper-evident audit of every INSERT, UPDATE and DELETE on the core tables.
--
-- Each audit row's hash is sha256 over its content and its predecessor's hash. There is not one
-- chain but audit_shard_count() chains (shards): a transaction writes to the shard chosen by its
-- transaction id, locking only that shard's head row in audit_chain_heads until it commits, so
-- concurrent writers rarely meet. plugins/modules/audit_verify.py recomputes every chain and
-- compares its end with the head row; the heads are what to anchor outside the database.
--
-- Hashed text (fields joined by U+001F, then UTF-8):
--   shard, seq, occurred_at as YYYY-MM-DDTHH:MI:SS.USZ (UTC), txid, actor_user_id or '',
--   actor_role, table_name, operation, row_id, changed_columns joined by ',', row_data::text,
--   hex(prev_hash)
-- PII only ever appears as ciphertext (that is all the tables hold); password_hash and private
-- keys are left out of row_data (their column names still appear in changed_columns).

-- Never queue behind live traffic for long, nor run away (pg_migrate: one transaction).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '10min';

CREATE FUNCTION audit_shard_count() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 16;

CREATE TABLE audit_log (
  shard smallint NOT NULL,
  seq bigint NOT NULL,
  occurred_at timestamptz NOT NULL,
  txid bigint NOT NULL,
  actor_user_id uuid,
  actor_role text NOT NULL,
  table_name text NOT NULL,
  operation text NOT NULL,
  row_id text NOT NULL,
  changed_columns text[] NOT NULL,
  row_data jsonb NOT NULL,
  prev_hash bytea NOT NULL,
  hash bytea NOT NULL,
  CONSTRAINT audit_log_pkey PRIMARY KEY (shard, seq, occurred_at),
  CONSTRAINT audit_log_operation_check CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE')),
  CONSTRAINT audit_log_seq_check CHECK (seq > 0)
) PARTITION BY RANGE (occurred_at);
CREATE INDEX audit_log_row_idx ON audit_log (table_name, row_id);

CREATE TABLE audit_chain_heads (
  shard smallint PRIMARY KEY,
  seq bigint NOT NULL,
  hash bytea NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT audit_chain_heads_seq_check CHECK (seq >= 0)
);
-- Genesis of each chain: seq 0, hash = sha256('giftcrypto-audit-genesis|<shard>').
INSERT INTO audit_chain_heads (shard, seq, hash)
SELECT s, 0, sha256(convert_to('giftcrypto-audit-genesis|' || s, 'UTF8'))
FROM generate_series(0, audit_shard_count() - 1) AS s;

-- Heads only move forward, one step at a time, and are never deleted.
CREATE FUNCTION audit_chain_heads_forward_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.shard <> OLD.shard OR NEW.seq <> OLD.seq + 1 THEN
    RAISE EXCEPTION 'audit chain head of shard % can only advance by one (% -> %)',
      OLD.shard, OLD.seq, NEW.seq
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER audit_chain_heads_forward_only BEFORE UPDATE ON audit_chain_heads
FOR EACH ROW EXECUTE FUNCTION audit_chain_heads_forward_only();
CREATE TRIGGER audit_chain_heads_no_delete BEFORE DELETE ON audit_chain_heads
FOR EACH ROW EXECUTE FUNCTION forbid_modification();
CREATE TRIGGER audit_chain_heads_no_truncate BEFORE TRUNCATE ON audit_chain_heads
FOR EACH STATEMENT EXECUTE FUNCTION forbid_modification();

-- Append-only for every role, owner included: no UPDATE, DELETE or TRUNCATE privilege (revoked
-- from the owner too) and triggers that refuse them anyway. ensure_monthly_partitions() puts the
-- same TRUNCATE trigger and revocation on each partition.
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION forbid_modification();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
FOR EACH STATEMENT EXECUTE FUNCTION forbid_modification();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM CURRENT_USER;
REVOKE DELETE, TRUNCATE ON audit_chain_heads FROM CURRENT_USER;

-- The trigger: TG_ARGV[0] = the key columns (comma-separated) forming row_id, TG_ARGV[1:] =
-- columns left out of row_data.
CREATE FUNCTION audit_capture() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
  v_txid bigint := pg_current_xact_id()::text::bigint;
  v_shard smallint := (v_txid % audit_shard_count())::smallint;
  v_at timestamptz := now();
  v_actor uuid := nullif(current_setting('app.user_id', true), '')::uuid;
  -- a partition (transactions_y2025m01) is audited under its parent's name
  v_table text := regexp_replace(TG_TABLE_NAME, '_y[0-9]{4}m[0-9]{2}$', '');
  v_old jsonb;
  v_new jsonb;
  v_data jsonb;
  v_columns text[];
  v_row jsonb;
  v_row_id text;
  v_head audit_chain_heads;
  v_hash bytea;
BEGIN
  IF TG_OP = 'INSERT' THEN
    v_new := to_jsonb(NEW);
    v_row := v_new;
    v_data := v_new;
    v_columns := ARRAY(SELECT jsonb_object_keys(v_new) ORDER BY 1);
  ELSIF TG_OP = 'UPDATE' THEN
    v_old := to_jsonb(OLD);
    v_new := to_jsonb(NEW);
    v_row := v_new;
    SELECT coalesce(array_agg(n.key ORDER BY n.key), '{}'), coalesce(jsonb_object_agg(n.key, n.value), '{}')
    INTO v_columns, v_data
    FROM jsonb_each(v_new) AS n
    WHERE v_old -> n.key IS DISTINCT FROM n.value;
  ELSE
    v_old := to_jsonb(OLD);
    v_row := v_old;
    v_data := v_old;
    v_columns := ARRAY(SELECT jsonb_object_keys(v_old) ORDER BY 1);
  END IF;
  SELECT string_agg(v_row ->> k, ':' ORDER BY ord) INTO v_row_id
  FROM unnest(string_to_array(TG_ARGV[0], ',')) WITH ORDINALITY AS key_columns (k, ord);
  v_data := v_data - TG_ARGV[1:];

  SELECT * INTO v_head FROM audit_chain_heads WHERE shard = v_shard FOR UPDATE;
  v_hash := sha256(convert_to(concat_ws(chr(31),
    v_shard::text, (v_head.seq + 1)::text,
    to_char(v_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    v_txid::text, coalesce(v_actor::text, ''), session_user::text, v_table, TG_OP,
    v_row_id, array_to_string(v_columns, ','), v_data::text, encode(v_head.hash, 'hex')), 'UTF8'));
  INSERT INTO audit_log (
    shard, seq, occurred_at, txid, actor_user_id, actor_role, table_name, operation, row_id,
    changed_columns, row_data, prev_hash, hash
  ) VALUES (
    v_shard, v_head.seq + 1, v_at, v_txid, v_actor, session_user, v_table, TG_OP, v_row_id,
    v_columns, v_data, v_head.hash, v_hash
  );
  UPDATE audit_chain_heads SET seq = v_head.seq + 1, hash = v_hash, updated_at = v_at
  WHERE shard = v_shard;
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION audit_capture() FROM PUBLIC;

CREATE TRIGGER users_audit AFTER INSERT OR UPDATE OR DELETE ON users
FOR EACH ROW EXECUTE FUNCTION audit_capture('id', 'password_hash');
CREATE TRIGGER user_profiles_audit AFTER INSERT OR UPDATE OR DELETE ON user_profiles
FOR EACH ROW EXECUTE FUNCTION audit_capture('id');
CREATE TRIGGER wallet_accounts_audit AFTER INSERT OR UPDATE OR DELETE ON wallet_accounts
FOR EACH ROW EXECUTE FUNCTION audit_capture('id', 'private_key_ciphertext');
CREATE TRIGGER transactions_audit AFTER INSERT OR UPDATE OR DELETE ON transactions
FOR EACH ROW EXECUTE FUNCTION audit_capture('id');
CREATE TRIGGER friendships_audit AFTER INSERT OR UPDATE OR DELETE ON friendships
FOR EACH ROW EXECUTE FUNCTION audit_capture('id');
CREATE TRIGGER encryption_keys_audit AFTER INSERT OR UPDATE OR DELETE ON encryption_keys
FOR EACH ROW EXECUTE FUNCTION audit_capture('purpose,version', 'wrapped_key');

SELECT ensure_monthly_partitions(3);
