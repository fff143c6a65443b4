import { Database, Tx } from '@app/persistence';
import type { SubaccountDirectory } from '@app/transfers';

export interface SubaccountRecord {
  token: string; email: string; type: 'simple' | 'advanced'; accountId: string;
  title?: string | null; firstname?: string | null; lastname?: string | null; isBuyer?: boolean | null;
}

/**
 * The subaccounts table (the ledger's copy of the provider's sub-accounts). Writes take the
 * caller's transaction; the views with balances and readings are `SubaccountsQueries`.
 */
export class SubaccountsRepository implements SubaccountDirectory {
  constructor(private readonly db: Database) {}

  /** Of these tokens, those of sub-accounts the ledger knows. */
  async existing(tx: Tx | Database, providerAccount: string, tokens: string[]): Promise<Set<string>> {
    if (!tokens.length) return new Set();
    // SQL: recording asks this inside its set-based, sqlOnly transaction.
    const rows = await tx.query<{ token: string }>('SELECT token FROM subaccounts WHERE provider_account_id = $1 AND token = ANY($2::text[])', [providerAccount, tokens]);
    return new Set(rows.map((r) => r.token));
  }

  async exists(tx: Tx | Database, providerAccount: string, token: string): Promise<boolean> {
    return (await this.existing(tx, providerAccount, [token])).has(token);
  }

  /** Inserts it, or refreshes email and type from the provider's list; true when it was new. */
  async upsertImported(tx: Tx, providerAccount: string, s: SubaccountRecord & { providerCreatedAt: string | null }): Promise<boolean> {
    const [row] = await tx.query<{ inserted: boolean }>(
      `INSERT INTO subaccounts (provider_account_id, token, email, type, account_id, provider_created_at, imported_at)
       VALUES ($1, $2, $3, $4, $5, $6, now())
       ON CONFLICT (provider_account_id, token) DO UPDATE SET email = EXCLUDED.email, type = EXCLUDED.type, imported_at = now()
       RETURNING (xmax = 0) AS inserted`,
      [providerAccount, s.token, s.email, s.type, s.accountId, s.providerCreatedAt],
    );
    return row.inserted;
  }

  /** Inserts a created sub-account; false when it already exists. */
  async insertCreated(tx: Tx, providerAccount: string, s: SubaccountRecord): Promise<boolean> {
    const { count } = await tx.prisma.subaccount.createMany({
      data: [{
        providerAccountId: providerAccount, token: s.token, email: s.email, type: s.type, title: s.title ?? null, firstname: s.firstname ?? null,
        lastname: s.lastname ?? null, isBuyer: s.isBuyer ?? null, accountId: BigInt(s.accountId),
      }],
      skipDuplicates: true,
    });
    return count > 0;
  }
}
