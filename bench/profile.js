#!/usr/bin/env node
'use strict';
// Where the time goes in one scenario (backlog by default): the worker runs with V8's CPU
// profiler on (the same profile as `node --cpu-prof`, see lib/cpu-profile.js), and
// the scenario's database is sampled in pg_stat_activity every 20 ms (pg_stat_statements
// needs shared_preload_libraries, which a shared server may not have).
//   node bench/profile.js [backlog|mixed|executing] [--out=DIR]
// Prints the wait events of the worker's and the API's connections (share of samples), the
// worker's CPU by module (self time), and its heaviest functions. Needs dist/.
const { readdirSync, readFileSync, mkdirSync } = require('node:fs');
const { join, resolve } = require('node:path');
const env = require('./lib/env');

const scenario = process.argv.slice(2).find((a) => !a.startsWith('--')) ?? 'backlog';
const out = resolve(process.argv.slice(2).find((a) => a.startsWith('--out='))?.slice(6) ?? `bench-profile-${process.pid}`);
mkdirSync(out, { recursive: true });

// The worker process only: the API and this process are not profiled.
const startWorker = env.startWorker;
env.startWorker = (e) => startWorker({ ...e, NODE_OPTIONS: `--require ${join(__dirname, 'lib', 'cpu-profile.js')}`, CPU_PROFILE_DIR: out });

async function sample(stop) {
  const admin = new env.Database(process.env.BENCH_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres', { max: 1 });
  const counts = new Map();
  let n = 0;
  while (!stop.done) {
    const rows = await admin.query(
      `SELECT application_name AS app, CASE WHEN state LIKE 'idle in transaction%' THEN 'idle in transaction (waiting for the client)'
                WHEN wait_event IS NULL THEN 'running (CPU)' ELSE wait_event_type || ':' || wait_event END AS ev
         FROM pg_stat_activity WHERE datname LIKE $1 AND pid <> pg_backend_pid() AND application_name LIKE 'credit-ledger-%' AND state <> 'idle'`,
      [`credit_ledger_bench_${process.pid}_%`],
    ).catch(() => []);
    if (rows.length) n++;
    for (const r of rows) {
      const k = `${r.app.replace('credit-ledger-', '')} ${r.ev}`;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    await env.sleep(20);
  }
  await admin.close();
  return { n, counts };
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

async function main() {
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
  const { n, counts } = await sampling;
  console.log(`\npg_stat_activity, ${n} samples (20 ms apart) of the ${scenario} database's connections; connections in that state on average (100 % = one connection all the time):`);
  for (const [k, c] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`  ${(100 * c / Math.max(1, n)).toFixed(0).padStart(5)} %  ${k}`);
  for (const f of readdirSync(out).filter((x) => x.endsWith('.cpuprofile'))) console.log(`\n${summarizeProfile(join(out, f))}`);
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
