import { randomUUID } from 'node:crypto';
import { DomainError, scrubText } from '@app/common';
import { adjustmentPostings, Money, subaccountTokenOf } from '@app/ledger';
import { appendJournal, appendJournalMany, Database, LedgerRepository, pgCode, pgConstraint, PgError, Tx } from '@app/persistence';
import { SubaccountReads } from '@app/subaccounts';
import { listAllSubaccounts, providerFailure } from '@app/provider';
import { EvidenceQueries, ResolveTransferUseCase, SettleInDoubtUseCase } from '@app/transfers';
import { BookUsageUseCase } from '../book-usage/book-usage.use-case';
import {
  DEFAULT_TOLERANCE, driftOf, effectOnMain, InDoubtCandidate, ItemStatus, ObservationSource,
  RECONCILIATION_ACTOR, suggestionFor, withinTolerance,
} from '../../domain/reconciliation';
import { FindingRow, RunDetail, ReconciliationQueries, runRow } from '../../reconciliation.queries';
import { DriftAlert, RunReconciliationCommand, RunReconciliationOptions } from './run-reconciliation.command';

/** What the provider showed during the read window. */
/**
 * What the provider showed during the read window. `unreadable`: sub-accounts whose list entry
 * the client had to skip (a null balance, an unknown type…): not compared this run, reported;
 * `unreadableWithoutToken`: skipped entries that did not even carry a token.
 */
interface Reading { main: Money; subs: Map<string, Money>; unreadable: Set<string>; unreadableWithoutToken: number }

class ReadFailure extends Error {}

/** Rows per set-based INSERT of observations and items. */
const WRITE_CHUNK = 5_000;

interface InDoubtRow extends InDoubtCandidate { token: string; recent: boolean }

/** One provider-backed account, from the snapshot to its item. */
interface AccountState {
  accountId: string;
  code: string;
  token: string | null;
  source: ObservationSource;
  observationId: string;
  observed: Money;
  expected: Money;
  drift: Money;
  settled: boolean;
  inDoubt: InDoubtRow[];
  status: ItemStatus;
  explained: Money;
  notes: string[];
  findingId: string | null;
  ledgerTransactionId: string | null;
  autoBooked: boolean;
}

interface Snapshot { readStartedAt: Date; readFinishedAt: Date; accounts: AccountState[]; unknownSubaccounts: number }

/**
 * One reconciliation run: read the provider (`/me` and every page of the sub-account list),
 * store the readings as observations with the ledger position they are compared at, resolve
 * the in-doubt transfers the evidence settles, and record per account matched / drift /
 * unsettled / resolved_in_doubt, opening, updating or closing drift findings. See
 * docs/reconciliation.md.
 */
