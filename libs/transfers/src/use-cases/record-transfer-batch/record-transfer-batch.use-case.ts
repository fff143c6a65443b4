import { randomUUID } from 'node:crypto';
import { DomainError } from '@app/common';
import { availableDeltas, Money, subaccountCode, transferPostings } from '@app/ledger';
import { Database, pgCode, pgConstraint, PgError, Tx } from '@app/persistence';
import { Transfer } from '../../domain/transfer';
import { BatchRow, TransferBatchRepository, WrittenTransfer } from '../../persistence/transfer-batch.repository';
import { TransfersRepository } from '../../persistence/transfers.repository';
import { RecordTransferCommand } from '../record-transfer/record-transfer.command';
import { RecordTransferUseCase, requestHashOf } from '../record-transfer/record-transfer.use-case';

export type BatchItem = { index: number; command: RecordTransferCommand } | { index: number; error: DomainError };
export interface BatchItemResult { index: number; status: number; transfer?: Transfer; error?: { code: string; message: string; details?: unknown } }

type Outcome = { transfer: Transfer; replayed: boolean } | DomainError;

/**
 * Records many transfers of one provider account, set-based: every item is checked in code
 * (idempotent replays, unknown sub-accounts, available balances walked in order against the
 * locked balance rows, decimal.js), then the accepted ones are written with a few
 * `INSERT … SELECT` statements (`TransferBatchRepository`). One refused item (insufficient
 * balance, unknown sub-account, a key reused with another body) leaves the others recorded.
 * Each recorded item is exactly what POST /v1/transfers would have recorded: same rows, same
 * journal entries, same chain. One database transaction per chunk (10,000 by default, the
 * largest batch the API takes): `main`'s balance row is locked once per chunk.
 */
export class RecordTransferBatchUseCase {
  constructor(
    private readonly db: Database,
    private readonly transfers: TransfersRepository,
    private readonly repo: TransferBatchRepository,
    private readonly single: RecordTransferUseCase,
    private readonly chunkSize = 10_000,
  ) {}

