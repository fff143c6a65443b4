-- Settlement, set-based (docs/benchmarks.md, "Issue 16, ninth pass"). The worker settles its
-- confirmed transfers in groups, one UPDATE of ledger_transactions each. The row trigger
-- moved the balances posting by posting: four updates of balance rows and one account entry
-- per settled transfer, so a group of 20 updated `main`'s balance row 40 times in one
-- statement, each update stepping over the versions the previous ones left, while that row
-- is held. The trigger now runs once per statement: each account's balance row is updated
-- once (pending counters down, posted counters up by the statement's postings of it), and
-- the account entries are written with their running balances in posting order (the order
-- the transactions were recorded in), each `balance_after` the account's posted balance
-- before the statement plus the entries before it. Same rules, same end state.
CREATE FUNCTION ledger_transactions_settle_statement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  WITH settled AS (
         SELECT n.id, n.state FROM settled_new n JOIN settled_old o ON o.id = n.id
          WHERE o.state = 'pending' AND n.state IN ('posted', 'voided')
       ), p AS (
         -- Each transaction's postings by its id (one index probe each, whatever the statistics say).
         SELECT q.id, q.transaction_id, q.account_id, q.amount, s.state
           FROM settled s
          CROSS JOIN LATERAL (SELECT x.id, x.transaction_id, x.account_id, x.amount FROM postings x WHERE x.transaction_id = s.id OFFSET 0) q
       ), d AS (
         SELECT p.account_id,
                sum(GREATEST(p.amount, 0)) AS debits, sum(GREATEST(-p.amount, 0)) AS credits,
                coalesce(sum(GREATEST(p.amount, 0)) FILTER (WHERE p.state = 'posted'), 0) AS debits_posted,
                coalesce(sum(GREATEST(-p.amount, 0)) FILTER (WHERE p.state = 'posted'), 0) AS credits_posted
           FROM p GROUP BY p.account_id
       ), u AS (
         UPDATE balances b SET
             debits_pending  = b.debits_pending  - d.debits,
             credits_pending = b.credits_pending - d.credits,
             debits_posted   = b.debits_posted   + d.debits_posted,
             credits_posted  = b.credits_posted  + d.credits_posted,
             updated_at = clock_timestamp()
           FROM d WHERE b.account_id = d.account_id
         RETURNING b.account_id, b.debits_posted - b.credits_posted - (d.debits_posted - d.credits_posted) AS posted_before
       )
  INSERT INTO account_entries (account_id, transaction_id, posting_id, amount, balance_after, posted_at)
  SELECT p.account_id, p.transaction_id, p.id, p.amount,
         u.posted_before + sum(p.amount) OVER (PARTITION BY p.account_id ORDER BY p.id), clock_timestamp()
    FROM p JOIN u ON u.account_id = p.account_id
   WHERE p.state = 'posted'
   ORDER BY p.id;
  RETURN NULL;
END $$;
DROP TRIGGER ledger_transactions_settle ON ledger_transactions;
DROP FUNCTION ledger_transaction_settle();
CREATE TRIGGER ledger_transactions_settle AFTER UPDATE ON ledger_transactions
  REFERENCING OLD TABLE AS settled_old NEW TABLE AS settled_new
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_transactions_settle_statement();
