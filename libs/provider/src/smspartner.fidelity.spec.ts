/**
 * What the real provider (or what stands in front of it) may answer, and the client survives:
 * redirects, 429/503 on reads, odd list entries, every documented code. Real HTTP peers: the
 * sandbox, or a tiny local server on 127.0.0.1 for answers the sandbox never gives.
 */
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import pino from 'pino';
import { Money } from '@app/ledger';
import { createSandboxServer, SandboxServer } from '@app/sandbox';
import { decimalText, listAllSubaccounts, PROVIDER_CODES, ProviderOutcome, SmsPartnerClient, SubaccountListBody } from './index';

const KEY = 'fidelity-main-key-0001';
const M = (v: string) => Money.parse(v);

function expectKind<T, K extends ProviderOutcome<T>['kind']>(o: ProviderOutcome<T>, kind: K): Extract<ProviderOutcome<T>, { kind: K }> {
  expect(JSON.stringify(o)).not.toContain(KEY);
  if (o.kind !== kind) throw new Error(`expected ${kind}, got ${JSON.stringify(o)}`);
  return o as Extract<ProviderOutcome<T>, { kind: K }>;
}

// ------------------------------------------------------------------ a bare HTTP peer

let stub: Server;
let stubUrl: string;
let handler: (req: IncomingMessage, res: ServerResponse, body: string) => void;
const seen: Array<{ method?: string; url?: string; body: string }> = [];
const answer = (status: number, body: string, headers: Record<string, string> = {}) => (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(body);
};

beforeAll(async () => {
  stub = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => { seen.push({ method: req.method, url: req.url, body }); handler(req, res, body); });
  });
  await new Promise<void>((r) => stub.listen(0, '127.0.0.1', r));
  stubUrl = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
});
afterAll(async () => new Promise<void>((r) => stub.close(() => r())));
beforeEach(() => { seen.length = 0; });

const logged = () => {
  const lines: string[] = [];
  return { lines, logger: pino({ level: 'debug' }, { write: (l: string) => lines.push(l) }) };
};
const stubClient = (over: Partial<ConstructorParameters<typeof SmsPartnerClient>[0]> = {}) =>
  new SmsPartnerClient({ baseUrl: `${stubUrl}/v1`, apiKey: KEY, timeoutMs: 1500, ...over });

describe('redirects are never followed', () => {
  it.each([301, 302, 303, 307, 308])('HTTP %i on a credit call: unknown (in doubt), configuration problem, sent once, never re-sent', async (status) => {
    handler = answer(status, '', { location: `https://api.example.com/v1/subaccount/credit/add?apiKey=${KEY}` });
    const { lines, logger } = logged();
    const o = expectKind(await stubClient({ logger }).addCredit('tok', M('10')), 'unknown');
    expect(o).toMatchObject({ httpStatus: status, configurationProblem: 'redirect', redirect: { status, location: 'https://api.example.com/v1/subaccount/credit/add' } });
    expect(o.cause).toMatch(/not followed: configuration problem/);
    expect(o.cause).toMatch(/may or may not have been applied/);
    expect(seen).toEqual([{ method: 'POST', url: '/v1/subaccount/credit/add', body: JSON.stringify({ apiKey: KEY, credit: '10', tokenSubaccount: 'tok' }) }]);
    const errors = lines.map((l) => JSON.parse(l)).filter((l) => l.level >= 50);
    expect(errors).toEqual([expect.objectContaining({ call: 'add', httpStatus: status, location: 'https://api.example.com/v1/subaccount/credit/add', msg: 'provider answered a redirect: configuration problem' })]);
    expect(lines.join('\n')).not.toContain(KEY);
  });

  it('an http:// base URL redirected to https:// names SMSPARTNER_BASE_URL as the fix', async () => {
    // 127.0.0.1 plays the provider's HTTPS-upgrading front.
    handler = answer(301, '<html>Moved</html>', { location: 'https://127.0.0.1/v1/me' });
    const o = expectKind(await stubClient().me(), 'unknown');
    expect(o.cause).toContain('SMSPARTNER_BASE_URL uses http:// and the provider redirects to https://');
    expect(o.cause).not.toMatch(/may or may not/);
    expect(seen).toHaveLength(1);
  });

  it('a redirect without Location, and one on the list', async () => {
    handler = answer(302, '');
    expect(expectKind(await stubClient().listSubaccounts(1), 'unknown').redirect).toEqual({ status: 302, location: null });
  });

  it('warns at construction when a remote base URL uses http://', () => {
    const { lines, logger } = logged();
    new SmsPartnerClient({ baseUrl: 'http://api.smspartner.fr/v1', apiKey: KEY, timeoutMs: 1000, logger });
    new SmsPartnerClient({ baseUrl: 'http://127.0.0.1:4010/v1', apiKey: KEY, timeoutMs: 1000, logger });
    new SmsPartnerClient({ baseUrl: 'https://api.smspartner.fr/v1', apiKey: KEY, timeoutMs: 1000, logger });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({ level: 40, baseUrl: 'http://api.smspartner.fr/v1' });
  });
});

