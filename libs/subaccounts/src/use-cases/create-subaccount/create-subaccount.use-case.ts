import { subaccountCode } from '@app/ledger';
import { appendJournal, Database, LedgerRepository } from '@app/persistence';
import { CreateBody, CreateSubaccountInput, ProviderOutcome } from '@app/provider';
import { providerFailure } from '../../provider-error';

export interface CreateSubaccountCommand {
  providerAccount: string;
  type: 'simple' | 'advanced';
  email: string;
  title?: string;
  firstname?: string;
  lastname?: string;
  isBuyer?: boolean;
  actor: string;
}

/**
 * Creates a sub-account at the provider, then in the ledger. `creditToAttribute` is never
 * sent: it would move money outside a recorded transfer; fund new sub-accounts with a transfer.
 */
export class CreateSubaccountUseCase {
  constructor(
    private readonly db: Database,
    private readonly ledger: LedgerRepository,
    private readonly provider: { createSubaccount(input: CreateSubaccountInput): Promise<ProviderOutcome<CreateBody>> },
  ) {}

  async execute(cmd: CreateSubaccountCommand): Promise<{ token: string }> {
    const o = await this.provider.createSubaccount({
      type: cmd.type, email: cmd.email, title: cmd.title, firstname: cmd.firstname, lastname: cmd.lastname,
      isBuyer: cmd.type === 'advanced' ? cmd.isBuyer ?? false : cmd.isBuyer,
    });
    if (o.kind !== 'ok') throw providerFailure('creating the sub-account', o);
    const token = o.body.token;
    await this.db.transaction(async (tx) => {
      await this.ledger.ensureProviderAccount(tx, cmd.providerAccount);
      const account = await this.ledger.ensureAccount(tx, cmd.providerAccount, subaccountCode(token));
      await tx.query(
        `INSERT INTO subaccounts (provider_account_id, token, email, type, title, firstname, lastname, is_buyer, account_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
        [cmd.providerAccount, token, cmd.email, cmd.type, cmd.title ?? null, cmd.firstname ?? null, cmd.lastname ?? null, cmd.isBuyer ?? null, account.id],
      );
      await appendJournal(tx, {
        providerAccount: cmd.providerAccount, actor: cmd.actor, action: 'subaccount.created', entityType: 'subaccount', entityId: token,
        data: { email: cmd.email, type: cmd.type },
      });
    });
    return { token };
  }
}
