import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CronJob } from 'cron';
import { Services, SERVICES } from '@app/services';

/**
 * Publishes a signed digest of the journal chain head on JOURNAL_DIGEST_CRON (UTC), when a
 * JOURNAL_SIGNING_KEY is configured. Several workers firing together store one digest per
 * head (the table is unique on key and sequence).
 */
@Injectable()
export class JournalDigestCron implements OnModuleInit {
  constructor(@Inject(SERVICES) private readonly s: Services, private readonly scheduler: SchedulerRegistry) {}

  onModuleInit(): void {
    const job = CronJob.from({ cronTime: this.s.config.JOURNAL_DIGEST_CRON, onTick: () => void this.tick(), timeZone: 'UTC', start: true });
    this.scheduler.addCronJob('journal-digest', job);
  }

  async tick(): Promise<void> {
    try {
      const d = await this.s.journalDigests.take('schedule', 'system:scheduler');
      this.s.logger.info({ sequence: d.sequence, hash: d.hash, keyId: d.keyId }, 'journal digest published');
    } catch (err) {
      this.s.logger.error({ err: (err as Error).message }, 'journal digest could not be taken');
    }
  }
}
