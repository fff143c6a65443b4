/**
 * How the sandbox reads requests (provider-request.ts) and answers what no call handles: every
 * answer to a provider route is in the provider's shape, with the configured HTTP status.
 * Raw sockets where fetch would add or fix headers.
 */
import { createSandboxServer, RawAnswer, rawRequest, readProviderBody, SandboxSeed, SandboxServer } from './index';

const KEY = 'read-key-0001';
const TOKEN = 'sub-token-read-1';
const SEED: SandboxSeed = { seed: 3, accounts: [{ apiKey: KEY, username: 'owner@example.com', balance: '500', subaccounts: [{ token: TOKEN, email: 's@example.com' }] }] };
const ADD = '/v1/subaccount/credit/add';

let s: SandboxServer;

beforeAll(async () => {
  s = await createSandboxServer({ port: 0, seed: SEED });
});
afterAll(async () => s.close());
beforeEach(async () => {
  s.state.reset();
  await control('/__sandbox/config', { errorHttpStatus: 200 });
});

async function control(path: string, body: unknown) {
  const r = await fetch(s.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(r.status).toBe(200);
}

const port = () => Number(new URL(s.url).port);
function request(method: string, path: string, headers: Record<string, string>, body?: Buffer | string): Buffer {
  const b = body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: api.smspartner.fr', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  if (body !== undefined && !Object.keys(headers).some((k) => k.toLowerCase() === 'content-length')) lines.push(`Content-Length: ${b.length}`);
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), b]);
}
const addJson = JSON.stringify({ apiKey: KEY, credit: '12.5', tokenSubaccount: TOKEN });
const added = (a: RawAnswer) => {
  expect(a.status).toBe(200);
  expect(a.json).toEqual({ success: true, code: 200, credit: 487.5, subaccountCredit: 12.5, currency: 'EUR' });
  expect(s.state.log).toHaveLength(1);
};

describe('the body is read as JSON whatever the Content-Type', () => {
  it.each([
    ['application/json', { 'Content-Type': 'application/json' }],
    ['form-urlencoded holding a JSON text (PHP curl default)', { 'Content-Type': 'application/x-www-form-urlencoded' }],
    ['text/plain', { 'Content-Type': 'text/plain' }],
    ['no Content-Type (Python requests with data=str)', {}],
    ['application/json; charset=utf-8 (VB.net)', { 'Content-Type': 'application/json; charset=utf-8' }],
    ['a Content-Type that is not a media type', { 'Content-Type': 'json' }],
  ])('%s', async (_name, headers) => {
    added(await rawRequest(port(), request('POST', ADD, headers, addJson)));
  });

  it('a body with a UTF-8 BOM', async () => {
    added(await rawRequest(port(), request('POST', ADD, { 'Content-Type': 'application/json' }, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(addJson)]))));
  });

  it('a true form body, nested parameters[...] keys included', async () => {
    added(await rawRequest(port(), request('POST', ADD, { 'Content-Type': 'application/x-www-form-urlencoded' }, `apiKey=${KEY}&credit=12.5&tokenSubaccount=${TOKEN}`)));
    const create = await rawRequest(port(), request('POST', '/v1/subaccount/create', { 'Content-Type': 'application/x-www-form-urlencoded' },
      `apiKey=${KEY}&type=advanced&parameters%5Bemail%5D=f%40example.com&parameters%5BisBuyer%5D=0`));
    expect(create.json).toMatchObject({ success: true, code: 200, subaccount: { email: 'f@example.com' } });
  });

  it('apiKey in the query string, the rest in the body', async () => {
    added(await rawRequest(port(), request('POST', `${ADD}?apiKey=${encodeURIComponent(KEY)}`, {}, JSON.stringify({ credit: '12.5', tokenSubaccount: TOKEN }))));
  });

  it('UTF-8 in every field, with the byte length as Content-Length', async () => {
    const body = JSON.stringify({ apiKey: KEY, type: 'advanced', parameters: { email: 'zoë.müller@exämple.fr', isBuyer: 0, firstname: 'Zoë', lastname: 'Ñandú 日本', title: 'Crédit ✓' } });
    expect(Buffer.byteLength(body)).toBeGreaterThan(body.length);
    const a = await rawRequest(port(), request('POST', '/v1/subaccount/create', { 'Content-Type': 'application/json' }, body));
    expect(a.json).toMatchObject({ success: true, subaccount: { email: 'zoë.müller@exämple.fr' }, sendConfirmMailTo: 'zoë.müller@exämple.fr' });
    expect(a.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(Number(a.headers['content-length'])).toBe(Buffer.byteLength(a.text));
    const sub = s.state.getSub(a.json.subaccount.token)!;
    expect([sub.firstname, sub.lastname, sub.title]).toEqual(['Zoë', 'Ñandú 日本', 'Crédit ✓']);
  });

  it('readProviderBody: json, form, empty, unreadable', () => {
    expect(readProviderBody(Buffer.from(' {"a":1} '))).toEqual({ params: { a: 1 }, read: 'json' });
    expect(readProviderBody(Buffer.from('a=1&b=%C3%A9'))).toEqual({ params: { a: '1', b: 'é' }, read: 'form' });
    expect(readProviderBody(Buffer.from('\ufeff'))).toEqual({ params: {}, read: 'empty' });
    expect(readProviderBody(undefined)).toEqual({ params: {}, read: 'empty' });
    expect(readProviderBody(Buffer.from('{"a":'))).toEqual({ params: {}, read: 'unreadable' });
    expect(readProviderBody(Buffer.from('[1,2]'))).toEqual({ params: {}, read: 'unreadable' });
  });
});

