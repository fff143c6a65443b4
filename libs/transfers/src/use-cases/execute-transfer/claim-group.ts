import { GroupCommit, Logger } from '@app/common';
import { Database } from '@app/persistence';
import { Transfer } from '../../domain/transfer';
import { InDoubtBarrier, NO_BARRIER } from '../../domain/in-doubt-barrier';
import { toTransfer } from '../../persistence/transfer-row';
import { GroupClaimRow, TransferClaimsRepository } from '../../persistence/transfer-claims.repository';

/** What a claim group answers for one transfer; `null`: claim it on its own. */
export type GroupClaim =
  | { kind: 'claimed'; transfer: Transfer }
  | { kind: 'skipped'; why: 'not_found' | 'not_pending' | 'busy' | 'blocked' | 'not_due'; delayMs?: number }
  | null;

export interface ClaimGroupsOptions {
  providerAccount: string;
  workerId: string;
  leaseMs: number;
  inDoubtBarrier?: InDoubtBarrier;
  logger?: Logger;
  maxGroup?: number;
}

/**
 * Claim group commit. A claim (pending → executing, attempt + 1, lease) is a database
 * transaction of its own that ends with a COMMIT (a WAL flush): one per executed transfer.
 * It writes no journal entry (the attempt is journaled when it ends: attempt-entry.ts), so it
 * never waits for the journal chain head. The claims that arrive while a claim is in flight
 * are made together, in ONE statement (its own transaction: `claimMany`): lock the transfers
 * in id order, update those that may start; one round trip, one COMMIT. Every caller is
 * answered only after that COMMIT, so a claim is durable before its provider call.
 *
 * Each transfer is decided exactly as a claim on its own decides it, on the same locked row:
 * not found, not pending (a duplicate delivery), blocked (an earlier transfer of its
 * sub-account is pending), not yet due, busy (one of its sub-account is executing). Only the
 * ordinary cases are grouped: an expired transfer (its reservation is voided), a transfer
 * submitted twice in one group, or a group whose transaction fails (another process claimed
 * a transfer of the same sub-account meanwhile, a deadlock) is answered `null`, and the
 * caller claims it on its own, exactly as before (docs/pipeline.md, "Claim groups").
 */
export class ClaimGroups {
  private readonly groups: GroupCommit<string, GroupClaim>;
  private readonly repo = new TransferClaimsRepository();

  constructor(private readonly db: Database, private readonly opts: ClaimGroupsOptions) {
    this.groups = new GroupCommit((_account, ids) => this.claimGroup(ids), opts.maxGroup ?? 64);
  }

  /** The claim, or null when this transfer must be claimed by the caller alone. */
  submit(transferId: string): Promise<GroupClaim> {
    return this.groups.submit(this.opts.providerAccount, transferId);
  }

  private async claimGroup(ids: string[]): Promise<GroupClaim[]> {
    const first = new Map<string, number>();
    ids.forEach((id, i) => { if (!first.has(id)) first.set(id, i); });
    let rows: GroupClaimRow[];
    try {
      const o = this.opts;
      rows = await this.repo.claimMany(this.db, o.providerAccount, [...first.keys()], o.inDoubtBarrier ?? NO_BARRIER, o.workerId, o.leaseMs);
    } catch (err) {
      this.opts.logger?.warn({ err: (err as Error).message, transfers: ids.length }, 'claim group failed; claiming its transfers one by one');
      return ids.map(() => null);
    }
    const byId = new Map(rows.map((r) => [r.candidate_id, r]));
    return ids.map((id, i): GroupClaim => {
      if (first.get(id) !== i) return null; // submitted twice: the second looks after this group's commit
      const row = byId.get(id);
      if (!row) return { kind: 'skipped', why: 'not_found' };
      if (row.claimed) return { kind: 'claimed', transfer: toTransfer(row.claimed) };
      if (row.candidate_status !== 'pending') return { kind: 'skipped', why: 'not_pending' };
      if (row.expired) return null; // failed (and voided) on its own
      if (row.blocked) return { kind: 'skipped', why: 'blocked' };
      if (row.due_in_ms > 0) return { kind: 'skipped', why: 'not_due', delayMs: row.due_in_ms };
      // Busy, or a second startable transfer of a sub-account in this group (the earliest started).
      return { kind: 'skipped', why: 'busy' };
    });
  }
}
