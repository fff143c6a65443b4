import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSandboxServer, SandboxSeed, SandboxServer, SandboxState } from './index';

const KEY = 'main-key-0001';
const OTHER = 'other-key-0002';
const SEED: SandboxSeed = {
  seed: 7,
  accounts: [
    { apiKey: KEY, username: 'owner@example.com', firstname: 'Olive', lastname: 'Owner', balance: '10225.119', subaccounts: 2 },
    { apiKey: OTHER, balance: '50', subaccounts: 1 },
  ],
};

let s: SandboxServer;

interface Res { status: number; text: string; body: any; headers: Headers }
async function read(r: Response): Promise<Res> {
  const text = await r.text();
  let body: unknown;
  try { body = JSON.parse(text); } catch { body = undefined; }
  return { status: r.status, text, body, headers: r.headers };
}
const get = async (path: string) => read(await fetch(s.url + path));
const post = async (path: string, body?: unknown) =>
  read(await fetch(s.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) }));
const del = async (path: string) => read(await fetch(s.url + path, { method: 'DELETE' }));
const rawPost = (path: string, body: unknown, signal?: AbortSignal) =>
  fetch(s.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...(signal ? { signal } : {}) });

const tokens = () => s.state.subaccountsOf(KEY).map((x) => x.token);
const subBalance = (token: string) => s.state.getSub(token)!.balance.toFixed();
const mainBalance = (key = KEY) => s.state.getMain(key)!.balance.toFixed();
const add = (body: Record<string, unknown>) => post('/v1/subaccount/credit/add', body);
const remove = (body: Record<string, unknown>) => post('/v1/subaccount/credit/remove', body);
const fault = (rule: Record<string, unknown>) => post('/__sandbox/faults', rule);

beforeAll(async () => {
  s = await createSandboxServer({ port: 0, seed: SEED, now: () => new Date('2024-05-06T07:08:09.000Z') });
});
afterAll(async () => s.close());
beforeEach(async () => {
  expect((await post('/__sandbox/reset')).status).toBe(200);
  await post('/__sandbox/config', { errorHttpStatus: 200 });
});

describe('GET /v1/me', () => {
  it('answers the documented shape with 3-decimal string balances', async () => {
    const r = await get(`/v1/me?apiKey=${KEY}`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      success: true,
      code: 200,
      user: { username: 'owner@example.com', firstname: 'Olive', lastname: 'Owner' },
      credits: {
        creditSms: expect.any(Number),
        creditSmsLowCost: expect.any(Number),
        creditSmsECO: expect.any(Number),
        creditHlr: expect.any(Number),
        toSend: 0,
        solde: '10225.119',
        currency: 'EUR',
        balance: '10225.119',
      },
    });
    expect(r.text).toContain('"balance":"10225.119"');
    expect(Number.isInteger(r.body.credits.creditSms)).toBe(true);
  });

  it.each([['missing', '', 1, 'API key is required'], ['wrong', 'nope-nope', 10, 'Invalid API key']])('answers the documented code for a %s key', async (_what, key, code, message) => {
    const r = await get(`/v1/me?apiKey=${key}`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ success: false, code, message });
  });

  it('answers the XML form with unnamed entries and CDATA strings', async () => {
    const r = await get(`/v1/me?apiKey=${KEY}&_format=xml`);
    expect(r.headers.get('content-type')).toMatch(/xml/);
    expect(r.text.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<result>')).toBe(true);
    expect(r.text).toContain('<entry>true</entry>');
    expect(r.text).toContain('<entry>200</entry>');
    expect(r.text).toContain('<username>owner@example.com</username>');
    expect(r.text).toContain('<![CDATA[10225.119]]>');
    expect(r.text).toContain('<![CDATA[EUR]]>');
    expect(r.text.trim().endsWith('</result>')).toBe(true);
  });
});

