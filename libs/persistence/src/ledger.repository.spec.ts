import fc from 'fast-check';
import { DomainError } from '@app/common';
import { adjustmentPostings, Money, subaccountCode, transferPostings } from '@app/ledger';
import { Database, pgCode } from './database';
import { appendJournalMany, JournalInput } from './journal';
import { LedgerQueries } from './ledger.queries';
import { LedgerRepository } from './ledger.repository';
import { ensureDatabase, migrate } from './migrator';
import { ledgerFixture } from '../../../test/support/db';

const m = (s: string) => Money.parse(s);
const SYSTEM = 'system:test';

async function fund(repo: LedgerRepository, db: Database, pa: string, account: string, amount: string) {
  return db.transaction((tx) => repo.record(tx, { providerAccount: pa, kind: 'opening_balance', state: 'posted', actor: SYSTEM, reason: 'opening', lines: adjustmentPostings('opening_balance', account, m(amount)) }));
}

async function addSub(repo: LedgerRepository, db: Database, pa: string, token: string) {
  await db.transaction((tx) => repo.ensureAccount(tx, pa, subaccountCode(token)));
}

describe('ledger storage (real Postgres)', () => {
  let f: Awaited<ReturnType<typeof ledgerFixture>>;
  beforeAll(async () => { f = await ledgerFixture(60); });
  afterAll(async () => { await f.db.close(); });

  it('reserves, posts and voids with TigerBeetle-style balances', async () => {
    const { db, repo, queries, providerAccount: pa } = f;
    await fund(repo, db, pa, 'main', '100');
    await addSub(repo, db, pa, 'S1');
    const t1 = await db.transaction((tx) => repo.record(tx, { providerAccount: pa, kind: 'transfer', state: 'pending', actor: SYSTEM, lines: transferPostings('add', 'S1', m('30')) }));
    expect((await queries.balance(pa, 'main')).available.toFixed()).toBe('70.000');
    expect((await queries.balance(pa, 'main')).posted.toFixed()).toBe('100.000');
    expect((await queries.balance(pa, 'sub:S1')).pending.toFixed()).toBe('30.000');
    expect((await queries.balance(pa, 'sub:S1')).available.toFixed()).toBe('0.000');
    await db.transaction((tx) => repo.settle(tx, t1, 'posted', SYSTEM));
    expect((await queries.balance(pa, 'main')).posted.toFixed()).toBe('70.000');
    expect((await queries.balance(pa, 'sub:S1')).posted.toFixed()).toBe('30.000');
    const t2 = await db.transaction((tx) => repo.record(tx, { providerAccount: pa, kind: 'transfer', state: 'pending', actor: SYSTEM, lines: transferPostings('remove', 'S1', m('10')) }));
    expect((await queries.balance(pa, 'sub:S1')).available.toFixed()).toBe('20.000');
    await db.transaction((tx) => repo.settle(tx, t2, 'voided', SYSTEM, 'provider refused'));
    const sub = await queries.balance(pa, 'sub:S1');
    expect([sub.posted.toFixed(), sub.pending.toFixed(), sub.available.toFixed()]).toEqual(['30.000', '0.000', '30.000']);
  });

  it('refuses a reservation the available balance cannot cover, and writes nothing', async () => {
    const { db, repo, queries, providerAccount: pa } = f;
    await addSub(repo, db, pa, 'S2');
    const before = await db.query('SELECT count(*)::int AS n FROM ledger_transactions WHERE provider_account_id = $1', [pa]);
    const err = await db.transaction((tx) => repo.record(tx, { providerAccount: pa, kind: 'transfer', state: 'pending', actor: SYSTEM, lines: transferPostings('remove', 'S2', m('0.001')) })).catch((e) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).code).toBe('insufficient_available_balance');
    const after = await db.query('SELECT count(*)::int AS n FROM ledger_transactions WHERE provider_account_id = $1', [pa]);
    expect(after[0].n).toBe(before[0].n);
    expect((await queries.balance(pa, 'sub:S2')).pending.toFixed()).toBe('0.000');
  });

  describe('the database refuses', () => {
    it('an UPDATE or DELETE of a posting', async () => {
      const [p] = await f.db.query<{ id: string }>('SELECT id FROM postings LIMIT 1');
      await expect(f.db.query('UPDATE postings SET amount = amount + 1 WHERE id = $1', [p.id])).rejects.toThrow(/append-only/);
      await expect(f.db.query('DELETE FROM postings WHERE id = $1', [p.id])).rejects.toThrow(/append-only/);
      await expect(f.db.query('DELETE FROM journal_entries WHERE sequence = 1')).rejects.toThrow(/append-only/);
      await expect(f.db.query('UPDATE account_entries SET balance_after = 0')).rejects.toThrow(/append-only/);
    });

    it('an unbalanced transaction inserted directly', async () => {
      const [acc] = await f.db.query<{ id: string }>("SELECT id FROM ledger_accounts WHERE provider_account_id = $1 AND code = 'funding'", [f.providerAccount]);
      const [acc2] = await f.db.query<{ id: string }>("SELECT id FROM ledger_accounts WHERE provider_account_id = $1 AND code = 'usage'", [f.providerAccount]);
      const attempt = f.db.transaction(async (tx) => {
        await tx.query(`INSERT INTO ledger_transactions (id, provider_account_id, kind, state, actor) VALUES ('00000000-0000-4000-8000-000000000001', $1, 'usage', 'posted', 'sql')`, [f.providerAccount]);
        await tx.query(`INSERT INTO postings (transaction_id, account_id, amount) VALUES ('00000000-0000-4000-8000-000000000001', $1, 5), ('00000000-0000-4000-8000-000000000001', $2, -4)`, [acc.id, acc2.id]);
      });
      await expect(attempt).rejects.toThrow(/unbalanced/);
      const lone = f.db.transaction(async (tx) => {
        await tx.query(`INSERT INTO ledger_transactions (id, provider_account_id, kind, state, actor) VALUES ('00000000-0000-4000-8000-000000000002', $1, 'usage', 'posted', 'sql')`, [f.providerAccount]);
      });
      await expect(lone).rejects.toThrow(/unbalanced/);
      expect(await f.db.query("SELECT 1 FROM ledger_transactions WHERE id::text LIKE '00000000-0000-4000-8000-00000000000%'")).toHaveLength(0);
    });

    it('a second post, a post after a void, and balances written by hand', async () => {
      const { db, repo, providerAccount: pa } = f;
      await fund(repo, db, pa, 'main', '5');
      await addSub(repo, db, pa, 'S3');
      const id = await db.transaction((tx) => repo.record(tx, { providerAccount: pa, kind: 'transfer', state: 'pending', actor: SYSTEM, lines: transferPostings('add', 'S3', m('1')) }));
      await db.transaction((tx) => repo.settle(tx, id, 'posted', SYSTEM));
      await expect(db.query(`UPDATE ledger_transactions SET state = 'posted' WHERE id = $1`, [id])).rejects.toThrow(/cannot move from posted/);
      await expect(db.query(`UPDATE ledger_transactions SET state = 'voided' WHERE id = $1`, [id])).rejects.toThrow(/cannot move from posted/);
      await expect(db.transaction((tx) => repo.settle(tx, id, 'posted', SYSTEM))).rejects.toThrow(/not pending/);
      const [main] = await db.query<{ id: string }>(`SELECT id FROM ledger_accounts WHERE provider_account_id = $1 AND code = 'main'`, [pa]);
      await expect(db.query(`INSERT INTO posted_balances (account_id, debits_posted) VALUES ($1, 10)`, [main.id])).rejects.toThrow(/start at zero/);
      await expect(db.query(`INSERT INTO pending_balances (account_id, overdraft_guard, credits_reserved) VALUES ($1, false, 10)`, [main.id])).rejects.toThrow(/start at zero/);
      await expect(db.query(`DELETE FROM posted_balances WHERE account_id = $1`, [main.id])).rejects.toThrow();
      await expect(db.query(`UPDATE posted_balances SET debits_posted = debits_posted + 10 WHERE account_id = $1`, [main.id])).rejects.toThrow(/only through postings/);
      await expect(db.query(`UPDATE pending_balances SET credits_reserved = 0 WHERE account_id = $1`, [main.id])).rejects.toThrow(/only through postings/);
      await expect(db.query(`UPDATE balances SET debits_posted = 10 WHERE account_id = $1`, [main.id])).rejects.toThrow(/view/);
      await expect(db.query(`INSERT INTO postings (transaction_id, account_id, amount) SELECT $1, id, 1 FROM ledger_accounts WHERE provider_account_id = $2 AND code = 'usage'`, [id, pa])).rejects.toThrow(/only be added while/);
    });
  });

  it('50 parallel reservations on an account with room for 10: exactly 10 succeed', async () => {
    const { db, repo, queries } = await ledgerFixture(60);
    const pa = (await db.query<{ id: string }>('SELECT id FROM provider_accounts ORDER BY created_at DESC LIMIT 1'))[0].id;
    try {
      await fund(repo, db, pa, 'main', '100');
      for (let i = 0; i < 50; i++) await addSub(repo, db, pa, `C${i}`);
      const results = await Promise.allSettled(
        Array.from({ length: 50 }, (_, i) => db.transaction((tx) => repo.record(tx, { providerAccount: pa, kind: 'transfer', state: 'pending', actor: SYSTEM, lines: transferPostings('add', `C${i}`, m('10')) }))),
      );
      const ok = results.filter((r) => r.status === 'fulfilled').length;
      const refused = results.filter((r) => r.status === 'rejected' && (r.reason as DomainError).code === 'insufficient_available_balance').length;
      expect(ok).toBe(10);
      expect(refused).toBe(40);
      const main = await queries.balance(pa, 'main');
      expect(main.available.toFixed()).toBe('0.000');
      expect(main.pending.toFixed()).toBe('-100.000');
    } finally {
      await db.close();
    }
  });

  it('settles a group in one statement: each account entry runs on from the one before, in recording order', async () => {
    const { db, repo, queries, providerAccount: pa } = await ledgerFixture();
    try {
      await fund(repo, db, pa, 'main', '100');
      for (const t of ['G1', 'G2']) await addSub(repo, db, pa, t);
      const reserve = (token: string, amount: string) => db.transaction((tx) => repo.record(tx, {
        providerAccount: pa, kind: 'transfer', state: 'pending', actor: SYSTEM, lines: transferPostings('add', token, m(amount)) }));
      const ids: string[] = [];
      for (const [t, a] of [['G1', '1'], ['G2', '2'], ['G1', '4'], ['G2', '8']]) ids.push(await reserve(t, a));
      const later = await reserve('G1', '16');
      // Posted together, named in another order than they were recorded in.
      await db.transaction((tx) => repo.settleMany(tx, pa, [ids[3], ids[1], ids[0], ids[2]].map((id) => ({ id })), 'posted', SYSTEM));
      const entries = await db.query<{ code: string; tx: string; amount: string; after: string }>(
        `SELECT a.code, e.transaction_id AS tx, e.amount::text, e.balance_after::text AS after
           FROM account_entries e JOIN ledger_accounts a ON a.id = e.account_id
          WHERE e.transaction_id = ANY($1::uuid[]) ORDER BY a.code, e.posted_at, e.id`, [ids]);
      const of = (code: string) => entries.filter((e) => e.code === code).map((e) => [ids.indexOf(e.tx), e.amount, e.after]);
      expect(of('main')).toEqual([[0, '-1.000', '99.000'], [1, '-2.000', '97.000'], [2, '-4.000', '93.000'], [3, '-8.000', '85.000']]);
      expect(of('sub:G1')).toEqual([[0, '1.000', '1.000'], [2, '4.000', '5.000']]);
      expect(of('sub:G2')).toEqual([[1, '2.000', '2.000'], [3, '8.000', '10.000']]);
      const main = await queries.balance(pa, 'main');
      expect([main.posted.toFixed(), main.pending.toFixed(), main.available.toFixed()]).toEqual(['85.000', '-16.000', '69.000']);
      expect((await queries.postedBalanceAt(pa, 'sub:G1', new Date())).toFixed()).toBe('5.000');
      // A void in the same way: the reservation is released, no entry is written.
      await db.transaction((tx) => repo.settleMany(tx, pa, [{ id: later }], 'voided', SYSTEM));
      const g1 = await queries.balance(pa, 'sub:G1');
      expect([g1.posted.toFixed(), g1.pending.toFixed()]).toEqual(['5.000', '0.000']);
      expect(await db.query('SELECT 1 FROM account_entries WHERE transaction_id = $1', [later])).toEqual([]);
      expect((await queries.balance(pa, 'main')).available.toFixed()).toBe('85.000');
    } finally {
      await db.close();
    }
  });

  it('writes the caller\'s rows alongside, pipelined: the journal after the ledger\'s statement, its entries first; the first statement that fails is the error', async () => {
    const { db, repo, providerAccount: pa } = f;
    await fund(repo, db, pa, 'main', '10');
    await addSub(repo, db, pa, 'L1');
    const reserve = { providerAccount: pa, kind: 'transfer' as const, state: 'pending' as const, actor: SYSTEM, reason: 'alongside', lines: transferPostings('add', 'L1', m('1')) };
    const callerEntry = (id: string): JournalInput => ({ providerAccount: pa, actor: SYSTEM, action: 'test.alongside', entityType: 'test', entityId: id, data: {} });

    let seen: Array<string | DomainError> = [];
    const [id] = await db.transaction((tx) => repo.recordMany(tx, pa, [reserve], {
      lock: 'last',
      alongside: (results) => {
        seen = results;
        return { written: tx.query("SELECT 'the caller''s rows'"), journal: [callerEntry(String(results[0]))] };
      },
    }), { sqlOnly: true });
    expect(seen).toEqual([id]);
    const entries = await db.query<{ action: string; entity_id: string; sequence: string }>(
      'SELECT action, entity_id, sequence::text FROM journal_entries WHERE entity_id = $1 ORDER BY sequence', [id]);
    expect(entries.map((e) => e.action)).toEqual(['ledger_transaction.reserved', 'test.alongside']);
    expect(BigInt(entries[1].sequence) - BigInt(entries[0].sequence)).toBe(1n); // one statement, in that order

    // The caller's statement fails: that is the error (not the ledger's "transaction is
    // aborted" behind it), and nothing of the transaction is kept.
    const before = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM ledger_transactions WHERE provider_account_id = $1', [pa]);
    const err = await db.transaction((tx) => repo.recordMany(tx, pa, [reserve], {
      lock: 'last',
      alongside: (results) => ({ written: tx.query('SELECT 1 / 0'), journal: [callerEntry(String(results[0]))] }),
    }), { sqlOnly: true }).catch((e: unknown) => e);
    expect(pgCode(err)).toBe('22012'); // division_by_zero
    expect(await db.query<{ n: number }>('SELECT count(*)::int AS n FROM ledger_transactions WHERE provider_account_id = $1', [pa])).toEqual(before);
    expect(await db.query("SELECT 1 FROM journal_entries WHERE action = 'test.alongside' AND entity_id <> $1", [id])).toEqual([]);
  });

  it('balance at an instant and statements come from the running balance', async () => {
    const { db, repo, queries, providerAccount: pa } = await ledgerFixture();
    try {
      await fund(repo, db, pa, 'main', '10');
      const t1 = new Date();
      await new Promise((r) => setTimeout(r, 20));
      await fund(repo, db, pa, 'main', '2.5');
      const t2 = new Date();
      expect((await queries.postedBalanceAt(pa, 'main', new Date(t1.getTime() - 60_000))).toFixed()).toBe('0.000');
      expect((await queries.postedBalanceAt(pa, 'main', t1)).toFixed()).toBe('10.000');
      expect((await queries.postedBalanceAt(pa, 'main', t2)).toFixed()).toBe('12.500');
      const st = await queries.statement(pa, 'main', t1, new Date(t2.getTime() + 1));
      expect(st.opening.toFixed()).toBe('10.000');
      expect(st.lines.map((l) => l.amount.toFixed())).toEqual(['2.500']);
      expect(st.closing.toFixed()).toBe('12.500');
      // A statement starting within the same millisecond as an entry (entries have microseconds,
      // JS dates milliseconds): the entry is in the opening balance or in the lines, never lost.
      const [{ at }] = await db.query<{ at: string }>(
        `SELECT to_char(e.posted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at FROM account_entries e
           JOIN ledger_accounts a ON a.id = e.account_id WHERE a.provider_account_id = $1 AND a.code = 'main' ORDER BY e.id DESC LIMIT 1`, [pa]);
      const justAfter = new Date(Math.floor(new Date(at).getTime()) + 1);
      const edge = await queries.statement(pa, 'main', justAfter, new Date(justAfter.getTime() + 60_000));
      expect([edge.opening.toFixed(), edge.lines.length, edge.closing.toFixed()]).toEqual(['12.500', 0, '12.500']);
      // An account without entries is not a missing account.
      await addSub(repo, db, pa, 'EMPTY');
      const empty = await queries.statement(pa, 'sub:EMPTY', t1, t2);
      expect([empty.opening.toFixed(), empty.lines.length, empty.closing.toFixed()]).toEqual(['0.000', 0, '0.000']);
      expect((await queries.postedBalanceAt(pa, 'sub:EMPTY', t2)).toFixed()).toBe('0.000');
      await expect(queries.statement(pa, 'sub:NOPE', t1, t2)).rejects.toMatchObject({ code: 'account_not_found' });
      await expect(queries.postedBalanceAt(pa, 'sub:NOPE', t2)).rejects.toMatchObject({ code: 'account_not_found' });
    } finally {
      await db.close();
    }
  });

  it('property: any sequence of reserve / post / void / adjust keeps the ledger consistent', async () => {
    const { db, repo, queries, providerAccount: pa } = await ledgerFixture();
    try {
      const tokens = ['P0', 'P1', 'P2'];
      for (const t of tokens) await addSub(repo, db, pa, t);
      const pending: string[] = [];
      const amount = fc.integer({ min: 1, max: 5000 }).map((n) => Money.parse((n / 1000).toFixed(3)));
      const op = fc.oneof(
        fc.record({ t: fc.constant('reserve' as const), dir: fc.constantFrom('add' as const, 'remove' as const), sub: fc.constantFrom(...tokens), amount }),
        fc.record({ t: fc.constantFrom('post' as const, 'void' as const), pick: fc.nat() }),
        fc.record({ t: fc.constant('adjust' as const), kind: fc.constantFrom('purchase' as const, 'usage' as const, 'write_off' as const), acc: fc.constantFrom('main', ...tokens.map((t) => `sub:${t}`)), amount, negative: fc.boolean() }),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 25 }), async (ops) => {
          for (const o of ops) {
            try {
              if (o.t === 'reserve') {
                pending.push(await db.transaction((tx) => repo.record(tx, { providerAccount: pa, kind: 'transfer', state: 'pending', actor: SYSTEM, lines: transferPostings(o.dir, o.sub, o.amount) })));
              } else if (o.t === 'adjust') {
                const delta = o.kind === 'usage' || (o.kind === 'write_off' && o.negative) ? o.amount.negated() : o.amount;
                await db.transaction((tx) => repo.record(tx, { providerAccount: pa, kind: o.kind, state: 'posted', actor: SYSTEM, reason: 'prop', lines: adjustmentPostings(o.kind, o.acc, delta) }));
              } else if (pending.length) {
                const [id] = pending.splice(o.pick % pending.length, 1);
                await db.transaction((tx) => repo.settle(tx, id, o.t === 'post' ? 'posted' : 'voided', SYSTEM));
              }
            } catch (err) {
              if (!(err instanceof DomainError && err.code === 'insufficient_available_balance')) throw err;
            }
          }
          // Every transaction balanced.
          const unbalanced = await db.query(`SELECT transaction_id FROM postings p JOIN ledger_transactions t ON t.id = p.transaction_id WHERE t.provider_account_id = $1 GROUP BY transaction_id HAVING sum(amount) <> 0 OR count(*) < 2`, [pa]);
          expect(unbalanced).toHaveLength(0);
          // Every balance equal to the sum of its postings, by state.
          const mismatched = await db.query(
            `SELECT a.code FROM ledger_accounts a JOIN balances b ON b.account_id = a.id
              LEFT JOIN LATERAL (
                SELECT coalesce(sum(greatest(p.amount,0)) FILTER (WHERE t.state='posted'),0) dp,
                       coalesce(sum(greatest(-p.amount,0)) FILTER (WHERE t.state='posted'),0) cp,
                       coalesce(sum(greatest(p.amount,0)) FILTER (WHERE t.state='pending'),0) dpe,
                       coalesce(sum(greatest(-p.amount,0)) FILTER (WHERE t.state='pending'),0) cpe
                  FROM postings p JOIN ledger_transactions t ON t.id = p.transaction_id WHERE p.account_id = a.id) s ON true
              WHERE a.provider_account_id = $1 AND (b.debits_posted <> s.dp OR b.credits_posted <> s.cp OR b.debits_pending <> s.dpe OR b.credits_pending <> s.cpe)`,
            [pa],
          );
          expect(mismatched).toHaveLength(0);
          // Running balances agree with the posted balance, and guarded accounts never go below zero available.
          for (const acc of await queries.accounts(pa)) {
            expect((await queries.postedBalanceAt(pa, acc.code, new Date(Date.now() + 60_000))).toFixed()).toBe(acc.balance.posted.toFixed());
            if (acc.kind === 'main' || acc.kind === 'subaccount') expect(acc.balance.available.isNegative()).toBe(false);
          }
        }),
        { numRuns: 15 },
      );
    } finally {
      await db.close();
    }
  });
});

