import { Logger, redactSecrets, Semaphore } from '@app/common';
import { Money, subaccountCode } from '@app/ledger';
import { appendJournal, Database, LedgerRepository, pgCode, pgConstraint, PgError, Tx } from '@app/persistence';
import { CreditBody, ProviderOutcome } from '@app/provider';
import { decide, RetryPolicy } from '../../domain/outcome';
import { Transfer } from '../../domain/transfer';
import { TransferRow, toTransfer } from '../../persistence/transfers.repository';
import { TransferClaimsRepository } from '../../persistence/transfer-claims.repository';
import { PostedSettlements } from './posted-settlements';
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
   * Provider call slots shared by the worker's jobs: a slot is taken before the claim (so a
   * claimed transfer never waits, lease ticking, for a slot) and given back as soon as the
   * call has answered, so that recording the outcome never holds the provider's concurrency.
   */
  callSlots?: Semaphore;
  /**
   * IN_DOUBT_BARRIER: while a transfer of a sub-account is in doubt (for at most this long
   * after it went in doubt), the later transfers of that sub-account wait, so that each
   * in-doubt question stays about one call (docs/in-doubt.md). 0: off.
   */
  inDoubtBarrierMs?: number;
  /** Settles confirmed calls in groups (one lock of `main` per group); without it, one by one. */
  settlements?: PostedSettlements;
  /** Claims the transfers that start together in one transaction; without it, one by one. */
  claims?: ClaimGroups;
  /** PROVIDER_RATE_LIMIT_PER_SECOND in calls: a permit is taken before the claim and given back if no call follows. */
  callRate?: CallRate;
}

