-- Automated top-ups: policies (soft-deleted, never removed) and their runs, one row per
-- (policy, period) whatever the number of schedulers: the unique constraint
-- topup_runs_one_per_period is the exactly-once guarantee (docs/topups.md).

CREATE TABLE topup_policies (
  id                   uuid PRIMARY KEY,
  provider_account_id  text NOT NULL REFERENCES provider_accounts(id),
  subaccount_token     text NOT NULL,
  mode                 text NOT NULL CHECK (mode IN ('fixed', 'target')),
  amount               numeric(20,3) CHECK (amount > 0),
  target               numeric(20,3) CHECK (target > 0),
  cap                  numeric(20,3) CHECK (cap > 0),
  schedule             text NOT NULL CHECK (array_length(regexp_split_to_array(schedule, ' '), 1) = 5),
  timezone             text NOT NULL CHECK (length(timezone) > 0),
  enabled              boolean NOT NULL DEFAULT true,
  -- Periods that fire after this instant are due. Set at creation, and again when the policy
  -- is re-enabled or its schedule or time zone changes: what fell before is not owed.
  effective_from       timestamptz NOT NULL,
  created_by           text NOT NULL CHECK (length(created_by) > 0),
  updated_by           text NOT NULL CHECK (length(updated_by) > 0),
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  deleted_at           timestamptz,
  FOREIGN KEY (provider_account_id, subaccount_token) REFERENCES subaccounts(provider_account_id, token),
  CONSTRAINT topup_policies_fixed_has_amount CHECK (mode <> 'fixed' OR (amount IS NOT NULL AND target IS NULL)),
  CONSTRAINT topup_policies_target_has_target CHECK (mode <> 'target' OR (target IS NOT NULL AND amount IS NULL))
);
CREATE INDEX topup_policies_list_idx ON topup_policies (provider_account_id, created_at, id);
CREATE INDEX topup_policies_active_idx ON topup_policies (provider_account_id) WHERE enabled AND deleted_at IS NULL;

-- A policy changes until it is deleted; then it is frozen (its runs stay auditable).
CREATE FUNCTION topup_policies_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.deleted_at IS NOT NULL THEN
    RAISE EXCEPTION 'top-up policy % is deleted', OLD.id USING ERRCODE = 'check_violation';
  END IF;
  IF (NEW.id, NEW.provider_account_id, NEW.created_by, NEW.created_at)
     IS DISTINCT FROM (OLD.id, OLD.provider_account_id, OLD.created_by, OLD.created_at) THEN
    RAISE EXCEPTION 'who created a top-up policy, and when, cannot change' USING ERRCODE = 'check_violation';
  END IF;
  NEW.updated_at := clock_timestamp();
  RETURN NEW;
END $$;
CREATE TRIGGER topup_policies_guard BEFORE UPDATE ON topup_policies
  FOR EACH ROW EXECUTE FUNCTION topup_policies_guard();
CREATE TRIGGER topup_policies_no_delete BEFORE DELETE ON topup_policies
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER truncate_refused_topup_policies BEFORE TRUNCATE ON topup_policies
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

CREATE TABLE topup_runs (
  id                   uuid PRIMARY KEY,
  seq                  bigserial NOT NULL UNIQUE,
  policy_id            uuid NOT NULL REFERENCES topup_policies(id),
  provider_account_id  text NOT NULL REFERENCES provider_accounts(id),
  -- The fire's local time with its offset, to the minute: 2026-12-01T06:00+01:00.
  period_key           text NOT NULL CHECK (period_key ~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}[+-]\d{2}:\d{2}$'),
  scheduled_for        timestamptz NOT NULL,
  status               text NOT NULL CHECK (status IN ('decided', 'skipped', 'failed', 'missed')),
  mode                 text NOT NULL CHECK (mode IN ('fixed', 'target')),
  amount               numeric(20,3) CHECK (amount > 0),
  explanation          text NOT NULL CHECK (length(explanation) > 0),
  -- Target mode: the sub-account's balance as the provider showed it just before deciding.
  observed_balance     numeric(20,3),
  transfer_id          uuid UNIQUE REFERENCES transfers(id),
  actor                text NOT NULL CHECK (length(actor) > 0),
  created_at           timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT topup_runs_one_per_period UNIQUE (policy_id, period_key),
  CONSTRAINT topup_runs_amount_iff_decided CHECK ((status = 'decided') = (amount IS NOT NULL)),
  CONSTRAINT topup_runs_transfer_only_if_decided CHECK (transfer_id IS NULL OR status = 'decided')
);
CREATE INDEX topup_runs_list_idx ON topup_runs (provider_account_id, seq DESC);
CREATE INDEX topup_runs_policy_idx ON topup_runs (policy_id, scheduled_for DESC);

-- A run is written once. The one change allowed: a decided run gets its transfer, in the
-- transaction that created both (the transfer is recorded right after the run row).
CREATE FUNCTION topup_runs_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.transfer_id IS NULL AND NEW.transfer_id IS NOT NULL
     AND (to_jsonb(NEW) - 'transfer_id') = (to_jsonb(OLD) - 'transfer_id') THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'top-up run % is final', OLD.id USING ERRCODE = 'check_violation';
END $$;
CREATE TRIGGER topup_runs_guard BEFORE UPDATE ON topup_runs
  FOR EACH ROW EXECUTE FUNCTION topup_runs_guard();
CREATE TRIGGER topup_runs_no_delete BEFORE DELETE ON topup_runs
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER truncate_refused_topup_runs BEFORE TRUNCATE ON topup_runs
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- A decided run without its transfer at commit would be a top-up that never happens.
CREATE FUNCTION topup_runs_decided_has_transfer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM topup_runs WHERE id = NEW.id AND status = 'decided' AND transfer_id IS NULL) THEN
    RAISE EXCEPTION 'decided top-up run % has no transfer', NEW.id USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER topup_runs_decided_has_transfer AFTER INSERT ON topup_runs
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION topup_runs_decided_has_transfer();
