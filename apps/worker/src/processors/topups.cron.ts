import { Inject, Injectable } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { Logger } from '@app/common';
import { Config, CONFIG, LOGGER } from '@app/config';
import { RunDueTopupsUseCase } from '@app/topups';
import { IntervalTask } from './interval-task';

/**
 * Runs due top-up periods every TOPUP_TICK_MS (default a minute) and once at start, which is
 * the catch-up after downtime. Every worker instance ticks: the database lets one run per
 * (policy, period) through, the others find it done (docs/topups.md). A slow tick (target mode
 * reads the provider) is not overlapped by the next one.
 */
@Injectable()
export class TopupsCron extends IntervalTask {
  private readonly providerAccount: string;

  constructor(@Inject(CONFIG) config: Config, @Inject(LOGGER) logger: Logger, scheduler: SchedulerRegistry, private readonly runDueTopups: RunDueTopupsUseCase) {
    super(logger, scheduler, 'topups', config.TOPUP_TICK_MS, true);
    this.providerAccount = config.PROVIDER_ACCOUNT;
  }

  protected async run(): Promise<void> {
    const r = await this.runDueTopups.execute(this.providerAccount);
    if (r.decided || r.skipped || r.failed || r.missed || r.deferred) {
      this.logger.info({ decided: r.decided, skipped: r.skipped, failed: r.failed, missed: r.missed, deferred: r.deferred, transfers: r.transfers.map((t) => t.id) }, 'top-ups ran');
    }
  }
}
