import { randomUUID } from 'node:crypto';
import { DomainError } from '@app/common';
import {
  AccountKind, assertBalanced, availableDeltas, BalanceCounters, isProviderBacked, kindOfCode, Money, PostingLine,
  SYSTEM_ACCOUNTS, subaccountTokenOf, TransactionKind,
} from '@app/ledger';
import { Database, inOrder, pgCode, pgConstraint, PgError, Tx } from './database';
import { appendJournalMany, journalInsertSql, JournalInput, journalRows } from './journal';

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

interface LockedBalance { account_id: string; code: string; overdraft_guard: boolean; debits_posted: string; credits_posted: string; credits_pending: string }

const byNumericId = (a: string, b: string): number => Number(BigInt(a) - BigInt(b));

/** What `recordMany`'s caller writes alongside the ledger: its rows (already sent) and its journal entries. */
export interface Alongside { written: Promise<unknown>; journal: JournalInput[] }

/**
 * recordMany with `lock: 'last'` checked the inputs against balances read without a lock, and
 * by the time its statement took the rows another writer had used the room: nothing of the
 * transaction may be kept (it must roll back), and the inputs are recorded again with the
 * rows locked first, which gives each its own answer.
 */
export class BalancesMovedError extends Error {
  constructor() {
    super('the balances moved between the check and the write; record again with the rows locked first');
  }
}

