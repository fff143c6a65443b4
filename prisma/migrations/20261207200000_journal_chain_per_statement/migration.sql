-- The journal chain carried through a statement (docs/ledger.md, "The journal";
-- docs/benchmarks.md, "Issue 16, fourteenth pass"). Each entry's row trigger locked the chain
-- head again and looked the previous entry up in the journal's primary key: two queries per
-- entry, about half of what chaining an entry cost, and the lookup stepped over every dead
-- index entry that rolled-back journal writes left at the end of the key until vacuum.
--
-- Now the head is locked once per statement, by a BEFORE STATEMENT trigger, which also copies
-- it (sequence and hash) into a transaction-local setting, `ledger.journal_chain`. Each row
-- takes the next sequence and its prev_hash from that setting and leaves its own there; the
-- AFTER STATEMENT trigger writes the setting back to the head row. The hashes, the canonical
-- form, the order (the order rows reach the trigger) and the lock (taken before the
-- statement's first entry, held to COMMIT) are those of before:
--   * the setting is seeded from the locked head row at the start of every INSERT, so no
--     value set earlier in the session or transaction is ever used;
--   * it is transaction-local: a rolled-back transaction or savepoint takes its value back
--     with the entries it chained;
--   * an INSERT's own expressions could call set_config between rows; what that can do is
--     what editing rows can do: break a link or leave a gap, which `verify` reports (it checks
--     every link, every hash and that sequences run 1, 2, 3 … up to the head). The immutable
--     and truncate triggers, and who owns the tables, are unchanged.
CREATE FUNCTION journal_chain_begin() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_head journal_head;
BEGIN
  SELECT * INTO v_head FROM journal_head WHERE id = 1 FOR UPDATE;
  PERFORM set_config('ledger.journal_chain', v_head.sequence::text || ':' || v_head.hash, true);
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION journal_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_chain text := current_setting('ledger.journal_chain');
BEGIN
  NEW.sequence := split_part(v_chain, ':', 1)::bigint + 1;
  NEW.prev_hash := split_part(v_chain, ':', 2);
  NEW.recorded_at := clock_timestamp();
  NEW.hash := encode(sha256(convert_to(NEW.prev_hash || '|' || journal_canonical(NEW), 'UTF8')), 'hex');
  PERFORM set_config('ledger.journal_chain', NEW.sequence::text || ':' || NEW.hash, true);
  RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION journal_head_advance() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_chain text := current_setting('ledger.journal_chain');
BEGIN
  UPDATE journal_head SET sequence = split_part(v_chain, ':', 1)::bigint, hash = split_part(v_chain, ':', 2)
   WHERE id = 1 AND sequence <> split_part(v_chain, ':', 1)::bigint;
  RETURN NULL;
END $$;

DROP TRIGGER journal_head_advance ON journal_entries;
CREATE TRIGGER journal_chain_begin BEFORE INSERT ON journal_entries
  FOR EACH STATEMENT EXECUTE FUNCTION journal_chain_begin();
CREATE TRIGGER journal_head_advance AFTER INSERT ON journal_entries
  FOR EACH STATEMENT EXECUTE FUNCTION journal_head_advance();
