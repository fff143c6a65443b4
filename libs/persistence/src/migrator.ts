import { createHash, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client } from 'pg';

/**
 * Applies prisma/migrations/<name>/migration.sql in order and records them in
 * `_prisma_migrations` exactly as `prisma migrate deploy` does, so either tool can take over
 * where Prisma's engine can be downloaded. An applied migration whose file changed is an error.
 */
export interface MigrationResult { applied: string[]; alreadyApplied: number }

export function migrationsDir(): string {
  // Works from the sources (ts-jest) and from dist/.
  for (const candidate of [resolve(__dirname, '../../../prisma/migrations'), resolve(__dirname, '../../../../prisma/migrations'), resolve(process.cwd(), 'prisma/migrations')]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new Error('prisma/migrations not found');
}

export async function migrate(databaseUrl: string, dir = migrationsDir()): Promise<MigrationResult> {
  const client = new Client({ connectionString: databaseUrl, options: '-c TimeZone=UTC' });
  await client.connect();
  try {
    // One migrator at a time, whatever the number of processes starting together.
    await client.query('SELECT pg_advisory_lock(72707369)');
    await client.query(`CREATE TABLE IF NOT EXISTS _prisma_migrations (
      id varchar(36) PRIMARY KEY, checksum varchar(64) NOT NULL, finished_at timestamptz,
      migration_name varchar(255) NOT NULL, logs text, rolled_back_at timestamptz,
      started_at timestamptz NOT NULL DEFAULT now(), applied_steps_count integer NOT NULL DEFAULT 0)`);
    const done = new Map<string, string>();
    for (const row of (await client.query('SELECT migration_name, checksum FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL')).rows) {
      done.set(row.migration_name, row.checksum);
    }
    const names = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
    const applied: string[] = [];
    for (const name of names) {
      const sql = readFileSync(join(dir, name, 'migration.sql'), 'utf8');
      const checksum = createHash('sha256').update(sql).digest('hex');
      const known = done.get(name);
      if (known !== undefined) {
        if (known !== checksum) throw new Error(`migration ${name} was modified after it was applied`);
        continue;
      }
      const id = randomUUID();
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query(
          `INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
           VALUES ($1, $2, $3, now(), now(), 1)`,
          [id, checksum, name],
        );
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${name} failed: ${(err as Error).message}`);
      }
      applied.push(name);
    }
    return { applied, alreadyApplied: done.size };
  } finally {
    await client.query('SELECT pg_advisory_unlock(72707369)').catch(() => undefined);
    await client.end();
  }
}

/** Names of migrations on disk that the database has not applied (readiness check). */
export async function pendingMigrations(query: (sql: string) => Promise<Array<{ migration_name: string }>>, dir = migrationsDir()): Promise<string[]> {
  const names = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  let applied: Set<string>;
  try {
    applied = new Set((await query('SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL')).map((r) => r.migration_name));
  } catch {
    return names;
  }
  return names.filter((n) => !applied.has(n)).sort();
}

/** Creates a database when missing (used by tests, CI and the embedded start). */
export async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  url.pathname = '/postgres';
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const exists = (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount;
    if (exists) return false;
    await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
    return true;
  } finally {
    await client.end();
  }
}
