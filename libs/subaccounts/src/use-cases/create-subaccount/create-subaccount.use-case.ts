import { createHash } from 'node:crypto';
import { DomainError, isStorableText, Logger, scrubText } from '@app/common';
import { isValidSubaccountToken, subaccountCode } from '@app/ledger';
import { appendJournal, Database, LedgerRepository, Tx } from '@app/persistence';
import { CreateBody, CreateSubaccountInput, listAllSubaccounts, ProviderOutcome, SubaccountListBody } from '@app/provider';
import { providerFailure } from '@app/provider';
import { CreationInput, CreationIntent, SubaccountCreationsRepository } from '../../subaccount-creations.repository';
import { SubaccountsRepository } from '../../subaccounts.repository';

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

export interface SubaccountCreator {
  createSubaccount(input: CreateSubaccountInput): Promise<ProviderOutcome<CreateBody>>;
  listSubaccounts(page: number): Promise<ProviderOutcome<SubaccountListBody>>;
}

const LIMITS = { email: 254, title: 100, firstname: 100, lastname: 100 } as const;

/**
 * Creates a sub-account at the provider, then in the ledger. `creditToAttribute` is never
 * sent: it would move money outside a recorded transfer; fund new sub-accounts with a transfer.
 *
 * A provider write must never be left without a ledger row, whatever fails after it: the
 * input is validated in full first, the intent is recorded (`subaccount_creations`, pending)
 * before the call, the provider's token is stored the moment it answers, and only then is the
 * sub-account booked. A retry with the same input completes a pending intent: with the token
 * already known, no second provider call; otherwise the provider says the email exists and
 * the token is found in its list.
 */
export class CreateSubaccountUseCase {
  constructor(
    private readonly db: Database,
    private readonly ledger: LedgerRepository,
    private readonly subaccounts: SubaccountsRepository,
    private readonly creations: SubaccountCreationsRepository,
    private readonly provider: SubaccountCreator,
    private readonly logger?: Logger,
  ) {}

  async execute(cmd: CreateSubaccountCommand): Promise<{ token: string }> {
    validate(cmd);
    const requestHash = hashOf(cmd);
    const intent = await this.recordIntent(cmd, requestHash);
    if (intent.token) return this.complete(cmd, intent.id, intent.token);

    const o = await this.provider.createSubaccount({
      type: cmd.type, email: cmd.email, title: cmd.title, firstname: cmd.firstname, lastname: cmd.lastname,
      isBuyer: cmd.type === 'advanced' ? cmd.isBuyer ?? false : cmd.isBuyer,
    });
    if (o.kind === 'ok') {
      if (!isValidSubaccountToken(o.body.token)) {
        await this.mark(intent.id, 'pending', `the provider answered a token this ledger cannot store`);
        throw new DomainError('provider_unavailable', 'creating the sub-account: the provider answered an unusable token; the creation stays pending (retry to complete it)');
      }
      // Stored at once, on its own: if booking fails below, a retry completes it with this token.
      await this.creations.setToken(intent.id, o.body.token);
      return this.complete(cmd, intent.id, o.body.token);
    }
    if (o.kind === 'rejected' && o.reason === 'email_exists' && intent.retried) {
      // A previous attempt of ours may have created it (its answer lost, or the ledger failed after it).
      const sameEmail = (s: { email: string }) => s.email.toLowerCase() === cmd.email.toLowerCase();
      const listing = await listAllSubaccounts(this.provider, { until: sameEmail });
      if (listing.kind === 'failed') {
        throw listing.outcome ? providerFailure('listing sub-accounts', listing.outcome) : new DomainError('provider_unavailable', `listing sub-accounts: ${listing.problem}`);
      }
      const found = listing.items.find(sameEmail);
      if (found) {
        await this.creations.setToken(intent.id, found.token);
        return this.complete(cmd, intent.id, found.token);
      }
    }
    const failure = providerFailure('creating the sub-account', o);
    // Refused (or never sent): nothing exists at the provider. An unknown outcome stays pending.
    await this.mark(intent.id, o.kind === 'unknown' ? 'pending' : 'failed', failure.message);
    throw failure;
  }

