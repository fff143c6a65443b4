-- A settlement asks, for each confirmed call, whether another call of the provider account was
-- answered since it started (TransfersRepository.overlapped: the main account's reading is
-- then not "settled"). Without an index on the answer instant that question scanned every
-- transfer of the provider account, per call settled: the worker's slowest statement, growing
-- with the table (a 10,000-transfer backlog drained slower and slower).
CREATE INDEX transfers_answered_idx ON transfers (provider_account_id, provider_at) WHERE provider_at IS NOT NULL;