describe('reads retry on 429 / 503 (sandbox faults); credit calls do not', () => {
  let s: SandboxServer;
  const waits: number[] = [];
  const sleep = async (ms: number) => { waits.push(ms); };
  const fault = (rule: Record<string, unknown>) => s.faults.add(rule as never);
  const client = (readRetry?: { attempts?: number; baseDelayMs?: number; maxWaitMs?: number }) =>
    new SmsPartnerClient({ baseUrl: s.providerBaseUrl, apiKey: KEY, timeoutMs: 1500, sleep, ...(readRetry ? { readRetry } : {}) });
  beforeAll(async () => { s = await createSandboxServer({ port: 0, seed: { seed: 2, accounts: [{ apiKey: KEY, balance: '100', subaccounts: 1 }] } }); });
  afterAll(async () => s.close());
  beforeEach(() => { waits.length = 0; s.faults.clear(); s.state.reset(); });

  it('503 twice then ok: 3 attempts, backoff 500 then 1000 ms, and the outcome says so', async () => {
    fault({ route: 'me', fault: 'http_503', count: 2 });
    const o = expectKind(await client().me(), 'ok');
    expect(o.attempts).toBe(3);
    expect(waits).toEqual([500, 1000]);
    expect(o.tolerated).toEqual(['HTTP 503 on attempt 1: retried after 500 ms', 'HTTP 503 on attempt 2: retried after 1000 ms']);
    expect(s.faults.decisions).toHaveLength(2);
  });

  it('429 with Retry-After: waits what the provider asks', async () => {
    fault({ route: 'list', fault: 'http_429', retryAfterSeconds: 2, count: 1 });
    const o = expectKind(await client().listSubaccounts(1), 'ok');
    expect(waits).toEqual([2000]);
    expect(o.tolerated).toEqual(['HTTP 429 on attempt 1: retried after 2000 ms (Retry-After)']);
  });

  it('bounded: gives up after the attempts, or at once when Retry-After is beyond maxWaitMs', async () => {
    fault({ route: 'me', fault: 'http_503', count: 5 });
    const o = expectKind(await client({ attempts: 2 }).me(), 'unknown');
    expect([o.httpStatus, o.attempts, waits]).toEqual([503, 2, [500]]);
    s.faults.clear();
    waits.length = 0;
    fault({ route: 'me', fault: 'http_429', retryAfterSeconds: 60, count: 1 });
    const n = expectKind(await client({ maxWaitMs: 5000 }).me(), 'not_sent');
    expect([n.retryAfterMs, n.attempts, waits]).toEqual([60_000, undefined, []]);
  });

  it('a credit call answered 503 or 429 is never retried here (the in-doubt rule stays the worker\'s)', async () => {
    fault({ route: 'add', fault: 'http_503', count: 1 });
    fault({ route: 'add', fault: 'http_429', count: 1 });
    const tok = s.state.subaccountsOf(KEY)[0].token;
    expect(expectKind(await client().addCredit(tok, M('1')), 'unknown').httpStatus).toBe(503);
    expect(expectKind(await client().addCredit(tok, M('1')), 'not_sent').attempts).toBeUndefined();
    expect(waits).toEqual([]);
    expect(s.faults.decisions.map((d) => d.fault)).toEqual(['http_503', 'http_429']);
    expect(s.state.log).toEqual([]);
  });

  it('every outcome with an answer carries its Date header', async () => {
    const o = expectKind(await client().me(), 'ok');
    expect(Math.abs(Date.parse(o.serverDate!) - Date.now())).toBeLessThan(5000);
  });
});

