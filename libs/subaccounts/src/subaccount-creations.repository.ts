import { Database, Tx } from '@app/persistence';

export type CreationStatus = 'pending' | 'created' | 'failed';
export interface CreationIntent { id: string; status: CreationStatus; token: string | null; requestHash: string }

/** What a creation asks the provider for (stored with the intent). */
export interface CreationInput {
  requestHash: string; type: 'simple' | 'advanced'; title: string | null; firstname: string | null; lastname: string | null; isBuyer: boolean | null; actor: string;
}

/**
 * subaccount_creations: the intent of POST /v1/subaccounts, recorded before the provider is
 * called. One intent per provider account and email (case-insensitive).
 */
export class SubaccountCreationsRepository {
  constructor(private readonly db: Database) {}

  /** The intent for this email, locked. */
  async lockByEmail(tx: Tx, providerAccount: string, email: string): Promise<CreationIntent | null> {
    const [row] = await tx.query<{ id: string; status: CreationStatus; token: string | null; request_hash: string }>(
      `SELECT id, status, token, request_hash FROM subaccount_creations WHERE provider_account_id = $1 AND lower(email) = lower($2) FOR UPDATE`,
      [providerAccount, email],
    );
    return row ? { id: row.id, status: row.status, token: row.token, requestHash: row.request_hash } : null;
  }

  /** A new pending intent; null when another request inserted one for this email meanwhile. */
  async insertPending(tx: Tx, providerAccount: string, email: string, input: CreationInput): Promise<CreationIntent | null> {
    const [row] = await tx.query<{ id: string; status: CreationStatus; token: string | null; request_hash: string }>(
      `INSERT INTO subaccount_creations (provider_account_id, email, request_hash, type, title, firstname, lastname, is_buyer, actor)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (provider_account_id, lower(email)) DO NOTHING
       RETURNING id, status, token, request_hash`,
      [providerAccount, email, input.requestHash, input.type, input.title, input.firstname, input.lastname, input.isBuyer, input.actor],
    );
    return row ? { id: row.id, status: row.status, token: row.token, requestHash: row.request_hash } : null;
  }

  /** Pending again, with this attempt's input. */
  async restart(tx: Tx, id: string, input: CreationInput): Promise<void> {
    await tx.prisma.subaccountCreation.update({
      where: { id },
      data: {
        status: 'pending', requestHash: input.requestHash, type: input.type, title: input.title, firstname: input.firstname, lastname: input.lastname,
        isBuyer: input.isBuyer, actor: input.actor, error: null, updatedAt: new Date(),
      },
    });
  }

  /** The provider's token, stored the moment it is known. */
  async setToken(id: string, token: string): Promise<void> {
    await this.db.prisma.subaccountCreation.update({ where: { id }, data: { token, updatedAt: new Date() } });
  }

  async markCreated(tx: Tx, id: string, token: string): Promise<void> {
    await tx.prisma.subaccountCreation.update({ where: { id }, data: { status: 'created', token, error: null, updatedAt: new Date() } });
  }

  async markOutcome(id: string, status: 'pending' | 'failed', error: string): Promise<void> {
    await this.db.prisma.subaccountCreation.update({ where: { id }, data: { status, error, updatedAt: new Date() } });
  }
}
