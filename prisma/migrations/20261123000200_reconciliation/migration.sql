-- Reconciliation: runs (at most one running per provider account), their per-account items
-- (immutable, written only while the run is running) and drift findings (at most one open
-- per ledger account, open -> resolved once).

CREATE TABLE reconciliation_runs (
  id                   uuid PRIMARY KEY,
  provider_account_id  text NOT NULL REFERENCES provider_accounts(id),
  status               text NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
  trigger              text NOT NULL CHECK (trigger IN ('schedule', 'manual')),
  actor                text NOT NULL CHECK (length(actor) > 0),
  tolerance            numeric(20,3) NOT NULL CHECK (tolerance >= 0),
  started_at           timestamptz NOT NULL DEFAULT now(),
  -- The provider read window: every observation of the run was taken between these instants.
  read_started_at      timestamptz,
  read_finished_at     timestamptz,
  finished_at          timestamptz,
  error                text,
  accounts             int NOT NULL DEFAULT 0 CHECK (accounts >= 0),
  matched              int NOT NULL DEFAULT 0 CHECK (matched >= 0),
  drifted              int NOT NULL DEFAULT 0 CHECK (drifted >= 0),
  unsettled            int NOT NULL DEFAULT 0 CHECK (unsettled >= 0),
  resolved_in_doubt    int NOT NULL DEFAULT 0 CHECK (resolved_in_doubt >= 0),
  auto_booked          int NOT NULL DEFAULT 0 CHECK (auto_booked >= 0),
  unknown_subaccounts  int NOT NULL DEFAULT 0 CHECK (unknown_subaccounts >= 0),
  CONSTRAINT reconciliation_runs_finished_iff_not_running CHECK ((status = 'running') = (finished_at IS NULL)),
  CONSTRAINT reconciliation_runs_failed_iff_error CHECK ((status = 'failed') = (error IS NOT NULL)),
  CONSTRAINT reconciliation_runs_summary_adds_up CHECK (matched + drifted + unsettled + resolved_in_doubt = accounts),
  CONSTRAINT reconciliation_runs_window_ordered CHECK (read_finished_at IS NULL OR read_started_at <= read_finished_at)
);
-- "Exactly one run at a time" per provider account, whatever the number of schedulers.
CREATE UNIQUE INDEX reconciliation_runs_one_running ON reconciliation_runs (provider_account_id) WHERE status = 'running';
CREATE INDEX reconciliation_runs_list_idx ON reconciliation_runs (provider_account_id, started_at DESC, id DESC);

CREATE FUNCTION reconciliation_runs_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.status <> 'running' THEN
      RAISE EXCEPTION 'a reconciliation run is created running' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
  END IF;
  IF OLD.status <> 'running' THEN
    RAISE EXCEPTION 'reconciliation run % is finished (%)', OLD.id, OLD.status USING ERRCODE = 'check_violation';
  END IF;
  IF (NEW.id, NEW.provider_account_id, NEW.trigger, NEW.actor, NEW.tolerance, NEW.started_at)
     IS DISTINCT FROM (OLD.id, OLD.provider_account_id, OLD.trigger, OLD.actor, OLD.tolerance, OLD.started_at) THEN
    RAISE EXCEPTION 'what a reconciliation run is cannot change' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER reconciliation_runs_guard BEFORE INSERT OR UPDATE ON reconciliation_runs
  FOR EACH ROW EXECUTE FUNCTION reconciliation_runs_guard();
CREATE TRIGGER reconciliation_runs_no_delete BEFORE DELETE ON reconciliation_runs
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

