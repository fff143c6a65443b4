import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Services, SERVICES } from '@app/services';

/**
 * The periodic safety net of the pipeline (expired leases → in doubt, expired transfers →
 * failed, outbox relay). Every worker instance may run it: each step is a conditional update.
 */
@Injectable()
export class TransferSweeperCron implements OnModuleInit, OnModuleDestroy {
  private timer?: NodeJS.Timeout;
  private running = false;

  constructor(@Inject(SERVICES) private readonly s: Services) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.tick(), this.s.config.OUTBOX_POLL_MS);
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const r = await this.s.sweepTransfers.execute();
      if (r.leasesExpired || r.expired) this.s.logger.warn(r, 'sweeper settled transfers');
    } catch (err) {
      this.s.logger.warn({ err: (err as Error).message }, 'sweep failed; will retry');
    } finally {
      this.running = false;
    }
  }
}
