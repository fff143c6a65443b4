import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CronJob } from 'cron';
import { DomainError } from '@app/common';
import { Services, SERVICES } from '@app/services';

/**
 * Scheduled reconciliation (RECONCILE_CRON, default hourly). Several worker instances may
 * fire together: the database lets one run per provider account at a time, the others skip.
 */
@Injectable()
export class ReconciliationCron implements OnModuleInit {
  constructor(@Inject(SERVICES) private readonly s: Services, private readonly scheduler: SchedulerRegistry) {}

  onModuleInit(): void {
    const job = CronJob.from({ cronTime: this.s.config.RECONCILE_CRON, onTick: () => void this.tick(), timeZone: 'UTC', start: true });
    this.scheduler.addCronJob('reconciliation', job);
  }

  async tick(): Promise<void> {
    try {
      const run = await this.s.runReconciliation.execute({ providerAccount: this.s.providerAccount, trigger: 'schedule', actor: 'system:scheduler' });
      this.s.logger.info({ runId: run.id, status: run.status, summary: run.summary, error: run.error }, 'scheduled reconciliation finished');
    } catch (err) {
      if (err instanceof DomainError && err.code === 'reconciliation_already_running') return;
      this.s.logger.error({ err: (err as Error).message }, 'scheduled reconciliation could not run');
    }
  }
}
