import { OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { Logger } from '@app/common';

/**
 * A periodic worker task: registered with @nestjs/schedule (cleared on shutdown), never
 * overlapping itself, its failures logged and retried on the next tick. Every worker instance
 * runs it; the use cases behind these tasks are safe to run concurrently.
 */
export abstract class IntervalTask implements OnApplicationBootstrap {
  private running = false;

  protected constructor(
    protected readonly logger: Logger,
    private readonly scheduler: SchedulerRegistry,
    private readonly name: string,
    private readonly everyMs: number,
    private readonly runAtStart = false,
  ) {}

  protected abstract run(): Promise<void>;

  onApplicationBootstrap(): void {
    this.scheduler.addInterval(this.name, setInterval(() => void this.tick(), this.everyMs));
    if (this.runAtStart) void this.tick();
  }

  async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await this.run();
    } catch (err) {
      this.logger.warn({ task: this.name, err: (err as Error).message }, 'periodic task failed; will retry');
    } finally {
      this.running = false;
    }
  }
}
