import { createHash } from 'node:crypto';
import { DomainError, isStorableText, Logger, scrubText } from '@app/common';
import { isValidSubaccountToken, subaccountCode } from '@app/ledger';
import { appendJournal, Database, LedgerRepository, Tx } from '@app/persistence';
import { CreateBody, CreateSubaccountInput, listAllSubaccounts, ProviderOutcome, SubaccountListBody } from '@app/provider';
import { providerFailure } from '@app/provider';

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

interface IntentRow { id: string; status: 'pending' | 'created' | 'failed'; token: string | null; request_hash: string }

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
      await this.db.query(`UPDATE subaccount_creations SET token = $2, updated_at = clock_timestamp() WHERE id = $1`, [intent.id, o.body.token]);
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
        await this.db.query(`UPDATE subaccount_creations SET token = $2, updated_at = clock_timestamp() WHERE id = $1`, [intent.id, found.token]);
        return this.complete(cmd, intent.id, found.token);
      }
    }
    const failure = providerFailure('creating the sub-account', o);
    // Refused (or never sent): nothing exists at the provider. An unknown outcome stays pending.
    await this.mark(intent.id, o.kind === 'unknown' ? 'pending' : 'failed', failure.message);
    throw failure;
  }

  /** The intent row, pending, locked for this attempt; a completed one for this email is a 409. */
  private async recordIntent(cmd: CreateSubaccountCommand, requestHash: string): Promise<IntentRow & { retried: boolean }> {
    return this.db.transaction(async (tx) => {
      await this.ledger.ensureProviderAccount(tx, cmd.providerAccount);
      const [existing] = await tx.query<IntentRow>(
        `SELECT id, status, token, request_hash FROM subaccount_creations WHERE provider_account_id = $1 AND lower(email) = lower($2) FOR UPDATE`,
        [cmd.providerAccount, cmd.email],
      );
      if (!existing) {
        const [row] = await tx.query<IntentRow>(
          `INSERT INTO subaccount_creations (provider_account_id, email, request_hash, type, title, firstname, lastname, is_buyer, actor)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (provider_account_id, lower(email)) DO NOTHING
           RETURNING id, status, token, request_hash`,
          [cmd.providerAccount, cmd.email, requestHash, cmd.type, cmd.title ?? null, cmd.firstname ?? null, cmd.lastname ?? null, cmd.isBuyer ?? null, cmd.actor],
        );
        if (!row) throw new DomainError('subaccount_exists', 'a creation for this email is under way; retry in a moment');
        return { ...row, retried: false };
      }
      if (existing.status === 'created') {
        throw new DomainError('subaccount_exists', `a sub-account with this email exists (${existing.token})`, { token: existing.token });
      }
      if (existing.status === 'pending' && existing.request_hash !== requestHash) {
        throw new DomainError('subaccount_exists', 'a creation for this email is pending with other details; retry it with the same input to complete it');
      }
      await tx.query(
        `UPDATE subaccount_creations SET status = 'pending', request_hash = $2, type = $3, title = $4, firstname = $5, lastname = $6, is_buyer = $7,
                actor = $8, error = NULL, updated_at = clock_timestamp() WHERE id = $1`,
        [existing.id, requestHash, cmd.type, cmd.title ?? null, cmd.firstname ?? null, cmd.lastname ?? null, cmd.isBuyer ?? null, cmd.actor],
      );
      // A pending intent was attempted before: the provider may already have the sub-account.
      return { ...existing, status: 'pending', retried: existing.status === 'pending' };
    });
  }

  /** Books the sub-account (idempotent) and closes the intent, in one transaction. */
  private async complete(cmd: CreateSubaccountCommand, intentId: string, token: string): Promise<{ token: string }> {
    await this.db.transaction(async (tx: Tx) => {
      const account = await this.ledger.ensureAccount(tx, cmd.providerAccount, subaccountCode(token));
      const inserted = await tx.query(
        `INSERT INTO subaccounts (provider_account_id, token, email, type, title, firstname, lastname, is_buyer, account_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING RETURNING token`,
        [cmd.providerAccount, token, cmd.email, cmd.type, cmd.title ?? null, cmd.firstname ?? null, cmd.lastname ?? null, cmd.isBuyer ?? null, account.id],
      );
      if (inserted.length) {
        await appendJournal(tx, {
          providerAccount: cmd.providerAccount, actor: cmd.actor, action: 'subaccount.created', entityType: 'subaccount', entityId: token,
          data: { email: cmd.email, type: cmd.type },
        });
      }
      await tx.query(`UPDATE subaccount_creations SET status = 'created', token = $2, error = NULL, updated_at = clock_timestamp() WHERE id = $1`, [intentId, token]);
    });
    return { token };
  }

  private async mark(id: string, status: 'pending' | 'failed', error: string): Promise<void> {
    await this.db.query(`UPDATE subaccount_creations SET status = $2, error = $3, updated_at = clock_timestamp() WHERE id = $1`, [id, status, scrubText(error).slice(0, 1000)])
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
