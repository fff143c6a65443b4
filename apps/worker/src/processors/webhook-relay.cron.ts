import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Services, SERVICES } from '@app/services';

/** Enqueues pending webhook events every OUTBOX_POLL_MS (see RelayWebhooksUseCase). */
@Injectable()
export class WebhookRelayCron implements OnModuleInit, OnModuleDestroy {
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
      await this.s.relayWebhooks.execute();
    } catch (err) {
      this.s.logger.warn({ err: (err as Error).message }, 'webhook relay could not enqueue; will retry');
    } finally {
      this.running = false;
    }
  }
}
