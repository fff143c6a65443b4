-- Ledger core. The database defends the invariants itself: balanced transactions (checked
-- at commit), immutable postings, entries and journal, one-way transaction states, balances
-- maintained by triggers from the postings, and the overdraft guard as a CHECK.

CREATE TABLE provider_accounts (
  id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9_-]{1,40}$'),
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ledger_accounts (
  id                   bigserial PRIMARY KEY,
  provider_account_id  text NOT NULL REFERENCES provider_accounts(id),
  code                 text NOT NULL,
  kind                 text NOT NULL CHECK (kind IN ('main', 'subaccount', 'funding', 'usage', 'adjustment')),
  overdraft_guard      boolean NOT NULL,
  created_at           timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT ledger_accounts_code_unique UNIQUE (provider_account_id, code),
  CONSTRAINT ledger_accounts_code_matches_kind CHECK (
    CASE kind WHEN 'subaccount' THEN code ~ '^sub:[A-Za-z0-9_-]{1,128}$' ELSE code = kind END)
);

-- Debit-normal balances: balance = debits - credits. A transfer "add 10 to S" debits sub:S
-- and credits main. available = posted - credits_pending (money reserved to leave).
CREATE TABLE balances (
  account_id       bigint PRIMARY KEY REFERENCES ledger_accounts(id),
  overdraft_guard  boolean NOT NULL,
  debits_posted    numeric(20,3) NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
  credits_posted   numeric(20,3) NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
  debits_pending   numeric(20,3) NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
  credits_pending  numeric(20,3) NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT balances_available_not_negative
    CHECK (NOT overdraft_guard OR debits_posted - credits_posted - credits_pending >= 0)
);

CREATE TABLE ledger_transactions (
  id                   uuid PRIMARY KEY,
  provider_account_id  text NOT NULL REFERENCES provider_accounts(id),
  kind                 text NOT NULL CHECK (kind IN ('transfer', 'opening_balance', 'usage', 'purchase', 'write_off')),
  state                text NOT NULL CHECK (state IN ('pending', 'posted', 'voided')),
  actor                text NOT NULL CHECK (length(actor) > 0),
  reason               text,
  correlation_id       text,
  created_at           timestamptz NOT NULL DEFAULT now(),
  finalized_at         timestamptz,
  CONSTRAINT ledger_transactions_finalized_iff_not_pending CHECK ((state = 'pending') = (finalized_at IS NULL))
);
CREATE INDEX ledger_transactions_created_idx ON ledger_transactions (created_at, id);

-- amount > 0 is a debit, < 0 a credit.
CREATE TABLE postings (
  id              bigserial PRIMARY KEY,
  transaction_id  uuid NOT NULL REFERENCES ledger_transactions(id),
  account_id      bigint NOT NULL REFERENCES ledger_accounts(id),
  amount          numeric(20,3) NOT NULL CHECK (amount <> 0),
  created_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT postings_one_per_account UNIQUE (transaction_id, account_id)
);
CREATE INDEX postings_account_idx ON postings (account_id, id);

-- Posted history per account with the running balance: balance at an instant and statements
-- read one index range, whatever the size of the history.
CREATE TABLE account_entries (
  id              bigserial PRIMARY KEY,
  account_id      bigint NOT NULL REFERENCES ledger_accounts(id),
  transaction_id  uuid NOT NULL REFERENCES ledger_transactions(id),
  posting_id      bigint NOT NULL UNIQUE REFERENCES postings(id),
  amount          numeric(20,3) NOT NULL,
  balance_after   numeric(20,3) NOT NULL,
  posted_at       timestamptz NOT NULL
);
CREATE INDEX account_entries_account_time_idx ON account_entries (account_id, posted_at, id);

CREATE TABLE journal_entries (
  sequence             bigint PRIMARY KEY,
  provider_account_id  text NOT NULL,
  recorded_at          timestamptz NOT NULL,
  actor                text NOT NULL CHECK (length(actor) > 0),
  action               text NOT NULL,
  entity_type          text NOT NULL,
  entity_id            text NOT NULL,
  reason               text,
  correlation_id       text,
  data                 jsonb NOT NULL DEFAULT '{}'::jsonb,
  prev_hash            text NOT NULL,
  hash                 text NOT NULL
);
CREATE INDEX journal_entries_time_idx ON journal_entries (recorded_at, sequence);
CREATE INDEX journal_entries_entity_idx ON journal_entries (entity_type, entity_id, sequence);