  /** The intent row, pending, locked for this attempt; a completed one for this email is a 409. */
  private async recordIntent(cmd: CreateSubaccountCommand, requestHash: string): Promise<CreationIntent & { retried: boolean }> {
    const input: CreationInput = {
      requestHash, type: cmd.type, title: cmd.title ?? null, firstname: cmd.firstname ?? null, lastname: cmd.lastname ?? null, isBuyer: cmd.isBuyer ?? null, actor: cmd.actor,
    };
    return this.db.transaction(async (tx) => {
      await this.ledger.ensureProviderAccount(tx, cmd.providerAccount);
      const existing = await this.creations.lockByEmail(tx, cmd.providerAccount, cmd.email);
      if (!existing) {
        const created = await this.creations.insertPending(tx, cmd.providerAccount, cmd.email, input);
        if (!created) throw new DomainError('subaccount_exists', 'a creation for this email is under way; retry in a moment');
        return { ...created, retried: false };
      }
      if (existing.status === 'created') {
        throw new DomainError('subaccount_exists', `a sub-account with this email exists (${existing.token})`, { token: existing.token });
      }
      if (existing.status === 'pending' && existing.requestHash !== requestHash) {
        throw new DomainError('subaccount_exists', 'a creation for this email is pending with other details; retry it with the same input to complete it');
      }
      await this.creations.restart(tx, existing.id, input);
      // A pending intent was attempted before: the provider may already have the sub-account.
      return { ...existing, status: 'pending', retried: existing.status === 'pending' };
    });
  }

  /** Books the sub-account (idempotent) and closes the intent, in one transaction. */
  private async complete(cmd: CreateSubaccountCommand, intentId: string, token: string): Promise<{ token: string }> {
    await this.db.transaction(async (tx: Tx) => {
      const account = await this.ledger.ensureAccount(tx, cmd.providerAccount, subaccountCode(token));
      const inserted = await this.subaccounts.insertCreated(tx, cmd.providerAccount, {
        token, email: cmd.email, type: cmd.type, title: cmd.title, firstname: cmd.firstname, lastname: cmd.lastname, isBuyer: cmd.isBuyer, accountId: account.id,
      });
      if (inserted) {
        await appendJournal(tx, {
          providerAccount: cmd.providerAccount, actor: cmd.actor, action: 'subaccount.created', entityType: 'subaccount', entityId: token,
          data: { email: cmd.email, type: cmd.type },
        });
      }
      await this.creations.markCreated(tx, intentId, token);
    });
    return { token };
  }

  private async mark(id: string, status: 'pending' | 'failed', error: string): Promise<void> {
    await this.creations.markOutcome(id, status, scrubText(error).slice(0, 1000))
      .catch((err: Error) => this.logger?.warn({ err: err.message, intent: id }, 'could not record the outcome of a sub-account creation'));
  }
}

/** Everything the provider and the ledger will store, checked before anything is written or sent. */
function validate(cmd: CreateSubaccountCommand): void {
  const problems: string[] = [];
  for (const field of ['email', 'title', 'firstname', 'lastname'] as const) {
    const v = cmd[field];
    if (v === undefined) continue;
    if (typeof v !== 'string' || !isStorableText(v)) problems.push(`${field}: must be text without NUL characters or unpaired surrogates`);
    else if (v.length > LIMITS[field]) problems.push(`${field}: at most ${LIMITS[field]} characters`);
  }
  if (!['simple', 'advanced'].includes(cmd.type)) problems.push('type: must be simple or advanced');
  if (problems.length) throw new DomainError('validation_failed', `invalid sub-account: ${problems.join('; ')}`);
}

function hashOf(cmd: CreateSubaccountCommand): string {
  const canonical = JSON.stringify([cmd.type, cmd.email.toLowerCase(), cmd.title ?? null, cmd.firstname ?? null, cmd.lastname ?? null, cmd.isBuyer ?? null]);
  return createHash('sha256').update(canonical).digest('hex');
}
