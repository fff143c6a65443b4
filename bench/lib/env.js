'use strict';
// Shared plumbing of the benchmarks: the compiled libs from dist/, a private database per
// scenario (created here, dropped at the end: never one we did not create), the built api
// and worker as child processes, set-based ledger seeding that goes through the triggers,
// statistics and the FIGURE lines every scenario prints.
const { spawn, spawnSync } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const { existsSync, readdirSync, readFileSync } = require('node:fs');
const { createServer } = require('node:net');
const { join } = require('node:path');

const ROOT = join(__dirname, '..', '..');
const DIST = join(ROOT, 'dist');
if (!existsSync(join(DIST, 'libs', 'common', 'src', 'aliases.js'))) {
  throw new Error('dist/ is missing: run "node scripts/prepare.js" (npm run build) first');
}
require(join(DIST, 'libs', 'common', 'src', 'aliases.js'));
const lib = (name) => require(join(DIST, 'libs', name, 'src'));
const { Database, ensureDatabase, migrate, LedgerRepository } = lib('persistence');
const { Client } = require('pg');

const PG_BASE = process.env.BENCH_PG_URL ?? process.env.TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const TOKENS = { admin: `admin-${randomBytes(8).toString('hex')}`, operator: `operator-${randomBytes(8).toString('hex')}`, viewer: `viewer-${randomBytes(8).toString('hex')}` };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(predicate, timeoutMs, what, everyMs = 100) {
  const end = Date.now() + timeoutMs;
  let lastErr;
  while (Date.now() < end) {
    try {
      if (await predicate()) return;
    } catch (err) {
      lastErr = err;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? ` (${lastErr.message})` : ''}`);
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// ------------------------------------------------------------------ databases

const created = new Set();

/** A fresh, migrated database owned by this run: credit_ledger_bench_<pid>_<scenario>. */
async function createBenchDatabase(scenario) {
  const url = new URL(PG_BASE);
  const name = `credit_ledger_bench_${process.pid}_${scenario}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  url.pathname = `/${name}`;
  await dropDatabase(name, true);
  await ensureDatabase(url.toString());
  created.add(name);
  await migrate(url.toString());
  return { name, url: url.toString() };
}

/** Drops a database this process created (`force` only for the name it is about to create). */
async function dropDatabase(name, force = false) {
  if (!force && !created.has(name)) throw new Error(`refusing to drop ${name}: this run did not create it`);
  if (!name.startsWith(`credit_ledger_bench_${process.pid}_`)) throw new Error(`refusing to drop ${name}`);
  // BENCH_KEEP_DB=1 keeps the run's databases, to read what the services stored (then drop them by hand).
  if (process.env.BENCH_KEEP_DB === '1') { log('env', `kept database ${name} (BENCH_KEEP_DB=1)`); return; }
  const url = new URL(PG_BASE);
  url.pathname = '/postgres';
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
  created.delete(name);
}

async function dropAllCreated() {
  for (const name of [...created]) await dropDatabase(name).catch((err) => console.error(`could not drop ${name}: ${err.message}`));
}

// ------------------------------------------------------------------ processes

/** A built app (dist/apps/<name>/src/main.js) as a child process. */
class AppProcess {
  constructor(name, env) {
    this.name = name;
    this.env = env;
    this.output = [];
  }

  start() {
    const script = join(DIST, 'apps', this.name, 'src', 'main.js');
    this.child = spawn(process.execPath, [script], { env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (b) => { if (process.env.BENCH_ECHO) process.stderr.write(`[${this.name}] ${b}`); this.output.push(b.toString()); if (this.output.length > 400) this.output.splice(0, 200); };
    this.child.stdout.on('data', keep);
    this.child.stderr.on('data', keep);
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    return this;
  }

  get pid() { return this.child?.pid; }
  get running() { return !!this.child && this.child.exitCode === null && this.child.signalCode === null; }
  text() { return this.output.join(''); }

  /** Resident memory in MB (VmRSS of /proc/<pid>/status). */
  rssMb() {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
      return m ? Number(m[1]) / 1024 : NaN;
    } catch {
      return NaN;
    }
  }

  /** CPU time used so far, in ms (user + system, /proc/<pid>/stat; clock ticks of 10 ms). */
  cpuMs() {
    return processCpuMs(this.pid);
  }

  async stop(timeoutMs = 15_000) {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const r = await Promise.race([this.exited, sleep(timeoutMs).then(() => 'timeout')]);
    if (r === 'timeout') {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}

const running = new Set();

/**
 * The API (and optionally the worker) on a database, a provider sandbox and a queue prefix of
 * their own. Returns helpers to call the API.
 */
async function startApps({ databaseUrl, sandbox, apiKey, providerAccount, worker = true, api = true, env = {} }) {
  const port = await freePort();
  const baseEnv = {
    DATABASE_URL: databaseUrl,
    REDIS_URL,
    SMSPARTNER_API_KEY: apiKey,
    SMSPARTNER_BASE_URL: sandbox.providerBaseUrl,
    PROVIDER_ACCOUNT: providerAccount,
    QUEUE_PREFIX: `bench-${process.pid}-${randomBytes(3).toString('hex')}`,
    API_TOKENS: `admin:${TOKENS.admin},operator:${TOKENS.operator},viewer:${TOKENS.viewer}`,
    PORT: String(port),
    WORKER_METRICS_PORT: '0',
    // Reconciliation only when the bench asks for it.
    RECONCILE_CRON: '0 0 1 1 *',
    ...env,
    // BENCH_APP_<NAME>=v sets <NAME>=v in the API and the worker (an A/B of one setting).
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('BENCH_APP_')).map(([k, v]) => [k.slice('BENCH_APP_'.length), v])),
  };
  const out = { env: baseEnv, baseUrl: `http://127.0.0.1:${port}`, api: null, worker: null };
  if (api) {
    out.api = new AppProcess('api', baseEnv).start();
    running.add(out.api);
    await waitFor(async () => (await fetch(`${out.baseUrl}/health/live`)).ok, 30_000, 'the api').catch((err) => {
      throw new Error(`${err.message}\n--- api output ---\n${out.api.text()}`);
    });
  }
  if (worker) out.worker = await startWorker(baseEnv);
  out.stop = async () => {
    for (const p of [out.worker, out.api]) if (p) { await p.stop(); running.delete(p); }
    await clearQueue(baseEnv.QUEUE_PREFIX);
  };
  return out;
}

async function startWorker(env) {
  const metricsPort = await freePort();
  const w = new AppProcess('worker', { ...env, WORKER_METRICS_PORT: String(metricsPort) }).start();
  running.add(w);
  await waitFor(async () => (await fetch(`http://127.0.0.1:${metricsPort}/health/live`)).ok, 30_000, 'the worker').catch((err) => {
    throw new Error(`${err.message}\n--- worker output ---\n${w.text()}`);
  });
  return w;
}

/** Removes this run's BullMQ keys (only keys under the bench's own prefix). */
async function clearQueue(prefix) {
  if (!prefix.startsWith(`bench-${process.pid}-`)) return;
  const IORedis = require('ioredis');
  const r = new IORedis(REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: false });
  r.on('error', () => undefined);
  try {
    let cursor = '0';
    let rounds = 0;
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length) await r.del(...keys);
      cursor = next;
    } while (cursor !== '0' && ++rounds < 10_000);
  } catch {
    // Leftover keys of a bench prefix are harmless.
  } finally {
    r.disconnect();
  }
}

