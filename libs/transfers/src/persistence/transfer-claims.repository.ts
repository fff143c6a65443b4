import { Tx } from '@app/persistence';
import { TransferRow } from './transfers.repository';

/** A transfer locked for a claim, with what decides whether it may start now. */
export interface ClaimCandidate extends TransferRow {
  /** Milliseconds until its retry is due (0: due). */
  due_in_ms: number;
  expired: boolean;
  /** An earlier transfer of its sub-account is still pending (or, with the barrier, recently in doubt). */
  blocked: boolean;
  /** A transfer of its sub-account is executing: the one-executing index would refuse the claim. */
  busy: boolean;
}

/**
 * SQL of claim groups (`ClaimGroups`): the claims of several transfers of one provider
 * account in one database transaction. Writes take the caller's transaction.
 */
export class TransferClaimsRepository {
  /**
   * Locks the transfers (ascending id, the order every multi-row lock of transfers takes)
   * and reads, for each, the facts the claim decides on; the same conditions as a claim on
   * its own. A transfer that does not exist or belongs to another provider account is absent.
   */
  async lockCandidates(tx: Tx, providerAccount: string, ids: string[], inDoubtBarrierMs: number): Promise<ClaimCandidate[]> {
    return tx.query<ClaimCandidate>(
      `SELECT t.*, greatest(0, extract(epoch FROM t.next_attempt_at - now()) * 1000)::int AS due_in_ms,
              t.expires_at <= now() AS expired,
              EXISTS (SELECT 1 FROM transfers o WHERE o.provider_account_id = t.provider_account_id
                        AND o.subaccount_token = t.subaccount_token AND o.status = 'pending' AND o.seq < t.seq)
              OR EXISTS (SELECT 1 FROM transfers d WHERE d.provider_account_id = t.provider_account_id
                        AND d.subaccount_token = t.subaccount_token AND d.status = 'in_doubt'
                        AND d.in_doubt_at > clock_timestamp() - make_interval(secs => $3::double precision / 1000)) AS blocked,
              EXISTS (SELECT 1 FROM transfers x WHERE x.provider_account_id = t.provider_account_id
                        AND x.subaccount_token = t.subaccount_token AND x.status = 'executing') AS busy
         FROM transfers t WHERE t.id = ANY($1::uuid[]) AND t.provider_account_id = $2
        ORDER BY t.id FOR UPDATE OF t`,
      [ids, providerAccount, inDoubtBarrierMs],
    );
  }

  /** Moves the locked transfers to `executing` (attempt + 1, call start, lease), as one statement. */
  async markExecuting(tx: Tx, ids: string[], workerId: string, leaseMs: number): Promise<TransferRow[]> {
    return tx.query<TransferRow>(
      `UPDATE transfers SET status = 'executing', attempts = attempts + 1, claimed_by = $2, call_started_at = clock_timestamp(),
              lease_expires_at = now() + make_interval(secs => $3::double precision / 1000)
        WHERE id = ANY($1::uuid[]) AND status = 'pending' RETURNING *`,
      [ids, workerId, leaseMs],
    );
  }
}
