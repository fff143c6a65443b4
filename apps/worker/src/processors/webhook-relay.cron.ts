import { Inject, Injectable } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { Logger } from '@app/common';
import { Config, CONFIG, LOGGER } from '@app/config';
import { RelayWebhooksUseCase } from '@app/webhooks';
import { IntervalTask } from './interval-task';

/** Enqueues pending webhook events every OUTBOX_POLL_MS (see RelayWebhooksUseCase). */
@Injectable()
export class WebhookRelayCron extends IntervalTask {
  constructor(@Inject(CONFIG) config: Config, @Inject(LOGGER) logger: Logger, scheduler: SchedulerRegistry, private readonly relayWebhooks: RelayWebhooksUseCase) {
    super(logger, scheduler, 'webhook-relay', config.OUTBOX_POLL_MS);
  }

  protected async run(): Promise<void> {
    await this.relayWebhooks.execute();
  }
}
