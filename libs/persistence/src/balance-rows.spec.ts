import { Money, subaccountCode, transferPostings } from '@app/ledger';
import { Database, Tx } from './database';
import { appendJournalMany } from './journal';
import { ledgerFixture } from '../../../test/support/db';

/**
 * Each balance is two rows (the balances_in_two_rows migration): recordings move the pending
 * row, settlements the posted row, and the overdraft guard is checked by the triggers. These
 * races run two real transactions against each other: what the split buys (a reservation no
 * longer waits for a settlement) and what the guard still refuses (a reservation and a posted
 * credit, each waiting for the other to commit, never both spend the same money).
 */
describe('balances in two rows (real Postgres)', () => {
  let f: Awaited<ReturnType<typeof ledgerFixture>>;
  const ids = new Map<string, string>();
  beforeAll(async () => {
    f = await ledgerFixture(10);
    for (const t of ['R1', 'R2']) await f.db.transaction((tx) => f.repo.ensureAccount(tx, f.providerAccount, subaccountCode(t)));
    for (const r of await f.db.query<{ code: string; id: string }>('SELECT code, id::text FROM ledger_accounts WHERE provider_account_id = $1', [f.providerAccount])) ids.set(r.code, r.id);
  });
  afterAll(() => f.db.close());

  const reserve = (tx: Tx | Database, token: string, amount: string) => f.repo.record(tx as Tx, {
    providerAccount: f.providerAccount, kind: 'transfer', state: 'pending', actor: 'system:test', lines: transferPostings('add', token, Money.parse(amount)) });
  /** A transaction written by hand, past the repository's own checks: only the triggers guard it. */
  const byHand = (tx: Tx, state: 'pending' | 'posted', debit: string, amount: string) => tx.query(
    `WITH t AS (INSERT INTO ledger_transactions (id, provider_account_id, kind, state, actor) VALUES (gen_random_uuid(), $1, $2, $3, 'sql') RETURNING id)
     INSERT INTO postings (transaction_id, account_id, amount) SELECT t.id, v.account, v.amount FROM t, (VALUES ($4::bigint, $6::numeric), ($5::bigint, -$6::numeric)) AS v(account, amount)`,
    [f.providerAccount, state === 'pending' ? 'transfer' : 'usage', state, ids.get(debit), ids.get('main'), amount]);
  const available = async () => (await f.queries.balance(f.providerAccount, 'main')).available.toFixed();
  /**
   * Opens a transaction and runs `work` in it; `work` calls `pause` where the transaction is to
   * wait (its locks held) until the returned `commit` is called (by default, at its end).
   */
  const held = async (work: (tx: Tx, pause: () => Promise<void>) => Promise<unknown>) => {
    let commit!: () => void;
    let paused!: () => void;
    const gate = new Promise<void>((r) => { commit = r; });
    const ready = new Promise<void>((r) => { paused = r; });
    const pause = () => { paused(); return gate; };
    let pid = 0;
    const done = f.db.transaction(async (tx) => {
      [{ pid }] = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      await work(tx, pause);
      await pause();
    }, { sqlOnly: true, retries: 0 });
    await Promise.race([ready, done]);
    return { commit, done, pid };
  };
  /** Until a backend waits for one of `holder`'s locks (other tests share the server). */
  const waitingFor = async (holder: number) => {
    for (let i = 0; i < 200; i++) {
      const [{ n }] = await f.db.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))', [holder]);
      if (n > 0) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error('no transaction waited for the open one');
  };

  it('a reservation commits while a settlement of the same account is still open', async () => {
    await f.db.transaction((tx) => byHand(tx, 'posted', 'usage', '-50')); // main gets 50 (debit main, credit usage)
    const first = await f.db.transaction((tx) => reserve(tx, 'R1', '5'));
    // Held after the settlement's update, before its journal entries (which take the chain
    // head, as every writer's last statement does): its posted rows are locked.
    const settlement = await held((tx, pause) => f.repo.settleMany(tx, f.providerAccount, [{ id: first }], 'posted', 'system:test', null, {
      journalWith: async (entries) => { await pause(); await appendJournalMany(tx, entries); } }));
    try {
      // With one row per balance this waited for the settlement's COMMIT (and timed out here).
      const second = await Promise.race([
        f.db.transaction((tx) => reserve(tx, 'R2', '5')),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the reservation waited for the settlement')), 3000)),
      ]);
      expect(second).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      settlement.commit();
      await settlement.done;
    }
    expect(await available()).toBe('40.000');
    const [main] = await f.db.query<{ posted: string; pending: string }>(
      `SELECT (debits_posted - credits_posted)::text AS posted, credits_pending::text AS pending FROM balances WHERE account_id = $1`, [ids.get('main')]);
    expect(main).toEqual({ posted: '45.000', pending: '5.000' });
  });

  /**
   * `first` commits while `second`, started after it, waits for its lock; `second` is then
   * refused by the guard on what `first` left.
   */
  const race = async (first: (tx: Tx) => Promise<unknown>, second: (tx: Tx) => Promise<unknown>) => {
    const open = await held(first);
    const waiting = f.db.transaction(second, { sqlOnly: true, retries: 0 });
    await waitingFor(open.pid);
    open.commit();
    await open.done;
    await expect(waiting).rejects.toMatchObject({ constraint: 'balances_available_not_negative' });
  };

  it('a posted credit waits for an open reservation, then is refused on what it left', async () => {
    expect(await available()).toBe('40.000');
    await race((tx) => byHand(tx, 'pending', 'sub:R1', '30'), (tx) => byHand(tx, 'posted', 'usage', '30'));
    expect(await available()).toBe('10.000');
  });

  it('a reservation waits for an open posted credit, then is refused on what it left', async () => {
    // Its check runs after the credit committed: a snapshot of its own, taken with the row held.
    await race((tx) => byHand(tx, 'posted', 'usage', '8'), (tx) => byHand(tx, 'pending', 'sub:R2', '8'));
    expect(await available()).toBe('2.000');
  });

  it('voiding releases the reservation on the posted row; the view shows nothing pending', async () => {
    const open = await f.db.query<{ id: string }>(`SELECT id FROM ledger_transactions WHERE provider_account_id = $1 AND state = 'pending'`, [f.providerAccount]);
    await f.db.transaction((tx) => f.repo.settleMany(tx, f.providerAccount, open.map((o) => ({ id: o.id })), 'voided', 'system:test'), { sqlOnly: true });
    const [r] = await f.db.query<{ reserved: string; released: string; pending: string }>(
      `SELECT r.credits_reserved::text AS reserved, s.credits_released::text AS released, b.credits_pending::text AS pending
         FROM pending_balances r JOIN posted_balances s USING (account_id) JOIN balances b USING (account_id) WHERE account_id = $1`, [ids.get('main')]);
    expect(r).toEqual({ reserved: '40.000', released: '40.000', pending: '0.000' });
    expect(await available()).toBe('37.000');
  });
});
