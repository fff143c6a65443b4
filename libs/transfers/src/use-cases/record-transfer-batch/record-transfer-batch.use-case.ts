import { DomainError } from '@app/common';
import { Database, pgCode, pgConstraint, PgError } from '@app/persistence';
import { Transfer } from '../../domain/transfer';
import { RecordTransferCommand } from '../record-transfer/record-transfer.command';
import { RecordTransferUseCase } from '../record-transfer/record-transfer.use-case';

export type BatchItem = { index: number; command: RecordTransferCommand } | { index: number; error: DomainError };
export interface BatchItemResult { index: number; status: number; transfer?: Transfer; error?: { code: string; message: string; details?: unknown } }

/**
 * Records many transfers in chunks: one database transaction per chunk, a savepoint per item
 * so that one refused item (insufficient balance, unknown sub-account) leaves the others
 * recorded. Each recorded item is exactly what POST /v1/transfers would have recorded.
 */
export class RecordTransferBatchUseCase {
  constructor(private readonly db: Database, private readonly single: RecordTransferUseCase, private readonly chunkSize = 250) {}

  async execute(items: BatchItem[]): Promise<BatchItemResult[]> {
    const results: BatchItemResult[] = [];
    const recorded: Transfer[] = [];
    for (let start = 0; start < items.length; start += this.chunkSize) {
      const chunk = items.slice(start, start + this.chunkSize);
      const chunkResults = await this.db.transaction(async (tx) => {
        const out: BatchItemResult[] = [];
        for (const item of chunk) {
          if ('error' in item) {
            out.push({ index: item.index, status: item.error.status, error: { code: item.error.code, message: item.error.message, details: item.error.details } });
            continue;
          }
          await tx.query('SAVEPOINT item');
          try {
            const r = await this.single.recordIn(tx, item.command);
            await tx.query('RELEASE SAVEPOINT item');
            out.push({ index: item.index, status: r.replayed ? 200 : 202, transfer: r.transfer });
          } catch (err) {
            await tx.query('ROLLBACK TO SAVEPOINT item');
            const e = toDomainError(err);
            if (!e) throw err;
            out.push({ index: item.index, status: e.status, error: { code: e.code, message: e.message, details: e.details } });
          }
        }
        return out;
      });
      for (const r of chunkResults) {
        results.push(r);
        if (r.status === 202 && r.transfer) recorded.push(r.transfer);
      }
    }
    await this.single.enqueue(recorded);
    return results;
  }
}

function toDomainError(err: unknown): DomainError | null {
  if (err instanceof DomainError) return err;
  if (pgCode(err) === PgError.uniqueViolation && pgConstraint(err) === 'transfers_idempotency_key_unique') {
    return new DomainError('idempotency_key_reused', 'this idempotencyKey appears twice in the batch or is being used concurrently');
  }
  return null;
}
