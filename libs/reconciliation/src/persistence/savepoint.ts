import { Tx } from '@app/persistence';

/**
 * Runs `fn` under a savepoint of `tx`: on error the savepoint is rolled back (the rest of
 * the transaction stands) and the error returned, not thrown.
 */
export async function underSavepoint<T>(tx: Tx, name: string, fn: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: Error }> {
  await tx.query(`SAVEPOINT ${name}`);
  try {
    const value = await fn();
    await tx.query(`RELEASE SAVEPOINT ${name}`);
    return { ok: true, value };
  } catch (err) {
    await tx.query(`ROLLBACK TO SAVEPOINT ${name}`);
    return { ok: false, error: err as Error };
  }
}
