/** The onboarding provider check, against the sandbox over HTTP and a bare local HTTP peer for what the sandbox never answers. */
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { createSandboxServer, SandboxServer } from '@app/sandbox';
import { ProviderCheckReport, ProviderCheckUseCase, shapeOf, SmsPartnerClient } from './index';

const KEY = 'check-main-key-000001';
let s: SandboxServer;

const check = (baseUrl: string, apiKey = KEY, timeoutMs = 2000) =>
  new ProviderCheckUseCase(new SmsPartnerClient({ baseUrl, apiKey, timeoutMs, readRetry: { attempts: 1 } }), { baseUrl, timeoutMs }).execute();
const noSecrets = (r: ProviderCheckReport) => {
  const text = JSON.stringify(r);
  expect(text).not.toContain(KEY);
  for (const sub of s.state.snapshot().subaccounts) expect(text).not.toContain(sub.apiKey);
  return r;
};

beforeAll(async () => { s = await createSandboxServer({ port: 0, seed: { seed: 5, accounts: [{ apiKey: KEY, username: 'o@example.com', balance: '10225.119', subaccounts: 3 }] } }); });
afterAll(async () => s.close());
beforeEach(() => { s.state.reset(); s.faults.clear(); });

describe('against the sandbox', () => {
  it('a healthy account: ready, shapes as documented, feature on, no skew, nothing tolerated', async () => {
    const r = noSecrets(await check(s.providerBaseUrl));
    expect(r).toMatchObject({
      verdict: 'ready', baseUrl: s.providerBaseUrl, subaccountFeature: 'on', problems: [], warnings: [],
      me: { outcome: 'ok', httpStatus: 200, attempts: 1, balance: '10225.119', currency: 'EUR', tolerated: [] },
      list: { outcome: 'ok', page: 1, total: 3, perPage: 20, entries: 3, skipped: [] },
    });
    expect(r.me.shape).toEqual({
      success: 'boolean', code: 'number', user: { username: 'string', firstname: 'string', lastname: 'string' },
      credits: { creditSms: 'number', creditSmsLowCost: 'number', creditSmsECO: 'number', creditHlr: 'number', toSend: 'number', solde: 'string', currency: 'string', balance: 'string' },
    });
    expect(r.list.shape).toEqual({
      success: 'boolean', code: 'number', total: 'number', nb_per_page: 'number', page: 'number',
      data: [{ id: 'number', email: 'string', type: 'string', token: 'string', apiKey: 'string', createdAt: 'string', credits: { balance: 'string', currency: 'string' } }],
    });
    expect(Math.abs(r.clockSkewMs!)).toBeLessThan(1500);
    expect(r.me.latencyMs).toBeGreaterThanOrEqual(0);
    // Read-only: nothing moved.
    expect(s.state.log).toEqual([]);
  });

  it('the sub-account feature switched off: blocked, said in plain words', async () => {
    s.state.upsertMainAccount({ apiKey: KEY, subaccountsEnabled: false });
    const r = noSecrets(await check(s.providerBaseUrl));
    expect(r).toMatchObject({ verdict: 'blocked', subaccountFeature: 'off', me: { outcome: 'ok' }, list: { outcome: 'rejected', code: 4 } });
    expect(r.problems).toEqual([expect.stringContaining('ask SMS Partner support to enable it')]);
  });

  it('a wrong key: blocked, with the operator message', async () => {
    const r = await check(s.providerBaseUrl, 'not-the-key');
    expect(r).toMatchObject({ verdict: 'blocked', subaccountFeature: 'unknown', me: { outcome: 'rejected', code: 10, reason: 'invalid_key' } });
    expect(r.problems[0]).toContain('check SMSPARTNER_API_KEY');
    expect(r.me.shape).toEqual({ success: 'boolean', code: 'number', message: 'string' });
  });

  it('a slow provider is reported', async () => {
    s.faults.add({ route: 'me', fault: 'latency', ms: 300, count: 1 });
    const r = await check(s.providerBaseUrl, KEY, 500);
    expect(r.verdict).toBe('attention');
    expect(r.warnings).toEqual([expect.stringMatching(/^\/me took \d+ ms, more than half the client timeout \(PROVIDER_TIMEOUT_MS = 500\)\.$/)]);
  });

  it('an unreachable provider: blocked', async () => {
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const { port } = srv.address() as AddressInfo;
    await new Promise<void>((r) => srv.close(() => r()));
    const r = await check(`http://127.0.0.1:${port}/v1`);
    expect(r).toMatchObject({ verdict: 'blocked', me: { outcome: 'not_sent' }, clockSkewMs: null });
  });
});

describe('against a bare HTTP peer', () => {
  let stub: Server;
  let base: string;
  let handler: (req: IncomingMessage, res: ServerResponse) => void;
  beforeAll(async () => {
    stub = createServer((req, res) => handler(req, res));
    await new Promise<void>((r) => stub.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(stub.address() as AddressInfo).port}/v1`;
  });
  afterAll(async () => new Promise<void>((r) => stub.close(() => r())));

  it('clock skew, tolerated shapes and skipped entries: attention, each named', async () => {
    handler = (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', date: new Date(Date.now() + 125_000).toUTCString() });
      if (req.url!.startsWith('/v1/me')) res.end('{"success":true,"code":200,"user":{"username":"u"},"credits":{"solde":"5.5","currency":"EUR"}}');
      else res.end('{"success":true,"code":200,"total":2,"nb_per_page":20,"page":1,"data":[{"token":"t1","credits":{"balance":null}},{"token":"t2","credits":{"balance":"1"}}]}');
    };
    const r = await check(base);
    expect(r.verdict).toBe('attention');
    expect(r.clockSkewMs).toBeGreaterThan(123_000);
    expect(r.clockSkewMs).toBeLessThan(126_000);
    expect(r.list.skipped).toEqual([{ index: 0, token: 't1', reason: 'no readable credits.balance (null)' }]);
    expect(r.warnings).toEqual([
      '1 entry of the first list page could not be read and would be skipped (see list.skipped).',
      '/me: the client tolerated: credits.balance missing or unreadable: credits.solde read.',
      'list: the client tolerated: 1 list entry skipped (see skipped).',
      expect.stringMatching(/^The provider's clock and ours differ by 12[45] s: check NTP/),
    ]);
  });

  it('a redirect (http:// base URL): blocked as a configuration problem', async () => {
    handler = (_req, res) => { res.writeHead(301, { location: 'https://127.0.0.1/v1/me' }); res.end(); };
    const r = await check(base);
    expect(r).toMatchObject({ verdict: 'blocked', me: { outcome: 'unknown', httpStatus: 301, configurationProblem: 'redirect' } });
    expect(r.problems).toContain('/me was answered with a redirect: SMSPARTNER_BASE_URL is probably wrong (http:// instead of https://, or another host or path).');
  });
});

it('shapeOf never shows a value', () => {
  expect(shapeOf({ a: 'secret', b: [{ c: 1 }], d: null, e: [], f: true })).toEqual({ a: 'string', b: [{ c: 'number' }], d: 'null', e: [], f: 'boolean' });
});
