import { redactSecrets, scrubText } from '@app/common';
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
  const [row] = await appendJournalMany(tx, [e]);
  return row;
}

/**
 * Appends several entries in one statement, chained in the order given. Reason and data are
 * stored with every secret the process knows removed (an entry can never be changed later).
 */
export async function appendJournalMany(tx: Tx, input: JournalInput[]): Promise<Array<{ sequence: string }>> {
  if (!input.length) return [];
  return tx.query<{ sequence: string }>(`${journalInsertSql(1)} RETURNING sequence`, journalRows(input));
}

/**
 * The journal's one INSERT, its eight array parameters numbered from `first` (`journalRows`
 * gives them), so a statement that writes other rows can append its entries in the same
 * round trip. The chain trigger gives each row its sequence and hashes, in the given order.
 */
export function journalInsertSql(first: number): string {
  const $ = (i: number) => `$${first + i}`;
  return `INSERT INTO journal_entries (sequence, provider_account_id, recorded_at, actor, action, entity_type, entity_id, reason, correlation_id, data, prev_hash, hash)
     SELECT 0, e.provider_account_id, now(), e.actor, e.action, e.entity_type, e.entity_id, e.reason, e.correlation_id, e.data, '', ''
       FROM unnest(${$(0)}::text[], ${$(1)}::text[], ${$(2)}::text[], ${$(3)}::text[], ${$(4)}::text[], ${$(5)}::text[], ${$(6)}::text[], ${$(7)}::jsonb[])
            WITH ORDINALITY AS e(provider_account_id, actor, action, entity_type, entity_id, reason, correlation_id, data, n)
      ORDER BY e.n`;
}

/** The eight columns `journalInsertSql` reads, secrets scrubbed from reasons and data. */
export function journalRows(input: JournalInput[]): unknown[][] {
  const entries = input.map((e) => ({ ...e, reason: e.reason == null ? e.reason : scrubText(e.reason), data: e.data === undefined ? undefined : redactSecrets(e.data) }));
  const col = <K extends keyof JournalInput>(k: K) => entries.map((e) => e[k] ?? null);
  return [col('providerAccount'), col('actor'), col('action'), col('entityType'), col('entityId'), col('reason'), col('correlationId'),
    entries.map((e) => JSON.stringify(e.data ?? {}))];
}
