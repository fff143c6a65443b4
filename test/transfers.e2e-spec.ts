import { Money } from '@app/ledger';
import { checkMoneyTrail } from './support/money-trail';
import { sleep, Stack, startPrivateRedis, startStack, TOKENS, waitFor } from './support/processes';

/** Unique, small amounts: the i-th transfer of a run moves (i + 1) thousandths plus a base. */
const amountFor = (i: number) => Money.parse(((i + 1) / 1000 + 0.5).toFixed(3)).toFixed();

async function sendTransfers(stack: Stack, count: number, tokens: string[], concurrency = 16) {
  const statuses: number[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      const i = next++;
      const r = await stack.call('POST', '/v1/transfers', { subaccount: tokens[i % tokens.length], direction: 'add', amount: amountFor(i) }, TOKENS.operator, { 'idempotency-key': `run-${i}` });
      statuses.push(r.status);
    }
  }));
  return statuses;
}

describe('transfers end to end (api + worker processes, Postgres, Redis, sandbox)', () => {
  describe('a user', () => {
    let stack: Stack;
    beforeAll(async () => { stack = await startStack({ subaccounts: 3 }); });
    afterAll(async () => { await stack.close(); });

    it('imports sub-accounts, creates a transfer and sees it posted within a second', async () => {
      const imp = await stack.call('POST', '/v1/subaccounts/import', undefined, TOKENS.admin);
      expect(imp.status).toBe(200);
      expect(imp.json).toMatchObject({ total: 3, imported: 3, mainOpeningBalance: '10000.000' });
      const [token] = stack.tokens();
      const started = Date.now();
      const created = await stack.call('POST', '/v1/transfers', { subaccount: token, direction: 'add', amount: '25.5', reference: 'November top-up' }, TOKENS.operator);
      expect(created.status).toBe(202);
      expect(created.json).toMatchObject({ subaccount: token, direction: 'add', amount: '25.500', status: 'pending', reference: 'November top-up', provider: null });
      let posted: any;
      await waitFor(async () => {
        posted = (await stack.call('GET', `/v1/transfers/${created.json.id}`, undefined, TOKENS.viewer)).json;
        return posted.status === 'posted';
      }, 5_000, 'the transfer to be posted', 20);
      // Server-side: recorded → provider answer → posted, as the transfer's own timestamps say
      // (the test's polling and this process's load are not the pipeline's latency).
      expect(new Date(posted.updatedAt).getTime() - new Date(posted.createdAt).getTime()).toBeLessThan(1_000);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(posted.provider).toMatchObject({ code: 200, credit: '9974.500', subaccountCredit: '25.500' });
      const sub = await stack.call('GET', `/v1/subaccounts/${token}`, undefined, TOKENS.viewer);
      expect(sub.json).toMatchObject({ token, balance: { posted: '25.500', pending: '0.000', available: '25.500' }, observed: { balance: '25.500', source: 'transfer' } });
      const accounts = await stack.call('GET', '/v1/accounts', undefined, TOKENS.viewer);
      expect(accounts.json.data.find((a: any) => a.code === 'main').balance.posted).toBe('9974.500');
      const verify = await stack.call('GET', '/v1/audit/verify', undefined, TOKENS.viewer);
      expect(verify.json).toMatchObject({ ok: true, brokenAt: null });
      const list = await stack.call('GET', `/v1/transfers?status=posted&subaccount=${token}`, undefined, TOKENS.viewer);
      expect(list.json.data.map((t: any) => t.id)).toContain(created.json.id);
    });

    it('refuses bad input on every transfer route with a clear 4xx, and writes nothing', async () => {
      const before = await stack.statusCounts();
      const [token] = stack.tokens();
      const bad: Array<[string, string, unknown, number, string]> = [
        ['POST', '/v1/transfers', '{not json', 400, 'validation_failed'],
        ['POST', '/v1/transfers', { subaccount: token, direction: 'add', amount: '1.0001' }, 400, 'validation_failed'],
        ['POST', '/v1/transfers', '{"subaccount":"' + token + '","direction":"add","amount":1e2}', 400, 'validation_failed'],
        ['POST', '/v1/transfers', { subaccount: token, direction: 'add', amount: '-5' }, 400, 'validation_failed'],
        ['POST', '/v1/transfers', { subaccount: token, direction: 'add', amount: '0' }, 400, 'validation_failed'],
        ['POST', '/v1/transfers', { subaccount: token, direction: 'add', amount: 'NaN' }, 400, 'validation_failed'],
        ['POST', '/v1/transfers', { subaccount: token, direction: 'add', amount: '100000.001' }, 400, 'validation_failed'],
        ['POST', '/v1/transfers', { subaccount: token, direction: 'sideways', amount: '1' }, 400, 'validation_failed'],
        ['POST', '/v1/transfers', { subaccount: token, direction: 'add', amount: '1', surprise: true }, 400, 'validation_failed'],
        ['POST', '/v1/transfers', { subaccount: 'no-such-sub', direction: 'add', amount: '1' }, 404, 'subaccount_not_found'],
        ['POST', '/v1/transfers', { subaccount: token, direction: 'remove', amount: '99999' }, 422, 'insufficient_available_balance'],
        ['POST', '/v1/transfers/batch', { transfers: [] }, 400, 'validation_failed'],
        ['GET', '/v1/transfers?limit=501', undefined, 400, 'validation_failed'],
        ['GET', '/v1/transfers?status=lost', undefined, 400, 'validation_failed'],
        ['GET', '/v1/transfers?from=yesterday', undefined, 400, 'validation_failed'],
        ['GET', '/v1/transfers/123', undefined, 400, 'validation_failed'],
        ['GET', '/v1/transfers/00000000-0000-4000-8000-000000000000', undefined, 404, 'transfer_not_found'],
        ['POST', '/v1/transfers/00000000-0000-4000-8000-000000000000/resolve', { outcome: 'applied', reason: 'x' }, 404, 'transfer_not_found'],
        ['POST', `/v1/transfers/00000000-0000-4000-8000-000000000000/resolve`, { outcome: 'maybe', reason: 'x' }, 400, 'validation_failed'],
        ['GET', '/v1/accounts/nope/balance', undefined, 400, 'validation_failed'],
        ['GET', '/v1/accounts/sub:unknown/balance', undefined, 404, 'account_not_found'],
        ['GET', '/v1/journal?format=xml', undefined, 400, 'validation_failed'],
        ['GET', '/v1/subaccounts/bad%20token', undefined, 400, 'validation_failed'],
      ];
      for (const [method, path, body, status, code] of bad) {
        const r = await stack.call(method, path, body, TOKENS.admin);
        expect({ method, path, status: r.status, code: r.json?.error?.code }).toEqual({ method, path, status, code });
        expect(typeof r.json.error.message).toBe('string');
      }
      expect(await stack.statusCounts()).toEqual(before);
    });

    it('authenticates every /v1 route and enforces roles', async () => {
      expect((await stack.call('GET', '/v1/transfers', undefined, null)).status).toBe(401);
      expect((await stack.call('GET', '/v1/transfers', undefined, 'wrong-token-123')).status).toBe(401);
      expect((await stack.call('POST', '/v1/transfers', { subaccount: 'x', direction: 'add', amount: '1' }, TOKENS.viewer)).status).toBe(403);
      expect((await stack.call('POST', '/v1/subaccounts/import', undefined, TOKENS.operator)).status).toBe(403);
      expect((await stack.call('GET', '/health/ready', undefined, null)).status).toBe(200);
    });

    it('Idempotency-Key: the same request returns the original (200), another body is a 409', async () => {
      const [, token] = stack.tokens();
      const body = { subaccount: token, direction: 'add', amount: '3' };
      const first = await stack.call('POST', '/v1/transfers', body, TOKENS.operator, { 'idempotency-key': 'order-77' });
      const again = await stack.call('POST', '/v1/transfers', body, TOKENS.operator, { 'idempotency-key': 'order-77' });
      const other = await stack.call('POST', '/v1/transfers', { ...body, amount: '4' }, TOKENS.operator, { 'idempotency-key': 'order-77' });
      expect([first.status, again.status, other.status]).toEqual([202, 200, 409]);
      expect(again.json.id).toBe(first.json.id);
      expect(other.json.error.code).toBe('idempotency_key_reused');
    });

    it('batch: per-item results, refused items leave the others recorded', async () => {
      const [, , token] = stack.tokens();
      const r = await stack.call('POST', '/v1/transfers/batch', { transfers: [
        { subaccount: token, direction: 'add', amount: '1', idempotencyKey: 'b-1' },
        { subaccount: 'ghost', direction: 'add', amount: '1' },
        { subaccount: token, direction: 'add', amount: '1.23456' },
        { subaccount: token, direction: 'remove', amount: '500' },
        { subaccount: token, direction: 'add', amount: '2' },
      ] }, TOKENS.operator);
      expect(r.status).toBe(207);
      expect(r.json.results.map((x: any) => [x.index, x.status, x.error?.code ?? x.transfer.status])).toEqual([
        [0, 202, 'pending'], [1, 404, 'subaccount_not_found'], [2, 400, 'validation_failed'], [3, 422, 'insufficient_available_balance'], [4, 202, 'pending'],
      ]);
    });
  });

  it('1,000 transfers over 50 sub-accounts with 10% "applied, answer lost", 5% 429, 5% 5xx: nothing lost, nothing applied twice', async () => {
    const stack = await startStack({ subaccounts: 50, env: { WORKER_CONCURRENCY: '16', PROVIDER_RATE_LIMIT_PER_SECOND: '1000', PROVIDER_MAX_ATTEMPTS: '6' } });
    try {
      await stack.call('POST', '/v1/subaccounts/import', undefined, TOKENS.admin);
      stack.sandbox.faults.add({ route: 'add', fault: 'apply_then_drop', probability: 0.10, seed: 'drop' });
      stack.sandbox.faults.add({ route: 'add', fault: 'http_429', probability: 0.05 / 0.90, seed: '429' });
      stack.sandbox.faults.add({ route: 'add', fault: 'http_503', probability: 0.05 / 0.85, seed: '5xx' });
      const statuses = await sendTransfers(stack, 1000, stack.tokens());
      expect(statuses.filter((s) => s === 202)).toHaveLength(1000);
      await waitFor(async () => {
        const c = await stack.statusCounts();
        return (c.pending ?? 0) === 0 && (c.executing ?? 0) === 0;
      }, 120_000, 'every transfer to reach a final or in-doubt state', 250);
      const counts = await stack.statusCounts();
      const trail = await checkMoneyTrail(stack.db, stack.sandbox, stack.providerAccount, stack.apiKey);
      expect(trail).toMatchObject({ transfers: 1000, unmatched: [], appliedTwice: [], postedNotApplied: [], failedButApplied: [], notFinal: [], mismatches: [] });
      // Roughly the injected fault rates: in doubt ≈ 10% answer lost + 5% 5xx.
      expect(counts.in_doubt).toBeGreaterThan(80);
      expect(counts.in_doubt).toBeLessThan(250);
      expect(counts.posted).toBeGreaterThan(700);
      const verify = await stack.call('GET', '/v1/audit/verify', undefined, TOKENS.viewer);
      expect(verify.json.ok).toBe(true);
    } finally {
      await stack.close();
    }
  }, 180_000);

  it('the worker killed with SIGKILL mid-run, then restarted: nothing lost, nothing applied twice', async () => {
    const stack = await startStack({ subaccounts: 20, env: { WORKER_CONCURRENCY: '8', EXECUTION_LEASE_MS: '2500', PROVIDER_TIMEOUT_MS: '1000' } });
    try {
      await stack.call('POST', '/v1/subaccounts/import', undefined, TOKENS.admin);
      stack.sandbox.faults.add({ route: 'add', fault: 'latency', ms: 40, probability: 1 });
      const sending = sendTransfers(stack, 300, stack.tokens(), 8);
      await waitFor(async () => ((await stack.statusCounts()).posted ?? 0) >= 30, 30_000, 'some transfers to post');
      await stack.workers[0].stop('SIGKILL');
      await sending;
      await sleep(500);
      await stack.startWorker();
      await waitFor(async () => {
        const c = await stack.statusCounts();
        return (c.pending ?? 0) === 0 && (c.executing ?? 0) === 0;
      }, 90_000, 'the restarted worker to finish', 250);
      const trail = await checkMoneyTrail(stack.db, stack.sandbox, stack.providerAccount, stack.apiKey);
      expect(trail).toMatchObject({ transfers: 300, unmatched: [], appliedTwice: [], postedNotApplied: [], failedButApplied: [], notFinal: [], mismatches: [] });
    } finally {
      await stack.close();
    }
  }, 150_000);

  it('Redis down while transfers are recorded: requests still succeed, and every transfer executes once Redis is back', async () => {
    const redis = await startPrivateRedis();
    const stack = await startStack({ subaccounts: 5, redisUrl: redis.url });
    try {
      await stack.call('POST', '/v1/subaccounts/import', undefined, TOKENS.admin);
      await redis.stop();
      const statuses = await sendTransfers(stack, 20, stack.tokens(), 4);
      expect(statuses).toEqual(Array(20).fill(202));
      expect((await stack.statusCounts()).pending).toBe(20);
      const again = await startPrivateRedis(redis.port);
      try {
        await waitFor(async () => ((await stack.statusCounts()).posted ?? 0) === 20, 60_000, 'all 20 transfers to post after Redis came back', 250);
      } finally {
        await stack.close();
        await again.stop();
      }
    } catch (err) {
      await stack.close().catch(() => undefined);
      throw err;
    }
  }, 120_000);
});
