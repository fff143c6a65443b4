import { request } from 'node:http';
import fc from 'fast-check';
import { z } from 'zod';
import { ALL_ROUTES, idempotencyKey, RouteDef } from '@app/api-contract';
import { Stack, startStack, TOKENS } from '../support/processes';
import { footprint as footprintOf } from './support/footprint';

/**
 * Bad input and access, against the running API, for EVERY route of the contract table
 * (libs/api-contract): a route added there is fuzzed and access-checked without touching
 * this file, and /docs-json must list exactly the same routes.
 */
const key = (r: { method: string; path: string }) => `${r.method} ${r.path}`;
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const accepts = (schema: z.ZodType | undefined, v: unknown) => !!schema && schema.safeParse(v).success;

/** Values some parameter schema of the contract accepts (uuid, account code, token). */
const validParam = (schema: z.ZodType) =>
  fc.oneof(fc.uuid({ version: 4 }), fc.constantFrom('main', 'usage', 'abc-123', 'sub:abc-123')).filter((v) => accepts(schema, v));
/** Path parameters the schema refuses: raw bytes, traversal, injection, oversize, unicode. */
const badParam = (schema: z.ZodType) => fc.oneof(
  fc.string({ minLength: 1, maxLength: 40 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 10 }),
  fc.constantFrom('..', '.', '%', ' ', 'sub:', 'main ', 'MAIN', "'; DROP TABLE transfers;--", 'a'.repeat(300), '\u0000', '🙂', '-1', '1e9', 'null',
    '00000000-0000-0000-0000-00000000000g', 'sub:' + 'x'.repeat(200), '{id}', '%00', 'sub:a\u0000', '\ud800', 'sub:\udc00', '9223372036854775808'),
).filter((v) => !accepts(schema, v));

/** encodeURIComponent, except that a lone surrogate (which it refuses) goes as its CESU-8 bytes. */
const enc = (v: string) => [...v].map((c) => (/[\ud800-\udfff]/.test(c)
  ? Buffer.from([0xe0 | (c.charCodeAt(0) >> 12), 0x80 | ((c.charCodeAt(0) >> 6) & 0x3f), 0x80 | (c.charCodeAt(0) & 0x3f)]).toString('hex').replace(/../g, '%$&')
  : encodeURIComponent(c))).join('');
const b64 = (t: string) => Buffer.from(t, 'utf8').toString('base64url');
const ONE_MB = 'x'.repeat(1024 * 1024);
/** Strings that broke or could break something: NUL, lone surrogates, padding, other notations, huge and out-of-range numbers, cursors. */
const adversarialString = fc.oneof(
  fc.constantFrom('\u0000', 'a\u0000b', '\ud800', 'x\udc00y', '\udbff', ' 0.027', '0.017\n', '\t5', '0x10', ' 5', '5 ', '05', '0', '-1', '1e3', '1E-3', 'NaN',
    'Infinity', '', ' ', '9'.repeat(400), '9223372036854775808', '-9223372036854775809', '18446744073709551616', '1.0000000000000000001', '０.５', '٣',
    b64('99999999999999999999|0b7f4c52-6f2a-4d8e-9a4b-1d2c3e4f5a6b'), b64('9223372036854775807|0b7f4c52-6f2a-4d8e-9a4b-1d2c3e4f5a6b'),
    b64(`1|${'-'.repeat(36)}`), b64('1|\u0000'), '%00', '%', '../..', "' OR 1=1 --", '{}', '[]', 'true', 'null', '<script>', '\r\n', '🙂', 'é'.repeat(300)),
  fc.string({ maxLength: 20 }).map((t) => `${t}\u0000`),
  fc.string({ minLength: 1, maxLength: 8 }).map((t) => `${t}\ud800`),
  fc.constant(ONE_MB),
);
const adversarialValue: fc.Arbitrary<unknown> = fc.oneof(
  adversarialString,
  fc.constantFrom(-1, 0, 0.0001, 2 ** 53, 2 ** 63, Number.MAX_VALUE, -Number.MAX_VALUE, 1e-7, true, false, null, [], {}, [null], { a: '\u0000' }),
  fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.array(adversarialString, { maxLength: 3 }),
  fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('\u0000', '\ud800', '__proto__', 'constructor')), adversarialString, { maxKeys: 3 }),
);

