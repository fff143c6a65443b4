import { randomBytes, randomUUID } from 'node:crypto';
import IORedis from 'ioredis';
import { BullTransferQueue } from './transfer-queue';

describe('transfer queue (real Redis, BullMQ)', () => {
  const connection = new IORedis(process.env.REDIS_URL!, { maxRetriesPerRequest: null });
  const queue = new BullTransferQueue(connection, `test-${randomBytes(4).toString('hex')}`);
  afterAll(async () => {
    await queue.queue.obliterate({ force: true });
    await queue.close();
    connection.disconnect();
  });

  it('enqueues asked while an add is on its way go in one addBulk, each job once, in its own lane', async () => {
    const addBulk = queue.queue.addBulk.bind(queue.queue);
    const adds: number[] = [];
    queue.queue.addBulk = (jobs) => { adds.push(jobs.length); return addBulk(jobs); };
    const ready = Array.from({ length: 12 }, () => ({ transferId: randomUUID(), attempt: 0 }));
    const delayed = { transferId: randomUUID(), attempt: 1 };
    await Promise.all([
      ...ready.map((j) => queue.enqueue([j], 0, { ready: true })),
      queue.enqueue([ready[3]], 0, { ready: true }), // the same job twice: BullMQ keeps one
      queue.enqueue([delayed], 60_000),
    ]);
    // The first ready job alone, the twelve that waited in one add; the delayed one in its own.
    expect(adds.sort((a, b) => a - b)).toEqual([1, 1, 12]);
    const waiting = await queue.queue.getWaiting();
    expect(waiting.map((j) => j.data.transferId).sort()).toEqual(ready.map((j) => j.transferId).sort());
    const later = await queue.queue.getDelayed();
    expect(later.map((j) => j.data)).toEqual([delayed]);
  });
});
