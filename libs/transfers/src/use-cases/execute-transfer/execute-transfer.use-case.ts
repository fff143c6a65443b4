import { Logger, redactSecrets, scrubText, Semaphore } from '@app/common';
import { Money, subaccountCode } from '@app/ledger';
import { appendJournalMany, Database, JournalInput, LedgerRepository, ObservationsRepository, pgCode, pgConstraint, PgError, Tx } from '@app/persistence';
import { CreditBody, ProviderOutcome } from '@app/provider';
import { InDoubtBarrier, NO_BARRIER } from '../../domain/in-doubt-barrier';
import { decide, RetryPolicy } from '../../domain/outcome';
import { Transfer } from '../../domain/transfer';
import { JobRef, ProviderColumns, TransfersRepository } from '../../persistence/transfers.repository';
import { PostedSettlements } from './posted-settlements';
import { attemptEntry } from './attempt-entry';
import { ClaimGroups } from './claim-group';
import { CallRate } from '../../provider-call-rate';

/** The provider calls this use case needs (SmsPartnerClient implements them). */
export interface CreditCalls {
  addCredit(token: string, amount: Money): Promise<ProviderOutcome<CreditBody>>;
  removeCredit(token: string, amount: Money): Promise<ProviderOutcome<CreditBody>>;
}

export interface ExecuteTransferOptions extends RetryPolicy {
  /** The provider account whose key this worker holds: it never executes another's transfers. */
  providerAccount: string;
  leaseMs: number;
  workerId: string;
  logger?: Logger;
  onProviderCall?: (direction: string, outcome: ProviderOutcome<unknown>) => void;
  /**
   * Provider call slots shared by the worker's jobs (the calls in flight): a slot is taken
   * right before the call, once the transfer is claimed, and given back as soon as the call
   * has answered, so that neither the claim nor recording the outcome holds the provider's
   * concurrency.
   */
  callSlots?: Semaphore;
  /**
   * Claims in progress or waiting for a call slot, as many as there are call slots: a claimed
   * transfer then waits, its lease ticking, for at most one call before its own (the lease
   * exceeds twice the provider timeout, see Config).
   */
  claimSlots?: Semaphore;
  /** IN_DOUBT_BARRIER: which later transfers of a sub-account wait while one is in doubt (InDoubtBarrier). Default: none. */
  inDoubtBarrier?: InDoubtBarrier;
  /** Settles confirmed calls in groups (one lock of `main` per group); without it, one by one. */
  settlements?: PostedSettlements;
  /** Runs before the claim (the in-doubt evidence takes a fresh reading of the sub-account when needed); never throws. */
  beforeCall?: (transferId: string) => Promise<void>;
  /** Claims the transfers that start together in one transaction; without it, one by one. */
  claims?: ClaimGroups;
  /** PROVIDER_RATE_LIMIT_PER_SECOND in calls: a permit is taken before the claim and given back if no call follows. */
  callRate?: CallRate;
}

export type ExecuteResult =
  | { kind: 'done'; transfer: Transfer; next: JobRef[] }
  | { kind: 'retry'; transfer: Transfer; delayMs: number }
  | { kind: 'skipped'; why: 'not_found' | 'not_pending' | 'busy' | 'blocked' | 'not_due'; delayMs?: number };

const ACTOR = 'system:worker';

/**
 * Executes one transfer against the provider: claim it in Postgres (status `executing`, with
 * a lease) BEFORE the HTTP call, so a duplicate delivery never calls twice; call; then apply
 * the classified outcome. At most one call per sub-account is in flight (a partial unique
 * index), in recording order.
 */
export class ExecuteTransferUseCase {
  constructor(
    private readonly db: Database,
    private readonly ledger: LedgerRepository,
    private readonly transfers: TransfersRepository,
    private readonly observations: ObservationsRepository,
    private readonly provider: CreditCalls,
    private readonly opts: ExecuteTransferOptions,
  ) {}

