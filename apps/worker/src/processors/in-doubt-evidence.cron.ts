import { Inject, Injectable } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { Services, SERVICES } from '@app/services';
import { IntervalTask } from './interval-task';

/**
 * Every OUTBOX_POLL_MS: probes the sub-accounts of in-doubt transfers when due, settles the
 * ones the evidence decides (IN_DOUBT_AUTO_SETTLE), then books the usage measured between
 * readings (USAGE_AUTO_BOOK). See docs/in-doubt.md. Safe with several workers: resolutions
 * lock the transfer, usage pairs are unique per reading.
 */
@Injectable()
export class InDoubtEvidenceCron extends IntervalTask {
  constructor(@Inject(SERVICES) s: Services, scheduler: SchedulerRegistry) {
    super(s, scheduler, 'in-doubt-evidence', s.config.OUTBOX_POLL_MS);
  }

  protected async run(): Promise<void> {
    if (this.s.config.IN_DOUBT_AUTO_SETTLE) {
      const r = await this.s.settleInDoubt.execute();
      if (r.settled || r.probed) this.s.logger.info(r, 'in-doubt evidence');
    }
    if (this.s.config.USAGE_AUTO_BOOK) {
      const u = await this.s.bookUsage.execute();
      if (u.bookedCount || u.unexplained) this.s.logger.info({ pairs: u.pairs, booked: u.booked.toFixed(), bookings: u.bookedCount, unexplained: u.unexplained }, 'usage booked');
    }
  }
}
