import { Queue } from 'bullmq';
import IORedis from 'ioredis';
import { ExecuteTransferJob, executeTransferJobId, JOBS, QUEUES } from '@app/common';

/** The port through which transfers reach the worker. */
export interface TransferQueue {
  /** `relay`: enqueued by the outbox relay, at most once per transfer attempt every 10 s. */
  enqueue(jobs: ExecuteTransferJob[], delayMs?: number, opts?: { relay?: boolean }): Promise<void>;
}

export function redisConnection(url: string, forWorker: boolean): IORedis {
  return new IORedis(url, {
    // Workers block on Redis and must wait for it; producers must fail fast when Redis is
    // down (the outbox relay enqueues later), never hang a request.
    maxRetriesPerRequest: forWorker ? null : 1,
    enableOfflineQueue: forWorker,
    connectTimeout: 2_000,
    lazyConnect: false,
  });
}

export class BullTransferQueue implements TransferQueue {
  readonly queue: Queue<ExecuteTransferJob>;

  constructor(connection: IORedis, prefix: string) {
    this.queue = new Queue<ExecuteTransferJob>(QUEUES.transfers, { connection, prefix });
    this.queue.on('error', () => undefined);
  }

  async enqueue(jobs: ExecuteTransferJob[], delayMs = 0, opts: { relay?: boolean } = {}): Promise<void> {
    if (!jobs.length) return;
    const bucket = opts.relay ? Math.floor(Date.now() / 10_000) : undefined;
    await withTimeout(
      this.queue.addBulk(
        jobs.map((data) => ({
          name: JOBS.executeTransfer,
          data,
          opts: { jobId: executeTransferJobId(data.transferId, data.attempt, bucket), delay: delayMs, removeOnComplete: true, removeOnFail: 1000 },
        })),
      ),
      3_000,
    );
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('queue timeout')), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}
