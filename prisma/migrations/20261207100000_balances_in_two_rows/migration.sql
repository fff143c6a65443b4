-- Each balance in two rows (docs/ledger.md, "Two rows per balance"; docs/benchmarks.md, "Issue
-- 16, eleventh pass"). A recording (a reservation) and a settlement of the same provider
-- account both updated `main`'s one balance row, so each waited for the other's COMMIT: under
-- mixed load recording queued behind every settlement group. Now:
--   pending_balances: what recordings move, reservations made (cumulative), and the guard;
--   posted_balances:  what settlements and posted transactions move, posted counters and the
--                     reservations released (posted or voided, cumulative).
-- A reservation locks and updates its accounts' pending rows only; a settlement their posted
-- rows only. The counters readers know are the view `balances`:
--   debits_pending  = debits_reserved  - debits_released
--   credits_pending = credits_reserved - credits_released
--   available       = debits_posted - credits_posted - credits_pending.
--
-- The overdraft guard, which was a CHECK on the one row, is now checked by the triggers with
-- the same constraint name (balances_available_not_negative), and stays exact:
--   * a settlement never lowers an account's available balance (posting a reservation moves
--     its amount from credits_pending to credits_posted; voiding it only releases), so it
--     needs no check and no pending row;
--   * every write that can lower it (a reservation, a posted credit) holds the account's
--     pending row while it checks: the reservation updates that row, a posted credit locks it
--     (ascending id, before any posted row). The check is a statement of its own, after the
--     row is held, so its snapshot shows every such write that committed before: nothing
--     that lowers the balance can be in flight on that account, and a settlement in flight
--     can only have raised it (the check then refuses on a figure at most too low, never too
--     high).
-- Lock order for every writer: pending rows (ascending id), then posted rows (ascending id),
-- then the journal chain head.

