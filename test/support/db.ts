import { randomBytes } from 'node:crypto';
import { Database, LedgerQueries, LedgerRepository } from '@app/persistence';

export function testDatabase(max = 10): Database {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is set by test/support/global-setup.ts');
  return new Database(url, { max, applicationName: 'credit-ledger-test' });
}

/** A provider account id unique to one test, so tests sharing the database never collide. */
export function uniqueProviderAccount(prefix = 't'): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

export async function ledgerFixture(max = 10) {
  const db = testDatabase(max);
  const repo = new LedgerRepository(db);
  const queries = new LedgerQueries(db);
  const providerAccount = uniqueProviderAccount();
  await db.transaction((tx) => repo.ensureProviderAccount(tx, providerAccount));
  return { db, repo, queries, providerAccount };
}