async function stopAll() {
  for (const p of [...running]) await p.stop().catch(() => undefined);
  running.clear();
}

async function sandboxWith({ subaccounts, mainBalance = '1000000000.000', subBalance }) {
  const { createSandboxServer } = lib('sandbox');
  const apiKey = `sk-bench-${randomBytes(8).toString('hex')}`;
  const subs = typeof subBalance === 'function'
    ? Array.from({ length: subaccounts }, (_, i) => ({ email: `b${i}@bench.test`, type: 'simple', balance: subBalance(i) }))
    : subaccounts;
  const sandbox = await createSandboxServer({ port: 0, host: '127.0.0.1', seed: { seed: apiKey, accounts: [{ apiKey, balance: mainBalance, subaccounts: subs }] } });
  return { sandbox, apiKey, subs: sandbox.state.subaccountsOf(apiKey).map((s) => ({ token: s.token, balance: s.balance.toFixed() })) };
}

// ------------------------------------------------------------------ ledger seeding

/**
 * Seeds a provider account the way an import would leave it (system accounts, sub-accounts,
 * opening balances), with set-based SQL that goes through every trigger: one ledger
 * transaction per opening balance (the balancing check is deferred to each commit).
 */
async function seedLedger(db, providerAccount, { mainBalance, subs, chunk = 20_000 }) {
  const repo = new LedgerRepository(db);
  await db.transaction((tx) => repo.ensureProviderAccount(tx, providerAccount));
  if (mainBalance && mainBalance !== '0' && mainBalance !== '0.000') {
    await db.transaction(async (tx) => {
      await repo.record(tx, { providerAccount, kind: 'opening_balance', state: 'posted', actor: 'bench:seed', reason: 'opening balance: main',
        lines: lib('ledger').adjustmentPostings('opening_balance', 'main', lib('ledger').Money.parse(mainBalance)) });
    });
  }
  for (let i = 0; i < subs.length; i += chunk) {
    const part = subs.slice(i, i + chunk);
    await db.transaction(async (tx) => {
      await tx.query(
        `WITH s AS (SELECT * FROM unnest($2::text[]) AS t(token))
         INSERT INTO ledger_accounts (provider_account_id, code, kind, overdraft_guard) SELECT $1, 'sub:' || token, 'subaccount', true FROM s`,
        [providerAccount, part.map((s) => s.token)],
      );
      await tx.query(
        `INSERT INTO subaccounts (provider_account_id, token, email, type, account_id, imported_at)
         SELECT $1, t.token, t.token || '@bench.test', 'simple', a.id, now()
           FROM unnest($2::text[]) AS t(token) JOIN ledger_accounts a ON a.provider_account_id = $1 AND a.code = 'sub:' || t.token`,
        [providerAccount, part.map((s) => s.token)],
      );
      const funded = part.filter((s) => Number(s.balance) > 0); // a filter only: amounts stay strings
      if (funded.length) {
        await tx.query(
          `CREATE TEMP TABLE seed_open ON COMMIT DROP AS
             SELECT gen_random_uuid() AS id, a.id AS account_id, t.amount::numeric(20,3) AS amount
               FROM unnest($2::text[], $3::text[]) AS t(token, amount)
               JOIN ledger_accounts a ON a.provider_account_id = $1 AND a.code = 'sub:' || t.token`,
          [providerAccount, funded.map((s) => s.token), funded.map((s) => s.balance)],
        );
        await tx.query(
          `INSERT INTO ledger_transactions (id, provider_account_id, kind, state, actor, reason)
           SELECT id, $1, 'opening_balance', 'posted', 'bench:seed', 'opening balance' FROM seed_open`, [providerAccount]);
        await tx.query(
          `INSERT INTO postings (transaction_id, account_id, amount)
           SELECT id, account_id, amount FROM seed_open
           UNION ALL
           SELECT o.id, f.id, -o.amount FROM seed_open o, ledger_accounts f WHERE f.provider_account_id = $1 AND f.code = 'funding'`,
          [providerAccount]);
      }
    });
  }
}