describe('the list: one odd entry never sinks the page', () => {
  const entry = (token: unknown, balance: unknown, extra: Record<string, unknown> = {}) => ({ id: 1, email: 'e@x.y', type: 'simple', token, apiKey: 'f00dfacef00dfacef00dfacef00dface', createdAt: '2024-01-01 00:00:00', credits: { balance, currency: 'EUR' }, ...extra });
  const page = (data: unknown, total: number, p = 1) => JSON.stringify({ success: true, code: 200, total, nb_per_page: 20, page: p, data });

  it('null balance, unreadable balance, no token, a non-object entry: skipped and reported; odd field types read as empty', async () => {
    handler = answer(200, page([
      entry('ok-1', '1.500'),
      entry('null-balance', null),
      entry('bad-balance', 'abc'),
      entry(null, '2'),
      null,
      entry('odd-fields', 3.25, { email: 123, type: { x: 1 }, createdAt: 5, id: 'x' }),
    ], 6));
    const o = expectKind(await stubClient().listSubaccounts(1), 'ok');
    expect(o.body.items.map((i) => [i.token, i.balance.toFixed(), i.email, i.type, i.createdAt])).toEqual([
      ['ok-1', '1.500', 'e@x.y', 'simple', '2024-01-01 00:00:00'],
      ['odd-fields', '3.250', '', '', ''],
    ]);
    expect(o.body.skipped).toEqual([
      { index: 1, token: 'null-balance', reason: 'no readable credits.balance (null)' },
      { index: 2, token: 'bad-balance', reason: 'no readable credits.balance (string "abc")' },
      { index: 3, reason: 'no token (a null)' },
      { index: 4, reason: 'entry is null, not an object' },
    ]);
    expect(o.tolerated).toEqual(['data[5]: email, type, createdAt not a string, read as empty', '4 list entries skipped (see skipped)']);
    expect(JSON.stringify(o)).not.toContain('f00dfacef00dfacef00dfacef00dface');
  });

  it('data as an object (PHP json_encode of non-sequential keys) is read in key order', async () => {
    handler = answer(200, page({ 3: entry('a', '1'), 7: entry('b', 2.5) }, 2));
    const o = expectKind(await stubClient().listSubaccounts(1), 'ok');
    expect(o.body.items.map((i) => [i.token, i.balance.toFixed()])).toEqual([['a', '1.000'], ['b', '2.500']]);
    expect(o.tolerated).toContain('data is an object, not an array: its values read in key order');
  });

  it('data null on an empty list is an empty page; data missing on a non-empty list is unknown', async () => {
    handler = answer(200, page(null, 0));
    expect(expectKind(await stubClient().listSubaccounts(1), 'ok').body).toEqual({ total: 0, perPage: 20, page: 1, items: [], skipped: [] });
    handler = answer(200, JSON.stringify({ success: true, code: 200, total: 2, nb_per_page: 20, page: 1 }));
    expectKind(await stubClient().listSubaccounts(1), 'unknown');
  });
});

