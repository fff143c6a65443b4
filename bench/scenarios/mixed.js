'use strict';
// 6. Mixed load: recording at 64 clients while the worker executes at full rate, beside
// recording alone (worker stopped) in the same run. The worker is started on the backlog the
// first phase left (more than R per second of work), so it executes at its bound for the
// whole measured window. Target: >= 70% of the recording-alone rate, p99 < 100 ms.
const env = require('../lib/env');
const { closedLoop } = require('../lib/load');

const S = 'mixed';
const PA = 'bench-mixed';

async function run(opts, results) {
  const smoke = opts.smoke;
  const clients = smoke ? 8 : 64;
  const seconds = smoke ? 2 : 8;
  const nsubs = smoke ? 50 : 1000;
  const C = 16;
  const R = 400;
  await env.withWorkerStack({ scenario: S, providerAccount: PA, subaccounts: nsubs, C, R }, async ({ db, apps, tokens, headers }) => {
    const runId = Date.now().toString(36);
    let seq = 0;
    const load = () => closedLoop({
      baseUrl: apps.baseUrl, clients, durationMs: seconds * 1000, warmupMs: smoke ? 300 : 1500,
      request: () => ({ method: 'POST', path: '/v1/transfers', headers: { ...headers, 'idempotency-key': `mx-${runId}-${seq}` },
        body: JSON.stringify({ subaccount: tokens[seq++ % tokens.length], direction: 'add', amount: '0.010' }) }),
    });

    const cpuA0 = env.machineCpuMs();
    const alone = await load();
    const cpuA1 = env.machineCpuMs();
    const aloneRate = (alone.statuses[202] ?? 0) / alone.elapsedS;
    const aloneLat = env.summarize(alone.latencies);
    if (!alone.statuses[202]) throw new Error(`no transfer recorded alone: ${JSON.stringify(alone.statuses)}\n${apps.api.text().slice(-2000)}`);

    apps.worker = await env.startWorker(apps.env);
    await env.sleep(smoke ? 500 : 2000); // the worker's start-up is the backlog scenario's subject, not this one's
    const [{ n: postedBefore, at: t0 }] = await db.query(`SELECT count(*)::int AS n, extract(epoch FROM now())::float8 AS at FROM transfers WHERE status = 'posted'`);
    const cpuM0 = env.machineCpuMs();
    const mixed = await load();
    const cpuM1 = env.machineCpuMs();
    const [{ n: postedAfter, at: t1 }] = await db.query(`SELECT count(*)::int AS n, extract(epoch FROM now())::float8 AS at FROM transfers WHERE status = 'posted'`);
    const execRate = (postedAfter - postedBefore) / Math.max(1e-3, t1 - t0);
    const mixedRate = (mixed.statuses[202] ?? 0) / mixed.elapsedS;
    const mixedLat = env.summarize(mixed.latencies);
    const busy = (a, b) => (100 * env.busyShare(a, b)).toFixed(0);
    env.log(S, `machine busy: ${busy(cpuA0, cpuA1)} % of all cores recording alone, ${busy(cpuM0, cpuM1)} % mixed`);
    env.log(S, `alone ${JSON.stringify(alone.statuses)}; mixed ${JSON.stringify(mixed.statuses)}; executed meanwhile ${(postedAfter - postedBefore)} (${execRate.toFixed(0)}/s)`);
    env.figure(results, { scenario: S, name: `c${clients}.recording_throughput`, value: mixedRate, unit: 'transfers/s',
      baseline: { name: 'recording alone (worker stopped), same run', value: aloneRate, unit: 'transfers/s' },
      target: '>= 70% of recording alone', met: mixedRate >= 0.7 * aloneRate,
      note: `${(100 * mixedRate / aloneRate).toFixed(0)}% of alone; worker C=${C}, R=${R}/s posted ${execRate.toFixed(0)}/s meanwhile` });
    env.figure(results, { scenario: S, name: `c${clients}.recording_latency`, value: mixedLat.p99, unit: 'ms p99',
      baseline: { name: 'recording alone p99', value: aloneLat.p99, unit: 'ms' },
      target: '< 100 ms', met: mixedLat.p99 < 100,
      note: `p50 ${env.fmt(mixedLat.p50)} ms (alone p50 ${env.fmt(aloneLat.p50)} ms); errors ${mixed.errors}` });
    env.figure(results, { scenario: S, name: 'executing_throughput', value: execRate, unit: 'posted/s',
      baseline: { name: `bound R with C=${C}`, value: R, unit: '/s' },
      note: 'executed while recording at full load (not a target of its own)' });
  });
}

module.exports = { name: S, run };
