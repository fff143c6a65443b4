import { DomainError } from '@app/common';
import { adjustmentPostings, Money, subaccountCode } from '@app/ledger';
import { appendJournal, Database, LedgerRepository } from '@app/persistence';
import { listAllSubaccounts, MeBody, ProviderOutcome, SkippedListEntry, SubaccountListBody } from '@app/provider';
import { providerFailure } from '@app/provider';

export interface SubaccountReads {
  me(): Promise<ProviderOutcome<MeBody>>;
  listSubaccounts(page: number): Promise<ProviderOutcome<SubaccountListBody>>;
}

export interface ImportResult {
  total: number; imported: number; refreshed: number; openingBalances: number; mainOpeningBalance: string | null;
  /** List entries the provider sent that could not be read (not imported): page, index, token if any, why. */
  skipped: Array<SkippedListEntry & { page: number }>;
}

/**
 * Onboards the provider account: imports (or refreshes) every sub-account from the provider's
 * list. The first import books the main account's balance and each NEW sub-account's balance
 * as opening balances (from `funding`), so the ledger starts reconciled.
 */
export class ImportSubaccountsUseCase {
  constructor(private readonly db: Database, private readonly ledger: LedgerRepository, private readonly provider: SubaccountReads) {}

  async execute(providerAccount: string, actor: string): Promise<ImportResult> {
    const [{ started }] = await this.db.query<{ started: Date }>('SELECT clock_timestamp() AS started');
    const me = await this.provider.me();
    if (me.kind !== 'ok') throw providerFailure('reading the main account', me);
    const listing = await listAllSubaccounts(this.provider);
    if (listing.kind === 'failed') {
      throw listing.outcome ? providerFailure(`listing sub-accounts (page ${listing.page})`, listing.outcome) : new DomainError('provider_unavailable', `listing sub-accounts: ${listing.problem}`);
    }
    const { items, skipped } = listing;
    return this.db.transaction(async (tx) => {
      await this.ledger.ensureProviderAccount(tx, providerAccount);
      const result: ImportResult = { total: items.length, imported: 0, refreshed: 0, openingBalances: 0, mainOpeningBalance: null, skipped };
      const [{ has_main_opening }] = await tx.query<{ has_main_opening: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM ledger_transactions WHERE provider_account_id = $1 AND kind = 'opening_balance' AND reason = 'opening balance: main') AS has_main_opening`,
        [providerAccount],
      );
      if (!has_main_opening && me.body.balance.isPositive()) {
        await this.bookOpening(tx, providerAccount, 'main', me.body.balance, actor, 'opening balance: main');
        result.mainOpeningBalance = me.body.balance.toFixed();
        result.openingBalances++;
      }
      for (const item of items) {
        const account = await this.ledger.ensureAccount(tx, providerAccount, subaccountCode(item.token));
        const rows = await tx.query<{ inserted: boolean }>(
          `INSERT INTO subaccounts (provider_account_id, token, email, type, account_id, provider_created_at, imported_at)
           VALUES ($1, $2, $3, $4, $5, $6, now())
           ON CONFLICT (provider_account_id, token) DO UPDATE SET email = EXCLUDED.email, type = EXCLUDED.type, imported_at = now()
           RETURNING (xmax = 0) AS inserted`,
          [providerAccount, item.token, item.email, item.type === 'advanced' ? 'advanced' : 'simple', account.id, item.createdAt],
        );
        if (rows[0].inserted) {
          result.imported++;
          const [{ n }] = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM postings WHERE account_id = $1', [account.id]);
          if (n === 0 && item.balance.isPositive()) {
            await this.bookOpening(tx, providerAccount, subaccountCode(item.token), item.balance, actor, `opening balance: sub-account ${item.token}`);
            result.openingBalances++;
          }
        } else {
          result.refreshed++;
        }
      }
      // The list is an exact reading of every sub-account: the first evidence that brackets
      // their first transfers (docs/in-doubt.md).
      await tx.query(
        `INSERT INTO observations (provider_account_id, account_id, source, balance, expected, settled, read_started_at)
         SELECT $1, a.id, 'list', v.balance, b.debits_posted - b.credits_posted,
                NOT EXISTS (SELECT 1 FROM transfers t WHERE t.provider_account_id = $1 AND t.subaccount_token = v.token AND t.status = 'executing'), $4
           FROM unnest($2::text[], $3::numeric[]) AS v(token, balance)
           JOIN ledger_accounts a ON a.provider_account_id = $1 AND a.code = 'sub:' || v.token
           JOIN balances b ON b.account_id = a.id`,
        [providerAccount, items.map((i) => i.token), items.map((i) => i.balance.toFixed()), started],
      );
      await appendJournal(tx, {
        providerAccount, actor, action: 'subaccounts.imported', entityType: 'provider_account', entityId: providerAccount,
        data: { ...result },
      });
      return result;
    });
  }

  private async bookOpening(tx: Parameters<Parameters<Database['transaction']>[0]>[0], providerAccount: string, account: string, amount: Money, actor: string, reason: string) {
    await this.ledger.record(tx, {
      providerAccount, kind: 'opening_balance', state: 'posted', actor, reason,
      lines: adjustmentPostings('opening_balance', account, amount),
    });
  }
}
