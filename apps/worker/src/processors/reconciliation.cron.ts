import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CronJob } from 'cron';
import { DomainError, Logger } from '@app/common';
import { Config, CONFIG, LOGGER } from '@app/config';
import { RunReconciliationUseCase } from '@app/reconciliation';

/**
 * Scheduled reconciliation (RECONCILE_CRON, default hourly). Several worker instances may
 * fire together: the database lets one run per provider account at a time, the others skip.
 */
@Injectable()
export class ReconciliationCron implements OnModuleInit {
  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly scheduler: SchedulerRegistry,
    private readonly runReconciliation: RunReconciliationUseCase,
  ) {}

  onModuleInit(): void {
    const job = CronJob.from({ cronTime: this.config.RECONCILE_CRON, onTick: () => void this.tick(), timeZone: 'UTC', start: true });
    this.scheduler.addCronJob('reconciliation', job);
  }

  async tick(): Promise<void> {
    try {
      const run = await this.runReconciliation.execute({ providerAccount: this.config.PROVIDER_ACCOUNT, trigger: 'schedule', actor: 'system:scheduler' });
      this.logger.info({ runId: run.id, status: run.status, summary: run.summary, error: run.error }, 'scheduled reconciliation finished');
    } catch (err) {
      if (err instanceof DomainError && err.code === 'reconciliation_already_running') return;
      this.logger.error({ err: (err as Error).message }, 'scheduled reconciliation could not run');
    }
  }
}