type Fuzzed = { method: string; path: string; query: string; body?: string; headers: Record<string, string>; target: string };

/** One request to `def` with at least one part (the target) that the contract refuses. */
function fuzzedRequest(def: RouteDef, validBody: unknown): fc.Arbitrary<Fuzzed> {
  const paramNames = Object.keys(def.params ?? {});
  const targets = [...(paramNames.length ? ['params'] : []), 'query', ...(def.method !== 'GET' ? ['body'] : []), ...(def.idempotencyKey ? ['header'] : [])];
  return fc.constantFrom(...targets).chain((target) => {
    const params = fc.tuple(...paramNames.map((n) => (target === 'params' ? fc.oneof(validParam(def.params![n]), badParam(def.params![n])) : validParam(def.params![n]))))
      .filter((vs) => target !== 'params' || vs.some((v, i) => !accepts(def.params![paramNames[i]], v)));
    const queryObj = fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), fc.oneof(fc.string({ maxLength: 30 }), fc.array(fc.string({ maxLength: 8 }), { minLength: 2, maxLength: 3 })), { maxKeys: 4 });
    // The route's own parameters with adversarial values (cursor overflow, limit=0x10, NUL…).
    const queryKeys = Object.keys((def.query as unknown as { shape?: Record<string, unknown> } | undefined)?.shape ?? {});
    const shapedQuery = queryKeys.length
      ? fc.dictionary(fc.constantFrom(...queryKeys), fc.oneof(adversarialString.filter((v) => v.length < 5000), fc.array(fc.constantFrom('1', '2'), { minLength: 2, maxLength: 2 })), { minKeys: 1, maxKeys: 3 })
      : queryObj;
    const query = target === 'query'
      ? fc.oneof(queryObj, shapedQuery, shapedQuery).filter((q) => Object.keys(q).length > 0 && !accepts(def.query, q))
      : fc.constant({} as Record<string, string | string[]>);
    const isEmpty = (v: unknown) => isPlainObject(v) && Object.keys(v).length === 0;
    const jsonBody = def.body
      ? fc.oneof(fc.jsonValue(), shapedObject(def.body), shapedObject(def.body, adversarialValue), mutatedExample(def, validBody))
        .filter((v) => !accepts(def.body, v) && !(def.bodyOptional && isEmpty(v)))
      : fc.jsonValue().filter((v) => !isEmpty(v));
    // A key given twice in one object: refused whatever the values (JSON.parse would keep the last).
    const duplicated = fc.tuple(def.body ? fc.oneof(shapedObject(def.body), mutatedExample(def, validBody)) : fc.jsonValue(), adversarialValue).map(([v, extra]) => {
      const obj = isPlainObject(v) && Object.keys(v).length ? v : { amount: '1' };
      const [k] = Object.keys(obj);
      return `{${JSON.stringify(k)}:${JSON.stringify(extra) ?? 'null'},${JSON.stringify(obj).slice(1)}`;
    });
    const body: fc.Arbitrary<{ text?: string; type?: string }> = target === 'body'
      ? fc.oneof(
        fc.record({ text: jsonBody.map((v) => JSON.stringify(v)), type: fc.constantFrom('application/json', 'application/json; charset=utf-8') }),
        fc.record({ text: duplicated, type: fc.constant('application/json') }),
        fc.record({ text: fc.string({ minLength: 1, maxLength: 200 }), type: fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream', 'application/xml') }),
        fc.constantFrom({ text: '{', type: 'application/json' }, { text: '{"amount":1e2}', type: 'application/json' }, { text: '[]', type: 'application/json' },
          { text: 'null', type: 'application/json' }, { text: '"str"', type: 'application/json' }, { text: '{"__proto__":{"admin":true}}', type: 'application/json' }),
      )
      : target === 'header' ? fc.constant({ text: JSON.stringify(validBody), type: 'application/json' }) : fc.constant({});
    const header = target === 'header'
      ? fc.oneof(fc.constant(''), fc.string({ minLength: 201, maxLength: 260 }), fc.string({ unit: fc.constantFrom(' ', 'é', '\t', 'a', 'ÿ'), minLength: 1, maxLength: 10 }))
        // HTTP trims a header value's surrounding spaces and tabs: judge what arrives.
        .filter((k) => !idempotencyKey.safeParse(k.replace(/^[ \t]+|[ \t]+$/g, '')).success)
      : fc.option(fc.string({ minLength: 1, maxLength: 20 }).filter((k) => idempotencyKey.safeParse(k).success), { nil: undefined });
    const requestId = fc.option(fc.string({ maxLength: 120 }).filter((s) => /^[\x20-\x7e]*$/.test(s)), { nil: undefined });
    return fc.record({ params, query, body, header, requestId }).map(({ params: ps, query: q, body: b, header: h, requestId: rid }) => {
      let path = def.path;
      paramNames.forEach((n, i) => { path = path.replace(`{${n}}`, ps[i] === '%00' ? ps[i] : enc(ps[i])); });
      const parts: string[] = [];
      for (const [k, v] of Object.entries(q)) for (const one of Array.isArray(v) ? v : [v]) parts.push(`${enc(k)}=${enc(one)}`);
      const headers: Record<string, string> = { authorization: `Bearer ${TOKENS.admin}` };
      if (b.type) headers['content-type'] = b.type;
      if (h !== undefined) headers['idempotency-key'] = h;
      if (rid !== undefined) headers['x-request-id'] = rid;
      return { method: def.method, path, query: parts.length ? `?${parts.join('&')}` : '', body: b.text, headers, target };
    });
  });
}

