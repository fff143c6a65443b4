#!/usr/bin/env node
'use strict';
// Where the time goes in one scenario (backlog by default): the worker runs with V8's CPU
// profiler on (the same profile as `node --cpu-prof`, see lib/cpu-profile.js), and
// the scenario's database is sampled in pg_stat_activity every 20 ms (pg_stat_statements
// needs shared_preload_libraries, which a shared server may not have).
//   node bench/profile.js [backlog|mixed|executing] [--out=DIR] [--statements]
// --statements: also the scenario database's statements from pg_stat_statements (calls, plan
// and execution time, top-level ones first), reset when the scenario starts. The server of
// BENCH_PG_URL must have it in shared_preload_libraries (docs/benchmarks.md, "Profiling").
// Prints the wait events of the worker's and the API's connections (share of samples), the
// worker's CPU by module (self time), and its heaviest functions. Needs dist/.
const { readdirSync, readFileSync, mkdirSync } = require('node:fs');
const { join, resolve } = require('node:path');
const env = require('./lib/env');

const scenario = process.argv.slice(2).find((a) => !a.startsWith('--')) ?? 'backlog';
const withStatements = process.argv.includes('--statements');
const out = resolve(process.argv.slice(2).find((a) => a.startsWith('--out='))?.slice(6) ?? `bench-profile-${process.pid}`);
mkdirSync(out, { recursive: true });

// The worker process only: the API and this process are not profiled.
const startWorker = env.startWorker;
env.startWorker = (e) => startWorker({ ...e, NODE_OPTIONS: `--require ${join(__dirname, 'lib', 'cpu-profile.js')}`, CPU_PROFILE_DIR: out });

const adminUrl = () => process.env.BENCH_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

async function sample(stop) {
  const admin = new env.Database(adminUrl(), { max: 1 });
  const counts = new Map();
  const databases = new Set(); // the scenario's database, dropped by the scenario itself: its oid names its statements
  let n = 0;
  while (!stop.done) {
    const rows = await admin.query(
      `SELECT datid::text AS datid, application_name AS app, CASE WHEN state LIKE 'idle in transaction%' THEN 'idle in transaction (waiting for the client)'
                WHEN wait_event IS NULL THEN 'running (CPU)' ELSE wait_event_type || ':' || wait_event END AS ev
         FROM pg_stat_activity WHERE datname LIKE $1 AND pid <> pg_backend_pid() AND application_name LIKE 'credit-ledger-%' AND state <> 'idle'`,
      [`credit_ledger_bench_${process.pid}_%`],
    ).catch(() => []);
    if (rows.length) n++;
    for (const r of rows) {
      databases.add(r.datid);
      const k = `${r.app.replace('credit-ledger-', '')} ${r.ev}`;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    await env.sleep(20);
  }
  await admin.close();
  return { n, counts, databases };
}

function summarizeProfile(file) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((nd) => [nd.id, nd]));
  const self = new Map();
  const dt = p.timeDeltas;
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (dt[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const modules = new Map();
  const fns = new Map();
  for (const [id, us] of self) {
    const f = byId.get(id).callFrame;
    const url = f.url || `(${f.functionName || 'native'})`;
    const mod = url.includes('node_modules/') ? url.split('node_modules/').pop().split('/').slice(0, url.includes('node_modules/@') ? 2 : 1).join('/')
      : url.includes('/dist/') ? `dist/${url.split('/dist/').pop().split('/').slice(0, 3).join('/')}` : url.startsWith('node:') ? url : url;
    modules.set(mod, (modules.get(mod) ?? 0) + us);
    const fk = `${f.functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
    fns.set(fk, (fns.get(fk) ?? 0) + us);
  }
  const top = (m, k) => [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name, us]) => `  ${(100 * us / total).toFixed(1).padStart(5)} %  ${name}`).join('\n');
  const idle = [...self].filter(([id]) => byId.get(id).callFrame.functionName === '(idle)').reduce((a, [, us]) => a + us, 0);
  return `worker profile ${file}: ${(total / 1e6).toFixed(1)} s sampled, ${(100 * idle / total).toFixed(0)} % idle\nby module (self time):\n${top(modules, 12)}\nheaviest functions:\n${top(fns, 15)}`;
}

/** Resets pg_stat_statements, or says why it cannot be read on this server. */
async function resetStatements() {
  const admin = new env.Database(adminUrl(), { max: 1 });
  try {
    const [{ loaded }] = await admin.query(`SELECT 'pg_stat_statements' = ANY(string_to_array(current_setting('shared_preload_libraries'), ',')) AS loaded`);
    if (!loaded) { console.error('--statements: pg_stat_statements is not in shared_preload_libraries of the BENCH_PG_URL server (docs/benchmarks.md, "Profiling")'); process.exit(2); }
    await admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    await admin.query('SELECT pg_stat_statements_reset()');
  } finally {
    await admin.close();
  }
}

/** The scenario database's statements, heaviest first (read before the database is dropped). */
async function readStatements(databases) {
  const admin = new env.Database(adminUrl(), { max: 1 });
  try {
    return await admin.query(
      `SELECT s.toplevel, s.calls::bigint::text AS calls, s.rows::bigint::text AS rows, round(s.total_plan_time::numeric) AS plan_ms, round(s.total_exec_time::numeric) AS exec_ms,
              left(regexp_replace(s.query, '\\s+', ' ', 'g'), 100) AS query
         FROM pg_stat_statements s
        WHERE s.dbid = ANY($1::oid[]) ORDER BY s.toplevel DESC, s.total_plan_time + s.total_exec_time DESC LIMIT 40`,
      [[...databases]],
    );
  } finally {
    await admin.close();
  }
}

function printStatements(rows) {
  const top = rows.filter((r) => r.toplevel);
  const sum = (k) => top.reduce((a, r) => a + Number(r[k]), 0);
  console.log(`
pg_stat_statements of the ${scenario} database: top-level statements (plan ${sum('plan_ms')} ms, execution ${sum('exec_ms')} ms in all; execution includes lock waits), then those run inside triggers and functions:`);
  for (const r of rows.slice(0, 30)) {
    console.log(`  ${r.toplevel ? 'top ' : 'in  '} ${r.calls.padStart(7)} calls ${String(r.plan_ms).padStart(6)} ms plan ${String(r.exec_ms).padStart(6)} ms exec ${r.rows.padStart(7)} rows  ${r.query}`);
  }
}

async function main() {
  if (withStatements) await resetStatements();
  const stop = { done: false };
  const sampling = sample(stop);
  const results = [];
  try {
    await require(`./scenarios/${scenario}`).run({ smoke: false, flags: {} }, results);
  } finally {
    stop.done = true;
    await env.stopAll();
    await env.dropAllCreated();
  }
  const { n, counts, databases } = await sampling;
  const statements = withStatements ? await readStatements(databases).catch((err) => { console.error(`pg_stat_statements: ${err.message}`); return null; }) : null;
  console.log(`\npg_stat_activity, ${n} samples (20 ms apart) of the ${scenario} database's connections; connections in that state on average (100 % = one connection all the time):`);
  for (const [k, c] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`  ${(100 * c / Math.max(1, n)).toFixed(0).padStart(5)} %  ${k}`);
  for (const f of readdirSync(out).filter((x) => x.endsWith('.cpuprofile'))) console.log(`\n${summarizeProfile(join(out, f))}`);
  if (statements) printStatements(statements);
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