describe('POST /v1/subaccount/create', () => {
  it('creates a sub-account and answers the documented shape', async () => {
    const r = await post('/v1/subaccount/create', { apiKey: KEY, type: 'advanced', parameters: { email: 'new@example.com', isBuyer: 0, firstname: 'N', lastname: 'E', title: 'Shop' } });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      success: true,
      code: 200,
      subaccount: { email: 'new@example.com', token: expect.stringMatching(/^[a-z0-9]{16}$/) },
      sendConfirmMailTo: 'new@example.com',
      parent_email: 'owner@example.com',
    });
    const sub = s.state.getSub(r.body.subaccount.token)!;
    expect(sub).toMatchObject({ email: 'new@example.com', type: 'advanced', isBuyer: false, title: 'Shop', parentApiKey: KEY, createdAt: '2024-05-06 07:08:09' });
    expect(sub.balance.toFixed()).toBe('0.000');
    expect(s.state.log).toHaveLength(0);
  });

  it('also accepts GET with PHP-style query parameters', async () => {
    const r = await get(`/v1/subaccount/create?apiKey=${KEY}&type=simple&parameters[email]=q@example.com`);
    expect(r.body.success).toBe(true);
    expect(s.state.getSub(r.body.subaccount.token)!.email).toBe('q@example.com');
  });

  it('moves creditToAttribute from the main account and logs it', async () => {
    const r = await post('/v1/subaccount/create', { apiKey: KEY, type: 'simple', parameters: { email: 'c@example.com', creditToAttribute: '25.5' } });
    expect(r.body.success).toBe(true);
    expect(mainBalance()).toBe('10199.619');
    expect(subBalance(r.body.subaccount.token)).toBe('25.500');
    expect(s.state.log).toEqual([expect.objectContaining({ seq: 1, route: 'create', amount: '25.500', mainAfter: '10199.619', subAfter: '25.500' })]);
  });

  const base = { apiKey: KEY, type: 'advanced', parameters: { email: 'x@example.com', isBuyer: 1 } };
  it.each<[number, string, Record<string, unknown>]>([
    [1, 'API key is required', { ...base, apiKey: '' }],
    [3, 'isBuyer is required', { ...base, parameters: { email: 'x@example.com' } }],
    [4, 'Type is required (simple or advanced)', { ...base, type: undefined }],
    [5, 'Sub-account type does not exist (simple or advanced)', { ...base, type: 'premium' }],
    [6, 'Email is required', { ...base, parameters: { isBuyer: 1 } }],
    [7, 'An account already exists with this email', { ...base, parameters: { email: 'owner@example.com', isBuyer: 1 } }],
    [8, 'creditToAttribute must be greater than 0', { ...base, parameters: { email: 'x@example.com', isBuyer: 1, creditToAttribute: '0' } }],
    [8, 'creditToAttribute must be greater than 0', { ...base, parameters: { email: 'x@example.com', isBuyer: 1, creditToAttribute: '1.0001' } }],
    [9, 'Your balance must be greater than 0', { ...base, parameters: { email: 'x@example.com', isBuyer: 1, creditToAttribute: '20000' } }],
    [10, 'Invalid API key', { ...base, apiKey: 'unknown-key' }],
  ])('answers code %i (%s)', async (code, message, body) => {
    const before = s.state.snapshot();
    const r = await post('/v1/subaccount/create', body);
    expect(r.body).toEqual({ success: false, code, message });
    expect(s.state.snapshot()).toEqual(before);
  });

  it('answers code 2 when the sub-account feature is not enabled', async () => {
    await post('/__sandbox/accounts', { apiKey: KEY, subaccountsEnabled: false });
    const r = await post('/v1/subaccount/create', base);
    expect(r.body).toEqual({ success: false, code: 2, message: 'You are not authorized' });
  });

  it('refuses an email already used by a sub-account', async () => {
    const existing = s.state.getSub(tokens()[0])!.email;
    const r = await post('/v1/subaccount/create', { ...base, parameters: { email: existing.toUpperCase(), isBuyer: 0 } });
    expect(r.body.code).toBe(7);
  });
});