  async execute(transferId: string): Promise<ExecuteResult> {
    await this.opts.beforeCall?.(transferId);
    const releaseClaim = this.opts.claimSlots ? await this.opts.claimSlots.acquire() : () => undefined;
    let releaseCall: () => void = () => undefined;
    let t: Transfer;
    let startedAt: Date;
    let outcome: ProviderOutcome<CreditBody>;
    try {
      const permit = await this.opts.callRate?.take();
      const claim = await this.claim(transferId);
      if (claim.kind !== 'claimed') await permit?.giveBack(); // no call: the second's budget is for calls
      if (claim.kind === 'skipped') return claim;
      if (claim.kind === 'expired') {
        releaseClaim();
        return { kind: 'done', transfer: claim.transfer, next: await this.nextInLine(claim.transfer) };
      }
      t = claim.transfer;
      if (this.opts.callSlots) releaseCall = await this.opts.callSlots.acquire();
      releaseClaim();
      startedAt = new Date();
      outcome = t.direction === 'add'
        ? await this.provider.addCredit(t.subaccount, t.amount)
        : await this.provider.removeCredit(t.subaccount, t.amount);
    } finally {
      releaseClaim();
      releaseCall();
    }
    this.opts.onProviderCall?.(t.direction, outcome);
    const applied = await this.apply(t, outcome, startedAt);
    if (applied.kind === 'retry') return applied;
    return { kind: 'done', transfer: applied.transfer, next: applied.next ?? await this.nextInLine(applied.transfer) };
  }

  private async claim(id: string): Promise<{ kind: 'claimed' | 'expired'; transfer: Transfer } | Extract<ExecuteResult, { kind: 'skipped' }>> {
    // The ordinary case is claimed in a group; anything else (null) on its own, below.
    const grouped = await this.opts.claims?.submit(id);
    if (grouped) return grouped;
    try {
      return await this.db.transaction(async (tx) => {
        const c = await this.transfers.lockForClaim(tx, this.opts.providerAccount, id, this.opts.inDoubtBarrier ?? NO_BARRIER);
        if (!c) return { kind: 'skipped', why: 'not_found' } as const;
        if (c.transfer.status !== 'pending') return { kind: 'skipped', why: 'not_pending' } as const;
        if (c.expired) return { kind: 'expired', transfer: await this.fail(tx, c.transfer, 'expired', null) } as const;
        if (c.blocked) return { kind: 'skipped', why: 'blocked' } as const;
        if (c.dueInMs > 0) return { kind: 'skipped', why: 'not_due', delayMs: c.dueInMs } as const;
        // No journal entry here: the attempt's is written when it ends (trigger transfers_journal_attempt).
        const claimed = await this.transfers.markExecuting(tx, id, scrubText(this.opts.workerId), this.opts.leaseMs);
        return { kind: 'claimed', transfer: claimed } as const;
      }, { sqlOnly: true });
    } catch (err) {
      if (pgCode(err) === PgError.uniqueViolation && pgConstraint(err) === 'transfers_one_executing_per_subaccount') {
        return { kind: 'skipped', why: 'busy' };
      }
      throw err;
    }
  }

  /**
   * Applies an outcome for the attempt that was claimed. A transfer whose lease expired
   * meanwhile is already in doubt: a late definitive answer then resolves it.
   */
  private async apply(t: Transfer, outcome: ProviderOutcome<CreditBody>, startedAt: Date): Promise<{ kind: 'done'; transfer: Transfer; next?: JobRef[] } | { kind: 'retry'; transfer: Transfer; delayMs: number }> {
    const decision = decide(outcome, t.attempts, this.opts);
    if (decision.next === 'posted' && outcome.kind === 'ok' && this.opts.settlements) {
      const settled = await this.opts.settlements.submit({
        transfer: t, mainBalance: outcome.body.mainBalance, subaccountBalance: outcome.body.subaccountBalance, provider: providerColumns(outcome), startedAt,
      });
      if (settled) return { kind: 'done', transfer: settled.transfer, next: settled.next };
      // Not the ordinary case (a late answer, an attempt no longer current) or the group
      // failed: applied below, on its own.
    }
    // The worker's per-transfer transactions are set-based SQL only (see Database.transaction).
    return this.db.transaction(async (tx) => {
      const current = await this.transfers.lockAttempt(tx, t.id, t.attempts);
      if (!current) {
        this.opts.logger?.warn({ transferId: t.id, attempt: t.attempts }, 'outcome for an attempt that is no longer current; ignored');
        return { kind: 'done', transfer: t };
      }
      const late = current.status === 'in_doubt';
      // The attempt ends here unless it already went in doubt (the sweeper journaled it then).
      const attempt = late ? [] : [attemptEntry(t, this.opts.workerId, startedAt)];
      const provider = providerColumns(outcome);
      if (decision.next === 'posted') {
        if (outcome.kind !== 'ok') throw new Error('unreachable: posted without an ok outcome');
        await this.ledger.settle(tx, t.ledgerTransactionId, 'posted', ACTOR, 'provider confirmed', { transferId: t.id });
        const transfer = await this.setStatus(tx, t, 'posted', provider, null, late ? 'late provider answer: applied' : null, attempt);
        await this.observe(tx, t, outcome.body, startedAt);
        return { kind: 'done', transfer };
      }
      if (decision.next === 'failed') return { kind: 'done', transfer: await this.fail(tx, t, decision.reason, provider, late, attempt) };
      if (late && decision.next === 'retry') {
        // A not_sent answer proves the late attempt never reached the provider either.
        return { kind: 'done', transfer: await this.fail(tx, t, 'provider_unreachable', provider, late) };
      }
      if (decision.next === 'retry') {
        const retrying = await this.transfers.scheduleRetry(tx, t.id, decision.delayMs, `retrying: ${decision.reason}`);
        await appendJournalMany(tx, [...attempt, {
          providerAccount: t.providerAccount, actor: ACTOR, action: 'transfer.retry_scheduled', entityType: 'transfer', entityId: t.id,
          reason: decision.reason, data: { attempt: t.attempts, delayMs: decision.delayMs },
        }]);
        return { kind: 'retry', transfer: retrying, delayMs: decision.delayMs };
      }
      // in doubt: keep the reservation, never retry.
      const transfer = late ? current : await this.setStatus(tx, t, 'in_doubt', provider, decision.reason, null, attempt);
      return { kind: 'done', transfer };
    }, { sqlOnly: true });
  }