CREATE TABLE drift_findings (
  id                                uuid PRIMARY KEY,
  provider_account_id               text NOT NULL REFERENCES provider_accounts(id),
  account_id                        bigint NOT NULL REFERENCES ledger_accounts(id),
  account_code                      text NOT NULL,
  status                            text NOT NULL CHECK (status IN ('open', 'resolved')),
  -- The latest drift seen (observed - expected at the observation's ledger position).
  drift                             numeric(20,3) NOT NULL CHECK (drift <> 0),
  observed                          numeric(20,3) NOT NULL,
  expected                          numeric(20,3) NOT NULL,
  suggestion                        text NOT NULL CHECK (suggestion IN ('usage_likely', 'purchase_or_refund_likely')),
  first_seen_at                     timestamptz NOT NULL,
  last_seen_at                      timestamptz NOT NULL,
  first_run_id                      uuid NOT NULL REFERENCES reconciliation_runs(id),
  last_run_id                       uuid NOT NULL REFERENCES reconciliation_runs(id),
  resolution_kind                   text CHECK (resolution_kind IN ('usage', 'purchase', 'write_off', 'self_resolved')),
  resolution_by                     text,
  resolution_reason                 text,
  resolved_at                       timestamptz,
  resolution_ledger_transaction_id  uuid UNIQUE REFERENCES ledger_transactions(id),
  created_at                        timestamptz NOT NULL DEFAULT now(),
  updated_at                        timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT drift_findings_drift_is_difference CHECK (drift = observed - expected),
  CONSTRAINT drift_findings_seen_ordered CHECK (first_seen_at <= last_seen_at),
  CONSTRAINT drift_findings_resolution_complete CHECK (
    (status = 'resolved') = (resolution_kind IS NOT NULL)
    AND (resolution_kind IS NULL) = (resolution_by IS NULL)
    AND (resolution_kind IS NULL) = (resolved_at IS NULL)),
  -- A booked resolution names its ledger transaction; a self-resolved one books nothing.
  CONSTRAINT drift_findings_booking_iff_booked_kind CHECK (
    coalesce(resolution_kind IN ('usage', 'purchase', 'write_off'), false) = (resolution_ledger_transaction_id IS NOT NULL)),
  CONSTRAINT drift_findings_usage_lowers CHECK (resolution_kind IS DISTINCT FROM 'usage' OR drift < 0),
  CONSTRAINT drift_findings_purchase_raises CHECK (resolution_kind IS DISTINCT FROM 'purchase' OR drift > 0)
);
-- One open finding per ledger account: a new drift updates it rather than piling up.
CREATE UNIQUE INDEX drift_findings_one_open_per_account ON drift_findings (account_id) WHERE status = 'open';
CREATE INDEX drift_findings_list_idx ON drift_findings (provider_account_id, status, last_seen_at DESC, id DESC);

CREATE FUNCTION drift_findings_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.status <> 'open' THEN
      RAISE EXCEPTION 'a drift finding is created open' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
  END IF;
  IF OLD.status <> 'open' THEN
    RAISE EXCEPTION 'drift finding % is resolved' , OLD.id USING ERRCODE = 'check_violation';
  END IF;
  IF (NEW.id, NEW.provider_account_id, NEW.account_id, NEW.account_code, NEW.first_seen_at, NEW.first_run_id, NEW.created_at)
     IS DISTINCT FROM (OLD.id, OLD.provider_account_id, OLD.account_id, OLD.account_code, OLD.first_seen_at, OLD.first_run_id, OLD.created_at) THEN
    RAISE EXCEPTION 'what a drift finding is about cannot change' USING ERRCODE = 'check_violation';
  END IF;
  NEW.updated_at := clock_timestamp();
  RETURN NEW;
END $$;
CREATE TRIGGER drift_findings_guard BEFORE INSERT OR UPDATE ON drift_findings
  FOR EACH ROW EXECUTE FUNCTION drift_findings_guard();
CREATE TRIGGER drift_findings_no_delete BEFORE DELETE ON drift_findings
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

CREATE TABLE reconciliation_items (
  id                     bigserial PRIMARY KEY,
  run_id                 uuid NOT NULL REFERENCES reconciliation_runs(id),
  account_id             bigint NOT NULL REFERENCES ledger_accounts(id),
  account_code           text NOT NULL,
  source                 text NOT NULL CHECK (source IN ('me', 'list', 'transfer')),
  observation_id         bigint REFERENCES observations(id),
  -- The ledger's posted balance at the observation's position, what the provider showed,
  -- and their difference.
  expected               numeric(20,3) NOT NULL,
  observed               numeric(20,3) NOT NULL,
  drift                  numeric(20,3) NOT NULL,
  -- The part of the drift explained by in-doubt transfers this run resolved as applied.
  explained              numeric(20,3) NOT NULL DEFAULT 0,
  status                 text NOT NULL CHECK (status IN ('matched', 'drift', 'unsettled', 'resolved_in_doubt')),
  explanation            text,
  finding_id             uuid REFERENCES drift_findings(id),
  ledger_transaction_id  uuid REFERENCES ledger_transactions(id),
  CONSTRAINT reconciliation_items_drift_is_difference CHECK (drift = observed - expected),
  CONSTRAINT reconciliation_items_one_per_account UNIQUE (run_id, account_id)
);

-- Items are written once, while their run is running, and never change afterwards.
CREATE FUNCTION reconciliation_items_insert_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM reconciliation_runs WHERE id = NEW.run_id AND status = 'running') THEN
    RAISE EXCEPTION 'reconciliation run % is not running: its items are final', NEW.run_id USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER reconciliation_items_insert_guard BEFORE INSERT ON reconciliation_items
  FOR EACH ROW EXECUTE FUNCTION reconciliation_items_insert_guard();
CREATE TRIGGER reconciliation_items_immutable BEFORE UPDATE OR DELETE ON reconciliation_items
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER truncate_refused_reconciliation_items BEFORE TRUNCATE ON reconciliation_items
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
