import { Money } from '@app/ledger';
import { AppProcess, sleep, Stack, startStack, TOKENS, waitFor } from '../support/processes';
import { checkInvariants, HEALTHY, statusCounts, waitSettled } from './support/invariants';

/**
 * The API killed with SIGKILL while a stream of single and batch transfers is being
 * recorded: each request is either fully recorded (transfer + ledger reservation + journal
 * entry, then executed by the worker) or not at all, and a retry with the same keys says which.
 */
const amountFor = (i: number) => Money.parse(((i + 1) / 1000 + 0.5).toFixed(3)).toFixed();

describe('the API killed while recording', () => {
  let stack: Stack;
  let restarted: AppProcess | undefined;
  beforeAll(async () => {
    stack = await startStack({ subaccounts: 10, env: { WORKER_CONCURRENCY: '8', PROVIDER_RATE_LIMIT_PER_SECOND: '1000' } });
    await stack.call('POST', '/v1/subaccounts/import', undefined, TOKENS.admin);
  });
  afterAll(async () => {
    await restarted?.stop();
    await stack.close();
  });

  it('every request is all or nothing; retried with its keys after a restart, each transfer exists exactly once and executes once', async () => {
    const tokens = stack.tokens();
    const singles = 300;
    const batches = 6;
    const batchSize = 50;
    const single = (i: number) => ({ body: { subaccount: tokens[i % tokens.length], direction: 'add', amount: amountFor(i) }, key: `single-${i}` });
    const batch = (b: number) => ({ transfers: Array.from({ length: batchSize }, (_, j) => {
      const i = 10_000 + b * batchSize + j;
      return { subaccount: tokens[i % tokens.length], direction: 'add', amount: amountFor(i), idempotencyKey: `batch-${b}-${j}` };
    }) });

    // Phase 1: the stream, cut by SIGKILL once some of it is through.
    const answered = new Map<string, string>(); // key → transfer id, for requests answered 202
    const unanswered: Array<{ kind: 'single'; i: number } | { kind: 'batch'; b: number }> = [];
    let next = 0;
    let killed = false;
    const sender = async () => {
      while (next < singles) {
        const i = next++;
        if (i % 50 === 25) {
          const b = (i - 25) / 50;
          const r = await stack.call('POST', '/v1/transfers/batch', batch(b), TOKENS.operator).catch(() => undefined);
          if (r?.status === 207) for (const [j, item] of r.json.results.entries()) answered.set(`batch-${b}-${j}`, item.transfer.id);
          else unanswered.push({ kind: 'batch', b });
        }
        const s = single(i);
        const r = await stack.call('POST', '/v1/transfers', s.body, TOKENS.operator, { 'idempotency-key': s.key }).catch(() => undefined);
        if (r?.status === 202) answered.set(s.key, r.json.id);
        else unanswered.push({ kind: 'single', i });
      }
    };
    const killer = (async () => {
      await waitFor(() => answered.size >= 120, 30_000, 'part of the stream to be recorded', 5);
      await stack.api.stop('SIGKILL');
      killed = true;
    })();
    await Promise.all([killer, ...Array.from({ length: 8 }, sender)]);
    expect(killed).toBe(true);
    expect(unanswered.length).toBeGreaterThan(0);

    // Right after the crash, before any retry: the database holds no half-written request.
    await sleep(500); // lets Postgres finish with the killed process's connections
    const answeredAtCrash = answered.size;
    const afterCrash = await checkInvariants(stack);
    expect(afterCrash).toMatchObject({ unbalanced: [], balanceDrift: [], ledgerTotal: '0.000', reservationWrong: [], orphanReservations: [], unjournaled: [] });
    const [{ n: recordedAtCrash }] = await stack.db.query<{ n: number }>('SELECT count(*)::int AS n FROM transfers WHERE provider_account_id = $1', [stack.providerAccount]);
    // Everything answered is there; some requests cut mid-way may be too (committed, not answered).
    expect(recordedAtCrash).toBeGreaterThanOrEqual(answered.size);

    // Phase 2: the API comes back on the same port; the client retries what got no answer.
    restarted = new AppProcess('api', stack.env).start();
    await waitFor(async () => (await fetch(`${stack.baseUrl}/health/live`)).ok, 20_000, 'the api to restart');
    let replayed = 0;
    for (const u of unanswered) {
      if (u.kind === 'single') {
        const s = single(u.i);
        const r = await stack.call('POST', '/v1/transfers', s.body, TOKENS.operator, { 'idempotency-key': s.key });
        expect([200, 202]).toContain(r.status);
        if (r.status === 200) replayed++;
        answered.set(s.key, r.json.id);
      } else {
        const r = await stack.call('POST', '/v1/transfers/batch', batch(u.b), TOKENS.operator);
        expect(r.status).toBe(207);
        for (const [j, item] of r.json.results.entries()) {
          expect([200, 202]).toContain(item.status);
          if (item.status === 200) replayed++;
          answered.set(`batch-${u.b}-${j}`, item.transfer.id);
        }
      }
    }
    // Requests the crash cut after their commit are found by the retry (200), not recorded again.
    expect(replayed).toBe(recordedAtCrash - answeredAtCrash);
    const total = singles + batches * batchSize;
    expect(answered.size).toBe(total);
    const [{ n, keys }] = await stack.db.query<{ n: number; keys: number }>(
      'SELECT count(*)::int AS n, count(DISTINCT idempotency_key)::int AS keys FROM transfers WHERE provider_account_id = $1', [stack.providerAccount]);
    expect({ n, keys }).toEqual({ n: total, keys: total });
    const ids = await stack.db.query<{ id: string; idempotency_key: string }>('SELECT id, idempotency_key FROM transfers WHERE provider_account_id = $1', [stack.providerAccount]);
    for (const row of ids) expect(answered.get(row.idempotency_key)).toBe(row.id);

    // Recorded but never enqueued (killed between commit and enqueue): the relay finds them.
    await waitSettled(stack, 60_000);
    expect(await statusCounts(stack)).toEqual({ posted: total });
    expect(await checkInvariants(stack)).toMatchObject({ ...HEALTHY, trail: { ...HEALTHY.trail, transfers: total } });
  }, 150_000);
});