/**
 * Posted history: `transactions` transfers ("add": debit a sub-account, credit main) or, with
 * counterparty 'funding', purchases; two postings each, round-robin over the given
 * sub-account tokens, inserted set-based. Every posting goes through the triggers (balances,
 * account entries, balancing). Chunks stay small: each one updates the counterparty's
 * balance row once per posting, and one transaction's row versions pile up.
 */
async function generateHistory(db, providerAccount, { transactions, tokens, chunk = 1000, counterparty = 'main', onChunk }) {
  const [main] = await db.query(`SELECT id FROM ledger_accounts WHERE provider_account_id = $1 AND code = $2`, [providerAccount, counterparty]);
  const kind = counterparty === 'main' ? 'transfer' : 'purchase';
  const subIds = (await db.query(`SELECT id FROM ledger_accounts WHERE provider_account_id = $1 AND code = ANY($2::text[]) ORDER BY id`, [providerAccount, tokens.map((t) => `sub:${t}`)])).map((r) => r.id);
  let done = 0;
  while (done < transactions) {
    const n = Math.min(chunk, transactions - done);
    await db.transaction(async (tx) => {
      await tx.query(
        `CREATE TEMP TABLE hist ON COMMIT DROP AS
           SELECT gen_random_uuid() AS id, ($2::bigint[])[1 + (g % cardinality($2::bigint[]))] AS sub_id,
                  (1 + (g % 997))::numeric / 1000 AS amount
             FROM generate_series($1::bigint, $1::bigint + $3 - 1) AS g`,
        [done, subIds, n],
      );
      await tx.query(
        `INSERT INTO ledger_transactions (id, provider_account_id, kind, state, actor, reason)
         SELECT id, $1, $2, 'posted', 'bench:history', 'generated history' FROM hist`, [providerAccount, kind]);
      await tx.query(
        `INSERT INTO postings (transaction_id, account_id, amount)
         SELECT id, sub_id, amount FROM hist UNION ALL SELECT id, $1::bigint, -amount FROM hist`, [main.id]);
    }, { retries: 0 });
    done += n;
    if (onChunk) onChunk(done);
  }
  return { postings: transactions * 2 };
}

