import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Database } from '@app/persistence';
import { createSandboxServer, SandboxServer } from '@app/sandbox';
import { testDatabase, uniqueProviderAccount } from './db';

export const ROOT = join(__dirname, '..', '..');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(predicate: () => Promise<boolean> | boolean, timeoutMs: number, what: string, everyMs = 100): Promise<void> {
  const end = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < end) {
    try {
      if (await predicate()) return;
    } catch (err) {
      lastErr = err;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? ` (last error: ${(lastErr as Error).message})` : ''}`);
}

/** A built app (dist/apps/<name>/src/main.js) running as a real child process. */
export class AppProcess {
  readonly output: string[] = [];
  /** A worker's own HTTP server (health, metrics), set by startStack's startWorker. */
  metricsUrl?: string;
  private child?: ChildProcess;
  private exited?: Promise<number | null>;

  constructor(readonly name: 'api' | 'worker' | 'sandbox' | 'cli', private readonly env: Record<string, string>, private readonly args: string[] = []) {}

  start(): this {
    const script = join(ROOT, 'dist', 'apps', this.name, 'src', 'main.js');
    if (!existsSync(script)) throw new Error(`${script} is missing: run "node scripts/prepare.js" (npm test does)`);
    this.child = spawn(process.execPath, [script, ...this.args], { env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (b: Buffer) => { this.output.push(b.toString()); if (this.output.length > 2000) this.output.splice(0, 1000); };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    this.exited = new Promise((resolve) => this.child!.once('exit', (code) => resolve(code)));
    return this;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<number | null> {
    if (!this.running) return this.child?.exitCode ?? null;
    this.child!.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs); });
    const code = await Promise.race([this.exited!, timeout]);
    clearTimeout(timer);
    if (code === 'timeout') {
      this.child!.kill('SIGKILL');
      return this.exited!;
    }
    return code;
  }

  async waitExit(): Promise<number | null> {
    return this.exited!;
  }

  text(): string {
    return this.output.join('');
  }
}

export const TOKENS = { admin: `admin-${randomBytes(8).toString('hex')}`, operator: `operator-${randomBytes(8).toString('hex')}`, viewer: `viewer-${randomBytes(8).toString('hex')}` };

export interface StackOptions {
  subaccounts?: number;
  mainBalance?: string;
  env?: Record<string, string>;
  redisUrl?: string;
  /** Another database than the test run's (e.g. a private server a test restarts); it must be migrated. */
  databaseUrl?: string;
  worker?: boolean;
}

/**
 * The whole system as a user runs it: the sandbox (in this process, so tests can inject
 * faults and read its log), the API and the worker as child processes, on a fresh provider
 * account and queue prefix.
 */
export async function startStack(opts: StackOptions = {}) {
  const apiKey = `sk-${randomBytes(12).toString('hex')}`;
  const sandbox: SandboxServer = await createSandboxServer({
    port: 0,
    seed: { seed: apiKey, accounts: [{ apiKey, balance: opts.mainBalance ?? '10000.000', subaccounts: opts.subaccounts ?? 5 }] },
  });
  const port = await freePort();
  const env: Record<string, string> = {
    DATABASE_URL: opts.databaseUrl ?? process.env.DATABASE_URL!,
    REDIS_URL: opts.redisUrl ?? process.env.REDIS_URL!,
    SMSPARTNER_API_KEY: apiKey,
    SMSPARTNER_BASE_URL: sandbox.providerBaseUrl,
    PROVIDER_ACCOUNT: uniqueProviderAccount('e2e'),
    QUEUE_PREFIX: `e2e-${randomBytes(4).toString('hex')}`,
    API_TOKENS: `admin:${TOKENS.admin},operator:${TOKENS.operator},viewer:${TOKENS.viewer}`,
    PORT: String(port),
    WORKER_METRICS_PORT: '0',
    OUTBOX_POLL_MS: '200',
    PROVIDER_TIMEOUT_MS: '1000',
    EXECUTION_LEASE_MS: '3000',
    PROVIDER_RETRY_BASE_MS: '20',
    // The worker's own in-doubt settlement, its barrier and usage booking are exercised by
    // test/in-doubt-evidence.e2e-spec.ts; the other suites test the pipeline and the runs alone.
    IN_DOUBT_AUTO_SETTLE: 'off',
    IN_DOUBT_BARRIER: 'off',
    USAGE_AUTO_BOOK: 'off',
    ...opts.env,
  };
  const api = new AppProcess('api', env).start();
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${baseUrl}/health/live`)).ok, 20_000, 'the api to answer').catch((err) => {
    throw new Error(`${err.message}\n--- api output ---\n${api.text()}`);
  });
  const workers: AppProcess[] = [];
  /** Starts a worker and waits until it serves its health endpoint (its queue consumer is up). */
  const startWorker = async (extra: Record<string, string> = {}) => {
    const metricsPort = await freePort();
    const w = new AppProcess('worker', { ...env, WORKER_METRICS_PORT: String(metricsPort), ...extra }).start();
    w.metricsUrl = `http://127.0.0.1:${metricsPort}`;
    workers.push(w);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${metricsPort}/health/live`)).ok, 20_000, 'the worker to start').catch((err) => {
      throw new Error(`${err.message}\n--- worker output ---\n${w.text()}`);
    });
    return w;
  };
  if (opts.worker !== false) await startWorker();
  const db = opts.databaseUrl ? new Database(opts.databaseUrl, { max: 5, applicationName: 'credit-ledger-test' }) : testDatabase(5);

  async function call(method: string, path: string, body?: unknown, token: string | null = TOKENS.admin, headers: Record<string, string> = {}) {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json: any;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: res.status, json, text, headers: res.headers };
  }

  return {
    sandbox, api, workers, startWorker, env, baseUrl, apiKey, db, call,
    providerAccount: env.PROVIDER_ACCOUNT,
    tokens: () => sandbox.state.subaccountsOf(apiKey).map((s) => s.token),
    async statusCounts(): Promise<Record<string, number>> {
      const rows = await db.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM transfers WHERE provider_account_id = $1 GROUP BY status', [env.PROVIDER_ACCOUNT]);
      return Object.fromEntries(rows.map((r) => [r.status, r.n]));
    },
    async close() {
      await Promise.all(workers.map((w) => w.stop()));
      await api.stop();
      await sandbox.close();
      await db.close();
    },
  };
}

export type Stack = Awaited<ReturnType<typeof startStack>>;

/** A private redis-server on a free port, for tests that stop and restart Redis. */
export async function startPrivateRedis(port?: number): Promise<{ url: string; port: number; stop(): Promise<void> }> {
  const which = spawnSync('sh', ['-c', 'command -v redis-server']);
  if (which.status !== 0) throw new Error('redis-server is not on the PATH');
  const p = port ?? (await freePort());
  const child = spawn('redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${p}`;
  await waitFor(() => spawnSync('redis-cli', ['-p', String(p), 'ping']).stdout?.toString().includes('PONG') ?? false, 10_000, 'private redis');
  return {
    url,
    port: p,
    async stop() {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    },
  };
}
