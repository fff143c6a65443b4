-- The sweeper asks every pass for the pending transfers past their expiry
-- (TransferSweepsRepository.expiredPending). Through the pending index it read every pending
-- transfer to find none: 14-26 ms a pass with a backlog of 17,000, growing with the backlog.
-- This index holds the pending transfers by expiry, so the answer reads only the expired ones.
-- Not (provider_account_id, ...) first: that form, on a database without statistics, was
-- chosen over the pending queue for the heads-of-line check as well (plans.spec.ts).
CREATE INDEX transfers_expiry_idx ON transfers (expires_at, seq) WHERE status = 'pending';
