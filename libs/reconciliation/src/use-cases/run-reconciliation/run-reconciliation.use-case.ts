import { randomUUID } from 'node:crypto';
import { DomainError, scrubText } from '@app/common';
import { adjustmentPostings, Money } from '@app/ledger';
import { Database, LedgerRepository, trySavepoint, Tx } from '@app/persistence';
import { SubaccountReads } from '@app/subaccounts';
import { EvidenceQueries, ResolveTransferUseCase, SettleInDoubtUseCase, TransfersRepository } from '@app/transfers';
import {
  AccountVerdict, BookedUsage, ComparedAccount, compareReadings, Evaluation, evaluateRun, InDoubtVerdicts, ProviderReading, RunEvidence, usageCandidates,
} from '../../domain/evaluate-run';
import { DEFAULT_TOLERANCE, RECONCILIATION_ACTOR, suggestionFor } from '../../domain/reconciliation';
import { ReconciliationRepository } from '../../persistence/reconciliation.repository';
import { UsageBookingsRepository } from '../../persistence/usage-bookings.repository';
import { ItemView, ReconciliationQueries, RunDetail, RunSummary } from '../../reconciliation.queries';
import { readProvider, ReadFailure } from './read-provider';
import { DriftAlert, RunReconciliationCommand, RunReconciliationOptions } from './run-reconciliation.command';

/** The snapshot: what was compared, at which ledger position, and the observation of each account. */
interface Snapshot {
  readStartedAt: Date;
  readFinishedAt: Date;
  accounts: ComparedAccount[];
  observations: Map<string, { id: string; at: Date }>;
  unknownSubaccounts: number;
}

/** What a completed run wrote: the verdicts and the items as stored. */
interface Written { evaluation: Evaluation; items: ItemView[] }

/**
 * One reconciliation run, in three steps (docs/reconciliation.md): **read** the provider
 * (`/me` and every page of the sub-account list), **evaluate** (the pure `evaluateRun` of
 * domain/evaluate-run.ts, fed with the ledger's balances at the snapshot, the transfers that
 * were moving, what the evidence rules decided and the usage booked) and **write** (the
 * repository: observations, findings, bookings, items, the summary). This class holds the
 * order of things and the I/O between them; the rules are in the domain, the SQL in the
 * repositories.
 */
export class RunReconciliationUseCase {
  private readonly tolerance: Money;
  private readonly queries: ReconciliationQueries;
  private readonly repository: ReconciliationRepository;
  private readonly transfers: TransfersRepository;
  private readonly usage: UsageBookingsRepository;
  private readonly settles = new Map<string, SettleInDoubtUseCase>();

  constructor(
    private readonly db: Database,
    private readonly ledger: LedgerRepository,
    private readonly provider: SubaccountReads,
    private readonly resolveTransfer: ResolveTransferUseCase,
    private readonly opts: RunReconciliationOptions = {},
  ) {
    this.tolerance = opts.tolerance === undefined ? DEFAULT_TOLERANCE : Money.parse(opts.tolerance);
    if (this.tolerance.isNegative()) throw new RangeError('tolerance must not be negative');
    this.queries = new ReconciliationQueries(db);
    this.repository = new ReconciliationRepository(db);
    this.transfers = new TransfersRepository(db);
    this.usage = new UsageBookingsRepository(db);
  }

  /** Starts a run and carries it out. Refused with `reconciliation_already_running` while another runs. */
  async execute(cmd: RunReconciliationCommand): Promise<RunDetail> {
    const { id } = await this.start(cmd);
    return this.perform(cmd.providerAccount, id);
  }

  /**
   * Inserts the `running` row: one running run per provider account, whatever the number of
   * processes (the loser gets `reconciliation_already_running` with the running run's id). A
   * run left running longer than `staleAfterMs` (its process died) is failed as abandoned first.
   */
  async start(cmd: RunReconciliationCommand): Promise<{ id: string; status: 'running'; startedAt: string }> {
    const id = randomUUID();
    const r = await this.repository.startRun({ id, ...cmd, tolerance: this.tolerance, staleAfterMs: this.opts.staleAfterMs ?? 30 * 60_000 });
    if (r.kind === 'no_provider_account') throw new DomainError('not_found', `provider account ${cmd.providerAccount} has no ledger yet: import its sub-accounts first`);
    if (r.kind === 'already_running') throw alreadyRunning(r.runId);
    return { id, status: 'running', startedAt: r.startedAt.toISOString() };
  }

