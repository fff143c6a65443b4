-- The in-doubt barrier (`heldInDoubt`: every claim and every relay pass ask it for each
-- candidate) and the in-doubt evidence look for the in-doubt transfers of one sub-account.
-- Without an index on exactly that, each question walked every transfer the sub-account ever
-- had (transfers_subaccount_idx): a cost growing with its history, paid per claim.
CREATE INDEX transfers_in_doubt_idx ON transfers (provider_account_id, subaccount_token, in_doubt_at) WHERE status = 'in_doubt';

-- Usage accounting asks, of every sub-account, whether a reading came after the last pair it
-- closed (UsageBookingsRepository.withUnpairedReadings): an observation id range of one
-- account. observations_account_idx orders an account's readings by time, so that question
-- walked all of the account's readings, every pass.
CREATE INDEX observations_account_id_idx ON observations (account_id, id);