export type ExecuteResult =
  | { kind: 'done'; transfer: Transfer; next: Array<{ transferId: string; attempt: number }> }
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
  private readonly claimsSql = new TransferClaimsRepository();

  constructor(
    private readonly db: Database,
    private readonly ledger: LedgerRepository,
    private readonly provider: CreditCalls,
    private readonly opts: ExecuteTransferOptions,
  ) {}

  async execute(transferId: string): Promise<ExecuteResult> {
    const release = this.opts.callSlots ? await this.opts.callSlots.acquire() : () => undefined;
    let t: Transfer;
    let startedAt: Date;
    let outcome: ProviderOutcome<CreditBody>;
    try {
      const permit = await this.opts.callRate?.take();
      const claim = await this.claim(transferId);
      if (claim.kind !== 'claimed') await permit?.giveBack(); // no call: the second's budget is for calls
      if (claim.kind === 'skipped') return claim;
      if (claim.kind === 'expired') {
        release();
        return { kind: 'done', transfer: claim.transfer, next: await this.nextInLine(claim.transfer) };
      }
      t = claim.transfer;
      startedAt = new Date();
      outcome = t.direction === 'add'
        ? await this.provider.addCredit(t.subaccount, t.amount)
        : await this.provider.removeCredit(t.subaccount, t.amount);
    } finally {
      release();
    }
    this.opts.onProviderCall?.(t.direction, outcome);
    const applied = await this.apply(t, outcome, startedAt);
    if (applied.kind === 'retry') return applied;
    return { kind: 'done', transfer: applied.transfer, next: await this.nextInLine(applied.transfer) };
  }

  private async claim(id: string): Promise<{ kind: 'claimed' | 'expired'; transfer: Transfer } | Extract<ExecuteResult, { kind: 'skipped' }>> {
    // The ordinary case is claimed in a group; anything else (null) on its own, below.
    const grouped = await this.opts.claims?.submit(id);
    if (grouped) return grouped;
    try {
      return await this.db.transaction(async (tx) => {
        // The same locked facts as a claim group reads (TransferClaimsRepository).
        const [row] = await this.claimsSql.lockCandidates(tx, this.opts.providerAccount, [id], this.opts.inDoubtBarrierMs ?? 0);
        if (!row) return { kind: 'skipped', why: 'not_found' } as const;
        if (row.status !== 'pending') return { kind: 'skipped', why: 'not_pending' } as const;
        if (row.expired) return { kind: 'expired', transfer: await this.fail(tx, toTransfer(row), 'expired', null) } as const;
        if (row.blocked) return { kind: 'skipped', why: 'blocked' } as const;
        if (row.due_in_ms > 0) return { kind: 'skipped', why: 'not_due', delayMs: row.due_in_ms } as const;
        const [claimed] = await this.claimsSql.markExecuting(tx, [id], this.opts.workerId, this.opts.leaseMs);
        await appendJournal(tx, {
          providerAccount: claimed.provider_account_id, actor: ACTOR, action: 'transfer.executing', entityType: 'transfer',
          entityId: id, correlationId: null, data: { attempt: claimed.attempts, worker: this.opts.workerId },
        });
        return { kind: 'claimed', transfer: toTransfer(claimed) } as const;
      });
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
  private async apply(t: Transfer, outcome: ProviderOutcome<CreditBody>, startedAt: Date): Promise<{ kind: 'done'; transfer: Transfer } | { kind: 'retry'; transfer: Transfer; delayMs: number }> {
    const decision = decide(outcome, t.attempts, this.opts);
    if (decision.next === 'posted' && outcome.kind === 'ok' && this.opts.settlements) {
      const posted = await this.opts.settlements.submit({
        transfer: t, mainBalance: outcome.body.mainBalance, subaccountBalance: outcome.body.subaccountBalance, provider: providerColumns(outcome), startedAt,
      });
      if (posted) return { kind: 'done', transfer: posted };
      // Not the ordinary case (a late answer, an attempt no longer current) or the group
      // failed: applied below, on its own.
    }
    return this.db.transaction(async (tx) => {
      const [row] = await tx.query<TransferRow>(
        `SELECT * FROM transfers WHERE id = $1 AND attempts = $2 AND status IN ('executing', 'in_doubt') FOR UPDATE`,
        [t.id, t.attempts],
      );
      if (!row) {
        this.opts.logger?.warn({ transferId: t.id, attempt: t.attempts }, 'outcome for an attempt that is no longer current; ignored');
        return { kind: 'done', transfer: t };
      }
      const late = row.status === 'in_doubt';
      const provider = providerColumns(outcome);
      if (decision.next === 'posted') {
        if (outcome.kind !== 'ok') throw new Error('unreachable: posted without an ok outcome');
        await this.ledger.settle(tx, t.ledgerTransactionId, 'posted', ACTOR, 'provider confirmed', { transferId: t.id });
        const transfer = await this.setStatus(tx, t, 'posted', provider, null, late ? 'late provider answer: applied' : null);
        await this.observe(tx, t, outcome.body, startedAt);
        return { kind: 'done', transfer };
      }
      if (decision.next === 'failed') return { kind: 'done', transfer: await this.fail(tx, t, decision.reason, provider, late) };
      if (late && decision.next === 'retry') {
        // A not_sent answer proves the late attempt never reached the provider either.
        return { kind: 'done', transfer: await this.fail(tx, t, 'provider_unreachable', provider, late) };
      }
      if (decision.next === 'retry') {
        const [r] = await tx.query<TransferRow>(
          `UPDATE transfers SET status = 'pending', lease_expires_at = NULL, claimed_by = NULL,
                  next_attempt_at = now() + make_interval(secs => $2::double precision / 1000), failure_reason = $3
            WHERE id = $1 RETURNING *`,
          [t.id, decision.delayMs, `retrying: ${decision.reason}`],
        );
        await appendJournal(tx, {
          providerAccount: t.providerAccount, actor: ACTOR, action: 'transfer.retry_scheduled', entityType: 'transfer', entityId: t.id,
          reason: decision.reason, data: { attempt: t.attempts, delayMs: decision.delayMs },
        });
        return { kind: 'retry', transfer: toTransfer(r), delayMs: decision.delayMs };
      }
      // in doubt: keep the reservation, never retry.
      const transfer = late ? toTransfer(row) : await this.setStatus(tx, t, 'in_doubt', provider, decision.reason, null);
      return { kind: 'done', transfer };
    });
  }

  private async setStatus(tx: Tx, t: Transfer, status: 'posted' | 'in_doubt' | 'failed' | 'voided', provider: ProviderColumns | null, failureReason: string | null, resolution: string | null): Promise<Transfer> {
    const [r] = await tx.query<TransferRow>(
      `UPDATE transfers SET status = $2, lease_expires_at = NULL,
              provider_code = coalesce($3, provider_code), provider_message = coalesce($4, provider_message),
              provider_credit = coalesce($5, provider_credit), provider_subaccount_credit = coalesce($6, provider_subaccount_credit),
              provider_at = coalesce($7, provider_at), provider_raw = coalesce($8, provider_raw), failure_reason = $9,
              resolution_outcome = CASE WHEN $10::text IS NULL THEN resolution_outcome WHEN $2 = 'posted' THEN 'applied' ELSE 'not_applied' END,
              resolution_by = CASE WHEN $10::text IS NULL THEN resolution_by ELSE $11 END,
              resolution_reason = coalesce($10, resolution_reason),
              resolution_at = CASE WHEN $10::text IS NULL THEN resolution_at ELSE clock_timestamp() END,
              in_doubt_at = CASE WHEN $2 = 'in_doubt' THEN clock_timestamp() ELSE in_doubt_at END
        WHERE id = $1 RETURNING *`,
      [t.id, status, provider?.code ?? null, provider?.message ?? null, provider?.credit ?? null, provider?.subaccountCredit ?? null,
        provider ? new Date() : null, provider?.raw ? JSON.stringify(provider.raw) : null, failureReason, resolution, ACTOR],
    );
    await appendJournal(tx, {
      providerAccount: t.providerAccount, actor: ACTOR, action: `transfer.${status}`, entityType: 'transfer', entityId: t.id,
      reason: resolution ?? failureReason, data: { attempt: t.attempts, provider: provider ? { ...provider, raw: undefined } : null },
    });
    return toTransfer(r);
  }

  private async fail(tx: Tx, t: Transfer, reason: string, provider: ProviderColumns | null, late = false): Promise<Transfer> {
    await this.ledger.settle(tx, t.ledgerTransactionId, 'voided', ACTOR, reason, { transferId: t.id });
    return this.setStatus(tx, t, late ? 'voided' : 'failed', provider, reason, late ? `late provider answer: ${reason}` : null);
  }

  /**
   * Stores the balances the provider returned as observations, with the ledger's posted
   * balance at this point. The main account's figure is "settled" only if no other call on
   * the same provider account overlapped this one.
   */
  private async observe(tx: Tx, t: Transfer, body: CreditBody, startedAt: Date): Promise<void> {
    const [{ overlapped }] = await tx.query<{ overlapped: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM transfers WHERE provider_account_id = $1 AND id <> $2
                        AND (status = 'executing' OR (provider_at IS NOT NULL AND provider_at >= $3))) AS overlapped`,
      [t.providerAccount, t.id, startedAt],
    );
    await tx.query(
      `INSERT INTO observations (provider_account_id, account_id, source, balance, expected, settled, transfer_id, read_started_at)
       SELECT $1, a.id, 'transfer', v.balance, b.debits_posted - b.credits_posted, v.settled, $2, $7
         FROM (VALUES ($3::text, $4::numeric, true), ('main', $5::numeric, $6::boolean)) AS v(code, balance, settled)
         JOIN ledger_accounts a ON a.provider_account_id = $1 AND a.code = v.code
         JOIN balances b ON b.account_id = a.id`,
      [t.providerAccount, t.id, subaccountCode(t.subaccount), body.subaccountBalance.toFixed(), body.mainBalance.toFixed(), !overlapped, startedAt],
    );
  }

  /** The next pending transfer of the same sub-account, now free to run. */
  private async nextInLine(t: Transfer): Promise<Array<{ transferId: string; attempt: number }>> {
    const rows = await this.db.query<{ id: string; attempts: number }>(
      `SELECT id, attempts FROM transfers WHERE provider_account_id = $1 AND subaccount_token = $2 AND status = 'pending'
        ORDER BY seq LIMIT 1`,
      [t.providerAccount, t.subaccount],
    );
    return rows.map((r) => ({ transferId: r.id, attempt: r.attempts }));
  }
}

interface ProviderColumns { code: number | null; message: string | null; credit: string | null; subaccountCredit: string | null; raw: unknown }

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
