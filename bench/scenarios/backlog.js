'use strict';
// 7. Backlog drain: 10,000 transfers recorded (worker stopped, jobs enqueued as the API
// does), then the worker starts. The rate per 10 s window is printed so a start-up stall
// shows. Target: >= 90% of the bound min(C / latency, R) from the first window on.
// 1,000 sub-accounts: ten transfers each, so the per-sub-account order matters.
const env = require('../lib/env');

const S = 'backlog';
const PA = 'bench-backlog';

async function run(opts, results) {
  const smoke = opts.smoke;
  const n = smoke ? 200 : Number(process.env.BENCH_BACKLOG_TRANSFERS ?? 10_000);
  const nsubs = smoke ? 50 : 1000;
  const windowS = smoke ? 1 : 10;
  const C = 16;
  const R = 400;
  await env.withWorkerStack({ scenario: S, providerAccount: PA, subaccounts: nsubs, C, R }, async ({ db, apps, tokens, headers }) => {
    const items = Array.from({ length: n }, (_, i) => ({ subaccount: tokens[i % tokens.length], direction: 'add', amount: '0.010' }));
    for (let i = 0; i < items.length; i += 2000) {
      const res = await fetch(`${apps.baseUrl}/v1/transfers/batch`, { method: 'POST', headers, body: JSON.stringify({ transfers: items.slice(i, i + 2000) }), signal: AbortSignal.timeout(300_000) });
      if (res.status !== 207) throw new Error(`batch: HTTP ${res.status} ${await res.text()}`);
    }
    const [{ at: started }] = await db.query('SELECT extract(epoch FROM now())::float8 AS at');
    const cpu0 = env.machineCpuMs();
    apps.worker = await env.startWorker(apps.env);
    const [{ at: ready }] = await db.query('SELECT extract(epoch FROM now())::float8 AS at');
    await env.waitFor(async () => {
      const [{ left }] = await db.query(`SELECT count(*)::int AS left FROM transfers WHERE status NOT IN ('posted', 'failed', 'in_doubt', 'voided')`);
      return left === 0;
    }, Math.max(120_000, n * 50), `${n} transfers to drain`, 250);
    const workerCpuMs = apps.worker.cpuMs();
    const cpu1 = env.machineCpuMs();
    const done = await db.query(`SELECT status, failure_reason, provider_message, extract(epoch FROM updated_at)::float8 AS at FROM transfers ORDER BY updated_at`);
    const posted = done.filter((r) => r.status === 'posted');
    if (posted.length !== n) throw new Error(`${n - posted.length} of ${n} transfers did not post: ${JSON.stringify(done.filter((r) => r.status !== 'posted').slice(0, 3))}`);
    const last = posted[posted.length - 1].at;
    const windows = [];
    for (let w = 0; started + w * windowS < last; w++) {
      const lo = started + w * windowS;
      windows.push(posted.filter((r) => r.at >= lo && r.at < lo + windowS).length / windowS);
    }
    const full = windows.length > 1 ? windows.slice(0, -1) : windows; // the last window is partial
    const total = n / Math.max(1e-3, last - started);
    env.log(S, `posted/s per ${windowS} s window from the worker's start: ${windows.map((w) => w.toFixed(0)).join(', ')}`);
    const firstSeconds = Array.from({ length: windowS }, (_, k) => posted.filter((r) => r.at >= started + k && r.at < started + k + 1).length);
    env.log(S, `posted per second in the first ${windowS} s: ${firstSeconds.join(', ')}`);
    env.log(S, `worker CPU ${(workerCpuMs / 1000).toFixed(1)} s for ${n} transfers (${(workerCpuMs / n).toFixed(2)} ms each, start-up included); machine busy ${(100 * env.busyShare(cpu0, cpu1)).toFixed(0)} % of all cores meanwhile`);
    env.log(S, `worker answering its health check ${(ready - started).toFixed(2)} s after its start; first transfer posted after ${(posted[0].at - started).toFixed(2)} s; 100th after ${(posted[Math.min(99, n - 1)].at - started).toFixed(2)} s`);
    env.figure(results, { scenario: S, name: 'first_window', value: windows[0], unit: 'posted/s',
      baseline: { name: `bound min(C/latency, R) with C=${C}, R=${R}/s`, value: R, unit: '/s' },
      target: `>= 90% of bound (${0.9 * R}/s) in the first ${windowS} s`, met: windows[0] >= 0.9 * R,
      note: `${(100 * windows[0] / R).toFixed(0)}% of bound; includes the worker's start-up` });
    env.figure(results, { scenario: S, name: 'drain', value: total, unit: 'posted/s',
      baseline: { name: `bound min(C/latency, R) with C=${C}, R=${R}/s`, value: R, unit: '/s' },
      target: `>= 90% of bound (${0.9 * R}/s) from the start`, met: total >= 0.9 * R,
      note: `${n} transfers in ${(last - started).toFixed(1)} s from the worker's start; slowest full window ${Math.min(...full).toFixed(0)}/s` });
  });
}

module.exports = { name: S, run };
