import { DomainError } from '@app/common';
import { Money } from '@app/ledger';
import { reconciliationFixture, ReconciliationFixture, OPERATOR } from '../../../test/support/reconciliation';
import { DriftAlert } from './use-cases/run-reconciliation/run-reconciliation.command';
import { reportCsv } from './report/report-csv';

const m = Money.parse;
const byAccount = <T extends { account: string }>(items: T[]) => new Map(items.map((i) => [i.account, i]));

describe('reconciliation: drift detection (Postgres, sandbox over HTTP)', () => {
  let f: ReconciliationFixture;
  const alerts: DriftAlert[] = [];
  beforeAll(async () => { f = await reconciliationFixture({ subaccounts: 15, run: { onDrift: (a) => { alerts.push(a); } } }); });
  afterAll(async () => { await f.close(); });

  it('a ledger that agrees with the provider: every account matched, observations stored at the ledger position', async () => {
    const run = await f.run();
    expect(run.status).toBe('completed');
    expect(run.summary).toMatchObject({ accounts: 16, matched: 16, drifted: 0, unsettled: 0, resolvedInDoubt: 0 });
    expect(run.window.from! <= run.window.to!).toBe(true);
    const obs = await f.db.query<{ source: string; n: number; settled: boolean }>(
      `SELECT o.source, count(*)::int AS n, bool_and(o.settled) AS settled FROM reconciliation_items i JOIN observations o ON o.id = i.observation_id WHERE i.run_id = $1 GROUP BY o.source ORDER BY o.source`, [run.id]);
    expect(obs).toEqual([{ source: 'list', n: 15, settled: true }, { source: 'me', n: 1, settled: true }]);
    expect(alerts).toHaveLength(0);
  });

  it('usage on 10 sub-accounts and on main plus a purchase on main: exactly those 11 accounts flagged with the simulated amounts', async () => {
    const used = f.tokens.slice(0, 10);
    const amounts = used.map((_, i) => m('1.125').plus(m(String(i))).toFixed()); // 1.125, 2.125, …
    for (const [i, token] of used.entries()) await f.usage({ token }, amounts[i]);
    await f.usage('main', '7.250');
    await f.purchase('100.000');

    const run = await f.run();
    expect(run.summary).toMatchObject({ accounts: 16, matched: 5, drifted: 11, unsettled: 0, resolvedInDoubt: 0 });
    const items = byAccount(run.items);
    for (const [i, token] of used.entries()) {
      expect(items.get(`sub:${token}`)).toMatchObject({ status: 'drift', drift: m(amounts[i]).negated().toFixed(), expected: '20.000', observed: m('20').minus(m(amounts[i])).toFixed() });
    }
    expect(items.get('main')).toMatchObject({ status: 'drift', drift: '92.750' });
    for (const token of f.tokens.slice(10)) expect(items.get(`sub:${token}`)).toMatchObject({ status: 'matched', drift: '0.000' });

    const open = byAccount(await f.openFindings());
    expect(open.size).toBe(11);
    expect(open.get('main')).toMatchObject({ drift: '92.750', suggestion: 'purchase_or_refund_likely', firstRunId: run.id });
    expect(open.get(`sub:${used[3]}`)).toMatchObject({ drift: '-4.125', suggestion: 'usage_likely', status: 'open', resolution: null });
    for (const i of run.items.filter((x) => x.status === 'drift')) expect(i.findingId).toBe(open.get(i.account)!.id);
    // The completed run is returned from what was written: exactly what the database holds.
    expect(run).toEqual(await f.queries.getRun(f.providerAccount, run.id));

    await new Promise((r) => setImmediate(r));
    expect(alerts).toHaveLength(1);
    expect(alerts[0].drifted.map((d) => d.account).sort()).toEqual([...open.keys()].sort());
  });

  it('the next run updates the same findings (one open per account) and closes the ones whose drift disappeared', async () => {
    const before = byAccount(await f.openFindings());
    const [fixed, grown] = f.tokens;
    // The provider's balance is back to the ledger's for one, more usage on another.
    await f.control('POST', '/balance', { token: fixed, balance: '20.000' });
    await f.usage({ token: grown }, '0.500');
    const run = await f.run();
    expect(run.summary).toMatchObject({ drifted: 10, matched: 6 });
    const items = byAccount(run.items);
    expect(items.get(`sub:${fixed}`)).toMatchObject({ status: 'matched' });
    expect(items.get(`sub:${fixed}`)!.explanation).toContain('self-resolved');
    expect(run).toEqual(await f.queries.getRun(f.providerAccount, run.id));

    const open = byAccount(await f.openFindings());
    expect(open.size).toBe(10);
    expect(open.get(`sub:${grown}`)).toMatchObject({ id: before.get(`sub:${grown}`)!.id, drift: '-2.625', lastRunId: run.id, firstRunId: before.get(`sub:${grown}`)!.firstRunId });
    const closed = await f.queries.getFinding(f.providerAccount, before.get(`sub:${fixed}`)!.id);
    expect(closed).toMatchObject({ status: 'resolved', resolution: { as: 'self_resolved', by: 'system:reconciliation', ledgerTransactionId: null } });
    // The database refuses a second open finding for an account.
    const dup = await f.db.query(`INSERT INTO drift_findings SELECT gen_random_uuid(), provider_account_id, account_id, account_code, 'open', drift, observed, expected, suggestion, first_seen_at, last_seen_at, first_run_id, last_run_id FROM drift_findings WHERE id = $1`, [open.get('main')!.id]).catch((e) => e);
    expect(dup).toMatchObject({ code: '23505' });
  });

  it('items of a finished run are immutable', async () => {
    const [run] = (await f.queries.listRuns(f.providerAccount, { limit: 1 })).data;
    await expect(f.db.query(`UPDATE reconciliation_items SET status = 'matched' WHERE run_id = $1`, [run.id])).rejects.toThrow(/not allowed/);
    // An item for an account the run has none for (a duplicate would hit the one-per-account key first).
    await expect(f.db.query(`INSERT INTO reconciliation_items (run_id, account_id, account_code, source, expected, observed, drift, status)
      SELECT $1, a.id, a.code, 'list', 0, 0, 0, 'matched' FROM ledger_accounts a WHERE a.provider_account_id = $2 AND a.code = 'usage'`, [run.id, f.providerAccount])).rejects.toThrow(/items are final/);
    await expect(f.db.query(`UPDATE reconciliation_runs SET matched = 0 WHERE id = $1`, [run.id])).rejects.toThrow(/finished/);
  });

  it('lists runs newest first with a cursor', async () => {
    const first = await f.queries.listRuns(f.providerAccount, { limit: 2 });
    expect(first.data).toHaveLength(2);
    const second = await f.queries.listRuns(f.providerAccount, { limit: 2, cursor: first.nextCursor! });
    expect(second.data).toHaveLength(1);
    expect(second.nextCursor).toBeNull();
    const all = [...first.data, ...second.data];
    expect(new Set(all.map((r) => r.id)).size).toBe(3);
    expect(all.map((r) => r.startedAt)).toEqual([...all.map((r) => r.startedAt)].sort().reverse());
  });
});