CREATE TABLE journal_head (
  id        int PRIMARY KEY CHECK (id = 1),
  sequence  bigint NOT NULL,
  hash      text NOT NULL
);
INSERT INTO journal_head VALUES (1, 0, repeat('0', 64));

-- ---------------------------------------------------------------------------------------
-- Immutability
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% on % is not allowed: the ledger is append-only', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'integrity_constraint_violation';
END $$;

CREATE TRIGGER postings_immutable BEFORE UPDATE OR DELETE ON postings
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER account_entries_immutable BEFORE UPDATE OR DELETE ON account_entries
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER journal_entries_immutable BEFORE UPDATE OR DELETE ON journal_entries
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_transactions_no_delete BEFORE DELETE ON ledger_transactions
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_accounts_no_delete BEFORE DELETE ON ledger_accounts
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER truncate_refused_postings BEFORE TRUNCATE ON postings
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER truncate_refused_journal BEFORE TRUNCATE ON journal_entries
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER truncate_refused_entries BEFORE TRUNCATE ON account_entries
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER truncate_refused_transactions BEFORE TRUNCATE ON ledger_transactions
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- A transaction is born pending or posted, and moves pending -> posted | voided once.
CREATE FUNCTION ledger_transaction_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.state = 'voided' THEN
      RAISE EXCEPTION 'a ledger transaction cannot be created voided' USING ERRCODE = 'check_violation';
    END IF;
    NEW.finalized_at := CASE WHEN NEW.state = 'posted' THEN clock_timestamp() END;
    RETURN NEW;
  END IF;
  IF OLD.state <> 'pending' OR NEW.state NOT IN ('posted', 'voided') THEN
    RAISE EXCEPTION 'ledger transaction % cannot move from % to %', OLD.id, OLD.state, NEW.state
      USING ERRCODE = 'check_violation';
  END IF;
  IF (NEW.id, NEW.provider_account_id, NEW.kind, NEW.actor, NEW.reason, NEW.correlation_id, NEW.created_at)
     IS DISTINCT FROM (OLD.id, OLD.provider_account_id, OLD.kind, OLD.actor, OLD.reason, OLD.correlation_id, OLD.created_at) THEN
    RAISE EXCEPTION 'only the state of a ledger transaction can change' USING ERRCODE = 'check_violation';
  END IF;
  NEW.finalized_at := clock_timestamp();
  RETURN NEW;
END $$;
CREATE TRIGGER ledger_transactions_guard BEFORE INSERT OR UPDATE ON ledger_transactions
  FOR EACH ROW EXECUTE FUNCTION ledger_transaction_guard();

-- Applies posted amounts to a balance row and records the account entry (running balance).
CREATE FUNCTION ledger_apply_posted(p_posting postings) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_after numeric(20,3);
BEGIN
  UPDATE balances SET
      debits_posted  = debits_posted  + GREATEST(p_posting.amount, 0),
      credits_posted = credits_posted + GREATEST(-p_posting.amount, 0),
      updated_at = clock_timestamp()
    WHERE account_id = p_posting.account_id
    RETURNING debits_posted - credits_posted INTO v_after;
  INSERT INTO account_entries (account_id, transaction_id, posting_id, amount, balance_after, posted_at)
    VALUES (p_posting.account_id, p_posting.transaction_id, p_posting.id, p_posting.amount, v_after, clock_timestamp());
END $$;

-- Postings belong to the database transaction that created their ledger transaction, and
-- move the balances: into pending columns for a pending transaction, posted otherwise.
CREATE FUNCTION postings_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_tx ledger_transactions;
BEGIN
  SELECT * INTO v_tx FROM ledger_transactions WHERE id = NEW.transaction_id;
  IF v_tx.created_at <> now() OR v_tx.state = 'voided' THEN
    RAISE EXCEPTION 'postings can only be added while their transaction is created' USING ERRCODE = 'check_violation';
  END IF;
  IF v_tx.state = 'pending' THEN
    UPDATE balances SET
        debits_pending  = debits_pending  + GREATEST(NEW.amount, 0),
        credits_pending = credits_pending + GREATEST(-NEW.amount, 0),
        updated_at = clock_timestamp()
      WHERE account_id = NEW.account_id;
  ELSE
    PERFORM ledger_apply_posted(NEW);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER postings_apply AFTER INSERT ON postings
  FOR EACH ROW EXECUTE FUNCTION postings_apply();

