-- Story 1.4's five tables, hardened, plus the keyring table of the PII encryption.
--
-- PII is stored only as ciphertext written by plugins/module_utils/envelope.py:
--   0x01 | key version (uint32 big-endian) | 12-byte nonce | AES-256-GCM ciphertext + 16-byte tag
-- so a row on key version N is found with substring(col from 2 for 4) = int4send(N).
-- Unique lookups on encrypted values go through blind indexes: HMAC-SHA256 under the
-- blind_index key (encryption_keys.purpose = 'blind_index'), never through the ciphertext.
-- Objects are owned by the role that runs pg_migrate (migrator); grants and row-level security
-- are in 0005_access_control.

-- Never queue behind live traffic for long, nor run away (pg_migrate: one transaction).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '10min';

-- The shape of an envelope ciphertext: version byte 0x01 and at least header + nonce + tag.
-- A CHECK built on it refuses plaintext written by mistake.
CREATE FUNCTION is_envelope_ciphertext(value bytea) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN octet_length(value) >= 33 AND get_byte(value, 0) = 1;

CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

CREATE TABLE users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email_ciphertext bytea NOT NULL,
  email_bidx bytea NOT NULL,
  phone_ciphertext bytea,
  phone_bidx bytea,
  password_hash text NOT NULL,
  email_verified boolean NOT NULL DEFAULT false,
  phone_verified boolean NOT NULL DEFAULT false,
  kyc_status text NOT NULL DEFAULT 'pending',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  CONSTRAINT users_email_bidx_key UNIQUE (email_bidx),
  CONSTRAINT users_phone_bidx_key UNIQUE (phone_bidx),
  CONSTRAINT users_email_ciphertext_check CHECK (is_envelope_ciphertext(email_ciphertext)),
  CONSTRAINT users_phone_ciphertext_check CHECK (
    phone_ciphertext IS NULL OR is_envelope_ciphertext(phone_ciphertext)
  ),
  CONSTRAINT users_email_bidx_check CHECK (octet_length(email_bidx) >= 32),
  CONSTRAINT users_phone_bidx_check CHECK (phone_bidx IS NULL OR octet_length(phone_bidx) >= 32),
  CONSTRAINT users_phone_pair_check CHECK ((phone_ciphertext IS NULL) = (phone_bidx IS NULL)),
  CONSTRAINT users_phone_verified_check CHECK (NOT phone_verified OR phone_ciphertext IS NOT NULL),
  CONSTRAINT users_password_hash_check CHECK (char_length(password_hash) BETWEEN 20 AND 1024),
  CONSTRAINT users_kyc_status_check CHECK (
    kyc_status IN ('pending', 'in_review', 'verified', 'rejected')
  ),
  CONSTRAINT users_deleted_at_check CHECK (deleted_at IS NULL OR deleted_at >= created_at)
);
COMMENT ON TABLE users IS 'Accounts. PII as envelope ciphertext; email/phone unique through HMAC blind indexes.';

-- KYC review queue, paged by (created_at, id), soft-deleted users excluded.
CREATE INDEX users_kyc_queue_idx ON users (created_at, id)
WHERE kyc_status IN ('pending', 'in_review') AND deleted_at IS NULL;

CREATE TRIGGER users_set_updated_at BEFORE UPDATE ON users
FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE user_profiles (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  first_name_ciphertext bytea NOT NULL,
  last_name_ciphertext bytea NOT NULL,
  date_of_birth_ciphertext bytea NOT NULL,
  display_name text NOT NULL,
  avatar_url text,
  birthday_public boolean NOT NULL DEFAULT true,
  profile_public boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT user_profiles_user_id_key UNIQUE (user_id),
  CONSTRAINT user_profiles_first_name_check CHECK (is_envelope_ciphertext(first_name_ciphertext)),
  CONSTRAINT user_profiles_last_name_check CHECK (is_envelope_ciphertext(last_name_ciphertext)),
  CONSTRAINT user_profiles_date_of_birth_check CHECK (is_envelope_ciphertext(date_of_birth_ciphertext)),
  CONSTRAINT user_profiles_display_name_check CHECK (char_length(display_name) BETWEEN 1 AND 50),
  CONSTRAINT user_profiles_avatar_url_check CHECK (
    avatar_url IS NULL OR (avatar_url ~ '^https://' AND char_length(avatar_url) <= 2048)
  )
);