describe('GET /v1/subaccount/list', () => {
  it('pages 45 sub-accounts by 20 with totals and string balances', async () => {
    for (let i = 0; i < 43; i++) {
      const r = await post('/v1/subaccount/create', { apiKey: KEY, type: 'simple', parameters: { email: `p${i}@example.com` } });
      expect(r.body.success).toBe(true);
    }
    await post('/__sandbox/balance', { token: tokens()[44], balance: '0.8' });
    const pages = [];
    for (const page of [1, 2, 3, 4]) pages.push(await get(`/v1/subaccount/list?apiKey=${KEY}&page=${page}`));
    expect(pages.map((p) => p.body.data.length)).toEqual([20, 20, 5, 0]);
    for (const [i, p] of pages.entries()) {
      expect(p.body).toMatchObject({ success: true, code: 200, total: 45, nb_per_page: 20, page: i + 1 });
    }
    const items = pages.flatMap((p) => p.body.data);
    expect(items.map((d: { token: string }) => d.token)).toEqual(tokens());
    expect(new Set(items.map((d: { id: number }) => d.id)).size).toBe(45);
    for (const d of items) {
      expect(Object.keys(d)).toEqual(['id', 'email', 'type', 'token', 'apiKey', 'createdAt', 'credits']);
      expect(typeof d.id).toBe('number');
      expect(d.createdAt).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
      expect(d.credits.balance).toMatch(/^\d+\.\d{3}$/);
      expect(d.credits.currency).toBe('EUR');
    }
    expect(items[44].credits.balance).toBe('0.800');
    // Only this main account's sub-accounts.
    expect(items.some((d: { token: string }) => s.state.getSub(d.token)!.parentApiKey !== KEY)).toBe(false);
  });

  it('defaults to page 1', async () => {
    const r = await get(`/v1/subaccount/list?apiKey=${KEY}`);
    expect(r.body).toMatchObject({ page: 1, total: 2 });
  });

  it('answers code 10 for a wrong key and 4 when the feature is off', async () => {
    expect((await get('/v1/subaccount/list?apiKey=zzzz')).body).toEqual({ success: false, code: 10, message: 'Invalid API key' });
    await post('/__sandbox/accounts', { apiKey: KEY, subaccountsEnabled: false });
    expect((await get(`/v1/subaccount/list?apiKey=${KEY}`)).body.code).toBe(4);
  });
});

