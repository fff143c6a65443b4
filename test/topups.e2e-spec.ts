import { Stack, startStack, TOKENS, waitFor } from './support/processes';

/**
 * Top-ups as a user drives them: the API process (policies, preview, runs) and the worker
 * process ticking every 500 ms (TOPUP_TICK_MS) on a per-minute schedule, so a period falls
 * due within a minute of real time.
 */
describe('top-ups end to end (api + worker processes)', () => {
  let stack: Stack;
  let a: string;
  let b: string;
  beforeAll(async () => {
    stack = await startStack({ subaccounts: 3, env: { TOPUP_TICK_MS: '500' } });
    expect((await stack.call('POST', '/v1/subaccounts/import', undefined, TOKENS.admin)).status).toBe(200);
    [a, b] = stack.tokens();
  });
  afterAll(async () => { await stack.close(); });

  it('refuses bad policies and roles below admin', async () => {
    const ok = { subaccount: a, mode: 'fixed', amount: '5', schedule: '0 6 1 * *', timezone: 'Europe/Paris', enabled: true };
    expect((await stack.call('POST', '/v1/topup-policies', ok, TOKENS.operator)).status).toBe(403);
    expect((await stack.call('GET', '/v1/topup-policies', undefined, null)).status).toBe(401);
    const bad = async (body: unknown) => {
      const r = await stack.call('POST', '/v1/topup-policies', body, TOKENS.admin);
      return [r.status, r.json?.error?.code, r.json?.error?.message];
    };
    expect(await bad({ ...ok, amount: undefined })).toEqual([400, 'validation_failed', expect.stringContaining('amount: is required in fixed mode')]);
    expect(await bad({ ...ok, mode: 'target', target: '10' })).toEqual([400, 'validation_failed', expect.stringContaining('amount: is for fixed mode only')]);
    expect(await bad({ ...ok, schedule: '0 6 1 *' })).toEqual([400, 'validation_failed', expect.stringContaining('schedule')]);
    expect(await bad({ ...ok, schedule: '0 6 31 2 *' })).toEqual([400, 'validation_failed', expect.stringContaining('schedule')]);
    expect(await bad({ ...ok, timezone: 'Paris' })).toEqual([400, 'validation_failed', expect.stringContaining('timezone')]);
    expect(await bad({ ...ok, amount: '1.2345' })).toEqual([400, 'validation_failed', expect.stringContaining('amount')]);
    expect(await bad({ ...ok, cap: 0 })).toEqual([400, 'validation_failed', expect.stringContaining('cap')]);
    expect(await bad({ ...ok, every: 'month' })).toEqual([400, 'validation_failed', expect.any(String)]);
    expect(await bad({ ...ok, subaccount: 'unknown-token' })).toEqual([404, 'subaccount_not_found', expect.any(String)]);
    expect((await stack.call('GET', '/v1/topup-policies/00000000-0000-4000-8000-000000000000', undefined, TOKENS.viewer)).status).toBe(404);
  });

  it('a user creates a policy, previews it and sees its run, with the transfer posted, after the scheduler ticks', async () => {
    const created = await stack.call('POST', '/v1/topup-policies', { subaccount: a, mode: 'fixed', amount: 12.5, cap: '10', schedule: '* * * * *', timezone: 'Europe/Paris', enabled: true }, TOKENS.admin);
    expect(created.status).toBe(201);
    const policy = created.json;
    expect(policy).toMatchObject({ subaccount: a, mode: 'fixed', amount: '12.500', target: null, cap: '10.000', schedule: '* * * * *', timezone: 'Europe/Paris', enabled: true, deletedAt: null });
    expect(policy.createdBy).toMatch(/\/admin$/);

    const preview = await stack.call('GET', `/v1/topup-policies/${policy.id}/preview`, undefined, TOKENS.viewer);
    expect(preview.status).toBe(200);
    expect(preview.json).toMatchObject({ policy: policy.id, amount: '10.000', explanation: 'fixed 12.500, capped at 10.000', duePeriod: null });
    const next = Date.parse(preview.json.nextRunAt);
    expect(next - Date.now()).toBeLessThanOrEqual(60_000);
    expect(new Date(next).getUTCSeconds()).toBe(0);

    let runs: any[] = [];
    await waitFor(async () => {
      runs = (await stack.call('GET', `/v1/topup-runs?policy=${policy.id}`, undefined, TOKENS.viewer)).json.data;
      return runs.length > 0 && runs.every((r) => r.transfer?.status === 'posted');
    }, 75_000, 'a posted top-up run', 250);
    const [run] = runs.slice(-1);
    expect(run).toMatchObject({ policy: policy.id, status: 'decided', amount: '10.000', explanation: 'fixed 12.500, capped at 10.000', mode: 'fixed' });
    expect(run.period).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}\+0[12]:00$/);
    expect(Date.parse(run.scheduledFor)).toBe(next);
    // Exactly one transfer per run, and the sandbox got exactly what the runs decided.
    const transfers = (await stack.call('GET', `/v1/transfers?subaccount=${a}`, undefined, TOKENS.viewer)).json.data;
    expect(transfers.map((t: any) => t.id).sort()).toEqual(runs.map((r) => r.transfer.id).sort());
    expect(stack.sandbox.state.getSub(a)!.balance.toFixed()).toBe((10 * runs.length).toFixed(3));
    const byPeriod = await stack.call('GET', `/v1/topup-runs?period=${encodeURIComponent(run.period)}`, undefined, TOKENS.viewer);
    expect(byPeriod.json.data.map((r: any) => r.id)).toEqual([run.id]);

    // Deleting stops it; it and its runs stay readable; it can no longer change.
    const deleted = await stack.call('DELETE', `/v1/topup-policies/${policy.id}`, undefined, TOKENS.admin);
    expect(deleted.status).toBe(200);
    expect(deleted.json.deletedAt).not.toBeNull();
    expect(deleted.json.nextRunAt).toBeNull();
    expect((await stack.call('PATCH', `/v1/topup-policies/${policy.id}`, { enabled: true }, TOKENS.admin)).status).toBe(409);
    expect((await stack.call('GET', `/v1/topup-policies/${policy.id}`, undefined, TOKENS.viewer)).json.deletedAt).toBe(deleted.json.deletedAt);
    expect((await stack.call('GET', '/v1/topup-policies', undefined, TOKENS.viewer)).json.data.map((p: any) => p.id)).not.toContain(policy.id);
    expect((await stack.call('GET', '/v1/topup-policies?includeDeleted=true', undefined, TOKENS.viewer)).json.data.map((p: any) => p.id)).toContain(policy.id);
  }, 100_000);

  it('target mode: the preview reads the provider; PATCH changes the policy and is journaled with the admin', async () => {
    const created = await stack.call('POST', '/v1/topup-policies', { subaccount: b, mode: 'target', target: '50' }, TOKENS.admin);
    expect(created.status).toBe(201);
    // Defaults: monthly on the 1st at 06:00 in TOPUP_TIMEZONE.
    expect(created.json).toMatchObject({ schedule: '0 6 1 * *', timezone: 'Europe/Paris', enabled: true });
    const preview = (await stack.call('GET', `/v1/topup-policies/${created.json.id}/preview`, undefined, TOKENS.viewer)).json;
    expect(preview).toMatchObject({ amount: '50.000', observedBalance: '0.000', explanation: 'target 50.000: provider reading 0.000, 50.000 missing' });
    expect(preview.nextPeriod).toMatch(/^\d{4}-\d{2}-01T06:00\+0[12]:00$/);

    const patched = await stack.call('PATCH', `/v1/topup-policies/${created.json.id}`, { target: '30', cap: '20' }, TOKENS.admin);
    expect(patched.status).toBe(200);
    expect(patched.json).toMatchObject({ target: '30.000', cap: '20.000' });
    expect((await stack.call('PATCH', `/v1/topup-policies/${created.json.id}`, { cap: null }, TOKENS.admin)).json.cap).toBeNull();
    expect((await stack.call('PATCH', `/v1/topup-policies/${created.json.id}`, {}, TOKENS.admin)).status).toBe(400);
    expect((await stack.call('PATCH', `/v1/topup-policies/${created.json.id}`, { target: '1' }, TOKENS.viewer)).status).toBe(403);
    const journal = await stack.db.query<{ action: string; actor: string }>(
      `SELECT action, actor FROM journal_entries WHERE entity_id = $1 ORDER BY sequence`, [created.json.id]);
    expect(journal.map((j) => j.action)).toEqual(['topup_policy.created', 'topup_policy.updated', 'topup_policy.updated']);
    expect(journal.every((j) => j.actor.endsWith('/admin'))).toBe(true);
  });

  it('the routes are in the OpenAPI document', async () => {
    const doc = (await stack.call('GET', '/docs-json', undefined, null)).json;
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/topup-policies', '/v1/topup-policies/{id}', '/v1/topup-policies/{id}/preview', '/v1/topup-runs']));
  });
});