/**
 * Writes to the ledger. Every write runs inside a caller's transaction (`Tx`), locks the
 * balance rows it touches in ascending account id order (so concurrent writers never
 * deadlock), and journals what it did. Balances themselves are moved by the database
 * triggers from the postings (see the ledger_core migration): a recording moves its
 * accounts' pending rows, a settlement their posted rows (docs/ledger.md, "Two rows per
 * balance"), so the two never wait for each other.
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
    // Its balance rows come with it (the ledger_accounts_balances trigger).
    if (inserted.length) return { id: inserted[0].id, code, kind };
    const [row] = await tx.query<AccountRow>('SELECT id, code, kind FROM ledger_accounts WHERE provider_account_id = $1 AND code = $2', [providerAccount, code]);
    return row;
  }

  /** Whether the provider account has a transaction of this kind with this reason (an opening balance, say). */
  async hasTransaction(tx: Tx, providerAccount: string, kind: string, reason: string): Promise<boolean> {
    return (await tx.prisma.ledgerTransaction.count({ where: { providerAccountId: providerAccount, kind, reason }, take: 1 })) > 0;
  }

  /** Whether anything was ever posted to the account. */
  async hasPostings(tx: Tx, accountId: string): Promise<boolean> {
    return (await tx.prisma.posting.count({ where: { accountId: BigInt(accountId) }, take: 1 })) > 0;
  }

  /**
   * The accounts of these codes with their balances; with `lock`, their pending rows (which
   * every write that can lower an available balance holds) locked first, in a fixed
   * (ascending id) order, and the balances read by a statement of its own: its snapshot is
   * taken with the rows held, so it shows every such write that committed before.
   */
  private async balancesOf(tx: Tx, providerAccount: string, codes: string[], lock: boolean): Promise<LockedBalance[]> {
    const accounts = 'SELECT a.id FROM ledger_accounts a WHERE a.provider_account_id = $1 AND a.code = ANY($2::text[])';
    const read = () => tx.query<LockedBalance>(
      `SELECT b.account_id, a.code, b.overdraft_guard, b.debits_posted, b.credits_posted, b.credits_pending
         FROM ledger_accounts a JOIN balances b ON b.account_id = a.id
        WHERE a.provider_account_id = $1 AND a.code = ANY($2::text[])
        ORDER BY b.account_id`,
      [providerAccount, codes],
    );
    if (!lock) return read();
    // Sent together: Postgres runs the read after the lock has been granted.
    const [, balances] = await inOrder([
      tx.query(`SELECT r.account_id FROM pending_balances r WHERE r.account_id IN (${accounts}) ORDER BY r.account_id FOR UPDATE`, [providerAccount, codes]),
      read(),
    ]);
    return balances;
  }

  /** Records a balanced transaction, pending (a reservation) or posted. */
  async record(tx: Tx, input: RecordTransactionInput): Promise<string> {
    const [result] = await this.recordMany(tx, input.providerAccount, [input]);
    if (result instanceof DomainError) throw result;
    return result;
  }

  /**
   * Records balanced transactions of one provider account together: one statement finds
   * their accounts and locks the balance rows (ascending id, so writers never deadlock), then
   * set-based inserts and one journal entry each. Each input is checked in order against the
   * locked balances, after the ones before it: one whose account does not exist, or whose
   * money leaving a guarded account the available balance cannot cover, gets its own
   * DomainError and the others are recorded. The database's guard stays the last word.
   *
   * `alongside` (a recording: its transfers) writes the caller's rows of the accepted inputs
   * and gives the caller's journal entries. Its rows, the ledger's statement and one journal
   * statement (the ledger's entries, then the caller's) are then sent together, pipelined:
   * Postgres runs them in that order, so the journal (which takes the chain head, which
   * every settlement and posted transaction waits for) still comes after the balance rows,
   * and both are held for what is left of those statements and the COMMIT only, with no
   * round trip to this process in between. The first statement that fails is the error.
   *
   * `lock: 'last'`: the balance rows are not locked first. The inputs are checked against
   * balances read without a lock, and the ledger's statement locks the rows itself
   * (ascending id) before it writes, so that `main`'s pending row is held for that statement,
   * the journal and the COMMIT only. Whatever another writer did meanwhile, the database's
   * guard decides: if it refuses, BalancesMovedError (roll back, record again with the rows
   * locked first). An input refused on the unlocked read was refused on balances the
   * database had committed while the request was in flight.
   */
  async recordMany(tx: Tx, providerAccount: string, inputs: RecordTransactionInput[],
    opts: { lock?: 'first' | 'last'; alongside?: (results: Array<string | DomainError>) => Alongside } = {}): Promise<Array<string | DomainError>> {
    if (!inputs.length) return [];
    for (const input of inputs) {
      if (input.providerAccount !== providerAccount) throw new Error('recordMany: inputs of one provider account only');
      assertBalanced(input.lines);
    }
    const lockNow = opts.lock === 'last';
    const codes = [...new Set(inputs.flatMap((i) => i.lines.map((l) => l.account)))];
    const locked = await this.balancesOf(tx, providerAccount, codes, !lockNow);
    const ids = new Map(locked.map((r) => [r.code, String(r.account_id)]));
    const available = new Map<string, Money>();
    for (const b of locked) {
      if (b.overdraft_guard) available.set(b.account_id, Money.parse(b.debits_posted).minus(Money.parse(b.credits_posted)).minus(Money.parse(b.credits_pending)));
    }

    const results: Array<string | DomainError> = [];
    const accepted: Array<{ id: string; input: RecordTransactionInput; ordered: PostingLine[] }> = [];
    for (const input of inputs) {
      const missing = input.lines.find((l) => !ids.has(l.account));
      if (missing) {
        results.push(subaccountTokenOf(missing.account) !== undefined
          ? new DomainError('subaccount_not_found', `sub-account ${subaccountTokenOf(missing.account)} is not in the ledger`)
          : new DomainError('account_not_found', `account ${missing.account} does not exist`));
        continue;
      }
      const deltas = availableDeltas(input.lines, input.state);
      const short = [...deltas].filter(([code, d]) => {
        const avail = available.get(ids.get(code)!);
        return avail !== undefined && d.isNegative() && avail.plus(d).isNegative();
      });
      if (short.length) {
        const leaving = short.map(([code]) => code);
        results.push(new DomainError('insufficient_available_balance', `the available balance of ${leaving.join(', ')} cannot cover this amount`, { accounts: leaving }));
        continue;
      }
      for (const [code, d] of deltas) {
        const id = ids.get(code)!;
        const avail = available.get(id);
        if (avail !== undefined) available.set(id, avail.plus(d));
      }
      const id = input.id ?? randomUUID();
      const ordered = [...input.lines].sort((a, b) => byNumericId(ids.get(a.account)!, ids.get(b.account)!));
      accepted.push({ id, input, ordered });
      results.push(id);
    }
    const caller = opts.alongside?.(results);
    if (!accepted.length) {
      if (caller) await inOrder([caller.written, appendJournalMany(tx, caller.journal)]);
      return results;
    }

    const postings = accepted.flatMap((a) => a.ordered.map((l) => ({ tx: a.id, account: ids.get(l.account)!, amount: l.amount.toFixed() })));
    const journal = accepted.map(({ id, input, ordered }): JournalInput => ({
      providerAccount,
      actor: input.actor,
      action: input.state === 'pending' ? 'ledger_transaction.reserved' : 'ledger_transaction.posted',
      entityType: 'ledger_transaction',
      entityId: id,
      reason: input.reason,
      correlationId: input.correlationId,
      data: { kind: input.kind, postings: ordered.map((l) => ({ account: l.account, amount: l.amount.toFixed() })), ...input.journalData },
    }));
    // One statement: the transactions, their postings (whose triggers, run at the statement's
    // end, see the transactions) and, unless the journal follows in a statement of its own
    // (`alongside`), one journal entry each. Not locked yet (`lock: 'last'`): the first thing
    // it does is lock the balance rows, in ascending id order (`locked`, an init plan of the
    // postings' insert, before any row is written).
    const params: unknown[] = [providerAccount, accepted.map((a) => a.id), accepted.map((a) => a.input.kind), accepted.map((a) => a.input.state),
      accepted.map((a) => a.input.actor), accepted.map((a) => a.input.reason ?? null), accepted.map((a) => a.input.correlationId ?? null),
      postings.map((p) => p.tx), postings.map((p) => p.account), postings.map((p) => p.amount)];
    if (lockNow) params.push(locked.map((b) => b.account_id));
    const lockRows = `SELECT r.account_id FROM pending_balances r WHERE r.account_id = ANY($${params.length}::bigint[]) ORDER BY r.account_id FOR UPDATE`;
    const transactions = `INSERT INTO ledger_transactions (id, provider_account_id, kind, state, actor, reason, correlation_id)
           SELECT t.id, $1, t.kind, t.state, t.actor, t.reason, t.correlation_id
             FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) AS t(id, kind, state, actor, reason, correlation_id)`;
    const postingRows = `INSERT INTO postings (transaction_id, account_id, amount)
           SELECT p.tx, p.account, p.amount FROM unnest($8::uuid[], $9::bigint[], $10::numeric[]) WITH ORDINALITY AS p(tx, account, amount, n)
            ${lockNow ? 'WHERE (SELECT count(*) FROM locked) >= 0' : ''} ORDER BY p.n`;
    const ctes = [...(lockNow ? [`locked AS (${lockRows})`] : []), `t AS (${transactions})`];
    const journalFrom = params.length + 1; // the journal's parameters, when it is part of this statement
    if (!caller) params.push(...journalRows(journal));
    const written = tx.query(caller ? `WITH ${ctes.join(', ')} ${postingRows}` : `WITH ${ctes.join(', ')}, p AS (${postingRows}) ${journalInsertSql(journalFrom)}`, params)
      .catch((err: unknown) => {
        const mapped = mapLedgerError(err, accepted.flatMap((a) => a.ordered));
        throw lockNow && mapped instanceof DomainError && mapped.code === 'insufficient_available_balance' ? new BalancesMovedError() : mapped;
      });
    await inOrder(caller ? [caller.written, written, appendJournalMany(tx, [...journal, ...caller.journal])] : [written]);
    return results;
  }

  /** Posts (pending → posted) or voids (pending → voided) a reservation, once. */
  async settle(tx: Tx, id: string, to: 'posted' | 'voided', actor: string, reason?: string | null, data?: Record<string, unknown>): Promise<void> {
    const [txRow] = await tx.query<{ provider_account_id: string; state: string }>(
      'SELECT provider_account_id, state FROM ledger_transactions WHERE id = $1',
      [id],
    );
    if (!txRow) throw new DomainError('not_found', `ledger transaction ${id} does not exist`);
    if (txRow.state !== 'pending') throw new DomainError('invalid_state', `ledger transaction ${id} is ${txRow.state}, not pending`);
    await this.settleMany(tx, txRow.provider_account_id, [{ id, data }], to, actor, reason);
  }

  /**
   * Settles reservations of one provider account together, in two statements: one locks their
   * balance rows (ascending id) and updates the transactions (the settle trigger, once per
   * statement, moves each account's balance once and writes the account entries with their
   * running balances in recording order), one appends the journal entries: theirs, then
   * `alsoJournal` (the caller's entries of the same change, so that the chain head is taken
   * once, as late as possible). `journalWith` writes those entries instead
   * of the plain append, so that the caller's rows that need the settled entries (the
   * settlement's observations) go in the same statement: one round trip fewer while the
   * balance rows are held. All or nothing: if any of them is no longer pending, nothing is
   * settled (DomainError invalid_state).
   */
  async settleMany(tx: Tx, providerAccount: string, items: Array<{ id: string; data?: Record<string, unknown> }>, to: 'posted' | 'voided', actor: string, reason?: string | null,
    opts: { alsoJournal?: JournalInput[]; journalWith?: (entries: JournalInput[]) => Promise<void> } = {}): Promise<void> {
    if (!items.length) return;
    const ids = items.map((i) => i.id);
    // The posted balance rows are locked (one-time filter, before any row is updated), then the
    // rows updated. A settlement never lowers an available balance: it needs no pending row.
    // The accounts come from the transactions' postings, one index probe per transaction
    // (an init plan of their own, the probe fenced by OFFSET 0): as a join, a database
    // without statistics planned it as a scan of every posting, or of every posting of every
    // account (docs/benchmarks.md, fifteenth pass).
    const updated = await tx.query<{ id: string; correlation_id: string | null }>(
      `WITH locked AS (
         SELECT b.account_id FROM posted_balances b
          WHERE b.account_id = ANY (ARRAY(
                  SELECT q.account_id FROM unnest($1::uuid[]) AS t(id)
                   CROSS JOIN LATERAL (SELECT x.account_id FROM postings x WHERE x.transaction_id = t.id OFFSET 0) q))
          ORDER BY b.account_id FOR UPDATE
       )
       UPDATE ledger_transactions SET state = $2
        WHERE id = ANY($1::uuid[]) AND provider_account_id = $3 AND state = 'pending' AND (SELECT count(*) FROM locked) >= 0
       RETURNING id, correlation_id`,
      [ids, to, providerAccount],
    );
    if (updated.length !== ids.length) {
      const done = new Set(updated.map((u) => u.id));
      throw new DomainError('invalid_state', `ledger transaction ${ids.find((i) => !done.has(i))} is not pending`);
    }
    const correlation = new Map(updated.map((u) => [u.id, u.correlation_id]));
    const journal = [...items.map((i): JournalInput => ({
      providerAccount,
      actor,
      action: to === 'posted' ? 'ledger_transaction.posted' : 'ledger_transaction.voided',
      entityType: 'ledger_transaction',
      entityId: i.id,
      reason,
      correlationId: correlation.get(i.id) ?? null,
      data: i.data,
    })), ...(opts.alsoJournal ?? [])];
    if (opts.journalWith) await opts.journalWith(journal);
    else await appendJournalMany(tx, journal);
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