describe('POST /v1/subaccount/credit/add and /remove', () => {
  it('moves money and answers JSON numbers printed from the decimals', async () => {
    const [t] = tokens();
    await post('/__sandbox/balance', { apiKey: KEY, balance: '2969.2' });
    const r = await add({ apiKey: KEY, credit: '100', tokenSubaccount: t });
    expect(r.status).toBe(200);
    expect(r.text).toBe('{"success":true,"code":200,"credit":2869.2,"subaccountCredit":100,"currency":"EUR"}');
    expect(typeof r.body.credit).toBe('number');
    expect(typeof r.body.subaccountCredit).toBe('number');

    const back = await remove({ apiKey: KEY, credit: 38.2, tokenSubaccount: t });
    expect(back.text).toBe('{"success":true,"code":200,"credit":2907.4,"subaccountCredit":61.8,"currency":"EUR"}');
    expect(mainBalance()).toBe('2907.400');
    expect(subBalance(t)).toBe('61.800');
    expect(s.state.log).toEqual([
      { seq: 1, at: '2024-05-06T07:08:09.000Z', route: 'add', token: t, amount: '100.000', mainAfter: '2869.200', subAfter: '100.000' },
      { seq: 2, at: '2024-05-06T07:08:09.000Z', route: 'remove', token: t, amount: '38.200', mainAfter: '2907.400', subAfter: '61.800' },
    ]);
  });

  it('keeps 3 decimals exactly (no float drift)', async () => {
    const [t] = tokens();
    const r = await add({ apiKey: KEY, credit: '0.1', tokenSubaccount: t });
    await add({ apiKey: KEY, credit: '0.2', tokenSubaccount: t });
    expect(r.text).toContain('"credit":10225.019');
    expect(subBalance(t)).toBe('0.300');
    expect(mainBalance()).toBe('10224.819');
  });

  it('takes the apiKey from the query string too', async () => {
    const [t] = tokens();
    const r = await post(`/v1/subaccount/credit/add?apiKey=${KEY}`, { credit: '1', tokenSubaccount: t });
    expect(r.body.success).toBe(true);
  });

  it('answers the XML form', async () => {
    const [t] = tokens();
    const r = await post('/v1/subaccount/credit/add?_format=xml', { apiKey: KEY, credit: '100', tokenSubaccount: t });
    expect(r.text).toBe([
      '<?xml version="1.0" encoding="UTF-8"?>', '<result>', '    <entry>true</entry>', '    <entry>200</entry>',
      '    <entry>10125.119</entry>', '    <entry>100</entry>', '    <entry>', '        <![CDATA[EUR]]>', '    </entry>', '</result>',
    ].join('\n'));
    const err = await post('/v1/subaccount/credit/add', { apiKey: 'bad-key', credit: '1', tokenSubaccount: t, _format: 'xml' });
    expect(err.text).toContain('<entry>false</entry>\n    <entry>10</entry>\n    <entry>\n        <![CDATA[Invalid API key]]>');
  });

  type Case = [string, number, 'add' | 'remove', (t: string, other: string) => Record<string, unknown>, (() => Promise<unknown>)?];
  const cases: Case[] = [
    ['no apiKey', 1, 'add', (t) => ({ credit: '1', tokenSubaccount: t })],
    ['no apiKey', 1, 'remove', (t) => ({ apiKey: '', credit: '1', tokenSubaccount: t })],
    ['no credit', 2, 'add', (t) => ({ apiKey: KEY, tokenSubaccount: t })],
    ['empty credit', 2, 'remove', (t) => ({ apiKey: KEY, credit: '', tokenSubaccount: t })],
    ['no token', 3, 'add', () => ({ apiKey: KEY, credit: '1' })],
    ['no token', 3, 'remove', () => ({ apiKey: KEY, credit: '1', tokenSubaccount: '' })],
    ['feature disabled', 4, 'add', (t) => ({ apiKey: KEY, credit: '1', tokenSubaccount: t }), () => post('/__sandbox/accounts', { apiKey: KEY, subaccountsEnabled: false })],
    ['feature disabled', 4, 'remove', (t) => ({ apiKey: KEY, credit: '1', tokenSubaccount: t }), () => post('/__sandbox/accounts', { apiKey: KEY, subaccountsEnabled: false })],
    ['zero', 5, 'add', (t) => ({ apiKey: KEY, credit: '0', tokenSubaccount: t })],
    ['negative', 5, 'add', (t) => ({ apiKey: KEY, credit: -5, tokenSubaccount: t })],
    ['4 decimals', 5, 'add', (t) => ({ apiKey: KEY, credit: '1.0001', tokenSubaccount: t })],
    ['not a number', 5, 'remove', (t) => ({ apiKey: KEY, credit: 'ten', tokenSubaccount: t })],
    ['exponent', 5, 'add', (t) => ({ apiKey: KEY, credit: '1e2', tokenSubaccount: t })],
    ['main balance 0', 6, 'add', (t) => ({ apiKey: KEY, credit: '1', tokenSubaccount: t }), () => post('/__sandbox/balance', { apiKey: KEY, balance: '0' })],
    ['sub balance 0', 6, 'remove', (t) => ({ apiKey: KEY, credit: '1', tokenSubaccount: t })],
    ['unknown token', 7, 'add', () => ({ apiKey: KEY, credit: '1', tokenSubaccount: 'no-such-token' })],
    ["another account's sub-account", 7, 'remove', (_t, other) => ({ apiKey: KEY, credit: '1', tokenSubaccount: other })],
    ['more than the main balance', 8, 'add', (t) => ({ apiKey: KEY, credit: '10225.120', tokenSubaccount: t })],
    ['more than the sub balance', 8, 'remove', (t) => ({ apiKey: KEY, credit: '5.001', tokenSubaccount: t }), () => post('/__sandbox/balance', { token: tokens()[0], balance: '5' })],
    ['wrong key', 10, 'add', (t) => ({ apiKey: 'wrong-key', credit: '1', tokenSubaccount: t })],
    ['wrong key', 10, 'remove', (t) => ({ apiKey: 'wrong-key', credit: '1', tokenSubaccount: t })],
  ];
  it.each(cases.map((c) => [c[0], c[1], c[2], c[3], c[4] ?? null] as const))('%s → code %i on %s, nothing applied', async (_what, code, route, body, setup) => {
    if (setup) await setup();
    const before = s.state.snapshot();
    const t = tokens()[0];
    const other = s.state.subaccountsOf(OTHER)[0].token;
    const r = await (route === 'add' ? add : remove)(body(t, other));
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ success: false, code, message: expect.any(String) });
    expect(s.state.snapshot()).toEqual(before);
    expect(s.state.log).toHaveLength(0);
  });

  it('answers errors with the configured HTTP status, successes with 200', async () => {
    await post('/__sandbox/config', { errorHttpStatus: 400 });
    const [t] = tokens();
    const err = await add({ apiKey: KEY, credit: '0', tokenSubaccount: t });
    expect(err.status).toBe(400);
    expect(err.body).toEqual({ success: false, code: 5, message: 'Credit to assign must be greater than 0' });
    expect((await add({ apiKey: KEY, credit: '1', tokenSubaccount: t })).status).toBe(200);
  });

  it('takes errorHttpStatus as a server option', async () => {
    const other = await createSandboxServer({ seed: SEED, errorHttpStatus: 422 });
    try {
      const r = await fetch(`${other.url}/v1/me?apiKey=x`);
      expect(r.status).toBe(422);
      expect(await r.json()).toEqual({ success: false, code: 10, message: 'Invalid API key' });
    } finally {
      await other.close();
    }
  });
});

