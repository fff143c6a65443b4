import { Inject, Injectable } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { Services, SERVICES } from '@app/services';
import { IntervalTask } from './interval-task';

/** Enqueues pending webhook events every OUTBOX_POLL_MS (see RelayWebhooksUseCase). */
@Injectable()
export class WebhookRelayCron extends IntervalTask {
  constructor(@Inject(SERVICES) s: Services, scheduler: SchedulerRegistry) {
    super(s, scheduler, 'webhook-relay', s.config.OUTBOX_POLL_MS);
  }

  protected async run(): Promise<void> {
    await this.s.relayWebhooks.execute();
  }
}
