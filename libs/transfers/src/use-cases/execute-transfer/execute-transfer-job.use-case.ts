import { ExecuteTransferJob } from '@app/common';
import { ExecuteResult, ExecuteTransferUseCase } from './execute-transfer.use-case';
import { TransferQueue } from '../../transfer-queue';

/**
 * What the worker does with one `execute-transfer` job (JOBS.executeTransfer,
 * ExecuteTransferJob): execute the transfer (ExecuteTransferUseCase), then enqueue what follows
 * (its retry after a backoff, itself when not yet due, the next transfer of the same
 * sub-account). Losing any of these enqueues is harmless: the relay finds them.
 */
export class ExecuteTransferJobUseCase {
  constructor(private readonly executeTransfer: ExecuteTransferUseCase, private readonly queue: TransferQueue) {}

  async execute(job: ExecuteTransferJob): Promise<ExecuteResult> {
    const r = await this.executeTransfer.execute(job.transferId);
    if (r.kind === 'retry') await this.queue.enqueue([{ transferId: r.transfer.id, attempt: r.transfer.attempts }], r.delayMs);
    else if (r.kind === 'skipped' && r.why === 'not_due') await this.queue.enqueue([{ transferId: job.transferId, attempt: job.attempt }], r.delayMs);
    // The next in line is free to run: to the front of the queue (see TransferQueue).
    else if (r.kind === 'done') await this.queue.enqueue(r.next, 0, { ready: true });
    return r;
  }
}
