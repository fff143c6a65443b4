import { Queue } from 'bullmq';
import IORedis from 'ioredis';

/**
 * Queue and job names and their payloads: the one place both the API (which enqueues) and
 * the worker (which processes) read them from.
 */
export const QUEUES = {
  transfers: 'transfers',
  webhooks: 'webhooks',
} as const;

export const JOBS = {
  executeTransfer: 'execute-transfer',
} as const;

export interface ExecuteTransferJob {
  transferId: string;
  /** The attempt this job is for (the transfer's `attempts` when it was enqueued). */
  attempt: number;
}

/**
 * A BullMQ job id per transfer attempt: re-enqueueing the same attempt is a no-op. The relay
 * adds a time bucket: a job stuck "active" in a killed worker keeps its id until BullMQ
 * notices the stall, and the relay must not wait for that (duplicates are harmless: the
 * claim in Postgres lets one through).
 */
export function executeTransferJobId(transferId: string, attempt: number, relayBucket?: number): string {
  return relayBucket === undefined ? `t-${transferId}-${attempt}` : `t-${transferId}-${attempt}-r${relayBucket}`;
}

/** Webhook delivery jobs (their own queue and processor: a slow receiver never delays transfers). */
export const WEBHOOK_JOBS = {
  deliverWebhook: 'deliver-webhook',
} as const;

export interface DeliverWebhookJob {
  eventId: string;
}

/** One job per event: re-enqueueing an event whose delivery is under way is a no-op. */
export function deliverWebhookJobId(eventId: string): string {
  return `w-${eventId}`;
}

/** A Redis connection for BullMQ: a worker's (blocking, waits for Redis) or a producer's (fails fast). */
export function redisConnection(url: string, forWorker: boolean): IORedis {
  return new IORedis(url, {
    // Workers block on Redis and must wait for it; producers must fail fast when Redis is
    // down (the outbox relay enqueues later), never hang a request.
    maxRetriesPerRequest: forWorker ? null : 1,
    enableOfflineQueue: forWorker,
    connectTimeout: 2_000,
    lazyConnect: false,
  });
}

/**
 * The one place a BullMQ `Queue` is built (producers, the metrics gauges, bull-board, tests):
 * on a shared connection and the deployment's prefix; a connection error is left to the
 * connection's owner (a producer's enqueue fails fast and the outbox relay enqueues later).
 */
export function openQueue<T = unknown>(name: QueueName, connection: IORedis, prefix: string): Queue<T> {
  const queue = new Queue<T>(name, { connection, prefix });
  queue.on('error', () => undefined);
  return queue;
}

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];
