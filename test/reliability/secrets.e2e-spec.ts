import { createServer, Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { freePort, Stack, startStack, TOKENS, waitFor } from '../support/processes';
import { reconcile, waitSettled } from './support/invariants';

/**
 * A full scenario run with distinctive secret values (the provider apiKey, every API token,
 * the sub-accounts' own provider keys, the webhook secret), then every output is searched
 * for them: api and worker logs (at trace level), every HTTP response the scenario got
 * (errors included), reports (CSV and JSON), journal exports, metrics (api and worker),
 * webhook deliveries, and every row of every table (provider_raw, messages, run errors…).
 */
describe('secrets never leave the process', () => {
  let stack: Stack;
  let receiver: Server;
  const delivered: string[] = [];
  const webhookSecret = `whsec-${randomBytes(16).toString('hex')}`;

  beforeAll(async () => {
    const port = await freePort();
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => { delivered.push(JSON.stringify(req.headers) + body); res.writeHead(204).end(); });
    });
    await new Promise<void>((r) => receiver.listen(port, '127.0.0.1', r));
    stack = await startStack({
      subaccounts: 4, worker: false,
      env: {
        LOG_LEVEL: 'trace', PROVIDER_TIMEOUT_MS: '1000', EXECUTION_LEASE_MS: '3000', RECONCILE_IN_DOUBT_GRACE_MS: '0', RECONCILE_CRON: '0 0 1 1 *',
        WEBHOOK_URL: `http://127.0.0.1:${port}/hook`, WEBHOOK_SECRET: webhookSecret, WEBHOOK_RETRY_BASE_MS: '50',
      },
    });
    await stack.startWorker();
  });
  afterAll(async () => {
    await stack?.close();
    await new Promise((r) => receiver?.close(r));
  });

  it('a scenario with provider errors that echo the key, failed runs and refused tokens: no output contains a secret', async () => {
    const outputs: Array<{ where: string; text: string }> = [];
    const call = async (method: string, path: string, body?: unknown, token: string | null = TOKENS.admin, headers: Record<string, string> = {}) => {
      const r = await stack.call(method, path, body, token, headers);
      outputs.push({ where: `${method} ${path} → ${r.status}`, text: `${JSON.stringify([...r.headers])}${r.text}` });
      return r;
    };
    const settle = async (id: string) => {
      await waitFor(async () => !['pending', 'executing'].includes((await stack.call('GET', `/v1/transfers/${id}`, undefined, TOKENS.viewer)).json.status), 15_000, 'the transfer to settle', 50);
    };

    expect((await call('POST', '/v1/subaccounts/import')).status).toBe(200);
    const created = await call('POST', '/v1/subaccounts', { type: 'advanced', email: 'leak-check@example.com', isBuyer: true });
    expect(created.status).toBe(201);
    const tokens = stack.tokens();
    // The sub-accounts' own provider keys (the list's entries carry them) and the API tokens,
    // echoed by the provider in its error messages (code 96: "IP not allowed for apiKey …").
    const subKeys = stack.sandbox.state.subaccountsOf(stack.apiKey).slice(0, 4).map((s) => s.apiKey);
    const faults = [
      null,
      { fault: 'error_code', code: 10, message: `Invalid API key ${stack.apiKey}` },
      { fault: 'error_code', code: 96, message: `IP not allowed for apiKey=${stack.apiKey}&x=1` },
      { fault: 'apply_then_drop' },
      { fault: 'http_500' },
      { fault: 'malformed_body' },
      { fault: 'html_error' },
      { fault: 'missing_fields' },
      { fault: 'http_429', retryAfterSeconds: 0 },
      { fault: 'apply_then_delay', ms: 1_500 },
      { fault: 'error_code', code: 96, message: `IP not allowed for apiKey (sub-account key ${subKeys[0]})` },
      { fault: 'error_code', code: 96, message: `IP 10.0.0.1 not allowed: ${subKeys[1]}, ${subKeys[2]}; caller ${TOKENS.operator}` },
      { fault: 'error_code', code: 77, message: `undocumented: ${subKeys[3]}|${stack.apiKey}|${TOKENS.admin}` },
    ] as const;
    for (const [i, f] of faults.entries()) {
      if (f) stack.sandbox.faults.add({ route: 'add', count: 1, ...f });
      const t = await call('POST', '/v1/transfers', { subaccount: tokens[i % tokens.length], direction: 'add', amount: `${i + 1}.25`, reference: `leak check ${i}` }, TOKENS.operator, { 'idempotency-key': `leak-${i}` });
      expect(t.status).toBe(202);
      await settle(t.json.id);
    }
    // The sub-account created above, after the worker started: the worker has never read its
    // key; the provider echoes it for a transfer to it.
    const createdSub = stack.sandbox.state.subaccountsOf(stack.apiKey).find((x) => x.email === 'leak-check@example.com')!;
    stack.sandbox.faults.add({ route: 'add', count: 1, fault: 'error_code', code: 96, message: `IP not allowed for apiKey ${createdSub.apiKey}` });
    const toCreated = await call('POST', '/v1/transfers', { subaccount: createdSub.token, direction: 'add', amount: '0.75' }, TOKENS.operator);
    expect(toCreated.status).toBe(202);
    await settle(toCreated.json.id);
    const createdRow = await stack.db.query<{ provider_message: string }>('SELECT provider_message FROM transfers WHERE id = $1', [toCreated.json.id]);
    expect(createdRow[0].provider_message).toBe('IP not allowed for apiKey [redacted]');
    await call('POST', '/v1/transfers/batch', { transfers: [{ subaccount: tokens[0], direction: 'remove', amount: '0.5' }, { subaccount: 'nope', direction: 'add', amount: '1' }] }, TOKENS.operator);
    await waitSettled(stack, 15_000);

    // Runs that fail reading the provider (their error is stored and shown), then a good one.
    stack.sandbox.faults.add({ route: 'me', fault: 'error_code', code: 10, message: `bad key ${stack.apiKey}`, count: 1 });
    const failed = await reconcile(stack);
    expect(failed.status).toBe('failed');
    stack.sandbox.faults.add({ route: 'me', fault: 'error_code', code: 96, message: `IP not allowed for sub-account key ${subKeys[1]}`, count: 1 });
    const failedSub = await reconcile(stack);
    expect(failedSub.status).toBe('failed');
    expect(failedSub.error).toContain('IP not allowed');
    // Provider errors on the API's own calls: create, and the list during an import.
    stack.sandbox.faults.add({ route: 'create', fault: 'error_code', code: 96, message: `IP not allowed (key ${subKeys[2]}, main ${stack.apiKey})`, count: 1 });
    const refusedCreate = await call('POST', '/v1/subaccounts', { type: 'simple', email: 'leak-check-2@example.com' });
    expect(refusedCreate.status).toBe(422);
    expect(refusedCreate.text).toContain('IP not allowed');
    stack.sandbox.faults.add({ route: 'list', fault: 'error_code', code: 96, message: `list refused for ${subKeys[0]}`, count: 1 });
    expect((await call('POST', '/v1/subaccounts/import')).status).toBe(422);
    stack.sandbox.state.usage({ token: tokens[0] }, '0.25'); // a drift, so the report has findings
    const run = await reconcile(stack);
    expect(run.status).toBe('completed');

    // Refused tokens: near misses of the real ones, in every place a token could be echoed.
    for (const wrong of [`${TOKENS.admin}x`, TOKENS.admin.slice(0, -1), `${stack.apiKey}`]) {
      await call('GET', '/v1/transfers', undefined, wrong);
      await call('POST', '/v1/transfers', '{"broken":', wrong);
    }
    await call('GET', '/v1/transfers?status=lost', undefined, TOKENS.viewer);
    await call('POST', '/v1/transfers', { subaccount: tokens[0], direction: 'add', amount: '1', apiKey: stack.apiKey }, TOKENS.operator);

    // Every read and export.
    const transfers = (await call('GET', '/v1/transfers?limit=500', undefined, TOKENS.viewer)).json.data;
    for (const t of transfers) await call('GET', `/v1/transfers/${t.id}`, undefined, TOKENS.viewer);
    for (const path of ['/v1/journal?format=csv', '/v1/journal?format=jsonl', '/v1/journal?limit=500', '/v1/accounts', `/v1/accounts/sub:${tokens[0]}/statement?format=csv`,
      '/v1/reconciliations', `/v1/reconciliations/${run.id}`, `/v1/reconciliations/${run.id}/report?format=csv`, `/v1/reconciliations/${run.id}/report`,
      `/v1/reconciliations/${failed.id}`, `/v1/reconciliations/${failed.id}/report?format=csv`, `/v1/reconciliations/${failedSub.id}`,
      `/v1/reconciliations/${failedSub.id}/report?format=csv`, `/v1/reconciliations/${failedSub.id}/report`, '/v1/drifts', '/v1/audit/digests', '/v1/subaccounts', '/v1/webhook-deliveries', '/v1/me', '/metrics', '/health/ready', '/docs-json']) {
      await call('GET', path, undefined, path.startsWith('/v1/') ? TOKENS.viewer : null);
    }
    const workerMetrics = await fetch(`${stack.workers[0].metricsUrl}/metrics`);
    outputs.push({ where: 'worker /metrics', text: await workerMetrics.text() });
    await waitFor(() => delivered.length > 0, 15_000, 'a webhook delivery');

    // Stopping flushes the logs; then everything is searched.
    for (const w of stack.workers) await w.stop();
    const tables = await stack.db.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`);
    for (const { table_name } of tables) {
      const rows = await stack.db.query<{ j: string }>(`SELECT row_to_json(t)::text AS j FROM "${table_name}" t`);
      outputs.push({ where: `table ${table_name}`, text: rows.map((r) => r.j).join('\n') });
    }
    outputs.push({ where: 'api log', text: stack.api.text() }, ...stack.workers.map((w) => ({ where: 'worker log', text: w.text() })));
    outputs.push({ where: 'webhook deliveries', text: delivered.join('\n') });

    const secrets: Record<string, string> = {
      'provider apiKey': stack.apiKey, 'admin token': TOKENS.admin, 'operator token': TOKENS.operator, 'viewer token': TOKENS.viewer, 'webhook secret': webhookSecret,
      ...Object.fromEntries(stack.sandbox.state.subaccountsOf(stack.apiKey).map((s, i) => [`sub-account ${i} apiKey`, s.apiKey])),
    };
    // The search works: the logs are verbose and really contain what was done.
    const apiLog = outputs.find((o) => o.where === 'api log')!.text;
    expect(apiLog).toContain('/v1/transfers');
    expect(outputs.find((o) => o.where === 'table transfers')!.text).toContain('Invalid API key');
    // The planted keys were really echoed, and scrubbed where they were stored.
    expect(outputs.find((o) => o.where === 'table transfers')!.text).toContain('IP not allowed for apiKey (sub-account key [redacted])');
    expect(outputs.find((o) => o.where === 'table reconciliation_runs')!.text).toContain('IP not allowed for sub-account key [redacted]');
    expect(Object.keys(secrets).filter((k) => k.startsWith('sub-account')).length).toBeGreaterThanOrEqual(4);
    const leaks = outputs.flatMap((o) => Object.entries(secrets).filter(([, v]) => o.text.includes(v)).map(([name]) => `${name} in ${o.where}`));
    expect(leaks).toEqual([]);
  }, 120_000);
});
