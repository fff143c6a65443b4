/**
 * Contract tests: the client against the real sandbox over HTTP, plus a bare HTTP stub for body
 * shapes the sandbox never produces (other field spellings, odd Retry-After, echoed secrets).
 */
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo, createServer as createNetServer } from 'node:net';
import fc from 'fast-check';
import pino from 'pino';
import { Money } from '@app/ledger';
import { createSandboxServer, SandboxSeed, SandboxServer } from '@app/sandbox';
import { numberLiterals } from '@app/common';
import { parseRetryAfter, ProviderOutcome, SmsPartnerClient } from './index';

const KEY = 'client-main-key-123456';
const OTHER = 'other-main-key-654321';
const SEED: SandboxSeed = {
  seed: 11,
  accounts: [
    { apiKey: KEY, username: 'owner@example.com', firstname: 'Olive', lastname: 'Owner', balance: '10225.119', subaccounts: 2 },
    { apiKey: OTHER, balance: '10', subaccounts: 1 },
  ],
};

let s: SandboxServer;
let client: SmsPartnerClient;
const M = (v: string) => Money.parse(v);
const clientWith = (over: Partial<{ apiKey: string; baseUrl: string; timeoutMs: number }> = {}) =>
  new SmsPartnerClient({ baseUrl: s.providerBaseUrl, apiKey: KEY, timeoutMs: 1500, ...over });