  /** Carries out a started run. Provider trouble ends it `failed` (returned, not thrown). */
  async perform(providerAccount: string, runId: string): Promise<RunDetail> {
    let window: { from: Date | null; to: Date | null } = { from: null, to: null };
    let written: Written | null = null;
    try {
      const readStartedAt = await this.repository.now();
      window = { from: readStartedAt, to: null };
      const reading = await readProvider(this.provider, { maxListPages: this.opts.maxListPages, logger: this.opts.logger });
      const snapshot = await this.snapshot(providerAccount, runId, readStartedAt, reading);
      window = { from: snapshot.readStartedAt, to: snapshot.readFinishedAt };
      const evidence = await this.gatherEvidence(providerAccount, snapshot);
      written = await this.write(providerAccount, runId, snapshot, evidence);
    } catch (err) {
      if (err instanceof ReadFailure) {
        await this.fail(providerAccount, runId, err.message, window);
      } else {
        this.opts.logger?.error({ runId, err: (err as Error).message }, 'reconciliation run crashed');
        await this.fail(providerAccount, runId, `internal error: ${(err as Error).message}`, window).catch(() => undefined);
        throw err;
      }
    }
    // A completed run's items are what was just written (100,000 of them are not read back).
    const detail: RunDetail = written
      ? { ...(await this.queries.getRunView(providerAccount, runId)), items: written.items }
      : await this.queries.getRun(providerAccount, runId);
    this.notify(detail, written?.evaluation ?? null);
    return detail;
  }

  /**
   * In one repeatable-read transaction right after the read window: the ledger's posted
   * balances (the position every reading is compared at), the transfers executing during the
   * window and those in doubt, and the run's reading stored as observations.
   */
  private async snapshot(providerAccount: string, runId: string, readStartedAt: Date, reading: ProviderReading): Promise<Snapshot> {
    const graceMs = this.opts.inDoubtGraceMs ?? 120_000;
    return this.repository.transaction(async (tx) => {
      const readFinishedAt = await this.repository.beginSnapshot(tx);
      const ledger = await this.repository.ledgerBalances(tx, providerAccount);
      const context = {
        executing: await this.transfers.executingSince(tx, providerAccount, readStartedAt),
        inDoubt: await this.transfers.inDoubt(tx, providerAccount, readStartedAt, graceMs),
      };
      const comparison = compareReadings(reading, ledger, context);
      if (comparison.kind === 'unusable') throw new ReadFailure(comparison.reason);
      const window = { from: readStartedAt, to: readFinishedAt };
      const observations = await this.repository.recordReadings(tx, providerAccount, runId, window, comparison.accounts);
      return { readStartedAt, readFinishedAt, accounts: comparison.accounts, observations, unknownSubaccounts: comparison.unknownSubaccounts };
    });
  }

  /**
   * The run's list reading is a reading like any other: each sub-account's in-doubt
   * transfers are judged by the evidence rules (libs/transfers, docs/in-doubt.md), which post
   * or void the decided ones. Then, with USAGE_AUTO_BOOK, the usage between the previous
   * reading and this one is booked for every sub-account with nothing left in doubt.
   */
  private async gatherEvidence(providerAccount: string, s: Snapshot): Promise<RunEvidence> {
    const verdicts = new Map<string, InDoubtVerdicts>();
    const withInDoubt = s.accounts.filter((a) => a.token !== null && a.inDoubt.length > 0);
    if (withInDoubt.length) {
      const settle = this.settleFor(providerAccount);
      for (const a of withInDoubt) {
        const r = await settle.evaluate(a.token!, RECONCILIATION_ACTOR);
        verdicts.set(a.token!, {
          decided: r.verdicts.filter((v) => v.status === 'decided').map((v) => ({ transferId: v.transferId, outcome: v.outcome! })),
          applied: r.applied,
          undecided: r.verdicts.filter((v) => v.status === 'undecided').map((v) => ({ transferId: v.transferId, waiting: !v.suggestion, summary: v.summary })),
        });
      }
    }
    const usage = new Map<string, BookedUsage>();
    const bookUsage = this.opts.bookUsage?.(providerAccount) ?? null;
    if (bookUsage) {
      for (const a of usageCandidates(s.accounts, verdicts)) {
        await bookUsage.forSubaccount(a.token!);
        usage.set(a.token!, await this.usage.bookedUpTo(a.accountId, s.observations.get(a.accountId)!.id, s.readFinishedAt));
      }
    }
    return { verdicts, usage };
  }