export class RunReconciliationUseCase {
  private readonly tolerance: Money;
  private readonly queries: ReconciliationQueries;
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
  }

  /** Starts a run and carries it out. Refused with `reconciliation_already_running` while another runs. */
  async execute(cmd: RunReconciliationCommand): Promise<RunDetail> {
    const { id } = await this.start(cmd);
    return this.perform(cmd.providerAccount, id);
  }

  /**
   * Inserts the `running` row. The partial unique index allows one running run per provider
   * account, whatever the number of processes: the loser gets `reconciliation_already_running`
   * with the running run's id. A run left running longer than `staleAfterMs` (its process
   * died) is failed as abandoned first.
   */
  async start(cmd: RunReconciliationCommand): Promise<{ id: string; status: 'running'; startedAt: string }> {
    const id = randomUUID();
    const staleAfterMs = this.opts.staleAfterMs ?? 30 * 60_000;
    try {
      return await this.db.transaction(async (tx) => {
        // Serialises starts with drift resolutions (which take FOR SHARE on the same row).
        const pa = await tx.query('SELECT id FROM provider_accounts WHERE id = $1 FOR NO KEY UPDATE', [cmd.providerAccount]);
        if (!pa.length) throw new DomainError('not_found', `provider account ${cmd.providerAccount} has no ledger yet: import its sub-accounts first`);
        const abandoned = await tx.query<{ id: string }>(
          `UPDATE reconciliation_runs SET status = 'failed', finished_at = clock_timestamp(), error = $3
            WHERE provider_account_id = $1 AND status = 'running' AND started_at < now() - make_interval(secs => $2::double precision / 1000)
            RETURNING id`,
          [cmd.providerAccount, staleAfterMs, `abandoned: still running after ${staleAfterMs} ms (its process probably died)`],
        );
        for (const a of abandoned) {
          await appendJournal(tx, { providerAccount: cmd.providerAccount, actor: RECONCILIATION_ACTOR, action: 'reconciliation_run.failed', entityType: 'reconciliation_run', entityId: a.id, reason: 'abandoned' });
        }
        const running = await tx.query<{ id: string }>(`SELECT id FROM reconciliation_runs WHERE provider_account_id = $1 AND status = 'running'`, [cmd.providerAccount]);
        if (running.length) throw alreadyRunning(running[0].id);
        const [row] = await tx.query<{ started_at: Date }>(
          `INSERT INTO reconciliation_runs (id, provider_account_id, status, trigger, actor, tolerance) VALUES ($1, $2, 'running', $3, $4, $5) RETURNING started_at`,
          [id, cmd.providerAccount, cmd.trigger, cmd.actor, this.tolerance.toFixed()],
        );
        await appendJournal(tx, { providerAccount: cmd.providerAccount, actor: cmd.actor, action: 'reconciliation_run.started', entityType: 'reconciliation_run', entityId: id, data: { trigger: cmd.trigger } });
        return { id, status: 'running' as const, startedAt: row.started_at.toISOString() };
      });
    } catch (err) {
      if (pgCode(err) === PgError.uniqueViolation && pgConstraint(err) === 'reconciliation_runs_one_running') throw alreadyRunning(null);
      throw err;
    }
  }

  /** Carries out a started run. Provider trouble ends it `failed` (returned, not thrown). */
  async perform(providerAccount: string, runId: string): Promise<RunDetail> {
    let window: { from: Date | null; to: Date | null } = { from: null, to: null };
    try {
      const [{ now }] = await this.db.query<{ now: Date }>('SELECT clock_timestamp() AS now');
      window = { from: now, to: null };
      const reading = await this.read();
      const snapshot = await this.snapshot(providerAccount, runId, now, reading);
      window = { from: snapshot.readStartedAt, to: snapshot.readFinishedAt };
      await this.resolveInDoubt(providerAccount, runId, snapshot);
      this.evaluateMain(snapshot);
      await this.finish(providerAccount, runId, snapshot);
    } catch (err) {
      if (err instanceof ReadFailure) {
        await this.fail(providerAccount, runId, err.message, window);
      } else {
        this.opts.logger?.error({ runId, err: (err as Error).message }, 'reconciliation run crashed');
        await this.fail(providerAccount, runId, `internal error: ${(err as Error).message}`, window).catch(() => undefined);
        throw err;
      }
    }
    const detail = await this.queries.getRun(providerAccount, runId);
    this.notify(detail);
    return detail;
  }

  // ------------------------------------------------------------------ reading

  /** `/me`, then every page of the list. Any failure, or fewer sub-accounts than `total`, fails the run. */
  private async read(): Promise<Reading> {
    const me = await this.provider.me();
    if (me.kind !== 'ok') throw new ReadFailure(providerFailure('reading /me', me).message);
    const listing = await listAllSubaccounts(this.provider, { maxPages: this.opts.maxListPages });
    if (listing.kind === 'failed') {
      throw new ReadFailure(listing.outcome ? providerFailure(`listing sub-accounts (page ${listing.page})`, listing.outcome).message : `listing sub-accounts: ${listing.problem}`);
    }
    if (!listing.complete) {
      throw new ReadFailure(`partial sub-account list: ${listing.items.length + listing.skipped.length} of ${listing.total} sub-accounts returned`);
    }
    const unreadable = new Set(listing.skipped.flatMap((e) => (e.token ? [e.token] : [])));
    if (listing.skipped.length) {
      this.opts.logger?.warn({ skipped: listing.skipped.map((e) => ({ page: e.page, index: e.index, token: e.token ?? null, reason: e.reason })) },
        'sub-account list entries the provider sent could not be read: those sub-accounts are not compared this run');
    }
    return {
      main: me.body.balance, subs: new Map(listing.items.map((i) => [i.token, i.balance])), unreadable,
      unreadableWithoutToken: listing.skipped.filter((e) => !e.token).length,
    };
  }

  /**
   * In one repeatable-read transaction: the ledger's posted balances (the position every
   * reading is compared at), which accounts had a transfer executing during the read window,
   * the in-doubt transfers, and the observations themselves.
   */
  private async snapshot(providerAccount: string, runId: string, readStartedAt: Date, reading: Reading): Promise<Snapshot> {
    const graceMs = this.opts.inDoubtGraceMs ?? 120_000;
    return this.db.transaction(async (tx) => {
      await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
      const [{ now: readFinishedAt }] = await tx.query<{ now: Date }>('SELECT clock_timestamp() AS now');
      const accounts = await tx.query<{ id: string; code: string; kind: string; posted: string }>(
        `SELECT a.id, a.code, a.kind, b.debits_posted - b.credits_posted AS posted
           FROM ledger_accounts a JOIN balances b ON b.account_id = a.id
          WHERE a.provider_account_id = $1 AND a.kind IN ('main', 'subaccount') ORDER BY a.id`,
        [providerAccount],
      );
      const ledgerTokens = accounts.filter((a) => a.kind === 'subaccount').map((a) => subaccountTokenOf(a.code)!);
      if (ledgerTokens.length > 0 && reading.subs.size === 0) {
        throw new ReadFailure(`empty sub-account list while the ledger has ${ledgerTokens.length} sub-accounts`);
      }
      const absent = ledgerTokens.filter((t) => !reading.subs.has(t) && !reading.unreadable.has(t));
      // Entries skipped without a token may be exactly those: unreadable, not missing.
      const missing = absent.length <= reading.unreadableWithoutToken ? [] : absent;
      const notCompared = new Set([...reading.unreadable, ...absent]);
      if (missing.length) {
        throw new ReadFailure(`partial sub-account list: ${missing.length} ledger sub-accounts missing (${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''})`);
      }
      // Executing at any moment of the window: still executing, or changed since it began.
      const active = await tx.query<{ subaccount_token: string }>(
        `SELECT DISTINCT subaccount_token FROM transfers WHERE provider_account_id = $1 AND (status = 'executing' OR updated_at >= $2)`,
        [providerAccount, readStartedAt],
      );
      const activeTokens = new Set(active.map((r) => r.subaccount_token));
      const inDoubtRows = await tx.query<{ id: string; subaccount_token: string; direction: 'add' | 'remove'; amount: string; recent: boolean }>(
        `SELECT id, subaccount_token, direction, amount, updated_at > $2::timestamptz - make_interval(secs => $3::double precision / 1000) AS recent
           FROM transfers WHERE provider_account_id = $1 AND status = 'in_doubt' ORDER BY seq`,
        [providerAccount, readStartedAt, graceMs],
      );
      const inDoubt = inDoubtRows.map((r) => ({ id: r.id, token: r.subaccount_token, direction: r.direction, amount: Money.parse(r.amount), recent: r.recent }));

      const states: AccountState[] = [];
      for (const a of accounts) {
        const token = a.kind === 'subaccount' ? subaccountTokenOf(a.code)! : null;
        if (token !== null && notCompared.has(token)) continue;
        const observed = token === null ? reading.main : reading.subs.get(token)!;
        const expected = Money.parse(a.posted);
        // main moves with every transfer of the provider account.
        const settled = token === null ? activeTokens.size === 0 : !activeTokens.has(token);
        states.push({
          accountId: a.id, code: a.code, token, source: token === null ? 'me' : 'list', observationId: '', observed, expected,
          drift: driftOf(observed, expected), settled, inDoubt: token === null ? inDoubt : inDoubt.filter((d) => d.token === token),
          status: 'matched', explained: Money.ZERO, notes: [], findingId: null, ledgerTransactionId: null, autoBooked: false,
        });
      }
      // Set-based, a chunk at a time: one round trip per row made a 100,000-account run take minutes.
      for (let i = 0; i < states.length; i += WRITE_CHUNK) {
        const chunk = states.slice(i, i + WRITE_CHUNK);
        const rows = await tx.query<{ id: string; account_id: string }>(
          `INSERT INTO observations (provider_account_id, account_id, source, balance, expected, settled, read_started_at)
           SELECT $1, t.account_id, t.source, t.balance, t.expected, t.settled, $7
             FROM unnest($2::bigint[], $3::text[], $4::numeric[], $5::numeric[], $6::boolean[]) AS t(account_id, source, balance, expected, settled)
           RETURNING id::text, account_id::text`,
          [providerAccount, chunk.map((a) => a.accountId), chunk.map((a) => a.source), chunk.map((a) => a.observed.toFixed()),
            chunk.map((a) => a.expected.toFixed()), chunk.map((a) => a.settled), readStartedAt],
        );
        const ids = new Map(rows.map((r) => [r.account_id, r.id]));
        for (const a of chunk) a.observationId = ids.get(String(a.accountId))!;
      }
      await tx.query('UPDATE reconciliation_runs SET read_started_at = $2, read_finished_at = $3 WHERE id = $1', [runId, readStartedAt, readFinishedAt]);
      const known = new Set(ledgerTokens);
      const unknownSubaccounts = [...reading.subs.keys()].filter((t) => !known.has(t)).length;
      return { readStartedAt, readFinishedAt, accounts: states, unknownSubaccounts };
    });
  }

  // ------------------------------------------------------------------ evaluation

  /**
   * Sub-accounts first. The run's list reading is a reading like any other: the in-doubt
   * transfers of each sub-account are judged by the same evidence rules as the worker's
   * (docs/in-doubt.md), over every reading that brackets them, and the decided ones are
   * posted or voided. Then, with USAGE_AUTO_BOOK, the usage between this reading and the
   * previous one is booked; what is left is drift.
   */
  private async resolveInDoubt(providerAccount: string, runId: string, s: Snapshot): Promise<void> {
    const settle = this.settleFor(providerAccount);
    const bookUsage = this.opts.bookUsage?.(providerAccount) ?? null;
    for (const a of s.accounts) {
      if (a.token === null) continue;
      if (a.inDoubt.length) {
        const r = await settle.evaluate(a.token, RECONCILIATION_ACTOR);
        const resolved = new Set(r.verdicts.filter((v) => v.status === 'decided').map((v) => v.transferId));
        const settledNow = r.verdicts.filter((v) => v.status === 'decided');
        for (const t of r.applied) a.explained = a.explained.plus(t.effect);
        this.explainOnMain(s, r.applied.map((t) => ({ id: t.id, direction: t.effect.isNegative() ? 'remove' : 'add', amount: t.effect.abs() })));
        const left = a.inDoubt.filter((d) => !resolved.has(d.id));
        if (settledNow.length) {
          a.notes.push(`in-doubt transfers resolved by evidence: ${settledNow.map((v) => `transfer ${v.transferId} ${v.outcome === 'applied' ? 'applied: posted' : 'not applied: voided'}`).join('; ')}`);
        }
        if (left.length) {
          const waiting = r.verdicts.filter((v) => v.status === 'undecided' && !v.suggestion);
          a.status = !a.settled || waiting.length === left.length ? 'unsettled' : 'drift';
          const why = r.verdicts.find((v) => v.status === 'undecided')?.summary ?? 'not evaluated';
          a.notes.push(`${left.length} in-doubt transfer(s) left in doubt: ${why}`);
          a.inDoubt = left;
          continue;
        }
        a.inDoubt = [];
        if (!a.settled) {
          a.status = 'unsettled';
          a.notes.push('a transfer of this sub-account was executing during the read window; checked again next run');
          continue;
        }
        await this.bookUsageOf(bookUsage, a, s);
        this.classify(a, a.drift.minus(a.explained));
        if (a.status === 'matched') a.status = 'resolved_in_doubt';
        continue;
      }
      if (!a.settled) {
        a.status = 'unsettled';
        a.notes.push('a transfer of this sub-account was executing during the read window; checked again next run');
        continue;
      }
      await this.bookUsageOf(bookUsage, a, s);
      this.classify(a, a.drift.minus(a.explained));
    }
  }

  /** USAGE_AUTO_BOOK: usage measured up to this run's reading is part of the drift it explains. */
  private async bookUsageOf(bookUsage: BookUsageUseCase | null, a: AccountState, s: Snapshot): Promise<void> {
    if (!bookUsage || a.token === null) return;
    await bookUsage.forSubaccount(a.token);
    const [row] = await this.db.query<{ usage: string; n: number }>(
      `SELECT coalesce(sum(u.usage), 0) AS usage, count(*)::int AS n FROM usage_bookings u
        WHERE u.account_id = $1 AND u.kind = 'usage' AND u.created_at >= $2
          AND u.to_at <= (SELECT observed_at FROM observations WHERE id = $3)`,
      [a.accountId, s.readFinishedAt, a.observationId],
    );
    const usage = Money.parse(row.usage);
    if (usage.isZero()) return;
    a.explained = a.explained.minus(usage);
    a.notes.push(`usage of ${usage.toFixed()} between provider readings booked (${row.n} booking(s), USAGE_AUTO_BOOK)`);
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

  /** Transfers just posted were in the provider's main balance but not in the snapshot's. */
  private explainOnMain(s: Snapshot, applied: InDoubtCandidate[]): void {
    const main = s.accounts.find((a) => a.token === null);
    if (main) for (const t of applied) main.explained = main.explained.plus(effectOnMain(t));
  }

  private evaluateMain(s: Snapshot): void {
    const main = s.accounts.find((a) => a.token === null);
    if (!main) return;
    if (!main.settled) {
      main.status = 'unsettled';
      main.notes.push('a transfer of this provider account was executing during the read window; checked again next run');
      return;
    }
    const stillInDoubt = new Set(s.accounts.filter((a) => a.token !== null).flatMap((a) => a.inDoubt.map((d) => d.id)));
    main.inDoubt = main.inDoubt.filter((d) => stillInDoubt.has(d.id));
    if (main.inDoubt.some((d) => d.recent)) {
      main.status = 'unsettled';
      main.notes.push('recent in-doubt transfers: checked again next run');
      return;
    }
    const residual = main.drift.minus(main.explained);
    if (!main.explained.isZero()) main.notes.push(`${main.explained.toFixed()} of the drift is explained by in-doubt transfers this run resolved as applied`);
    if (main.inDoubt.length) main.notes.push(`${main.inDoubt.length} transfer(s) still in doubt: the drift may include them`);
    if (withinTolerance(residual, this.tolerance)) main.status = main.explained.isZero() ? 'matched' : 'resolved_in_doubt';
    else main.status = 'drift';
  }

  private classify(a: AccountState, residual: Money): void {
    a.status = withinTolerance(residual, this.tolerance) ? 'matched' : 'drift';
  }

  // ------------------------------------------------------------------ recording

  /** Findings, automatic bookings, items and the summary, in one transaction. */
  private async finish(providerAccount: string, runId: string, s: Snapshot): Promise<void> {
    await this.db.transaction(async (tx) => {
      const run = await runRow(tx, providerAccount, runId, true);
      if (run.status !== 'running') throw new Error(`run ${runId} is ${run.status}: it was taken over`);
      const open = await tx.query<FindingRow>(
        `SELECT * FROM drift_findings WHERE provider_account_id = $1 AND status = 'open' ORDER BY account_id FOR UPDATE`,
        [providerAccount],
      );
      const openByAccount = new Map(open.map((f) => [f.account_id, f]));
      const opened: Array<{ a: AccountState; drift: Money }> = [];
      const toBook: Array<{ a: AccountState; drift: Money }> = [];
      for (const a of s.accounts) {
        const finding = openByAccount.get(a.accountId);
        const residual = a.drift.minus(a.explained);
        if (a.status === 'matched' || a.status === 'resolved_in_doubt') {
          if (finding) {
            await this.closeFinding(tx, providerAccount, finding, 'self_resolved', RECONCILIATION_ACTOR, `reconciliation ${runId}: the account matches again`, null);
            a.notes.push(`drift finding ${finding.id} closed as self-resolved`);
          }
        } else if (a.status === 'drift' && !withinTolerance(residual, this.tolerance)) {
          if (finding) {
            a.findingId = await this.updateFinding(tx, providerAccount, runId, s.readStartedAt, a, residual, finding);
          } else {
            a.findingId = randomUUID();
            opened.push({ a, drift: residual });
          }
          a.notes.unshift(`${residual.isNegative() ? 'lower' : 'higher'} than the ledger by ${residual.abs().toFixed()}: ${suggestionFor(residual) === 'usage_likely' ? 'usage likely' : 'purchase or refund likely'} (finding ${a.findingId})`);
          if (this.opts.autoBookUsage && a.token !== null && residual.isNegative() && a.inDoubt.length === 0) toBook.push({ a, drift: residual });
          // USAGE_AUTO_BOOK on main: its fall since the last run, with nothing in doubt, is usage; a rise stays a purchase finding.
          if (this.opts.bookUsage && a.token === null && residual.isNegative() && a.inDoubt.length === 0) toBook.push({ a, drift: residual });
        }
      }
      await this.openFindings(tx, providerAccount, runId, s.readStartedAt, opened);
      for (const { a, drift } of toBook) await this.autoBookUsage(tx, providerAccount, runId, a, drift);
      for (let i = 0; i < s.accounts.length; i += WRITE_CHUNK) {
        const chunk = s.accounts.slice(i, i + WRITE_CHUNK);
        await tx.query(
          `INSERT INTO reconciliation_items (run_id, account_id, account_code, source, observation_id, expected, observed, drift, explained, status, explanation, finding_id, ledger_transaction_id)
           SELECT $1, t.* FROM unnest($2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::numeric[], $7::numeric[], $8::numeric[], $9::numeric[],
                                      $10::text[], $11::text[], $12::uuid[], $13::uuid[]) AS t`,
          [runId, chunk.map((a) => a.accountId), chunk.map((a) => a.code), chunk.map((a) => a.source), chunk.map((a) => a.observationId),
            chunk.map((a) => a.expected.toFixed()), chunk.map((a) => a.observed.toFixed()), chunk.map((a) => a.drift.toFixed()),
            chunk.map((a) => a.explained.toFixed()), chunk.map((a) => a.status), chunk.map((a) => (a.notes.length ? a.notes.join('; ') : null)),
            chunk.map((a) => a.findingId), chunk.map((a) => a.ledgerTransactionId)],
        );
      }
      const count = (st: ItemStatus) => s.accounts.filter((a) => a.status === st).length;
      const summary = {
        accounts: s.accounts.length, matched: count('matched'), drifted: count('drift'), unsettled: count('unsettled'),
        resolvedInDoubt: count('resolved_in_doubt'), autoBooked: s.accounts.filter((a) => a.autoBooked).length, unknownSubaccounts: s.unknownSubaccounts,
      };
      await tx.query(
        `UPDATE reconciliation_runs SET status = 'completed', finished_at = clock_timestamp(), accounts = $2, matched = $3, drifted = $4,
                unsettled = $5, resolved_in_doubt = $6, auto_booked = $7, unknown_subaccounts = $8 WHERE id = $1`,
        [runId, summary.accounts, summary.matched, summary.drifted, summary.unsettled, summary.resolvedInDoubt, summary.autoBooked, summary.unknownSubaccounts],
      );
      await appendJournal(tx, { providerAccount, actor: RECONCILIATION_ACTOR, action: 'reconciliation_run.completed', entityType: 'reconciliation_run', entityId: runId, data: { summary } });
    });
  }

  private async updateFinding(tx: Tx, providerAccount: string, runId: string, seenAt: Date, a: AccountState, drift: Money, existing: FindingRow): Promise<string> {
    const expected = a.observed.minus(drift);
    await tx.query(
      `UPDATE drift_findings SET drift = $2, observed = $3, expected = $4, suggestion = $5, last_seen_at = $6, last_run_id = $7 WHERE id = $1`,
      [existing.id, drift.toFixed(), a.observed.toFixed(), expected.toFixed(), suggestionFor(drift), seenAt, runId],
    );
    if (!Money.parse(existing.drift).equals(drift)) {
      await appendJournal(tx, { providerAccount, actor: RECONCILIATION_ACTOR, action: 'drift_finding.updated', entityType: 'drift_finding', entityId: existing.id, data: { runId, account: a.code, from: Money.parse(existing.drift).toFixed(), drift: drift.toFixed() } });
    }
    return existing.id;
  }

  /** New findings, set-based: a first run over a large account may open thousands. */
  private async openFindings(tx: Tx, providerAccount: string, runId: string, seenAt: Date, opened: Array<{ a: AccountState; drift: Money }>): Promise<void> {
    for (let i = 0; i < opened.length; i += WRITE_CHUNK) {
      const chunk = opened.slice(i, i + WRITE_CHUNK).map(({ a, drift }) => ({ a, drift, expected: a.observed.minus(drift) }));
      await tx.query(
        `INSERT INTO drift_findings (id, provider_account_id, account_id, account_code, status, drift, observed, expected, suggestion, first_seen_at, last_seen_at, first_run_id, last_run_id)
         SELECT f.id, $1, f.account_id, f.account_code, 'open', f.drift, f.observed, f.expected, f.suggestion, $2, $2, $3, $3
           FROM unnest($4::uuid[], $5::bigint[], $6::text[], $7::numeric[], $8::numeric[], $9::numeric[], $10::text[]) AS f(id, account_id, account_code, drift, observed, expected, suggestion)`,
        [providerAccount, seenAt, runId, chunk.map((f) => f.a.findingId), chunk.map((f) => f.a.accountId), chunk.map((f) => f.a.code),
          chunk.map((f) => f.drift.toFixed()), chunk.map((f) => f.a.observed.toFixed()), chunk.map((f) => f.expected.toFixed()), chunk.map((f) => suggestionFor(f.drift))],
      );
      await appendJournalMany(tx, chunk.map((f) => ({
        providerAccount, actor: RECONCILIATION_ACTOR, action: 'drift_finding.opened', entityType: 'drift_finding', entityId: f.a.findingId!,
        data: { runId, account: f.a.code, drift: f.drift.toFixed(), observed: f.a.observed.toFixed(), expected: f.expected.toFixed() },
      })));
    }
  }

  private async closeFinding(tx: Tx, providerAccount: string, f: FindingRow, kind: 'self_resolved' | 'usage', actor: string, reason: string, ledgerTransactionId: string | null): Promise<void> {
    await tx.query(
      `UPDATE drift_findings SET status = 'resolved', resolution_kind = $2, resolution_by = $3, resolution_reason = $4, resolved_at = clock_timestamp(),
              resolution_ledger_transaction_id = $5 WHERE id = $1`,
      [f.id, kind, actor, reason, ledgerTransactionId],
    );
    await appendJournal(tx, { providerAccount, actor, action: `drift_finding.resolved_${kind}`, entityType: 'drift_finding', entityId: f.id, reason, data: { account: f.account_code, ledgerTransactionId } });
  }

  /** RECONCILE_AUTO_BOOK_USAGE: the negative drift is booked as usage and the finding resolved by it. */
  private async autoBookUsage(tx: Tx, providerAccount: string, runId: string, a: AccountState, drift: Money): Promise<void> {
    const policy = a.token === null ? 'USAGE_AUTO_BOOK' : 'RECONCILE_AUTO_BOOK_USAGE';
    const reason = `${policy}: usage seen by reconciliation ${runId}${a.token === null ? ' (the main account\'s fall since the previous reading, nothing in doubt)' : ''}`;
    await tx.query('SAVEPOINT auto_book');
    try {
      const ledgerTransactionId = await this.ledger.record(tx, {
        providerAccount, kind: 'usage', state: 'posted', actor: RECONCILIATION_ACTOR, reason,
        lines: adjustmentPostings('usage', a.code, drift), journalData: { runId, findingId: a.findingId, policy },
      });
      const [finding] = await tx.query<FindingRow>('SELECT * FROM drift_findings WHERE id = $1', [a.findingId]);
      await this.closeFinding(tx, providerAccount, finding, 'usage', RECONCILIATION_ACTOR, reason, ledgerTransactionId);
      await tx.query('RELEASE SAVEPOINT auto_book');
      a.ledgerTransactionId = ledgerTransactionId;
      a.autoBooked = true;
      a.notes.push(`booked as usage automatically (ledger transaction ${ledgerTransactionId})`);
    } catch (err) {
      await tx.query('ROLLBACK TO SAVEPOINT auto_book');
      a.notes.push(`automatic usage booking refused: ${(err as Error).message}`);
    }
  }

  private async fail(providerAccount: string, runId: string, error: string, window: { from: Date | null; to: Date | null }): Promise<void> {
    const reason = scrubText(error); // stored and shown (run, report, webhook): no secret in it
    this.opts.logger?.warn({ runId, providerAccount, reason }, 'reconciliation run failed');
    await this.db.transaction(async (tx) => {
      const updated = await tx.query(
        `UPDATE reconciliation_runs SET status = 'failed', error = $2, finished_at = clock_timestamp(),
                read_started_at = coalesce(read_started_at, $3), read_finished_at = coalesce(read_finished_at, $4, CASE WHEN $3::timestamptz IS NOT NULL THEN greatest($3::timestamptz, clock_timestamp()) END)
          WHERE id = $1 AND status = 'running' RETURNING id`,
        [runId, reason, window.from, window.to],
      );
      if (updated.length) {
        await appendJournal(tx, { providerAccount, actor: RECONCILIATION_ACTOR, action: 'reconciliation_run.failed', entityType: 'reconciliation_run', entityId: runId, reason });
      }
    });
  }

  private notify(run: RunDetail): void {
    const call = (what: string, fn: () => void | Promise<void>) => {
      Promise.resolve().then(fn).catch((err) => this.opts.logger?.warn({ runId: run.id, err: (err as Error).message }, `${what} hook failed`));
    };
    const log = this.opts.logger;
    const drifted = run.items.filter((i) => i.status === 'drift');
    for (const i of drifted) log?.warn({ runId: run.id, account: i.account, drift: i.drift, observed: i.observed, expected: i.expected, findingId: i.findingId }, 'reconciliation drift');
    if (this.opts.onFinished) call('onFinished', () => this.opts.onFinished!(run));
    if (run.status === 'completed' && drifted.length && this.opts.onDrift) {
      const alert: DriftAlert = {
        runId: run.id, providerAccount: run.providerAccount, startedAt: run.startedAt, finishedAt: run.finishedAt, summary: run.summary,
        drifted: drifted.map((i) => {
          const residual = Money.parse(i.drift).minus(Money.parse(i.explained));
          return { account: i.account, expected: i.expected, observed: i.observed, drift: residual.toFixed(), suggestion: suggestionFor(residual), findingId: i.findingId, autoBooked: i.ledgerTransactionId !== null };
        }),
      };
      call('onDrift', () => this.opts.onDrift!(alert));
    }
  }
}

function alreadyRunning(runId: string | null): DomainError {
  return new DomainError('reconciliation_already_running', 'a reconciliation run is already running for this provider account', runId ? { runId } : undefined);
}