const token = () => s.state.subaccountsOf(KEY)[0].token;
const control = (path: string, body: unknown) =>
  fetch(s.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(async (r) => {
    if (r.status !== 200) throw new Error(`${path}: ${r.status} ${await r.text()}`);
    return r.json();
  });
const fault = (rule: Record<string, unknown>) => control('/__sandbox/faults', rule);

/** Every outcome must be free of our key and of any sub-account key. */
function clean<T>(outcome: ProviderOutcome<T>): ProviderOutcome<T> {
  const text = JSON.stringify(outcome);
  expect(text).not.toContain(KEY);
  for (const sub of s.state.snapshot().subaccounts) expect(text).not.toContain(sub.apiKey);
  return outcome;
}
function expectKind<T, K extends ProviderOutcome<T>['kind']>(o: ProviderOutcome<T>, kind: K): Extract<ProviderOutcome<T>, { kind: K }> {
  clean(o);
  if (o.kind !== kind) throw new Error(`expected ${kind}, got ${JSON.stringify(o)}`);
  expect(o.latencyMs).toBeGreaterThanOrEqual(0);
  return o as Extract<ProviderOutcome<T>, { kind: K }>;
}
const nothingApplied = () => {
  expect(s.state.log).toEqual([]);
  expect(s.state.getMain(KEY)!.balance.toFixed()).toBe('10225.119');
};

beforeAll(async () => {
  s = await createSandboxServer({ port: 0, seed: SEED });
  client = clientWith();
});
afterAll(async () => s.close());
beforeEach(async () => {
  await control('/__sandbox/reset', {});
  await control('/__sandbox/config', { errorHttpStatus: 200 });
});

describe('successful calls', () => {
  it('me: balance parsed exactly from the 3-decimal string', async () => {
    const o = expectKind(await client.me(), 'ok');
    expect(o.httpStatus).toBe(200);
    expect(o.body.balance.toFixed()).toBe('10225.119');
    expect(o.body).toMatchObject({ username: 'owner@example.com', firstname: 'Olive', lastname: 'Owner', currency: 'EUR' });
    expect(o.raw).toMatchObject({ success: true, credits: { balance: '10225.119' } });
  });

  it('addCredit: JSON numbers like 2869.2 become exact Money', async () => {
    await control('/__sandbox/balance', { apiKey: KEY, balance: '2969.2' });
    const o = expectKind(await client.addCredit(token(), M('100')), 'ok');
    expect(o.body.mainBalance.toFixed()).toBe('2869.200');
    expect(o.body.subaccountBalance.toFixed()).toBe('100.000');
    expect(o.body.currency).toBe('EUR');
    expect(s.state.log).toEqual([expect.objectContaining({ route: 'add', amount: '100.000', mainAfter: '2869.200', subAfter: '100.000' })]);
  });

  it('removeCredit moves money back', async () => {
    await control('/__sandbox/balance', { token: token(), balance: '100' });
    const o = expectKind(await client.removeCredit(token(), M('38.2')), 'ok');
    expect(o.body.subaccountBalance.toFixed()).toBe('61.800');
    expect(o.body.mainBalance.toFixed()).toBe('10263.319');
  });

  it('sends the amount as a decimal string and reads balances without float drift', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 99_999_999 }), async (millis) => {
        const amount = M(`${Math.floor(millis / 1000)}.${String(millis % 1000).padStart(3, '0')}`);
        s.state.reset();
        s.state.setBalance({ apiKey: KEY }, '100000.001');
        const o = await client.addCredit(token(), amount);
        if (o.kind !== 'ok') throw new Error(JSON.stringify(o));
        expect(o.body.mainBalance.toFixed()).toBe(M('100000.001').minus(amount).toFixed());
        expect(o.body.subaccountBalance.toFixed()).toBe(amount.toFixed());
      }),
      { numRuns: 40, seed: 20240506 },
    );
  });

  it('createSubaccount returns the token; creditToAttribute moves money', async () => {
    const o = expectKind(await client.createSubaccount({ type: 'advanced', email: 'shop@example.com', isBuyer: false, creditToAttribute: M('5.5'), firstname: 'S' }), 'ok');
    expect(o.body.email).toBe('shop@example.com');
    const sub = s.state.getSub(o.body.token)!;
    expect(sub).toMatchObject({ email: 'shop@example.com', type: 'advanced', isBuyer: false, firstname: 'S' });
    expect(sub.balance.toFixed()).toBe('5.500');
    expect(s.state.log).toEqual([expect.objectContaining({ route: 'create', amount: '5.500' })]);
  });

  it('listSubaccounts pages over 45 sub-accounts and never keeps their apiKey', async () => {
    for (let i = 0; i < 43; i++) expectKind(await client.createSubaccount({ type: 'simple', email: `c${i}@example.com` }), 'ok');
    await control('/__sandbox/balance', { token: s.state.subaccountsOf(KEY)[44].token, balance: '0.8' });
    const pages = [];
    for (const page of [1, 2, 3]) pages.push(expectKind(await client.listSubaccounts(page), 'ok'));
    expect(pages.map((p) => [p.body.total, p.body.perPage, p.body.page, p.body.items.length])).toEqual([[45, 20, 1, 20], [45, 20, 2, 20], [45, 20, 3, 5]]);
    const items = pages.flatMap((p) => p.body.items);
    expect(items.map((i) => i.token)).toEqual(s.state.subaccountsOf(KEY).map((x) => x.token));
    expect(items[44].balance.toFixed()).toBe('0.800');
    // The client remembers the page it saw each sub-account on.
    expect([items[0], items[20], items[44]].map((i) => client.pageSeen(i.token))).toEqual([1, 2, 3]);
    expect(client.pageSeen('never-listed')).toBeUndefined();
    for (const item of items) {
      expect(Object.keys(item).sort()).toEqual(['balance', 'createdAt', 'email', 'id', 'token', 'type']);
      expect(item.createdAt).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    }
    // The sandbox did send each sub-account's apiKey: prove it was there, and is gone.
    const sent = await fetch(`${s.providerBaseUrl}/subaccount/list?apiKey=${KEY}&page=1`).then((r) => r.text());
    expect(sent).toContain(s.state.subaccountsOf(KEY)[0].apiKey);
    expect((pages[0].raw as { data: Array<{ apiKey: string }> }).data[0].apiKey).toBe('[redacted]');
    // clean() (in expectKind) already checked that no sub-account key appears anywhere in the outcomes.
  });

  it('refuses a non-positive page as a programming error', () => {
    expect(() => client.listSubaccounts(0)).toThrow(RangeError);
  });
});