describe('control endpoints', () => {
  it('exposes the full state, sub-account keys included', async () => {
    const r = await get('/__sandbox/state');
    expect(r.body.accounts.map((a: { apiKey: string }) => a.apiKey)).toEqual([KEY, OTHER]);
    expect(r.body.accounts[0].balance).toBe('10225.119');
    expect(r.body.subaccounts).toHaveLength(3);
    expect(r.body.subaccounts[0].apiKey).toMatch(/^[0-9a-f]{32}$/);
    expect(r.body.errorHttpStatus).toBe(200);
  });

  it('simulates usage without any credit call, and refuses usage above the balance', async () => {
    const [t] = tokens();
    await post('/__sandbox/balance', { token: t, balance: '10' });
    expect((await post('/__sandbox/usage', { token: t, amount: '2.345' })).body).toEqual({ balance: '7.655' });
    expect((await post('/__sandbox/usage', { apiKey: KEY, amount: '0.119' })).body).toEqual({ balance: '10225.000' });
    const tooMuch = await post('/__sandbox/usage', { token: t, amount: '8' });
    expect(tooMuch.status).toBe(400);
    expect(subBalance(t)).toBe('7.655');
    expect(s.state.log).toHaveLength(0);
  });

  it('simulates purchases on the main account', async () => {
    expect((await post('/__sandbox/purchase', { apiKey: KEY, amount: '100.881' })).body).toEqual({ balance: '10326.000' });
    expect((await get(`/v1/me?apiKey=${KEY}`)).body.credits.balance).toBe('10326.000');
  });

  it('creates main accounts and rejects bad input with 400', async () => {
    const r = await post('/__sandbox/accounts', { apiKey: 'fresh-key-9', balance: '12.5' });
    expect(r.body).toMatchObject({ apiKey: 'fresh-key-9', balance: '12.500', subaccountsEnabled: true });
    expect((await get('/v1/me?apiKey=fresh-key-9')).body.credits.balance).toBe('12.500');
    expect((await post('/__sandbox/balance', { apiKey: KEY, balance: '1.2345' })).status).toBe(400);
    expect((await post('/__sandbox/balance', { token: 'nope', balance: '1' })).status).toBe(400);
    expect((await post('/__sandbox/purchase', { apiKey: KEY, amount: '-1' })).status).toBe(400);
  });

  it('reset restores the seed with the same tokens, clears the log and the faults', async () => {
    const seeded = tokens();
    await add({ apiKey: KEY, credit: '5', tokenSubaccount: seeded[0] });
    await post('/v1/subaccount/create', { apiKey: KEY, type: 'simple', parameters: { email: 'r@example.com' } });
    await fault({ route: 'me', fault: 'http_500', count: 5 });
    await post('/__sandbox/reset');
    expect(tokens()).toEqual(seeded);
    expect(mainBalance()).toBe('10225.119');
    expect((await get('/__sandbox/log')).body).toEqual([]);
    expect((await get(`/v1/me?apiKey=${KEY}`)).status).toBe(200);
  });

  it('generates the same tokens from the same seed, other tokens from another seed', () => {
    const a = new SandboxState({ seed: SEED }).snapshot().subaccounts.map((x) => [x.token, x.apiKey]);
    const b = new SandboxState({ seed: SEED }).snapshot().subaccounts.map((x) => [x.token, x.apiKey]);
    const c = new SandboxState({ seed: { ...SEED, seed: 8 } }).snapshot().subaccounts.map((x) => [x.token, x.apiKey]);
    expect(a).toEqual(b);
    expect(c).not.toEqual(a);
  });
});

