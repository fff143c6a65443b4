import { createHash, randomUUID } from 'node:crypto';
import { DomainError, GroupCommit, Logger } from '@app/common';
import { transferPostings } from '@app/ledger';
import { Alongside, BalancesMovedError, Database, inOrder, JournalInput, LedgerRepository, pgCode, pgConstraint, PgError, Tx } from '@app/persistence';
import { Transfer } from '../../domain/transfer';
import { TransfersRepository } from '../../persistence/transfers.repository';
import { TransferQueue } from '../../transfer-queue';
import { RecordTransferCommand } from './record-transfer.command';

export interface RecordTransferResult { transfer: Transfer; replayed: boolean }

/**
 * Which sub-accounts exist (libs/subaccounts' repository implements it; the port keeps
 * transfers from depending on that library, which depends on this one).
 */
export interface SubaccountDirectory {
  existing(tx: Tx, providerAccount: string, tokens: string[]): Promise<Set<string>>;
}

/**
 * Records transfers: reserves the money in the ledger (pending transaction) and writes the
 * transfer row (the outbox item the worker executes) in ONE database transaction, then
 * enqueues them. If Redis is down the transfer is still recorded; the relay enqueues it later.
 *
 * Concurrent requests of one provider account are group-committed (`GroupCommit`): those
 * that arrive while a recording is in flight are recorded together, set-based, in the next
 * database transaction, so the hot `main` pending balance row is locked and the WAL flushed once per
 * group instead of once per transfer. Each request still gets exactly its own answer.
 */
export class RecordTransferUseCase {
  private readonly groups: GroupCommit<RecordTransferCommand, { result: RecordTransferResult; enqueued: Promise<void> }>;

  constructor(
    private readonly db: Database,
    private readonly ledger: LedgerRepository,
    private readonly transfers: TransfersRepository,
    private readonly subaccounts: SubaccountDirectory,
    private readonly queue: TransferQueue,
    private readonly opts: { expirySeconds: number; logger?: Logger; maxGroup?: number },
  ) {
    this.groups = new GroupCommit((_, cmds) => this.recordGroup(cmds), opts.maxGroup ?? 200);
  }

  async execute(cmd: RecordTransferCommand): Promise<RecordTransferResult> {
    const { result, enqueued } = await this.groups.submit(cmd.providerAccount, cmd);
    await enqueued;
    return result;
  }

  /** Records one transfer inside the caller's transaction (top-ups). */
  async recordIn(tx: Tx, cmd: RecordTransferCommand): Promise<RecordTransferResult> {
    const [result] = await this.recordManyIn(tx, [cmd]);
    if (result instanceof DomainError) throw result;
    return result;
  }

  /**
   * Records transfers of one provider account inside the caller's transaction, set-based.
   * Each command gets its result or its own DomainError (unknown sub-account, key reused with
   * another body, available balance short after the commands before it); the others are
   * recorded. A key that appears twice is recorded once: the second is its replay.
   *
   * `lockFirst: false` (recordMany, which owns the transaction): the transfers are written
   * before the ledger takes the balance rows, checked against balances read without a lock,
   * so `main`'s row is held for the ledger's statement, the journal and the COMMIT only; if
   * another writer used the room meanwhile, BalancesMovedError, and the caller records again
   * with the rows locked first.
   */
  async recordManyIn(tx: Tx, cmds: RecordTransferCommand[], opts: { lockFirst?: boolean } = {}): Promise<Array<RecordTransferResult | DomainError>> {
    const lockFirst = opts.lockFirst ?? true;
    if (!cmds.length) return [];
    const providerAccount = cmds[0].providerAccount;
    const hashes = cmds.map((c) => (c.idempotencyKey ? requestHashOf(c) : null));
    const keys = [...new Set(cmds.flatMap((c) => (c.idempotencyKey ? [c.idempotencyKey] : [])))];
    const tokens = [...new Set(cmds.map((c) => c.subaccount))];
    // Sent together (one round trip): neither depends on the other.
    const [existing, known] = await inOrder([
      this.transfers.byIdempotencyKeys(tx, providerAccount, keys),
      this.subaccounts.existing(tx, providerAccount, tokens),
    ]);

    const results: Array<RecordTransferResult | DomainError | { sameAs: number } | null> = [];
    const toRecord: Array<{ index: number; id: string; cmd: RecordTransferCommand }> = [];
    const firstWithKey = new Map<string, number>();
    cmds.forEach((cmd, index) => {
      if (cmd.providerAccount !== providerAccount) throw new Error('recordManyIn: commands of one provider account only');
      const key = cmd.idempotencyKey;
      if (key) {
        const found = existing.get(key);
        if (found) { results.push(replay(found, hashes[index]!)); return; }
        const first = firstWithKey.get(key);
        if (first !== undefined) {
          results.push(hashes[first] === hashes[index] ? { sameAs: first } : keyReused());
          return;
        }
        firstWithKey.set(key, index);
      }
      if (!known.has(cmd.subaccount)) {
        results.push(new DomainError('subaccount_not_found', `sub-account ${cmd.subaccount} does not exist`));
        return;
      }
      toRecord.push({ index, id: randomUUID(), cmd });
      results.push(null); // the ledger's answer, below
    });

    // The transfers of the accepted commands and their journal entries, written alongside
    // the ledger's statement and its journal, in the same round trip (LedgerRepository.recordMany).
    const writeTransfers = (ledgerIds: Array<string | DomainError>): Alongside => {
      const recorded: Array<{ index: number; id: string; cmd: RecordTransferCommand; ledgerTransactionId: string }> = [];
      toRecord.forEach((r, i) => {
        const ledgerTransactionId = ledgerIds[i];
        if (ledgerTransactionId instanceof DomainError) results[r.index] = ledgerTransactionId;
        else recorded.push({ ...r, ledgerTransactionId });
      });
      const written = this.transfers.insertPending(tx, providerAccount, this.opts.expirySeconds, recorded.map((r) => ({
        id: r.id, subaccount: r.cmd.subaccount, direction: r.cmd.direction, amount: r.cmd.amount, reference: r.cmd.reference ?? null,
        metadata: r.cmd.metadata ?? null, idempotencyKey: r.cmd.idempotencyKey ?? null, requestHash: hashes[r.index], ledgerTransactionId: r.ledgerTransactionId,
        createdBy: r.cmd.actor, correlationId: r.cmd.correlationId ?? null,
      }))).then((inserted) => {
        const byId = new Map(inserted.map((t) => [t.id, t]));
        for (const r of recorded) results[r.index] = { transfer: byId.get(r.id)!, replayed: false };
      });
      const journal = recorded.map(({ id, cmd, ledgerTransactionId }): JournalInput => ({
        providerAccount,
        actor: cmd.actor,
        action: 'transfer.recorded',
        entityType: 'transfer',
        entityId: id,
        reason: cmd.reference,
        correlationId: cmd.correlationId,
        data: { subaccount: cmd.subaccount, direction: cmd.direction, amount: cmd.amount.toFixed(), idempotencyKey: cmd.idempotencyKey ?? null, ledgerTransactionId },
      }));
      return { written, journal };
    };
    await this.ledger.recordMany(tx, providerAccount, toRecord.map(({ id, cmd }) => ({
      providerAccount,
      kind: 'transfer' as const,
      state: 'pending' as const,
      actor: cmd.actor,
      reason: cmd.reference ?? `${cmd.direction} ${cmd.amount.toFixed()} ${cmd.subaccount}`,
      correlationId: cmd.correlationId,
      lines: transferPostings(cmd.direction, cmd.subaccount, cmd.amount),
      journalData: { transferId: id },
    })), { lock: lockFirst ? 'first' : 'last', alongside: writeTransfers });
    const settled = (r: (typeof results)[number]): RecordTransferResult | DomainError => {
      if (r === null) throw new Error('recordManyIn: a command was left without an answer');
      if (r instanceof DomainError) return r;
      if ('sameAs' in r) {
        const first = settled(results[r.sameAs]);
        return first instanceof DomainError ? first : { transfer: first.transfer, replayed: true };
      }
      return r;
    };
    return results.map(settled);
  }

