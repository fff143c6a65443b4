import { Tx } from './database';

export interface JournalInput {
  providerAccount: string;
  actor: string;
  action: string;
  entityType: string;
  entityId: string;
  reason?: string | null;
  correlationId?: string | null;
  data?: Record<string, unknown>;
}

/** Appends to the hash-chained journal; the database assigns sequence, time and hashes. */
export async function appendJournal(tx: Tx, e: JournalInput): Promise<{ sequence: string }> {
  const [row] = await tx.query<{ sequence: string }>(
    `INSERT INTO journal_entries (sequence, provider_account_id, recorded_at, actor, action, entity_type, entity_id, reason, correlation_id, data, prev_hash, hash)
     VALUES (0, $1, now(), $2, $3, $4, $5, $6, $7, $8, '', '') RETURNING sequence`,
    [e.providerAccount, e.actor, e.action, e.entityType, e.entityId, e.reason ?? null, e.correlationId ?? null, JSON.stringify(e.data ?? {})],
  );
  return row;
}
