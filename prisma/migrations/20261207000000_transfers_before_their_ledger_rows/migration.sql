-- A recording inserts its transfers before the ledger takes the balance rows, so that `main`'s
-- row is held for the ledger's statement, the journal and the COMMIT only (docs/pipeline.md,
-- "Group commit"): the ledger transaction a transfer names is then checked to exist at COMMIT.
ALTER TABLE transfers ALTER CONSTRAINT transfers_ledger_transaction_id_fkey DEFERRABLE INITIALLY DEFERRED;