describe('faults', () => {
  const addOne = () => add({ apiKey: KEY, credit: '1', tokenSubaccount: tokens()[0] });
  const nothingApplied = () => {
    expect(s.state.log).toHaveLength(0);
    expect(mainBalance()).toBe('10225.119');
    expect(subBalance(tokens()[0])).toBe('0.000');
  };

  it('latency delays the answer and still applies the call', async () => {
    await fault({ route: 'add', fault: 'latency', ms: 150, count: 1 });
    const t0 = Date.now();
    const r = await addOne();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(r.body.success).toBe(true);
    expect(s.state.log).toEqual([expect.objectContaining({ route: 'add', faultApplied: 'latency' })]);
  });

  it('http_429 answers 429 with Retry-After when asked, without applying', async () => {
    await fault({ route: 'add', fault: 'http_429', retryAfterSeconds: 7, count: 1 });
    await fault({ route: 'add', fault: 'http_429', count: 1 });
    const first = await addOne();
    expect(first.status).toBe(429);
    expect(first.headers.get('retry-after')).toBe('7');
    const second = await addOne();
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toBeNull();
    nothingApplied();
  });

  it.each([500, 502, 503])('http_%i answers that status with a non-JSON body, without applying', async (status) => {
    await fault({ route: 'add', fault: `http_${status}`, count: 1 });
    const r = await addOne();
    expect(r.status).toBe(status);
    expect(r.body).toBeUndefined();
    nothingApplied();
  });

  it('apply_then_drop applies, then closes the socket without answering', async () => {
    await fault({ route: 'add', fault: 'apply_then_drop', count: 1 });
    await expect(rawPost('/v1/subaccount/credit/add', { apiKey: KEY, credit: '1', tokenSubaccount: tokens()[0] })).rejects.toThrow();
    expect(s.state.log).toEqual([expect.objectContaining({ route: 'add', amount: '1.000', faultApplied: 'apply_then_drop' })]);
    expect(subBalance(tokens()[0])).toBe('1.000');
  });

  it('drop_before_apply closes the socket and applies nothing', async () => {
    await fault({ route: 'add', fault: 'drop_before_apply', count: 1 });
    await expect(rawPost('/v1/subaccount/credit/add', { apiKey: KEY, credit: '1', tokenSubaccount: tokens()[0] })).rejects.toThrow();
    nothingApplied();
  });

  it('apply_then_delay applies at once and answers after the delay', async () => {
    await fault({ route: 'remove', fault: 'apply_then_delay', ms: 2000, count: 1 });
    await post('/__sandbox/balance', { token: tokens()[0], balance: '3' });
    const call = rawPost('/v1/subaccount/credit/remove', { apiKey: KEY, credit: '1', tokenSubaccount: tokens()[0] }, AbortSignal.timeout(250));
    await expect(call).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(s.state.log).toEqual([expect.objectContaining({ route: 'remove', subAfter: '2.000', faultApplied: 'apply_then_delay' })]);
  });

  it('apply_then_delay eventually answers normally when the client waits', async () => {
    await fault({ route: 'add', fault: 'apply_then_delay', ms: 200, count: 1 });
    const t0 = Date.now();
    const r = await addOne();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(r.body).toMatchObject({ success: true, subaccountCredit: 1 });
  });

  it('malformed_body answers 200 with truncated JSON, without applying', async () => {
    await fault({ route: 'add', fault: 'malformed_body', count: 1 });
    const r = await addOne();
    expect(r.status).toBe(200);
    expect(() => JSON.parse(r.text)).toThrow();
    nothingApplied();
  });

  it('html_error answers a 502 HTML page, without applying', async () => {
    await fault({ route: 'add', fault: 'html_error', count: 1 });
    const r = await addOne();
    expect(r.status).toBe(502);
    expect(r.headers.get('content-type')).toMatch(/text\/html/);
    expect(r.text).toContain('<html>');
    nothingApplied();
  });

  it('missing_fields applies and answers success without the credit fields', async () => {
    await fault({ route: 'add', fault: 'missing_fields', count: 1 });
    const r = await addOne();
    expect(r.text).toBe('{"success":true,"code":200}');
    expect(s.state.log).toEqual([expect.objectContaining({ faultApplied: 'missing_fields' })]);
  });

  it('error_code answers any provider error, without applying', async () => {
    await fault({ route: 'add', fault: 'error_code', code: 96, message: 'IP not allowed', count: 1 });
    const r = await addOne();
    expect(r.body).toEqual({ success: false, code: 96, message: 'IP not allowed' });
    nothingApplied();
  });

  it('count rules fire N times then disappear; the first matching rule wins', async () => {
    await fault({ route: 'add', fault: 'http_503', count: 2 });
    await fault({ route: '*', fault: 'http_500', count: 1 });
    expect((await get(`/v1/me?apiKey=${KEY}`)).status).toBe(500); // only the * rule matches /me
    expect((await addOne()).status).toBe(503);
    expect((await addOne()).status).toBe(503);
    expect((await addOne()).status).toBe(200);
    expect((await get('/__sandbox/faults')).body.rules).toEqual([]);
    expect((await get('/__sandbox/faults')).body.decisions.map((d: { fault: string }) => d.fault)).toEqual(['http_500', 'http_503', 'http_503']);
  });

  it('probability rules are reproducible with a seed', async () => {
    const run = async () => {
      await del('/__sandbox/faults');
      await fault({ route: 'me', fault: 'http_503', probability: 0.5, seed: 42 });
      const statuses: number[] = [];
      for (let i = 0; i < 24; i++) statuses.push((await get(`/v1/me?apiKey=${KEY}`)).status);
      return statuses;
    };
    const a = await run();
    const b = await run();
    expect(a).toEqual(b);
    expect(a).toContain(200);
    expect(a).toContain(503);
  });

  it('probability 0 never fires, 1 always fires', async () => {
    await fault({ route: 'list', fault: 'http_502', probability: 0 });
    expect((await get(`/v1/subaccount/list?apiKey=${KEY}`)).status).toBe(200);
    await del('/__sandbox/faults');
    await fault({ route: 'list', fault: 'http_502', probability: 1 });
    for (let i = 0; i < 3; i++) expect((await get(`/v1/subaccount/list?apiKey=${KEY}`)).status).toBe(502);
  });

  it('DELETE removes every rule', async () => {
    await fault({ route: '*', fault: 'http_500', count: 10 });
    await del('/__sandbox/faults');
    expect((await get(`/v1/me?apiKey=${KEY}`)).status).toBe(200);
  });

  it('refuses invalid rules', async () => {
    expect((await fault({ route: 'nope', fault: 'http_500', count: 1 })).status).toBe(400);
    expect((await fault({ route: 'add', fault: 'explode', count: 1 })).status).toBe(400);
    expect((await fault({ route: 'add', fault: 'http_500' })).status).toBe(400);
    expect((await fault({ route: 'add', fault: 'latency', count: 1 })).status).toBe(400);
    expect((await fault({ route: 'add', fault: 'http_500', probability: 2 })).status).toBe(400);
  });

  it('close() does not wait for a delayed answer', async () => {
    const other = await createSandboxServer({ seed: SEED });
    const token = other.state.subaccountsOf(KEY)[0].token;
    other.faults.add({ route: 'add', fault: 'apply_then_delay', ms: 30_000, count: 1 });
    const pending = fetch(`${other.url}/v1/subaccount/credit/add`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiKey: KEY, credit: '1', tokenSubaccount: token }) });
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await other.close();
    expect(Date.now() - t0).toBeLessThan(2000);
    await expect(pending).rejects.toThrow();
    expect(other.state.log).toHaveLength(1);
  });
});

