import { Inject, OnApplicationBootstrap } from '@nestjs/common';
import { Processor, WorkerHost } from '@nestjs/bullmq';
import { Job } from 'bullmq';
import { ExecuteTransferJob, JOBS, logContext, QUEUES } from '@app/common';
import { loadConfig } from '@app/config';
import { Services, SERVICES, WORKER_JOBS_PER_CALL_SLOT } from '@app/services';

// main.ts validated the configuration before this module was loaded.
const config = loadConfig();

/** Thin host: one queue job → the process-transfer-job use case. */
@Processor(QUEUES.transfers, {
  // Provider calls are limited to WORKER_CONCURRENCY by the use case's call slots, and to
  // PROVIDER_RATE_LIMIT_PER_SECOND by its call rate (counted in calls: BullMQ's limiter
  // would count every job, including those that make no call).
  concurrency: config.WORKER_CONCURRENCY * WORKER_JOBS_PER_CALL_SLOT,
  // The queue lock lasts as long as the execution lease (both mean "this attempt's process
  // is presumed dead after this long"). A job whose worker stalls longer (event loop blocked,
  // process stopped) is redelivered while the first attempt may still run: the claim in
  // Postgres makes that harmless (test/reliability/processes.e2e-spec.ts).
  lockDuration: config.EXECUTION_LEASE_MS,
  stalledInterval: Math.min(30_000, config.EXECUTION_LEASE_MS),
})
export class TransferExecutionProcessor extends WorkerHost implements OnApplicationBootstrap {
  private readonly handlers: Record<string, (job: Job) => Promise<unknown>>;

  constructor(@Inject(SERVICES) private readonly s: Services) {
    super();
    this.handlers = {
      [JOBS.executeTransfer]: (job) => this.s.processTransferJob.process(job.data as ExecuteTransferJob),
    };
  }

  onApplicationBootstrap(): void {
    // Startup fails if a job name has no handler.
    const missing = Object.values(JOBS).filter((name) => !this.handlers[name]);
    if (missing.length) throw new Error(`no handler for job(s): ${missing.join(', ')}`);
    this.worker.on('error', (err) => this.s.logger.warn({ err: err.message }, 'queue connection error'));
  }

  async process(job: Job): Promise<unknown> {
    const handler = this.handlers[job.name];
    if (!handler) throw new Error(`no handler for job ${job.name}`);
    // Every line logged while this job runs (use cases included) carries its id.
    return logContext.run({ jobId: job.id, queue: QUEUES.transfers, job: job.name }, () => handler(job));
  }
}
