import { DomainError } from '@app/common';
import { Database, pgCode, pgConstraint, PgError } from '@app/persistence';
import { Transfer } from '../../domain/transfer';
import { RecordTransferCommand } from '../record-transfer/record-transfer.command';
import { RecordTransferResult, RecordTransferUseCase } from '../record-transfer/record-transfer.use-case';

export type BatchItem = { index: number; command: RecordTransferCommand } | { index: number; error: DomainError };
export interface BatchItemResult { index: number; status: number; transfer?: Transfer; error?: { code: string; message: string; details?: unknown } }

/**
 * Records many transfers in chunks: one database transaction per chunk, set-based
 * (`recordManyIn`), so that one refused item (insufficient balance, unknown sub-account, a
 * key reused with another body) leaves the others recorded. Each recorded item is exactly
 * what POST /v1/transfers would have recorded.
 */
export class RecordTransferBatchUseCase {
  constructor(private readonly db: Database, private readonly single: RecordTransferUseCase, private readonly chunkSize = 1000) {}

  async execute(items: BatchItem[]): Promise<BatchItemResult[]> {
    const results: BatchItemResult[] = [];
    const recorded: Transfer[] = [];
    for (const item of items) {
      if ('error' in item) results.push({ index: item.index, status: item.error.status, error: errorJson(item.error) });
    }
    const valid = items.filter((i): i is { index: number; command: RecordTransferCommand } => !('error' in i));
    for (let start = 0; start < valid.length; start += this.chunkSize) {
      const chunk = valid.slice(start, start + this.chunkSize);
      const outcomes = await this.recordChunk(chunk.map((i) => i.command));
      chunk.forEach((item, i) => {
        const o = outcomes[i];
        if (o instanceof DomainError) {
          results.push({ index: item.index, status: o.status, error: errorJson(o) });
        } else {
          results.push({ index: item.index, status: o.replayed ? 200 : 202, transfer: o.transfer });
          if (!o.replayed) recorded.push(o.transfer);
        }
      });
    }
    await this.single.enqueue(recorded);
    return results.sort((a, b) => a.index - b.index);
  }

  private async recordChunk(cmds: RecordTransferCommand[]): Promise<Array<RecordTransferResult | DomainError>> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.db.transaction((tx) => this.single.recordManyIn(tx, cmds));
      } catch (err) {
        // A key of this chunk recorded concurrently by another request: the chunk is tried
        // again and now sees that transfer (a replay, or 409 for another body).
        if (attempt < 3 && pgCode(err) === PgError.uniqueViolation && pgConstraint(err) === 'transfers_idempotency_key_unique') continue;
        throw err;
      }
    }
  }
}

function errorJson(e: DomainError): { code: string; message: string; details?: unknown } {
  return { code: e.code, message: e.message, details: e.details };
}
