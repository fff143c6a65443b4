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