describe.each([200, 400])('provider errors answered with HTTP %i', (status) => {
  beforeEach(async () => {
    await control('/__sandbox/config', { errorHttpStatus: status });
  });

  const rejected = <T>(o: ProviderOutcome<T>, code: number, reason: string) => {
    const r = expectKind(o, 'rejected');
    expect(r).toMatchObject({ code, reason, httpStatus: status });
    expect(r.message.length).toBeGreaterThan(0);
    expect(r.raw).toMatchObject({ success: false, code });
    return r;
  };

  describe('add / remove', () => {
    it('1 API key required → missing_parameter', async () => {
      rejected(await clientWith({ apiKey: '' }).addCredit(token(), M('1')), 1, 'missing_parameter');
      rejected(await clientWith({ apiKey: '' }).removeCredit(token(), M('1')), 1, 'missing_parameter');
    });
    it('2 credit required → missing_parameter (forced: the typed client always sends credit)', async () => {
      await fault({ route: 'add', fault: 'error_code', code: 2, message: 'Credit amount is required', count: 1 });
      rejected(await client.addCredit(token(), M('1')), 2, 'missing_parameter');
    });
    it('3 sub-account identifier required → missing_parameter', async () => {
      rejected(await client.addCredit('', M('1')), 3, 'missing_parameter');
    });
    it('4 not authorised', async () => {
      await control('/__sandbox/accounts', { apiKey: KEY, subaccountsEnabled: false });
      rejected(await client.addCredit(token(), M('1')), 4, 'not_authorised');
      rejected(await client.removeCredit(token(), M('1')), 4, 'not_authorised');
    });
    it('5 amount must be > 0 → invalid_amount', async () => {
      rejected(await client.addCredit(token(), M('0')), 5, 'invalid_amount');
      rejected(await client.removeCredit(token(), M('-1')), 5, 'invalid_amount');
    });
    it('6 balance must be > 0 → insufficient_credit', async () => {
      rejected(await client.removeCredit(token(), M('1')), 6, 'insufficient_credit');
      await control('/__sandbox/balance', { apiKey: KEY, balance: '0' });
      rejected(await client.addCredit(token(), M('1')), 6, 'insufficient_credit');
    });
    it('7 sub-account does not exist → subaccount_not_found', async () => {
      rejected(await client.addCredit('no-such-token', M('1')), 7, 'subaccount_not_found');
      rejected(await client.removeCredit(s.state.subaccountsOf(OTHER)[0].token, M('1')), 7, 'subaccount_not_found');
    });
    it('8 insufficient credit', async () => {
      rejected(await client.addCredit(token(), M('10225.12')), 8, 'insufficient_credit');
      await control('/__sandbox/balance', { token: token(), balance: '1' });
      rejected(await client.removeCredit(token(), M('1.001')), 8, 'insufficient_credit');
      expect(s.state.log).toEqual([]);
    });
    it('9 and 10 → invalid_key', async () => {
      rejected(await clientWith({ apiKey: 'wrong-key-000' }).addCredit(token(), M('1')), 10, 'invalid_key');
      await fault({ route: 'remove', fault: 'error_code', code: 9, message: 'Invalid API key', count: 1 });
      rejected(await client.removeCredit(token(), M('1')), 9, 'invalid_key');
    });
    it('undocumented codes → unknown_code with the message kept', async () => {
      await fault({ route: 'add', fault: 'error_code', code: 42, message: 'Something new', count: 1 });
      const r = rejected(await client.addCredit(token(), M('1')), 42, 'unknown_code');
      expect(r.message).toBe('Something new');
      expect(r.operatorMessage).toBe('The provider refused with code 42, which its docs do not list for this call: "Something new".');
      nothingApplied();
    });
  });

  describe('create', () => {
    const input = { type: 'advanced' as const, email: 'n@example.com', isBuyer: true };
    it.each<[number, string, Record<string, unknown>]>([
      [1, 'missing_parameter', { apiKey: '' }],
      [3, 'missing_parameter', { isBuyer: undefined }],
      [4, 'missing_parameter', { type: '' }],
      [5, 'invalid_request', { type: 'premium' }],
      [6, 'missing_parameter', { email: '' }],
      [7, 'email_exists', { email: 'owner@example.com' }],
      [8, 'invalid_amount', { creditToAttribute: M('0') }],
      [9, 'insufficient_credit', { creditToAttribute: M('20000') }],
      [10, 'invalid_key', { apiKey: 'wrong-key-000' }],
    ])('code %i → %s', async (code, reason, change) => {
      const { apiKey, ...rest } = change;
      const c = apiKey !== undefined ? clientWith({ apiKey: apiKey as string }) : client;
      rejected(await c.createSubaccount({ ...input, ...rest } as typeof input), code, reason);
      expect(s.state.subaccountsOf(KEY)).toHaveLength(2);
    });
    it('code 2 → not_authorised', async () => {
      await control('/__sandbox/accounts', { apiKey: KEY, subaccountsEnabled: false });
      rejected(await client.createSubaccount(input), 2, 'not_authorised');
    });
  });

  describe('me / list', () => {
    it('code 10 → invalid_key', async () => {
      const bad = clientWith({ apiKey: 'wrong-key-000' });
      rejected(await bad.me(), 10, 'invalid_key');
      rejected(await bad.listSubaccounts(1), 10, 'invalid_key');
    });
    it('an undocumented list code stays a rejection (unknown_code), message kept', async () => {
      await control('/__sandbox/accounts', { apiKey: KEY, subaccountsEnabled: false });
      const r = rejected(await client.listSubaccounts(1), 4, 'unknown_code');
      expect(r.message).toBe('You are not authorized');
    });
  });
});

