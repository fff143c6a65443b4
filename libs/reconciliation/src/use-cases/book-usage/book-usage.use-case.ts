import { Logger } from '@app/common';
import { adjustmentPostings, Money, subaccountCode } from '@app/ledger';
import { appendJournal, Database, LedgerRepository, trySavepoint } from '@app/persistence';
import { BalanceReading, EvidenceQueries, learnSpendBound, maxSpend, SPENDING_WINDOW_SECONDS, SpendBoundPolicy, TransfersRepository, usageBetween } from '@app/transfers';
import { PairKind, UsageBookingsRepository } from '../../persistence/usage-bookings.repository';

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

  /** Sub-accounts with readings not yet paired, each booked in its own transaction. */
  async execute(limit = 200): Promise<BookUsageResult> {
    const total: BookUsageResult = { pairs: 0, booked: Money.ZERO, bookedCount: 0, unexplained: 0 };
    if (!this.opts.enabled) return total;
    const tokens = await this.bookings.withUnpairedReadings(this.opts.providerAccount, await this.transfers.withCallInFlight(this.db, this.opts.providerAccount), limit);
    for (const token of tokens) {
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
      const history = target.isBuyer ? [] : await this.queries.usageWindows(this.opts.providerAccount, token, accountId, 30, tx, this.policy.minWindowSeconds);
      for (const next of readings) {
        // The bound for this pair is learned from the windows before it, never from itself.
        const bound = target.isBuyer ? null : learnSpendBound(history.filter((w) => (w.endsAt ?? 0) <= prev!.at), this.policy);
        if (next.from < prev.at) continue; // taken at an instant whose order with prev is unknown
        const step = usageBetween(prev, next, movements);
        if (step.kind === 'blocked') break;
        if (step.kind === 'straddled') continue;
        const seconds = Math.max(0, (next.at - prev.from) / 1000);
        const kind: PairKind = target.isBuyer ? 'buyer'
          : step.usage.isNegative() ? 'gain'
            : step.usage.isZero() ? 'none'
              : bound && step.usage.greaterThan(maxSpend(bound, seconds)) ? 'implausible' : 'usage';
        const pair = { accountId, prev, next, seconds, known: step.known, usage: step.usage, kind };
        const done = await trySavepoint(tx, async () => {
          let ledgerTransactionId: string | null = null;
          if (kind === 'usage') {
            ledgerTransactionId = await this.ledger.record(tx, {
              providerAccount: this.opts.providerAccount, kind: 'usage', state: 'posted', actor: USAGE_ACTOR,
              reason: `usage between two provider readings of ${subaccountCode(token)} (${seconds.toFixed(1)} s)`,
              lines: adjustmentPostings('usage', subaccountCode(token), step.usage.negated()),
              journalData: { policy: 'USAGE_AUTO_BOOK', readings: [readingJson(pair.prev), readingJson(next)], knownTransfers: step.known.toFixed() },
            });
          }
          await this.bookings.recordPair(tx, this.opts.providerAccount, { ...pair, ledgerTransactionId });
          if (kind === 'gain' || kind === 'implausible') {
            await appendJournal(tx, {
              providerAccount: this.opts.providerAccount, actor: USAGE_ACTOR, action: `usage.${kind}`, entityType: 'account', entityId: subaccountCode(token),
              reason: kind === 'gain' ? 'a non-buyer sub-account gained credit between two readings: not usage, left to reconciliation' : 'a fall larger than this sub-account plausibly spends: not booked, left to reconciliation',
              data: { readings: [readingJson(pair.prev), readingJson(next)], usage: step.usage.toFixed(), bound: bound ? maxSpend(bound, seconds).toFixed() : null },
            });
          }
        });
        if (!done.ok) {
          // e.g. the overdraft guard: reservations to leave exceed what is left after usage. Try again later.
          this.opts.logger?.warn({ account: subaccountCode(token), err: done.error.message }, 'usage could not be booked; will try again');
          break;
        }
        result.pairs++;
        if (kind === 'usage') { result.booked = result.booked.plus(step.usage); result.bookedCount++; }
        if (kind === 'gain' || kind === 'implausible' || kind === 'buyer') result.unexplained++;
        prev = next;
      }
      return result;
    });
  }
}

function readingJson(r: BalanceReading) {
  return { observationId: r.id, source: r.source, at: new Date(r.at).toISOString(), balance: r.balance.toFixed() };
}
