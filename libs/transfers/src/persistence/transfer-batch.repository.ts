import { secrets } from '@app/common';
import { Money, TransferDirection } from '@app/ledger';
import { Tx } from '@app/persistence';

/** A balance row of the batch's accounts, locked for the rest of the database transaction. */
export interface LockedAccount { id: string; code: string; overdraftGuard: boolean; available: Money }

/** One accepted batch item, as the batch writes it. */
export interface BatchRow {
  transferId: string;
  ledgerTransactionId: string;
  subaccount: string;
  subaccountAccountId: string;
  direction: TransferDirection;
  amount: Money;
  reference: string | null;
  metadata: Record<string, unknown> | null;
  idempotencyKey: string | null;
  requestHash: string | null;
  actor: string;
  correlationId: string | null;
}

/** What the database assigned to a written transfer row. */
export interface WrittenTransfer { id: string; seq: string; metadata: Record<string, unknown> | null; expires_at: Date; next_attempt_at: Date; created_at: Date; updated_at: Date }

const JOURNAL_KEYS = ['kind', 'postings', 'account', 'amount', 'transferId', 'subaccount', 'direction', 'idempotencyKey', 'ledgerTransactionId', 'transfer'] as const;

/**
 * The set-based write of a transfer batch (`RecordTransferBatchUseCase`): the same rows, in
 * the same order, with the same journal entries as recording each item through
 * `RecordTransferUseCase.recordManyIn` — a pending ledger transaction with its two postings
 * (account id order), a `ledger_transaction.reserved` entry each, the transfer rows, then a
 * `transfer.recorded` entry each — but staged once in a temporary table and written with one
 * `INSERT … SELECT` per table, the journal entries (both kinds) in one statement. Every
 * trigger and constraint of those tables still runs: balances, the balancing and
 * transfer/ledger checks at commit, the foreign keys, the unique idempotency key and the
 * journal's hash chain (one statement, so the chain head is read and written once).
 */
export class TransferBatchRepository {
  constructor(private readonly expirySeconds: number) {}

  /** Tokens among `tokens` that are sub-accounts of the provider account. */
  async knownSubaccounts(tx: Tx, providerAccount: string, tokens: string[]): Promise<Set<string>> {
    const rows = await tx.query<{ token: string }>(
      'SELECT token FROM subaccounts WHERE provider_account_id = $1 AND token = ANY($2::text[])', [providerAccount, tokens]);
    return new Set(rows.map((r) => r.token));
  }

  /**
   * Locks the balance rows of `main` and of the given sub-accounts in ascending account id
   * (the order every ledger writer uses, so writers never deadlock) and returns them with
   * their available balance (posted − reserved to leave), by account code.
   */
  async lockAccounts(tx: Tx, providerAccount: string, tokens: string[]): Promise<Map<string, LockedAccount>> {
    const rows = await tx.query<{ account_id: string; code: string; overdraft_guard: boolean; debits_posted: string; credits_posted: string; credits_pending: string }>(
      `SELECT b.account_id, a.code, b.overdraft_guard, b.debits_posted, b.credits_posted, b.credits_pending
         FROM ledger_accounts a JOIN balances b ON b.account_id = a.id
        WHERE a.provider_account_id = $1 AND (a.code = 'main' OR a.code = ANY (SELECT 'sub:' || t FROM unnest($2::text[]) AS t))
        ORDER BY b.account_id FOR UPDATE OF b`,
      [providerAccount, tokens],
    );
    return new Map(rows.map((r) => [r.code, {
      id: r.account_id, code: r.code, overdraftGuard: r.overdraft_guard,
      available: Money.parse(r.debits_posted).minus(Money.parse(r.credits_posted)).minus(Money.parse(r.credits_pending)),
    }]));
  }

