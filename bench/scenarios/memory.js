'use strict';
// 5. Memory. (a) API and worker resident memory (VmRSS) sampled every second while
// transfers flow through the whole pipeline (16 clients POST /v1/transfers, the worker
// executes them against the sandbox at 0 ms), up to BENCH_MEMORY_TRANSFERS (100,000) or
// BENCH_MEMORY_SECONDS, whichever comes first; growth is reported per 10,000 transfers.
// (b) The API's RSS while GET /v1/journal?format=csv streams a journal that records
// 1,000,000 postings. Baseline: each process's RSS when idle, before the load.
const http = require('node:http');
const env = require('../lib/env');
const { closedLoop } = require('../lib/load');

const S = 'memory';
const PA = 'bench-mem';

function sampler(procs, everyMs) {
  const samples = [];
  const t0 = Date.now();
  const take = () => samples.push({ t: (Date.now() - t0) / 1000, ...Object.fromEntries(Object.entries(procs).map(([k, p]) => [k, p.rssMb()])) });
  take();
  const timer = setInterval(take, everyMs);
  return { samples, stop: () => { clearInterval(timer); take(); return samples; } };
}

async function run(opts, results) {
  const smoke = opts.smoke;
  const maxTransfers = smoke ? 300 : Number(process.env.BENCH_MEMORY_TRANSFERS ?? 100_000);
  const maxSeconds = smoke ? 2 : Number(process.env.BENCH_MEMORY_SECONDS ?? 150);
  const journalPostings = smoke ? 5_000 : 1_000_000;
  const { url, name } = await env.createBenchDatabase(S);
  const db = new env.Database(url, { max: 4 });
  const { sandbox, apiKey, subs } = await env.sandboxWith({ subaccounts: smoke ? 50 : 1000, mainBalance: '1000000000.000', subBalance: () => '0' });
  let apps;
  try {
    await env.seedLedger(db, PA, { mainBalance: '1000000000.000', subs });
    apps = await env.startApps({ databaseUrl: url, sandbox, apiKey, providerAccount: PA,
      env: { WORKER_CONCURRENCY: '8', PROVIDER_RATE_LIMIT_PER_SECOND: '1000', OUTBOX_POLL_MS: '1000', PROVIDER_TIMEOUT_MS: '5000', EXECUTION_LEASE_MS: '30000', ...(process.env.BENCH_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS } : {}) } });
    await env.sleep(1000);
    const idle = { api: apps.api.rssMb(), worker: apps.worker.rssMb() };
    const mon = sampler({ api: apps.api, worker: apps.worker }, 1000);
    const headers = { authorization: `Bearer ${env.TOKENS.operator}`, 'content-type': 'application/json' };
    const tokens = subs.map((s) => s.token);
    const runId = Date.now().toString(36);
    const load = await closedLoop({
      baseUrl: apps.baseUrl, clients: 16, durationMs: maxSeconds * 1000, warmupMs: 0, maxRequests: maxTransfers,
      request: (i) => ({ method: 'POST', path: '/v1/transfers', headers: { ...headers, 'idempotency-key': `m-${runId}-${i}` },
        body: JSON.stringify({ subaccount: tokens[i % tokens.length], direction: 'add', amount: '0.010' }) }),
    });
    const recorded = load.statuses[202] ?? 0;
    // Let the worker drain (bounded), still sampling.
    const drainEnd = Date.now() + (smoke ? 20_000 : 60_000);
    let left = Infinity;
    while (Date.now() < drainEnd) {
      [{ left }] = await db.query(`SELECT count(*)::int AS left FROM transfers WHERE status IN ('pending', 'executing')`);
      if (left === 0) break;
      await env.sleep(500);
    }
    const samples = mon.stop();
    const [{ posted }] = await db.query(`SELECT count(*)::int AS posted FROM transfers WHERE status = 'posted'`);
    env.log(S, `${recorded} transfers recorded in ${load.elapsedS.toFixed(0)} s (${load.rps.toFixed(0)}/s), ${posted} posted, ${left} still pending after the drain`);
    for (const k of ['api', 'worker']) {
      const series = samples.map((s) => s[k]).filter(Number.isFinite);
      const peak = Math.max(...series);
      const last = series[series.length - 1];
      // Growth: least-squares slope of RSS over the second half of the samples, per 10,000 transfers.
      const tail = samples.slice(Math.floor(samples.length / 2)).filter((s) => Number.isFinite(s[k]));
      const mx = tail.reduce((a, s) => a + s.t, 0) / tail.length;
      const my = tail.reduce((a, s) => a + s[k], 0) / tail.length;
      const slopePerS = tail.reduce((a, s) => a + (s.t - mx) * (s[k] - my), 0) / Math.max(1e-9, tail.reduce((a, s) => a + (s.t - mx) ** 2, 0));
      const perTenK = slopePerS * (10_000 / Math.max(1, (k === 'api' ? recorded : posted) / (samples[samples.length - 1].t || 1)));
      env.figure(results, { scenario: S, name: `${k}.rss_after_${recorded}_transfers`, value: peak, unit: 'MB peak RSS',
        baseline: { name: `${k} idle RSS`, value: idle[k], unit: 'MB' },
        target: '< 300 MB, not growing', met: peak < 300,
        note: `last ${env.fmt(last)} MB; trend over the second half ${recorded >= 5000 ? `${slopePerS >= 0 ? '+' : ''}${env.fmt(perTenK, 1)} MB per 10k transfers` : 'n/a (too few transfers)'}; ${samples.length} samples: ${series.filter((_, i) => i % Math.max(1, Math.floor(series.length / 8)) === 0).map((v) => v.toFixed(0)).join(' ')}` });
    }

    // (b) Journal export: top the journal up to 1,000,000 postings, then stream it as CSV.
    // The worker stops first: its transactions would queue behind the generator on the
    // journal head (and hold main's balance row meanwhile).
    await apps.worker.stop();
    const [{ entries, ledger_postings }] = await db.query(`SELECT (SELECT count(*) FROM journal_entries)::int AS entries, (SELECT count(*) FROM postings)::int AS ledger_postings`);
    const extra = Math.max(0, Math.ceil((journalPostings - ledger_postings) / 2));
    const t0 = Date.now();
    await env.generateJournal(db, PA, extra);
    env.log(S, `journal: ${entries} entries from the pipeline (${ledger_postings} postings) + ${extra} generated entries of 2 postings in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await env.sleep(2000);
    const before = apps.api.rssMb();
    const mon2 = sampler({ api: apps.api }, 200);
    const u = new URL(apps.baseUrl);
    const t1 = Date.now();
    const { bytes, lines } = await new Promise((resolve, reject) => {
      http.get({ host: u.hostname, port: u.port, path: '/v1/journal?format=csv', headers: { authorization: `Bearer ${env.TOKENS.viewer}` }, timeout: 600_000 }, (res) => {
        if (res.statusCode !== 200) return reject(new Error(`journal export: HTTP ${res.statusCode}`));
        let b = 0;
        let l = 0;
        let quoted = false; // a CSV field may hold a newline inside quotes
        res.on('data', (c) => {
          b += c.length;
          if (process.env.BENCH_SAVE_CSV) require('node:fs').appendFileSync(process.env.BENCH_SAVE_CSV, c);
          for (let i = 0; i < c.length; i++) {
            if (c[i] === 34) quoted = !quoted;
            else if (c[i] === 10 && !quoted) l++;
          }
        });
        res.on('end', () => resolve({ bytes: b, lines: l }));
        res.on('error', reject);
      }).on('error', reject);
    });
    const secs = (Date.now() - t1) / 1000;
    const s2 = mon2.stop().map((s) => s.api).filter(Number.isFinite);
    const [{ total }] = await db.query('SELECT count(*)::int AS total FROM journal_entries');
    if (lines !== total + 1) throw new Error(`export had ${lines} lines for ${total} journal entries`);
    const peak = Math.max(...s2);
    env.figure(results, { scenario: S, name: 'journal_csv_export', value: peak, unit: 'MB peak API RSS',
      baseline: { name: 'API RSS before the export', value: before, unit: 'MB' }, target: '< 150 MB', met: peak < 150,
      note: `+${env.fmt(peak - before)} MB over idle; ${total} entries (${ledger_postings + extra * 2} postings), ${(bytes / 1e6).toFixed(0)} MB in ${secs.toFixed(1)} s (${(bytes / 1e6 / secs).toFixed(0)} MB/s)` });
  } finally {
    if (apps) await apps.stop();
    await sandbox.close();
    await db.close();
    await env.dropDatabase(name);
  }
}

module.exports = { name: S, run };
