import { JobType, Queue } from 'bullmq';
import IORedis from 'ioredis';
import { ExecuteTransferJob, executeTransferJobId, GroupCommit, JOBS, openQueue, QUEUES } from '@app/common';

/** The port through which transfers reach the worker. */
export interface TransferQueue {
  /**
   * `relay`: enqueued by the outbox relay, at most once per transfer attempt every 10 s, and
   * not at all while a job for that attempt is still queued (waiting or delayed).
   * `ready`: the transfer is known to be free to run now (the next in its sub-account's line,
   * enqueued when the one before it finished): it goes to the front of the queue, ahead of
   * jobs that would only find their transfer blocked behind an earlier one.
   */
  enqueue(jobs: ExecuteTransferJob[], delayMs?: number, opts?: { relay?: boolean; ready?: boolean }): Promise<void>;
}

type EnqueueOptions = { relay?: boolean; ready?: boolean };

/**
 * Enqueues that arrive while an add with the same delay and options is on its way to Redis
 * go together in the next one (GroupCommit): the next-in-line jobs of one settlement group,
 * answered together, are one `addBulk` (one round trip) instead of one each.
 */
export class BullTransferQueue implements TransferQueue {
  readonly queue: Queue<ExecuteTransferJob>;
  // Grouped by delay and options (the key), so every item of a group has the first one's.
  private readonly adds = new GroupCommit<{ jobs: ExecuteTransferJob[]; delayMs: number; opts: EnqueueOptions }, null>(async (_key, items) => {
    await this.add(items.flatMap((i) => i.jobs), items[0].delayMs, items[0].opts);
    return items.map(() => null);
  });

  constructor(connection: IORedis, prefix: string) {
    this.queue = openQueue<ExecuteTransferJob>(QUEUES.transfers, connection, prefix);
  }

  async enqueue(jobs: ExecuteTransferJob[], delayMs = 0, opts: EnqueueOptions = {}): Promise<void> {
    if (!jobs.length) return;
    await this.adds.submit(`${delayMs}:${!!opts.relay}:${!!opts.ready}`, { jobs, delayMs, opts });
  }

  private async add(jobs: ExecuteTransferJob[], delayMs: number, opts: EnqueueOptions): Promise<void> {
    const bucket = opts.relay ? Math.floor(Date.now() / 10_000) : undefined;
    if (bucket !== undefined) jobs = await withTimeout(this.notQueued(jobs, bucket), 3_000);
    if (!jobs.length) return;
    await withTimeout(
      this.queue.addBulk(
        jobs.map((data) => ({
          name: JOBS.executeTransfer,
          data,
          opts: { jobId: executeTransferJobId(data.transferId, data.attempt, bucket), delay: delayMs, lifo: !!opts.ready && !delayMs, removeOnComplete: true, removeOnFail: 1000 },
        })),
      ),
      3_000,
    );
  }

  /**
   * The jobs with no job of theirs still queued. Without this, a healthy backlog longer than
   * a relay bucket got a duplicate of every head each bucket: duplicates are harmless to the
   * money (the claim lets one through) but each takes a rate-limit slot, so the real work
   * waited behind them (found by bench/scenarios/executing.js). An `active` job does not
   * count: its worker may be dead, and the relay must not wait for BullMQ to notice.
   * One read of the queued ids (`getRanges`, one script) per relay pass: asking each job's
   * state took three scripts per head, each scanning the wait list, ~1,500 scripts per pass
   * of a 500-head backlog (docs/benchmarks.md, "Issue 16, fifth pass"). A job queued between
   * this read and the add is at worst one harmless duplicate.
   */
  private async notQueued(jobs: ExecuteTransferJob[], bucket: number): Promise<ExecuteTransferJob[]> {
    const queued = new Set(await this.queue.getRanges(QUEUED_STATES, 0, -1));
    return jobs.filter((j) => ![executeTransferJobId(j.transferId, j.attempt), executeTransferJobId(j.transferId, j.attempt, bucket - 1), executeTransferJobId(j.transferId, j.attempt, bucket)]
      .some((id) => queued.has(id)));
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

const QUEUED_STATES: JobType[] = ['waiting', 'delayed', 'prioritized', 'waiting-children'];

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('queue timeout')), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}
