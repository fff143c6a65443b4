import { Logger } from '@app/common';
import { adjustmentPostings, Money, subaccountCode } from '@app/ledger';
import { appendJournal, Database, LedgerRepository, Tx } from '@app/persistence';
import { BalanceReading, EvidenceQueries, learnSpendBound, maxSpend, SpendBoundPolicy, usageBetween } from '@app/transfers';

export const USAGE_ACTOR = 'system:usage';

export interface BookUsageOptions {
  providerAccount: string;
  /** USAGE_AUTO_BOOK: book the measured usage in the ledger. Off: nothing is recorded (findings show it). */
  enabled: boolean;
  spend: Omit<SpendBoundPolicy, 'minWindowSeconds'> & { minWindowSeconds?: number };
  logger?: Logger;
}

export interface BookUsageResult { pairs: number; booked: Money; bookedCount: number; unexplained: number }

type PairKind = 'usage' | 'none' | 'gain' | 'implausible' | 'buyer';

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

  constructor(
    private readonly db: Database,
    private readonly ledger: LedgerRepository,
    private readonly queries: EvidenceQueries,
    private readonly opts: BookUsageOptions,
  ) {
    this.policy = { minWindowSeconds: 5, ...opts.spend };
  }

  /** Sub-accounts with readings not yet paired, each booked in its own transaction. */
  async execute(limit = 200): Promise<BookUsageResult> {
    const total: BookUsageResult = { pairs: 0, booked: Money.ZERO, bookedCount: 0, unexplained: 0 };
    if (!this.opts.enabled) return total;
    const rows = await this.db.query<{ token: string }>(
      `SELECT s.token FROM subaccounts s
         LEFT JOIN LATERAL (SELECT max(u.to_observation_id) AS last FROM usage_bookings u WHERE u.account_id = s.account_id) u ON true
        WHERE s.provider_account_id = $1
          AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.provider_account_id = s.provider_account_id AND t.subaccount_token = s.token AND t.status IN ('in_doubt', 'executing'))
          AND EXISTS (SELECT 1 FROM observations o WHERE o.account_id = s.account_id
                        AND o.id > coalesce(u.last, (SELECT min(f.id) FROM observations f WHERE f.account_id = s.account_id)))
        LIMIT $2`,
      [this.opts.providerAccount, limit],
    );
    for (const r of rows) {
      const one = await this.forSubaccount(r.token);
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
      const [sub] = await tx.query<{ account_id: string }>('SELECT account_id FROM subaccounts WHERE provider_account_id = $1 AND token = $2 FOR NO KEY UPDATE', [this.opts.providerAccount, token]);
      if (!sub) return result;
      const target = (await this.queries.target(this.opts.providerAccount, token, tx))!;
      const [last] = await tx.query<{ to_observation_id: string }>('SELECT to_observation_id FROM usage_bookings WHERE account_id = $1 ORDER BY to_at DESC, to_observation_id DESC LIMIT 1', [sub.account_id]);
      let readings: BalanceReading[];
      let prev: BalanceReading | null;
      if (last) {
        prev = await this.queries.reading(last.to_observation_id, tx);
        readings = await this.queries.readingsAfter(sub.account_id, last.to_observation_id, 200, tx);
      } else {
        const all = await this.queries.readingsAfter(sub.account_id, null, 201, tx);
        prev = all[0] ?? null;
        readings = all.slice(1);
      }
      if (!prev || !readings.length) return result;
      const movements = await this.queries.movements(this.opts.providerAccount, token, new Date(prev.from), tx);
      const history = target.isBuyer ? [] : await this.queries.usageWindows(this.opts.providerAccount, token, sub.account_id, 30, tx, this.policy.minWindowSeconds);
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
        await tx.query('SAVEPOINT usage_pair');
        try {
          let ledgerTransactionId: string | null = null;
          if (kind === 'usage') {
            ledgerTransactionId = await this.ledger.record(tx, {
              providerAccount: this.opts.providerAccount, kind: 'usage', state: 'posted', actor: USAGE_ACTOR,
              reason: `usage between two provider readings of ${subaccountCode(token)} (${seconds.toFixed(1)} s)`,
              lines: adjustmentPostings('usage', subaccountCode(token), step.usage.negated()),
              journalData: { policy: 'USAGE_AUTO_BOOK', readings: [readingJson(prev), readingJson(next)], knownTransfers: step.known.toFixed() },
            });
          }
          await this.insertPair(tx, sub.account_id, prev, next, seconds, step.known, step.usage, kind, ledgerTransactionId);
          if (kind === 'gain' || kind === 'implausible') {
            await appendJournal(tx, {
              providerAccount: this.opts.providerAccount, actor: USAGE_ACTOR, action: `usage.${kind}`, entityType: 'account', entityId: subaccountCode(token),
              reason: kind === 'gain' ? 'a non-buyer sub-account gained credit between two readings: not usage, left to reconciliation' : 'a fall larger than this sub-account plausibly spends: not booked, left to reconciliation',
              data: { readings: [readingJson(prev), readingJson(next)], usage: step.usage.toFixed(), bound: bound ? maxSpend(bound, seconds).toFixed() : null },
            });
          }
          await tx.query('RELEASE SAVEPOINT usage_pair');
          result.pairs++;
          if (kind === 'usage') { result.booked = result.booked.plus(step.usage); result.bookedCount++; }
          if (kind === 'gain' || kind === 'implausible' || kind === 'buyer') result.unexplained++;
        } catch (err) {
          // e.g. the overdraft guard: reservations to leave exceed what is left after usage. Try again later.
          await tx.query('ROLLBACK TO SAVEPOINT usage_pair');
          this.opts.logger?.warn({ account: subaccountCode(token), err: (err as Error).message }, 'usage could not be booked; will try again');
          break;
        }
        prev = next;
      }
      return result;
    });
  }

  private async insertPair(tx: Tx, accountId: string, prev: BalanceReading, next: BalanceReading, seconds: number, known: Money, usage: Money, kind: PairKind, ledgerTransactionId: string | null): Promise<void> {
    await tx.query(
      `INSERT INTO usage_bookings (provider_account_id, account_id, from_observation_id, to_observation_id, from_at, to_at, seconds,
                                   from_balance, to_balance, known, usage, kind, ledger_transaction_id)
       VALUES ($1, $2, $3, $4, to_timestamp($5::double precision / 1000), to_timestamp($6::double precision / 1000), $7, $8, $9, $10, $11, $12, $13)`,
      [this.opts.providerAccount, accountId, prev.id, next.id, prev.at, next.at, seconds.toFixed(3), prev.balance.toFixed(), next.balance.toFixed(), known.toFixed(), usage.toFixed(), kind, ledgerTransactionId],
    );
  }
}

function readingJson(r: BalanceReading) {
  return { observationId: r.id, source: r.source, at: new Date(r.at).toISOString(), balance: r.balance.toFixed() };
}