it('a success:false body is a rejection even with HTTP 500', async () => {
  await control('/__sandbox/config', { errorHttpStatus: 500 });
  const r = expectKind(await client.addCredit(token(), M('0')), 'rejected');
  expect(r).toMatchObject({ code: 5, reason: 'invalid_amount', httpStatus: 500 });
});

describe('faults and network failures', () => {
  it('apply_then_drop → unknown, and the sandbox did apply it', async () => {
    await fault({ route: 'add', fault: 'apply_then_drop', count: 1 });
    const o = expectKind(await client.addCredit(token(), M('7')), 'unknown');
    expect(o.cause).toMatch(/network error/);
    expect(s.state.log).toEqual([expect.objectContaining({ route: 'add', amount: '7.000', faultApplied: 'apply_then_drop' })]);
    expect(s.state.getSub(token())!.balance.toFixed()).toBe('7.000');
  });

  it('drop_before_apply → the same unknown outcome, and nothing applied', async () => {
    await fault({ route: 'add', fault: 'apply_then_drop', count: 1 });
    await fault({ route: 'add', fault: 'drop_before_apply', count: 1 });
    const applied = expectKind(await client.addCredit(token(), M('7')), 'unknown');
    s.state.reset();
    const dropped = expectKind(await client.addCredit(token(), M('7')), 'unknown');
    nothingApplied();
    // The client cannot tell them apart: that is why "unknown" exists.
    expect({ ...dropped, latencyMs: 0 }).toEqual({ ...applied, latencyMs: 0 });
  });

  it('apply_then_delay past the client timeout → unknown (timeout), applied', async () => {
    await fault({ route: 'remove', fault: 'apply_then_delay', ms: 3000, count: 1 });
    await control('/__sandbox/balance', { token: token(), balance: '10' });
    const o = expectKind(await clientWith({ timeoutMs: 300 }).removeCredit(token(), M('4')), 'unknown');
    expect(o.cause).toMatch(/timeout after 300ms/);
    expect(o.latencyMs).toBeGreaterThanOrEqual(250);
    expect(o.latencyMs).toBeLessThan(2500);
    expect(s.state.log).toEqual([expect.objectContaining({ route: 'remove', amount: '4.000', faultApplied: 'apply_then_delay' })]);
  });

  it('latency below the timeout is still ok', async () => {
    await fault({ route: 'me', fault: 'latency', ms: 100, count: 1 });
    const o = expectKind(await client.me(), 'ok');
    expect(o.latencyMs).toBeGreaterThanOrEqual(90);
  });

  it('connection refused → not_sent', async () => {
    const port = await closedPort();
    const o = expectKind(await clientWith({ baseUrl: `http://127.0.0.1:${port}/v1` }).addCredit(token(), M('1')), 'not_sent');
    expect(o.cause).toContain('ECONNREFUSED');
    expect(o.retryAfterMs).toBeUndefined();
  });

  it('DNS failure → not_sent', async () => {
    const o = expectKind(await clientWith({ baseUrl: 'http://credit-ledger-sandbox.invalid/v1', timeoutMs: 5000 }).me(), 'not_sent');
    expect(o.cause).toMatch(/ENOTFOUND|EAI_AGAIN/);
  });

  it('HTTP 429 → not_sent, with Retry-After honoured when present', async () => {
    await fault({ route: 'add', fault: 'http_429', retryAfterSeconds: 7, count: 1 });
    await fault({ route: 'add', fault: 'http_429', count: 1 });
    const withHeader = expectKind(await client.addCredit(token(), M('1')), 'not_sent');
    expect(withHeader.retryAfterMs).toBe(7000);
    const without = expectKind(await client.addCredit(token(), M('1')), 'not_sent');
    expect(without.retryAfterMs).toBeUndefined();
    expect(without.cause).toContain('429');
    nothingApplied();
  });

  it.each(['http_500', 'http_502', 'http_503'])('%s → unknown with the status', async (kind) => {
    await fault({ route: 'add', fault: kind, count: 1 });
    const o = expectKind(await client.addCredit(token(), M('1')), 'unknown');
    expect(o.httpStatus).toBe(Number(kind.slice(5)));
    expect(o.rawText).toBeDefined();
  });

  it('malformed body → unknown with the raw text kept', async () => {
    await fault({ route: 'add', fault: 'malformed_body', count: 1 });
    const o = expectKind(await client.addCredit(token(), M('1')), 'unknown');
    expect(o).toMatchObject({ httpStatus: 200, rawText: '{"success":true,"code":200,"cred' });
    expect(o.cause).toMatch(/unparseable/);
  });

  it('HTML error page → unknown', async () => {
    await fault({ route: 'remove', fault: 'html_error', count: 1 });
    const o = expectKind(await client.removeCredit(token(), M('1')), 'unknown');
    expect(o.httpStatus).toBe(502);
    expect(o.cause).toMatch(/HTML/);
  });

  it('success without the credit fields → unknown (and it was applied)', async () => {
    await fault({ route: 'add', fault: 'missing_fields', count: 1 });
    const o = expectKind(await client.addCredit(token(), M('2')), 'unknown');
    expect(o.cause).toMatch(/credit/);
    expect(s.state.log).toHaveLength(1);
  });

  it('faults on the read calls are classified the same way', async () => {
    await fault({ route: 'me', fault: 'http_503', count: 1 });
    await fault({ route: 'list', fault: 'missing_fields', count: 1 });
    await fault({ route: 'create', fault: 'malformed_body', count: 1 });
    // One attempt: the retry of reads on 503 is covered in smspartner.fidelity.spec.ts.
    expectKind(await new SmsPartnerClient({ baseUrl: s.providerBaseUrl, apiKey: KEY, timeoutMs: 1500, readRetry: { attempts: 1 } }).me(), 'unknown');
    expect(expectKind(await client.listSubaccounts(1), 'unknown').cause).toMatch(/total/);
    expectKind(await client.createSubaccount({ type: 'simple', email: 'z@example.com' }), 'unknown');
  });

  it('logs outcomes without the api key', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (l: string) => lines.push(l) });
    await fault({ route: 'add', fault: 'http_502', count: 1 });
    const logged = new SmsPartnerClient({ baseUrl: s.providerBaseUrl, apiKey: KEY, timeoutMs: 1500, logger });
    await logged.addCredit(token(), M('1'));
    await logged.me();
    expect(lines).toHaveLength(2);
    expect(lines.join('\n')).not.toContain(KEY);
    expect(JSON.parse(lines[0])).toMatchObject({ call: 'add', outcome: 'unknown', httpStatus: 502 });
  });
});