describe('reconciliation: in-doubt transfers', () => {
  let f: ReconciliationFixture;
  // New sub-accounts have no spending history: the operator's floor (2.000 in any window) is
  // then the only plausibility bound (IN_DOUBT_MIN_HISTORY_WINDOWS=0), stated in the evidence.
  beforeAll(async () => { f = await reconciliationFixture({ subaccounts: 5, run: { spend: { floor: '2', factor: '3', minWindows: 0 } } }); });
  afterAll(async () => { await f.close(); });
  afterEach(() => f.clearFaults());

  it('resolves each to what the sandbox really applied by the evidence rules, and leaves them when usage makes the evidence ambiguous', async () => {
    const [a, b, c, d, e] = f.tokens;
    const applied = await f.inDoubt(a, 'add', '4.000', 'apply_then_drop');
    const dropped = await f.inDoubt(b, 'add', '6.000', 'drop_before_apply');
    // A remove of 1 applied plus 0.5 of usage: "not applied" would need 1.5 of usage, within
    // the floor of 2: both hypotheses survive (the old exact matching also failed here).
    const ambiguous = await f.inDoubt(c, 'remove', '1.000', 'apply_then_drop');
    await f.usage({ token: c }, '0.500');
    // Two in doubt on one sub-account: only "first applied, second not" explains its balance
    // (second applied too would need a gain; second instead of first, 5 of usage in seconds).
    const d1 = await f.inDoubt(d, 'add', '3.000', 'apply_then_drop');
    const d2 = await f.inDoubt(d, 'add', '8.000', 'drop_before_apply');
    const d3 = await f.inDoubt(e, 'remove', '1.000', 'http_503');

    const log = await f.sandboxLog();
    const appliedTokens = log.filter((l) => l.faultApplied === 'apply_then_drop').map((l) => `${l.route}:${l.token}:${l.amount}`);
    expect(appliedTokens.sort()).toEqual([`add:${a}:4.000`, `add:${d}:3.000`, `remove:${c}:1.000`].sort());

    const run = await f.run();
    expect(run.status).toBe('completed');
    const status = async (id: string) => (await f.transfers.get(f.providerAccount, id))!;
    expect((await status(applied.id)).status).toBe('posted');
    expect((await status(dropped.id)).status).toBe('voided');
    expect((await status(d1.id)).status).toBe('posted');
    expect((await status(d2.id)).status).toBe('voided');
    expect((await status(d3.id)).status).toBe('voided');
    expect((await status(ambiguous.id)).status).toBe('in_doubt');
    expect((await status(applied.id)).resolution).toMatchObject({ outcome: 'applied', by: 'system:reconciliation' });

    // The ledger now holds what the provider holds for every resolved sub-account.
    for (const t of [a, b, d, e]) expect(await f.posted(`sub:${t}`)).toBe(f.sandboxBalance(t).toFixed());

    const items = byAccount(run.items);
    expect(items.get(`sub:${a}`)).toMatchObject({ status: 'resolved_in_doubt', drift: '4.000', explained: '4.000' });
    expect(items.get(`sub:${b}`)).toMatchObject({ status: 'resolved_in_doubt', drift: '0.000', explained: '0.000' });
    expect(items.get(`sub:${d}`)).toMatchObject({ status: 'resolved_in_doubt', drift: '3.000', explained: '3.000' });
    expect(items.get(`sub:${c}`)).toMatchObject({ status: 'drift', drift: '-1.500' }); // -1 (applied remove) - 0.5 (usage)
    expect(items.get(`sub:${c}`)!.explanation).toMatch(/left in doubt: both outcomes fit the readings/);
    const evidence = await f.db.query<{ status: string; evidence: { hypotheses: Array<{ outcome: string; refuted: boolean }>; readings: unknown[] } }>('SELECT status, evidence FROM transfer_evidence WHERE transfer_id = $1', [ambiguous.id]);
    expect(evidence[0].status).toBe('undecided');
    expect(evidence[0].evidence.hypotheses.map((h) => [h.outcome, h.refuted])).toEqual([['applied', false], ['not_applied', false]]);
    // main: -4 -3 (resolved, explained) and +1 from the remove still in doubt.
    expect(items.get('main')).toMatchObject({ status: 'drift', drift: '-6.000', explained: '-7.000' });
    expect(run.summary).toMatchObject({ resolvedInDoubt: 4, drifted: 2, matched: 0 });

    const open = byAccount(await f.openFindings());
    expect([...open.keys()].sort()).toEqual(['main', `sub:${c}`].sort());
    expect(open.get('main')!.drift).toBe('1.000');

    const journal = await f.db.query<{ actor: string; data: { evidence: { status: string; outcome: string; readings: Array<{ source: string; subaccountBalance: string }> } } }>(
      `SELECT actor, data FROM journal_entries WHERE entity_type = 'transfer' AND entity_id = $1 AND action = 'transfer.resolved_applied'`, [applied.id]);
    expect(journal).toHaveLength(1);
    expect(journal[0].actor).toBe('system:reconciliation');
    // Journaled with the readings it used: the funding call's answer (20) and this run's list reading (24).
    expect(journal[0].data.evidence).toMatchObject({ status: 'decided', outcome: 'applied' });
    expect(journal[0].data.evidence.readings.map((r) => [r.source, r.subaccountBalance])).toEqual([['transfer', '20.000'], ['list', '24.000']]);

    // A drift measured while transfers are in doubt cannot be booked: resolve them first.
    await expect(f.resolveDrift.execute({ providerAccount: f.providerAccount, findingId: open.get(`sub:${c}`)!.id, as: 'usage', reason: 'x', actor: OPERATOR }))
      .rejects.toMatchObject({ code: 'invalid_state' });
  });

  it('an account with a transfer executing during the read window is unsettled, never drift', async () => {
    const [, , , , e] = f.tokens;
    const { transfer } = await f.record.execute({ providerAccount: f.providerAccount, subaccount: e, direction: 'add', amount: m('1'), actor: OPERATOR });
    await f.db.query(`UPDATE transfers SET status = 'executing', attempts = 1, lease_expires_at = now() + interval '1 minute', claimed_by = 'test' WHERE id = $1`, [transfer.id]);
    await f.usage({ token: e }, '0.250');
    const run = await f.run();
    const items = byAccount(run.items);
    expect(items.get(`sub:${e}`)).toMatchObject({ status: 'unsettled', findingId: null });
    expect(items.get('main')).toMatchObject({ status: 'unsettled' });
    expect((await f.openFindings()).some((x) => x.account === `sub:${e}`)).toBe(false);
    await f.db.query(`UPDATE transfers SET status = 'pending', lease_expires_at = NULL WHERE id = $1`, [transfer.id]);
  });
});

