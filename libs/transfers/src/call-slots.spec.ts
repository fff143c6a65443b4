import { Semaphore } from '@app/common';
import { Money } from '@app/ledger';
import { pipelineFixture, Pipeline } from '../../../test/support/pipeline';
import { ExecuteTransferUseCase } from './use-cases/execute-transfer/execute-transfer.use-case';

const actor = 'token:operator#1/operator';

describe('Semaphore', () => {
  it('lets `size` holders in, hands a released slot to the next waiter in order, and ignores a second release', async () => {
    const s = new Semaphore(2);
    const a = await s.acquire();
    const b = await s.acquire();
    const order: string[] = [];
    const c = s.acquire().then((r) => { order.push('c'); return r; });
    const d = s.acquire().then((r) => { order.push('d'); return r; });
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual([]);
    a();
    a();
    const releaseC = await c;
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['c']);
    expect(s.inUse).toBe(2);
    b();
    (await d)();
    releaseC();
    expect(s.inUse).toBe(0);
  });
});

describe('provider call slots (Postgres, sandbox over HTTP)', () => {
  let p: Pipeline;
  beforeAll(async () => { p = await pipelineFixture({ subaccounts: 4, mainBalance: '100.000' }); });
  afterAll(async () => { await p.close(); });

  /** One transfer per sub-account, all executed at once against a provider answering in 40 ms; each must post. */
  async function executeOnePerSubaccount(execute: ExecuteTransferUseCase): Promise<string[]> {
    const ids = [];
    for (const s of p.tokens) ids.push((await p.record.execute({ providerAccount: p.providerAccount, subaccount: s, direction: 'add', amount: Money.parse('1'), actor })).transfer.id);
    p.sandbox.faults.add({ route: 'add', fault: 'latency', ms: 40, probability: 1 });
    try {
      const results = await Promise.all(ids.map((id) => execute.execute(id)));
      expect(results.map((r) => r.kind)).toEqual(['done', 'done', 'done', 'done']);
    } finally {
      p.sandbox.faults.clear();
    }
    return ids;
  }

  it('at most `size` provider calls at once, while the recording of outcomes runs outside the slots', async () => {
    let inFlight = 0;
    let most = 0;
    const counting = <A extends unknown[], R>(f: (...a: A) => Promise<R>) => async (...a: A): Promise<R> => {
      inFlight++;
      most = Math.max(most, inFlight);
      try { return await f(...a); } finally { inFlight--; }
    };
    const provider = { addCredit: counting(p.client.addCredit.bind(p.client)), removeCredit: counting(p.client.removeCredit.bind(p.client)) };
    const slots = new Semaphore(1);
    const execute = new ExecuteTransferUseCase(p.db, p.ledger, p.transfers, p.observations, provider, {
      providerAccount: p.providerAccount, leaseMs: 10_000, workerId: 'slots', maxAttempts: 1, baseDelayMs: 10, maxDelayMs: 10, callSlots: slots,
    });
    const ids = await executeOnePerSubaccount(execute);
    expect(most).toBe(1);
    expect(slots.inUse).toBe(0);
    // A skipped job gives its slot back too.
    expect(await execute.execute(ids[0])).toMatchObject({ kind: 'skipped', why: 'not_pending' });
    expect(slots.inUse).toBe(0);
  });

  it('claims outside the call slot, at most `size` claimed and waiting: a claimed transfer waits for one call at most', async () => {
    let claimed = 0;
    let called = 0;
    let inCall = 0;
    let mostWaiting = 0;
    let claimedDuringACall = false;
    const markExecuting = p.transfers.markExecuting;
    p.transfers.markExecuting = async (...a: Parameters<typeof markExecuting>) => {
      const t = await markExecuting.apply(p.transfers, a);
      claimed++;
      mostWaiting = Math.max(mostWaiting, claimed - called);
      if (inCall > 0) claimedDuringACall = true;
      return t;
    };
    const calling = <A extends unknown[], R>(f: (...a: A) => Promise<R>) => async (...a: A): Promise<R> => {
      called++;
      inCall++;
      try { return await f(...a); } finally { inCall--; }
    };
    const provider = { addCredit: calling(p.client.addCredit.bind(p.client)), removeCredit: calling(p.client.removeCredit.bind(p.client)) };
    const callSlots = new Semaphore(1);
    const claimSlots = new Semaphore(1);
    const execute = new ExecuteTransferUseCase(p.db, p.ledger, p.transfers, p.observations, provider, {
      providerAccount: p.providerAccount, leaseMs: 10_000, workerId: 'claims', maxAttempts: 1, baseDelayMs: 10, maxDelayMs: 10, callSlots, claimSlots,
    });
    try {
      await executeOnePerSubaccount(execute);
      expect([claimed, called]).toEqual([4, 4]);
      // The next transfer is claimed while the call before it is in flight (the claim no longer
      // takes the provider's concurrency), and never more than one claimed transfer waits:
      // four different sub-accounts could all have been claimed at once.
      expect(claimedDuringACall).toBe(true);
      expect(mostWaiting).toBe(1);
      expect(callSlots.inUse).toBe(0);
      expect(claimSlots.inUse).toBe(0);
    } finally {
      p.transfers.markExecuting = markExecuting;
    }
  });
});
