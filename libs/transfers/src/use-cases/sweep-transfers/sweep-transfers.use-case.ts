import { Logger } from '@app/common';
import { appendJournal, appendJournalMany, Database, LedgerRepository } from '@app/persistence';
import { attemptEntry } from '../execute-transfer/attempt-entry';
import { InDoubtBarrier, NO_BARRIER } from '../../domain/in-doubt-barrier';
import { TransferSweepsRepository } from '../../persistence/transfer-sweeps.repository';
import { TransferQueue } from '../../transfer-queue';

const LEASE_EXPIRED = 'lease expired during the provider call';

export interface SweepResult { leasesExpired: number; expired: number; enqueued: number }

/**
 * The worker's periodic safety net:
 * - an `executing` transfer whose lease ran out (its worker died mid-call) becomes in_doubt:
 *   the call may have reached the provider, so it is never retried;
 * - a `pending` transfer past its expiry is failed as `expired` (voided), so a top-up never
 *   lands days late after an outage;
 * - the outbox relay: the head of every sub-account's pending line that is due is enqueued
 *   again (jobs lost with Redis, or never enqueued because Redis was down, are found here).
 */
export class SweepTransfersUseCase {
  constructor(
    /** Only this provider account's transfers: a worker serves one provider account. */
    private readonly providerAccount: string,
    private readonly db: Database,
    private readonly ledger: LedgerRepository,
    private readonly sweeps: TransferSweepsRepository,
    private readonly queue: TransferQueue,
    private readonly logger?: Logger,
    /** IN_DOUBT_BARRIER (see InDoubtBarrier): the relay leaves the transfers it holds alone. */
    private readonly inDoubtBarrier: InDoubtBarrier = NO_BARRIER,
  ) {}

  async execute(batch = 500): Promise<SweepResult> {
    const leasesExpired = await this.db.transaction(async (tx) => {
      const rows = await this.sweeps.expireLeases(tx, this.providerAccount, batch, LEASE_EXPIRED);
      // Each attempt ends here: its entry (its worker is gone), then the in-doubt one.
      await appendJournalMany(tx, rows.flatMap((r) => [attemptEntry({ providerAccount: this.providerAccount, id: r.id, attempts: r.attempts }, r.claimedBy, r.callStartedAt), {
        providerAccount: this.providerAccount, actor: 'system:sweeper', action: 'transfer.in_doubt', entityType: 'transfer', entityId: r.id,
        reason: LEASE_EXPIRED, data: { attempt: r.attempts, worker: r.claimedBy },
      }]));
      return rows.length;
    });

    const expiredIds = await this.sweeps.expiredPending(this.providerAccount, batch);
    let expired = 0;
    for (const id of expiredIds) {
      expired += await this.db.transaction(async (tx) => {
        const t = await this.sweeps.lockExpiredPending(tx, id);
        if (!t) return 0;
        await this.ledger.settle(tx, t.ledgerTransactionId, 'voided', 'system:sweeper', 'expired', { transferId: id });
        await this.sweeps.markFailed(tx, id, 'expired');
        await appendJournal(tx, {
          providerAccount: t.providerAccount, actor: 'system:sweeper', action: 'transfer.failed', entityType: 'transfer', entityId: id,
          reason: 'expired', data: {},
        });
        return 1;
      });
    }

    const heads = await this.sweeps.relayHeads(this.providerAccount, batch, this.inDoubtBarrier);
    const due = heads.filter((h) => h.nextAttemptAt.getTime() <= Date.now());
    let enqueued = 0;
    if (due.length) {
      try {
        await this.queue.enqueue(due.map((h) => ({ transferId: h.transferId, attempt: h.attempt })), 0, { relay: true });
        enqueued = due.length;
      } catch (err) {
        this.logger?.warn({ err: (err as Error).message }, 'relay could not enqueue; will try again');
      }
    }
    return { leasesExpired, expired, enqueued };
  }
}
