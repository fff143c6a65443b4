#!/usr/bin/env node
// `npm start`: the whole system on one machine with nothing configured. Builds (prepare.js),
// finds or starts Postgres and Redis, applies migrations, starts the provider sandbox, the API
// and the worker as child processes, imports the sandbox's sub-accounts and prints where to
// look. Ctrl-C stops everything and exits 0; if any process dies, everything stops, exit 1.
// Plain CommonJS with no dependency loaded before prepare.js has installed them.
'use strict';
const { execFileSync, spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const readline = require('node:readline');
const { placeEmbeddedPostgres } = require('./embedded-postgres-place');

const root = path.join(__dirname, '..');
const dataDir = path.join(root, '.data');
const entry = (app) => path.join(root, 'dist', 'apps', app, 'src', 'main.js');
const children = []; // every process we spawned, in start order
let stopping = false;

const say = (msg) => console.log(`[start] ${msg}`);
const warn = (msg) => console.warn(`[start] warning: ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const colors = process.stdout.isTTY ? [36, 33, 35, 32, 34, 31] : [];

// ---- child processes -------------------------------------------------------------------
function launch(name, cmd, args, { env = process.env, service = true, stopSignal = 'SIGTERM', uid, gid } = {}) {
  if (stopping) throw new Error('stopping');
  // Own process group: a terminal Ctrl-C reaches only us, and we stop children in order.
  const proc = spawn(cmd, args, { cwd: root, env, uid, gid, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const color = colors[children.length % 6];
  const label = color ? `\x1b[${color}m${name.padEnd(8)}|\x1b[0m` : `${name.padEnd(8)}|`;
  for (const [from, to] of [[proc.stdout, process.stdout], [proc.stderr, process.stderr]]) {
    readline.createInterface({ input: from }).on('line', (line) => to.write(`${label} ${line}\n`));
  }
  const child = { name, proc, stopSignal, done: false };
  child.exited = new Promise((resolve) => {
    const finish = (code, signal, err) => {
      if (child.done) return;
      child.done = true;
      resolve({ code, signal, err });
    };
    proc.once('error', (err) => finish(null, null, err));
    proc.once('exit', (code, signal) => finish(code, signal));
  });
  if (service) {
    child.exited.then(({ code, signal, err }) => {
      if (stopping) return;
      console.error(`[start] ${name} ${err ? `could not start: ${err.message}` : `exited (${signal ?? `code ${code}`})`}; stopping everything`);
      shutdown(1);
    });
  }
  children.push(child);
  return child;
}

async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  for (const child of [...children].reverse()) {
    if (child.done) continue;
    try { child.proc.kill(child.stopSignal); } catch { /* already gone */ }
    const force = setTimeout(() => child.proc.kill('SIGKILL'), 15_000);
    await child.exited;
    clearTimeout(force);
  }
  process.exit(code);
}

// `npm start` forwards the terminal's SIGINT, so one Ctrl-C can arrive twice: later ones are ignored.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => { if (!stopping) say(`${sig}: stopping…`); shutdown(0); });
// npm does not pass on a SIGTERM sent to it (it just exits): when our parent goes away, stop too.
const parentPid = process.ppid;
setInterval(() => { if (process.ppid !== parentPid && !stopping) { say('parent process gone: stopping…'); shutdown(0); } }, 500).unref();
// Last resort (uncaught error): never leave a process behind.
process.on('exit', () => children.forEach((c) => c.done || c.proc.kill(c.stopSignal)));

// ---- small helpers ---------------------------------------------------------------------
const portFree = (port) => new Promise((resolve) => {
  const srv = net.createServer().once('error', () => resolve(false));
  srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
});
const freePort = () => new Promise((resolve, reject) => {
  const srv = net.createServer().once('error', reject);
  srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
});
const pickPort = async (preferred) => ((await portFree(preferred)) ? preferred : freePort());

async function waitFor(what, check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!stopping) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} not ready after ${timeoutMs / 1000} s`);
    await sleep(250);
  }
  throw new Error('stopping');
}
const hidePassword = (url) => url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:…@');
const httpOk = (url) => fetch(url, { signal: AbortSignal.timeout(2000) }).then((r) => r.status === 200);

function redisPing(url) {
  return new Promise((resolve) => {
    const u = new URL(url);
    const sock = net.connect(Number(u.port || 6379), u.hostname || '127.0.0.1');
    const done = (ok) => { sock.destroy(); resolve(ok); };
    sock.setTimeout(1000, () => done(false));
    sock.once('error', () => done(false));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.once('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

// ---- Postgres --------------------------------------------------------------------------
// The binaries of embedded-postgres, run by us rather than by its start(): that one installs
// process-wide signal handlers that exit with 130 and keeps postgres in our process group.
async function embeddedPostgres() {
  const bin = await import(`@embedded-postgres/${process.platform}-${process.arch}`).catch(() => {
    throw new Error(`no embedded PostgreSQL for ${process.platform}-${process.arch}: set DATABASE_URL to a PostgreSQL 16+ database`);
  });
  const nativeDir = path.dirname(path.dirname(bin.postgres));
  const { version } = JSON.parse(fs.readFileSync(path.join(nativeDir, '..', 'package.json'), 'utf8'));
  // As root: run as `postgres` (created if missing), with data and binaries where it can reach them.
  const place = placeEmbeddedPostgres({ root, nativeDir, version, say });
  const ids = place.ids;
  const dir = place.dataDir;
  const shown = path.relative(root, dir).startsWith('..') ? dir : path.relative(root, dir);
  if (!fs.existsSync(path.join(dir, 'PG_VERSION'))) {
    say(`initialising an embedded PostgreSQL in ${shown}${place.user ? ` (runs as "${place.user}")` : ''}`);
    const r = spawnSync(place.initdb, ['-D', dir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C'], { ...ids, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`initdb failed: ${r.error?.message ?? r.stderr}`);
  }
  const port = await pickPort(5432);
  const pg = launch('postgres', place.postgres, ['-D', dir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1',
    '-c', 'unix_socket_directories=', '-c', 'log_checkpoints=off'], { ...ids, stopSignal: 'SIGINT', env: { ...process.env, LC_MESSAGES: 'C' } });
  // Ready when our postmaster writes "ready" into postmaster.pid (what pg_ctl waits for).
  const ready = () => {
    const lines = fs.readFileSync(path.join(dir, 'postmaster.pid'), 'utf8').split('\n');
    return lines[0].trim() === String(pg.proc.pid) && lines[7]?.trim() === 'ready';
  };
  await waitFor('postgres', async () => ready(), 30_000);
  return { url: `postgresql://postgres@127.0.0.1:${port}/credit_ledger`, where: `embedded, data in ${shown}${place.user ? `, runs as "${place.user}"` : ''}` };
}

// ---- Redis -----------------------------------------------------------------------------
async function redis() {
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, where: 'from REDIS_URL' };
  if (await redisPing('redis://127.0.0.1:6379')) return { url: 'redis://127.0.0.1:6379', where: 'local server' };
  if (spawnSync('redis-server', ['--version']).error) {
    throw new Error('Redis is needed (BullMQ) and none answers on 127.0.0.1:6379. Install one (Debian/Ubuntu: '
      + 'apt-get install redis-server; macOS: brew install redis; or docker run -p 6379:6379 redis:7) or set REDIS_URL.');
  }
  const port = await freePort();
  launch('redis', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning']);
  const url = `redis://127.0.0.1:${port}`;
  await waitFor('redis', () => redisPing(url), 10_000);
  return { url, where: 'private redis-server, nothing persisted' };
}

// ---- development tokens ----------------------------------------------------------------
function apiTokens() {
  if (process.env.API_TOKENS) return process.env.API_TOKENS;
  const file = path.join(dataDir, 'dev-tokens'); // kept so that restarts keep the same tokens
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  const value = ['viewer', 'operator', 'admin'].map((r) => `${r}:dev-${r}-${crypto.randomBytes(12).toString('hex')}`).join(',');
  fs.writeFileSync(file, `${value}\n`, { mode: 0o600 });
  return value;
}
// ---- development journal signing key -----------------------------------------------------
// Signed digests of the journal chain head need an Ed25519 key. npm start makes a development
// key once and keeps it in .data/journal-signing-key.pem (mode 600); production must set
// JOURNAL_SIGNING_KEY itself (docs/operations.md).
function journalSigningKey() {
  if (process.env.JOURNAL_SIGNING_KEY) return { value: process.env.JOURNAL_SIGNING_KEY, where: 'from JOURNAL_SIGNING_KEY' };
  const file = path.join(dataDir, 'journal-signing-key.pem');
  if (!fs.existsSync(file)) {
    const { privateKey } = crypto.generateKeyPairSync('ed25519');
    fs.writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  }
  return { value: fs.readFileSync(file, 'utf8'), where: 'development key generated in .data/journal-signing-key.pem' };
}

const tokensByRole = (raw) => raw.split(',').map((p) => p.trim()).filter(Boolean).reduce((acc, p) => {
  const [role, token] = [p.slice(0, p.indexOf(':')), p.slice(p.indexOf(':') + 1)];
  acc[role] ??= token;
  return acc;
}, {});

// ---- main ------------------------------------------------------------------------------
async function main() {
  execFileSync(process.execPath, [path.join(__dirname, 'prepare.js')], { cwd: root, stdio: 'inherit' });
  const missing = ['sandbox', 'api', 'worker'].filter((app) => !fs.existsSync(entry(app)));
  if (missing.length) throw new Error(`not built: ${missing.map((a) => path.relative(root, entry(a))).join(', ')} (is apps/<app>/src/main.ts there?)`);
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o755 });

  const pg = process.env.DATABASE_URL ? { url: process.env.DATABASE_URL, where: 'from DATABASE_URL' } : await embeddedPostgres();
  const migrator = require(path.join(root, 'dist', 'libs', 'persistence', 'src', 'migrator.js'));
  await migrator.ensureDatabase(pg.url)
    .catch((err) => { if (!process.env.DATABASE_URL) throw err; warn(`could not create the database: ${err.message}`); });
  const rd = await redis();

  say('applying migrations');
  const cli = path.join(root, 'dist', 'apps', 'cli', 'src', 'main.js');
  if (fs.existsSync(cli)) {
    const { code, signal } = await launch('migrate', process.execPath, [cli, 'migrate'], { service: false, env: { ...process.env, DATABASE_URL: pg.url } }).exited;
    if (code !== 0) throw new Error(`migrations failed (${signal ?? `exit code ${code}`})`);
  } else {
    const { applied } = await migrator.migrate(pg.url);
    say(applied.length ? `applied ${applied.join(', ')}` : 'database is up to date');
  }

  const sandboxPort = Number(process.env.SANDBOX_PORT) || (await pickPort(4010));
  const sandboxUrl = `http://127.0.0.1:${sandboxPort}`;
  const sandboxKey = process.env.SANDBOX_API_KEY || 'sandbox-demo-key';
  // The demo's sandbox lives like a real provider account: sub-accounts with credit send an
  // SMS (0.045 €) every few seconds, the main account a little too, and its owner buys
  // credit now and then. SANDBOX_SPENDING=off turns it off; the SANDBOX_SPENDING_* variables
  // (docs/sandbox.md) change it.
  const spendingOff = (process.env.SANDBOX_SPENDING ?? '').toLowerCase() === 'off';
  const demoSpending = spendingOff ? {} : {
    SANDBOX_SPENDING_PER_SECOND: process.env.SANDBOX_SPENDING_PER_SECOND || '0.010',
    SANDBOX_SPENDING_MAIN_PER_SECOND: process.env.SANDBOX_SPENDING_MAIN_PER_SECOND || '0.005',
    SANDBOX_SPENDING_PURCHASE_AMOUNT: process.env.SANDBOX_SPENDING_PURCHASE_AMOUNT || '50',
    SANDBOX_SPENDING_PURCHASE_EVERY_SECONDS: process.env.SANDBOX_SPENDING_PURCHASE_EVERY_SECONDS || '900',
  };
  launch('sandbox', process.execPath, [entry('sandbox')], { env: { ...process.env, ...demoSpending, SANDBOX_PORT: String(sandboxPort), SANDBOX_API_KEY: sandboxKey,
    SANDBOX_MAIN_BALANCE: process.env.SANDBOX_MAIN_BALANCE || '1000.000', SANDBOX_SUBACCOUNTS: process.env.SANDBOX_SUBACCOUNTS || '3',
    SANDBOX_STATE_FILE: process.env.SANDBOX_STATE_FILE || path.join(dataDir, 'sandbox-state.json') } });
  await waitFor('sandbox', () => httpOk(`${sandboxUrl}/v1/me?apiKey=${encodeURIComponent(sandboxKey)}`), 20_000);

  const apiPort = Number(process.env.PORT) || (await pickPort(3000));
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const tokens = apiTokens();
  const signing = journalSigningKey();
  const appEnv = { ...process.env, DATABASE_URL: pg.url, REDIS_URL: rd.url, SMSPARTNER_BASE_URL: `${sandboxUrl}/v1`,
    SMSPARTNER_API_KEY: sandboxKey, API_TOKENS: tokens, RECONCILE_CRON: process.env.RECONCILE_CRON || '0 * * * *', JOURNAL_SIGNING_KEY: signing.value };
  launch('api', process.execPath, [entry('api')], { env: { ...appEnv, PORT: String(apiPort) } });
  const metricsPort = process.env.WORKER_METRICS_PORT || String(await pickPort(9464)); // 0 = none
  launch('worker', process.execPath, [entry('worker')], { env: { ...appEnv, WORKER_METRICS_PORT: metricsPort } });
  await waitFor('api (GET /health/ready)', () => httpOk(`${apiUrl}/health/ready`), 60_000);

  const roles = tokensByRole(tokens);
  if (!roles.admin) warn('no admin token in API_TOKENS: sub-accounts not imported');
  else {
    const res = await fetch(`${apiUrl}/v1/subaccounts/import`, { method: 'POST', headers: { authorization: `Bearer ${roles.admin}` } });
    if (res.status === 404) warn('POST /v1/subaccounts/import is not there yet: sub-accounts not imported');
    else if (!res.ok) warn(`sub-account import answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
    else say(`imported the sandbox's sub-accounts: ${(await res.text()).slice(0, 200)}`);
  }
  const list = await fetch(`${sandboxUrl}/v1/subaccount/list?apiKey=${encodeURIComponent(sandboxKey)}`).then((r) => r.json()).catch(() => ({}));
  const sub = list?.data?.[0]?.token ?? '<subaccount-token>';
  const op = roles.operator ?? roles.admin ?? roles.viewer ?? '<token>';

  console.log([
    '', '═'.repeat(78), ' Credit Ledger is running',
    `   API         ${apiUrl}`,
    `   API docs    ${apiUrl}/docs`,
    `   Dashboard   ${apiUrl}/dashboard`,
    `   Metrics     ${apiUrl}/metrics (api)${metricsPort === '0' ? '' : `, http://127.0.0.1:${metricsPort}/metrics (worker)`}`,
    `   Sandbox     ${sandboxUrl}/v1 (provider API, key ${sandboxKey}); state: ${sandboxUrl}/__sandbox/state`,
    `   Spending    ${spendingOff ? 'off (SANDBOX_SPENDING=off)' : `on: each sub-account with credit ${demoSpending.SANDBOX_SPENDING_PER_SECOND} €/s, main ${demoSpending.SANDBOX_SPENDING_MAIN_PER_SECOND} €/s, ${demoSpending.SANDBOX_SPENDING_PURCHASE_AMOUNT} € bought every ~${demoSpending.SANDBOX_SPENDING_PURCHASE_EVERY_SECONDS} s (SANDBOX_SPENDING=off to stop); ${sandboxUrl}/__sandbox/spending`}`,
    `   Postgres    ${hidePassword(pg.url)} (${pg.where})`,
    `   Redis       ${hidePassword(rd.url)} (${rd.where})`,
    `   Journal     signed digests: GET ${apiUrl}/v1/audit/digests (key: ${signing.where})`,
    ` Development tokens (Authorization: Bearer <token>)${process.env.API_TOKENS ? ', from API_TOKENS' : ', kept in .data/dev-tokens'}:`,
    ...Object.entries(roles).map(([role, token]) => `   ${role.padEnd(11)} ${token}`),
    ' Try:',
    `   curl -s -H 'Authorization: Bearer ${op}' ${apiUrl}/v1/subaccounts`,
    `   curl -s -X POST -H 'Authorization: Bearer ${op}' -H 'Content-Type: application/json' \\`,
    `        -d '{"subaccount":"${sub}","direction":"add","amount":"10.000"}' ${apiUrl}/v1/transfers`,
    `   curl -s -H 'Authorization: Bearer ${op}' '${apiUrl}/v1/transfers?subaccount=${sub}'`,
    ' Ctrl-C stops everything.', '═'.repeat(78), '',
  ].join('\n'));
}

main().catch((err) => {
  if (stopping) return;
  console.error(`[start] ${err.message}`);
  shutdown(1);
});
