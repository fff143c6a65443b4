import { Database, Tx } from '@app/persistence';
import { InDoubtBarrier } from '../domain/in-doubt-barrier';
import { heldInDoubt } from './transfer-claims.repository';
import { JobRef } from './transfers.repository';

/**
 * The sweeper's statements on `transfers` (SweepTransfersUseCase): expired leases go in doubt,
 * expired pending transfers fail, and the outbox relay finds the heads of line to enqueue.
 */
export class TransferSweepsRepository {
  constructor(private readonly db: Database) {}

  /** Executing transfers whose lease ran out go in doubt (at most `batch`, skipping locked rows). */
  async expireLeases(tx: Tx, providerAccount: string, batch: number, reason: string): Promise<Array<{ id: string; attempts: number; claimedBy: string | null; callStartedAt: Date | null }>> {
    const rows = await tx.query<{ id: string; attempts: number; claimed_by: string | null; call_started_at: Date | null }>(
      `UPDATE transfers SET status = 'in_doubt', lease_expires_at = NULL, failure_reason = $3, in_doubt_at = clock_timestamp()
        WHERE id IN (SELECT id FROM transfers WHERE provider_account_id = $2 AND status = 'executing' AND lease_expires_at < now()
                      ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING id, attempts, claimed_by, call_started_at`,
      [batch, providerAccount, reason],
    );
    return rows.map((r) => ({ id: r.id, attempts: r.attempts, claimedBy: r.claimed_by, callStartedAt: r.call_started_at }));
  }

  /**
   * Pending transfers past their expiry (the database's clock), the longest expired first
   * (with one expiry for all, the oldest first), read through the expiry index: only the
   * expired ones, never the whole pending backlog. The provider account is checked outside
   * the fenced subquery (OFFSET 0): as a condition of the scan, a database without
   * statistics took the pending queue's index for it and read every pending transfer.
   */
  async expiredPending(providerAccount: string, batch: number): Promise<string[]> {
    const rows = await this.db.query<{ id: string }>(
      `SELECT e.id FROM (SELECT id, provider_account_id FROM transfers
                          WHERE status = 'pending' AND expires_at <= now() ORDER BY expires_at, seq OFFSET 0) e
        WHERE e.provider_account_id = $2 LIMIT $1`,
      [batch, providerAccount],
    );
    return rows.map((r) => r.id);
  }

  /** The transfer if it is still pending and expired, locked; null if another holds it or it moved on. */
  async lockExpiredPending(tx: Tx, id: string): Promise<{ providerAccount: string; ledgerTransactionId: string } | null> {
    const [t] = await tx.query<{ provider_account_id: string; ledger_transaction_id: string }>(
      `SELECT provider_account_id, ledger_transaction_id FROM transfers WHERE id = $1 AND status = 'pending' AND expires_at <= now() FOR UPDATE SKIP LOCKED`,
      [id],
    );
    return t ? { providerAccount: t.provider_account_id, ledgerTransactionId: t.ledger_transaction_id } : null;
  }

  async markFailed(tx: Tx, id: string, failureReason: string): Promise<void> {
    await tx.query(`UPDATE transfers SET status = 'failed', failure_reason = $2 WHERE id = $1`, [id, failureReason]);
  }

  /**
   * The outbox relay's heads: the first pending transfer of every sub-account, when no call of
   * that sub-account is in flight and none holds the head in doubt (`lockForClaim`'s barrier),
   * with when it is due. A held head stands for its sub-account: nothing behind it is offered
   * (a claim would only find it blocked). The heads are found first (the pending queue index),
   * then only they are checked: checking every pending transfer cost ~110 ms a pass with a
   * 10,000-transfer backlog (docs/benchmarks.md, "Issue 16, sixth pass").
   */
  async relayHeads(providerAccount: string, batch: number, barrier: InDoubtBarrier): Promise<Array<JobRef & { nextAttemptAt: Date }>> {
    const rows = await this.db.query<{ id: string; attempts: number; next_attempt_at: Date }>(
      `SELECT t.id, t.attempts, t.next_attempt_at
         FROM (SELECT DISTINCT ON (subaccount_token) id, provider_account_id, subaccount_token, amount, attempts, next_attempt_at
                 FROM transfers WHERE provider_account_id = $2 AND status = 'pending'
                ORDER BY subaccount_token, seq) t
        WHERE NOT EXISTS (SELECT 1 FROM transfers e WHERE e.provider_account_id = t.provider_account_id
                            AND e.subaccount_token = t.subaccount_token AND e.status = 'executing')
          AND NOT ${heldInDoubt('$3', '$4')}
        ORDER BY t.subaccount_token LIMIT $1`,
      [batch, providerAccount, barrier.ms, barrier.within],
    );
    return rows.map((r) => ({ transferId: r.id, attempt: r.attempts, nextAttemptAt: r.next_attempt_at }));
  }
}
