-- Transfer events, one INSERT per statement (docs/benchmarks.md, "Issue 16, fourteenth pass").
-- The row trigger ran its INSERT into outbox_events once per transfer whose status moved:
-- ~65-80 us a row on an idle machine, more than the settlement's UPDATE of the row itself, and
-- a settlement group moves dozens. The statement trigger writes the same events (type,
-- payload, one per status change to posted, failed, in doubt or voided), in recording order,
-- with one INSERT ... SELECT over the statement's old and new rows. Transition tables cannot be
-- combined with a column list, so it fires after every UPDATE of transfers; the join keeps
-- only the rows whose status changed. It still runs in the transaction of the change it
-- reports, so the outbox's promise (no change without its event, no event without its
-- change) is unchanged.
CREATE FUNCTION transfers_emit_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO outbox_events (provider_account_id, type, entity_type, entity_id, payload)
  SELECT n.provider_account_id,
         CASE WHEN o.status = 'in_doubt' AND n.status = 'posted' THEN 'transfer.resolved_applied'
              WHEN o.status = 'in_doubt' AND n.status = 'voided' THEN 'transfer.resolved_not_applied'
              ELSE 'transfer.' || n.status END,
         'transfer', n.id, jsonb_build_object(
    'previousStatus', o.status,
    'transfer', jsonb_build_object(
      'id', n.id, 'subaccount', n.subaccount_token, 'direction', n.direction, 'amount', n.amount::text,
      'status', n.status, 'reference', n.reference, 'metadata', n.metadata,
      'createdAt', webhook_iso(n.created_at), 'updatedAt', webhook_iso(n.updated_at), 'expiresAt', webhook_iso(n.expires_at),
      'attempts', n.attempts, 'failureReason', n.failure_reason,
      'provider', CASE WHEN n.provider_at IS NULL AND n.provider_code IS NULL AND n.provider_message IS NULL THEN NULL ELSE jsonb_build_object(
        'code', n.provider_code, 'message', n.provider_message, 'credit', n.provider_credit::text,
        'subaccountCredit', n.provider_subaccount_credit::text, 'at', webhook_iso(n.provider_at)) END,
      'resolution', CASE WHEN n.resolution_outcome IS NULL THEN NULL ELSE jsonb_build_object(
        'outcome', n.resolution_outcome, 'by', n.resolution_by, 'reason', n.resolution_reason, 'at', webhook_iso(n.resolution_at)) END,
      'ledgerTransactionId', n.ledger_transaction_id))
    FROM new_transfers n JOIN old_transfers o ON o.id = n.id
   WHERE o.status IS DISTINCT FROM n.status AND n.status IN ('posted', 'failed', 'in_doubt', 'voided')
   ORDER BY n.seq;
  RETURN NULL;
END $$;
DROP TRIGGER transfers_emit_event ON transfers;
CREATE TRIGGER transfers_emit_events AFTER UPDATE ON transfers
  REFERENCING OLD TABLE AS old_transfers NEW TABLE AS new_transfers
  FOR EACH STATEMENT EXECUTE FUNCTION transfers_emit_events();
DROP FUNCTION transfers_emit_event();

