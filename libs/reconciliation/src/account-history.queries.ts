import { DomainError } from '@app/common';
import { Money } from '@app/ledger';
import { Database } from '@app/persistence';
import { ObservationSource } from './domain/reconciliation';

/** The posted balance after each posting (and at the start and end of the period). */
export interface LedgerPoint { at: string; posted: string }

/** A provider reading: what it showed, what the ledger held at that point, and the gap. */
export interface ObservationPoint {
  at: string;
  source: ObservationSource;
  observed: string;
  expected: string;
  drift: string;
  /** False when a transfer on the account was in flight, so a gap may be timing, not drift. */
  settled: boolean;
  /** The reconciliation run that made the reading, or the transfer whose answer carried it. */
  runId: string | null;
  transferId: string | null;
}

export interface AccountHistory {
  account: string;
  from: string;
  to: string;
  ledger: LedgerPoint[];
  observations: ObservationPoint[];
  /** More points than `limit` in the period: the most recent ones are returned. */
  truncated: boolean;
}

/**
 * Balance history of one ledger account for charts: the ledger's posted balance over time
 * and every provider observation with the drift it showed. Money stays 3-decimal strings.
 */
export class AccountHistoryQueries {
  constructor(private readonly db: Database) {}

  async history(providerAccount: string, code: string, from: Date, to: Date, limit = 2000): Promise<AccountHistory> {
    if (from.getTime() > to.getTime()) throw new DomainError('validation_failed', 'from must not be after to');
    const [account] = await this.db.query<{ id: string }>('SELECT id FROM ledger_accounts WHERE provider_account_id = $1 AND code = $2', [providerAccount, code]);
    if (!account) throw new DomainError('account_not_found', `account ${code} does not exist`);

    const [opening] = await this.db.query<{ balance_after: string }>(
      'SELECT balance_after FROM account_entries WHERE account_id = $1 AND posted_at < $2 ORDER BY posted_at DESC, id DESC LIMIT 1',
      [account.id, from],
    );
    // Newest first with limit + 1 (to know whether there were more), then back to time order.
    const entries = (await this.db.query<{ posted_at: Date; balance_after: string }>(
      `SELECT posted_at, balance_after FROM account_entries WHERE account_id = $1 AND posted_at >= $2 AND posted_at <= $3
        ORDER BY posted_at DESC, id DESC LIMIT $4`,
      [account.id, from, to, limit + 1],
    )).reverse();
    const observations = (await this.db.query<{
      observed_at: Date; source: ObservationSource; balance: string; expected: string; settled: boolean; run_id: string | null; transfer_id: string | null;
    }>(
      `SELECT o.observed_at, o.source, o.balance, o.expected, o.settled, i.run_id, o.transfer_id
         FROM observations o LEFT JOIN reconciliation_items i ON i.observation_id = o.id
        WHERE o.account_id = $1 AND o.observed_at >= $2 AND o.observed_at <= $3
        ORDER BY o.observed_at DESC, o.id DESC LIMIT $4`,
      [account.id, from, to, limit + 1],
    )).reverse();
    const truncated = entries.length > limit || observations.length > limit;
    const keptEntries = entries.slice(-limit);

    const ledger: LedgerPoint[] = [];
    // The opening point only when the period starts with the whole history in view.
    if (entries.length <= limit) ledger.push({ at: from.toISOString(), posted: Money.parse(opening?.balance_after ?? '0').toFixed() });
    for (const e of keptEntries) ledger.push({ at: e.posted_at.toISOString(), posted: Money.parse(e.balance_after).toFixed() });
    const closing = ledger.length ? ledger[ledger.length - 1].posted : Money.parse(opening?.balance_after ?? '0').toFixed();
    ledger.push({ at: to.toISOString(), posted: closing });

    return {
      account: code, from: from.toISOString(), to: to.toISOString(), ledger, truncated,
      observations: observations.slice(-limit).map((o) => {
        const observed = Money.parse(o.balance);
        const expected = Money.parse(o.expected);
        return {
          at: o.observed_at.toISOString(), source: o.source, observed: observed.toFixed(), expected: expected.toFixed(),
          drift: observed.minus(expected).toFixed(), settled: o.settled, runId: o.run_id, transferId: o.transfer_id,
        };
      }),
    };
  }
}
