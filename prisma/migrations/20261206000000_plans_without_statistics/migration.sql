-- Plans that do not depend on statistics (docs/benchmarks.md, "Issue 16, ninth pass").
-- A PL/pgSQL function plans each query once per connection and keeps that plan until the
-- table's statistics change. On a server without autovacuum (a fresh database, every bench
-- and CI run, an installation before its first ANALYZE) they never do, so the postings
-- trigger kept the plan it made on its first call, when ledger_transactions was empty: a
-- sequential scan, then run once per recording group over the whole table (4-5 ms a group at
-- 20,000 transactions, while `main`'s balance row is held). The statement's transactions are
-- now found by id, one primary-key probe each (a LATERAL subquery with LIMIT is never turned
-- into a join the planner could make a scan of). Same rules, same refusals.
CREATE OR REPLACE FUNCTION postings_apply_statement() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  p postings;
  v_pending uuid[];
  v_posted uuid[];
  v_refused boolean;
BEGIN
  SELECT array_agg(t.id) FILTER (WHERE t.state = 'pending'),
         array_agg(t.id) FILTER (WHERE t.state = 'posted'),
         coalesce(bool_or(t.created_at <> now() OR t.state = 'voided'), false)
    INTO v_pending, v_posted, v_refused
    FROM (SELECT DISTINCT n.transaction_id FROM new_postings n) n
    CROSS JOIN LATERAL (SELECT l.id, l.state, l.created_at FROM ledger_transactions l WHERE l.id = n.transaction_id LIMIT 1) t;
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
