import { randomUUID } from 'node:crypto';
import { DomainError } from '@app/common';
import {
  AccountKind, assertBalanced, BalanceCounters, isProviderBacked, kindOfCode, Money, PostingLine,
  SYSTEM_ACCOUNTS, TransactionKind,
} from '@app/ledger';
import { Database, pgCode, pgConstraint, PgError, Tx } from './database';
import { appendJournal } from './journal';

export interface RecordTransactionInput {
  providerAccount: string;
  kind: TransactionKind;
  state: 'pending' | 'posted';
  actor: string;
  reason?: string | null;
  correlationId?: string | null;
  lines: PostingLine[];
  /** Extra facts for the journal entry (e.g. the transfer id). */
  journalData?: Record<string, unknown>;
  id?: string;
}

export interface AccountRow { id: string; code: string; kind: AccountKind }

/**
 * Writes to the ledger. Every write runs inside a caller's transaction (`Tx`), locks the
 * balance rows it touches in ascending account id order (so concurrent writers never
 * deadlock), and journals what it did. Balances themselves are moved by the database
 * triggers from the postings (see the ledger_core migration).
 */
export class LedgerRepository {
  constructor(private readonly db: Database) {}

  /** Creates the provider account and its system accounts if missing. Idempotent. */
  async ensureProviderAccount(tx: Tx, providerAccount: string): Promise<void> {
    await tx.query('INSERT INTO provider_accounts (id) VALUES ($1) ON CONFLICT DO NOTHING', [providerAccount]);
    for (const code of SYSTEM_ACCOUNTS) await this.ensureAccount(tx, providerAccount, code);
  }

  async ensureAccount(tx: Tx, providerAccount: string, code: string): Promise<AccountRow> {
    const kind = kindOfCode(code);
    if (!kind) throw new DomainError('validation_failed', `invalid account code ${code}`);
    const guard = isProviderBacked(kind);
    const inserted = await tx.query<{ id: string }>(
      `INSERT INTO ledger_accounts (provider_account_id, code, kind, overdraft_guard) VALUES ($1, $2, $3, $4)
       ON CONFLICT (provider_account_id, code) DO NOTHING RETURNING id`,
      [providerAccount, code, kind, guard],
    );
    if (inserted.length) {
      await tx.query('INSERT INTO balances (account_id, overdraft_guard) VALUES ($1, $2)', [inserted[0].id, guard]);
      return { id: inserted[0].id, code, kind };
    }
    const [row] = await tx.query<AccountRow>('SELECT id, code, kind FROM ledger_accounts WHERE provider_account_id = $1 AND code = $2', [providerAccount, code]);
    return row;
  }

  private async accountIds(tx: Tx, providerAccount: string, codes: string[]): Promise<Map<string, string>> {
    const rows = await tx.query<{ id: string; code: string }>(
      'SELECT id, code FROM ledger_accounts WHERE provider_account_id = $1 AND code = ANY($2::text[])',
      [providerAccount, codes],
    );
    const ids = new Map(rows.map((r) => [r.code, r.id]));
    for (const code of codes) {
      if (!ids.has(code)) {
        throw code.startsWith('sub:')
          ? new DomainError('subaccount_not_found', `sub-account ${code.slice(4)} is not in the ledger`)
          : new DomainError('account_not_found', `account ${code} does not exist`);
      }
    }
    return ids;
  }

  /** Locks the balance rows in a fixed (ascending id) order. */
  private async lockBalances(tx: Tx, accountIds: string[]): Promise<void> {
    await tx.query('SELECT account_id FROM balances WHERE account_id = ANY($1::bigint[]) ORDER BY account_id FOR UPDATE', [accountIds]);
  }