describe('listAllSubaccounts: one pager, one stop rule', () => {
  const item = (token: string) => ({ token, email: '', type: 'simple', createdAt: '', balance: M('1') });
  const reader = (pages: Array<Partial<SubaccountListBody> | 'fail'>) => {
    const asked: number[] = [];
    return {
      asked,
      async listSubaccounts(p: number): Promise<ProviderOutcome<SubaccountListBody>> {
        asked.push(p);
        const pg = pages[p - 1] ?? { items: [], total: 0 };
        if (pg === 'fail') return { kind: 'unknown', cause: 'network error: reset', latencyMs: 1 };
        return { kind: 'ok', body: { total: 0, perPage: 20, page: p, items: [], skipped: [], ...pg }, raw: {}, httpStatus: 200, latencyMs: 1 };
      },
    };
  };

  it('stops once read + skipped entries reach total (no extra page asked)', async () => {
    const r = reader([{ total: 3, items: [item('a')], skipped: [{ index: 1, token: 'b', reason: 'null balance' }] }, { total: 3, items: [item('c')] }]);
    const l = await listAllSubaccounts(r);
    expect(r.asked).toEqual([1, 2]);
    expect(l).toMatchObject({ kind: 'ok', total: 3, pages: 2, complete: true, found: false, skipped: [{ index: 1, token: 'b', reason: 'null balance', page: 1 }] });
    if (l.kind === 'ok') expect(l.items.map((i) => i.token)).toEqual(['a', 'c']);
  });

  it('an empty page before total: stops, complete false', async () => {
    const r = reader([{ total: 5, items: [item('a'), item('b')] }, { total: 5, items: [] }]);
    expect(await listAllSubaccounts(r)).toMatchObject({ kind: 'ok', complete: false, pages: 2 });
  });

  it('a token repeated across pages (the list shifted) counts once', async () => {
    const r = reader([{ total: 3, items: [item('a'), item('b')] }, { total: 3, items: [item('b')] }, { total: 3, items: [item('c')] }]);
    const l = await listAllSubaccounts(r);
    expect(r.asked).toEqual([1, 2, 3]);
    if (l.kind !== 'ok') throw new Error('expected ok');
    expect(l.items.map((i) => i.token)).toEqual(['a', 'b', 'c']);
  });

  it('a failed page fails the listing; too many pages too; until stops early', async () => {
    expect(await listAllSubaccounts(reader([{ total: 40, items: [item('a')] }, 'fail']))).toMatchObject({ kind: 'failed', page: 2, outcome: { kind: 'unknown' } });
    expect(await listAllSubaccounts(reader([{ total: 40, items: [item('a')] }, { total: 40, items: [item('b')] }]), { maxPages: 1 })).toMatchObject({ kind: 'failed', page: 2 });
    const r = reader([{ total: 40, items: [item('a'), item('b')] }, { total: 40, items: [item('c')] }]);
    expect(await listAllSubaccounts(r, { until: (i) => i.token === 'b' })).toMatchObject({ kind: 'ok', found: true, pages: 1 });
    expect(r.asked).toEqual([1]);
  });
});

describe('amounts as the docs write them', () => {
  it.each([['100.000', '100'], ['12.500', '12.5'], ['0.125', '0.125'], ['1000', '1000'], ['10', '10'], ['0.5', '0.5'], ['-1', '-1']])('%s → "%s"', (input, out) => {
    expect(decimalText(M(input))).toBe(out);
  });
});

