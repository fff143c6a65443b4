import { Money } from '@app/ledger';
import { sleep, Stack, startPrivateRedis, startStack, TOKENS, waitFor } from '../support/processes';
import { checkInvariants, HEALTHY, reconcile, statusCounts, waitSettled } from './support/invariants';
import { PrivatePostgres, startPrivatePostgres } from './support/private-postgres';

/**
 * Redis and Postgres failing under a running api + worker. Both run as private servers of
 * the test (never the shared ones). The client behaves like a careful integrator: every
 * transfer has an Idempotency-Key and is retried with it until the API answers 200/202.
 */
const amountFor = (i: number) => Money.parse(((i + 1) / 1000 + 0.5).toFixed(3)).toFixed();

/**
 * Sends `count` transfers, each retried with its key until accepted; returns the refusals
 * seen. `first` numbers them, so that amounts stay unique per sub-account across calls.
 */
async function sendWithRetries(stack: Stack, count: number, prefix: string, first = 0, concurrency = 6) {
  const tokens = stack.tokens();
  const refusals: Record<string, number> = {};
  let next = first;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < first + count) {
      const i = next++;
      const deadline = Date.now() + 60_000;
      for (;;) {
        const r = await stack.call('POST', '/v1/transfers', { subaccount: tokens[i % tokens.length], direction: 'add', amount: amountFor(i) }, TOKENS.operator, { 'idempotency-key': `${prefix}-${i}` })
          .catch((err: Error) => ({ status: 0, json: { error: { code: err.message } } }));
        if (r.status === 202 || r.status === 200) break;
        const why = `${r.status}:${r.json?.error?.code}`;
        refusals[why] = (refusals[why] ?? 0) + 1;
        if (Date.now() > deadline) throw new Error(`transfer ${i} still refused after 60 s (${why})`);
        await sleep(100);
      }
      await sleep(5);
    }
  }));
  return refusals;
}

