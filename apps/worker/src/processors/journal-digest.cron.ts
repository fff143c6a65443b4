import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CronJob } from 'cron';
import { Logger } from '@app/common';
import { Config, CONFIG, LOGGER } from '@app/config';
import { JournalDigests } from '@app/persistence';

/**
 * Publishes a signed digest of the journal chain head on JOURNAL_DIGEST_CRON (UTC), when a
 * JOURNAL_SIGNING_KEY is configured. Several workers firing together store one digest per
 * head (the table is unique on key and sequence).
 */
@Injectable()
export class JournalDigestCron implements OnModuleInit {
  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly scheduler: SchedulerRegistry,
    private readonly journalDigests: JournalDigests,
  ) {}

  onModuleInit(): void {
    const job = CronJob.from({ cronTime: this.config.JOURNAL_DIGEST_CRON, onTick: () => void this.tick(), timeZone: 'UTC', start: true });
    this.scheduler.addCronJob('journal-digest', job);
  }

  async tick(): Promise<void> {
    try {
      const d = await this.journalDigests.take('schedule', 'system:scheduler');
      this.logger.info({ sequence: d.sequence, hash: d.hash, keyId: d.keyId }, 'journal digest published');
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'journal digest could not be taken');
    }
  }
}