describe('reconciliation: provider failures', () => {
  let f: ReconciliationFixture;
  beforeAll(async () => { f = await reconciliationFixture({ subaccounts: 3 }); });
  afterAll(async () => { await f.close(); });
  afterEach(() => f.clearFaults().catch(() => undefined));

  async function assertNothingTouched(runId: string, openBefore: unknown) {
    const run = await f.queries.getRun(f.providerAccount, runId);
    expect(run.items).toEqual([]);
    expect(run.summary).toMatchObject({ accounts: 0, matched: 0, drifted: 0 });
    expect(await f.openFindings()).toEqual(openBefore);
  }

  it('a failing provider fails the run with a reason, closes no finding and marks nothing matched', async () => {
    const [s] = f.tokens;
    await f.usage({ token: s }, '2.000');
    const first = await f.run();
    expect(first.summary.drifted).toBe(1);
    // The drift is gone at the provider: a run that could read it would close the finding.
    await f.control('POST', '/balance', { token: s, balance: '20.000' });
    const openBefore = await f.openFindings();
    expect(openBefore).toHaveLength(1);

    // 3: the client tries a read answered 503 three times before giving up.
    await f.fault({ route: 'list', fault: 'http_503', count: 3 });
    const listDown = await f.run();
    expect(listDown.status).toBe('failed');
    expect(listDown.error).toMatch(/listing sub-accounts \(page 1\)/);
    await assertNothingTouched(listDown.id, openBefore);

    await f.fault({ route: 'me', fault: 'http_503', count: 3 });
    const meDown = await f.run();
    expect([meDown.status, meDown.error]).toEqual(['failed', expect.stringMatching(/reading \/me/)]);
    await assertNothingTouched(meDown.id, openBefore);

    const badKey = f.useCase({ me: () => f.client.me(), listSubaccounts: async () => ({ kind: 'rejected', code: 10, reason: 'invalid_key', message: 'Invalid API key', raw: {}, httpStatus: 200, latencyMs: 1 }) });
    const invalid = await f.run(badKey);
    expect([invalid.status, invalid.error]).toEqual(['failed', expect.stringMatching(/invalid_key/)]);
    await assertNothingTouched(invalid.id, openBefore);
  });

  it('an empty or partial list where sub-accounts are expected fails the run', async () => {
    const openBefore = await f.openFindings();
    const empty = f.useCase({
      me: () => f.client.me(),
      listSubaccounts: async (page) => {
        const o = await f.client.listSubaccounts(page);
        return o.kind === 'ok' ? { ...o, body: { ...o.body, total: 0, items: [] } } : o;
      },
    });
    const r1 = await f.run(empty);
    expect([r1.status, r1.error]).toEqual(['failed', expect.stringMatching(/empty sub-account list while the ledger has 3/)]);
    await assertNothingTouched(r1.id, openBefore);

    const partial = f.useCase({
      me: () => f.client.me(),
      listSubaccounts: async (page) => {
        const o = await f.client.listSubaccounts(page);
        return o.kind === 'ok' ? { ...o, body: { ...o.body, items: o.body.items.slice(1) } } : o;
      },
    });
    const r2 = await f.run(partial);
    expect([r2.status, r2.error]).toEqual(['failed', expect.stringMatching(/partial sub-account list: 2 of 3/)]);
    await assertNothingTouched(r2.id, openBefore);
  });

  it('the provider gone (sandbox closed) fails the run', async () => {
    const openBefore = await f.openFindings();
    await f.sandbox.close();
    const run = await f.run();
    expect([run.status, run.error]).toEqual(['failed', expect.stringMatching(/could not be reached/)]);
    expect(run.finishedAt).not.toBeNull();
    await assertNothingTouched(run.id, openBefore);
  });
});

