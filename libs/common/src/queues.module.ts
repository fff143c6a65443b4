import { DynamicModule, Global, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { Queue } from 'bullmq';
import IORedis from 'ioredis';
import { openQueue, QueueName, QUEUES, redisConnection } from './queues';

export interface QueueModuleOptions { redisUrl: string; prefix: string }
const QUEUE_OPTIONS = Symbol('QUEUE_OPTIONS');

/**
 * This process's producer side of BullMQ: one fail-fast Redis connection, and every queue
 * opened on it through `openQueue` (libs/common/src/queues.ts). Closed when the Nest
 * application closes, after the modules that use it (it is global: its hook runs last).
 */
@Injectable()
export class Queues implements OnApplicationShutdown {
  readonly connection: IORedis;
  readonly prefix: string;
  private readonly opened: Queue[] = [];

  constructor(@Inject(QUEUE_OPTIONS) options: QueueModuleOptions) {
    this.prefix = options.prefix;
    this.connection = redisConnection(options.redisUrl, false);
    this.connection.on('error', () => undefined);
  }

  /** A queue handle closed with this process (read-only users: gauges, bull-board). */
  open<T = unknown>(name: QueueName): Queue<T> {
    const q = openQueue<T>(name, this.connection, this.prefix);
    this.opened.push(q);
    return q;
  }

  /** One handle on every queue of QUEUES. */
  openAll(): Queue[] {
    return Object.values(QUEUES).map((name) => this.open(name));
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.opened.map((q) => q.close().catch(() => undefined)));
    this.connection.disconnect();
  }
}

@Global()
@Module({})
export class QueueModule {
  static forRoot(options: QueueModuleOptions): DynamicModule {
    return { module: QueueModule, providers: [{ provide: QUEUE_OPTIONS, useValue: options }, Queues], exports: [Queues] };
  }
}