/** A migrated database of the test's own (the chain's sequences start at 1 there), dropped after `body`. */
async function inPrivateDatabase(suffix: string, body: (db: Database) => Promise<void>): Promise<void> {
  const url = new URL(process.env.DATABASE_URL!);
  url.pathname = `${url.pathname}_${suffix}`;
  await ensureDatabase(url.toString());
  await migrate(url.toString());
  const db = new Database(url.toString());
  try {
    await body(db);
  } finally {
    await db.close();
    const admin = new Database(process.env.DATABASE_URL!.replace(/\/[^/]+$/, '/postgres'));
    await admin.query(`DROP DATABASE IF EXISTS "${url.pathname.slice(1)}" WITH (FORCE)`);
    await admin.close();
  }
}

describe('journal hash chain', () => {
  it('pages through the journal in sequence order, each entry once, across a change of digit count', async () => {
    await inPrivateDatabase('paging', async (db) => {
      const repo = new LedgerRepository(db);
      await db.transaction((tx) => repo.ensureProviderAccount(tx, 'paging'));
      for (let i = 1; i <= 12; i++) await fund(repo, db, 'paging', 'main', `${i}`);
      const seen: string[] = [];
      for await (const r of new LedgerQueries(db).journal({ pageSize: 3 })) seen.push(r.sequence);
      expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => String(i + 1)));
    });
  });

  it('chains each statement from the locked head: across statements, savepoints, rollbacks, concurrent writers and a setting a client chose', async () => {
    await inPrivateDatabase('chaining', async (db) => {
      const entries = (n: number, tag: string): JournalInput[] =>
        Array.from({ length: n }, (_, i) => ({ providerAccount: 'chain', actor: SYSTEM, action: 'test.entry', entityType: 'test', entityId: `${tag}-${i}` }));
      const sequences = async () => (await db.query<{ sequence: string; entity_id: string }>('SELECT j.sequence::text, j.entity_id FROM journal_entries j ORDER BY j.sequence'));
      const queries = new LedgerQueries(db);
      // Two statements in one transaction, the first with a value of the chain setting set beforehand.
      await db.transaction(async (tx) => {
        await tx.query(`SET LOCAL ledger.journal_chain = '999:${'f'.repeat(64)}'`);
        await appendJournalMany(tx, entries(3, 'a'));
        await appendJournalMany(tx, entries(2, 'b'));
      });
      // A savepoint rolled back takes its entries and the chain's position with it.
      await db.transaction(async (tx) => {
        await appendJournalMany(tx, entries(1, 'c'));
        await tx.query('SAVEPOINT s');
        await appendJournalMany(tx, entries(4, 'gone'));
        await tx.query('ROLLBACK TO SAVEPOINT s');
        await appendJournalMany(tx, entries(1, 'd'));
      });
      // A whole transaction rolled back.
      await db.transaction(async (tx) => { await appendJournalMany(tx, entries(2, 'gone')); throw new Error('roll back'); }).catch(() => undefined);
      // Eight writers at once, five entries each.
      await Promise.all(Array.from({ length: 8 }, (_, w) => db.transaction((tx) => appendJournalMany(tx, entries(5, `w${w}`)))));
      const rows = await sequences();
      expect(rows.map((r) => r.sequence)).toEqual(Array.from({ length: 3 + 2 + 1 + 1 + 40 }, (_, i) => String(i + 1)));
      expect(rows.some((r) => r.entity_id.startsWith('gone'))).toBe(false);
      expect(rows.slice(0, 7).map((r) => r.entity_id)).toEqual(['a-0', 'a-1', 'a-2', 'b-0', 'b-1', 'c-0', 'd-0']);
      const [head] = await db.query<{ sequence: string; hash: string }>('SELECT sequence::text, hash FROM journal_head');
      const [last] = await db.query<{ hash: string }>('SELECT hash FROM journal_entries ORDER BY sequence DESC LIMIT 1');
      expect(head).toEqual({ sequence: '47', hash: last.hash });
      expect(await queries.verifyJournal(10)).toEqual({ ok: true, checked: 47, brokenAt: null });
      // What a statement's own expressions can do to the setting between rows: break the
      // chain where verification sees it, never extend it unseen.
      await db.query(`INSERT INTO journal_entries (sequence, provider_account_id, recorded_at, actor, action, entity_type, entity_id, prev_hash, hash)
        SELECT 0, 'chain', now(), 'system:test', 'test.entry', 'test', 'forged-' || n || left(set_config('ledger.journal_chain', '100:' || repeat('e', 64), true), 0), '', ''
          FROM generate_series(1, 1) n`);
      expect(await queries.verifyJournal(10)).toEqual({ ok: false, checked: 47, brokenAt: '101' });
    });
  });

  it('verifies, and names the first tampered sequence', async () => {
    // A private database: tampering must not disturb other suites sharing the test database.
    await inPrivateDatabase('tamper', async (db) => {
      const repo = new LedgerRepository(db);
      const queries = new LedgerQueries(db);
      await db.transaction((tx) => repo.ensureProviderAccount(tx, 'tamper'));
      for (let i = 1; i <= 5; i++) await fund(repo, db, 'tamper', 'main', `${i}`);
      const ok = await queries.verifyJournal(2);
      expect(ok).toEqual({ ok: true, checked: 5, brokenAt: null });
      await db.transaction(async (tx) => {
        await tx.query('ALTER TABLE journal_entries DISABLE TRIGGER journal_entries_immutable');
        await tx.query(`UPDATE journal_entries SET actor = 'mallory' WHERE sequence = 3`);
        await tx.query('ALTER TABLE journal_entries ENABLE TRIGGER journal_entries_immutable');
      });
      expect(await queries.verifyJournal(2)).toEqual({ ok: false, checked: 2, brokenAt: '3' });
    });
  });
});
