import { Money, subaccountTokenOf } from '@app/ledger';
import { Database } from '@app/persistence';

export interface UsageReportRow {
  account: string;
  subaccount: string;
  opening: string;
  topUps: string;
  removals: string;
  usage: string;
  adjustments: string;
  closing: string;
  providerClosing: string | null;
  difference: string | null;
}

export interface UsageReport {
  month: string;
  timeZone: 'UTC';
  from: string;
  to: string;
  rows: UsageReportRow[];
  totals: Omit<UsageReportRow, 'account' | 'subaccount'>;
}

/** `2026-11` → [2026-11-01T00:00Z, 2026-12-01T00:00Z). The caller validated the format. */
export function monthWindow(month: string): { from: Date; to: Date } {
  const [y, m] = month.split('-').map((p) => Number.parseInt(p, 10));
  return { from: new Date(Date.UTC(y, m - 1, 1)), to: new Date(Date.UTC(y, m, 1)) };
}

/**
 * Usage per sub-account and month (UTC), the figure a reseller bills its customers from:
 * opening and closing posted balances, our top-ups and removals, booked usage, other
 * adjustments (opening balances, purchases, write-offs), and the last provider reading of the
 * month. closing = opening + topUps - removals - usage + adjustments.
 */
export class UsageReportQueries {
  constructor(private readonly db: Database) {}

  async report(providerAccount: string, month: string): Promise<UsageReport> {
    const { from, to } = monthWindow(month);
    const rows = await this.db.query<{
      code: string; opening: string; closing: string; top_ups: string; removals: string; usage: string; adjustments: string; provider_closing: string | null;
    }>(
      `SELECT a.code,
              coalesce((SELECT e.balance_after FROM account_entries e WHERE e.account_id = a.id AND e.posted_at < $2 ORDER BY e.posted_at DESC, e.id DESC LIMIT 1), 0) AS opening,
              coalesce((SELECT e.balance_after FROM account_entries e WHERE e.account_id = a.id AND e.posted_at < $3 ORDER BY e.posted_at DESC, e.id DESC LIMIT 1), 0) AS closing,
              coalesce(m.top_ups, 0) AS top_ups, coalesce(m.removals, 0) AS removals, coalesce(m.usage, 0) AS usage, coalesce(m.adjustments, 0) AS adjustments,
              (SELECT o.balance FROM observations o WHERE o.account_id = a.id AND o.observed_at >= $2 AND o.observed_at < $3 ORDER BY o.observed_at DESC, o.id DESC LIMIT 1) AS provider_closing
         FROM ledger_accounts a
         LEFT JOIN LATERAL (
           SELECT sum(e.amount) FILTER (WHERE t.kind = 'transfer' AND e.amount > 0) AS top_ups,
                  -sum(e.amount) FILTER (WHERE t.kind = 'transfer' AND e.amount < 0) AS removals,
                  -sum(e.amount) FILTER (WHERE t.kind = 'usage') AS usage,
                  sum(e.amount) FILTER (WHERE t.kind NOT IN ('transfer', 'usage')) AS adjustments
             FROM account_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
            WHERE e.account_id = a.id AND e.posted_at >= $2 AND e.posted_at < $3) m ON true
        WHERE a.provider_account_id = $1 AND a.kind = 'subaccount'
        ORDER BY a.code`,
      [providerAccount, from, to],
    );
    const out: UsageReportRow[] = rows.map((r) => {
      const closing = Money.parse(r.closing);
      const providerClosing = r.provider_closing === null ? null : Money.parse(r.provider_closing);
      return {
        account: r.code, subaccount: subaccountTokenOf(r.code)!,
        opening: Money.parse(r.opening).toFixed(), topUps: Money.parse(r.top_ups).toFixed(), removals: Money.parse(r.removals).toFixed(),
        usage: Money.parse(r.usage).toFixed(), adjustments: Money.parse(r.adjustments).toFixed(), closing: closing.toFixed(),
        providerClosing: providerClosing?.toFixed() ?? null, difference: providerClosing ? closing.minus(providerClosing).toFixed() : null,
      };
    });
    const sum = (k: keyof UsageReportRow) => Money.sum(out.map((r) => Money.parse(r[k] ?? '0'))).toFixed();
    const withReading = out.filter((r) => r.providerClosing !== null);
    return {
      month, timeZone: 'UTC', from: from.toISOString(), to: to.toISOString(), rows: out,
      totals: {
        opening: sum('opening'), topUps: sum('topUps'), removals: sum('removals'), usage: sum('usage'), adjustments: sum('adjustments'), closing: sum('closing'),
        providerClosing: withReading.length ? Money.sum(withReading.map((r) => Money.parse(r.providerClosing!))).toFixed() : null,
        difference: withReading.length ? Money.sum(withReading.map((r) => Money.parse(r.difference!))).toFixed() : null,
      },
    };
  }
}