  /**
   * Evaluates and records, in one transaction: the open findings are locked, `evaluateRun`
   * decides every account, then findings are opened (in bulk), updated or closed, the
   * auto-book policies book, the items are written (in bulk), the run completes.
   */
  private async write(providerAccount: string, runId: string, s: Snapshot, evidence: RunEvidence): Promise<Written> {
    return this.repository.transaction(async (tx) => {
      const status = await this.repository.lockRun(tx, providerAccount, runId);
      if (status !== 'running') throw new Error(`run ${runId} is ${status}: it was taken over`);
      const open = await this.repository.lockOpenFindings(tx, providerAccount);
      const evaluation = evaluateRun({
        accounts: s.accounts, evidence, tolerance: this.tolerance, newFindingId: randomUUID,
        openFindings: new Map([...open].map(([accountId, f]) => [accountId, { id: f.id, drift: Money.parse(f.drift) }])),
        policy: { autoBookUsage: this.opts.autoBookUsage ?? false, bookMainUsage: this.opts.bookUsage !== undefined },
      });
      const seenAt = s.readStartedAt;
      const bookings = new Map<AccountVerdict, string>();
      const withFinding = (kind: 'open' | 'update' | 'close') => evaluation.accounts.filter((v) => v.finding?.kind === kind);
      await this.repository.closeSelfResolved(tx, providerAccount, withFinding('close').map((v) => ({ id: v.finding!.id, account: v.account.code })),
        `reconciliation ${runId}: the account matches again`);
      await this.repository.updateFindings(tx, providerAccount, runId, seenAt, withFinding('update'));
      await this.repository.openFindings(tx, providerAccount, runId, seenAt, withFinding('open'));
      for (const v of evaluation.accounts.filter((x) => x.autoBook)) {
        const id = await this.autoBook(tx, providerAccount, runId, v);
        if (id) bookings.set(v, id);
      }
      const rows = evaluation.accounts.map((v) => ({ v, observation: s.observations.get(v.account.accountId)!, ledgerTransactionId: bookings.get(v) ?? null }));
      await this.repository.recordItems(tx, runId, rows.map((r) => ({ v: r.v, observationId: r.observation.id, ledgerTransactionId: r.ledgerTransactionId })));
      const summary: RunSummary = {
        accounts: evaluation.accounts.length, matched: evaluation.counts.matched, drifted: evaluation.counts.drift, unsettled: evaluation.counts.unsettled,
        resolvedInDoubt: evaluation.counts.resolved_in_doubt, autoBooked: bookings.size, unknownSubaccounts: s.unknownSubaccounts,
      };
      await this.repository.completeRun(tx, providerAccount, runId, summary);
      return { evaluation, items: rows.map((r) => itemView(r.v, r.observation, r.ledgerTransactionId)).sort(byAccount) };
    });
  }

  /**
   * RECONCILE_AUTO_BOOK_USAGE (a sub-account's negative drift) or USAGE_AUTO_BOOK (main's fall
   * with nothing in doubt): booked as usage, the finding resolved by it. A refused booking
   * (e.g. the overdraft guard) leaves the finding open; either way the item says so.
   */
  private async autoBook(tx: Tx, providerAccount: string, runId: string, v: AccountVerdict): Promise<string | null> {
    const main = v.account.token === null;
    const policy = main ? 'USAGE_AUTO_BOOK' : 'RECONCILE_AUTO_BOOK_USAGE';
    const reason = `${policy}: usage seen by reconciliation ${runId}${main ? ' (the main account\'s fall since the previous reading, nothing in doubt)' : ''}`;
    const findingId = v.finding!.id;
    const done = await trySavepoint(tx, async () => {
      const ledgerTransactionId = await this.ledger.record(tx, {
        providerAccount, kind: 'usage', state: 'posted', actor: RECONCILIATION_ACTOR, reason,
        lines: adjustmentPostings('usage', v.account.code, v.residual), journalData: { runId, findingId, policy },
      });
      await this.repository.resolveFinding(tx, providerAccount, { id: findingId, account: v.account.code }, { as: 'usage', by: RECONCILIATION_ACTOR, reason, ledgerTransactionId });
      return ledgerTransactionId;
    });
    if (!done.ok) {
      v.notes.push(`automatic usage booking refused: ${done.error.message}`);
      return null;
    }
    v.notes.push(`booked as usage automatically (ledger transaction ${done.value})`);
    return done.value;
  }