/** Objects with the schema's own keys and random values: they get past "unknown key" checks to the field rules. */
function shapedObject(schema: z.ZodType, value: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 2 })): fc.Arbitrary<unknown> {
  const shape = (schema as unknown as { shape?: Record<string, unknown> }).shape;
  if (!shape) return fc.jsonValue();
  return fc.record(Object.fromEntries(Object.keys(shape).map((k) => [k, value])), { requiredKeys: [] });
}

/** A body the route accepts (where the test knows one), with one field replaced by an adversarial value: the field rules themselves are probed. */
function mutatedExample(def: RouteDef, validTransfer: unknown): fc.Arbitrary<unknown> {
  const examples: Record<string, unknown> = {
    'POST /v1/transfers': validTransfer,
    'POST /v1/subaccounts': { type: 'simple', email: 'fuzz@example.com', title: 'Fuzz' },
    'POST /v1/transfers/{id}/resolve': { outcome: 'applied', reason: 'checked' },
    'POST /v1/drifts/{id}/resolve': { as: 'usage', reason: 'checked' },
    'POST /v1/topup-policies': { subaccount: (validTransfer as { subaccount: string }).subaccount, mode: 'fixed', amount: '1.000' },
    'PATCH /v1/topup-policies/{id}': { amount: '2.000' },
  };
  const example = examples[key(def)];
  if (!isPlainObject(example)) return fc.jsonValue();
  return fc.tuple(fc.constantFrom(...Object.keys(example), 'metadata', 'extra'), adversarialValue).map(([k, v]) => ({ ...example, [k]: v }));
}

/** Seeded and reproducible: FUZZ_SEED=<n> FUZZ_RUNS=<n> npx jest test/reliability/bad-input.e2e-spec.ts replays or widens a run. */
const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 42);
const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 75);

