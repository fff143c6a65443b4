-- Webhook events (a transactional outbox). Triggers write an event row in the SAME database
-- transaction as the state change it reports, so no code path can change a transfer's status
-- or finish a reconciliation run without its event, and a rolled-back change leaves none.
-- The worker's relay enqueues pending events; the delivery job records every attempt here.

CREATE TABLE outbox_events (
  id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  seq                  bigserial NOT NULL UNIQUE,
  provider_account_id  text NOT NULL REFERENCES provider_accounts(id),
  type                 text NOT NULL CHECK (type ~ '^[a-z_]+\.[a-z_]+$'),
  entity_type          text NOT NULL CHECK (entity_type IN ('transfer', 'reconciliation_run')),
  entity_id            uuid NOT NULL,
  payload              jsonb NOT NULL,
  created_at           timestamptz NOT NULL DEFAULT clock_timestamp(),
  status               text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts             int NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  last_attempt_at      timestamptz,
  last_status_code     int,
  last_error           text,
  delivered_at         timestamptz,
  CONSTRAINT outbox_events_delivered_iff_delivered_at CHECK ((status = 'delivered') = (delivered_at IS NOT NULL)),
  CONSTRAINT outbox_events_attempted_before_settled CHECK (status = 'pending' OR attempts > 0)
);
CREATE INDEX outbox_events_pending_idx ON outbox_events (provider_account_id, seq) WHERE status = 'pending';
CREATE INDEX outbox_events_list_idx ON outbox_events (provider_account_id, seq DESC);
CREATE INDEX outbox_events_entity_idx ON outbox_events (entity_id);

-- What an event says never changes; only its delivery record moves, and a delivered event is final.
CREATE FUNCTION outbox_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (NEW.id, NEW.seq, NEW.provider_account_id, NEW.type, NEW.entity_type, NEW.entity_id, NEW.payload, NEW.created_at)
     IS DISTINCT FROM (OLD.id, OLD.seq, OLD.provider_account_id, OLD.type, OLD.entity_type, OLD.entity_id, OLD.payload, OLD.created_at) THEN
    RAISE EXCEPTION 'what event % says cannot change', OLD.id USING ERRCODE = 'check_violation';
  END IF;
  IF OLD.status = 'delivered' AND NEW IS DISTINCT FROM OLD THEN
    RAISE EXCEPTION 'event % is delivered', OLD.id USING ERRCODE = 'check_violation';
  END IF;
  IF NEW.attempts < OLD.attempts THEN
    RAISE EXCEPTION 'attempts of event % cannot go down', OLD.id USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER outbox_events_guard BEFORE UPDATE ON outbox_events
  FOR EACH ROW EXECUTE FUNCTION outbox_events_guard();

CREATE FUNCTION webhook_iso(t timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- Transfer events: transfer.posted, transfer.failed, transfer.in_doubt, and for an in-doubt
-- transfer settled by an operator, a reconciliation or a late provider answer
-- transfer.resolved_applied (now posted) / transfer.resolved_not_applied (now voided).
-- The transfer in the payload has the fields of the HTTP API's Transfer.
CREATE FUNCTION transfers_emit_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_type text;
BEGIN
  v_type := CASE
    WHEN OLD.status = 'in_doubt' AND NEW.status = 'posted' THEN 'transfer.resolved_applied'
    WHEN OLD.status = 'in_doubt' AND NEW.status = 'voided' THEN 'transfer.resolved_not_applied'
    ELSE 'transfer.' || NEW.status END;
  INSERT INTO outbox_events (provider_account_id, type, entity_type, entity_id, payload)
  VALUES (NEW.provider_account_id, v_type, 'transfer', NEW.id, jsonb_build_object(
    'previousStatus', OLD.status,
    'transfer', jsonb_build_object(
      'id', NEW.id, 'subaccount', NEW.subaccount_token, 'direction', NEW.direction, 'amount', NEW.amount::text,
      'status', NEW.status, 'reference', NEW.reference, 'metadata', NEW.metadata,
      'createdAt', webhook_iso(NEW.created_at), 'updatedAt', webhook_iso(NEW.updated_at), 'expiresAt', webhook_iso(NEW.expires_at),
      'attempts', NEW.attempts, 'failureReason', NEW.failure_reason,
      'provider', CASE WHEN NEW.provider_at IS NULL AND NEW.provider_code IS NULL AND NEW.provider_message IS NULL THEN NULL ELSE jsonb_build_object(
        'code', NEW.provider_code, 'message', NEW.provider_message, 'credit', NEW.provider_credit::text,
        'subaccountCredit', NEW.provider_subaccount_credit::text, 'at', webhook_iso(NEW.provider_at)) END,
      'resolution', CASE WHEN NEW.resolution_outcome IS NULL THEN NULL ELSE jsonb_build_object(
        'outcome', NEW.resolution_outcome, 'by', NEW.resolution_by, 'reason', NEW.resolution_reason, 'at', webhook_iso(NEW.resolution_at)) END,
      'ledgerTransactionId', NEW.ledger_transaction_id)));
  RETURN NULL;
END $$;
CREATE TRIGGER transfers_emit_event AFTER UPDATE OF status ON transfers
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.status IN ('posted', 'failed', 'in_doubt', 'voided'))
  EXECUTE FUNCTION transfers_emit_event();

-- Reconciliation events: reconciliation.completed (summary, drifted accounts and their total
-- unexplained drift) and reconciliation.failed (the error).
CREATE FUNCTION reconciliation_runs_emit_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_drifted jsonb;
  v_total numeric(20,3);
BEGIN
  SELECT coalesce(jsonb_agg(jsonb_build_object(
           'account', account_code, 'expected', expected::text, 'observed', observed::text,
           'drift', (drift - explained)::text, 'findingId', finding_id) ORDER BY account_code), '[]'::jsonb),
         coalesce(sum(drift - explained), 0)
    INTO v_drifted, v_total
    FROM reconciliation_items WHERE run_id = NEW.id AND status = 'drift';
  INSERT INTO outbox_events (provider_account_id, type, entity_type, entity_id, payload)
  VALUES (NEW.provider_account_id, 'reconciliation.' || NEW.status, 'reconciliation_run', NEW.id, jsonb_build_object(
    'run', jsonb_build_object(
      'id', NEW.id, 'status', NEW.status, 'trigger', NEW.trigger, 'actor', NEW.actor, 'tolerance', NEW.tolerance::text,
      'startedAt', webhook_iso(NEW.started_at), 'finishedAt', webhook_iso(NEW.finished_at), 'error', NEW.error,
      'summary', jsonb_build_object(
        'accounts', NEW.accounts, 'matched', NEW.matched, 'drifted', NEW.drifted, 'unsettled', NEW.unsettled,
        'resolvedInDoubt', NEW.resolved_in_doubt, 'autoBooked', NEW.auto_booked, 'unknownSubaccounts', NEW.unknown_subaccounts)),
    'drifted', v_drifted,
    'driftTotal', v_total::text));
  RETURN NULL;
END $$;
CREATE TRIGGER reconciliation_runs_emit_event AFTER UPDATE OF status ON reconciliation_runs
  FOR EACH ROW WHEN (OLD.status = 'running' AND NEW.status <> 'running')
  EXECUTE FUNCTION reconciliation_runs_emit_event();
