import { DomainError } from '@app/common';
import { adjustmentPostings, Money, subaccountCode } from '@app/ledger';
import { appendJournal, Database, LedgerRepository, ObservationsRepository, Tx } from '@app/persistence';
import { listAllSubaccounts, MeBody, ProviderOutcome, SkippedListEntry, SubaccountListBody } from '@app/provider';
import { TransfersRepository } from '@app/transfers';
import { providerFailure } from '@app/provider';
import { SubaccountsRepository } from '../../subaccounts.repository';

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
  constructor(
    private readonly db: Database,
    private readonly ledger: LedgerRepository,
    private readonly subaccounts: SubaccountsRepository,
    private readonly transfers: TransfersRepository,
    private readonly observations: ObservationsRepository,
    private readonly provider: SubaccountReads,
  ) {}

  async execute(providerAccount: string, actor: string): Promise<ImportResult> {
    const started = await this.db.clock();
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
      const hasMainOpening = await this.ledger.hasTransaction(tx, providerAccount, 'opening_balance', 'opening balance: main');
      if (!hasMainOpening && me.body.balance.isPositive()) {
        await this.bookOpening(tx, providerAccount, 'main', me.body.balance, actor, 'opening balance: main');
        result.mainOpeningBalance = me.body.balance.toFixed();
        result.openingBalances++;
      }
      for (const item of items) {
        const account = await this.ledger.ensureAccount(tx, providerAccount, subaccountCode(item.token));
        const inserted = await this.subaccounts.upsertImported(tx, providerAccount, {
          token: item.token, email: item.email, type: item.type === 'advanced' ? 'advanced' : 'simple', accountId: account.id, providerCreatedAt: item.createdAt,
        });
        if (inserted) {
          result.imported++;
          if (!(await this.ledger.hasPostings(tx, account.id)) && item.balance.isPositive()) {
            await this.bookOpening(tx, providerAccount, subaccountCode(item.token), item.balance, actor, `opening balance: sub-account ${item.token}`);
            result.openingBalances++;
          }
        } else {
          result.refreshed++;
        }
      }
      // The list is an exact reading of every sub-account: the first evidence that brackets
      // their first transfers (docs/in-doubt.md).
      // A sub-account with a call in flight may have moved while the list was read: not settled.
      const moving = await this.transfers.subaccountsExecuting(tx, providerAccount, items.map((i) => i.token));
      await this.observations.recordReadings(tx, {
        providerAccount, source: 'list', readStartedAt: started,
        readings: items.map((i) => ({ code: subaccountCode(i.token), balance: i.balance, settled: !moving.has(i.token) })),
      });
      await appendJournal(tx, {
        providerAccount, actor, action: 'subaccounts.imported', entityType: 'provider_account', entityId: providerAccount,
        data: { ...result },
      });
      return result;
    });
  }

  private async bookOpening(tx: Tx, providerAccount: string, account: string, amount: Money, actor: string, reason: string) {
    await this.ledger.record(tx, {
      providerAccount, kind: 'opening_balance', state: 'posted', actor, reason,
      lines: adjustmentPostings('opening_balance', account, amount),
    });
  }
}
