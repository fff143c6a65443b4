import { createHash, randomUUID } from 'node:crypto';
import { DomainError, Logger } from '@app/common';
import { transferPostings } from '@app/ledger';
import { appendJournal, Database, LedgerRepository, pgCode, pgConstraint, PgError, Tx } from '@app/persistence';
import { Transfer } from '../../domain/transfer';
import { TransferRow, TransfersRepository, toTransfer } from '../../persistence/transfers.repository';
import { TransferQueue } from '../../transfer-queue';
import { RecordTransferCommand } from './record-transfer.command';

export interface RecordTransferResult { transfer: Transfer; replayed: boolean }

/**
 * Records a transfer: reserves the money in the ledger (pending transaction) and writes the
 * transfer row (the outbox item the worker executes) in ONE database transaction, then
 * enqueues it. If Redis is down the transfer is still recorded; the relay enqueues it later.
 */
export class RecordTransferUseCase {
  constructor(
    private readonly db: Database,
    private readonly ledger: LedgerRepository,
    private readonly transfers: TransfersRepository,
    private readonly queue: TransferQueue,
    private readonly opts: { expirySeconds: number; logger?: Logger },
  ) {}

  async execute(cmd: RecordTransferCommand): Promise<RecordTransferResult> {
    const result = await this.recordWithKeyRace(cmd);
    if (!result.replayed) await this.enqueue([result.transfer]);
    return result;
  }

  /** Records inside the caller's transaction (used by the batch use case). */
  async recordIn(tx: Tx, cmd: RecordTransferCommand): Promise<RecordTransferResult> {
    const requestHash = cmd.idempotencyKey ? requestHashOf(cmd) : null;
    if (cmd.idempotencyKey) {
      const existing = await this.transfers.byIdempotencyKey(tx, cmd.providerAccount, cmd.idempotencyKey);
      if (existing) return this.replay(existing, requestHash!);
    }
    const sub = await tx.query('SELECT 1 FROM subaccounts WHERE provider_account_id = $1 AND token = $2', [cmd.providerAccount, cmd.subaccount]);
    if (!sub.length) throw new DomainError('subaccount_not_found', `sub-account ${cmd.subaccount} does not exist`);

    const id = randomUUID();
    const ledgerTransactionId = await this.ledger.record(tx, {
      providerAccount: cmd.providerAccount,
      kind: 'transfer',
      state: 'pending',
      actor: cmd.actor,
      reason: cmd.reference ?? `${cmd.direction} ${cmd.amount.toFixed()} ${cmd.subaccount}`,
      correlationId: cmd.correlationId,
      lines: transferPostings(cmd.direction, cmd.subaccount, cmd.amount),
      journalData: { transferId: id },
    });
    const [row] = await tx.query<TransferRow>(
      `INSERT INTO transfers (id, provider_account_id, subaccount_token, direction, amount, status, reference, metadata,
                              idempotency_key, request_hash, ledger_transaction_id, expires_at, created_by, correlation_id)
       VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $9, $10, now() + make_interval(secs => $11), $12, $13)
       RETURNING *`,
      [id, cmd.providerAccount, cmd.subaccount, cmd.direction, cmd.amount.toFixed(), cmd.reference ?? null,
        cmd.metadata ? JSON.stringify(cmd.metadata) : null, cmd.idempotencyKey ?? null, requestHash,
        ledgerTransactionId, this.opts.expirySeconds, cmd.actor, cmd.correlationId ?? null],
    );
    await appendJournal(tx, {
      providerAccount: cmd.providerAccount,
      actor: cmd.actor,
      action: 'transfer.recorded',
      entityType: 'transfer',
      entityId: id,
      reason: cmd.reference,
      correlationId: cmd.correlationId,
      data: { subaccount: cmd.subaccount, direction: cmd.direction, amount: cmd.amount.toFixed(), idempotencyKey: cmd.idempotencyKey ?? null, ledgerTransactionId },
    });
    return { transfer: toTransfer(row), replayed: false };
  }

  async enqueue(transfers: Transfer[]): Promise<void> {
    try {
      await this.queue.enqueue(transfers.filter((t) => t.status === 'pending').map((t) => ({ transferId: t.id, attempt: t.attempts })));
    } catch (err) {
      this.opts.logger?.warn({ err: (err as Error).message, count: transfers.length }, 'enqueue failed; the outbox relay will enqueue these transfers');
    }
  }

  private replay(existing: { transfer: Transfer; requestHash: string }, requestHash: string): RecordTransferResult {
    if (existing.requestHash !== requestHash) {
      throw new DomainError('idempotency_key_reused', 'this Idempotency-Key was used with a different request', { transferId: existing.transfer.id });
    }
    return { transfer: existing.transfer, replayed: true };
  }

  private async recordWithKeyRace(cmd: RecordTransferCommand): Promise<RecordTransferResult> {
    try {
      return await this.db.transaction((tx) => this.recordIn(tx, cmd));
    } catch (err) {
      // Two requests with the same key at once: the unique constraint let one through; the
      // other now finds it and replays (or gets 409 for a different body).
      if (pgCode(err) === PgError.uniqueViolation && pgConstraint(err) === 'transfers_idempotency_key_unique') {
        const existing = await this.transfers.byIdempotencyKey(this.db, cmd.providerAccount, cmd.idempotencyKey!);
        if (existing) return this.replay(existing, requestHashOf(cmd));
      }
      throw err;
    }
  }
}

/** The request a key stands for, in a canonical form. */
export function requestHashOf(cmd: RecordTransferCommand): string {
  const canonical = JSON.stringify([cmd.subaccount, cmd.direction, cmd.amount.toFixed(), cmd.reference ?? null, stableJson(cmd.metadata ?? null)]);
  return createHash('sha256').update(canonical).digest('hex');
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as object).sort().map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}
