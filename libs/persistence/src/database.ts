import { AsyncLocalStorage } from 'node:async_hooks';
import { Pool, PoolClient, PoolConfig, QueryResultRow } from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import { Prisma, PrismaClient } from './generated/prisma/client';

export { Prisma };

/** SQLSTATE codes this code base reacts to. */
export const PgError = {
  uniqueViolation: '23505',
  checkViolation: '23514',
  foreignKeyViolation: '23503',
  serializationFailure: '40001',
  deadlockDetected: '40P01',
  integrityViolation: '23000',
} as const;

/**
 * The SQLSTATE of a failed statement: a pg error's own, or the one Prisma's adapter kept
 * (`meta.driverAdapterError.cause.originalCode`) for a statement Prisma ran.
 */
export function pgCode(err: unknown): string | undefined {
  // First: a Prisma error's own code (P2003...) is Prisma's, not Postgres's.
  const original = adapterCause(err)?.originalCode;
  if (typeof original === 'string') return original;
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null;
  if (e && typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return e.code;
  if (e?.cause && typeof e.cause.code === 'string') return e.cause.code;
  return undefined;
}

export function pgConstraint(err: unknown): string | undefined {
  const own = (err as { constraint?: string } | null)?.constraint;
  if (own) return own;
  const index = (adapterCause(err)?.constraint as { index?: unknown } | undefined)?.index;
  return typeof index === 'string' ? index : undefined;
}

function adapterCause(err: unknown): Record<string, unknown> | undefined {
  const meta = (err as { meta?: { driverAdapterError?: { cause?: Record<string, unknown> } } } | null)?.meta;
  return meta?.driverAdapterError?.cause;
}

const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']); // shutdown, crash, starting up, too many connections
const UNAVAILABLE_ADAPTER_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections']);
const UNAVAILABLE_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * The database could not be reached or went away (as opposed to refusing what was asked):
 * the caller may try again later, nothing was written by the failed statement.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  // A statement Prisma ran: its adapter names the socket trouble.
  const kind = adapterCause(err)?.kind;
  if (typeof kind === 'string' && UNAVAILABLE_ADAPTER_KINDS.has(kind)) return true;
  const code = pgCode(err) ?? (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (code.startsWith('08') || UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_ERRNOS.has(code))) return true;
  return /Connection terminated|timeout exceeded when trying to connect|not queryable|the database system is/i.test(String((err as Error | null)?.message));
}

/** The Prisma client of one transaction (the models and `$queryRaw`, no `$transaction`). */
export type PrismaTx = Prisma.TransactionClient;

/**
 * A connection inside one database transaction, usable two ways on the same connection and
 * snapshot: `query` for the set-based, locking SQL of the ledger paths (pg's own types:
 * NUMERIC and BIGINT as strings), `prisma` for plain model reads and writes (NUMERIC as
 * Prisma.Decimal: convert with `Money.parse(d.toFixed())`).
 */
export interface Tx {
  query<R extends QueryResultRow = QueryResultRow>(sql: string, params?: unknown[]): Promise<R[]>;
  readonly prisma: PrismaTx;
}

/** Plain reads outside a transaction: the same two ways, on the pool. */
export type Queryable = Pick<Tx, 'query' | 'prisma'>;

let savepoints = 0;

/**
 * Runs `fn` inside a savepoint of the caller's transaction: if it throws, what it wrote is
 * undone (the transaction goes on) and the error is thrown on.
 */
export async function withSavepoint<T>(tx: Tx, fn: () => Promise<T>): Promise<T> {
  const name = `sp_${++savepoints}`;
  await tx.query(`SAVEPOINT ${name}`);
  try {
    const result = await fn();
    await tx.query(`RELEASE SAVEPOINT ${name}`);
    return result;
  } catch (err) {
    await tx.query(`ROLLBACK TO SAVEPOINT ${name}`);
    throw err;
  }
}

