import { randomUUID } from 'node:crypto';
import { DomainError, Logger } from '@app/common';
import { Money } from '@app/ledger';
import { appendJournal, Database, pgCode, pgConstraint, PgError, Tx, withSavepoint } from '@app/persistence';
import { SubaccountReads } from '@app/subaccounts';
import { RecordTransferUseCase, Transfer, TransfersRepository } from '@app/transfers';
import { readProviderBalance } from '../../balance-reading';
import { Clock, decide, Decision, TOPUP_ACTOR, TopupPolicy, TopupRunStatus } from '../../domain/policy';
import { firesBetween, latestFire, parseSchedule, periodKey, Schedule } from '../../domain/schedule';
import { NewTopupRun, TopupsRepository } from '../../topups.repository';

export interface RunDueTopupsOptions {
  now: Clock;
  logger?: Logger;
  /** At most this many missed periods are listed per policy and catch-up (the oldest ones). Default 1000. */
  maxMissed?: number;
}

export interface RunDueTopupsResult {
  /** Runs this call wrote, by status (missed periods included). */
  decided: number;
  skipped: number;
  failed: number;
  missed: number;
  /** Due periods another call (another instance, an earlier tick) had already run. */
  alreadyRun: number;
  /** Target-mode periods left for the next tick: the provider could not be read. */
  deferred: number;
  /** Transfers recorded (and enqueued) by this call. */
  transfers: Transfer[];
}

type PolicyOutcome =
  | { kind: 'ran'; status: TopupRunStatus; missed: number; transfer: Transfer | null }
  | { kind: 'already_run' }
  | { kind: 'policy_changed' };

/**
 * One scheduler tick: for each enabled, non-deleted policy, the latest period that is due
 * (its fire is at or before now and after the policy took effect) runs once: one run row,
 * and for a decided amount one transfer through the normal pipeline, in ONE database
 * transaction. The unique constraint topup_runs_one_per_period makes that at most once per
 * (policy, period), whatever the number of instances ticking together; the transfer's
 * idempotency key `topup:<policy>:<period>` says the same to the pipeline. Older periods that
 * fell due without a run (the service was down) are listed as `missed`, not replayed.
 * See docs/topups.md.
 */
export class RunDueTopupsUseCase {
  constructor(
    private readonly db: Database,
    private readonly topups: TopupsRepository,
    private readonly transfers: TransfersRepository,
    private readonly recordTransfer: RecordTransferUseCase,
    private readonly provider: SubaccountReads,
    private readonly opts: RunDueTopupsOptions,
  ) {}

  async execute(providerAccount: string, now: Date = this.opts.now()): Promise<RunDueTopupsResult> {
    const result: RunDueTopupsResult = { decided: 0, skipped: 0, failed: 0, missed: 0, alreadyRun: 0, deferred: 0, transfers: [] };
    for (const policy of await this.topups.activePolicies(providerAccount)) {
      try {
        const o = await this.runPolicy(policy, now, result);
        if (!o) continue;
        if (o.kind === 'already_run') result.alreadyRun++;
        else if (o.kind === 'ran') {
          result[o.status]++;
          result.missed += o.missed;
          if (o.transfer) result.transfers.push(o.transfer);
        }
      } catch (err) {
        // One policy's trouble (e.g. its zone vanished from the system's tz database) must not stop the others.
        this.opts.logger?.error({ policyId: policy.id, err: (err as Error).message }, 'top-up policy could not run');
      }
    }
    // After commit: a transfer whose enqueue fails is picked up by the outbox relay.
    if (result.transfers.length) await this.recordTransfer.enqueue(result.transfers);
    return result;
  }

  private async runPolicy(p: TopupPolicy, now: Date, result: RunDueTopupsResult): Promise<PolicyOutcome | null> {
    const s = parseSchedule(p.schedule, p.timezone);
    const due = latestFire(s, now);
    if (!due || due <= p.effectiveFrom) return null;
    const key = periodKey(due, p.timezone);
    // Cheap check first: the usual tick finds the period already run and reads nothing else.
    if (await this.topups.hasRun(this.db, p.id, key)) return { kind: 'already_run' };

    let observed: Money | null = null;
    if (p.mode === 'target') {
      try {
        observed = await readProviderBalance(this.provider, p.subaccount);
      } catch (err) {
        if (!(err instanceof DomainError)) throw err;
        // Nothing was decided: the next tick reads again.
        this.opts.logger?.warn({ policyId: p.id, period: key, err: err.message }, 'top-up deferred: the provider balance could not be read');
        result.deferred++;
        return null;
      }
    }
    try {
      return await this.db.transaction((tx) => this.decideAndRecord(tx, p, s, due, key, now, observed));
    } catch (err) {
      if (pgCode(err) === PgError.uniqueViolation && pgConstraint(err) === 'topup_runs_one_per_period') return { kind: 'already_run' };
      throw err;
    }
  }

