import { randomBytes } from 'node:crypto';
import { adjustmentPostings, isProviderBacked, kindOfCode, Money } from '@app/ledger';
import { Database, ensureDatabase, LedgerRepository, migrate, Tx } from '@app/persistence';
import { SubaccountsRepository } from '@app/subaccounts';
import { RecordTransferCommand } from '../use-cases/record-transfer/record-transfer.command';
import { RecordTransferUseCase } from '../use-cases/record-transfer/record-transfer.use-case';
import { TransferSweepsRepository } from './transfer-sweeps.repository';
import { TransfersRepository } from './transfers.repository';

/**
 * The recording path's lookups keep their plans when the tables grow on a database that was
 * never analyzed (autovacuum off: every fresh database here, a new installation). A database
 * of its own, so that its tables start empty, and ONE connection, so that the PL/pgSQL
 * triggers plan their queries on the first recording, as every new connection of the API
 * does. Scans are counted by Postgres for the current transaction (pg_stat_xact_*).
 */
describe('plans that do not depend on statistics (own database, Postgres)', () => {
  const admin = new Database(process.env.DATABASE_URL!, { max: 1 });
  const name = `credit_ledger_plans_${randomBytes(4).toString('hex')}`;
  const url = new URL(process.env.DATABASE_URL!);
  url.pathname = `/${name}`;
  let db: Database;
  let record: RecordTransferUseCase;
  const providerAccount = 'plans';
  const tokens = Array.from({ length: 20 }, (_, i) => `plans${String(i).padStart(3, '0')}`);
  let seq = 0;
  const cmdAt = (n: number): RecordTransferCommand => ({
    providerAccount, subaccount: tokens[n % tokens.length], direction: 'add', amount: Money.parse('0.010'), idempotencyKey: `key-${n}`, actor: 'token:test/operator',
  });
  const cmd = () => cmdAt(seq++);
  const counters = (tx: Tx) => tx.query<{ lt_seq: number; t_seq: number; by_subaccount: number; by_key: number; by_id: number; by_status: number; pending_queue: number; by_expiry: number }>(
    `SELECT (SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'ledger_transactions')::int AS lt_seq,
            (SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'transfers')::int AS t_seq,
            pg_stat_get_xact_numscans('transfers_subaccount_idx'::regclass)::int AS by_subaccount,
            pg_stat_get_xact_numscans('transfers_idempotency_key_unique'::regclass)::int AS by_key,
            pg_stat_get_xact_numscans('transfers_pkey'::regclass)::int AS by_id,
            pg_stat_get_xact_numscans('transfers_status_idx'::regclass)::int AS by_status,
            pg_stat_get_xact_numscans('transfers_pending_queue_idx'::regclass)::int AS pending_queue,
            pg_stat_get_xact_numscans('transfers_expiry_idx'::regclass)::int AS by_expiry`,
  ).then(([r]) => r);
  /**
   * The scans `work` made. The xact counters also hold earlier transactions of the connection
   * that Postgres has not yet flushed to its statistics, so they are read before and after.
   */
  const scansOf = async <T>(tx: Tx, work: () => Promise<T>) => {
    const before = await counters(tx);
    const result = await work();
    const after = await counters(tx);
    const diff = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - before[k as keyof typeof before]])) as typeof after;
    return { result, counts: diff };
  };

  beforeAll(async () => {
    await ensureDatabase(url.toString());
    await migrate(url.toString());
    db = new Database(url.toString(), { max: 1 });
    const ledger = new LedgerRepository(db);
    await db.transaction(async (tx) => {
      await ledger.ensureProviderAccount(tx, providerAccount);
      for (const t of tokens) await ledger.ensureAccount(tx, providerAccount, `sub:${t}`);
      await tx.query(
        `INSERT INTO subaccounts (provider_account_id, token, email, type, account_id, imported_at)
         SELECT $1, t.token, t.token || '@plans.test', 'simple', a.id, now()
           FROM unnest($2::text[]) AS t(token) JOIN ledger_accounts a ON a.provider_account_id = $1 AND a.code = 'sub:' || t.token`,
        [providerAccount, tokens],
      );
    });
    // The first postings on this connection: the triggers plan their queries on nearly empty tables.
    await db.transaction((tx) => ledger.record(tx, {
      providerAccount, kind: 'opening_balance', state: 'posted', actor: 'test', reason: 'opening balance: main',
      lines: adjustmentPostings('opening_balance', 'main', Money.parse('1000000.000')),
    }));
    const unused = { enqueue: async () => { throw new Error('not enqueued in this test'); } };
    record = new RecordTransferUseCase(db, ledger, new TransfersRepository(db), new SubaccountsRepository(db), unused, { expirySeconds: 3600 });
    for (let i = 0; i < 15; i++) {
      const results = await record.recordMany(Array.from({ length: 200 }, cmd));
      expect(results.filter((r) => r instanceof Error)).toEqual([]);
    }
  }, 120_000);

  afterAll(async () => {
    await db?.close();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.close();
  });

  it('records a group without scanning the ledger transactions or the provider account\'s transfers', async () => {
    const { result: results, counts } = await db.transaction((tx) => scansOf(tx, () => record.recordManyIn(tx, [...Array.from({ length: 30 }, cmd), cmdAt(7)])), { sqlOnly: true });
    expect(results.filter((r) => r instanceof Error)).toEqual([]);
    expect(results.filter((r) => !(r instanceof Error) && r.replayed)).toHaveLength(1); // key-7 was recorded by the load
    // Before: the postings trigger's plan (made on the first recording) read all 3,000
    // transactions, and the key lookup read every transfer of the provider account.
    expect(counts.lt_seq).toBe(0);
    expect(counts.t_seq).toBe(0);
    expect(counts.by_subaccount).toBe(0);
    expect(counts.by_key).toBeGreaterThan(0);
  });

  it('finds the heads of line by id', async () => {
    // The first two transfers of every sub-account: the first is the head, the second waits behind it.
    const ids = (await db.query<{ id: string; n: number }>(
      `SELECT id, n FROM (SELECT id, row_number() OVER (PARTITION BY subaccount_token ORDER BY seq)::int AS n FROM transfers) t WHERE n <= 2`,
    ));
    const { result: heads, counts } = await db.transaction((tx) => {
      const inTx = new TransfersRepository({ query: (sql: string, params?: unknown[]) => tx.query(sql, params) } as unknown as Database);
      return scansOf(tx, () => inTx.headsOfLine(ids.map((r) => r.id)));
    }, { sqlOnly: true });
    expect(heads.map((h) => h.transferId).sort()).toEqual(ids.filter((r) => r.n === 1).map((r) => r.id).sort());
    // Before: every pending transfer through transfers_pending_queue_idx, filtered on the ids;
    // then every pending and executing transfer through transfers_status_idx, hashed and
    // anti-joined. Now one probe of the pending queue per transfer.
    expect(counts.by_id).toBeGreaterThan(0);
    expect(counts.t_seq).toBe(0);
    expect(counts.by_status).toBe(0);
    expect(counts.pending_queue).toBe(ids.length);
    expect(counts.by_expiry).toBe(0);
  });

  it('finds the expired pending transfers by expiry, without reading the pending backlog', async () => {
    const expired = await db.transaction(async (tx) => {
      // Three of the 3,000 pending transfers expired; the sweep must find those three.
      const three = (await tx.query<{ id: string }>(
        `UPDATE transfers SET expires_at = now() - interval '1 minute'
          WHERE id IN (SELECT id FROM transfers WHERE status = 'pending' ORDER BY seq DESC LIMIT 3) RETURNING id`)).map((r) => r.id);
      const inTx = new TransferSweepsRepository({ query: (sql: string, params?: unknown[]) => tx.query(sql, params) } as unknown as Database);
      const { result, counts } = await scansOf(tx, () => inTx.expiredPending(providerAccount, 100));
      throw Object.assign(new Error('rolled back'), { found: { three, result, counts } });
    }, { sqlOnly: true }).catch((e: { found?: { three: string[]; result: string[]; counts: Awaited<ReturnType<typeof counters>> } }) => e.found);
    expect(expired).toBeDefined();
    expect([...expired!.result].sort()).toEqual([...expired!.three].sort());
    // Before: every pending transfer in recording order (transfers_status_idx), each
    // checked for its expiry, to find none or a few.
    expect(expired!.counts.by_expiry).toBe(1);
    expect(expired!.counts.by_status).toBe(0);
    expect(expired!.counts.pending_queue).toBe(0);
    expect(expired!.counts.t_seq).toBe(0);
  });

  it('settles a group without reading every posting of its accounts', async () => {
    // 3,000 pending reservations of `main` (the load above); settle 20 of them, among a
    // thousand more sub-accounts (the bench's provider account: the plan that went wrong).
    await db.query(
      `INSERT INTO ledger_accounts (provider_account_id, code, kind, overdraft_guard)
       SELECT $1, 'sub:extra' || g, $2, $3 FROM generate_series(1, 1000) AS g`,
      [providerAccount, kindOfCode('sub:extra1'), isProviderBacked(kindOfCode('sub:extra1')!)],
    );
    const ids = (await db.query<{ ledger_transaction_id: string }>(
      "SELECT ledger_transaction_id FROM transfers WHERE status = 'pending' ORDER BY seq LIMIT 20")).map((r) => r.ledger_transaction_id);
    const ledger = new LedgerRepository(db);
    const postingScans = (tx: Tx) => tx.query<{ seq: number; by_account: number; by_transaction: number }>(
      `SELECT (SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'postings')::int AS seq,
              pg_stat_get_xact_numscans('postings_account_idx'::regclass)::int AS by_account,
              pg_stat_get_xact_numscans('postings_one_per_account'::regclass)::int AS by_transaction`).then(([r]) => r);
    const counts = await db.transaction(async (tx) => {
      const before = await postingScans(tx);
      await ledger.settleMany(tx, providerAccount, ids.map((id) => ({ id })), 'posted', 'test', 'plans');
      const after = await postingScans(tx);
      throw Object.assign(new Error('rolled back'), { counts: { seq: after.seq - before.seq, byAccount: after.by_account - before.by_account, byTransaction: after.by_transaction - before.by_transaction } });
    }, { sqlOnly: true }).catch((e: { counts?: { seq: number; byAccount: number; byTransaction: number } }) => e.counts);
    // Before: the lock of the posted balance rows read every posting (a sequential scan), or
    // walked every balance row and, for each, every posting of its account (all 3,000 of
    // main's), to find the group's 20 transactions.
    expect(counts).toBeDefined();
    expect(counts!.seq).toBe(0);
    expect(counts!.byAccount).toBe(0);
    expect(counts!.byTransaction).toBeGreaterThan(0);
  });
});