/** `withSavepoint`, with the error returned instead of thrown: the rest of the transaction stands. */
export async function trySavepoint<T>(tx: Tx, fn: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: Error }> {
  try {
    return { ok: true, value: await withSavepoint(tx, fn) };
  } catch (err) {
    return { ok: false, error: err as Error };
  }
}

/**
 * Awaits statements sent together on one connection (pipelined: see `Database`) and gives
 * their results in order, or throws the error of the FIRST statement that failed. Inside a
 * transaction a failed statement aborts it, so the statements after it fail with "current
 * transaction is aborted" (25P02): their errors say nothing and are never the one thrown.
 * Every statement is waited for, so none is left running when the caller goes on.
 */
export async function inOrder<T extends readonly unknown[]>(statements: T): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const settled = await Promise.allSettled(statements);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as { -readonly [K in keyof T]: Awaited<T[K]> };
}

const RETRYABLE = new Set<string>([PgError.serializationFailure, PgError.deadlockDetected]);

/** `tx.prisma` of a transaction opened `sqlOnly`. */
const SQL_ONLY = new Proxy({} as PrismaTx, {
  get() {
    throw new Error('this transaction was opened sqlOnly: use tx.query, or open it without sqlOnly');
  },
});

/** The connection Prisma takes for the transaction being opened in this async context. */
const opening = new AsyncLocalStorage<{ client?: PoolClient }>();

/**
 * The one pool. When Prisma opens a transaction on behalf of `Database.transaction`, the
 * connection it takes is handed to that transaction's raw `query` as well, so both ways run
 * in ONE database transaction. Prisma's adapter requires a `pg.Pool` (it checks instanceof).
 */
class SharedPool extends Pool {
  constructor(config: PoolConfig) {
    super(config);
  }

  override connect(): Promise<PoolClient>;
  override connect(callback: (err: Error | undefined, client: PoolClient | undefined, done: (release?: unknown) => void) => void): void;
  override connect(callback?: (err: Error | undefined, client: PoolClient | undefined, done: (release?: unknown) => void) => void): Promise<PoolClient> | void {
    if (callback) return super.connect(callback);
    const slot = opening.getStore();
    const connected = super.connect();
    if (!slot || slot.client) return connected;
    return connected.then((client) => {
      slot.client = client;
      return client;
    });
  }
}

/**
 * The one way to talk to Postgres: the typed Prisma client (with `@prisma/adapter-pg`) for
 * plain model reads and writes, raw SQL on the same pool for the ledger's set-based, locking
 * paths, and ONE transaction helper for both (`transaction()`: explicit row locks in a fixed
 * order, retried on serialization failures and deadlocks).
 */
export class Database implements Queryable {
  readonly pool: Pool;
  readonly prisma: PrismaClient;

  constructor(url: string, opts: { max?: number; applicationName?: string } = {}) {
    this.pool = new SharedPool({
      connectionString: url,
      max: opts.max ?? 10,
      application_name: opts.applicationName ?? 'credit-ledger',
      // Sessions are pinned to UTC: timestamps never depend on the server's zone.
      options: '-c TimeZone=UTC',
      connectionTimeoutMillis: 5_000,
      // Statements sent without waiting for the one before go on the wire at once, and
      // Postgres runs them in order (node-postgres's pipelining: each with its own Sync, so
      // each gets its own result or error). Awaited one by one, statements behave as without
      // it; the ledger's hot paths send what does not depend on an answer together
      // (`inOrder`), one round trip instead of several (docs/benchmarks.md, fifteenth pass).
      pipeline: true,
    });
    // An idle client losing its connection (Postgres restart) must not crash the process.
    this.pool.on('error', () => undefined);
    this.prisma = new PrismaClient({ adapter: new PrismaPg(this.pool) });
  }