  async execute(items: BatchItem[]): Promise<BatchItemResult[]> {
    const results: BatchItemResult[] = [];
    const recorded: Transfer[] = [];
    for (const item of items) {
      if ('error' in item) results.push({ index: item.index, status: item.error.status, error: errorJson(item.error) });
    }
    const valid = items.filter((i): i is { index: number; command: RecordTransferCommand } => !('error' in i));
    const byAccount = new Map<string, Array<{ index: number; command: RecordTransferCommand }>>();
    for (const v of valid) {
      const group = byAccount.get(v.command.providerAccount);
      if (group) group.push(v);
      else byAccount.set(v.command.providerAccount, [v]);
    }
    for (const group of byAccount.values()) {
      for (let start = 0; start < group.length; start += this.chunkSize) {
        const chunk = group.slice(start, start + this.chunkSize);
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
    }
    await this.single.enqueue(recorded);
    return results.sort((a, b) => a.index - b.index);
  }

  /**
   * One chunk in one database transaction. A key recorded meanwhile by another transaction
   * makes the unique constraint refuse the whole transaction: it is tried again, and then
   * finds that transfer (a replay, or 409 for another body), as `RecordTransferUseCase` does.
   */
  private async recordChunk(cmds: RecordTransferCommand[]): Promise<Outcome[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.db.transaction((tx) => this.recordIn(tx, cmds));
      } catch (err) {
        if (attempt < 3 && pgCode(err) === PgError.uniqueViolation && pgConstraint(err) === 'transfers_idempotency_key_unique') continue;
        throw err;
      }
    }
  }

  private async recordIn(tx: Tx, cmds: RecordTransferCommand[]): Promise<Outcome[]> {
    const providerAccount = cmds[0].providerAccount;
    const hashes = cmds.map((c) => (c.idempotencyKey ? requestHashOf(c) : null));
    const keys = [...new Set(cmds.flatMap((c) => (c.idempotencyKey ? [c.idempotencyKey] : [])))];
    const existing = await this.transfers.byIdempotencyKeys(tx, providerAccount, keys);
    const known = await this.repo.knownSubaccounts(tx, providerAccount, [...new Set(cmds.map((c) => c.subaccount))]);

    const results: Array<Outcome | { sameAs: number } | BatchRow> = [];
    const firstWithKey = new Map<string, number>();
    cmds.forEach((cmd, index) => {
      const key = cmd.idempotencyKey;
      if (key) {
        const found = existing.get(key);
        if (found) { results.push(found.requestHash === hashes[index] ? { transfer: found.transfer, replayed: true } : keyReused(found.transfer.id)); return; }
        const first = firstWithKey.get(key);
        if (first !== undefined) { results.push(hashes[first] === hashes[index] ? { sameAs: first } : keyReused()); return; }
        firstWithKey.set(key, index);
      }
      if (!known.has(cmd.subaccount)) {
        results.push(new DomainError('subaccount_not_found', `sub-account ${cmd.subaccount} does not exist`));
        return;
      }
      results.push({
        transferId: randomUUID(), ledgerTransactionId: randomUUID(), subaccount: cmd.subaccount, subaccountAccountId: '', direction: cmd.direction,
        amount: cmd.amount, reference: cmd.reference ?? null, metadata: cmd.metadata ?? null, idempotencyKey: cmd.idempotencyKey ?? null,
        requestHash: hashes[index], actor: cmd.actor, correlationId: cmd.correlationId ?? null,
      });
    });

    // The available-balance walk, in order, against the locked rows (as LedgerRepository.recordMany).
    const rows = results.filter(isRow);
    const accounts = await this.repo.lockAccounts(tx, providerAccount, [...new Set(rows.map((r) => r.subaccount))]);
    const main = accounts.get('main');
    const available = new Map<string, Money>([...accounts.values()].filter((a) => a.overdraftGuard).map((a) => [a.code, a.available]));
    const accepted: BatchRow[] = [];
    results.forEach((r, i) => {
      if (!isRow(r)) return;
      const sub = accounts.get(subaccountCode(r.subaccount));
      if (!main || !sub) {
        results[i] = !sub ? new DomainError('subaccount_not_found', `sub-account ${r.subaccount} is not in the ledger`) : new DomainError('account_not_found', 'account main does not exist');
        return;
      }
      const deltas = availableDeltas(transferPostings(r.direction, r.subaccount, r.amount), 'pending');
      const short = [...deltas].filter(([code, d]) => { const a = available.get(code); return a !== undefined && d.isNegative() && a.plus(d).isNegative(); }).map(([code]) => code);
      if (short.length) {
        results[i] = new DomainError('insufficient_available_balance', `the available balance of ${short.join(', ')} cannot cover this amount`, { accounts: short });
        return;
      }
      for (const [code, d] of deltas) { const a = available.get(code); if (a !== undefined) available.set(code, a.plus(d)); }
      r.subaccountAccountId = sub.id;
      accepted.push(r);
    });

    const written = main ? await this.repo.write(tx, providerAccount, main.id, accepted) : new Map<string, WrittenTransfer>();
    const settled = (r: (typeof results)[number]): Outcome => {
      if (r instanceof DomainError) return r;
      if ('sameAs' in r) {
        const first = settled(results[r.sameAs]);
        return first instanceof DomainError ? first : { transfer: first.transfer, replayed: true };
      }
      if ('transfer' in r) return r;
      return { transfer: transferOf(providerAccount, r, written.get(r.transferId)!), replayed: false };
    };
    return results.map(settled);
  }
}

/** The transfer as `toTransfer` would read it back: a pending transfer row just written. */
function transferOf(providerAccount: string, r: BatchRow, w: WrittenTransfer): Transfer {
  return {
    id: r.transferId, seq: w.seq, providerAccount, subaccount: r.subaccount, direction: r.direction, amount: r.amount, status: 'pending',
    reference: r.reference, metadata: w.metadata, idempotencyKey: r.idempotencyKey, ledgerTransactionId: r.ledgerTransactionId, attempts: 0,
    nextAttemptAt: w.next_attempt_at, leaseExpiresAt: null, expiresAt: w.expires_at, provider: null, failureReason: null, resolution: null,
    createdBy: r.actor, createdAt: w.created_at, updatedAt: w.updated_at,
  };
}

function isRow(r: unknown): r is BatchRow {
  return typeof r === 'object' && r !== null && 'transferId' in r;
}

function keyReused(transferId?: string): DomainError {
  return new DomainError('idempotency_key_reused', 'this Idempotency-Key was used with a different request', transferId ? { transferId } : undefined);
}

function errorJson(e: DomainError): { code: string; message: string; details?: unknown } {
  return { code: e.code, message: e.message, details: e.details };
}
