import { Pool, PoolClient, QueryResultRow } from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/prisma/client';

/** SQLSTATE codes this code base reacts to. */
export const PgError = {
  uniqueViolation: '23505',
  checkViolation: '23514',
  foreignKeyViolation: '23503',
  serializationFailure: '40001',
  deadlockDetected: '40P01',
  integrityViolation: '23000',
} as const;

export function pgCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null;
  if (e && typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return e.code;
  if (e?.cause && typeof e.cause.code === 'string') return e.cause.code;
  return undefined;
}

export function pgConstraint(err: unknown): string | undefined {
  return (err as { constraint?: string } | null)?.constraint;
}

const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']); // shutdown, crash, starting up, too many connections
const UNAVAILABLE_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * The database could not be reached or went away (as opposed to refusing what was asked):
 * the caller may try again later, nothing was written by the failed statement.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  const code = pgCode(err) ?? (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (code.startsWith('08') || UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_ERRNOS.has(code))) return true;
  return /Connection terminated|timeout exceeded when trying to connect|not queryable|the database system is/i.test(String((err as Error | null)?.message));
}

/** A connection inside one database transaction. */
export interface Tx {
  query<R extends QueryResultRow = QueryResultRow>(sql: string, params?: unknown[]): Promise<R[]>;
}

const RETRYABLE = new Set<string>([PgError.serializationFailure, PgError.deadlockDetected]);

/**
 * The one way to talk to Postgres. Writes go through `transaction()` (explicit SQL, explicit
 * row locks in a fixed order, retried on serialization failures and deadlocks). Reads that
 * are plain lookups may use the typed Prisma client, which shares the same pool.
 */
export class Database {
  readonly pool: Pool;
  readonly prisma: PrismaClient;

  constructor(url: string, opts: { max?: number; applicationName?: string } = {}) {
    this.pool = new Pool({
      connectionString: url,
      max: opts.max ?? 10,
      application_name: opts.applicationName ?? 'credit-ledger',
      // Sessions are pinned to UTC: timestamps never depend on the server's zone.
      options: '-c TimeZone=UTC',
      connectionTimeoutMillis: 5_000,
    });
    // An idle client losing its connection (Postgres restart) must not crash the process.
    this.pool.on('error', () => undefined);
    this.prisma = new PrismaClient({ adapter: new PrismaPg(this.pool) });
  }

  async query<R extends QueryResultRow = QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    const res = await this.pool.query<R>(sql, params);
    return res.rows;
  }

  async transaction<T>(fn: (tx: Tx) => Promise<T>, opts: { retries?: number } = {}): Promise<T> {
    const retries = opts.retries ?? 5;
    for (let attempt = 0; ; attempt++) {
      const client: PoolClient = await this.pool.connect();
      // A checked-out client has no error listener of the pool's: a connection lost between
      // two queries (backend terminated, Postgres restarted) would be an unhandled 'error'
      // event and crash the process. The next query fails instead, and the client is
      // discarded on release. (test/reliability/infrastructure.e2e-spec.ts)
      let lost: Error | undefined;
      const onError = (err: Error) => { lost = err; };
      client.on('error', onError);
      try {
        await client.query('BEGIN');
        const tx: Tx = { query: async (sql, params) => (await client.query(sql, params as unknown[])).rows };
        const result = await fn(tx);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        const code = pgCode(err);
        if (code && RETRYABLE.has(code) && attempt < retries) {
          await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * (attempt + 1)));
          continue;
        }
        throw err;
      } finally {
        client.removeListener('error', onError);
        client.release(lost);
      }
    }
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.prisma.$disconnect().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }
}
