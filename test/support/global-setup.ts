import { ensureDatabase, migrate } from '../../libs/persistence/src/migrator';

/**
 * One fresh database per test run (created here, dropped in global-teardown), migrated with
 * the same runner production uses. Tests isolate themselves further with their own provider
 * account ids and queue prefixes. Workers inherit the variables set here.
 */
export default async function globalSetup(): Promise<void> {
  const base = process.env.TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  const url = new URL(base);
  url.pathname = `/credit_ledger_test_${process.pid}_${Date.now()}`;
  process.env.DATABASE_URL = url.toString();
  process.env.REDIS_URL = process.env.TEST_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  await ensureDatabase(process.env.DATABASE_URL);
  await migrate(process.env.DATABASE_URL);
}
