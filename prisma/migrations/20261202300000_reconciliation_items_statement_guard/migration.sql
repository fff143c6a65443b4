-- Reconciliation items are still written once, while their run is running, and never change.
-- The check that the run is running ran once per row (a plpgsql call and a lookup of the run
-- per item: a 100,000-account run paid it 100,000 times); it now runs once per statement,
-- over the statement's distinct runs (the transition table), with the same error. The row
-- is still refused before the statement ends: an AFTER trigger's error aborts the statement.
CREATE FUNCTION reconciliation_items_insert_guard_statement() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_run uuid;
BEGIN
  SELECT n.run_id INTO v_run
    FROM (SELECT DISTINCT run_id FROM new_items) n
   WHERE NOT EXISTS (SELECT 1 FROM reconciliation_runs r WHERE r.id = n.run_id AND r.status = 'running')
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'reconciliation run % is not running: its items are final', v_run USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END $$;
DROP TRIGGER reconciliation_items_insert_guard ON reconciliation_items;
DROP FUNCTION reconciliation_items_insert_guard();
CREATE TRIGGER reconciliation_items_insert_guard AFTER INSERT ON reconciliation_items
  REFERENCING NEW TABLE AS new_items
  FOR EACH STATEMENT EXECUTE FUNCTION reconciliation_items_insert_guard_statement();
