import { Stack } from '../../support/processes';

/**
 * What a request could have written, counted: the rows of EVERY table of the schema that
 * belong to the stack's provider account (directly by provider_account_id, or through the
 * ledger account or reconciliation run they hang off), the global tables no other test
 * writes (journal_digests), and the provider side (the sandbox's log of applied calls, and
 * its sub-accounts). Tests running in parallel on the same database never change it.
 */
export async function footprint(stack: Stack): Promise<Record<string, number>> {
  const columns = await stack.db.query<{ table_name: string; column_name: string }>(
    `SELECT c.table_name, c.column_name FROM information_schema.columns c
       JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
      WHERE c.table_schema = 'public' ORDER BY 1, 2`);
  const byTable = new Map<string, Set<string>>();
  for (const c of columns) byTable.set(c.table_name, (byTable.get(c.table_name) ?? new Set()).add(c.column_name));
  const counts: Record<string, number> = {};
  for (const [table, cols] of byTable) {
    let sql: string | undefined;
    if (cols.has('provider_account_id')) sql = `SELECT count(*)::int AS n FROM "${table}" WHERE provider_account_id = $1`;
    else if (table === 'provider_accounts') sql = `SELECT count(*)::int AS n FROM provider_accounts WHERE id = $1`;
    else if (cols.has('account_id')) sql = `SELECT count(*)::int AS n FROM "${table}" x JOIN ledger_accounts a ON a.id = x.account_id WHERE a.provider_account_id = $1`;
    else if (cols.has('run_id')) sql = `SELECT count(*)::int AS n FROM "${table}" x JOIN reconciliation_runs r ON r.id = x.run_id WHERE r.provider_account_id = $1`;
    else if (cols.has('transaction_id')) sql = `SELECT count(*)::int AS n FROM "${table}" x JOIN ledger_transactions t ON t.id = x.transaction_id WHERE t.provider_account_id = $1`;
    else if (table === 'journal_digests') sql = `SELECT count(*)::int AS n FROM journal_digests WHERE $1::text IS NOT NULL`;
    if (!sql) continue; // journal_head (one row, moved by every journal entry of every test) and the migrations table
    const [{ n }] = await stack.db.query<{ n: number }>(sql, [stack.providerAccount]);
    counts[table] = n;
  }
  counts['sandbox log'] = stack.sandbox.state.log.length;
  counts['sandbox sub-accounts'] = stack.sandbox.state.subaccountsOf(stack.apiKey).length;
  return counts;
}