  /** Records a balanced transaction, pending (a reservation) or posted. */
  async record(tx: Tx, input: RecordTransactionInput): Promise<string> {
    assertBalanced(input.lines);
    const ids = await this.accountIds(tx, input.providerAccount, input.lines.map((l) => l.account));
    const accountIds = [...ids.values()].sort((a, b) => Number(BigInt(a) - BigInt(b)));
    await this.lockBalances(tx, accountIds);
    const id = input.id ?? randomUUID();
    await tx.query(
      `INSERT INTO ledger_transactions (id, provider_account_id, kind, state, actor, reason, correlation_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [id, input.providerAccount, input.kind, input.state, input.actor, input.reason ?? null, input.correlationId ?? null],
    );
    const ordered = [...input.lines].sort((a, b) => Number(BigInt(ids.get(a.account)!) - BigInt(ids.get(b.account)!)));
    try {
      await tx.query(
        `INSERT INTO postings (transaction_id, account_id, amount)
         SELECT $1, unnest($2::bigint[]), unnest($3::numeric[])`,
        [id, ordered.map((l) => ids.get(l.account)), ordered.map((l) => l.amount.toFixed())],
      );
    } catch (err) {
      throw mapLedgerError(err, ordered);
    }
    await appendJournal(tx, {
      providerAccount: input.providerAccount,
      actor: input.actor,
      action: input.state === 'pending' ? 'ledger_transaction.reserved' : 'ledger_transaction.posted',
      entityType: 'ledger_transaction',
      entityId: id,
      reason: input.reason,
      correlationId: input.correlationId,
      data: { kind: input.kind, postings: ordered.map((l) => ({ account: l.account, amount: l.amount.toFixed() })), ...input.journalData },
    });
    return id;
  }

  /** Posts (pending → posted) or voids (pending → voided) a reservation, once. */
  async settle(tx: Tx, id: string, to: 'posted' | 'voided', actor: string, reason?: string | null, data?: Record<string, unknown>): Promise<void> {
    const [txRow] = await tx.query<{ provider_account_id: string; state: string; correlation_id: string | null }>(
      'SELECT provider_account_id, state, correlation_id FROM ledger_transactions WHERE id = $1',
      [id],
    );
    if (!txRow) throw new DomainError('not_found', `ledger transaction ${id} does not exist`);
    const accounts = await tx.query<{ account_id: string }>('SELECT account_id FROM postings WHERE transaction_id = $1 ORDER BY account_id', [id]);
    await this.lockBalances(tx, accounts.map((a) => a.account_id));
    const updated = await tx.query('UPDATE ledger_transactions SET state = $2 WHERE id = $1 AND state = $3 RETURNING id', [id, to, 'pending']);
    if (!updated.length) throw new DomainError('invalid_state', `ledger transaction ${id} is ${txRow.state}, not pending`);
    await appendJournal(tx, {
      providerAccount: txRow.provider_account_id,
      actor,
      action: to === 'posted' ? 'ledger_transaction.posted' : 'ledger_transaction.voided',
      entityType: 'ledger_transaction',
      entityId: id,
      reason,
      correlationId: txRow.correlation_id,
      data,
    });
  }

  async counters(tx: Tx | Database, providerAccount: string, code: string): Promise<BalanceCounters & { accountId: string }> {
    const [row] = await tx.query<{ account_id: string; debits_posted: string; credits_posted: string; debits_pending: string; credits_pending: string }>(
      `SELECT b.* FROM balances b JOIN ledger_accounts a ON a.id = b.account_id WHERE a.provider_account_id = $1 AND a.code = $2`,
      [providerAccount, code],
    );
    if (!row) throw new DomainError('account_not_found', `account ${code} does not exist`);
    return {
      accountId: row.account_id,
      debitsPosted: Money.parse(row.debits_posted),
      creditsPosted: Money.parse(row.credits_posted),
      debitsPending: Money.parse(row.debits_pending),
      creditsPending: Money.parse(row.credits_pending),
    };
  }
}

function mapLedgerError(err: unknown, lines: PostingLine[]): unknown {
  if (pgCode(err) === PgError.checkViolation && pgConstraint(err) === 'balances_available_not_negative') {
    const leaving = lines.filter((l) => l.amount.isNegative()).map((l) => l.account);
    return new DomainError('insufficient_available_balance', `the available balance of ${leaving.join(', ')} cannot cover this amount`, { accounts: leaving });
  }
  return err;
}
