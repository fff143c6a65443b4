import { Inject, Injectable } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { Services, SERVICES } from '@app/services';
import { IntervalTask } from './interval-task';

/**
 * The periodic safety net of the pipeline (expired leases → in doubt, expired transfers →
 * failed, outbox relay). Every worker instance may run it: each step is a conditional update.
 */
@Injectable()
export class TransferSweeperCron extends IntervalTask {
  constructor(@Inject(SERVICES) s: Services, scheduler: SchedulerRegistry) {
    super(s, scheduler, 'transfer-sweeper', s.config.OUTBOX_POLL_MS);
  }

  protected async run(): Promise<void> {
    const r = await this.s.sweepTransfers.execute();
    if (r.leasesExpired || r.expired) this.s.logger.warn(r, 'sweeper settled transfers');
  }
}
