-- The sprint document's Story 1.4 DDL, verbatim (../shared/seeds/, the five CREATE TABLE statements):
-- the benchmark's baseline. tests/bench/load.py checks it still matches the document when present.

-- Users table with encryption
CREATE TABLE users (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  email VARCHAR(255) UNIQUE NOT NULL,
  phone_number VARCHAR(20) UNIQUE,
  password_hash VARCHAR(255) NOT NULL,
  email_verified BOOLEAN DEFAULT FALSE,
  phone_verified BOOLEAN DEFAULT FALSE,
  kyc_status VARCHAR(20) DEFAULT 'pending',
  created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
  updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
  deleted_at TIMESTAMP WITH TIME ZONE NULL
);

-- User profiles with encrypted PII
CREATE TABLE user_profiles (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID REFERENCES users(id),
  first_name_encrypted TEXT NOT NULL,
  last_name_encrypted TEXT NOT NULL,
  date_of_birth_encrypted TEXT NOT NULL,
  display_name VARCHAR(50) NOT NULL,
  avatar_url TEXT,
  birthday_public BOOLEAN DEFAULT TRUE,
  profile_public BOOLEAN DEFAULT FALSE,
  created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
  updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

-- Wallet accounts
CREATE TABLE wallet_accounts (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID REFERENCES users(id),
  wallet_address VARCHAR(42) UNIQUE NOT NULL,
  wallet_type VARCHAR(20) DEFAULT 'custodial',
  private_key_encrypted TEXT,
  public_key TEXT NOT NULL,
  created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

-- Transaction records
CREATE TABLE transactions (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  from_wallet_id UUID REFERENCES wallet_accounts(id),
  to_wallet_id UUID REFERENCES wallet_accounts(id),
  transaction_hash VARCHAR(66),
  transaction_type VARCHAR(20) NOT NULL,
  currency VARCHAR(10) NOT NULL,
  amount DECIMAL(18,8) NOT NULL,
  status VARCHAR(20) DEFAULT 'pending',
  blockchain_network VARCHAR(20) DEFAULT 'ethereum',
  gas_fee DECIMAL(18,8),
  created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
  confirmed_at TIMESTAMP WITH TIME ZONE NULL
);

-- Friend relationships
CREATE TABLE friendships (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  requester_id UUID REFERENCES users(id),
  addressee_id UUID REFERENCES users(id),
  status VARCHAR(20) DEFAULT 'pending',
  created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
  updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
  UNIQUE(requester_id, addressee_id)
);
