import { balanceView, Money } from '@app/ledger';
import { Database } from '@app/persistence';

export interface SubaccountView {
  token: string; email: string; type: string; title: string | null; createdAt: Date;
  balance: ReturnType<typeof balanceView>;
  /** The latest provider reading, with the ledger's posted balance at that point. */
  observed: { balance: Money; expected: Money; at: Date; source: string } | null;
}

interface Row {
  token: string; email: string; type: string; title: string | null; created_at: Date;
  debits_posted: string; credits_posted: string; debits_pending: string; credits_pending: string;
  obs_balance: string | null; obs_expected: string | null; obs_at: Date | null; obs_source: string | null;
}

const SELECT = `
  SELECT s.token, s.email, s.type, s.title, s.created_at, b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending,
         o.balance AS obs_balance, o.expected AS obs_expected, o.observed_at AS obs_at, o.source AS obs_source
    FROM subaccounts s
    JOIN balances b ON b.account_id = s.account_id
    LEFT JOIN LATERAL (SELECT balance, expected, observed_at, source FROM observations WHERE account_id = s.account_id
                        ORDER BY observed_at DESC, id DESC LIMIT 1) o ON true`;

function toView(r: Row): SubaccountView {
  return {
    token: r.token, email: r.email, type: r.type, title: r.title, createdAt: r.created_at,
    balance: balanceView({ debitsPosted: Money.parse(r.debits_posted), creditsPosted: Money.parse(r.credits_posted), debitsPending: Money.parse(r.debits_pending), creditsPending: Money.parse(r.credits_pending) }),
    observed: r.obs_balance === null ? null : { balance: Money.parse(r.obs_balance), expected: Money.parse(r.obs_expected!), at: r.obs_at!, source: r.obs_source! },
  };
}

export class SubaccountsQueries {
  constructor(private readonly db: Database) {}

  async list(providerAccount: string, limit: number, afterToken?: string): Promise<SubaccountView[]> {
    const rows = await this.db.query<Row>(`${SELECT} WHERE s.provider_account_id = $1 AND ($2::text IS NULL OR s.token > $2) ORDER BY s.token LIMIT $3`, [providerAccount, afterToken ?? null, limit]);
    return rows.map(toView);
  }

  async get(providerAccount: string, token: string): Promise<SubaccountView | null> {
    const rows = await this.db.query<Row>(`${SELECT} WHERE s.provider_account_id = $1 AND s.token = $2`, [providerAccount, token]);
    return rows.length ? toView(rows[0]) : null;
  }
}