  /** `attempt`: the entry of the attempt this ends (attempt-entry.ts), journaled just before the outcome's. */
  private async setStatus(tx: Tx, t: Transfer, status: 'posted' | 'in_doubt' | 'failed' | 'voided', provider: ProviderColumns | null, failureReason: string | null, resolution: string | null, attempt: JournalInput[] = []): Promise<Transfer> {
    const updated = await this.transfers.setStatus(tx, t.id, { status, provider, failureReason, resolution, actor: ACTOR });
    await appendJournalMany(tx, [...attempt, {
      providerAccount: t.providerAccount, actor: ACTOR, action: `transfer.${status}`, entityType: 'transfer', entityId: t.id,
      reason: resolution ?? failureReason, data: { attempt: t.attempts, provider: provider ? { ...provider, raw: undefined } : null },
    }]);
    return updated;
  }

  private async fail(tx: Tx, t: Transfer, reason: string, provider: ProviderColumns | null, late = false, attempt: JournalInput[] = []): Promise<Transfer> {
    await this.ledger.settle(tx, t.ledgerTransactionId, 'voided', ACTOR, reason, { transferId: t.id });
    return this.setStatus(tx, t, late ? 'voided' : 'failed', provider, reason, late ? `late provider answer: ${reason}` : null, attempt);
  }

  /**
   * Stores the balances the provider returned as observations, with the ledger's posted
   * balance at this point. The main account's figure is "settled" only if no other call on
   * the same provider account overlapped this one.
   */
  private async observe(tx: Tx, t: Transfer, body: CreditBody, startedAt: Date): Promise<void> {
    const overlapped = (await this.transfers.overlapped(tx, t.providerAccount, [{ id: t.id, startedAt }])).get(t.id) ?? true;
    await this.observations.recordReadings(tx, {
      providerAccount: t.providerAccount, source: 'transfer', transferId: t.id, readStartedAt: startedAt,
      readings: [{ code: subaccountCode(t.subaccount), balance: body.subaccountBalance, settled: true }, { code: 'main', balance: body.mainBalance, settled: !overlapped }],
    });
  }

  /** The next pending transfer of the same sub-account, now free to run (a settlement group finds it for its own). */
  private async nextInLine(t: Transfer): Promise<JobRef[]> {
    const next = (await this.transfers.nextPendingOf(t.providerAccount, [t.subaccount])).get(t.subaccount);
    return next ? [next] : [];
  }
}

function providerColumns(o: ProviderOutcome<CreditBody>): ProviderColumns {
  switch (o.kind) {
    case 'ok':
      return { code: 200, message: null, credit: o.body.mainBalance.toFixed(), subaccountCredit: o.body.subaccountBalance.toFixed(), raw: redactSecrets(o.raw) };
    case 'rejected':
      return { code: o.code, message: o.message, credit: null, subaccountCredit: null, raw: redactSecrets(o.raw) };
    case 'not_sent':
      return { code: null, message: o.cause, credit: null, subaccountCredit: null, raw: null };
    case 'unknown':
      return { code: o.httpStatus ?? null, message: o.cause, credit: null, subaccountCredit: null, raw: o.rawText ? { text: o.rawText.slice(0, 2000) } : null };
  }
}