CREATE TRIGGER user_profiles_set_updated_at BEFORE UPDATE ON user_profiles
FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE wallet_accounts (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
  wallet_address text NOT NULL,
  wallet_type text NOT NULL DEFAULT 'custodial',
  private_key_ciphertext bytea,
  public_key text NOT NULL,
  currency text NOT NULL,
  blockchain_network text NOT NULL DEFAULT 'ethereum',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT wallet_accounts_wallet_address_key UNIQUE (wallet_address),
  CONSTRAINT wallet_accounts_wallet_address_check CHECK (
    wallet_address ~ '^[A-Za-z0-9:]{26,128}$'
  ),
  CONSTRAINT wallet_accounts_wallet_type_check CHECK (wallet_type IN ('custodial', 'non_custodial')),
  CONSTRAINT wallet_accounts_private_key_check CHECK (
    private_key_ciphertext IS NULL OR is_envelope_ciphertext(private_key_ciphertext)
  ),
  -- only a custodial wallet may hold a (wrapped) private key
  CONSTRAINT wallet_accounts_custody_check CHECK (
    wallet_type = 'custodial' OR private_key_ciphertext IS NULL
  ),
  CONSTRAINT wallet_accounts_public_key_check CHECK (char_length(public_key) BETWEEN 16 AND 512),
  CONSTRAINT wallet_accounts_currency_check CHECK (currency ~ '^[A-Z][A-Z0-9]{2,9}$'),
  CONSTRAINT wallet_accounts_network_check CHECK (blockchain_network ~ '^[a-z][a-z0-9_-]{1,31}$')
);

-- Row-level security and the foreign key both look wallets up by owner.
CREATE INDEX wallet_accounts_user_id_idx ON wallet_accounts (user_id);

CREATE TRIGGER wallet_accounts_set_updated_at BEFORE UPDATE ON wallet_accounts
FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE friendships (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  requester_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  addressee_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  status text NOT NULL DEFAULT 'pending',
  -- the pair in canonical order: one row per pair whichever side asked
  user_low uuid GENERATED ALWAYS AS (least(requester_id, addressee_id)) STORED,
  user_high uuid GENERATED ALWAYS AS (greatest(requester_id, addressee_id)) STORED,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT friendships_not_self_check CHECK (requester_id <> addressee_id),
  CONSTRAINT friendships_status_check CHECK (status IN ('pending', 'accepted', 'declined', 'blocked')),
  CONSTRAINT friendships_pair_key UNIQUE (user_low, user_high)
);

-- Friend list from the high side (the pair key serves the low side), and the friend graph
-- (mutual friends, friend-of-friend) as index-only scans of accepted pairs from either side.
CREATE INDEX friendships_accepted_low_idx ON friendships (user_low, user_high)
WHERE status = 'accepted';
CREATE INDEX friendships_accepted_high_idx ON friendships (user_high, user_low)
WHERE status = 'accepted';
-- Pending requests to a user, newest first.
CREATE INDEX friendships_pending_addressee_idx ON friendships (addressee_id, created_at DESC)
WHERE status = 'pending';
-- Foreign keys (ON DELETE CASCADE of a user) and requests sent by a user.
CREATE INDEX friendships_requester_id_idx ON friendships (requester_id);
CREATE INDEX friendships_addressee_id_idx ON friendships (addressee_id);

CREATE TRIGGER friendships_set_updated_at BEFORE UPDATE ON friendships
FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Data keys of the envelope encryption, wrapped by KMS; the application unwraps them.
CREATE TABLE encryption_keys (
  purpose text NOT NULL,
  version integer NOT NULL,
  kms_key_id text NOT NULL,
  wrapped_key bytea NOT NULL,
  active boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  retired_at timestamptz,
  CONSTRAINT encryption_keys_pkey PRIMARY KEY (purpose, version),
  CONSTRAINT encryption_keys_purpose_check CHECK (purpose IN ('pii', 'blind_index')),
  CONSTRAINT encryption_keys_version_check CHECK (version > 0),
  CONSTRAINT encryption_keys_kms_key_id_check CHECK (char_length(kms_key_id) BETWEEN 1 AND 2048),
  CONSTRAINT encryption_keys_wrapped_key_check CHECK (octet_length(wrapped_key) > 0),
  CONSTRAINT encryption_keys_retired_check CHECK (NOT (active AND retired_at IS NOT NULL))
);

CREATE UNIQUE INDEX encryption_keys_one_active_idx ON encryption_keys (purpose) WHERE active;