/** Hash-chained journal entries (through the chain trigger), each recording a posted transaction of two postings. */
async function generateJournal(db, providerAccount, entries, chunk = 200) {
  for (let done = 0; done < entries; done += chunk) {
    await db.query(
      `INSERT INTO journal_entries (sequence, provider_account_id, recorded_at, actor, action, entity_type, entity_id, reason, data, prev_hash, hash)
       SELECT 0, $1, now(), 'bench:history', 'ledger_transaction.posted', 'ledger_transaction', gen_random_uuid()::text, 'generated history',
              jsonb_build_object('kind', 'transfer', 'postings', jsonb_build_array(
                jsonb_build_object('account', 'sub:h' || g, 'amount', '1.250'), jsonb_build_object('account', 'main', 'amount', '-1.250'))), '', ''
         FROM generate_series(1, $2) AS g`,
      [providerAccount, Math.min(chunk, entries - done)]);
  }
}

// ------------------------------------------------------------------ figures

/**
 * The stack the execution scenarios (mixed, backlog) share: a bench database with a ledger
 * seeded for `subaccounts` empty sub-accounts, the sandbox, and the api started with the worker
 * stopped (the scenario starts it with startWorker(apps.env)) at C provider calls at once and R
 * calls/s. Calls `body` with what it needs, then tears everything down, whatever happened.
 */
async function withWorkerStack({ scenario, providerAccount, subaccounts, C, R }, body) {
  const { url, name } = await createBenchDatabase(scenario);
  const db = new Database(url, { max: 4 });
  const { sandbox, apiKey, subs } = await sandboxWith({ subaccounts, mainBalance: '1000000000.000', subBalance: () => '0' });
  let apps;
  try {
    await seedLedger(db, providerAccount, { mainBalance: '1000000000.000', subs });
    apps = await startApps({ databaseUrl: url, sandbox, apiKey, providerAccount, worker: false,
      env: { WORKER_CONCURRENCY: String(C), PROVIDER_RATE_LIMIT_PER_SECOND: String(R), OUTBOX_POLL_MS: '500', PROVIDER_TIMEOUT_MS: '5000', EXECUTION_LEASE_MS: '30000' } });
    const headers = { authorization: `Bearer ${TOKENS.operator}`, 'content-type': 'application/json' };
    return await body({ db, apps, sandbox, tokens: subs.map((s) => s.token), headers });
  } finally {
    if (apps) await apps.stop();
    await sandbox.close();
    await db.close();
    await dropDatabase(name);
  }
}

