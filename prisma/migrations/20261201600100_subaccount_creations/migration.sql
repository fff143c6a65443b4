-- POST /v1/subaccounts records its intent before calling the provider (as transfers do), so
-- that whatever fails after the provider created the sub-account, the ledger knows about it:
-- the row holds the input, and the provider's token as soon as it answered. A retry with the
-- same input completes it (without a second provider call when the token is known).
CREATE TABLE subaccount_creations (
  id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  provider_account_id  text NOT NULL REFERENCES provider_accounts(id),
  email                text NOT NULL,
  request_hash         text NOT NULL,
  type                 text NOT NULL CHECK (type IN ('simple', 'advanced')),
  title                text,
  firstname            text,
  lastname             text,
  is_buyer             boolean,
  status               text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'created', 'failed')),
  token                text CHECK (token ~ '^[A-Za-z0-9_-]{1,128}$'),
  error                text,
  actor                text NOT NULL CHECK (length(actor) > 0),
  created_at           timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at           timestamptz NOT NULL DEFAULT clock_timestamp(),
  CONSTRAINT subaccount_creations_created_has_token CHECK (status <> 'created' OR token IS NOT NULL)
);
CREATE UNIQUE INDEX subaccount_creations_email_key ON subaccount_creations (provider_account_id, lower(email));
