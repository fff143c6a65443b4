-- Sub-accounts, transfers (the work items of the transactional outbox) and provider
-- balance observations.

CREATE TABLE subaccounts (
  provider_account_id  text NOT NULL REFERENCES provider_accounts(id),
  token                text NOT NULL CHECK (token ~ '^[A-Za-z0-9_-]{1,128}$'),
  email                text NOT NULL,
  type                 text NOT NULL CHECK (type IN ('simple', 'advanced')),
  title                text,
  firstname            text,
  lastname             text,
  is_buyer             boolean,
  account_id           bigint NOT NULL UNIQUE REFERENCES ledger_accounts(id),
  provider_created_at  text,
  created_at           timestamptz NOT NULL DEFAULT now(),
  imported_at          timestamptz,
  PRIMARY KEY (provider_account_id, token)
);

CREATE TABLE transfers (
  id                          uuid PRIMARY KEY,
  seq                         bigserial NOT NULL UNIQUE,
  provider_account_id         text NOT NULL,
  subaccount_token            text NOT NULL,
  direction                   text NOT NULL CHECK (direction IN ('add', 'remove')),
  amount                      numeric(20,3) NOT NULL CHECK (amount > 0),
  status                      text NOT NULL CHECK (status IN ('pending', 'executing', 'posted', 'failed', 'in_doubt', 'voided')),
  reference                   text,
  metadata                    jsonb,
  idempotency_key             text,
  request_hash                text,
  ledger_transaction_id       uuid NOT NULL UNIQUE REFERENCES ledger_transactions(id),
  attempts                    int NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at             timestamptz NOT NULL DEFAULT now(),
  lease_expires_at            timestamptz,
  claimed_by                  text,
  expires_at                  timestamptz NOT NULL,
  provider_code               int,
  provider_message            text,
  provider_credit             numeric(20,3),
  provider_subaccount_credit  numeric(20,3),
  provider_at                 timestamptz,
  provider_raw                jsonb,
  failure_reason              text,
  resolution_outcome          text CHECK (resolution_outcome IN ('applied', 'not_applied')),
  resolution_by               text,
  resolution_reason           text,
  resolution_at               timestamptz,
  created_by                  text NOT NULL,
  correlation_id              text,
  created_at                  timestamptz NOT NULL DEFAULT now(),
  updated_at                  timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (provider_account_id, subaccount_token) REFERENCES subaccounts(provider_account_id, token),
  CONSTRAINT transfers_idempotency_key_unique UNIQUE (provider_account_id, idempotency_key),
  CONSTRAINT transfers_idempotency_has_hash CHECK ((idempotency_key IS NULL) = (request_hash IS NULL)),
  CONSTRAINT transfers_executing_has_lease CHECK ((status = 'executing') = (lease_expires_at IS NOT NULL)),
  CONSTRAINT transfers_resolution_complete CHECK (
    (resolution_outcome IS NULL) = (resolution_by IS NULL) AND (resolution_outcome IS NULL) = (resolution_at IS NULL))
);
-- At most one provider call in flight per sub-account: the balance the provider returns is
-- then attributable to exactly one transfer.
CREATE UNIQUE INDEX transfers_one_executing_per_subaccount
  ON transfers (provider_account_id, subaccount_token) WHERE status = 'executing';
CREATE INDEX transfers_pending_queue_idx ON transfers (provider_account_id, subaccount_token, seq) WHERE status = 'pending';
CREATE INDEX transfers_status_idx ON transfers (status, seq);
CREATE INDEX transfers_lease_idx ON transfers (lease_expires_at) WHERE status = 'executing';
CREATE INDEX transfers_subaccount_idx ON transfers (provider_account_id, subaccount_token, created_at);
CREATE INDEX transfers_created_idx ON transfers (created_at, id);

-- The transfer state machine, enforced where no code path can skip it.
CREATE FUNCTION transfers_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.status <> 'pending' THEN
      RAISE EXCEPTION 'a transfer is created pending' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
  END IF;
  IF (NEW.id, NEW.seq, NEW.provider_account_id, NEW.subaccount_token, NEW.direction, NEW.amount,
      NEW.idempotency_key, NEW.request_hash, NEW.ledger_transaction_id, NEW.created_by, NEW.created_at)
     IS DISTINCT FROM
     (OLD.id, OLD.seq, OLD.provider_account_id, OLD.subaccount_token, OLD.direction, OLD.amount,
      OLD.idempotency_key, OLD.request_hash, OLD.ledger_transaction_id, OLD.created_by, OLD.created_at) THEN
    RAISE EXCEPTION 'what a transfer moves cannot change' USING ERRCODE = 'check_violation';
  END IF;
  IF OLD.status <> NEW.status AND NOT (
       (OLD.status = 'pending'   AND NEW.status IN ('executing', 'failed'))
    OR (OLD.status = 'executing' AND NEW.status IN ('pending', 'posted', 'failed', 'in_doubt'))
    OR (OLD.status = 'in_doubt'  AND NEW.status IN ('posted', 'voided'))) THEN
    RAISE EXCEPTION 'transfer % cannot move from % to %', OLD.id, OLD.status, NEW.status
      USING ERRCODE = 'check_violation';
  END IF;
  IF OLD.status IN ('posted', 'failed', 'voided') AND NEW IS DISTINCT FROM OLD THEN
    RAISE EXCEPTION 'transfer % is final', OLD.id USING ERRCODE = 'check_violation';
  END IF;
  NEW.updated_at := clock_timestamp();
  RETURN NEW;
END $$;
CREATE TRIGGER transfers_guard BEFORE INSERT OR UPDATE ON transfers
  FOR EACH ROW EXECUTE FUNCTION transfers_guard();
CREATE TRIGGER transfers_no_delete BEFORE DELETE ON transfers
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

-- A final transfer and its ledger transaction agree, checked at commit.
CREATE FUNCTION transfers_match_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_state text;
BEGIN
  SELECT state INTO v_state FROM ledger_transactions WHERE id = NEW.ledger_transaction_id;
  IF (NEW.status = 'posted' AND v_state <> 'posted')
     OR (NEW.status IN ('failed', 'voided') AND v_state <> 'voided')
     OR (NEW.status IN ('pending', 'executing', 'in_doubt') AND v_state <> 'pending') THEN
    RAISE EXCEPTION 'transfer % is % but its ledger transaction is %', NEW.id, NEW.status, v_state
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER transfers_match_ledger AFTER INSERT OR UPDATE ON transfers
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION transfers_match_ledger();

-- What the provider said a balance was, and what the ledger expected at that point.
CREATE TABLE observations (
  id                   bigserial PRIMARY KEY,
  provider_account_id  text NOT NULL REFERENCES provider_accounts(id),
  account_id           bigint NOT NULL REFERENCES ledger_accounts(id),
  source               text NOT NULL CHECK (source IN ('me', 'transfer', 'list')),
  balance              numeric(20,3) NOT NULL,
  expected             numeric(20,3) NOT NULL,
  settled              boolean NOT NULL,
  observed_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  transfer_id          uuid REFERENCES transfers(id)
);
CREATE INDEX observations_account_idx ON observations (account_id, observed_at DESC, id DESC);
CREATE TRIGGER observations_immutable BEFORE UPDATE OR DELETE ON observations
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
