import { Cursors, DomainError, fetchSize, pageOf } from '@app/common';
import { Database } from '@app/persistence';

export const EVENT_STATUSES = ['pending', 'delivered', 'failed'] as const;
export type EventStatus = (typeof EVENT_STATUSES)[number];

export interface OutboxEventRow {
  id: string;
  seq: string;
  provider_account_id: string;
  type: string;
  entity_type: string;
  entity_id: string;
  payload: Record<string, unknown>;
  created_at: Date;
  status: EventStatus;
  attempts: number;
  last_attempt_at: Date | null;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: Date | null;
}

/** The body POSTed to WEBHOOK_URL: the same bytes on every attempt, so receivers can compare. */
export function webhookBody(r: OutboxEventRow): string {
  return JSON.stringify({ id: r.id, type: r.type, sequence: Number(r.seq), createdAt: r.created_at.toISOString(), providerAccount: r.provider_account_id, data: r.payload });
}

/** One row of the delivery log (GET /v1/webhook-deliveries). */
export function deliveryJson(r: OutboxEventRow) {
  return {
    id: r.id,
    event: r.type,
    sequence: Number(r.seq),
    entity: { type: r.entity_type, id: r.entity_id },
    createdAt: r.created_at.toISOString(),
    status: r.status,
    attempts: r.attempts,
    lastAttemptAt: r.last_attempt_at?.toISOString() ?? null,
    lastStatusCode: r.last_status_code,
    lastError: r.last_error,
    deliveredAt: r.delivered_at?.toISOString() ?? null,
    payload: r.payload,
  };
}
export type WebhookDelivery = ReturnType<typeof deliveryJson>;

/** The delivery log and the operator's redeliver action. */
export class OutboxEventsQueries {
  constructor(private readonly db: Database) {}

  async list(providerAccount: string, q: { status?: EventStatus; event?: string; entityId?: string; limit?: number; cursor?: string } = {}): Promise<{ data: WebhookDelivery[]; nextCursor: string | null }> {
    const limit = q.limit ?? 50;
    const after = q.cursor === undefined ? null : Cursors.sequence.decode(q.cursor);
    const rows = await this.db.query<OutboxEventRow>(
      `SELECT * FROM outbox_events
        WHERE provider_account_id = $1 AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR type = $3)
          AND ($4::uuid IS NULL OR entity_id = $4) AND ($5::bigint IS NULL OR seq < $5)
        ORDER BY seq DESC LIMIT $6`,
      [providerAccount, q.status ?? null, q.event ?? null, q.entityId ?? null, after, fetchSize(limit)],
    );
    return pageOf(rows, limit, (last) => Cursors.sequence.encode(last.seq), deliveryJson);
  }

  /** A failed event goes back to pending; the relay enqueues it again. */
  async redeliver(providerAccount: string, id: string): Promise<WebhookDelivery> {
    const [row] = await this.db.query<OutboxEventRow>(
      `UPDATE outbox_events SET status = 'pending' WHERE id = $1 AND provider_account_id = $2 AND status = 'failed' RETURNING *`,
      [id, providerAccount],
    );
    if (row) return deliveryJson(row);
    const [existing] = await this.db.query<OutboxEventRow>('SELECT * FROM outbox_events WHERE id = $1 AND provider_account_id = $2', [id, providerAccount]);
    if (!existing) throw new DomainError('webhook_event_not_found', `webhook event ${id} does not exist`);
    throw new DomainError('invalid_state', `only a failed event can be redelivered; this one is ${existing.status}`, { status: existing.status });
  }

  /** For /metrics: events by status, and the age of the oldest one still pending. */
  async stats(providerAccount: string): Promise<{ byStatus: Record<string, number>; oldestPendingSeconds: number }> {
    const rows = await this.db.query<{ status: string; n: number; oldest: number | null }>(
      `SELECT status, count(*)::int AS n, extract(epoch FROM now() - min(created_at))::float8 AS oldest
         FROM outbox_events WHERE provider_account_id = $1 GROUP BY status`,
      [providerAccount],
    );
    return {
      byStatus: Object.fromEntries(rows.map((r) => [r.status, r.n])),
      oldestPendingSeconds: rows.find((r) => r.status === 'pending')?.oldest ?? 0,
    };
  }
}
