import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv2020, { ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { ROOT, Stack, startStack, TOKENS, waitFor } from './support/processes';

/**
 * The OpenAPI document served at /docs-json against the API that serves it: Redocly's
 * recommended ruleset finds nothing to say, and the real responses of the main routes (taken
 * from a running stack: API, worker, sandbox) validate against the schemas the document gives
 * for their status, so a schema that does not describe the response fails here.
 */

/**
 * Lint findings accepted, each with its reason. The three public operations routes take no
 * input and have no 4xx answer to document (health/ready's failure is a 503).
 */
const LINT_ALLOWANCE = [
  'operation-4xx-response #/paths/~1health~1live/get/responses',
  'operation-4xx-response #/paths/~1health~1ready/get/responses',
  'operation-4xx-response #/paths/~1metrics/get/responses',
];

describe('OpenAPI document (/docs-json) and the API reference (/docs)', () => {
  let stack: Stack;
  let doc: any;
  let ajv: Ajv2020;
  const validators = new Map<string, ValidateFunction>();
  /** Operations whose real response was validated, as "GET /v1/transfers/{id} 200". */
  const validated = new Set<string>();

  /** The operation of the document that a concrete path matches. */
  function operationOf(method: string, path: string): { template: string; op: any } {
    const bare = path.split('?')[0];
    for (const [template, ops] of Object.entries<any>(doc.paths)) {
      const re = new RegExp(`^${template.replace(/\{\w+\}/g, '[^/]+')}$`);
      if (re.test(bare) && ops[method.toLowerCase()]) return { template, op: ops[method.toLowerCase()] };
    }
    throw new Error(`${method} ${bare} is not in the OpenAPI document`);
  }

  /** Calls the API and validates the response body against the documented schema of its status. */
  async function checked(method: string, path: string, body?: unknown, token: string | null = TOKENS.admin, headers: Record<string, string> = {}) {
    const res = await stack.call(method, path, body, token, headers);
    const { template, op } = operationOf(method, path);
    const documented = op.responses[String(res.status)];
    if (!documented) throw new Error(`${method} ${template} answered ${res.status}, which the document does not list: ${res.text.slice(0, 300)}`);
    const type = (res.headers.get('content-type') ?? '').split(';')[0].trim();
    expect(Object.keys(documented.content ?? {})).toContain(type);
    const schema = documented.content[type].schema;
    expect(schema).toBeDefined();
    if (type === 'application/json') {
      const key = schema.$ref ?? JSON.stringify(schema);
      let validate = validators.get(key);
      if (!validate) {
        validate = schema.$ref ? ajv.getSchema(`urn:credit-ledger:openapi${schema.$ref}`)! : ajv.compile(schema);
        validators.set(key, validate);
      }
      if (!validate(res.json)) {
        throw new Error(`${method} ${template} ${res.status}: the response does not match ${key}:\n${JSON.stringify(validate.errors, null, 2)}\n${res.text.slice(0, 2000)}`);
      }
    } else {
      expect(schema.type).toBe('string');
    }
    validated.add(`${method} ${template} ${res.status}`);
    return res;
  }

  beforeAll(async () => {
    stack = await startStack({ subaccounts: 3, env: { RECONCILE_CRON: '0 0 1 1 *' } });
    const res = await fetch(`${stack.baseUrl}/docs-json`);
    expect(res.status).toBe(200);
    doc = await res.json();
    ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
    addFormats(ajv);
    // The document's components as one schema, so "#/components/schemas/X" refs resolve.
    ajv.addKeyword({ keyword: 'components' });
    ajv.addSchema({ $id: 'urn:credit-ledger:openapi', components: doc.components });
    for (const id of Object.keys(doc.components.schemas)) ajv.getSchema(`urn:credit-ledger:openapi#/components/schemas/${id}`);
  }, 60_000);

  afterAll(async () => {
    await stack?.close();
  });

  it("passes Redocly's recommended ruleset with no error and no warning beyond the listed allowance", () => {
    const dir = mkdtempSync(join(tmpdir(), 'credit-ledger-openapi-'));
    try {
      writeFileSync(join(dir, 'openapi.json'), JSON.stringify(doc));
      const out = spawnSync(process.execPath, [join(ROOT, 'test', 'support', 'lint-openapi.mjs'), join(dir, 'openapi.json')], { cwd: ROOT, encoding: 'utf8' });
      expect(out.stderr).toBe('');
      const problems: Array<{ rule: string; severity: string; message: string; where: string }> = JSON.parse(out.stdout);
      const unexpected = problems.filter((p) => !LINT_ALLOWANCE.includes(`${p.rule} ${p.where}`));
      expect(unexpected).toEqual([]);
      // The allowance is not stale: each entry is still reported.
      expect(problems.map((p) => `${p.rule} ${p.where}`).sort()).toEqual([...LINT_ALLOWANCE].sort());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('describes every success response with a schema, CSV as text/csv, money with its pattern, tags and servers', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.servers).toEqual([expect.objectContaining({ url: '/' })]);
    const tagNames = doc.tags.map((t: any) => t.name);
    for (const t of doc.tags) expect(t.description).toEqual(expect.any(String));
    expect(doc.components.schemas.Money).toMatchObject({ type: 'string', pattern: '^-?\\d+\\.\\d{3}$' });
    expect(doc.components.schemas.Transfer.properties.amount).toEqual({ $ref: '#/components/schemas/Money' });
    expect(doc.components.schemas.BatchResults.properties.results.items.properties.transfer).toEqual({ $ref: '#/components/schemas/Transfer' });
    for (const [path, ops] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(ops)) {
        expect(tagNames).toContain(op.tags[0]);
        for (const [status, r] of Object.entries<any>(op.responses)) {
          expect(Object.keys(r.content ?? {}).length).toBeGreaterThan(0);
          for (const [type, media] of Object.entries<any>(r.content)) {
            if (!media.schema) throw new Error(`${method.toUpperCase()} ${path} ${status} ${type} has no schema`);
          }
        }
      }
    }
    for (const path of ['/v1/accounts/{code}/statement', '/v1/journal', '/v1/reconciliations/{id}/report']) {
      expect(Object.keys(doc.paths[path].get.responses['200'].content)).toEqual(expect.arrayContaining(['application/json', 'text/csv']));
    }
  });

  it('every example in the document is valid against its own schema', () => {
    const withExamples = Object.entries<any>(doc.components.schemas).filter(([, s]) => Array.isArray(s.examples));
    expect(withExamples.map(([id]) => id)).toEqual(expect.arrayContaining(['Money', 'Transfer', 'BatchResults', 'Subaccount', 'DriftFinding', 'ReconciliationRun', 'TopupPolicy', 'Error']));
    for (const [id, schema] of withExamples) {
      const validate = id === 'Error' ? ajv.compile(schema) : ajv.getSchema(`urn:credit-ledger:openapi#/components/schemas/${id}`)!;
      for (const example of schema.examples) {
        if (!validate(example)) throw new Error(`example of ${id} is invalid: ${JSON.stringify(validate.errors)}`);
      }
    }
  });

  it('the real responses of the main routes match their documented schemas', async () => {
    const [a, b, c] = stack.tokens();
    await checked('GET', '/health/live', undefined, null);
    await checked('GET', '/health/ready', undefined, null);
    await checked('GET', '/v1/me', undefined, TOKENS.viewer);
    await checked('POST', '/v1/subaccounts/import');
    await checked('GET', '/v1/subaccounts?limit=2');
    await checked('GET', `/v1/subaccounts/${a}`);

    const created = await checked('POST', '/v1/transfers', { subaccount: a, direction: 'add', amount: '20', reference: 'openapi', metadata: { po: 'PO-1', n: 2 } }, TOKENS.operator, { 'idempotency-key': `oas-${a}` });
    expect(created.status).toBe(202);
    expect((await checked('POST', '/v1/transfers', { subaccount: a, direction: 'add', amount: '20', reference: 'openapi', metadata: { po: 'PO-1', n: 2 } }, TOKENS.operator, { 'idempotency-key': `oas-${a}` })).status).toBe(200);
    await waitFor(async () => (await stack.call('GET', `/v1/transfers/${created.json.id}`)).json.status === 'posted', 15_000, 'the transfer to be posted');
    const posted = await checked('GET', `/v1/transfers/${created.json.id}`);
    expect(posted.json.provider).not.toBeNull();

    stack.sandbox.faults.add({ route: 'add', fault: 'drop_before_apply', count: 1 });
    const lost = await checked('POST', '/v1/transfers', { subaccount: c, direction: 'add', amount: '7' }, TOKENS.operator);
    await waitFor(async () => (await stack.call('GET', `/v1/transfers/${lost.json.id}`)).json.status === 'in_doubt', 15_000, 'the transfer to be in doubt');
    await checked('GET', `/v1/transfers/${lost.json.id}`);
    await checked('POST', `/v1/transfers/${lost.json.id}/resolve`, { outcome: 'not_applied', reason: 'never reached the provider' }, TOKENS.operator);

    const batch = await checked('POST', '/v1/transfers/batch', { transfers: [{ subaccount: b, direction: 'add', amount: '1.5', idempotencyKey: `oas-batch-${b}` }, { subaccount: b, direction: 'add', amount: '-1' }, { subaccount: 'nope', direction: 'add', amount: '1' }] }, TOKENS.operator);
    expect(batch.json.results.map((r: any) => r.status)).toEqual([202, 400, 404]);
    expect((await checked('GET', '/v1/transfers?limit=1')).json.nextCursor).not.toBeNull();
    expect((await checked('GET', `/v1/transfers?status=posted&subaccount=${a}&reference=OPENAPI`)).json.data.map((t: any) => t.id)).toEqual([created.json.id]);

    // A drift for the reconciliation and drift routes: SMS sent from b.
    stack.sandbox.state.usage({ token: a }, '2.5');
    const started = await checked('POST', '/v1/reconciliations', undefined, TOKENS.operator);
    await waitFor(async () => (await stack.call('GET', `/v1/reconciliations/${started.json.id}`)).json.status !== 'running', 20_000, 'the run to finish');
    const run = await checked('GET', `/v1/reconciliations/${started.json.id}`);
    expect(run.json.items.length).toBeGreaterThan(0);
    await checked('GET', '/v1/reconciliations');
    await checked('GET', `/v1/reconciliations/${started.json.id}/report`);
    await checked('GET', `/v1/reconciliations/${started.json.id}/report?format=csv`);
    const drifts = await checked('GET', '/v1/drifts?status=open');
    expect(drifts.json.data.length).toBe(1);
    await checked('POST', `/v1/drifts/${drifts.json.data[0].id}/resolve`, { as: 'usage', reason: 'SMS' }, TOKENS.operator);

    await checked('GET', '/v1/accounts');
    await checked('GET', `/v1/accounts/sub:${a}/balance`);
    await checked('GET', `/v1/accounts/sub:${a}/balance?at=${encodeURIComponent(new Date().toISOString())}`);
    await checked('GET', `/v1/accounts/sub:${a}/statement`);
    await checked('GET', `/v1/accounts/sub:${a}/statement?format=csv`);
    await checked('GET', `/v1/accounts/sub:${a}/history`);
    expect((await checked('GET', '/v1/journal?limit=2')).json.data).toHaveLength(2);
    await checked('GET', '/v1/journal?format=csv');
    // The journal of one transfer, and the postings of its ledger transaction.
    const ofTransfer = await checked('GET', `/v1/journal?entityType=transfer&entity=${created.json.id}`);
    expect(ofTransfer.json.data.map((e: any) => e.action)).toEqual(expect.arrayContaining(['transfer.recorded', 'transfer.posted']));
    expect(ofTransfer.json.data.every((e: any) => e.entityType === 'transfer' && e.entityId === created.json.id)).toBe(true);
    const ofLedger = await checked('GET', `/v1/journal?entityType=ledger_transaction&entity=${created.json.ledgerTransactionId}`);
    expect(ofLedger.json.data[0].data.postings).toEqual([{ account: 'main', amount: '-20.000' }, { account: `sub:${a}`, amount: '20.000' }]);
    expect((await checked('GET', `/v1/journal?entityType=transfer`)).status).toBe(400);
    await checked('GET', '/v1/audit/verify');
    await checked('POST', '/v1/audit/verify', undefined, TOKENS.viewer);
    await checked('GET', '/v1/audit/digests');
    expect((await checked('GET', '/v1/journal/lines?limit=3')).json.data).toHaveLength(3);
    const month = new Date().toISOString().slice(0, 7);
    const usage = await checked('GET', `/v1/reports/usage?month=${month}`);
    expect(usage.json.rows.map((r: any) => r.subaccount)).toEqual(expect.arrayContaining([a]));
    expect((await checked('GET', '/v1/reports/usage?month=2026-13')).status).toBe(400);
    expect((await checked('GET', '/v1/provider/check')).json.verdict).toMatch(/^(ready|attention)$/);

    const policy = await checked('POST', '/v1/topup-policies', { subaccount: b, mode: 'fixed', amount: '5', cap: '10' });
    await checked('GET', '/v1/topup-policies');
    await checked('GET', `/v1/topup-policies/${policy.json.id}`);
    await checked('PATCH', `/v1/topup-policies/${policy.json.id}`, { amount: '6' });
    await checked('GET', `/v1/topup-policies/${policy.json.id}/preview`);
    await checked('GET', '/v1/topup-runs');
    await checked('DELETE', `/v1/topup-policies/${policy.json.id}`);
    await checked('GET', '/v1/webhook-deliveries');

    // Errors: the common error body.
    await checked('GET', '/v1/transfers/00000000-0000-4000-8000-000000000000');
    await checked('POST', '/v1/transfers', { subaccount: a, direction: 'add', amount: '1.0001' }, TOKENS.operator);
    await checked('POST', '/v1/transfers', { subaccount: a, direction: 'add', amount: '1' }, TOKENS.viewer);
    await checked('GET', '/v1/transfers', undefined, null);

    const expected = [
      'GET /v1/transfers 200', 'GET /v1/transfers/{id} 200', 'POST /v1/transfers 202', 'POST /v1/transfers 200', 'POST /v1/transfers/batch 207',
      'POST /v1/transfers/{id}/resolve 200', 'GET /v1/subaccounts 200', 'GET /v1/subaccounts/{token} 200', 'GET /v1/accounts 200',
      'GET /v1/reconciliations/{id} 200', 'GET /v1/reconciliations 200', 'GET /v1/drifts 200', 'POST /v1/drifts/{id}/resolve 200',
      'GET /v1/topup-policies 200', 'POST /v1/topup-policies 201', 'GET /v1/topup-runs 200', 'GET /v1/journal 200', 'GET /v1/webhook-deliveries 200',
      'POST /v1/audit/verify 200', 'GET /v1/audit/digests 200', 'GET /v1/journal/lines 200', 'GET /v1/reports/usage 200', 'GET /v1/provider/check 200',
      'GET /v1/transfers/{id} 404', 'POST /v1/transfers 400', 'POST /v1/transfers 403', 'GET /v1/transfers 401',
    ];
    expect([...validated]).toEqual(expect.arrayContaining(expected));
  }, 120_000);

  it('serves Swagger UI at /docs from the swagger-ui-dist package, nothing from elsewhere', async () => {
    const page = await fetch(`${stack.baseUrl}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await page.text();
    const srcs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(srcs.length).toBeGreaterThanOrEqual(3);
    for (const src of srcs) {
      expect(src.startsWith('/docs/assets/')).toBe(true);
      const asset = await fetch(`${stack.baseUrl}${src}`);
      expect(asset.status).toBe(200);
    }
    expect(await (await fetch(`${stack.baseUrl}/docs/assets/swagger-ui-bundle.js`)).text()).toContain('SwaggerUIBundle');
    expect((await fetch(`${stack.baseUrl}/docs/assets/package.json`)).status).toBe(404);
  });
});
