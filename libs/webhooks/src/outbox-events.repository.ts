import { Cursors, DomainError, fetchSize, pageOf } from '@app/common';
import { Database, Prisma } from '@app/persistence';

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

function eventFromModel(m: Prisma.OutboxEventGetPayload<object>): OutboxEventRow {
  return {
    id: m.id, seq: m.seq.toString(), provider_account_id: m.providerAccountId, type: m.type, entity_type: m.entityType, entity_id: m.entityId,
    payload: m.payload as Record<string, unknown>, created_at: m.createdAt, status: m.status as EventStatus, attempts: m.attempts,
    last_attempt_at: m.lastAttemptAt, last_status_code: m.lastStatusCode, last_error: m.lastError, delivered_at: m.deliveredAt,
  };
}

/**
 * outbox_events (written by database triggers in the transaction of the change they report):
 * the delivery log, the relay's pending events, each delivery attempt, the operator's
 * redeliver action.
 */
export class OutboxEventsRepository {
  constructor(private readonly db: Database) {}

  async get(providerAccount: string, id: string): Promise<OutboxEventRow | null> {
    const m = await this.db.prisma.outboxEvent.findFirst({ where: { id, providerAccountId: providerAccount } });
    return m ? eventFromModel(m) : null;
  }

  /** The ids of the pending events, oldest first. */
  async pendingIds(providerAccount: string, batch: number): Promise<string[]> {
    const rows = await this.db.prisma.outboxEvent.findMany({
      where: { providerAccountId: providerAccount, status: 'pending' }, orderBy: { seq: 'asc' }, take: batch, select: { id: true },
    });
    return rows.map((r) => r.id);
  }

  /**
   * One delivery attempt of a pending event: delivered, or failed for good on the last
   * allowed attempt, else still pending. Null when the event is no longer pending.
   */
  async recordAttempt(id: string, a: { statusCode: number | null; error: string | null; lastAttempt: boolean }): Promise<{ attempts: number; status: string } | null> {
    const [updated] = await this.db.query<{ attempts: number; status: string }>(
      `UPDATE outbox_events SET attempts = attempts + 1, last_attempt_at = clock_timestamp(), last_status_code = $2, last_error = $3,
              status = CASE WHEN $4 THEN 'delivered' WHEN $5 THEN 'failed' ELSE 'pending' END,
              delivered_at = CASE WHEN $4 THEN clock_timestamp() END
        WHERE id = $1 AND status = 'pending' RETURNING attempts, status`,
      [id, a.statusCode, a.error, a.error === null, a.lastAttempt],
    );
    return updated ?? null;
  }

  async list(providerAccount: string, q: { status?: EventStatus; event?: string; entityId?: string; limit?: number; cursor?: string } = {}): Promise<{ data: WebhookDelivery[]; nextCursor: string | null }> {
    const limit = q.limit ?? 50;
    const after = q.cursor === undefined ? null : Cursors.sequence.decode(q.cursor);
    const rows = await this.db.prisma.outboxEvent.findMany({
      where: {
        providerAccountId: providerAccount, status: q.status, type: q.event, entityId: q.entityId, seq: after === null ? undefined : { lt: BigInt(after) },
      },
      orderBy: { seq: 'desc' },
      take: fetchSize(limit),
    });
    return pageOf(rows.map(eventFromModel), limit, (last) => Cursors.sequence.encode(last.seq), deliveryJson);
  }

  /** A failed event goes back to pending; the relay enqueues it again. */
  async redeliver(providerAccount: string, id: string): Promise<WebhookDelivery> {
    const { count } = await this.db.prisma.outboxEvent.updateMany({ where: { id, providerAccountId: providerAccount, status: 'failed' }, data: { status: 'pending' } });
    const existing = await this.get(providerAccount, id);
    if (!existing) throw new DomainError('webhook_event_not_found', `webhook event ${id} does not exist`);
    if (count) return deliveryJson(existing);
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
