import { Inject, Injectable } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { Logger } from '@app/common';
import { Config, CONFIG, LOGGER } from '@app/config';
import { SweepTransfersUseCase } from '@app/transfers';
import { IntervalTask } from './interval-task';

/**
 * The periodic safety net of the pipeline (expired leases → in doubt, expired transfers →
 * failed, outbox relay). Every worker instance may run it: each step is a conditional update.
 */
@Injectable()
export class TransferSweeperCron extends IntervalTask {
  constructor(@Inject(CONFIG) config: Config, @Inject(LOGGER) logger: Logger, scheduler: SchedulerRegistry, private readonly sweepTransfers: SweepTransfersUseCase) {
    super(logger, scheduler, 'transfer-sweeper', config.OUTBOX_POLL_MS);
  }

  protected async run(): Promise<void> {
    const r = await this.sweepTransfers.execute();
    if (r.leasesExpired || r.expired) this.logger.warn(r, 'sweeper settled transfers');
  }
}
