import { BeforeApplicationShutdown, Inject, OnApplicationBootstrap } from '@nestjs/common';
import { Processor, WorkerHost } from '@nestjs/bullmq';
import { Job } from 'bullmq';
import { ExecuteTransferJob, JOBS, logContext, Logger, QUEUES } from '@app/common';
import { loadConfig, LOGGER, WORKER_JOBS_PER_CALL_SLOT } from '@app/config';
import { ExecuteTransferJobUseCase } from '@app/transfers';

// main.ts validated the configuration before this module was loaded.
const config = loadConfig();

/** Thin host: one `execute-transfer` job → ExecuteTransferJobUseCase. */
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
export class ExecuteTransferProcessor extends WorkerHost implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly handlers: Record<string, (job: Job) => Promise<unknown>>;

  constructor(@Inject(LOGGER) private readonly logger: Logger, private readonly executeTransferJob: ExecuteTransferJobUseCase) {
    super();
    this.handlers = {
      [JOBS.executeTransfer]: (job) => this.executeTransferJob.execute(job.data as ExecuteTransferJob),
    };
  }

  onApplicationBootstrap(): void {
    // Startup fails if a job name has no handler.
    const missing = Object.values(JOBS).filter((name) => !this.handlers[name]);
    if (missing.length) throw new Error(`no handler for job(s): ${missing.join(', ')}`);
    this.worker.on('error', (err) => this.logger.warn({ err: err.message }, 'queue connection error'));
  }

  /**
   * Stops taking jobs and waits for the active ones (each ends after its current transfer,
   * whose provider call is bounded by PROVIDER_TIMEOUT_MS) before the pool and Redis close in
   * the shutdown hooks.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.executeTransferJob.stopChaining(); // a running job ends after its current transfer
    await this.worker.close();
  }

  async process(job: Job): Promise<unknown> {
    const handler = this.handlers[job.name];
    if (!handler) throw new Error(`no handler for job ${job.name}`);
    // Every line logged while this job runs (use cases included) carries its id.
    return logContext.run({ jobId: job.id, queue: QUEUES.transfers, job: job.name }, () => handler(job));
  }
}