  private async decideAndRecord(tx: Tx, p: TopupPolicy, s: Schedule, due: Date, key: string, now: Date, observed: Money | null): Promise<PolicyOutcome> {
    // Instances ticking together queue here; the policy cannot change under the decision.
    const locked = await this.topups.lockPolicy(tx, p.providerAccount, p.id);
    if (!locked.enabled || locked.deletedAt || locked.updatedAt.getTime() !== p.updatedAt.getTime()) return { kind: 'policy_changed' };
    if (await this.topups.hasRun(tx, p.id, key)) return { kind: 'already_run' };

    const missed = await this.recordMissed(tx, p, s, due, key);
    let decision: Decision | null = null;
    let failure: string | null = null;
    if (p.mode === 'target' && observed === null) {
      failure = `the provider does not list sub-account ${p.subaccount}`;
    } else {
      const reading = p.mode === 'target' ? { observed: observed!, pendingNet: await this.transfers.pendingNet(tx, p.providerAccount, p.subaccount) } : null;
      decision = decide(p, reading);
    }
    const late = now.getTime() - due.getTime() > 5 * 60_000 ? `caught up at ${now.toISOString()}: ` : '';
    const base = { policy: p, key, due, observed };

    if (failure) {
      await this.insertRun(tx, { ...base, status: 'failed', amount: null, explanation: `${late}${failure}` });
      return { kind: 'ran', status: 'failed', missed, transfer: null };
    }
    if (!decision!.amount) {
      await this.insertRun(tx, { ...base, status: 'skipped', amount: null, explanation: `${late}${decision!.explanation}` });
      return { kind: 'ran', status: 'skipped', missed, transfer: null };
    }
    const amount = decision!.amount;
    try {
      // The transfer and its run in a savepoint: a refused transfer leaves a failed run instead.
      return await withSavepoint(tx, async () => {
        const runId = (await this.insertRun(tx, { ...base, status: 'decided', amount, explanation: `${late}${decision!.explanation}` }))!;
        const idempotencyKey = `topup:${p.id}:${key}`;
        const { transfer } = await this.recordTransfer.recordIn(tx, {
          providerAccount: p.providerAccount, subaccount: p.subaccount, direction: 'add', amount, idempotencyKey, actor: TOPUP_ACTOR,
          reference: `top-up ${key}`, metadata: { topupPolicy: p.id, topupPeriod: key }, correlationId: idempotencyKey,
        });
        await this.topups.setRunTransfer(tx, runId, transfer.id);
        return { kind: 'ran', status: 'decided', missed, transfer } as const;
      });
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      await this.insertRun(tx, { ...base, status: 'failed', amount: null, explanation: `${late}${decision!.explanation}; the transfer was refused: ${err.message}` });
      return { kind: 'ran', status: 'failed', missed, transfer: null };
    }
  }

  /** Periods after the last run (or the policy's start) and before the one being run. */
  private async recordMissed(tx: Tx, p: TopupPolicy, s: Schedule, due: Date, dueKey: string): Promise<number> {
    const last = await this.topups.lastScheduledFor(tx, p.id);
    const from = last && last > p.effectiveFrom ? last : p.effectiveFrom;
    const max = this.opts.maxMissed ?? 1000;
    const fires = firesBetween(s, from, due, max + 1).filter((f) => f < due);
    if (fires.length > max) this.opts.logger?.warn({ policyId: p.id, listed: max }, 'more missed top-up periods than listed');
    let n = 0;
    for (const f of fires.slice(0, max)) {
      const id = await this.insertRun(tx, {
        policy: p, key: periodKey(f, p.timezone), due: f, observed: null, status: 'missed', amount: null,
        explanation: `missed: no run while this period was due (the scheduler was down or could not decide); not replayed, only the latest due period (${dueKey}) is run`,
      }, true);
      if (id) n++;
    }
    return n;
  }

  private async insertRun(tx: Tx, r: NewTopupRun, ignoreExisting = false): Promise<string | null> {
    const id = await this.topups.insertRun(tx, randomUUID(), r, ignoreExisting);
    if (!id) return null;
    await appendJournal(tx, {
      providerAccount: r.policy.providerAccount, actor: TOPUP_ACTOR, action: `topup_run.${r.status}`, entityType: 'topup_run', entityId: id,
      reason: r.explanation, data: { policy: r.policy.id, period: r.key, scheduledFor: r.due.toISOString(), amount: r.amount?.toFixed() ?? null },
    });
    return id;
  }
}
