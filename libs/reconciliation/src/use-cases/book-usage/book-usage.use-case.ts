import { DomainError, Logger } from '@app/common';
import { adjustmentPostings, Money, subaccountCode } from '@app/ledger';
import { appendJournalMany, Database, LedgerRepository, trySavepoint, Tx } from '@app/persistence';
import { BalanceReading, EvidenceQueries, learnSpendBound, maxSpend, SPENDING_WINDOW_SECONDS, SpendBoundPolicy, TransfersRepository, usageBetween, UsageWindow } from '@app/transfers';
import { PairKind, UsageBookingsRepository, UsagePair } from '../../persistence/usage-bookings.repository';

export const USAGE_ACTOR = 'system:usage';

export interface BookUsageOptions {
  providerAccount: string;
  /** USAGE_AUTO_BOOK: book the measured usage in the ledger. Off: nothing is recorded (findings show it). */
  enabled: boolean;
  spend: Omit<SpendBoundPolicy, 'minWindowSeconds'> & { minWindowSeconds?: number };
  logger?: Logger;
}

export interface BookUsageResult { pairs: number; booked: Money; bookedCount: number; unexplained: number }

/**
 * Usage accounting (docs/in-doubt.md, "Usage"): walks the exact readings of a sub-account in
 * time order from the last pair it closed; between two readings with no call of unknown
 * outcome in between, the fall our known calls do not explain is usage, booked as a posted
 * `sub:<token>` → `usage` transaction journaled with both readings. A rise (a non-buyer
 * gaining credit), a fall above the plausible bound and anything on a buyer sub-account is
 * recorded as such and not booked: reconciliation shows it as drift. A reading closes at most
 * one pair (a unique constraint), so nothing is ever booked twice.
 */
export class BookUsageUseCase {
  private readonly policy: SpendBoundPolicy;
  private readonly bookings: UsageBookingsRepository;
  private readonly transfers: TransfersRepository;

  constructor(
    private readonly db: Database,
    private readonly ledger: LedgerRepository,
    private readonly queries: EvidenceQueries,
    private readonly opts: BookUsageOptions,
  ) {
    this.policy = { minWindowSeconds: SPENDING_WINDOW_SECONDS, ...opts.spend };
    this.bookings = new UsageBookingsRepository(db);
    this.transfers = new TransfersRepository(db);
  }

  /**
   * Sub-accounts with readings not yet paired, the longest unbooked first, each booked in its
   * own transaction. With `budgetMs`, no further sub-account is started once that long has
   * passed (at least one always is): the booker then takes a bounded share of the worker and
   * of Postgres, and a sub-account booked later closes all the pairs it gathered meanwhile
   * (up to 200) with the same reads.
   */
  async execute(budgetMs = Infinity, limit = 200): Promise<BookUsageResult> {
    const total: BookUsageResult = { pairs: 0, booked: Money.ZERO, bookedCount: 0, unexplained: 0 };
    if (!this.opts.enabled) return total;
    const started = Date.now();
    const tokens = await this.bookings.withUnpairedReadings(this.opts.providerAccount, await this.transfers.withCallInFlight(this.db, this.opts.providerAccount), limit);
    for (const [i, token] of tokens.entries()) {
      if (i > 0 && Date.now() - started >= budgetMs) break;
      const one = await this.forSubaccount(token);
      total.pairs += one.pairs;
      total.booked = total.booked.plus(one.booked);
      total.bookedCount += one.bookedCount;
      total.unexplained += one.unexplained;
    }
    return total;
  }

  /** One sub-account, serialised with any other booking of it (row lock on the sub-account). */
  async forSubaccount(token: string): Promise<BookUsageResult> {
    const result: BookUsageResult = { pairs: 0, booked: Money.ZERO, bookedCount: 0, unexplained: 0 };
    if (!this.opts.enabled) return result;
    return this.db.transaction(async (tx) => {
      const accountId = await this.bookings.lockSubaccount(tx, this.opts.providerAccount, token);
      if (accountId === null) return result;
      const target = (await this.queries.target(this.opts.providerAccount, token, tx))!;
      const last = await this.bookings.lastClosedReading(tx, accountId);
      let readings: BalanceReading[];
      let prev: BalanceReading | null;
      if (last) {
        prev = await this.queries.reading(last, tx);
        readings = await this.queries.readingsAfter(accountId, last, 200, tx);
      } else {
        const all = await this.queries.readingsAfter(accountId, null, 201, tx);
        prev = all[0] ?? null;
        readings = all.slice(1);
      }
      if (!prev || !readings.length) return result;
      const movements = await this.queries.movements(this.opts.providerAccount, token, new Date(prev.from), tx);
      // The spending history, read only when a pair spent something (its bound is then needed).
      let history: UsageWindow[] | null = null;
      const windows = async () => (history ??= await this.queries.usageWindows(this.opts.providerAccount, token, accountId, 30, tx, this.policy.minWindowSeconds));
      // The pairs, judged in time order (pure), then written together.
      const planned: PlannedPair[] = [];
      for (const next of readings) {
        if (next.from < prev.at) continue; // taken at an instant whose order with prev is unknown
        const step = usageBetween(prev, next, movements);
        if (step.kind === 'blocked') break;
        if (step.kind === 'straddled') continue;
        const seconds = Math.max(0, (next.at - prev.from) / 1000);
        // The bound for this pair is learned from the windows before it, never from itself.
        const spent = !target.isBuyer && !step.usage.isNegative() && !step.usage.isZero();
        const before = prev.at;
        const bound = spent ? learnSpendBound((await windows()).filter((w) => (w.endsAt ?? 0) <= before), this.policy) : null;
        const kind: PairKind = target.isBuyer ? 'buyer'
          : step.usage.isNegative() ? 'gain'
            : step.usage.isZero() ? 'none'
              : bound && step.usage.greaterThan(maxSpend(bound, seconds)) ? 'implausible' : 'usage';
        planned.push({ accountId, prev, next, seconds, known: step.known, usage: step.usage, kind, bound: bound ? maxSpend(bound, seconds) : null });
        prev = next;
      }
      const written = await this.write(tx, token, planned);
      for (const pair of written) {
        result.pairs++;
        if (pair.kind === 'usage') { result.booked = result.booked.plus(pair.usage); result.bookedCount++; }
        if (pair.kind === 'gain' || pair.kind === 'implausible' || pair.kind === 'buyer') result.unexplained++;
      }
      return result;
    }, { sqlOnly: true }); // plain SQL only, like the other hot paths (docs/benchmarks.md)
  }

