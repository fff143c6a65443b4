import { randomBytes } from 'node:crypto';
import IORedis from 'ioredis';
import { Money } from '@app/ledger';
import { pipelineFixture } from '../../../test/support/pipeline';
import { RedisCallRate } from './provider-call-rate';
import { ExecuteTransferUseCase } from './use-cases/execute-transfer/execute-transfer.use-case';

describe('provider call rate (real Redis)', () => {
  const connections: IORedis[] = [];
  const connect = () => {
    const c = new IORedis(process.env.REDIS_URL!, { maxRetriesPerRequest: 1 });
    connections.push(c);
    return c;
  };
  const key = () => `test-${randomBytes(4).toString('hex')}:provider-calls:p`;
  /** Starts just after a second begins (Redis runs on this host's clock), so a few takes stay in one window. */
  const startOfSecond = async () => { await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20)); };
  afterAll(() => { for (const c of connections) c.disconnect(); });

  it('grants at most the limit per one-second window, shared by every worker using the key', async () => {
    const k = key();
    const workers = [new RedisCallRate(connect(), k, 3), new RedisCallRate(connect(), k, 3)];
    await startOfSecond();
    const permits = await Promise.all(Array.from({ length: 8 }, (_, i) => workers[i % 2].take()));
    const perWindow = new Map<number, number>();
    for (const p of permits) perWindow.set(p.window, (perWindow.get(p.window) ?? 0) + 1);
    expect([...perWindow.values()].sort()).toEqual([2, 3, 3]);
    const windows = [...perWindow.keys()].sort();
    expect(windows[2] - windows[0]).toBe(2); // consecutive seconds: a refused take waits for the next one
  });

  it('takes asked together go to Redis together: one round trip for those that waited, the room shared in order', async () => {
    const conn = connect();
    const rate = new RedisCallRate(conn, key(), 4);
    const scripts = { take: 0, giveBack: 0 };
    const counted = conn as unknown as Record<'providerCallTake' | 'providerCallGiveBack', (...a: unknown[]) => Promise<unknown>>;
    const take = counted.providerCallTake.bind(conn);
    const giveBack = counted.providerCallGiveBack.bind(conn);
    counted.providerCallTake = (...a) => { scripts.take++; return take(...a); };
    counted.providerCallGiveBack = (...a) => { scripts.giveBack++; return giveBack(...a); };
    await startOfSecond();
    const order: number[] = [];
    const permits = await Promise.all(Array.from({ length: 10 }, (_, i) => rate.take().then((p) => { order.push(i); return p; })));
    // The first alone, the nine that waited for it in one script; four in the first window.
    const first = permits[0].window;
    expect(permits.filter((p) => p.window === first)).toHaveLength(4);
    expect(order.slice(0, 4)).toEqual([0, 1, 2, 3]);
    expect(permits.every((p) => p.window - first <= 2)).toBe(true);
    expect(scripts.take).toBeLessThanOrEqual(2 + 2 * 2); // and the waiters again, together, in each of the next two windows
    const last = permits.filter((p) => p.window === permits[9].window);
    await Promise.all(last.map((p) => p.giveBack()));
    expect(scripts.giveBack).toBeLessThanOrEqual(2);
    // Given back: the window has room for as many again.
    const again = await Promise.all(last.map(() => rate.take()));
    expect(again.every((p) => p.window === permits[9].window)).toBe(true);
  });

  it('a permit given back in its window can be taken again in that window', async () => {
    const rate = new RedisCallRate(connect(), key(), 2);
    await startOfSecond();
    const a = await rate.take();
    const b = await rate.take();
    await a.giveBack();
    const c = await rate.take();
    expect([b.window, c.window]).toEqual([a.window, a.window]);
    await a.giveBack(); // a permit is given back once: b and c fill the window
    const d = await rate.take();
    expect(d.window).toBe(a.window + 1);
  });

  it('a permit given back after its window has passed changes nothing in the next one', async () => {
    const rate = new RedisCallRate(connect(), key(), 1);
    await startOfSecond();
    const a = await rate.take();
    const b = await rate.take(); // waits for the next window
    expect(b.window).toBe(a.window + 1);
    await a.giveBack();
    const c = await rate.take();
    expect(c.window).toBe(a.window + 2);
  });

  it('jobs that make no call (duplicates of a posted transfer) give their permit back: the window is left for calls', async () => {
    const p = await pipelineFixture({ subaccounts: 2 });
    try {
      const calls: number[] = [];
      const counted = { addCredit: async (t: string, a: Money) => { calls.push(Date.now()); return p.client.addCredit(t, a); }, removeCredit: p.client.removeCredit.bind(p.client) };
      const rate = new RedisCallRate(connect(), key(), 1);
      const execute = new ExecuteTransferUseCase(p.db, p.ledger, p.transfers, p.observations, counted, {
        providerAccount: p.providerAccount, leaseMs: 10_000, workerId: 'rated', maxAttempts: 1, baseDelayMs: 10, callRate: rate,
      });
      const rec = (s: string) => p.record.execute({ providerAccount: p.providerAccount, subaccount: s, direction: 'add', amount: Money.parse('1.000'), actor: 'system:test' });
      const first = (await rec(p.tokens[0])).transfer;
      const second = (await rec(p.tokens[1])).transfer;
      await startOfSecond();
      expect((await execute.execute(first.id)).kind).toBe('done'); // the window's one call
      await startOfSecond();
      const t0 = Date.now();
      for (let i = 0; i < 5; i++) expect(await execute.execute(first.id)).toEqual({ kind: 'skipped', why: 'not_pending' });
      expect((await execute.execute(second.id)).kind).toBe('done');
      // Five skips and a call within one window of limit 1: the skips took nothing from it.
      expect(Date.now() - t0).toBeLessThan(900);
      expect(calls).toHaveLength(2);
    } finally {
      await p.close();
    }
  });
});