CREATE FUNCTION ledger_transaction_settle() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  p postings;
BEGIN
  FOR p IN SELECT * FROM postings WHERE transaction_id = NEW.id ORDER BY account_id LOOP
    UPDATE balances SET
        debits_pending  = debits_pending  - GREATEST(p.amount, 0),
        credits_pending = credits_pending - GREATEST(-p.amount, 0),
        updated_at = clock_timestamp()
      WHERE account_id = p.account_id;
    IF NEW.state = 'posted' THEN
      PERFORM ledger_apply_posted(p);
    END IF;
  END LOOP;
  RETURN NULL;
END $$;
CREATE TRIGGER ledger_transactions_settle AFTER UPDATE OF state ON ledger_transactions
  FOR EACH ROW EXECUTE FUNCTION ledger_transaction_settle();

-- Balanced: checked at commit so that postings can be inserted one by one.
CREATE FUNCTION ledger_assert_balanced(p_id uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_sum numeric;
  v_count int;
BEGIN
  SELECT coalesce(sum(amount), 0), count(*) INTO v_sum, v_count FROM postings WHERE transaction_id = p_id;
  IF v_count < 2 OR v_sum <> 0 THEN
    RAISE EXCEPTION 'ledger transaction % is unbalanced (% postings, sum %)', p_id, v_count, v_sum
      USING ERRCODE = 'check_violation';
  END IF;
END $$;
CREATE FUNCTION postings_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM ledger_assert_balanced(NEW.transaction_id);
  RETURN NULL;
END $$;
CREATE FUNCTION ledger_transactions_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM ledger_assert_balanced(NEW.id);
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER postings_balanced AFTER INSERT ON postings
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION postings_balanced();
CREATE CONSTRAINT TRIGGER ledger_transactions_balanced AFTER INSERT ON ledger_transactions
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_transactions_balanced();

-- Balance rows only move through the triggers above (or are created with zero).
CREATE FUNCTION balances_created_empty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.debits_posted <> 0 OR NEW.credits_posted <> 0 OR NEW.debits_pending <> 0 OR NEW.credits_pending <> 0 THEN
    RAISE EXCEPTION 'balances start at zero; money enters through postings' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER balances_created_empty BEFORE INSERT ON balances
  FOR EACH ROW EXECUTE FUNCTION balances_created_empty();
CREATE TRIGGER balances_no_delete BEFORE DELETE ON balances
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

-- ---------------------------------------------------------------------------------------
-- Hash-chained journal. The trigger assigns the sequence and the hashes from the chain head
-- (its row lock orders concurrent writers), so no client can choose them.
CREATE FUNCTION journal_canonical(j journal_entries) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT concat_ws('|', j.sequence::text, j.provider_account_id,
    (extract(epoch FROM j.recorded_at) * 1000000)::bigint::text,
    j.actor, j.action, j.entity_type, j.entity_id,
    coalesce(j.reason, ''), coalesce(j.correlation_id, ''), j.data::text)
$$;

CREATE FUNCTION journal_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_head journal_head;
BEGIN
  UPDATE journal_head SET sequence = sequence + 1 WHERE id = 1 RETURNING * INTO v_head;
  NEW.sequence := v_head.sequence;
  NEW.prev_hash := v_head.hash;
  NEW.recorded_at := clock_timestamp();
  NEW.hash := encode(sha256(convert_to(NEW.prev_hash || '|' || journal_canonical(NEW), 'UTF8')), 'hex');
  UPDATE journal_head SET hash = NEW.hash WHERE id = 1;
  RETURN NEW;
END $$;
CREATE TRIGGER journal_entries_chain BEFORE INSERT ON journal_entries
  FOR EACH ROW EXECUTE FUNCTION journal_chain();