describe('shapes the sandbox does not produce (HTTP stub)', () => {
  let stub: Server;
  let handler: (req: IncomingMessage, res: ServerResponse) => void;
  let stubClient: SmsPartnerClient;
  const json = (status: number, body: string, headers: Record<string, string> = {}) => (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(body);
  };

  beforeAll(async () => {
    stub = createServer((req, res) => handler(req, res));
    await new Promise<void>((r) => stub.listen(0, '127.0.0.1', r));
    stubClient = new SmsPartnerClient({ baseUrl: `http://127.0.0.1:${(stub.address() as AddressInfo).port}/v1/`, apiKey: KEY, timeoutMs: 1500 });
  });
  afterAll(async () => new Promise<void>((r) => stub.close(() => r())));

  it('me falls back to credits.solde', async () => {
    handler = json(200, '{"success":true,"code":200,"user":{"username":"u"},"credits":{"solde":"12.5","currency":"EUR"}}');
    const o = expectKind(await stubClient.me(), 'ok');
    expect(o.body.balance.toFixed()).toBe('12.500');
    expect(o.body.firstname).toBe('');
  });

  it('credit values as strings are accepted; exponent numbers are not trusted', async () => {
    handler = json(200, '{"success":true,"code":200,"credit":"2869.200","subaccountCredit":"61.8","currency":"EUR"}');
    expect(expectKind(await stubClient.addCredit('t', M('1')), 'ok').body.subaccountBalance.toFixed()).toBe('61.800');
    handler = json(200, '{"success":true,"code":200,"credit":2.8692e3,"subaccountCredit":61.8,"currency":"EUR"}');
    expectKind(await stubClient.addCredit('t', M('1')), 'unknown');
  });

  it('reads the number literal, not the float: 0.1+0.2 style values stay exact', async () => {
    handler = json(200, '{"success":true,"code":200,"credit":9007199254740.993,"subaccountCredit":0.3,"currency":"EUR"}');
    const o = expectKind(await stubClient.addCredit('t', M('1')), 'ok');
    expect(o.body.mainBalance.toFixed()).toBe('9007199254740.993');
  });

  it('Retry-After as an HTTP date', async () => {
    handler = json(429, '{}', { 'retry-after': new Date(Date.now() + 30_000).toUTCString() });
    const o = expectKind(await stubClient.me(), 'not_sent');
    expect(o.retryAfterMs).toBeGreaterThan(25_000);
    expect(o.retryAfterMs).toBeLessThanOrEqual(30_000);
  });

  it('validation-form errors → invalid_request with the element messages', async () => {
    handler = json(400, '{"success":false,"code":9,"error":[{"elementId":"credit","message":"not a number"}]}');
    const o = expectKind(await stubClient.addCredit('t', M('1')), 'rejected');
    expect(o).toMatchObject({ code: 9, reason: 'invalid_request', message: 'credit: not a number', httpStatus: 400 });
  });

  it('success:false without a code, or no success flag → unknown', async () => {
    handler = json(200, '{"success":false,"message":"?"}');
    expectKind(await stubClient.addCredit('t', M('1')), 'unknown');
    handler = json(200, '{"ok":1}');
    expectKind(await stubClient.addCredit('t', M('1')), 'unknown');
    handler = json(200, '[1,2]');
    expectKind(await stubClient.addCredit('t', M('1')), 'unknown');
  });

  it('success:true with a 5xx status → unknown', async () => {
    handler = json(500, '{"success":true,"code":200,"credit":1,"subaccountCredit":1}');
    expect(expectKind(await stubClient.addCredit('t', M('1')), 'unknown').httpStatus).toBe(500);
  });

  it('a string code is read as a number', async () => {
    handler = json(200, '{"success":false,"code":"8","message":"Insufficient credit"}');
    expect(expectKind(await stubClient.addCredit('t', M('1')), 'rejected')).toMatchObject({ code: 8, reason: 'insufficient_credit' });
  });

  it('scrubs our api key echoed by the provider, and sub-account keys from raw text', async () => {
    handler = json(200, `{"success":false,"code":10,"message":"Invalid API key ${KEY}","apiKey":"${KEY}"}`);
    const r = expectKind(await stubClient.me(), 'rejected');
    expect(r.message).toBe('Invalid API key [redacted]');
    const subKey = 'f00dfacef00dfacef00dfacef00dface';
    handler = json(200, `{"success":true,"code":200,"total":1,"nb_per_page":20,"page":1,"data":[{"token":"t1","apiKey":"${subKey}","credits":{"bal`);
    const u = expectKind(await stubClient.listSubaccounts(1), 'unknown');
    expect(JSON.stringify(u)).not.toContain(subKey);
    expect(u.rawText).toContain('"apiKey":"[redacted]"');
  });

  it('a body cut after the headers → unknown', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '500' });
      res.write('{"success":true,');
      setTimeout(() => res.socket?.destroy(), 20);
    };
    const o = expectKind(await stubClient.addCredit('t', M('1')), 'unknown');
    expect(o.httpStatus).toBe(200);
  });

  it('keeps one connection alive across calls', async () => {
    let connections = 0;
    const count = () => connections++;
    stub.on('connection', count);
    handler = json(200, '{"success":false,"code":10,"message":"x"}');
    try {
      for (let i = 0; i < 3; i++) expectKind(await stubClient.addCredit('t', M('1')), 'rejected');
    } finally {
      stub.off('connection', count);
    }
    expect(connections).toBeLessThanOrEqual(1);
  });

  it('a kept-alive connection dropped after the request → unknown, never not_sent', async () => {
    handler = json(200, '{"success":false,"code":10,"message":"x"}');
    expectKind(await stubClient.me(), 'rejected');
    // The next call goes out on the connection the first one left open, which the server
    // drops once it has the request: it may have been applied.
    handler = (req) => req.socket.destroy();
    const o = expectKind(await stubClient.addCredit('t', M('1')), 'unknown');
    expect(o.cause).toMatch(/^network error: /);
  });

  it('headers, then a body stalled past the time budget → unknown (timeout while reading)', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '500' });
      res.write('{"success":true,');
    };
    const slow = new SmsPartnerClient({ baseUrl: `http://127.0.0.1:${(stub.address() as AddressInfo).port}/v1`, apiKey: KEY, timeoutMs: 200 });
    const o = expectKind(await slow.addCredit('t', M('1')), 'unknown');
    expect(o.cause).toBe('timeout after 200ms while reading the answer (may have been applied)');
    expect(o.httpStatus).toBe(200);
    expect(o.latencyMs).toBeGreaterThanOrEqual(190);
  });

  it('sends the documented request shapes', async () => {
    const seen: Array<{ method?: string; url?: string; body: string }> = [];
    handler = (req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, body });
        json(200, '{"success":false,"code":10,"message":"x"}')(req, res);
      });
    };
    await stubClient.addCredit('tok', M('100'));
    await stubClient.removeCredit('tok', M('0.5'));
    await stubClient.createSubaccount({ type: 'advanced', email: 'e@x.y', isBuyer: true, creditToAttribute: M('3') });
    await stubClient.listSubaccounts(2);
    await stubClient.me();
    expect(seen).toEqual([
      { method: 'POST', url: '/v1/subaccount/credit/add', body: JSON.stringify({ apiKey: KEY, credit: '100', tokenSubaccount: 'tok' }) },
      { method: 'POST', url: '/v1/subaccount/credit/remove', body: JSON.stringify({ apiKey: KEY, credit: '0.5', tokenSubaccount: 'tok' }) },
      { method: 'POST', url: '/v1/subaccount/create', body: JSON.stringify({ apiKey: KEY, type: 'advanced', parameters: { email: 'e@x.y', isBuyer: 1, creditToAttribute: '3' } }) },
      { method: 'GET', url: `/v1/subaccount/list?apiKey=${KEY}&page=2`, body: '' },
      { method: 'GET', url: `/v1/me?apiKey=${KEY}`, body: '' },
    ]);
  });
});

describe('helpers', () => {
  it('numberLiterals keeps the source text by path and ignores look-alikes inside strings', () => {
    const text = '{"note":"\\"credit\\":5","credit":2869.20,"credits":{"balance":1e3},"data":[{"x":-0.5},{"credits":{"balance":7}}],"t":true,"n":null}';
    JSON.parse(text);
    const m = numberLiterals(text);
    expect(Object.fromEntries(m)).toEqual({ credit: '2869.20', 'credits.balance': '1e3', 'data.0.x': '-0.5', 'data.1.credits.balance': '7' });
  });

  it('parseRetryAfter reads seconds and dates, ignores garbage', () => {
    const now = Date.parse('2024-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Mon, 01 Jan 2024 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('Sun, 31 Dec 2023 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});

/** A port nothing listens on: bind one, then release it. */
async function closedPort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}
