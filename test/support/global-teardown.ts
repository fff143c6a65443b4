import { Client } from 'pg';

export default async function globalTeardown(): Promise<void> {
  const db = process.env.DATABASE_URL;
  if (!db || process.env.KEEP_TEST_DB) return;
  const url = new URL(db);
  const name = url.pathname.slice(1);
  if (!name.startsWith('credit_ledger_test_')) return; // only ever drop what global-setup created
  url.pathname = '/postgres';
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}
