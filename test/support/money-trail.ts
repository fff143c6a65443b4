import { Money } from '@app/ledger';
import { SandboxServer } from '@app/sandbox';
import { Database, Tx } from '@app/persistence';

/**
 * Proves, against the sandbox's own log of applied credit calls, that no transfer moved money
 * twice and that the ledger agrees with the provider. Each transfer carries a unique amount
 * per sub-account, so a log entry identifies its transfer.
 */
export async function checkMoneyTrail(db: Database, sandbox: SandboxServer, providerAccount: string, apiKey: string) {
  // The transfers and the balances from ONE snapshot: the worker may settle an in-doubt
  // transfer by its evidence between two separate reads, and the check would then count that
  // transfer twice (posted in the balance, and again as in doubt but applied).
  return db.transaction(async (tx) => {
    await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
    return checkIn(tx, sandbox, providerAccount, apiKey);
  }, { sqlOnly: true });
}

async function checkIn(db: Tx, sandbox: SandboxServer, providerAccount: string, apiKey: string) {
  const transfers = await db.query<{ id: string; subaccount_token: string; direction: string; amount: string; status: string }>(
    'SELECT id, subaccount_token, direction, amount, status FROM transfers WHERE provider_account_id = $1',
    [providerAccount],
  );
  const key = (token: string, route: string, amount: string) => `${token}|${route}|${Money.parse(amount).toFixed()}`;
  const byKey = new Map(transfers.map((t) => [key(t.subaccount_token, t.direction, t.amount), t]));
  const appliedCount = new Map<string, number>();
  const unmatched: string[] = [];
  for (const entry of sandbox.state.log) {
    if (entry.route === 'create') continue;
    const t = byKey.get(key(entry.token, entry.route, entry.amount));
    if (!t) { unmatched.push(key(entry.token, entry.route, entry.amount)); continue; }
    appliedCount.set(t.id, (appliedCount.get(t.id) ?? 0) + 1);
  }
  const appliedTwice = [...appliedCount.entries()].filter(([, n]) => n > 1).map(([id]) => id);
  const postedNotApplied = transfers.filter((t) => t.status === 'posted' && appliedCount.get(t.id) !== 1).map((t) => t.id);
  const failedButApplied = transfers.filter((t) => (t.status === 'failed' || t.status === 'voided') && appliedCount.has(t.id)).map((t) => t.id);
  const notFinal = transfers.filter((t) => !['posted', 'failed', 'in_doubt', 'voided'].includes(t.status)).map((t) => `${t.id}:${t.status}`);

  // Ledger posted balance + the in-doubt transfers the sandbox really applied = sandbox balance.
  const mismatches: string[] = [];
  const inDoubtApplied = transfers.filter((t) => t.status === 'in_doubt' && appliedCount.get(t.id) === 1);
  const tokens = [...new Set(sandbox.state.subaccountsOf(apiKey).map((s) => s.token))];
  for (const token of [...tokens, null]) {
    const code = token ? `sub:${token}` : 'main';
    const [row] = await db.query<{ posted: string }>(
      `SELECT b.debits_posted - b.credits_posted AS posted FROM balances b JOIN ledger_accounts a ON a.id = b.account_id WHERE a.provider_account_id = $1 AND a.code = $2`,
      [providerAccount, code],
    );
    if (!row) continue;
    let expected = Money.parse(row.posted);
    for (const t of inDoubtApplied) {
      const amount = Money.parse(t.amount);
      const intoSub = t.direction === 'add' ? amount : amount.negated();
      if (token === t.subaccount_token) expected = expected.plus(intoSub);
      if (token === null) expected = expected.minus(intoSub);
    }
    const actual = token ? sandbox.state.getSub(token)!.balance : sandbox.state.getMain(apiKey)!.balance;
    if (!actual.equals(expected)) mismatches.push(`${code}: sandbox ${actual.toFixed()} vs ledger ${expected.toFixed()}`);
  }
  return { transfers: transfers.length, unmatched, appliedTwice, postedNotApplied, failedButApplied, notFinal, mismatches, inDoubtApplied: inDoubtApplied.length };
}
