import { testDatabase, uniqueProviderAccount } from '../../../test/support/db';
import { Database, inOrder, pgCode } from './database';

/**
 * `Database.transaction(fn, { sqlOnly: true })` on a pipelined connection: BEGIN goes on the
 * wire with the first statement, statements sent together run in order, and a transaction
 * that a failed statement aborted is never reported as committed.
 */
describe('Database transactions on a pipelined connection (Postgres)', () => {
  let db: Database;
  beforeAll(() => { db = testDatabase(4); });
  afterAll(async () => { await db.close(); });

  const exists = async (id: string) => (await db.query('SELECT 1 FROM provider_accounts WHERE id = $1', [id])).length === 1;

  it('runs the first statement inside the transaction: one transaction id, and rolled back with it', async () => {
    const id = uniqueProviderAccount('begin');
    const err = await db.transaction(async (tx) => {
      const [first] = await tx.query<{ xid: string }>('INSERT INTO provider_accounts (id) VALUES ($1) RETURNING pg_current_xact_id()::text AS xid', [id]);
      const [second] = await tx.query<{ xid: string }>('SELECT pg_current_xact_id()::text AS xid');
      expect(second.xid).toBe(first.xid);
      throw new Error('changed my mind');
    }, { sqlOnly: true }).catch((e: Error) => e);
    expect(err).toMatchObject({ message: 'changed my mind' });
    expect(await exists(id)).toBe(false);
  });

  it('sends statements together and runs them in order; the first that fails is the error', async () => {
    const id = uniqueProviderAccount('order');
    const rows = await db.transaction(async (tx) => inOrder([
      tx.query('INSERT INTO provider_accounts (id) VALUES ($1)', [id]),
      tx.query<{ n: number }>('SELECT count(*)::int AS n FROM provider_accounts WHERE id = $1', [id]),
    ]), { sqlOnly: true });
    expect(rows[1]).toEqual([{ n: 1 }]); // the second statement saw the first one's row
    expect(await exists(id)).toBe(true);

    const other = uniqueProviderAccount('order');
    const err = await db.transaction(async (tx) => inOrder([
      tx.query('INSERT INTO provider_accounts (id) VALUES ($1)', [other]),
      tx.query('SELECT 1 / 0'),
      tx.query('INSERT INTO provider_accounts (id) VALUES ($1)', [id]), // a duplicate, but never run: the transaction is aborted
    ]), { sqlOnly: true }).catch((e: unknown) => e);
    expect(pgCode(err)).toBe('22012'); // division_by_zero, not the 25P02 of the statement behind it
    expect(await exists(other)).toBe(false);
  });

  it('never reports as committed a transaction a failed statement aborted, even when fn swallowed the error', async () => {
    const id = uniqueProviderAccount('swallowed');
    const err = await db.transaction(async (tx) => {
      await tx.query('INSERT INTO provider_accounts (id) VALUES ($1)', [id]);
      await tx.query('SELECT 1 / 0').catch(() => undefined);
      return 'done';
    }, { sqlOnly: true }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/not committed \(COMMIT answered ROLLBACK\)/);
    expect(await exists(id)).toBe(false);
  });
});
