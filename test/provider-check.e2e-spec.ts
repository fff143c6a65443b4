import { Stack, startStack, TOKENS } from './support/processes';

/** GET /v1/provider/check through the built API, against the sandbox it is configured with. */
describe('provider check end to end', () => {
  let stack: Stack;
  beforeAll(async () => { stack = await startStack({ subaccounts: 2, mainBalance: '321.500', worker: false }); });
  afterAll(async () => { await stack.close(); });

  it('admin only; reports a ready provider with what it saw, and never an api key', async () => {
    expect((await stack.call('GET', '/v1/provider/check', undefined, TOKENS.operator)).status).toBe(403);
    const r = await stack.call('GET', '/v1/provider/check', undefined, TOKENS.admin);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      verdict: 'ready', baseUrl: stack.sandbox.providerBaseUrl, subaccountFeature: 'on', problems: [], warnings: [],
      me: { outcome: 'ok', httpStatus: 200, balance: '321.500', currency: 'EUR', shape: { credits: { balance: 'string' } } },
      list: { outcome: 'ok', total: 2, entries: 2, skipped: [] },
    });
    expect(typeof r.json.clockSkewMs).toBe('number');
    const text = JSON.stringify(r.json);
    for (const a of stack.sandbox.state.snapshot().accounts) expect(text).not.toContain(a.apiKey);
    for (const s of stack.sandbox.state.snapshot().subaccounts) expect(text).not.toContain(s.apiKey);
    expect(stack.sandbox.state.log).toEqual([]);
  });

  it('a provider that refuses the sub-account feature: blocked, still HTTP 200 with the finding', async () => {
    const [main] = stack.sandbox.state.snapshot().accounts;
    stack.sandbox.state.upsertMainAccount({ apiKey: main.apiKey, subaccountsEnabled: false });
    const r = await stack.call('GET', '/v1/provider/check', undefined, TOKENS.admin);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ verdict: 'blocked', subaccountFeature: 'off', list: { outcome: 'rejected', code: 4 } });
    stack.sandbox.state.upsertMainAccount({ apiKey: main.apiKey, subaccountsEnabled: true });
  });
});
