import { scrubText } from '@app/common';
import { Database } from '@app/persistence';
import { InDoubtBarrier } from '../domain/in-doubt-barrier';
import { TransferRow } from './transfer-row';

// The transfers $1 of provider account $2, locked in ascending id order (the order every
// multi-row lock of transfers takes), with the facts a claim decides on: the same as
// TransfersRepository.lockForClaim ($3, $4: the in-doubt barrier's ms and amount gap), and busy.
// The rows are found by id alone, so the plan is one primary-key probe per id whatever the
// statistics say; the caller keeps those of its provider account (`ours`). With the provider
// account in the same WHERE, on tables never analyzed (a fresh database, autovacuum off) the
// planner also scanned, or sorted, every transfer of the provider account: 1–20 ms a claim
// (docs/benchmarks.md, "Issue 16, sixth pass").
/**
 * The in-doubt barrier (InDoubtBarrier) as SQL: an in-doubt transfer of `t`'s sub-account holds
 * `t`, for `ms` after it went in doubt, when their amounts are within `within` (NULL: always).
 * The claims and the relay (TransferSweepsRepository.relayHeads) read this one condition.
 */
export const heldInDoubt = (ms: string, within: string) => `EXISTS (SELECT 1 FROM transfers d WHERE d.provider_account_id = t.provider_account_id
                   AND d.subaccount_token = t.subaccount_token AND d.status = 'in_doubt'
                   AND d.in_doubt_at > clock_timestamp() - make_interval(secs => ${ms}::double precision / 1000)
                   AND (${within}::numeric IS NULL OR (d.amount > ${within}::numeric AND abs(d.amount - t.amount) <= ${within}::numeric)))`;

export const CLAIM_CANDIDATES = `
  SELECT t.*, t.provider_account_id = $2::text AS ours, greatest(0, extract(epoch FROM t.next_attempt_at - now()) * 1000)::int AS due_in_ms,
         t.expires_at <= now() AS expired,
         EXISTS (SELECT 1 FROM transfers o WHERE o.provider_account_id = t.provider_account_id
                   AND o.subaccount_token = t.subaccount_token AND o.status = 'pending' AND o.seq < t.seq)
         OR ${heldInDoubt('$3', '$4')} AS blocked,
         EXISTS (SELECT 1 FROM transfers x WHERE x.provider_account_id = t.provider_account_id
                   AND x.subaccount_token = t.subaccount_token AND x.status = 'executing') AS busy
    FROM transfers t WHERE t.id = ANY($1::uuid[])
   ORDER BY t.id FOR UPDATE OF t`;

/** One transfer of a claim group: the facts read under its lock, and the row as claimed (null: not claimed). */
export interface GroupClaimRow {
  candidate_id: string;
  candidate_status: TransferRow['status'];
  due_in_ms: number;
  expired: boolean;
  blocked: boolean;
  busy: boolean;
  claimed: TransferRow | null;
}

/**
 * SQL of claim groups (`ClaimGroups`): one statement of its own. A claim on its own uses
 * TransfersRepository (lockForClaim, markExecuting): the same facts, one transfer.
 */
export class TransferClaimsRepository {
  /**
   * A claim group as ONE statement, so its own transaction (autocommit: the answer comes after
   * the COMMIT): lock the transfers (ascending id) with the facts a claim decides on, move to
   * `executing` those that may start (pending, not expired, not blocked, due, not busy; at most
   * one per sub-account, the earliest). No journal entry: the attempt's entry is written when
   * it ends (use-cases/execute-transfer/attempt-entry.ts), so a claim never waits for the
   * journal chain head. One round trip and one WAL flush for the whole group. Each row: the
   * locked facts (before the claim) and, if claimed, `claimed` with the row as the claim left
   * it. If the statement fails, nothing is claimed.
   */
  async claimMany(db: Database, providerAccount: string, ids: string[], barrier: InDoubtBarrier, workerId: string, leaseMs: number): Promise<GroupClaimRow[]> {
    const rows = await db.query<GroupClaimRow & Partial<TransferRow>>(
      `WITH c AS (${CLAIM_CANDIDATES}), ok AS (
         SELECT DISTINCT ON (subaccount_token) id FROM c
          WHERE ours AND status = 'pending' AND NOT expired AND NOT blocked AND due_in_ms = 0 AND NOT busy
          ORDER BY subaccount_token, seq
       ), u AS (
         UPDATE transfers t SET status = 'executing', attempts = t.attempts + 1, claimed_by = $5, call_started_at = clock_timestamp(),
                lease_expires_at = now() + make_interval(secs => $6::double precision / 1000)
           FROM ok WHERE t.id = ok.id AND t.status = 'pending' RETURNING t.*
       )
       SELECT c.id AS candidate_id, c.status AS candidate_status, c.due_in_ms, c.expired, c.blocked, c.busy, u.*
         FROM c LEFT JOIN u ON u.id = c.id WHERE c.ours ORDER BY c.id`,
      // The worker id goes into the journal when the attempt ends: scrubbed as every journal text is.
      [ids, providerAccount, barrier.ms, barrier.within, scrubText(workerId), leaseMs],
    );
    return rows.map((r) => ({
      candidate_id: r.candidate_id, candidate_status: r.candidate_status, due_in_ms: r.due_in_ms, expired: r.expired, blocked: r.blocked, busy: r.busy,
      claimed: r.id ? (r as TransferRow) : null,
    }));
  }
}