describe('persistence', () => {
  it('keeps balances, sub-accounts and the log across a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sandbox-state-'));
    const stateFile = join(dir, 'state.json');
    try {
      const first = await createSandboxServer({ seed: SEED, stateFile });
      const token = first.state.subaccountsOf(KEY)[0].token;
      const call = (srv: SandboxServer, path: string, body: unknown) => fetch(srv.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.json() as Promise<any>);
      await call(first, '/v1/subaccount/credit/add', { apiKey: KEY, credit: '12.345', tokenSubaccount: token });
      await call(first, '/__sandbox/usage', { token, amount: '0.345' });
      const created = await call(first, '/v1/subaccount/create', { apiKey: KEY, type: 'simple', parameters: { email: 'kept@example.com' } });
      const before = first.state.snapshot();
      await first.close();
      expect(JSON.parse(readFileSync(stateFile, 'utf8')).accounts[0].balance).toBe('10212.774');

      // A different seed must not win over the state file.
      const second = await createSandboxServer({ seed: { seed: 99, accounts: [{ apiKey: 'x-other', balance: '1' }] }, stateFile });
      try {
        expect(second.state.snapshot()).toEqual(before);
        expect(second.state.getSub(token)!.balance.toFixed()).toBe('12.000');
        expect(second.state.getSub(created.subaccount.token)!.email).toBe('kept@example.com');
        const me = await fetch(`${second.url}/v1/me?apiKey=${KEY}`).then((r) => r.json() as Promise<any>);
        expect(me.credits.balance).toBe('10212.774');
        const next = await call(second, '/v1/subaccount/credit/add', { apiKey: KEY, credit: '1', tokenSubaccount: token });
        expect(next.subaccountCredit).toBe(13);
        expect(second.state.log.map((e) => e.seq)).toEqual([1, 2]);
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