CREATE TABLE pending_balances (
  account_id        bigint PRIMARY KEY REFERENCES ledger_accounts(id),
  overdraft_guard   boolean NOT NULL,
  debits_reserved   numeric(20,3) NOT NULL DEFAULT 0 CHECK (debits_reserved >= 0),
  credits_reserved  numeric(20,3) NOT NULL DEFAULT 0 CHECK (credits_reserved >= 0),
  updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE posted_balances (
  account_id        bigint PRIMARY KEY REFERENCES ledger_accounts(id),
  debits_posted     numeric(20,3) NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
  credits_posted    numeric(20,3) NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
  debits_released   numeric(20,3) NOT NULL DEFAULT 0 CHECK (debits_released >= 0),
  credits_released  numeric(20,3) NOT NULL DEFAULT 0 CHECK (credits_released >= 0),
  updated_at        timestamptz NOT NULL DEFAULT now()
);
INSERT INTO pending_balances (account_id, overdraft_guard, debits_reserved, credits_reserved, updated_at)
  SELECT account_id, overdraft_guard, debits_pending, credits_pending, updated_at FROM balances;
INSERT INTO posted_balances (account_id, debits_posted, credits_posted, updated_at)
  SELECT account_id, debits_posted, credits_posted, updated_at FROM balances;
DROP TABLE balances;

CREATE VIEW balances AS
  SELECT r.account_id, r.overdraft_guard, s.debits_posted, s.credits_posted,
         r.debits_reserved - s.debits_released AS debits_pending,
         r.credits_reserved - s.credits_released AS credits_pending,
         GREATEST(r.updated_at, s.updated_at) AS updated_at
    FROM pending_balances r JOIN posted_balances s ON s.account_id = r.account_id;

-- An account's balance rows come with it, empty; they only move through the triggers below.
CREATE FUNCTION ledger_accounts_balances() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO pending_balances (account_id, overdraft_guard) SELECT n.id, n.overdraft_guard FROM new_accounts n;
  INSERT INTO posted_balances (account_id) SELECT n.id FROM new_accounts n;
  RETURN NULL;
END $$;
CREATE TRIGGER ledger_accounts_balances AFTER INSERT ON ledger_accounts
  REFERENCING NEW TABLE AS new_accounts FOR EACH STATEMENT EXECUTE FUNCTION ledger_accounts_balances();

CREATE FUNCTION pending_balances_created_empty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.debits_reserved <> 0 OR NEW.credits_reserved <> 0 THEN
    RAISE EXCEPTION 'balances start at zero; money enters through postings' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE FUNCTION posted_balances_created_empty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.debits_posted <> 0 OR NEW.credits_posted <> 0 OR NEW.debits_released <> 0 OR NEW.credits_released <> 0 THEN
    RAISE EXCEPTION 'balances start at zero; money enters through postings' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER pending_balances_created_empty BEFORE INSERT ON pending_balances FOR EACH ROW EXECUTE FUNCTION pending_balances_created_empty();
CREATE TRIGGER posted_balances_created_empty BEFORE INSERT ON posted_balances FOR EACH ROW EXECUTE FUNCTION posted_balances_created_empty();
CREATE TRIGGER pending_balances_no_delete BEFORE DELETE ON pending_balances FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER posted_balances_no_delete BEFORE DELETE ON posted_balances FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
DROP FUNCTION balances_created_empty();
-- Nothing but the triggers below moves them (the guard is checked there; the one-row CHECK
-- also held against a hand-written UPDATE, and so does this).
CREATE FUNCTION balances_moved_by_postings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'UPDATE on % refused: balances move only through postings', TG_TABLE_NAME USING ERRCODE = 'check_violation';
END $$;
CREATE TRIGGER pending_balances_moved_by_postings BEFORE UPDATE ON pending_balances
  FOR EACH ROW WHEN (pg_trigger_depth() = 0) EXECUTE FUNCTION balances_moved_by_postings();
CREATE TRIGGER posted_balances_moved_by_postings BEFORE UPDATE ON posted_balances
  FOR EACH ROW WHEN (pg_trigger_depth() = 0) EXECUTE FUNCTION balances_moved_by_postings();

-- The guard, for these accounts, on their current rows (see above for why this is exact).
-- (One primary-key probe per account, whatever the statistics say: see the plans migration.)
CREATE FUNCTION ledger_assert_available(p_accounts bigint[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_account bigint;
BEGIN
  SELECT x.account_id INTO v_account
    FROM unnest(p_accounts) AS a(id)
    CROSS JOIN LATERAL (
      SELECT r.account_id FROM pending_balances r JOIN posted_balances s ON s.account_id = r.account_id
       WHERE r.account_id = a.id AND r.overdraft_guard
         AND s.debits_posted - s.credits_posted - (r.credits_reserved - s.credits_released) < 0
       LIMIT 1) x
   LIMIT 1;
  IF v_account IS NOT NULL THEN
    RAISE EXCEPTION 'the available balance of account % would fall below zero', v_account
      USING ERRCODE = 'check_violation', CONSTRAINT = 'balances_available_not_negative', TABLE = 'balances';
  END IF;
END $$;

-- Posted amounts move the posted row and write the account entry (running balance). A credit
-- (which lowers the available balance) holds the pending row first: the caller's statement
-- locked it already (postings_apply_statement), so this is the check.
CREATE OR REPLACE FUNCTION ledger_apply_posted(p_posting postings) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_after numeric(20,3);
BEGIN
  UPDATE posted_balances SET
      debits_posted  = debits_posted  + GREATEST(p_posting.amount, 0),
      credits_posted = credits_posted + GREATEST(-p_posting.amount, 0),
      updated_at = clock_timestamp()
    WHERE account_id = p_posting.account_id
    RETURNING debits_posted - credits_posted INTO v_after;
  IF p_posting.amount < 0 THEN
    PERFORM ledger_assert_available(ARRAY[p_posting.account_id]);
  END IF;
  INSERT INTO account_entries (account_id, transaction_id, posting_id, amount, balance_after, posted_at)
    VALUES (p_posting.account_id, p_posting.transaction_id, p_posting.id, p_posting.amount, v_after, clock_timestamp());
END $$;

CREATE OR REPLACE FUNCTION postings_apply_statement() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  p postings;
  v_pending uuid[];
  v_posted uuid[];
  v_refused boolean;
  v_reserved bigint[];
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
  -- The pending rows this statement holds, ascending, before any posted row: the accounts it
  -- reserves on, and the guarded accounts its posted transactions credit.
  PERFORM 1
     FROM (SELECT n.account_id, bool_or(coalesce(v_posted IS NULL OR n.transaction_id = ANY (v_pending), false)) AS reserves
             FROM new_postings n
            WHERE v_posted IS NULL OR n.transaction_id = ANY (v_pending) OR n.amount < 0
            GROUP BY n.account_id ORDER BY n.account_id) n
    CROSS JOIN LATERAL (SELECT r.account_id FROM pending_balances r
                         WHERE r.account_id = n.account_id AND (n.reserves OR r.overdraft_guard) FOR UPDATE) l;
  IF v_pending IS NOT NULL THEN
    WITH u AS (
      UPDATE pending_balances r SET
          debits_reserved  = r.debits_reserved  + d.debits,
          credits_reserved = r.credits_reserved + d.credits,
          updated_at = clock_timestamp()
        FROM (SELECT n.account_id, sum(GREATEST(n.amount, 0)) AS debits, sum(GREATEST(-n.amount, 0)) AS credits
                FROM new_postings n
               WHERE v_posted IS NULL OR n.transaction_id = ANY (v_pending)
               GROUP BY n.account_id) d
       WHERE r.account_id = d.account_id
      RETURNING r.account_id, d.credits
    )
    SELECT array_agg(u.account_id) FILTER (WHERE u.credits > 0) INTO v_reserved FROM u;
    -- A statement of its own: its snapshot is taken with the pending rows held.
    IF v_reserved IS NOT NULL THEN
      PERFORM ledger_assert_available(v_reserved);
    END IF;
  END IF;
  IF v_posted IS NOT NULL THEN
    -- Their posted rows, ascending (the loop below goes in posting order, which across the
    -- statement's transactions is not account order).
    PERFORM 1
       FROM (SELECT DISTINCT n.account_id FROM new_postings n
              WHERE v_pending IS NULL OR n.transaction_id = ANY (v_posted) ORDER BY n.account_id) n
      CROSS JOIN LATERAL (SELECT s.account_id FROM posted_balances s WHERE s.account_id = n.account_id FOR UPDATE) l;
    FOR p IN SELECT n.* FROM new_postings n
              WHERE v_pending IS NULL OR n.transaction_id = ANY (v_posted) ORDER BY n.id LOOP
      PERFORM ledger_apply_posted(p);
    END LOOP;
  END IF;
  RETURN NULL;
END $$;

-- Settlement moves the posted rows only: posted counters up by the postings of the posted
-- transactions, released counters up by every settled posting.
CREATE OR REPLACE FUNCTION ledger_transactions_settle_statement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  WITH settled AS (
         SELECT n.id, n.state FROM settled_new n JOIN settled_old o ON o.id = n.id
          WHERE o.state = 'pending' AND n.state IN ('posted', 'voided')
       ), p AS (
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
         UPDATE posted_balances b SET
             debits_released  = b.debits_released  + d.debits,
             credits_released = b.credits_released + d.credits,
             debits_posted    = b.debits_posted    + d.debits_posted,
             credits_posted   = b.credits_posted   + d.credits_posted,
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