function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function summarize(latenciesMs) {
  const s = Float64Array.from(latenciesMs).sort();
  return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s.length ? s[s.length - 1] : NaN };
}

const fmt = (v, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : String(v));

/**
 * One figure next to its baseline, on one line that starts with FIGURE (what the smoke test
 * and docs/benchmarks.md read). `status` says whether the target was met.
 */
function figure(results, { scenario, name, value, unit, baseline, target, met, note }) {
  const line = [
    'FIGURE', `${scenario}.${name}`, `${fmt(value, value >= 100 ? 0 : value >= 10 ? 1 : 2)} ${unit}`,
    baseline ? `| baseline ${baseline.name}: ${fmt(baseline.value, baseline.value >= 100 ? 0 : baseline.value >= 10 ? 1 : 2)} ${baseline.unit}` : '| baseline -',
    target ? `| target ${target}` : '',
    met === undefined ? '' : met ? '| met' : '| MISSED',
    note ? `| ${note}` : '',
  ].filter(Boolean).join(' ');
  console.log(line);
  results.push({ scenario, name, value, unit, baseline, target, met, note });
}

function log(scenario, msg) {
  console.log(`[${scenario}] ${msg}`);
}

function pgbenchPath() {
  const which = spawnSync('sh', ['-c', 'command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | tail -1']);
  const p = which.stdout.toString().trim().split('\n').pop();
  return p || null;
}

/** CPU time a process has used so far, in ms (user + system, /proc/<pid>/stat; ticks of 10 ms). */
function processCpuMs(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

/**
 * CPU used so far, in ms, by each part of a bench stack: the API, the worker, this process
 * (the load clients and the provider sandbox), every PostgreSQL process, every Redis process.
 * Between two readings it says where a window's CPU went (processes that exit in between are
 * not counted).
 */
function cpuByPart(apps) {
  const out = { api: 0, worker: 0, 'bench (clients + sandbox)': processCpuMs(process.pid), postgres: 0, redis: 0 };
  if (apps.api) out.api = processCpuMs(apps.api.pid);
  if (apps.worker) out.worker = processCpuMs(apps.worker.pid);
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let comm;
    try { comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); } catch { continue; }
    const part = comm === 'postgres' ? 'postgres' : comm === 'redis-server' ? 'redis' : null;
    if (part) out[part] += processCpuMs(pid) || 0;
  }
  return out;
}

/** The CPU each part used between two cpuByPart() readings, in ms, divided by `per` (n transfers: ms per transfer). */
function cpuBetween(a, b, per = 1) {
  return Object.fromEntries(Object.keys(b).map((k) => [k, (b[k] - (a[k] || 0)) / Math.max(1, per)]));
}

/** The machine's busy and total CPU time so far, in ms (/proc/stat; all cores). */
function machineCpuMs() {
  const [, ...v] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const n = v.map(Number);
  const idle = n[3] + n[4];
  const total = n.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: (total - idle) * 10, total: total * 10 };
}

/** The share (0–1) of all cores that was busy between two machineCpuMs() readings. */
function busyShare(from, to) {
  return (to.busy - from.busy) / Math.max(1, to.total - from.total);
}

module.exports = {
  machineCpuMs, busyShare, cpuByPart, cpuBetween,
  withWorkerStack,
  ROOT, DIST, lib, Database, REDIS_URL, TOKENS, sleep, waitFor, freePort, createBenchDatabase, dropDatabase, dropAllCreated,
  AppProcess, startApps, startWorker, stopAll, sandboxWith, seedLedger, generateHistory, generateJournal, percentile, summarize, fmt, figure, log,
  pgbenchPath,
};