  /**
   * Writes the accepted items (in order) against `main` (locked by `lockAccounts` in the same
   * transaction). The journal's reason and data are scrubbed of every known secret, as
   * `appendJournalMany` does, before they are stored.
   */
  async write(tx: Tx, providerAccount: string, mainAccountId: string, rows: BatchRow[]): Promise<Map<string, WrittenTransfer>> {
    if (!rows.length) return new Map();
    const scrub = memo((s: string) => secrets.scrub(s));
    const col = <T>(f: (r: BatchRow) => T) => rows.map(f);
    // What the journal stores of each string is its scrubbed form; where scrubbing changes
    // nothing (no known secret in it: nearly always) the column's own value is used, so only
    // the exceptions travel (an empty array when there are none; unnest pads it with NULLs).
    const scrubbed = (f: (r: BatchRow) => string | null) => {
      const out = rows.map((r) => { const v = f(r); const w = v === null ? null : scrub(v); return w === v ? null : w; });
      return out.some((v) => v !== null) ? out : [];
    };
    await tx.query(
      `CREATE TEMP TABLE transfer_batch ON COMMIT DROP AS
       SELECT t.*, coalesce(t.reference, t.direction || ' ' || t.amount::text || ' ' || t.token) AS reason
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::bigint[], $5::text[], $6::numeric(20,3)[], $7::text[], $8::jsonb[],
                     $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[],
                     $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::text[])
              WITH ORDINALITY AS t(id, ltx, token, sub_id, direction, amount, reference, metadata, idempotency_key, request_hash, actor,
                                   correlation_id, s_reason, s_reference, s_token, s_sub, s_amount, s_negated, s_key, s_direction, s_id, s_ltx, n)`,
      [col((r) => r.transferId), col((r) => r.ledgerTransactionId), col((r) => r.subaccount), col((r) => r.subaccountAccountId),
        col((r) => r.direction), col((r) => r.amount.toFixed()), col((r) => r.reference),
        col((r) => (r.metadata ? JSON.stringify(r.metadata) : null)), col((r) => r.idempotencyKey), col((r) => r.requestHash),
        col((r) => r.actor), col((r) => r.correlationId), scrubbed(ledgerReason), scrubbed((r) => r.reference), scrubbed((r) => r.subaccount),
        scrubbed((r) => `sub:${r.subaccount}`), scrubbed((r) => r.amount.toFixed()), scrubbed((r) => r.amount.negated().toFixed()),
        scrubbed((r) => r.idempotencyKey), scrubbed((r) => r.direction), scrubbed((r) => r.transferId), scrubbed((r) => r.ledgerTransactionId)],
    );
    await tx.query(
      `INSERT INTO ledger_transactions (id, provider_account_id, kind, state, actor, reason, correlation_id)
       SELECT ltx, $1, 'transfer', 'pending', actor, reason, correlation_id FROM transfer_batch ORDER BY n`,
      [providerAccount],
    );
    // Two postings per transaction, in account id order (as LedgerRepository.recordMany).
    await tx.query(
      `INSERT INTO postings (transaction_id, account_id, amount)
       SELECT p.ltx, p.account_id, p.amount FROM (
         SELECT ltx, n, sub_id AS account_id, CASE direction WHEN 'add' THEN amount ELSE -amount END AS amount FROM transfer_batch
         UNION ALL
         SELECT ltx, n, $1::bigint, CASE direction WHEN 'add' THEN -amount ELSE amount END FROM transfer_batch) p
        ORDER BY p.n, p.account_id`,
      [mainAccountId],
    );
    const written = await tx.query<WrittenTransfer>(
      `INSERT INTO transfers (id, provider_account_id, subaccount_token, direction, amount, status, reference, metadata,
                              idempotency_key, request_hash, ledger_transaction_id, expires_at, created_by, correlation_id)
       SELECT id, $1, token, direction, amount, 'pending', reference, metadata, idempotency_key, request_hash, ltx,
              now() + make_interval(secs => $2), actor, correlation_id
         FROM transfer_batch ORDER BY n
       RETURNING id, seq, metadata, expires_at, next_attempt_at, created_at, updated_at`,
      [providerAccount, this.expirySeconds],
    );
    const k = Object.fromEntries(JOURNAL_KEYS.map((key) => [key, scrub(key)])) as Record<(typeof JOURNAL_KEYS)[number], string>;
    const mainCode = scrub('main');
    // Both kinds of entry in one statement, in the order the chain has for single
    // recordings: every reservation, then every transfer (the trigger chains rows in order).
    await tx.query(
      `INSERT INTO journal_entries (sequence, provider_account_id, recorded_at, actor, action, entity_type, entity_id, reason, correlation_id, data, prev_hash, hash)
       SELECT 0, $1, now(), e.actor, e.action, e.entity_type, e.entity_id, e.reason, e.correlation_id, e.data, '', ''
         FROM (
           SELECT b.n AS ord, b.actor, 'ledger_transaction.reserved' AS action, 'ledger_transaction' AS entity_type, b.ltx::text AS entity_id,
                  coalesce(b.s_reason, b.reason) AS reason, b.correlation_id,
                  jsonb_build_object($2::text, $11::text, $3::text,
                    CASE WHEN b.sub_id < $12::bigint
                      THEN jsonb_build_array(jsonb_build_object($4::text, coalesce(b.s_sub, 'sub:' || b.token), $5::text, CASE b.direction WHEN 'add' THEN coalesce(b.s_amount, b.amount::text) ELSE coalesce(b.s_negated, (-b.amount)::text) END),
                                             jsonb_build_object($4::text, $13::text, $5::text, CASE b.direction WHEN 'add' THEN coalesce(b.s_negated, (-b.amount)::text) ELSE coalesce(b.s_amount, b.amount::text) END))
                      ELSE jsonb_build_array(jsonb_build_object($4::text, $13::text, $5::text, CASE b.direction WHEN 'add' THEN coalesce(b.s_negated, (-b.amount)::text) ELSE coalesce(b.s_amount, b.amount::text) END),
                                             jsonb_build_object($4::text, coalesce(b.s_sub, 'sub:' || b.token), $5::text, CASE b.direction WHEN 'add' THEN coalesce(b.s_amount, b.amount::text) ELSE coalesce(b.s_negated, (-b.amount)::text) END))
                    END,
                    $6::text, coalesce(b.s_id, b.id::text)) AS data
             FROM transfer_batch b
           UNION ALL
           SELECT $14::bigint + b.n, b.actor, 'transfer.recorded', 'transfer', b.id::text, coalesce(b.s_reference, b.reference), b.correlation_id,
                  jsonb_build_object($7::text, coalesce(b.s_token, b.token), $8::text, coalesce(b.s_direction, b.direction), $5::text, coalesce(b.s_amount, b.amount::text), $9::text, coalesce(b.s_key, b.idempotency_key),
                                     $10::text, coalesce(b.s_ltx, b.ltx::text))
             FROM transfer_batch b) e
        ORDER BY e.ord`,
      [providerAccount, k.kind, k.postings, k.account, k.amount, k.transferId, k.subaccount, k.direction, k.idempotencyKey,
        k.ledgerTransactionId, k.transfer, mainAccountId, mainCode, rows.length],
    );
    return new Map(written.map((w) => [w.id, w]));
  }
}

/** The ledger transaction's reason, as a single recording gives it (the temporary table's `reason`). */
function ledgerReason(r: BatchRow): string {
  return r.reference ?? `${r.direction} ${r.amount.toFixed()} ${r.subaccount}`;
}

function memo(f: (s: string) => string): (s: string) => string {
  const seen = new Map<string, string>();
  return (s) => {
    let v = seen.get(s);
    if (v === undefined) { v = f(s); seen.set(s, v); }
    return v;
  };
}