describe('bad input and access, on every route of the contract', () => {
  let stack: Stack;
  let validTransfer: { subaccount: string; direction: string; amount: string };
  /** Rows of every table for this provider account, journal digests, and the provider side (libs: ./support/footprint). */
  const footprint = () => footprintOf(stack);

  beforeAll(async () => {
    stack = await startStack({ subaccounts: 2, worker: false });
    await stack.call('POST', '/v1/subaccounts/import', undefined, TOKENS.admin);
    validTransfer = { subaccount: stack.tokens()[0], direction: 'add', amount: '1.000' };
  });
  afterAll(async () => { await stack?.close(); });

  it('/docs-json lists exactly the routes of the contract table, and only /health and /metrics are public', async () => {
    const doc = (await stack.call('GET', '/docs-json', undefined, null)).json;
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    expect(documented.sort()).toEqual(ALL_ROUTES.map(key).sort());
    expect(ALL_ROUTES.filter((r) => r.role === 'public').map(key).sort()).toEqual(['GET /health/live', 'GET /health/ready', 'GET /metrics']);
    expect(ALL_ROUTES.filter((r) => r.path.startsWith('/v1/')).every((r) => r.role !== 'public')).toBe(true);
  });

  it('every /v1 route refuses a missing, wrong or malformed token (401) and a role too low (403), before reading any input, and writes nothing', async () => {
    const before = await footprint();
    const v1 = ALL_ROUTES.filter((r) => r.path.startsWith('/v1/'));
    expect(v1.length).toBeGreaterThan(20);
    const tried: string[] = [];
    for (const r of v1) {
      const path = r.path.replace(/\{(\w+)\}/g, (_, n: string) => encodeURIComponent(fc.sample(validParam(r.params![n]), { numRuns: 1, seed: 1 })[0]));
      // An invalid body: authentication must answer first.
      const body = r.method === 'GET' ? undefined : '{"surprise":';
      const send = (authorization: string | null) => fetch(`${stack.baseUrl}${path}`, {
        method: r.method, body, headers: { ...(authorization ? { authorization } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
      }).then(async (res) => ({ status: res.status, json: JSON.parse(await res.text()) }));
      for (const authorization of [null, 'Bearer wrong-token-1234567890', `Bearer ${TOKENS.admin}x`, `Basic ${Buffer.from(`admin:${TOKENS.admin}`).toString('base64')}`, `Bearer`, TOKENS.admin]) {
        const res = await send(authorization);
        expect({ route: key(r), authorization, status: res.status, code: res.json?.error?.code }).toEqual({ route: key(r), authorization, status: 401, code: 'unauthorized' });
        expect(typeof res.json.error.message).toBe('string');
      }
      const lower = { viewer: [], operator: ['viewer'], admin: ['viewer', 'operator'] }[r.role as 'viewer' | 'operator' | 'admin'] as Array<keyof typeof TOKENS>;
      for (const role of lower) {
        const res = await send(`Bearer ${TOKENS[role]}`);
        expect({ route: key(r), role, status: res.status, code: res.json?.error?.code }).toEqual({ route: key(r), role, status: 403, code: 'forbidden' });
      }
      // Positive control: the lowest allowed role gets past authentication.
      const allowed = await send(`Bearer ${TOKENS[r.role as keyof typeof TOKENS]}`);
      expect({ route: key(r), status: [401, 403].includes(allowed.status) }).toEqual({ route: key(r), status: false });
      tried.push(key(r));
    }
    expect(tried.sort()).toEqual(v1.map(key).sort());
    expect(await footprint()).toEqual(before);
  });

  it.each(ALL_ROUTES.map((r) => [key(r), r] as const))('fuzz %s: never a 5xx, never a write, always a JSON error {error:{code,message}}', async (_name, def) => {
    const before = await footprint();
    await fc.assert(fc.asyncProperty(fuzzedRequest(def, validTransfer), async (req) => {
      const res = await fetch(`${stack.baseUrl}${req.path}${req.query}`, { method: req.method, headers: req.headers, body: req.body });
      const text = await res.text();
      let json: any;
      try { json = JSON.parse(text); } catch { json = undefined; }
      const ok = res.status >= 400 && res.status < 500 && (res.headers.get('content-type') ?? '').includes('application/json')
        && typeof json?.error?.code === 'string' && typeof json?.error?.message === 'string';
      if (!ok) throw new Error(`${req.method} ${req.path}${req.query} (${req.target}) → ${res.status} ${res.headers.get('content-type')} ${text.slice(0, 300)}\nheaders ${JSON.stringify(req.headers)}\nbody ${req.body?.slice(0, 300)}`);
    }), { numRuns: FUZZ_RUNS, seed: FUZZ_SEED });
    expect(await footprint()).toEqual(before);
  });

  describe('limits, refused with clear errors and no write', () => {
    let before: Record<string, number>;
    beforeAll(async () => { before = await footprint(); });
    afterAll(async () => { expect(await footprint()).toEqual(before); });

    it('a body over the size limit (5 MB): 413 payload_too_large, answered from the declared length', async () => {
      const declared = 6 * 1024 * 1024;
      // node:http rather than fetch: the API answers (and closes) before the upload is over.
      const r = await new Promise<{ status?: number; text: string }>((resolve, reject) => {
        const req = request(`${stack.baseUrl}/v1/transfers/batch`, {
          method: 'POST', headers: { authorization: `Bearer ${TOKENS.operator}`, 'content-type': 'application/json', 'content-length': declared },
        }, (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => { req.destroy(); resolve({ status: res.statusCode, text }); });
          res.on('error', reject);
        });
        req.on('error', () => undefined);
        req.write('{"transfers":[');
      });
      expect([r.status, JSON.parse(r.text).error?.code]).toEqual([413, 'payload_too_large']);
    });

    it('a batch of 10,001 items: 400 naming the limit, nothing recorded', async () => {
      const r = await stack.call('POST', '/v1/transfers/batch', { transfers: Array.from({ length: 10_001 }, () => validTransfer) }, TOKENS.operator);
      expect([r.status, r.json?.error?.code]).toEqual([400, 'validation_failed']);
      expect(r.json.error.message).toMatch(/10000/);
    });

    it('an amount above TRANSFER_MAX_AMOUNT: 400 naming the maximum (single and batch item)', async () => {
      const single = await stack.call('POST', '/v1/transfers', { ...validTransfer, amount: '100000.001' }, TOKENS.operator);
      expect([single.status, single.json?.error?.code]).toEqual([400, 'validation_failed']);
      expect(single.json.error.message).toContain('must be at most 100000');
      const batch = await stack.call('POST', '/v1/transfers/batch', { transfers: [{ ...validTransfer, amount: '100000.001' }] }, TOKENS.operator);
      expect(batch.status).toBe(207);
      expect(batch.json.results[0]).toMatchObject({ status: 400, error: { code: 'validation_failed' } });
      expect(batch.json.results[0].error.message).toContain('must be at most 100000');
    });

    it('oversized fields, too many metadata keys, deeply nested JSON: 400', async () => {
      const cases: unknown[] = [
        { ...validTransfer, reference: 'r'.repeat(201) },
        { ...validTransfer, metadata: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, i])) },
        { ...validTransfer, metadata: { k: 'v'.repeat(1001) } },
        { ...validTransfer, subaccount: 't'.repeat(129) },
        '['.repeat(50_000) + ']'.repeat(50_000),
        '{"a":'.repeat(20_000) + '1' + '}'.repeat(20_000),
      ];
      for (const body of cases) {
        const r = await stack.call('POST', '/v1/transfers', body, TOKENS.operator);
        expect([r.status, r.json?.error?.code]).toEqual([400, 'validation_failed']);
      }
    });
  });
});
