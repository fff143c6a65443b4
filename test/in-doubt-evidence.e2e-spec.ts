import { Money } from '@app/ledger';
import { sleep, Stack, startStack, TOKENS, waitFor } from './support/processes';

/**
 * The worker settles in-doubt transfers on its own, by evidence, while the sub-accounts keep
 * spending (docs/in-doubt.md): real api and worker processes, Postgres, Redis, the sandbox
 * over HTTP. Spending is simulated between and during calls with the sandbox's control
 * endpoint; each in-doubt call meets a sandbox fault; the truth is the sandbox's own log.
 */
const GRACE_MS = 2_000;

describe('in-doubt transfers under spending: settled by the worker, usage booked and reported', () => {
  let stack: Stack;
  let tokens: string[];
  const spent = new Map<string, Money>();

  async function control(path: string, body: unknown): Promise<void> {
    const res = await fetch(`${stack.sandbox.url}/__sandbox${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`sandbox ${path}: ${res.status} ${await res.text()}`);
  }
  async function spend(token: string, amount: string): Promise<void> {
    await control('/usage', { token, amount });
    spent.set(token, (spent.get(token) ?? Money.ZERO).plus(Money.parse(amount)));
  }
  const get = async (id: string) => (await stack.call('GET', `/v1/transfers/${id}`, undefined, TOKENS.viewer)).json;
  async function transfer(token: string, direction: 'add' | 'remove', amount: string, fault?: string) {
    if (fault) await control('/faults', { route: direction, fault, count: 1 });
    const created = await stack.call('POST', '/v1/transfers', { subaccount: token, direction, amount }, TOKENS.operator);
    expect(created.status).toBe(202);
    let t: any;
    await waitFor(async () => !['pending', 'executing'].includes((t = await get(created.json.id)).status), 10_000, `transfer ${created.json.id} to leave executing`, 50);
    return t;
  }
  const appliedAtSandbox = (token: string, route: 'add' | 'remove', amount: string) =>
    stack.sandbox.state.log.filter((e) => e.token === token && e.route === route && Money.parse(e.amount).equals(Money.parse(amount))).length;
  const sandboxBalance = (token: string) => stack.sandbox.state.getSub(token)!.balance.toFixed();

  beforeAll(async () => {
    stack = await startStack({
      subaccounts: 5,
      env: {
        IN_DOUBT_AUTO_SETTLE: 'on', IN_DOUBT_BARRIER: 'on', USAGE_AUTO_BOOK: 'on', RECONCILE_IN_DOUBT_GRACE_MS: String(GRACE_MS),
        IN_DOUBT_PROBE_DELAY_MS: '300', IN_DOUBT_MIN_HISTORY_WINDOWS: '0', IN_DOUBT_FRESH_READING_MS: '1500', IN_DOUBT_REREAD_MS: '1000', PROVIDER_TIMEOUT_MS: '1000', EXECUTION_LEASE_MS: '3000', RECONCILE_CRON: '0 0 1 1 *',
      },
    });
    expect((await stack.call('POST', '/v1/subaccounts/import', undefined, TOKENS.admin)).status).toBe(200);
    tokens = stack.tokens();
    for (const t of tokens) expect((await transfer(t, 'add', '50')).status).toBe('posted');
  });
  afterAll(async () => { await stack?.close(); });

  it('each in-doubt transfer is posted or voided by system:evidence, to what the sandbox did, within seconds after the grace', async () => {
    const [a, b, c, d] = tokens;
    const cases: Array<{ token: string; direction: 'add' | 'remove'; amount: string; fault: string; applied: boolean }> = [
      { token: a, direction: 'add', amount: '10.000', fault: 'apply_then_drop', applied: true },
      { token: b, direction: 'add', amount: '12.000', fault: 'drop_before_apply', applied: false },
      { token: c, direction: 'remove', amount: '5.000', fault: 'apply_then_drop', applied: true },
      { token: d, direction: 'remove', amount: '4.000', fault: 'drop_before_apply', applied: false },
    ];
    const inDoubt: Array<{ id: string; at: number; c: (typeof cases)[number] }> = [];
    for (const c of cases) {
      await spend(c.token, '0.315'); // SMS sent between the last reading and the call
      const t = await transfer(c.token, c.direction, c.amount, c.fault);
      expect(t.status).toBe('in_doubt');
      inDoubt.push({ id: t.id, at: Date.now(), c });
      await spend(c.token, '0.090'); // and during the grace
    }
    for (const { id, at, c } of inDoubt) {
      let t: any;
      await waitFor(async () => ['posted', 'voided'].includes((t = await get(id)).status), GRACE_MS + 8_000, `transfer ${id} to be settled by evidence`, 100);
      expect(Date.now() - at).toBeLessThan(GRACE_MS + 8_000);
      expect(appliedAtSandbox(c.token, c.direction, c.amount)).toBe(c.applied ? 1 : 0);
      expect(t).toMatchObject({ status: c.applied ? 'posted' : 'voided', resolution: { outcome: c.applied ? 'applied' : 'not_applied', by: 'system:evidence' } });
      expect(t.evidence).toMatchObject({ status: 'decided', outcome: c.applied ? 'applied' : 'not_applied' });
      expect(t.evidence.readings.length).toBeGreaterThanOrEqual(2);
      // The last reading before the call: the previous call's answer, or the fresh probe taken right before it.
      expect(['transfer', 'probe']).toContain(t.evidence.readings[0].source);
      expect(t.evidence.hypotheses.filter((h: any) => h.refuted).map((h: any) => h.outcome)).toEqual([c.applied ? 'not_applied' : 'applied']);
      expect(t.evidence.assumptions.join(' ')).toContain('only falls on its own');
    }
    // Journaled with the readings it used.
    const journal = await stack.db.query<{ data: { evidence: { readings: unknown[] } } }>(
      `SELECT data FROM journal_entries WHERE entity_id = $1 AND action = 'transfer.resolved_applied' AND actor = 'system:evidence'`, [inDoubt[0].id]);
    expect(journal).toHaveLength(1);
    expect(journal[0].data.evidence.readings.length).toBeGreaterThanOrEqual(2);
  });

  it('a sub-account not read for a while is read right before the call: a remove lost with its answer is settled as applied, pinned between two readings', async () => {
    const [a] = tokens;
    await sleep(1_700); // older than IN_DOUBT_FRESH_READING_MS
    await spend(a, '0.210');
    const before = Date.now();
    // A remove applied with its answer lost: "not applied" is refuted only by the plausibility rule.
    const x = await transfer(a, 'remove', '3.000', 'apply_then_drop');
    expect(x.status).toBe('in_doubt');
    await spend(a, '0.050');
    let t: any;
    await waitFor(async () => ['posted', 'voided'].includes((t = await get(x.id)).status), GRACE_MS + 8_000, `transfer ${x.id} to be settled by evidence`, 100);
    expect(appliedAtSandbox(a, 'remove', '3.000')).toBe(1);
    expect(t).toMatchObject({ status: 'posted', resolution: { by: 'system:evidence' } });
    // Its bracket starts with the probe taken right before the call, not with the answer 1.7 s older.
    const [b0] = t.evidence.readings;
    expect(b0.source).toBe('probe');
    expect(Date.parse(b0.at)).toBeGreaterThanOrEqual(before - 500);
    // The decision pinned the applied call between two readings (later evaluations use it).
    expect(t.evidence.appliedWithin).toMatchObject({ from: expect.any(String), to: expect.any(String) });
    expect(Date.parse(t.evidence.appliedWithin.to)).toBeLessThanOrEqual(Date.parse(t.evidence.readings.at(-1).at));
  });

  it('spending as large as the amount: left in doubt, with the evidence and a suggestion shown', async () => {
    const e = tokens[4];
    // 1.5 not applied, and 1.4 of spending: "applied" would need 2.9 of spending, within the floor (2 + history): undecided.
    const t = await transfer(e, 'add', '1.500', 'drop_before_apply');
    expect(t.status).toBe('in_doubt');
    await spend(e, '0.400');
    await sleep(GRACE_MS + 2_500);
    const after = await get(t.id);
    expect(after.status).toBe('in_doubt');
    expect(after.evidence).toMatchObject({ status: 'undecided', outcome: null });
    expect(after.evidence.hypotheses.map((h: any) => h.refuted)).toEqual([false, false]);
    expect(after.evidence.suggestion).toMatch(/resolve it by hand/);
    const operator = await stack.call('POST', `/v1/transfers/${t.id}/resolve`, { outcome: 'not_applied', reason: 'provider statement shows no credit' }, TOKENS.operator);
    expect(operator.status).toBe(200);
    expect(operator.json.evidence).toMatchObject({ status: 'undecided' });
  });

  it('usage is booked between readings: the ledger equals the sandbox, and the usage report says so', async () => {
    // One more reading per sub-account after some spending: a posted call's answer.
    for (const t of tokens) {
      await spend(t, '0.125');
      expect((await transfer(t, 'add', '1')).status).toBe('posted');
    }
    const posted = async (token: string) => (await stack.call('GET', `/v1/subaccounts/${token}`, undefined, TOKENS.viewer)).json.balance.posted;
    await waitFor(async () => {
      for (const t of tokens) if ((await posted(t)) !== sandboxBalance(t)) return false;
      return true;
    }, 10_000, 'every sub-account\'s usage to be booked');
    const bookings = await stack.db.query<{ kind: string; n: number }>(
      `SELECT kind, count(*)::int AS n FROM usage_bookings WHERE provider_account_id = $1 GROUP BY kind`, [stack.providerAccount]);
    expect(bookings.find((b) => b.kind === 'usage')!.n).toBeGreaterThanOrEqual(tokens.length);
    expect(bookings.some((b) => b.kind === 'gain' || b.kind === 'implausible')).toBe(false);

    const month = new Date().toISOString().slice(0, 7);
    const r = await stack.call('GET', `/v1/reports/usage?month=${month}`, undefined, TOKENS.viewer);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ month, timeZone: 'UTC' });
    for (const t of tokens) {
      const row = r.json.rows.find((x: any) => x.subaccount === t);
      expect(row).toMatchObject({ account: `sub:${t}`, opening: '0.000', usage: spent.get(t)!.toFixed(), closing: sandboxBalance(t), providerClosing: sandboxBalance(t), difference: '0.000' });
      const identity = Money.parse(row.opening).plus(Money.parse(row.topUps)).minus(Money.parse(row.removals)).minus(Money.parse(row.usage)).plus(Money.parse(row.adjustments));
      expect(identity.toFixed()).toBe(row.closing);
    }
    expect(r.json.totals.usage).toBe(Money.sum([...spent.values()]).toFixed());
    const csv = await stack.call('GET', `/v1/reports/usage?month=${month}&format=csv`, undefined, TOKENS.viewer);
    expect(csv.headers.get('content-type')).toContain('text/csv');
    const lines = csv.text.trim().split(/\r\n/);
    expect(lines[0]).toBe('month,account,subaccount,opening,top_ups,removals,usage,adjustments,closing,provider_closing,difference');
    expect(lines).toHaveLength(tokens.length + 2);
    const bad = await stack.call('GET', '/v1/reports/usage?month=2026-13', undefined, TOKENS.viewer);
    expect(bad.status).toBe(400);
    expect((await stack.call('GET', '/v1/reports/usage', undefined, TOKENS.viewer)).status).toBe(400);
  });
});
