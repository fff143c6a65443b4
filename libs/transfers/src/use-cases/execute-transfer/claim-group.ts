import { GroupCommit, Logger } from '@app/common';
import { appendJournalMany, Database, Tx } from '@app/persistence';
import { Transfer } from '../../domain/transfer';
import { toTransfer } from '../../persistence/transfers.repository';
import { TransferClaimsRepository } from '../../persistence/transfer-claims.repository';

/** What a claim group answers for one transfer; `null`: claim it on its own. */
export type GroupClaim =
  | { kind: 'claimed'; transfer: Transfer }
  | { kind: 'skipped'; why: 'not_found' | 'not_pending' | 'busy' | 'blocked' | 'not_due'; delayMs?: number }
  | null;

export interface ClaimGroupsOptions {
  providerAccount: string;
  workerId: string;
  leaseMs: number;
  inDoubtBarrierMs?: number;
  logger?: Logger;
  maxGroup?: number;
}

const ACTOR = 'system:worker';

/**
 * Claim group commit. A claim (pending → executing, attempt + 1, lease, journal entry) is a
 * database transaction of its own that takes the journal chain head's lock and ends with a
 * COMMIT (a WAL flush): one per executed transfer, queued behind recording and settlement
 * groups for the same chain head. The claims that arrive while a claim is in flight are
 * therefore made together in the next transaction (`GroupCommit`, as recording and
 * settlements do): one lock of the transfers in id order, one UPDATE, one journal
 * statement, one COMMIT. Every caller is answered only after that COMMIT, so a claim is
 * durable before its provider call, as before.
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
    try {
      return await this.db.transaction((tx) => this.claimIn(tx, ids));
    } catch (err) {
      this.opts.logger?.warn({ err: (err as Error).message, transfers: ids.length }, 'claim group failed; claiming its transfers one by one');
      return ids.map(() => null);
    }
  }

  private async claimIn(tx: Tx, ids: string[]): Promise<GroupClaim[]> {
    const first = new Map<string, number>();
    ids.forEach((id, i) => { if (!first.has(id)) first.set(id, i); });
    const rows = await this.repo.lockCandidates(tx, this.opts.providerAccount, [...first.keys()], this.opts.inDoubtBarrierMs ?? 0);
    const byId = new Map(rows.map((r) => [r.id, r]));
    const answers: GroupClaim[] = ids.map((id, i) => {
      if (first.get(id) !== i) return null; // submitted twice: the second looks after this group's commit
      const row = byId.get(id);
      if (!row) return { kind: 'skipped', why: 'not_found' };
      if (row.status !== 'pending') return { kind: 'skipped', why: 'not_pending' };
      if (row.expired) return null; // failed (and voided) on its own
      if (row.blocked) return { kind: 'skipped', why: 'blocked' };
      if (row.due_in_ms > 0) return { kind: 'skipped', why: 'not_due', delayMs: row.due_in_ms };
      if (row.busy) return { kind: 'skipped', why: 'busy' };
      return { kind: 'claimed', transfer: toTransfer(row) };
    });
    // At most one claim per sub-account: an earlier pending transfer blocks a later one, so two
    // can only meet here if the facts changed between reads; the later one then counts as busy.
    const subaccounts = new Set<string>();
    answers.forEach((a, i) => {
      if (a?.kind !== 'claimed') return;
      if (subaccounts.has(a.transfer.subaccount)) answers[i] = { kind: 'skipped', why: 'busy' };
      subaccounts.add(a.transfer.subaccount);
    });
    const claimable = answers.flatMap((a) => (a?.kind === 'claimed' ? [a.transfer.id] : []));
    if (!claimable.length) return answers;
    const claimed = new Map((await this.repo.markExecuting(tx, claimable, this.opts.workerId, this.opts.leaseMs)).map((r) => [r.id, toTransfer(r)]));
    if (claimed.size !== claimable.length) throw new Error('a locked pending transfer could not be claimed');
    await appendJournalMany(tx, claimable.map((id) => ({
      providerAccount: this.opts.providerAccount, actor: ACTOR, action: 'transfer.executing', entityType: 'transfer',
      entityId: id, correlationId: null, data: { attempt: claimed.get(id)!.attempts, worker: this.opts.workerId },
    })));
    return answers.map((a) => (a?.kind === 'claimed' ? { kind: 'claimed', transfer: claimed.get(a.transfer.id)! } : a));
  }
}