describe('every documented code, with a plain-words operator message', () => {
  it('per call: the sub-account pages, the general error page (11, 96, 500), both invalid-key codes', () => {
    const reasons = (call: keyof typeof PROVIDER_CODES) => Object.fromEntries(Object.entries(PROVIDER_CODES[call]).map(([k, v]) => [k, v.reason]));
    expect(reasons('add')).toEqual({
      1: 'missing_parameter', 2: 'missing_parameter', 3: 'missing_parameter', 4: 'not_authorised', 5: 'invalid_amount', 6: 'insufficient_credit',
      7: 'subaccount_not_found', 8: 'insufficient_credit', 9: 'invalid_key', 10: 'invalid_key', 11: 'insufficient_credit', 96: 'ip_not_allowed', 500: 'provider_error',
    });
    expect(reasons('remove')).toEqual(reasons('add'));
    expect(reasons('create')).toEqual({
      1: 'missing_parameter', 2: 'not_authorised', 3: 'missing_parameter', 4: 'missing_parameter', 5: 'invalid_request', 6: 'missing_parameter',
      7: 'email_exists', 8: 'invalid_amount', 9: 'insufficient_credit', 10: 'invalid_key', 11: 'insufficient_credit', 96: 'ip_not_allowed', 500: 'provider_error',
    });
    expect(reasons('me')).toEqual({ 1: 'missing_parameter', 9: 'invalid_key', 10: 'invalid_key', 11: 'insufficient_credit', 96: 'ip_not_allowed', 500: 'provider_error' });
    expect(reasons('list')).toEqual(reasons('me'));
    for (const codes of Object.values(PROVIDER_CODES)) for (const m of Object.values(codes)) expect(m.meaning).toMatch(/^[A-Z].{15,}\.$/);
  });

  it.each<[string, number, string, RegExp]>([
    ['add', 96, 'ip_not_allowed', /IP address/],
    ['add', 500, 'provider_error', /queueing problem/],
    ['remove', 4, 'not_authorised', /sub-account feature/],
    ['create', 7, 'email_exists', /already has an account/],
    ['me', 10, 'invalid_key', /SMSPARTNER_API_KEY/],
    ['list', 1, 'missing_parameter', /SMSPARTNER_API_KEY is empty/],
  ])('%s code %i → %s, operator message from the docs', async (call, code, reason, message) => {
    handler = answer(200, JSON.stringify({ success: false, code, message: 'provider text' }));
    const c = stubClient({ readRetry: { attempts: 1 } });
    const o: ProviderOutcome<unknown> = call === 'add' ? await c.addCredit('t', M('1')) : call === 'remove' ? await c.removeCredit('t', M('1'))
      : call === 'create' ? await c.createSubaccount({ type: 'simple', email: 'a@b.c' }) : call === 'me' ? await c.me() : await c.listSubaccounts(1);
    const r = expectKind(o, 'rejected');
    expect(r).toMatchObject({ code, reason, message: 'provider text' });
    expect(r.operatorMessage).toMatch(message);
  });
});

describe('odd entries from the sandbox (SandboxState.setListQuirk)', () => {
  let s: SandboxServer;
  beforeAll(async () => { s = await createSandboxServer({ port: 0, seed: { seed: 9, accounts: [{ apiKey: KEY, balance: '100', subaccounts: 25 }] } }); });
  afterAll(async () => s.close());

  it('each quirk is skipped (or tolerated) and reported; the pager still completes over two pages', async () => {
    const subs = s.state.subaccountsOf(KEY);
    s.state.setBalance({ token: subs[1].token }, '2.5');
    s.state.setListQuirk(subs[0].token, 'null_balance');
    s.state.setListQuirk(subs[1].token, 'number_balance');
    s.state.setListQuirk(subs[2].token, 'no_token');
    s.state.setListQuirk(subs[21].token, 'null_entry');
    const client = new SmsPartnerClient({ baseUrl: s.providerBaseUrl, apiKey: KEY, timeoutMs: 1500 });
    const first = expectKind(await client.listSubaccounts(1), 'ok');
    expect(first.body.skipped).toEqual([
      { index: 0, token: subs[0].token, reason: 'no readable credits.balance (null)' },
      { index: 2, reason: 'no token (absent)' },
    ]);
    expect(first.body.items.find((i) => i.token === subs[1].token)!.balance.toFixed()).toBe('2.500');
    const all = await listAllSubaccounts(client);
    if (all.kind !== 'ok') throw new Error(JSON.stringify(all));
    expect([all.items.length, all.skipped.length, all.complete, all.pages]).toEqual([22, 3, true, 2]);
    expect(all.skipped[2]).toEqual({ page: 2, index: 1, reason: 'entry is null, not an object' });
    s.state.setListQuirk(subs[0].token, null);
    expect(expectKind(await client.listSubaccounts(1), 'ok').body.skipped).toHaveLength(1);
    expect(() => s.state.setListQuirk(subs[0].token, 'weird' as never)).toThrow(/list quirk must be one of/);
  });
});