describe.each([200, 400])('every answer in the provider shape (errors with HTTP %i)', (status) => {
  beforeEach(async () => control('/__sandbox/config', { errorHttpStatus: status }));
  const providerError = (a: RawAnswer, code: number) => {
    expect(a.status).toBe(status);
    expect(a.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(a.json).toEqual({ success: false, code, message: expect.any(String) });
    expect(a.json.message.length).toBeGreaterThan(0);
    expect(s.state.log).toEqual([]);
  };

  it('a malformed JSON body: judged without it (no key anywhere → code 1)', async () => {
    providerError(await rawRequest(port(), request('POST', ADD, { 'Content-Type': 'application/json' }, '{"apiKey":"' + KEY + '","credit":')), 1);
  });
  it('an empty body, with and without Content-Type', async () => {
    providerError(await rawRequest(port(), request('POST', ADD, { 'Content-Type': 'application/json' }, '')), 1);
    providerError(await rawRequest(port(), request('POST', ADD, {}, '')), 1);
    providerError(await rawRequest(port(), request('POST', '/v1/subaccount/create', {}, '')), 1);
  });
  it('a key missing on /me and list → code 1 (the list page documents it)', async () => {
    providerError(await rawRequest(port(), request('GET', '/v1/me', {})), 1);
    providerError(await rawRequest(port(), request('GET', '/v1/subaccount/list?page=1', {})), 1);
  });
  it('an unknown route', async () => {
    providerError(await rawRequest(port(), request('GET', '/v1/nothing-here?apiKey=x', {})), 404);
    providerError(await rawRequest(port(), request('POST', '/v2/subaccount/credit/add', { 'Content-Type': 'application/json' }, addJson)), 404);
    providerError(await rawRequest(port(), request('GET', '/', {})), 404);
  });
  it('a wrong method on a known route (trailing slash or not)', async () => {
    const get = await rawRequest(port(), request('GET', `${ADD}?apiKey=${KEY}`, {}));
    providerError(get, 405);
    expect(get.headers.allow).toBe('POST');
    providerError(await rawRequest(port(), request('POST', '/v1/me/', { 'Content-Type': 'application/json' }, '{}')), 405);
    providerError(await rawRequest(port(), request('DELETE', '/v1/subaccount/list', {})), 405);
  });
  it('a body above the size limit', async () => {
    providerError(await rawRequest(port(), request('POST', ADD, { 'Content-Type': 'application/json' }, `{"apiKey":"${KEY}","pad":"${'x'.repeat(1_100_000)}"}`)), 413);
  });
  it('unknown routes answer XML when asked', async () => {
    const a = await rawRequest(port(), request('GET', '/v1/nothing?_format=xml', {}));
    expect(a.status).toBe(status);
    expect(a.text).toContain('<entry>false</entry>');
    expect(a.text).toContain('<entry>404</entry>');
  });
  it('bytes the HTTP parser cannot read', async () => {
    const a = await rawRequest(port(), Buffer.from('}GARBAGE\r\n\r\n', 'latin1'));
    expect(a.status).toBe(status);
    expect(a.json).toEqual({ success: false, code: 400, message: 'Malformed request' });
  });
});

it('a trailing slash is the same route', async () => {
  const a = await rawRequest(port(), request('GET', `/v1/me/?apiKey=${KEY}`, {}));
  expect(a.json).toMatchObject({ success: true, code: 200, credits: { balance: '500.000' } });
  added(await rawRequest(port(), request('POST', `${ADD}/`, { 'Content-Type': 'application/json' }, addJson)));
});

it('a GET with a JSON Content-Type and Content-Length: 0 (VB.net, cURL samples) is a plain GET', async () => {
  const a = await rawRequest(port(), request('GET', `/v1/me?apiKey=${KEY}`, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': '0' }));
  expect(a.json).toMatchObject({ success: true, code: 200 });
});

it('control routes keep their own errors', async () => {
  const r = await fetch(`${s.url}/__sandbox/accounts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"apiKey":' });
  expect(r.status).toBe(400);
  expect(await r.json()).toEqual({ error: expect.any(String) });
  const nf = await fetch(`${s.url}/__sandbox/nothing`);
  expect([nf.status, ((await nf.json()) as { error: string }).error]).toEqual([404, expect.stringContaining('no control route')]);
});

describe('invalid-key code (the docs disagree: 9 or 10)', () => {
  it.each([9, 10] as const)('credit calls answer %i when configured; create, /me and list keep 10', async (code) => {
    const other = await createSandboxServer({ port: 0, seed: SEED, invalidKeyCode: code });
    try {
      const p = Number(new URL(other.url).port);
      const bad = JSON.stringify({ apiKey: 'nope', credit: '1', tokenSubaccount: TOKEN });
      for (const path of [ADD, '/v1/subaccount/credit/remove']) {
        expect((await rawRequest(p, request('POST', path, { 'Content-Type': 'application/json' }, bad))).json).toEqual({ success: false, code, message: 'Invalid API key' });
      }
      expect((await rawRequest(p, request('GET', '/v1/me?apiKey=nope', {}))).json.code).toBe(10);
      expect((await rawRequest(p, request('GET', '/v1/subaccount/list?apiKey=nope', {}))).json.code).toBe(10);
      expect((await rawRequest(p, request('POST', '/v1/subaccount/create', {}, JSON.stringify({ apiKey: 'nope', type: 'simple', parameters: { email: 'a@b.c' } })))).json.code).toBe(10);
    } finally {
      await other.close();
    }
  });
  it('refuses any other code', async () => {
    await expect(createSandboxServer({ port: 0, seed: SEED, invalidKeyCode: 11 as 10 })).rejects.toThrow(/9 or 10/);
  });
});
