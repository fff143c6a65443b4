import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, startPrivateRedis, Stack, startStack, TOKENS, waitFor } from './support/processes';

/**
 * /metrics of a real API and worker, scraped as Prometheus would: names follow Prometheus
 * conventions (one unit per metric, `_total` only on counters), every transfer status is
 * there (0 when empty), drift is split into a count and a gross amount in euros, the API
 * times HTTP requests by route template and its own provider reads, the worker its credit
 * calls, both expose Node's default metrics; the worker answers /health/ready.
 */
interface Family { type: string; samples: Array<{ name: string; labels: Record<string, string>; value: number }> }

/** Parses the Prometheus text format (enough of it: TYPE lines and samples). */
function parse(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  let current: Family | undefined;
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      current = { type: type[2], samples: [] };
      families.set(type[1], current);
      continue;
    }
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    current!.samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return families;
}

function sample(f: Map<string, Family>, family: string, labels: Record<string, string>, name = family): number | undefined {
  const fam = f.get(family);
  if (!fam) throw new Error(`no metric family ${family}; have ${[...f.keys()].join(', ')}`);
  return fam.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

/** Prometheus naming: counters and only counters end in _total; a unit suffix when the name says one. */
function checkNames(f: Map<string, Family>): void {
  for (const [name, fam] of f) {
    if (!name.startsWith('credit_ledger_')) continue;
    expect({ name, counter: fam.type === 'counter' }).toEqual({ name, counter: name.endsWith('_total') });
    if (/(age|duration|timestamp)/.test(name)) expect(name).toMatch(/_seconds(_total)?$/);
    expect(name).not.toMatch(/eur(?!os)/);
  }
}

describe('/metrics of the API and the worker', () => {
  let stack: Stack;
  let a: string;
  let b: string;

  beforeAll(async () => {
    stack = await startStack({ subaccounts: 3, env: { RECONCILE_CRON: '0 0 1 1 *' } });
    expect((await stack.call('POST', '/v1/subaccounts/import')).status).toBe(200);
    [a, b] = stack.tokens();
  }, 60_000);

  afterAll(async () => {
    await stack?.close();
  });

  it('API: every transfer status at 0 before any transfer, open drift count and euros at 0, default Node metrics', async () => {
    const f = parse((await stack.call('GET', '/metrics', undefined, null)).text);
    checkNames(f);
    for (const status of ['pending', 'executing', 'posted', 'failed', 'in_doubt', 'voided']) {
      expect(sample(f, 'credit_ledger_transfers', { provider_account: stack.providerAccount, status })).toBe(0);
    }
    expect(f.get('credit_ledger_transfers')!.type).toBe('gauge');
    expect(f.has('credit_ledger_open_drift_total')).toBe(false);
    expect(sample(f, 'credit_ledger_open_drifts', { provider_account: stack.providerAccount })).toBe(0);
    expect(sample(f, 'credit_ledger_open_drift_euros', { provider_account: stack.providerAccount })).toBe(0);
    expect(sample(f, 'credit_ledger_in_doubt_transfers', { provider_account: stack.providerAccount })).toBe(0);
    expect(sample(f, 'credit_ledger_in_doubt_oldest_age_seconds', { provider_account: stack.providerAccount })).toBe(0);
    expect(f.get('process_cpu_user_seconds_total')!.type).toBe('counter');
    expect(f.get('nodejs_heap_size_used_bytes')!.type).toBe('gauge');
    expect(f.get('nodejs_eventloop_lag_seconds')!.type).toBe('gauge');
    // The import read the provider from the API process: timed here.
    expect(sample(f, 'credit_ledger_provider_calls_total', { operation: 'list', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(sample(f, 'credit_ledger_provider_calls_total', { operation: 'add', outcome: 'unknown' })).toBe(0);
  });

  it('after a posted transfer and a reconciliation with drifts both ways: counts, gross drift euros, timed provider reads, HTTP histogram by route', async () => {
    const t = await stack.call('POST', '/v1/transfers', { subaccount: a, direction: 'add', amount: '20' }, TOKENS.operator);
    expect(t.status).toBe(202);
    await waitFor(async () => (await stack.call('GET', `/v1/transfers/${t.json.id}`)).json.status === 'posted', 15_000, 'the transfer to be posted');
    // a: 2.5 of SMS sent (-2.500); b: the provider shows 4.3 more than the ledger (+4.300).
    stack.sandbox.state.usage({ token: a }, '2.5');
    stack.sandbox.state.setBalance({ token: b }, '4.3');
    const before = parse((await stack.call('GET', '/metrics', undefined, null)).text);
    const meBefore = sample(before, 'credit_ledger_provider_calls_total', { operation: 'me', outcome: 'ok' }) ?? 0;
    const run = await stack.call('POST', '/v1/reconciliations', undefined, TOKENS.operator);
    await waitFor(async () => (await stack.call('GET', `/v1/reconciliations/${run.json.id}`)).json.status === 'completed', 20_000, 'the run to complete');

    const f = parse((await stack.call('GET', '/metrics', undefined, null)).text);
    checkNames(f);
    expect(sample(f, 'credit_ledger_transfers', { provider_account: stack.providerAccount, status: 'posted' })).toBe(1);
    expect(sample(f, 'credit_ledger_transfers', { provider_account: stack.providerAccount, status: 'failed' })).toBe(0);
    expect(sample(f, 'credit_ledger_open_drifts', { provider_account: stack.providerAccount })).toBe(2);
    expect(f.get('credit_ledger_open_drift_euros')!.type).toBe('gauge');
    expect(sample(f, 'credit_ledger_open_drift_euros', { provider_account: stack.providerAccount })).toBeCloseTo(6.8, 9);
    expect(sample(f, 'credit_ledger_last_reconciliation_success', { provider_account: stack.providerAccount })).toBe(1);
    expect(sample(f, 'credit_ledger_last_reconciliation_drifted_accounts', { provider_account: stack.providerAccount })).toBe(2);
    expect(Math.abs(sample(f, 'credit_ledger_last_reconciliation_timestamp_seconds', { provider_account: stack.providerAccount })! - Date.now() / 1000)).toBeLessThan(60);
    // The run (started from the API) read the provider's main account from this process.
    expect(sample(f, 'credit_ledger_provider_calls_total', { operation: 'me', outcome: 'ok' })).toBe(meBefore + 1);
    expect(f.get('credit_ledger_provider_call_duration_seconds')!.type).toBe('histogram');
    expect(sample(f, 'credit_ledger_provider_call_duration_seconds', { operation: 'me', outcome: 'ok' }, 'credit_ledger_provider_call_duration_seconds_count')).toBe(meBefore + 1);

    const http = f.get('credit_ledger_http_request_duration_seconds')!;
    expect(http.type).toBe('histogram');
    expect(sample(f, 'credit_ledger_http_request_duration_seconds', { method: 'GET', route: '/v1/transfers/:id', status_code: '200' }, 'credit_ledger_http_request_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(sample(f, 'credit_ledger_http_request_duration_seconds', { method: 'POST', route: '/v1/transfers', status_code: '202' }, 'credit_ledger_http_request_duration_seconds_count')).toBe(1);
    // Route templates, never concrete ids: the series stay bounded.
    expect(http.samples.some((s) => /[0-9a-f]{8}-[0-9a-f]{4}/.test(s.labels.route ?? ''))).toBe(false);
    await stack.call('GET', '/no/such/route', undefined, null);
    const after = parse((await stack.call('GET', '/metrics', undefined, null)).text);
    expect(sample(after, 'credit_ledger_http_request_duration_seconds', { route: 'unmatched', status_code: '404' }, 'credit_ledger_http_request_duration_seconds_count')).toBe(1);
  }, 60_000);

  it('worker: its credit calls timed with outcomes (zeros included), default metrics, and /health/ready', async () => {
    const w = stack.workers[0];
    const f = parse(await (await fetch(`${w.metricsUrl}/metrics`)).text());
    checkNames(f);
    expect(sample(f, 'credit_ledger_provider_calls_total', { operation: 'add', outcome: 'ok' })).toBe(1);
    expect(sample(f, 'credit_ledger_provider_calls_total', { operation: 'remove', outcome: 'ok' })).toBe(0);
    expect(sample(f, 'credit_ledger_provider_calls_total', { operation: 'add', outcome: 'unknown' })).toBe(0);
    expect(sample(f, 'credit_ledger_provider_call_duration_seconds', { operation: 'add', outcome: 'ok' }, 'credit_ledger_provider_call_duration_seconds_count')).toBe(1);
    expect(f.get('process_resident_memory_bytes')!.type).toBe('gauge');
    const ready = await fetch(`${w.metricsUrl}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { postgres: 'ok', redis: 'ok' } });
    expect((await fetch(`${w.metricsUrl}/nope`)).status).toBe(404);
  });

  it('the Grafana dashboard (docs/grafana-dashboard.json) and the table of docs/operations.md name only metrics the processes export', async () => {
    const api = parse((await stack.call('GET', '/metrics', undefined, null)).text);
    const worker = parse(await (await fetch(`${stack.workers[0].metricsUrl}/metrics`)).text());
    const exported = new Set<string>();
    for (const f of [api, worker]) for (const [name, fam] of f) { exported.add(name); for (const s of fam.samples) exported.add(s.name); }
    const dashboard = JSON.parse(readFileSync(join(ROOT, 'docs', 'grafana-dashboard.json'), 'utf8'));
    expect(dashboard.__inputs[0]).toMatchObject({ name: 'DS_PROMETHEUS', pluginId: 'prometheus' });
    const exprs: string[] = dashboard.panels.flatMap((p: any) => p.targets.map((t: any) => t.expr));
    expect(exprs.length).toBeGreaterThan(15);
    const used = new Set(exprs.flatMap((e) => e.match(/\b(credit_ledger|process|nodejs)_\w+/g) ?? []));
    expect([...used].filter((n) => !exported.has(n))).toEqual([]);
    const documented = [...readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8').matchAll(/^\| `(credit_ledger_\w+)/gm)].map((m) => m[1]);
    expect(documented.length).toBeGreaterThan(15);
    expect(documented.filter((n) => !exported.has(n))).toEqual([]);
    // …and every credit_ledger_ family exported is in the table.
    expect([...exported].filter((n) => /^credit_ledger_\w+$/.test(n) && (api.has(n) || worker.has(n)) && !documented.includes(n))).toEqual([]);
  });

  it('worker /health/ready answers 503 naming Redis when Redis is down', async () => {
    const redis = await startPrivateRedis();
    let redisStopped = false;
    const own = await startStack({ subaccounts: 1, redisUrl: redis.url, env: { RECONCILE_CRON: '0 0 1 1 *' } });
    try {
      const url = `${own.workers[0].metricsUrl}/health/ready`;
      expect((await fetch(url)).status).toBe(200);
      await redis.stop();
      redisStopped = true;
      let body: any;
      await waitFor(async () => {
        const res = await fetch(url);
        body = await res.json();
        return res.status === 503;
      }, 15_000, 'the worker to report not ready');
      expect(body.status).toBe('not_ready');
      expect(body.checks.postgres).toBe('ok');
      expect(body.checks.redis).toMatch(/^down/);
    } finally {
      await own.close();
      if (!redisStopped) await redis.stop();
    }
  }, 60_000);
});
