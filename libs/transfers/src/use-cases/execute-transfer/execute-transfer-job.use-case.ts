import { ExecuteTransferJob } from '@app/common';
import { ExecuteResult, ExecuteTransferUseCase } from './execute-transfer.use-case';
import { TransferQueue } from '../../transfer-queue';

/**
 * What the worker does with one `execute-transfer` job (JOBS.executeTransfer,
 * ExecuteTransferJob): execute the transfer (ExecuteTransferUseCase), then what follows
 * (its retry after a backoff, itself when not yet due, the next transfer of the same
 * sub-account). Losing any of these enqueues is harmless: the relay finds them.
 *
 * The next in line is free to run (its predecessor has just finished), so the job runs it
 * itself, and the one after, up to `maxChain` transfers: a job per transfer cost two BullMQ
 * scripts more each (the add, and the completion that fetches the next job), ~85 % of the
 * worker's jobs under a month-start load (docs/benchmarks.md, "Issue 16, tenth pass"). Each
 * transfer still goes through the whole use case: its rate-limit permit, its claim in
 * Postgres (which alone decides that it runs), its call slot. When the chain is long enough,
 * or the worker is stopping, the next goes to the front of the queue instead, as before.
 */
export class ExecuteTransferJobUseCase {
  private stopping = false;

  constructor(private readonly executeTransfer: ExecuteTransferUseCase, private readonly queue: TransferQueue, private readonly maxChain = 50) {}

  /** Shutdown: each running job ends after its current transfer; what follows is enqueued. */
  stopChaining(): void {
    this.stopping = true;
  }

  /** The result of the job's own transfer (the ones it went on to are in the ledger and the journal). */
  async execute(job: ExecuteTransferJob): Promise<ExecuteResult> {
    let first: ExecuteResult | undefined;
    let current = job;
    for (let run = 1; ; run++) {
      let r: ExecuteResult;
      try {
        r = await this.executeTransfer.execute(current.transferId);
      } catch (err) {
        if (!first) throw err; // the job's own transfer: BullMQ retries the job
        // A transfer this job went on to: its own job takes it from here (or the relay, if Redis is down too).
        await this.queue.enqueue([current], 0, { ready: true }).catch(() => undefined);
        return first;
      }
      first ??= r;
      if (r.kind === 'retry') await this.queue.enqueue([{ transferId: r.transfer.id, attempt: r.transfer.attempts }], r.delayMs);
      else if (r.kind === 'skipped' && r.why === 'not_due') await this.queue.enqueue([current], r.delayMs);
      if (r.kind !== 'done' || !r.next.length) return first;
      const [next, ...others] = r.next;
      const goOn = !this.stopping && run < this.maxChain;
      // What this job does not run itself is free to run too: to the front of the queue (see TransferQueue).
      const queued = goOn ? others : r.next;
      if (queued.length) await this.queue.enqueue(queued, 0, { ready: true });
      if (!goOn) return first;
      current = next;
    }
  }
}