  /**
   * Enqueues the recorded transfers that can run now: a transfer behind an earlier pending or
   * executing one of the same sub-account is not enqueued (its job would only find it
   * blocked, and still take a rate-limit slot); the one before it enqueues it when it
   * finishes (`nextInLine`, after its own commit, so it sees this committed transfer), and the
   * relay is the safety net.
   */
  async enqueue(transfers: Transfer[]): Promise<void> {
    try {
      const pending = transfers.filter((t) => t.status === 'pending');
      if (!pending.length) return;
      await this.queue.enqueue(await this.transfers.headsOfLine(pending.map((t) => t.id)));
    } catch (err) {
      this.opts.logger?.warn({ err: (err as Error).message, count: transfers.length }, 'enqueue failed; the outbox relay will enqueue these transfers');
    }
  }

  /**
   * Records commands in one database transaction of their own (`recordManyIn`, the balance
   * rows taken last, then, if they moved meanwhile, first). A key
   * recorded meanwhile by another transaction makes the unique constraint refuse the whole
   * transaction: it is tried again, and then finds that transfer (a replay, or 409 for
   * another body). The one answer to that race, for groups and batch chunks alike.
   */
  async recordMany(cmds: RecordTransferCommand[]): Promise<Array<RecordTransferResult | DomainError>> {
    let lockFirst = false;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.db.transaction((tx) => this.recordManyIn(tx, cmds, { lockFirst }), { sqlOnly: true });
      } catch (err) {
        // Another writer used the room between the unlocked check and the write: nothing was
        // kept; again with the balance rows locked first, which answers each command itself.
        if (err instanceof BalancesMovedError && !lockFirst) { lockFirst = true; continue; }
        if (attempt < 3 && isKeyRace(err)) continue;
        throw err;
      }
    }
  }

  /**
   * One group: one database transaction, then one enqueue for all that were recorded. The
   * next group does not wait for the enqueue (each request does, before it answers).
   */
  private async recordGroup(cmds: RecordTransferCommand[]): Promise<Array<{ result: RecordTransferResult; enqueued: Promise<void> } | Error>> {
    let results: Array<RecordTransferResult | Error>;
    try {
      results = await this.recordMany(cmds);
    } catch (err) {
      if (cmds.length === 1) throw err;
      // A failure the group cannot pin on one request: each is recorded alone and gets its
      // own answer, so one bad request never fails the others.
      results = [];
      for (const cmd of cmds) results.push(await this.recordMany([cmd]).then(([r]) => r, (e: Error) => e));
    }
    const enqueued = this.enqueue(results.flatMap((r) => (r instanceof Error || r.replayed ? [] : [r.transfer])));
    return results.map((r) => (r instanceof Error ? r : { result: r, enqueued }));
  }
}

function isKeyRace(err: unknown): boolean {
  return pgCode(err) === PgError.uniqueViolation && pgConstraint(err) === 'transfers_idempotency_key_unique';
}

function keyReused(transferId?: string): DomainError {
  return new DomainError('idempotency_key_reused', 'this Idempotency-Key was used with a different request', transferId ? { transferId } : undefined);
}

function replay(existing: { transfer: Transfer; requestHash: string }, requestHash: string): RecordTransferResult | DomainError {
  return existing.requestHash === requestHash ? { transfer: existing.transfer, replayed: true } : keyReused(existing.transfer.id);
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
