import { Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { Services, SERVICES } from '@app/services';

/**
 * Runs due top-up periods every TOPUP_TICK_MS (default a minute) and once at start, which is
 * the catch-up after downtime. Every worker instance ticks: the database lets one run per
 * (policy, period) through, the others find it done (docs/topups.md).
 */
@Injectable()
export class TopupsCron implements OnApplicationBootstrap {
  private running = false;

  constructor(@Inject(SERVICES) private readonly s: Services, private readonly scheduler: SchedulerRegistry) {}

  onApplicationBootstrap(): void {
    this.scheduler.addInterval('topups', setInterval(() => void this.tick(), this.s.config.TOPUP_TICK_MS));
    void this.tick();
  }

  async tick(): Promise<void> {
    // A slow tick (target mode reads the provider) is not overlapped by the next one.
    if (this.running) return;
    this.running = true;
    try {
      const r = await this.s.runDueTopups.execute(this.s.providerAccount);
      if (r.decided || r.skipped || r.failed || r.missed || r.deferred) {
        this.s.logger.info({ decided: r.decided, skipped: r.skipped, failed: r.failed, missed: r.missed, deferred: r.deferred, transfers: r.transfers.map((t) => t.id) }, 'top-ups ran');
      }
    } catch (err) {
      this.s.logger.error({ err: (err as Error).message }, 'top-up tick failed; will retry');
    } finally {
      this.running = false;
    }
  }
}
