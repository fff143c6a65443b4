import { Stack, startStack, TOKENS, waitFor } from '../support/processes';

/**
 * SIGTERM is a clean stop through Nest's lifecycle: the worker stops taking jobs, lets the
 * provider calls in flight finish and records their outcome, and only then are the queues,
 * Redis and the pool closed (the pool closing first would leave those transfers `executing`
 * until their lease expires). The API closes the same way. Both exit 0.
 */
describe('graceful shutdown (SIGTERM)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ subaccounts: 3, env: { WORKER_CONCURRENCY: '4', PROVIDER_RATE_LIMIT_PER_SECOND: '1000', EXECUTION_LEASE_MS: '30000' } });
    await stack.call('POST', '/v1/subaccounts/import', undefined, TOKENS.admin);
  });
  afterAll(async () => {
    await stack.close();
  });

  it('the worker finishes the calls in flight, records them, exits 0; a new worker executes the rest; the API exits 0', async () => {
    // Slow provider answers, so that calls are in flight when the signal arrives.
    stack.sandbox.faults.add({ route: 'add', fault: 'latency', ms: 700, probability: 1 });
    const tokens = stack.tokens();
    for (let i = 0; i < 12; i++) {
      const r = await stack.call('POST', '/v1/transfers', { subaccount: tokens[i % tokens.length], direction: 'add', amount: '1.000' }, TOKENS.operator);
      expect(r.status).toBe(202);
    }
    await waitFor(async () => ((await stack.statusCounts()).executing ?? 0) > 0, 10_000, 'a transfer executing');
    const inFlight = (await stack.statusCounts()).executing;

    const code = await stack.workers[0].stop('SIGTERM', 15_000);
    expect(code).toBe(0);
    // Nothing was left mid-execution: every call in flight was answered and recorded.
    const after = await stack.statusCounts();
    expect(after.executing ?? 0).toBe(0);
    expect(after.posted ?? 0).toBeGreaterThanOrEqual(inFlight);
    expect((after.posted ?? 0) + (after.pending ?? 0)).toBe(12);

    stack.sandbox.faults.clear();
    await stack.startWorker();
    await waitFor(async () => (await stack.statusCounts()).posted === 12, 20_000, 'every transfer posted');

    expect(await stack.api.stop('SIGTERM', 15_000)).toBe(0);
    expect(stack.api.text()).not.toMatch(/error during shutdown|unexpected error/i);
  });
});
