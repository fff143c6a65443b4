import { Logger } from '@app/common';
import { appendJournal, Database, LedgerRepository } from '@app/persistence';
import { TransferQueue } from '../../transfer-queue';

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
    private readonly queue: TransferQueue,
    private readonly logger?: Logger,
    /** IN_DOUBT_BARRIER (see ExecuteTransferOptions): the relay leaves such sub-accounts alone. */
    private readonly inDoubtBarrierMs = 0,
  ) {}

  async execute(batch = 500): Promise<SweepResult> {
    const leasesExpired = await this.db.transaction(async (tx) => {
      const rows = await tx.query<{ id: string; provider_account_id: string; attempts: number; claimed_by: string | null }>(
        `UPDATE transfers SET status = 'in_doubt', lease_expires_at = NULL, failure_reason = 'lease expired during the provider call', in_doubt_at = clock_timestamp()
          WHERE id IN (SELECT id FROM transfers WHERE provider_account_id = $2 AND status = 'executing' AND lease_expires_at < now()
                        ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED)
          RETURNING id, provider_account_id, attempts, claimed_by`,
        [batch, this.providerAccount],
      );
      for (const r of rows) {
        await appendJournal(tx, {
          providerAccount: r.provider_account_id, actor: 'system:sweeper', action: 'transfer.in_doubt', entityType: 'transfer', entityId: r.id,
          reason: 'lease expired during the provider call', data: { attempt: r.attempts, worker: r.claimed_by },
        });
      }
      return rows.length;
    });

    const expiredRows = await this.db.query<{ id: string }>(
      `SELECT id FROM transfers WHERE provider_account_id = $2 AND status = 'pending' AND expires_at <= now() ORDER BY seq LIMIT $1`,
      [batch, this.providerAccount],
    );
    let expired = 0;
    for (const { id } of expiredRows) {
      expired += await this.db.transaction(async (tx) => {
        const [t] = await tx.query<{ provider_account_id: string; ledger_transaction_id: string }>(
          `SELECT provider_account_id, ledger_transaction_id FROM transfers WHERE id = $1 AND status = 'pending' AND expires_at <= now() FOR UPDATE SKIP LOCKED`,
          [id],
        );
        if (!t) return 0;
        await this.ledger.settle(tx, t.ledger_transaction_id, 'voided', 'system:sweeper', 'expired', { transferId: id });
        await tx.query(`UPDATE transfers SET status = 'failed', failure_reason = 'expired' WHERE id = $1`, [id]);
        await appendJournal(tx, {
          providerAccount: t.provider_account_id, actor: 'system:sweeper', action: 'transfer.failed', entityType: 'transfer', entityId: id,
          reason: 'expired', data: {},
        });
        return 1;
      });
    }

    const heads = await this.db.query<{ id: string; attempts: number }>(
      `SELECT DISTINCT ON (provider_account_id, subaccount_token) id, attempts, next_attempt_at
         FROM transfers t WHERE provider_account_id = $2 AND status = 'pending'
          AND NOT EXISTS (SELECT 1 FROM transfers e WHERE e.provider_account_id = t.provider_account_id
                            AND e.subaccount_token = t.subaccount_token AND e.status = 'executing')
          AND NOT EXISTS (SELECT 1 FROM transfers d WHERE d.provider_account_id = t.provider_account_id
                            AND d.subaccount_token = t.subaccount_token AND d.status = 'in_doubt'
                            AND d.in_doubt_at > clock_timestamp() - make_interval(secs => $3::double precision / 1000))
        ORDER BY provider_account_id, subaccount_token, seq LIMIT $1`,
      [batch, this.providerAccount, this.inDoubtBarrierMs],
    );
    const due = heads.filter((h) => (h as unknown as { next_attempt_at: Date }).next_attempt_at.getTime() <= Date.now());
    let enqueued = 0;
    if (due.length) {
      try {
        await this.queue.enqueue(due.map((h) => ({ transferId: h.id, attempt: h.attempts })), 0, { relay: true });
        enqueued = due.length;
      } catch (err) {
        this.logger?.warn({ err: (err as Error).message }, 'relay could not enqueue; will try again');
      }
    }
    return { leasesExpired, expired, enqueued };
  }
}
