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

    const recorded = async () => (await db.query('SELECT count(*)::int AS n FROM transfers'))[0].n;
    const cpuA0 = env.machineCpuMs();
    const partsA0 = env.cpuByPart(apps);
    const recordedA0 = await recorded();
    const alone = await load();
    const recordedA1 = await recorded();
    const partsA1 = env.cpuByPart(apps);
    const cpuA1 = env.machineCpuMs();
    const aloneRate = (alone.statuses[202] ?? 0) / alone.elapsedS;
    const aloneLat = env.summarize(alone.latencies);
    if (!alone.statuses[202]) throw new Error(`no transfer recorded alone: ${JSON.stringify(alone.statuses)}\n${apps.api.text().slice(-2000)}`);

    apps.worker = await env.startWorker(apps.env);
    await env.sleep(smoke ? 500 : 2000); // the worker's start-up is the backlog scenario's subject, not this one's
    const [{ n: postedBefore, at: t0 }] = await db.query(`SELECT count(*)::int AS n, extract(epoch FROM now())::float8 AS at FROM transfers WHERE status = 'posted'`);
    const cpuM0 = env.machineCpuMs();
    const partsM0 = env.cpuByPart(apps);
    const recordedM0 = await recorded();
    const wallM0 = Date.now();
    const mixed = await load();
    const wallMs = Date.now() - wallM0;
    const recordedM1 = await recorded();
    const partsM1 = env.cpuByPart(apps);
    const cpuM1 = env.machineCpuMs();
    const [{ n: postedAfter, at: t1 }] = await db.query(`SELECT count(*)::int AS n, extract(epoch FROM now())::float8 AS at FROM transfers WHERE status = 'posted'`);
    const execRate = (postedAfter - postedBefore) / Math.max(1e-3, t1 - t0);
    const mixedRate = (mixed.statuses[202] ?? 0) / mixed.elapsedS;
    const mixedLat = env.summarize(mixed.latencies);
    const busy = (a, b) => (100 * env.busyShare(a, b)).toFixed(0);
    env.log(S, `machine busy: ${busy(cpuA0, cpuA1)} % of all cores recording alone, ${busy(cpuM0, cpuM1)} % mixed`);
    // Where the CPU went, and what it allows: recording's CPU per transfer (alone) and what the
    // rest of the mixed window's CPU cost per executed transfer give the most recording the
    // machine's cores could hold beside execution at this rate, with every core busy. Counted
    // over the whole of each window (its warm-up included) from the transfers in the database.
    const executed = postedAfter - postedBefore;
    const sum = (o) => Object.values(o).reduce((a, b) => a + b, 0);
    const perRecorded = env.cpuBetween(partsA0, partsA1, recordedA1 - recordedA0);
    const mixedCpu = env.cpuBetween(partsM0, partsM1);
    const perExecuted = (sum(mixedCpu) - (recordedM1 - recordedM0) * sum(perRecorded)) / Math.max(1, executed);
    const cores = require('node:os').availableParallelism();
    const ceiling = (cores * wallMs - executed * perExecuted) / sum(perRecorded) / (wallMs / 1000);
    const parts = (o, n) => Object.entries(o).map(([k, v]) => `${k} ${(v / n).toFixed(2)}`).join(', ');
    env.log(S, `CPU per recorded transfer, recording alone (ms): ${parts(perRecorded, 1)}; total ${sum(perRecorded).toFixed(2)} ms`);
    env.log(S, `CPU of the mixed window, cores busy: ${parts(mixedCpu, wallMs)}; total ${(sum(mixedCpu) / wallMs).toFixed(2)}`);
    env.log(S, `so ~${perExecuted.toFixed(2)} ms of CPU per executed transfer (the mixed window's CPU less its recorded transfers at their alone cost); ${cores} cores all busy would hold at most ~${ceiling.toFixed(0)} recorded/s (${(100 * ceiling / aloneRate).toFixed(0)} % of alone) beside ${(executed / (wallMs / 1000)).toFixed(0)} executed/s`);
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
