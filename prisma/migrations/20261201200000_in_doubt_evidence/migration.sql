-- Evidence for in-doubt transfers under spending, and usage accounting (docs/in-doubt.md).

-- When the last attempt's call started and when the transfer went in doubt: the interval in
-- which its effect, if any, happened is (call_started_at, in_doubt_at + grace).
ALTER TABLE transfers ADD COLUMN call_started_at timestamptz;
ALTER TABLE transfers ADD COLUMN in_doubt_at timestamptz;

-- Targeted probes of one sub-account are readings too; every reading says when it started
-- (the provider took it at an unknown instant between read_started_at and observed_at).
ALTER TABLE observations DROP CONSTRAINT observations_source_check;
ALTER TABLE observations ADD CONSTRAINT observations_source_check CHECK (source IN ('me', 'transfer', 'list', 'probe'));
ALTER TABLE observations ADD COLUMN read_started_at timestamptz;
CREATE INDEX observations_transfer_idx ON observations (transfer_id) WHERE transfer_id IS NOT NULL;

-- The latest evaluation of an in-doubt transfer's evidence (shown to operators). Updated
-- while undecided; once decided it never changes (the resolution is journaled with it).
CREATE TABLE transfer_evidence (
  transfer_id          uuid PRIMARY KEY REFERENCES transfers(id),
  provider_account_id  text NOT NULL REFERENCES provider_accounts(id),
  status               text NOT NULL CHECK (status IN ('undecided', 'decided')),
  outcome              text CHECK (outcome IN ('applied', 'not_applied')),
  evidence             jsonb NOT NULL,
  last_observation_id  bigint,
  evaluated_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
  CONSTRAINT transfer_evidence_decided_has_outcome CHECK ((status = 'decided') = (outcome IS NOT NULL))
);
CREATE FUNCTION transfer_evidence_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.status = 'decided' THEN
    RAISE EXCEPTION 'the evidence of transfer % is decided: it never changes', OLD.transfer_id USING ERRCODE = 'check_violation';
  END IF;
  IF NEW.transfer_id <> OLD.transfer_id OR NEW.provider_account_id <> OLD.provider_account_id THEN
    RAISE EXCEPTION 'evidence cannot move to another transfer' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER transfer_evidence_guard BEFORE UPDATE ON transfer_evidence
  FOR EACH ROW EXECUTE FUNCTION transfer_evidence_guard();
CREATE TRIGGER transfer_evidence_no_delete BEFORE DELETE ON transfer_evidence
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

-- Usage accounting: one row per pair of consecutive exact readings of an account, what the
-- fall not explained by our calls was, and what was done with it. A reading closes at most
-- one pair (unique), so the same pair is never booked twice. Immutable.
CREATE TABLE usage_bookings (
  id                     bigserial PRIMARY KEY,
  provider_account_id    text NOT NULL REFERENCES provider_accounts(id),
  account_id             bigint NOT NULL REFERENCES ledger_accounts(id),
  from_observation_id    bigint NOT NULL REFERENCES observations(id),
  to_observation_id      bigint NOT NULL REFERENCES observations(id),
  from_at                timestamptz NOT NULL,
  to_at                  timestamptz NOT NULL,
  seconds                numeric(14,3) NOT NULL CHECK (seconds >= 0),
  from_balance           numeric(20,3) NOT NULL,
  to_balance             numeric(20,3) NOT NULL,
  known                  numeric(20,3) NOT NULL,
  usage                  numeric(20,3) NOT NULL,
  -- usage: booked; none: nothing spent; gain: a non-buyer gained credit (a finding);
  -- implausible: more than the account can plausibly spend (a finding); buyer: not attributable.
  kind                   text NOT NULL CHECK (kind IN ('usage', 'none', 'gain', 'implausible', 'buyer')),
  ledger_transaction_id  uuid UNIQUE REFERENCES ledger_transactions(id),
  created_at             timestamptz NOT NULL DEFAULT clock_timestamp(),
  CONSTRAINT usage_bookings_one_per_reading UNIQUE (account_id, to_observation_id),
  CONSTRAINT usage_bookings_usage_is_fall CHECK (usage = from_balance + known - to_balance),
  CONSTRAINT usage_bookings_booked_has_transaction CHECK ((kind = 'usage') = (ledger_transaction_id IS NOT NULL))
);
CREATE INDEX usage_bookings_account_idx ON usage_bookings (account_id, to_observation_id DESC);
CREATE INDEX usage_bookings_month_idx ON usage_bookings (provider_account_id, to_at);
CREATE TRIGGER usage_bookings_immutable BEFORE UPDATE OR DELETE ON usage_bookings
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