describe('infrastructure failures under load', () => {
  it('Redis killed mid-run and restarted empty (queue contents lost): every transfer still executes exactly once, no restart of api or worker', async () => {
    const redis = await startPrivateRedis();
    const stack = await startStack({ subaccounts: 10, redisUrl: redis.url, env: { WORKER_CONCURRENCY: '8', PROVIDER_RATE_LIMIT_PER_SECOND: '1000', PROVIDER_RETRY_BASE_MS: '20' } });
    let again: Awaited<ReturnType<typeof startPrivateRedis>> | undefined;
    try {
      await stack.call('POST', '/v1/subaccounts/import', undefined, TOKENS.admin);
      stack.sandbox.faults.add({ route: 'add', fault: 'latency', ms: 20, probability: 1 });
      const total = 200;
      const sending = sendWithRetries(stack, total, 'redis');
      await waitFor(async () => ((await statusCounts(stack)).posted ?? 0) >= 40, 30_000, 'some transfers to post');
      await redis.stop();
      const queuedWhenLost = total - ((await statusCounts(stack)).posted ?? 0);
      await sleep(1_500);
      again = await startPrivateRedis(redis.port);
      const refusals = await sending;
      // Recording never depends on Redis.
      expect(Object.keys(refusals)).toEqual([]);
      await waitSettled(stack, 60_000);
      expect(queuedWhenLost).toBeGreaterThan(0);
      expect(await statusCounts(stack)).toEqual({ posted: total });
      expect(stack.api.running && stack.workers[0].running).toBe(true);
      const ready = await stack.call('GET', '/health/ready', undefined, null);
      expect(ready.json.checks).toMatchObject({ postgres: 'ok', redis: 'ok', queue: 'ok' });
      expect(await checkInvariants(stack)).toMatchObject({ ...HEALTHY, trail: { ...HEALTHY.trail, transfers: total } });
    } finally {
      await stack.close();
      await (again ?? redis).stop();
    }
  }, 120_000);

  describe('Postgres (private server)', () => {
    let pg: PrivatePostgres;
    let stack: Stack;
    beforeAll(async () => {
      pg = await startPrivatePostgres();
      stack = await startStack({
        subaccounts: 10, databaseUrl: pg.url,
        env: { WORKER_CONCURRENCY: '8', PROVIDER_RATE_LIMIT_PER_SECOND: '1000', PROVIDER_RETRY_BASE_MS: '20', PROVIDER_TIMEOUT_MS: '1000', EXECUTION_LEASE_MS: '3000', RECONCILE_IN_DOUBT_GRACE_MS: '0', RECONCILE_CRON: '0 0 1 1 *' },
      });
      await stack.call('POST', '/v1/subaccounts/import', undefined, TOKENS.admin);
      stack.sandbox.faults.add({ route: 'add', fault: 'latency', ms: 20, probability: 1 });
    }, 60_000);
    afterAll(async () => {
      await stack?.close();
      await pg?.destroy();
    });

    it('every connection dropped mid-run: no transfer lost, none applied twice, no restart', async () => {
      const total = 150;
      const sending = sendWithRetries(stack, total, 'drop');
      await waitFor(async () => ((await statusCounts(stack)).posted ?? 0) >= 30, 30_000, 'some transfers to post');
      expect(await pg.dropConnections()).toBeGreaterThan(0);
      await sleep(300);
      expect(await pg.dropConnections()).toBeGreaterThan(0);
      await sending;
      await waitSettled(stack, 60_000);
      await reconcile(stack);
      const counts = await statusCounts(stack);
      expect(counts.in_doubt ?? 0).toBe(0);
      expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(total);
      expect(stack.api.running && stack.workers[0].running).toBe(true);
      expect(await checkInvariants(stack)).toMatchObject({ ...HEALTHY, trail: { ...HEALTHY.trail, transfers: total } });
    }, 120_000);

    it('Postgres crashed mid-run and restarted: requests fail cleanly (503) meanwhile, then api and worker recover by themselves; nothing lost or applied twice', async () => {
      const before = Object.values(await statusCounts(stack)).reduce((a, b) => a + b, 0);
      const total = 150;
      const sending = sendWithRetries(stack, total, 'crash', 1_000);
      await waitFor(async () => Object.values(await statusCounts(stack)).reduce((a, b) => a + b, 0) >= before + 30, 30_000, 'some transfers to be recorded');
      await pg.stop('immediate');
      // While it is down: a clear 503, never a hang or a 500.
      const down = await stack.call('GET', '/v1/transfers', undefined, TOKENS.viewer);
      expect([down.status, down.json?.error?.code]).toEqual([503, 'service_unavailable']);
      expect((await stack.call('GET', '/health/ready', undefined, null)).status).toBe(503);
      await sleep(2_000);
      await pg.start();
      const refusals = await sending;
      expect(Object.keys(refusals).filter((k) => !k.startsWith('503:'))).toEqual([]);
      expect(Object.values(refusals).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
      await waitSettled(stack, 60_000);
      await reconcile(stack);
      const counts = await statusCounts(stack);
      expect(counts.in_doubt ?? 0).toBe(0);
      expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(before + total);
      const [{ keys }] = await stack.db.query<{ keys: number }>(
        `SELECT count(DISTINCT idempotency_key)::int AS keys FROM transfers WHERE provider_account_id = $1 AND idempotency_key LIKE 'crash-%'`, [stack.providerAccount]);
      expect(keys).toBe(total);
      expect(stack.api.running && stack.workers[0].running).toBe(true);
      await waitFor(async () => (await stack.call('GET', '/health/ready', undefined, null)).status === 200, 10_000, 'the api to be ready again');
      expect(await checkInvariants(stack)).toMatchObject({ ...HEALTHY, trail: { ...HEALTHY.trail, transfers: before + total } });
    }, 150_000);
  });
});
