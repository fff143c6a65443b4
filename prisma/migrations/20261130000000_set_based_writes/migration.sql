-- Set-based writes. Recordings are written in groups (many ledger transactions, postings
-- and journal entries per statement). Two row-level triggers updated one hot row per row
-- inserted: `main`'s balance (postings_apply) and the journal chain head (journal_chain,
-- twice per entry). Inside one database transaction every such update leaves a row version
-- the next one has to step over, so a statement of N rows cost O(N^2). The rules are the
-- same; the hot rows are now updated once per statement.

-- Postings: the pending counters move once per account per statement (the sum of the
-- statement's postings of that account). Posted postings still go one by one through
-- ledger_apply_posted, which writes each account entry with its running balance.
CREATE FUNCTION postings_apply_statement() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  p postings;
  v_pending uuid[];
  v_posted uuid[];
  v_refused boolean;
BEGIN
  -- The statement's transactions, looked up by primary key (never a join the planner could
  -- turn into a scan of the whole table).
  SELECT array_agg(t.id) FILTER (WHERE t.state = 'pending'),
         array_agg(t.id) FILTER (WHERE t.state = 'posted'),
         coalesce(bool_or(t.created_at <> now() OR t.state = 'voided'), false)
    INTO v_pending, v_posted, v_refused
    FROM ledger_transactions t
   WHERE t.id = ANY (ARRAY(SELECT DISTINCT n.transaction_id FROM new_postings n));
  IF v_refused THEN
    RAISE EXCEPTION 'postings can only be added while their transaction is created' USING ERRCODE = 'check_violation';
  END IF;
  IF v_pending IS NOT NULL THEN
    UPDATE balances b SET
        debits_pending  = b.debits_pending  + d.debits,
        credits_pending = b.credits_pending + d.credits,
        updated_at = clock_timestamp()
      FROM (SELECT n.account_id, sum(GREATEST(n.amount, 0)) AS debits, sum(GREATEST(-n.amount, 0)) AS credits
              FROM new_postings n
             WHERE v_posted IS NULL OR n.transaction_id = ANY (v_pending)
             GROUP BY n.account_id) d
     WHERE b.account_id = d.account_id;
  END IF;
  IF v_posted IS NOT NULL THEN
    FOR p IN SELECT n.* FROM new_postings n
              WHERE v_pending IS NULL OR n.transaction_id = ANY (v_posted) ORDER BY n.id LOOP
      PERFORM ledger_apply_posted(p);
    END LOOP;
  END IF;
  RETURN NULL;
END $$;
DROP TRIGGER postings_apply ON postings;
DROP FUNCTION postings_apply();
CREATE TRIGGER postings_apply AFTER INSERT ON postings
  REFERENCING NEW TABLE AS new_postings
  FOR EACH STATEMENT EXECUTE FUNCTION postings_apply_statement();

-- Journal: each entry still takes its sequence and previous hash from the entry before it,
-- under the chain head's row lock (which orders concurrent writers). The previous entry is
-- read from the journal itself (rows of the same statement are visible to a BEFORE trigger),
-- and the head row is written once, at the end of the statement.
CREATE OR REPLACE FUNCTION journal_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_head journal_head;
  v_sequence bigint;
  v_hash text;
BEGIN
  SELECT * INTO v_head FROM journal_head WHERE id = 1 FOR UPDATE;
  SELECT j.sequence, j.hash INTO v_sequence, v_hash FROM journal_entries j
   WHERE j.sequence >= v_head.sequence ORDER BY j.sequence DESC LIMIT 1;
  IF NOT FOUND THEN
    v_sequence := v_head.sequence;
    v_hash := v_head.hash;
  END IF;
  NEW.sequence := v_sequence + 1;
  NEW.prev_hash := v_hash;
  NEW.recorded_at := clock_timestamp();
  NEW.hash := encode(sha256(convert_to(NEW.prev_hash || '|' || journal_canonical(NEW), 'UTF8')), 'hex');
  RETURN NEW;
END $$;

CREATE FUNCTION journal_head_advance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE journal_head h SET sequence = n.sequence, hash = n.hash
    FROM (SELECT sequence, hash FROM new_entries ORDER BY sequence DESC LIMIT 1) n
   WHERE h.id = 1;
  RETURN NULL;
END $$;
CREATE TRIGGER journal_head_advance AFTER INSERT ON journal_entries
  REFERENCING NEW TABLE AS new_entries
  FOR EACH STATEMENT EXECUTE FUNCTION journal_head_advance();
