-- Signed digests of the journal chain head (docs/operations.md, "Tamper evidence"). The hash
-- chain alone proves nothing against whoever can rewrite the database and re-chain every
-- hash after an edited row; a digest signed with a key the database never holds, kept by an
-- auditor, does. The chain is one for the whole database, so digests are too.
CREATE TABLE journal_digests (
  id          bigserial PRIMARY KEY,
  sequence    bigint NOT NULL CHECK (sequence >= 0),
  hash        text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
  taken_at    timestamptz NOT NULL,
  key_id      text NOT NULL CHECK (key_id ~ '^[0-9a-f]{16}$'),
  public_key  text NOT NULL,
  signature   text NOT NULL,
  trigger     text NOT NULL CHECK (trigger IN ('schedule', 'request')),
  actor       text NOT NULL CHECK (length(actor) > 0),
  CONSTRAINT journal_digests_key_sequence_key UNIQUE (key_id, sequence)
);

-- Published once, never changed.
CREATE TRIGGER journal_digests_immutable BEFORE UPDATE OR DELETE ON journal_digests
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER truncate_refused_journal_digests BEFORE TRUNCATE ON journal_digests
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
