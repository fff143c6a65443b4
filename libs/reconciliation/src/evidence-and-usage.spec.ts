import { Money } from '@app/ledger';
import { randomUUID } from 'node:crypto';
import { BalanceProbes, ClaimGroups, EvidenceQueries, ExecuteTransferUseCase, SettleInDoubtUseCase } from '@app/transfers';
import { reconciliationFixture, ReconciliationFixture, OPERATOR } from '../../../test/support/reconciliation';
import { BookUsageUseCase } from './use-cases/book-usage/book-usage.use-case';
import { UsageReportQueries } from './usage-report.queries';
import { usageReportCsv } from './report/usage-report-csv';

/**
 * The worker's settlement by evidence, the barrier, usage accounting and the usage report,
 * wired from the libraries against real Postgres and the sandbox over HTTP.
 */
describe('settlement by evidence, the barrier, usage accounting (Postgres, sandbox over HTTP)', () => {
  let f: ReconciliationFixture;
  let settle: SettleInDoubtUseCase;
  let book: BookUsageUseCase;
  const spend = { floor: Money.parse('2'), factor: '3', minWindows: 0 };

  beforeAll(async () => {
    f = await reconciliationFixture({ subaccounts: 5 });
    const evidence = new EvidenceQueries(f.db, 1_500);
    settle = new SettleInDoubtUseCase(f.db, f.client, f.resolve, evidence, { providerAccount: f.providerAccount, graceMs: 1_500, probeDelayMs: 0, spend });
    book = new BookUsageUseCase(f.db, f.ledger, evidence, { providerAccount: f.providerAccount, enabled: true, spend });
  });
  afterAll(async () => { await f.close(); });
  afterEach(() => f.clearFaults());

  const status = async (id: string) => (await f.transfers.get(f.providerAccount, id))!;

  it('probes the sub-account and settles an applied add and a not-applied add by evidence, journaled, evidence stored', async () => {
    const [a, b] = f.tokens;
    const applied = await f.inDoubt(a, 'add', '4.000', 'apply_then_drop');
    const dropped = await f.inDoubt(b, 'add', '6.000', 'drop_before_apply');
    await f.usage({ token: a }, '0.300');
    await f.usage({ token: b }, '0.300');
    // Before the grace: the applied one may already be decided by the sign rule; the other must wait.
    await settle.execute();
    expect((await status(dropped.id)).status).toBe('in_doubt');
    await new Promise((r) => setTimeout(r, 1_600));
    const r = await settle.execute();
    expect(r.probed).toBeGreaterThanOrEqual(1);
    expect(await status(applied.id)).toMatchObject({ status: 'posted', resolution: { outcome: 'applied', by: 'system:evidence' } });
    expect(await status(dropped.id)).toMatchObject({ status: 'voided', resolution: { outcome: 'not_applied', by: 'system:evidence' } });
    const rows = await f.db.query<{ transfer_id: string; status: string; outcome: string }>('SELECT transfer_id, status, outcome FROM transfer_evidence WHERE transfer_id = ANY($1::uuid[]) ORDER BY outcome', [[applied.id, dropped.id]]);
    expect(rows.map((x) => [x.status, x.outcome])).toEqual([['decided', 'applied'], ['decided', 'not_applied']]);
    const probes = await f.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM observations WHERE provider_account_id = $1 AND source = 'probe' AND read_started_at IS NOT NULL`, [f.providerAccount]);
    expect(probes[0].n).toBeGreaterThanOrEqual(2);
    // A decided evaluation never changes.
    await expect(f.db.query(`UPDATE transfer_evidence SET status = 'undecided', outcome = NULL WHERE transfer_id = $1`, [applied.id])).rejects.toThrow(/decided/);
  });

  it('the barrier: a later transfer of a sub-account waits while one of its transfers is in doubt (every one with `on`, only a near amount with `close`), then goes', async () => {
    const [, , c] = f.tokens;
    const executor = (inDoubtBarrier: { ms: number; within: string | null }) => new ExecuteTransferUseCase(f.db, f.ledger, f.transfers, f.observations, f.client, {
      providerAccount: f.providerAccount, leaseMs: 10_000, workerId: 'barrier', maxAttempts: 3, baseDelayMs: 50, inDoubtBarrier,
      // As the worker wires it: the claim group reads the barrier too.
      claims: new ClaimGroups(f.db, { providerAccount: f.providerAccount, workerId: 'barrier', leaseMs: 10_000, inDoubtBarrier }),
    });
    const every = executor({ ms: 60_000, within: null });
    const close = executor({ ms: 60_000, within: '2.000' });
    const record = async (amount: string) => (await f.record.execute({ providerAccount: f.providerAccount, subaccount: c, direction: 'add', amount: Money.parse(amount), actor: OPERATOR })).transfer;
    const first = await f.inDoubt(c, 'add', '3.000', 'apply_then_drop');
    // 10.000 is 7 away from 3.000: with `close` it goes at once (its answer is one more reading); with `on` it would wait.
    const far = await record('10.000');
    expect(await every.execute(far.id)).toMatchObject({ kind: 'skipped', why: 'blocked' });
    expect(await close.execute(far.id)).toMatchObject({ kind: 'done', transfer: { status: 'posted' } });
    // 4.500 is 1.5 away: "this one applied, that one not" against the reverse differ by 1.5, which spending could hide.
    const near = await record('4.500');
    expect(await close.execute(near.id)).toMatchObject({ kind: 'skipped', why: 'blocked' });
    expect(await every.execute(near.id)).toMatchObject({ kind: 'skipped', why: 'blocked' });
    await f.waitFor(async () => { await settle.execute(); return (await status(first.id)).status === 'posted'; }, 10_000, 'the first to be settled');
    expect(await close.execute(near.id)).toMatchObject({ kind: 'done', transfer: { status: 'posted' } });
    // An in-doubt amount within the floor (1.500 <= 2.000) holds nothing with `close`: waiting could not make it decidable.
    const small = await f.inDoubt(c, 'add', '1.500', 'apply_then_drop');
    const after = await record('2.500');
    expect(await every.execute(after.id)).toMatchObject({ kind: 'skipped', why: 'blocked' });
    expect(await close.execute(after.id)).toMatchObject({ kind: 'done', transfer: { status: 'posted' } });
    await f.waitFor(async () => { await settle.execute(); return (await status(small.id)).status !== 'in_doubt'; }, 10_000, 'the small one to be settled');
    expect(await status(small.id)).toMatchObject({ status: 'posted', resolution: { outcome: 'applied', by: 'system:evidence' } });
  });

  it('books usage between readings exactly once; a gain is not usage', async () => {
    const [, , , d, e] = f.tokens;
    await f.usage({ token: d }, '0.250');
    expect((await f.transfer(d, 'add', '1')).status).toBe('posted');
    const first = await book.forSubaccount(d);
    expect(first.booked.toFixed()).toBe('0.250');
    expect(await f.posted(`sub:${d}`)).toBe(f.sandboxBalance(d).toFixed());
    expect((await book.forSubaccount(d)).pairs).toBe(0);
    const [pair] = await f.db.query<Record<string, unknown>>(`SELECT * FROM usage_bookings WHERE provider_account_id = $1 AND kind = 'usage' AND usage = 0.25`, [f.providerAccount]);
    await expect(f.db.query(
      `INSERT INTO usage_bookings (provider_account_id, account_id, from_observation_id, to_observation_id, from_at, to_at, seconds, from_balance, to_balance, known, usage, kind)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'none')`,
      [pair.provider_account_id, pair.account_id, pair.from_observation_id, pair.to_observation_id, pair.from_at, pair.to_at, pair.seconds, pair.from_balance, pair.to_balance, pair.known, pair.usage],
    )).rejects.toThrow(/usage_bookings_one_per_reading|usage_is_fall/);
    const journal = await f.db.query<{ data: { readings: unknown[] } }>(`SELECT data FROM journal_entries WHERE actor = 'system:usage' AND entity_type = 'ledger_transaction' AND entity_id = $1`, [pair.ledger_transaction_id]);
    expect(journal[0]?.data.readings ?? null).toHaveLength(2);

    // A non-buyer whose balance rose without a call of ours: recorded as a gain, not booked.
    await f.control('POST', '/balance', { token: e, balance: f.sandboxBalance(e).plus(Money.parse('5')).toFixed() });
    expect((await f.transfer(e, 'add', '1')).status).toBe('posted');
    const gain = await book.forSubaccount(e);
    expect(gain).toMatchObject({ bookedCount: 0, unexplained: 1 });
    expect(await f.posted(`sub:${e}`)).not.toBe(f.sandboxBalance(e).toFixed());

    // A fall far above what the sub-account plausibly spends in seconds (the floor, 2.000): not booked either.
    const c = f.tokens[2];
    // Past the grace of c's earlier in-doubt call (barrier test): until then a reading cannot
    // close a pair (that call's effect could lie on either side of it).
    await new Promise((r) => setTimeout(r, 1_600));
    await f.usage({ token: c }, '5.000');
    expect((await f.transfer(c, 'add', '1')).status).toBe('posted');
    expect(await book.forSubaccount(c)).toMatchObject({ bookedCount: 0, unexplained: 1 });
    const kinds = await f.db.query<{ kind: string }>(`SELECT kind FROM usage_bookings u JOIN subaccounts s ON s.account_id = u.account_id WHERE s.token = $1 ORDER BY u.to_at DESC LIMIT 1`, [c]);
    expect(kinds[0].kind).toBe('implausible');
  });

  it('a run with usage accounting: a sub-account that only spent is matched, its usage booked', async () => {
    const [a] = f.tokens;
    await f.usage({ token: a }, '0.500');
    const run = await f.run(f.useCase(f.client, { bookUsage: () => book, spend: { floor: '2', factor: '3', minWindows: 0 } }));
    const item = run.items.find((i) => i.account === `sub:${a}`)!;
    // 0.300 spent around its in-doubt call (first test) and 0.500 since: two pairs, the
    // funding answer to the early probe and that probe to this run's reading — the settlement
    // pinned the applied call before the early probe (docs/in-doubt.md, "Cascade"), so the
    // probe no longer falls inside that call's interval.
    expect(item).toMatchObject({ status: 'matched', drift: '-0.800', explained: '-0.800' });
    expect(item.explanation).toMatch(/usage of 0.800 between provider readings booked \(2 booking/);
  });

  it('the usage report: per sub-account and month, figures that add up and match the provider', async () => {
    const month = new Date().toISOString().slice(0, 7);
    const report = await new UsageReportQueries(f.db).report(f.providerAccount, month);
    expect(report).toMatchObject({ month, timeZone: 'UTC' });
    const [a, , , d] = f.tokens;
    const rowA = report.rows.find((r) => r.subaccount === a)!;
    expect(rowA).toMatchObject({ account: `sub:${a}`, usage: '0.800', providerClosing: f.sandboxBalance(a).toFixed(), difference: '0.000' });
    const rowD = report.rows.find((r) => r.subaccount === d)!;
    expect(rowD).toMatchObject({ topUps: '21.000', usage: '0.250', closing: f.sandboxBalance(d).toFixed() });
    for (const r of report.rows) {
      const sum = Money.parse(r.opening).plus(Money.parse(r.topUps)).minus(Money.parse(r.removals)).minus(Money.parse(r.usage)).plus(Money.parse(r.adjustments));
      expect(sum.toFixed()).toBe(r.closing);
    }
    const csv = usageReportCsv({ ...report, rows: [...report.rows, { ...rowA, account: '=cmd()', subaccount: '+1' }] }).split('\r\n');
    expect(csv[0]).toBe('month,account,subaccount,opening,top_ups,removals,usage,adjustments,closing,provider_closing,difference');
    expect(csv).toContain(`${month},'=cmd(),'+1,${rowA.opening},${rowA.topUps},${rowA.removals},${rowA.usage},${rowA.adjustments},${rowA.closing},${rowA.providerClosing},${rowA.difference}`);
    expect(csv[csv.length - 2].startsWith(`${month},TOTAL,`)).toBe(true);
  });

  it('a booking the ledger refuses (the overdraft guard) writes the pairs before it and nothing from it on', async () => {
    const b = f.tokens[1];
    await book.forSubaccount(b); // whatever earlier tests left unpaired
    const closed = async () => (await f.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM usage_bookings u JOIN subaccounts s ON s.account_id = u.account_id WHERE s.provider_account_id = $1 AND s.token = $2`,
      [f.providerAccount, b]))[0].n;
    const before = await closed();
    await f.usage({ token: b }, '0.400');
    expect((await f.transfer(b, 'add', '1')).status).toBe('posted'); // a reading: 0.400 spent since the last
    // A reservation leaves 0.100 available once those 0.400 are booked.
    const posted = Money.parse(await f.posted(`sub:${b}`));
    await f.record.execute({ providerAccount: f.providerAccount, subaccount: b, direction: 'remove', amount: posted.minus(Money.parse('0.500')), actor: OPERATOR });
    await f.usage({ token: b }, '0.300');
    const probes = new BalanceProbes(f.client, new EvidenceQueries(f.db, 1_500), { providerAccount: f.providerAccount });
    expect(await probes.probe([b])).toBe(1); // a second reading: 0.300 more spent, more than is available

    const r = await book.forSubaccount(b);
    expect(r).toMatchObject({ pairs: 1, bookedCount: 1 });
    expect(r.booked.toFixed()).toBe('0.400');
    expect(await closed()).toBe(before + 1);
    expect(await f.posted(`sub:${b}`)).toBe(posted.minus(Money.parse('0.400')).toFixed());
    // Tried again: still refused, nothing more written.
    expect((await book.forSubaccount(b)).pairs).toBe(0);
    expect(await closed()).toBe(before + 1);
  });

  // Last three: they leave transfers pending (so does the one above, a reservation on the second sub-account).
  it('a fresh reading before a call reads its list page once and keeps every sub-account listed on it: concurrent ones share the read, later ones need none', async () => {
    // The real client over HTTP, its list calls counted.
    let listCalls = 0;
    const counting = { listSubaccounts: (page: number) => { listCalls++; return f.client.listSubaccounts(page); } };
    const fresh = new SettleInDoubtUseCase(f.db, counting, f.resolve, new EvidenceQueries(f.db, 1_500), {
      providerAccount: f.providerAccount, graceMs: 1_500, probeDelayMs: 0, spend, freshReadingMs: 2_000,
    });
    const [, , , d, e] = f.tokens;
    const probesOf = async (token: string) => (await f.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM observations o JOIN ledger_accounts a ON a.id = o.account_id
        WHERE a.provider_account_id = $1 AND a.code = $2 AND o.source = 'probe'`, [f.providerAccount, `sub:${token}`]))[0].n;
    const before = await Promise.all(f.tokens.map(probesOf));
    const record = async (token: string) => (await f.record.execute({ providerAccount: f.providerAccount, subaccount: token, direction: 'add', amount: Money.parse('1.000'), actor: OPERATOR })).transfer;
    const [td, te] = [await record(d), await record(e)];
    await new Promise((r) => setTimeout(r, 2_100)); // every earlier reading is now older than IN_DOUBT_FRESH_READING_MS
    await Promise.all([fresh.beforeCall(td.id), fresh.beforeCall(te.id)]);
    expect(listCalls).toBe(1);
    // Every sub-account on the page got one exact reading, not only the two about to be called.
    expect(await Promise.all(f.tokens.map(probesOf))).toEqual(before.map((n) => n + 1));
    // Another call within IN_DOUBT_FRESH_READING_MS of that reading needs no read.
    const [, second] = f.tokens;
    const t2 = await record(second);
    await fresh.beforeCall(t2.id);
    expect(listCalls).toBe(1);
  });
  it('the checks before calls that start together are one lookup, and each call gets its own transfer\'s answer', async () => {
    const lookups: string[][] = [];
    const db = new Proxy(f.db, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target);
        if (prop !== 'query') return typeof v === 'function' ? v.bind(target) : v;
        return (sql: string, params?: unknown[]) => {
          if (sql.includes('AS due')) lookups.push(params![0] as string[]);
          return target.query(sql, params);
        };
      },
    });
    const probes = new BalanceProbes(f.client, new EvidenceQueries(db, 1_500), { providerAccount: f.providerAccount });
    const record = async (token: string) => (await f.record.execute({ providerAccount: f.providerAccount, subaccount: token, direction: 'add', amount: Money.parse('1.000'), actor: OPERATOR })).transfer;
    const [a, , c] = f.tokens;
    const [ta, tc] = [await record(a), await record(c)];
    const unknown = randomUUID();
    await new Promise((r) => setTimeout(r, 20));
    // freshMs 10: every reading is too old, so a known transfer is read (true); an unknown one is not (false).
    const read = await Promise.all([probes.beforeCall(ta.id, 10), probes.beforeCall(unknown, 10), probes.beforeCall(tc.id, 10)]);
    expect(read).toEqual([true, false, true]);
    // The first asked alone; the two that arrived while it was in flight, together.
    expect(lookups).toEqual([[ta.id], [unknown, tc.id]]);
  });
  it('a booker with a time budget books the longest unbooked sub-account first and stops, leaving the others for later', async () => {
    // One page read: every sub-account gets a reading after the pairs it closed.
    const probes = new BalanceProbes(f.client, new EvidenceQueries(f.db, 1_500), { providerAccount: f.providerAccount });
    expect(await probes.probe(f.tokens)).toBe(f.tokens.length);
    const lastClosed = async () => new Map((await f.db.query<{ token: string; last: string | null }>(
      `SELECT s.token, (SELECT max(u.to_observation_id)::text FROM usage_bookings u WHERE u.account_id = s.account_id) AS last
         FROM subaccounts s WHERE s.provider_account_id = $1`, [f.providerAccount])).map((r) => [r.token, r.last]));
    const before = await lastClosed();
    const order = [...before].sort(([ta, a], [tb, b]) => (a === b ? (ta < tb ? -1 : 1) : a === null ? -1 : b === null ? 1 : Number(BigInt(a) - BigInt(b))));
    const moved = async (since: Map<string, string | null>) => [...(await lastClosed())].filter(([t, last]) => last !== since.get(t)).map(([t]) => t);

    // A budget of 0 ms: exactly one sub-account, the one whose last closed reading is oldest.
    const one = await book.execute(0);
    expect(one.pairs).toBeGreaterThan(0);
    expect(await moved(before)).toEqual([order[0][0]]);
    // The next call takes the next one, not the same again.
    const after = await lastClosed();
    await book.execute(0);
    expect(await moved(after)).toEqual([order[1][0]]);
  });
  it('a probe tries the page the client last saw the token on first, and walks the list when it is not there', async () => {
    const read: number[] = [];
    const hinting = (page: number) => ({
      listSubaccounts: (p: number) => { read.push(p); return f.client.listSubaccounts(p); },
      pageSeen: () => page,
    });
    const [a] = f.tokens;
    // A wrong hint (page 2 lists nobody here): tried first, then the list from page 1.
    expect(await new BalanceProbes(hinting(2), new EvidenceQueries(f.db, 1_500), { providerAccount: f.providerAccount }).probe([a])).toBe(1);
    expect(read).toEqual([2, 1]);
    read.length = 0;
    expect(await new BalanceProbes(hinting(1), new EvidenceQueries(f.db, 1_500), { providerAccount: f.providerAccount }).probe([a])).toBe(1);
    expect(read).toEqual([1]);
  });
});
