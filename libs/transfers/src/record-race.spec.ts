import { adjustmentPostings, Money, transferPostings } from '@app/ledger';
import { BalancesMovedError, Database, LedgerQueries, Tx } from '@app/persistence';
import { SubaccountsRepository } from '@app/subaccounts';
import { ledgerFixture } from '../../../test/support/db';
import { TransfersRepository } from './persistence/transfers.repository';
import { RecordTransferUseCase } from './use-cases/record-transfer/record-transfer.use-case';

const m = Money.parse;
const actor = 'token:operator#1/operator';

/**
 * A recording checks its transfers against balances read without a lock, and the ledger's
 * statement takes the balance rows only when it writes. Another writer can use the room in
 * between: here, another connection reserves most of `main` in that window.
 */
describe('recording while another writer uses the room (Postgres)', () => {
  let f: Awaited<ReturnType<typeof ledgerFixture>>;
  let queries: LedgerQueries;
  const tokens = ['R1', 'R2', 'R3'];
  beforeAll(async () => {
    f = await ledgerFixture(10);
    queries = new LedgerQueries(f.db);
    await f.db.transaction(async (tx) => {
      for (const t of tokens) await f.repo.ensureAccount(tx, f.providerAccount, `sub:${t}`);
      await tx.query(
        `INSERT INTO subaccounts (provider_account_id, token, email, type, account_id, imported_at)
         SELECT $1, t.token, t.token || '@race.test', 'simple', a.id, now()
           FROM unnest($2::text[]) AS t(token) JOIN ledger_accounts a ON a.provider_account_id = $1 AND a.code = 'sub:' || t.token`,
        [f.providerAccount, tokens],
      );
    });
    await f.db.transaction((tx) => f.repo.record(tx, {
      providerAccount: f.providerAccount, kind: 'opening_balance', state: 'posted', actor: 'test', reason: 'opening', lines: adjustmentPostings('opening_balance', 'main', m('10')),
    }));
  });
  afterAll(async () => { await f.db.close(); });

  it('the ledger refuses the write with BalancesMovedError when the room went meanwhile, and the balance rows were free between the read and the write', async () => {
    const { db, repo, providerAccount: pa } = f;
    const err = await db.transaction(async (tx) => repo.recordMany(racing(tx, async () => {
      // Not locked yet: another writer takes main's row and reserves 5 of the 10.
      await db.transaction(async (other) => {
        await other.query("SET LOCAL lock_timeout = '2s'");
        await repo.recordMany(other, pa, [{ providerAccount: pa, kind: 'transfer', state: 'pending', actor, lines: transferPostings('add', 'R2', m('5')) }]);
      });
    }), pa, [
      { providerAccount: pa, kind: 'transfer', state: 'pending', actor, lines: transferPostings('add', 'R1', m('6')) },
    ], {
      lock: 'last',
      alongside: (results) => {
        expect(results).toHaveLength(1);
        return { written: Promise.resolve(), journal: [] };
      },
    }), { sqlOnly: true }).catch((e) => e);
    expect(err).toBeInstanceOf(BalancesMovedError);
    const main = await queries.balance(pa, 'main');
    expect([main.posted.toFixed(), main.available.toFixed()]).toEqual(['10.000', '5.000']); // only the other writer's 5
    expect((await queries.balance(pa, 'sub:R1')).pending.toFixed()).toBe('0.000');
  });

  it('a recording that loses that race records again with the rows locked first: each command its own answer, nothing twice', async () => {
    const { db, repo, providerAccount: pa } = f;
    // 5 of main's 10 is still free (the test before). Between the first attempt's read and
    // its write, another connection reserves 3 of it: of 2 + 2, only the first still fits.
    let attempts = 0;
    let raced = 0;
    const racingDb = Object.assign(Object.create(db) as Database, {
      transaction: <T>(fn: (tx: Tx) => Promise<T>, opts?: { sqlOnly?: boolean }) => db.transaction((tx) => {
        attempts++;
        return fn(racing(tx, async () => {
          raced++;
          await db.transaction((other) => repo.recordMany(other, pa, [{ providerAccount: pa, kind: 'transfer', state: 'pending', actor, lines: transferPostings('add', 'R3', m('3')) }]));
        }, attempts === 1));
      }, opts),
    });
    const record = new RecordTransferUseCase(racingDb, repo, new TransfersRepository(db), new SubaccountsRepository(db), { enqueue: async () => undefined }, { expirySeconds: 3600 });
    const results = await record.recordMany(['R1', 'R2'].map((s, i) => ({ providerAccount: pa, subaccount: s, direction: 'add' as const, amount: m('2'), actor, idempotencyKey: `race-${i}` })));
    expect([attempts, raced]).toEqual([2, 1]); // the first attempt, rolled back, and the second
    expect(results[0]).toMatchObject({ transfer: { subaccount: 'R1', status: 'pending' }, replayed: false });
    expect(results[1]).toMatchObject({ code: 'insufficient_available_balance' });
    const main = await queries.balance(pa, 'main');
    expect(main.available.toFixed()).toBe('0.000'); // 5 (first test) + 3 (the race) + 2
    const transfers = await db.query<{ subaccount_token: string }>("SELECT subaccount_token FROM transfers WHERE provider_account_id = $1 AND idempotency_key LIKE 'race-%'", [pa]);
    expect(transfers).toEqual([{ subaccount_token: 'R1' }]);
  });
});

/**
 * The recording's transaction with `meanwhile` run just before the ledger's statement that
 * locks the balance rows last is sent: the window between the unlocked read and the write,
 * which another API process's recording can use.
 */
function racing(tx: Tx, meanwhile: () => Promise<void>, enabled = true): Tx {
  let gate: Promise<void> | undefined;
  return {
    prisma: tx.prisma,
    query: async (sql, params) => {
      if (enabled && !gate && sql.includes('locked AS')) gate = meanwhile();
      // The statements sent behind it wait as well, in the order they were sent.
      if (gate) await gate;
      return tx.query(sql, params);
    },
  };
}