  private settleFor(providerAccount: string): SettleInDoubtUseCase {
    let s = this.settles.get(providerAccount);
    if (!s) {
      const graceMs = this.opts.inDoubtGraceMs ?? 120_000;
      s = this.opts.settle?.(providerAccount) ?? new SettleInDoubtUseCase(this.db, this.provider, this.resolveTransfer, new EvidenceQueries(this.db, graceMs), {
        providerAccount, graceMs, probeDelayMs: 0, actor: RECONCILIATION_ACTOR, logger: this.opts.logger,
        spend: { floor: Money.parse(this.opts.spend?.floor ?? '2'), factor: this.opts.spend?.factor ?? '3', minWindows: this.opts.spend?.minWindows ?? 3 },
      });
      this.settles.set(providerAccount, s);
    }
    return s;
  }

  private async fail(providerAccount: string, runId: string, error: string, window: { from: Date | null; to: Date | null }): Promise<void> {
    const reason = scrubText(error); // stored and shown (run, report, webhook): no secret in it
    this.opts.logger?.warn({ runId, providerAccount, reason }, 'reconciliation run failed');
    await this.repository.failRun(providerAccount, runId, reason, window);
  }

  /** The one drift log line per drifted account (with a logger), the metrics hook, the alert hook. */
  private notify(run: RunDetail, evaluation: Evaluation | null): void {
    const call = (what: string, fn: () => void | Promise<void>) => {
      Promise.resolve().then(fn).catch((err) => this.opts.logger?.warn({ runId: run.id, err: (err as Error).message }, `${what} hook failed`));
    };
    const verdicts = new Map((evaluation?.accounts ?? []).map((v) => [v.account.code, v]));
    const drifted = run.items.filter((i) => i.status === 'drift').map((i) => {
      const v = verdicts.get(i.account)!;
      return { account: i.account, expected: i.expected, observed: i.observed, drift: v.residual.toFixed(), suggestion: suggestionFor(v.residual), findingId: i.findingId, autoBooked: i.ledgerTransactionId !== null };
    });
    for (const d of drifted) this.opts.logger?.warn({ runId: run.id, ...d }, 'reconciliation drift');
    if (this.opts.onFinished) call('onFinished', () => this.opts.onFinished!(run));
    if (run.status === 'completed' && drifted.length && this.opts.onDrift) {
      const alert: DriftAlert = { runId: run.id, providerAccount: run.providerAccount, startedAt: run.startedAt, finishedAt: run.finishedAt, summary: run.summary, drifted };
      call('onDrift', () => this.opts.onDrift!(alert));
    }
  }
}

/** `main` first, then by code (codes are ASCII: the order of `getRun` under the C collation). */
function byAccount(a: ItemView, b: ItemView): number {
  if ((a.account === 'main') !== (b.account === 'main')) return a.account === 'main' ? -1 : 1;
  return a.account < b.account ? -1 : a.account > b.account ? 1 : 0;
}

/** The item as `ReconciliationQueries.getRun` reads it back. */
function itemView(v: AccountVerdict, observation: { id: string; at: Date }, ledgerTransactionId: string | null): ItemView {
  const a = v.account;
  return {
    account: a.code, source: a.source, expected: a.expected.toFixed(), observed: a.observed.toFixed(), drift: a.drift.toFixed(),
    explained: v.explained.toFixed(), status: v.status, explanation: v.notes.length ? v.notes.join('; ') : null,
    observedAt: observation.at.toISOString(), observationId: observation.id,
    findingId: v.finding && v.finding.kind !== 'close' ? v.finding.id : null, ledgerTransactionId,
  };
}

function alreadyRunning(runId: string | null): DomainError {
  return new DomainError('reconciliation_already_running', 'a reconciliation run is already running for this provider account', runId ? { runId } : undefined);
}