describe('reconciliation: one run at a time, resolving findings, auto-booking, reports', () => {
  let f: ReconciliationFixture;
  beforeAll(async () => { f = await reconciliationFixture({ subaccounts: 4 }); });
  afterAll(async () => { await f.close(); });
  afterEach(() => f.clearFaults());

  it('two runs triggered at once: exactly one runs, the other gets reconciliation_already_running', async () => {
    await f.fault({ route: 'me', fault: 'latency', ms: 300, count: 2 });
    const results = await Promise.allSettled([f.run(), f.run()]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ok).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(refused[0].reason).toBeInstanceOf(DomainError);
    expect(refused[0].reason.code).toBe('reconciliation_already_running');
    const [{ n }] = await f.db.query<{ n: number }>('SELECT count(*)::int AS n FROM reconciliation_runs WHERE provider_account_id = $1', [f.providerAccount]);
    expect(n).toBe(1);
  });

  it('the database itself refuses a second running run', async () => {
    const { id } = await f.reconcile.start({ providerAccount: f.providerAccount, trigger: 'schedule', actor: 'system:scheduler' });
    const err = await f.db.query(`INSERT INTO reconciliation_runs (id, provider_account_id, status, trigger, actor, tolerance) VALUES (gen_random_uuid(), $1, 'running', 'manual', 'x', 0)`, [f.providerAccount]).catch((e) => e);
    expect(err).toMatchObject({ code: '23505', constraint: 'reconciliation_runs_one_running' });
    // Drift resolutions wait for the run to finish.
    const done = await f.reconcile.perform(f.providerAccount, id);
    expect(done.status).toBe('completed');
  });

  it('a run left running by a dead process is taken over once stale; the old one cannot finish', async () => {
    const { id: dead } = await f.reconcile.start({ providerAccount: f.providerAccount, trigger: 'schedule', actor: 'system:scheduler' });
    await expect(f.run()).rejects.toMatchObject({ code: 'reconciliation_already_running', details: { runId: dead } });
    const taker = f.useCase(f.client, { staleAfterMs: 0 });
    const run = await f.run(taker);
    expect(run.status).toBe('completed');
    const old = await f.queries.getRun(f.providerAccount, dead);
    expect([old.status, old.error]).toEqual(['failed', expect.stringMatching(/^abandoned/)]);
    await expect(f.reconcile.perform(f.providerAccount, dead)).rejects.toThrow();
    expect((await f.queries.getRun(f.providerAccount, dead)).items).toEqual([]);
  });

  it('resolving a finding as usage books exactly its drift; the next run reports the account matched', async () => {
    const [, s] = f.tokens;
    await f.usage({ token: s }, '3.250');
    const run = await f.run();
    const finding = (await f.openFindings()).find((x) => x.account === `sub:${s}`)!;
    expect(finding).toMatchObject({ drift: '-3.250', lastRunId: run.id });

    await expect(f.resolveDrift.execute({ providerAccount: f.providerAccount, findingId: finding.id, as: 'purchase', reason: 'wrong', actor: OPERATOR }))
      .rejects.toMatchObject({ code: 'validation_failed' });
    await expect(f.resolveDrift.execute({ providerAccount: f.providerAccount, findingId: finding.id, as: 'usage', reason: ' ', actor: OPERATOR }))
      .rejects.toMatchObject({ code: 'validation_failed' });

    const resolved = await f.resolveDrift.execute({ providerAccount: f.providerAccount, findingId: finding.id, as: 'usage', reason: 'SMS campaign, March', actor: OPERATOR });
    expect(resolved).toMatchObject({ status: 'resolved', resolution: { as: 'usage', by: OPERATOR, reason: 'SMS campaign, March' } });
    const txId = resolved.resolution!.ledgerTransactionId!;
    const postings = await f.db.query<{ code: string; amount: string }>(
      `SELECT a.code, p.amount FROM postings p JOIN ledger_accounts a ON a.id = p.account_id WHERE p.transaction_id = $1 ORDER BY a.code`, [txId]);
    expect(postings).toEqual([{ code: `sub:${s}`, amount: '-3.250' }, { code: 'usage', amount: '3.250' }]);
    expect(await f.posted(`sub:${s}`)).toBe(f.sandboxBalance(s).toFixed());
    await expect(f.resolveDrift.execute({ providerAccount: f.providerAccount, findingId: finding.id, as: 'usage', reason: 'again', actor: OPERATOR }))
      .rejects.toMatchObject({ code: 'invalid_state' });

    const next = await f.run();
    expect(byAccount(next.items).get(`sub:${s}`)).toMatchObject({ status: 'matched', drift: '0.000' });
    expect((await f.openFindings()).some((x) => x.account === `sub:${s}`)).toBe(false);
  });

  it('one unreadable list entry does not sink the run: that sub-account is left out and the others are compared', async () => {
    const [odd, other] = f.tokens;
    f.sandbox.state.setListQuirk(odd, 'null_balance');
    try {
      const run = await f.run();
      expect(run.status).toBe('completed');
      const items = byAccount(run.items);
      expect(items.has(`sub:${odd}`)).toBe(false);
      expect(items.get(`sub:${other}`)).toMatchObject({ status: 'matched' });
    } finally {
      f.sandbox.state.setListQuirk(odd, null);
    }
    // Readable again: compared again.
    expect(byAccount((await f.run()).items).has(`sub:${odd}`)).toBe(true);
  });

  it('a drift resolution is refused while a run is running', async () => {
    const [, , s] = f.tokens;
    await f.usage({ token: s }, '1.000');
    await f.run();
    const finding = (await f.openFindings()).find((x) => x.account === `sub:${s}`)!;
    const { id } = await f.reconcile.start({ providerAccount: f.providerAccount, trigger: 'manual', actor: OPERATOR });
    await expect(f.resolveDrift.execute({ providerAccount: f.providerAccount, findingId: finding.id, as: 'write_off', reason: 'x', actor: OPERATOR }))
      .rejects.toMatchObject({ code: 'reconciliation_already_running' });
    await f.reconcile.perform(f.providerAccount, id);
    const w = await f.resolveDrift.execute({ providerAccount: f.providerAccount, findingId: finding.id, as: 'write_off', reason: 'unexplained', actor: OPERATOR });
    expect(w.resolution).toMatchObject({ as: 'write_off' });
  });

  it('RECONCILE_AUTO_BOOK_USAGE books negative sub-account drift as usage, journaled, and says so in the item', async () => {
    const [, , , s] = f.tokens;
    await f.usage({ token: s }, '0.750');
    await f.usage('main', '1.000');
    const run = await f.run(f.useCase(f.client, { autoBookUsage: true }));
    const items = byAccount(run.items);
    const item = items.get(`sub:${s}`)!;
    expect(item).toMatchObject({ status: 'drift', drift: '-0.750' });
    expect(item.ledgerTransactionId).not.toBeNull();
    expect(item.explanation).toMatch(/booked as usage automatically/);
    expect(run.summary.autoBooked).toBe(1);
    // Only sub-accounts: main's usage stays a finding for finance.
    expect(items.get('main')).toMatchObject({ status: 'drift', ledgerTransactionId: null });
    const finding = await f.queries.getFinding(f.providerAccount, item.findingId!);
    expect(finding.resolution).toMatchObject({ as: 'usage', by: 'system:reconciliation', ledgerTransactionId: item.ledgerTransactionId });
    const [j] = await f.db.query<{ actor: string; data: { kind: string } }>(
      `SELECT actor, data FROM journal_entries WHERE entity_type = 'ledger_transaction' AND entity_id = $1`, [item.ledgerTransactionId]);
    expect(j).toMatchObject({ actor: 'system:reconciliation', data: { kind: 'usage' } });
    expect(await f.posted(`sub:${s}`)).toBe(f.sandboxBalance(s).toFixed());
    const next = await f.run();
    expect(byAccount(next.items).get(`sub:${s}`)).toMatchObject({ status: 'matched' });
  });

  it('the report: JSON rows and totals, and a spreadsheet-friendly CSV', async () => {
    const [s] = f.tokens;
    await f.usage({ token: s }, '1.125');
    const run = await f.run();
    const report = await f.queries.report(f.providerAccount, run.id);
    expect(report.sources.sort()).toEqual(['list', 'me']);
    expect(report.rows).toHaveLength(5);
    expect(report.run.window.from).not.toBeNull();
    const sum = (k: 'expected' | 'observed' | 'drift') => Money.sum(report.rows.map((r) => m(r[k]))).toFixed();
    expect(report.totals).toMatchObject({ expected: sum('expected'), observed: sum('observed'), drift: sum('drift'), accounts: 5 });

    const lines = reportCsv(report).trimEnd().split('\r\n');
    expect(lines[0]).toBe('account,source,observed_at,expected,observed,drift,status,explanation');
    expect(lines).toHaveLength(1 + 5 + 1);
    expect(lines[1].startsWith('main,me,')).toBe(true);
    for (const line of lines.slice(1)) {
      const cells = line.split(',');
      for (const amount of cells.slice(3, 6)) expect(amount).toMatch(/^-?\d+\.\d{3}$/);
    }
    expect(lines.find((l) => l.startsWith(`sub:${s},`))).toContain(',-1.125,drift,');
    expect(lines[6].startsWith(`TOTAL,${report.sources.join('+')},`)).toBe(true);
    expect(lines[6]).toContain(`,${report.totals.drift},completed,`);
  });

  it('unknown ids are domain errors', async () => {
    await expect(f.queries.getRun(f.providerAccount, '00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({ code: 'reconciliation_not_found' });
    await expect(f.queries.getFinding(f.providerAccount, 'nope')).rejects.toMatchObject({ code: 'drift_not_found' });
  });
});
