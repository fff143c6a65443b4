import { Inject, Injectable } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { Logger } from '@app/common';
import { Config, CONFIG, LOGGER } from '@app/config';
import { BookUsageUseCase } from '@app/reconciliation';
import { SettleInDoubtUseCase } from '@app/transfers';
import { IntervalTask } from './interval-task';

/**
 * Every OUTBOX_POLL_MS: probes the sub-accounts of in-doubt transfers when due, settles the
 * ones the evidence decides (IN_DOUBT_AUTO_SETTLE), then books the usage measured between
 * readings (USAGE_AUTO_BOOK). See docs/in-doubt.md. Safe with several workers: resolutions
 * lock the transfer, usage pairs are unique per reading.
 */
@Injectable()
export class InDoubtEvidenceCron extends IntervalTask {
  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) logger: Logger,
    scheduler: SchedulerRegistry,
    private readonly settleInDoubt: SettleInDoubtUseCase,
    private readonly bookUsage: BookUsageUseCase,
  ) {
    super(logger, scheduler, 'in-doubt-evidence', config.OUTBOX_POLL_MS);
  }

  protected async run(): Promise<void> {
    if (this.config.IN_DOUBT_AUTO_SETTLE) {
      const r = await this.settleInDoubt.execute();
      if (r.settled || r.probed) this.logger.info(r, 'in-doubt evidence');
    }
    if (this.config.USAGE_AUTO_BOOK) {
      // A fifth of the tick at most: booking is never urgent (a run books what it compares).
      const u = await this.bookUsage.execute(this.config.OUTBOX_POLL_MS / 5);
      if (u.bookedCount || u.unexplained) this.logger.info({ pairs: u.pairs, booked: u.booked.toFixed(), bookings: u.bookedCount, unexplained: u.unexplained }, 'usage booked');
    }
  }
}