  async query<R extends QueryResultRow = QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    const res = await this.pool.query<R>(sql, params);
    return res.rows;
  }

  /**
   * Runs `fn` in one database transaction. By default it is Prisma's interactive transaction,
   * whose connection also serves `tx.query`. `sqlOnly`: for the set-based ledger paths that
   * only use `tx.query` (recording groups, settlement groups, claims), the transaction is
   * opened on a pool connection directly: Prisma's transaction bookkeeping costs about
   * 0.9 ms per transaction, on the path behind the `main` balance lock (docs/benchmarks.md,
   * "Prisma Client in the repositories"); `tx.prisma` then refuses to be used.
   *
   * Either way: errors thrown inside come out unchanged (a pg error keeps its SQLSTATE and
   * constraint); serialization failures and deadlocks are tried again; a connection lost
   * mid-transaction fails the next query, never the process
   * (test/reliability/infrastructure.e2e-spec.ts).
   */
  async transaction<T>(fn: (tx: Tx) => Promise<T>, opts: { retries?: number; sqlOnly?: boolean } = {}): Promise<T> {
    const retries = opts.retries ?? 5;
    for (let attempt = 0; ; attempt++) {
      try {
        return await (opts.sqlOnly ? this.sqlTransaction(fn) : this.prismaTransaction(fn));
      } catch (err) {
        const code = pgCode(err);
        if (code && RETRYABLE.has(code) && attempt < retries) {
          await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * (attempt + 1)));
          continue;
        }
        throw err;
      }
    }
  }

  private prismaTransaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const slot: { client?: PoolClient } = {};
    return opening.run(slot, () => this.prisma.$transaction(async (prisma) => {
      const client = slot.client;
      if (!client) throw new Error('Database.transaction: the connection of the transaction is unknown');
      return fn({ prisma, query: async (sql, params) => (await client.query(sql, params as unknown[])).rows });
    }, { maxWait: 60_000, timeout: 24 * 3600_000 }));
  }

  /**
   * BEGIN goes on the wire with the transaction's first statement, not a round trip ahead of
   * it. That is safe because BEGIN on a pooled connection fails only when the statements
   * behind it fail too: the connection is broken, or (a ROLLBACK that failed without losing
   * the connection) it is still inside a failed transaction, where every statement is
   * refused until ROLLBACK. On a healthy idle connection BEGIN cannot fail. Even so, a
   * statement's result is handed out only once BEGIN has answered, and BEGIN's error is the
   * one thrown.
   */
  private async sqlTransaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const client: PoolClient = await this.pool.connect();
    // A checked-out client has no error listener of the pool's: a connection lost between
    // two queries would be an unhandled 'error' event and crash the process. The next query
    // fails instead, and the client is discarded on release.
    let lost: Error | undefined;
    const onError = (err: Error) => { lost = err; };
    client.on('error', onError);
    const begun = client.query('BEGIN');
    begun.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
    const query = async <R extends QueryResultRow>(sql: string, params?: unknown[]): Promise<R[]> => {
      const sent = client.query<R>(sql, params as unknown[]);
      sent.catch(() => undefined);
      await begun;
      return (await sent).rows;
    };
    try {
      const result = await fn({ prisma: SQL_ONLY, query });
      await begun;
      // COMMIT of a transaction a failed statement aborted answers ROLLBACK, not an error.
      const { command } = await client.query('COMMIT');
      if (command !== 'COMMIT') throw new Error(`the transaction was not committed (COMMIT answered ${command}): one of its statements failed`);
      return result;
    } catch (err) {
      // After every statement sent (ROLLBACK goes behind them on the wire).
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.removeListener('error', onError);
      client.release(lost);
    }
  }

  /** The database's clock now (`clock_timestamp()`), the one time readings are compared with. */
  async clock(): Promise<Date> {
    const [{ now }] = await this.query<{ now: Date }>('SELECT clock_timestamp() AS now');
    return now;
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.prisma.$disconnect().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }
}