  /**
   * Writes the pairs in order, set-based: the usage ones' ledger transactions in one
   * `recordMany`, the pairs in one insert, the journal entries of gains and implausible falls
   * in one statement. When the ledger refuses a booking (e.g. the overdraft guard: reservations
   * to leave exceed what is left after usage), nothing from that pair on is written: the
   * savepoint is rolled back and the pairs before it are written again; the rest waits for a
   * later booking. Returns the pairs written.
   */
  private async write(tx: Tx, token: string, planned: PlannedPair[]): Promise<PlannedPair[]> {
    // Without a usage pair there is nothing the ledger can refuse: no savepoint.
    if (!planned.some((p) => p.kind === 'usage')) {
      await this.writePairs(tx, token, planned);
      return planned;
    }
    let pairs = planned;
    while (pairs.length) {
      const attempt = pairs;
      let refusedAt = -1;
      const done = await trySavepoint(tx, async () => {
        const refusal = await this.writePairs(tx, token, attempt);
        if (refusal) {
          refusedAt = refusal.at;
          throw refusal.error;
        }
      });
      if (done.ok) return attempt;
      this.opts.logger?.warn({ account: subaccountCode(token), err: done.error.message }, 'usage could not be booked; will try again');
      if (refusedAt < 0) return []; // not a refusal the pairs before it can avoid: nothing written, tried again later
      pairs = attempt.slice(0, refusedAt);
    }
    return [];
  }

  /** Writes the pairs; when the ledger refuses one's booking, writes nothing more and returns which and why (else null). */
  private async writePairs(tx: Tx, token: string, pairs: PlannedPair[]): Promise<{ at: number; error: DomainError } | null> {
    const usage = pairs.filter((p) => p.kind === 'usage');
    const ids = await this.ledger.recordMany(tx, this.opts.providerAccount, usage.map((pair) => ({
      providerAccount: this.opts.providerAccount, kind: 'usage' as const, state: 'posted' as const, actor: USAGE_ACTOR,
      reason: `usage between two provider readings of ${subaccountCode(token)} (${pair.seconds.toFixed(1)} s)`,
      lines: adjustmentPostings('usage', subaccountCode(token), pair.usage.negated()),
      journalData: { policy: 'USAGE_AUTO_BOOK', readings: [readingJson(pair.prev), readingJson(pair.next)], knownTransfers: pair.known.toFixed() },
    })));
    const refused = ids.findIndex((id) => id instanceof DomainError);
    if (refused >= 0) return { at: pairs.indexOf(usage[refused]), error: ids[refused] as DomainError };
    const booked = new Map(usage.map((pair, i) => [pair, ids[i] as string]));
    await this.bookings.recordPairs(tx, this.opts.providerAccount, pairs.map((pair) => ({ ...withoutBound(pair), ledgerTransactionId: booked.get(pair) ?? null })));
    await appendJournalMany(tx, pairs.filter((pair) => pair.kind === 'gain' || pair.kind === 'implausible').map((pair) => ({
      providerAccount: this.opts.providerAccount, actor: USAGE_ACTOR, action: `usage.${pair.kind}`, entityType: 'account', entityId: subaccountCode(token),
      reason: pair.kind === 'gain' ? 'a non-buyer sub-account gained credit between two readings: not usage, left to reconciliation' : 'a fall larger than this sub-account plausibly spends: not booked, left to reconciliation',
      data: { readings: [readingJson(pair.prev), readingJson(pair.next)], usage: pair.usage.toFixed(), bound: pair.bound ? pair.bound.toFixed() : null },
    })));
    return null;
  }
}

/** A pair as judged, before it is written; `bound`: the plausible spend it was judged against. */
type PlannedPair = Omit<UsagePair, 'ledgerTransactionId'> & { bound: Money | null };

function withoutBound({ bound: _bound, ...pair }: PlannedPair): Omit<UsagePair, 'ledgerTransactionId'> {
  return pair;
}

function readingJson(r: BalanceReading) {
  return { observationId: r.id, source: r.source, at: new Date(r.at).toISOString(), balance: r.balance.toFixed() };
}
