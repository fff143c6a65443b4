'use strict';
// 2. Executing transfers: pending → posted through the worker against the sandbox, at 0 ms
// and 50 ms provider latency (C = 4, R = 100/s), and at C = 32, R = 1,000/s where the ledger
// side, not the bound, is measured against the raw client's rate at the same C. 1,000
// sub-accounts, worker concurrency C and rate limit R.
// Throughput is measured on a backlog recorded while the worker is stopped; latency
// (request → posted, from the database's own timestamps) under an open-loop load at half
// the bound. Baselines: the bound min(C / latency, R) and the sandbox's own rate for C
// concurrent raw client calls, measured in the same run.
const env = require('../lib/env');
const { openLoop } = require('../lib/load');

const S = 'executing';
const PA = 'bench-exec';

async function rawProviderRate(sandbox, apiKey, tokens, { concurrency, durationMs }) {
  const { SmsPartnerClient } = env.lib('provider');
  const { Money } = env.lib('ledger');
  const client = new SmsPartnerClient({ baseUrl: sandbox.providerBaseUrl, apiKey, timeoutMs: 5000 });
  const amount = Money.parse('0.001');
  let n = 0;
  // C callers until the deadline; every answer must be ok.
  const callUntil = (deadline) => Promise.all(Array.from({ length: concurrency }, async () => {
    while (Date.now() < deadline) {
      const o = await client.addCredit(tokens[n++ % tokens.length], amount);
      if (o.kind !== 'ok') throw new Error(`raw provider call failed: ${JSON.stringify(o).slice(0, 300)}`);
    }
  }));
  // Warm first (the client and the sandbox share this process; cold, their first second is
  // slower, and the figure would depend on which levels ran before): 500 ms not counted.
  await callUntil(Date.now() + Math.min(500, durationMs / 4));
  n = 0;
  const t0 = Date.now();
  const cpu0 = env.machineCpuMs();
  await callUntil(t0 + durationMs);
  const cpu1 = env.machineCpuMs();
  rawProviderRate.last = { busyShare: env.busyShare(cpu0, cpu1), cpuMsPerCall: (cpu1.busy - cpu0.busy) / Math.max(1, n) };
  return n / ((Date.now() - t0) / 1000);
}

async function run(opts, results) {
  const smoke = opts.smoke;
  const nsubs = smoke ? 50 : 1000;
  const levels = smoke
    ? [{ C: 4, R: 100, L: 0 }, { C: 32, R: 1000, L: 0, wide: true }]
    : [{ C: 4, R: 100, L: 0 }, { C: 4, R: 100, L: 50 }, { C: 32, R: 1000, L: 0, wide: true }];
  // --levels=c4l0,c4l50,c32l0: only these levels (C and provider latency L in ms).
  const chosen = opts.flags?.levels ? levels.filter(({ C, L }) => opts.flags.levels.split(',').includes(`c${C}l${L}`)) : levels;
  const { url, name } = await env.createBenchDatabase(S);
  const db = new env.Database(url, { max: 4 });
  const { sandbox, apiKey, subs } = await env.sandboxWith({ subaccounts: nsubs, mainBalance: '1000000000.000', subBalance: () => '0' });
  let apps;
  try {
    await env.seedLedger(db, PA, { mainBalance: '1000000000.000', subs });
    const tokens = subs.map((s) => s.token);
    apps = await env.startApps({ databaseUrl: url, sandbox, apiKey, providerAccount: PA, worker: false,
      env: { OUTBOX_POLL_MS: '500', PROVIDER_TIMEOUT_MS: '5000', EXECUTION_LEASE_MS: '30000' } });
    const headers = { authorization: `Bearer ${env.TOKENS.operator}`, 'content-type': 'application/json' };
    let seq = 0;
    for (const { C, R, L, wide } of chosen) {
      sandbox.faults.clear();
      if (L > 0) sandbox.faults.add({ route: 'add', fault: 'latency', ms: L, probability: 1 });
      const bound = L > 0 ? Math.min(C / (L / 1000), R) : R;
      const raw = await rawProviderRate(sandbox, apiKey, tokens, { concurrency: C, durationMs: smoke ? 300 : 2000 });
      const rawCpu = rawProviderRate.last;

      // Throughput: a backlog of ~8 s of work at the bound (~5 s of the raw client's rate at
      // C = 32), recorded with the worker stopped.
      const n = smoke ? 30 : wide ? Math.round(Math.min(bound, raw) * 5) : Math.round(bound * 8);
      const items = Array.from({ length: n }, () => ({ subaccount: tokens[seq++ % tokens.length], direction: 'add', amount: '0.010' }));
      const [{ max: before }] = await db.query('SELECT coalesce(max(seq), 0)::bigint AS max FROM transfers');
      for (let i = 0; i < items.length; i += 2000) {
        const res = await fetch(`${apps.baseUrl}/v1/transfers/batch`, { method: 'POST', headers, body: JSON.stringify({ transfers: items.slice(i, i + 2000) }), signal: AbortSignal.timeout(300_000) });
        if (res.status !== 207) throw new Error(`batch: HTTP ${res.status} ${await res.text()}`);
      }
      apps.worker = await env.startWorker({ ...apps.env, WORKER_CONCURRENCY: String(C), PROVIDER_RATE_LIMIT_PER_SECOND: String(R) });
      const cpu0 = env.machineCpuMs();
      const workerCpu0 = apps.worker.cpuMs();
      await env.waitFor(async () => {
        const [{ left }] = await db.query(`SELECT count(*)::int AS left FROM transfers WHERE seq > $1 AND status NOT IN ('posted', 'failed', 'in_doubt', 'voided')`, [before]);
        return left === 0;
      }, Math.max(60_000, (n / bound) * 4000), `${n} transfers to finish at ${L} ms`, 200);
      const cpu1 = env.machineCpuMs();
      const workerCpuMs = apps.worker.cpuMs() - workerCpu0;
      const done = await db.query(`SELECT status, extract(epoch FROM updated_at)::float8 AS at FROM transfers WHERE seq > $1 ORDER BY updated_at`, [before]);
      const posted = done.filter((r) => r.status === 'posted');
      if (posted.length !== n) throw new Error(`${n - posted.length} of ${n} transfers did not post at ${L} ms: ${JSON.stringify(done.filter((r) => r.status !== 'posted').slice(0, 3))}`);
      // Steady state: the middle 80% of completions (start-up and tail excluded).
      const lo = Math.floor(n * 0.1);
      const hi = Math.ceil(n * 0.9) - 1;
      const rate = (hi - lo) / Math.max(1e-3, posted[hi].at - posted[lo].at);
      // The CPU budget: what one posted transfer costs the whole machine (worker, Postgres,
      // Redis, the sandbox in this process) against what one raw call costs it.
      const cores = require('node:os').cpus().length;
      const machineMsPerTransfer = (cpu1.busy - cpu0.busy) / n;
      env.log(S, `C=${C} ${L} ms: machine busy ${(100 * env.busyShare(cpu0, cpu1)).toFixed(0)} % of ${cores} cores; `
        + `${machineMsPerTransfer.toFixed(2)} ms of machine CPU per posted transfer (worker ${(workerCpuMs / n).toFixed(2)} ms), ceiling ${(cores * 1000 / machineMsPerTransfer).toFixed(0)}/s; `
        + `raw client: ${rawCpu.cpuMsPerCall.toFixed(2)} ms per call at ${(100 * rawCpu.busyShare).toFixed(0)} % busy`);
      if (wide) {
        // The ledger side against the raw client at the same C. The issue set R far above
        // what the ledger made then; the note says how close R itself now is, and when half
        // the raw client's rate is above R the target is out of any design's reach here
        // (posted/s cannot pass the rate limit).
        const aboveR = 0.5 * raw > R;
        env.figure(results, { scenario: S, name: `c${C}.latency${L}ms.throughput`, value: rate, unit: 'posted/s',
          baseline: { name: `raw client at C=${C} (no ledger)`, value: raw, unit: 'calls/s' },
          target: `>= 50% of the raw client (${(0.5 * raw).toFixed(0)}/s)`, met: rate >= 0.5 * raw,
          note: `${(100 * rate / raw).toFixed(0)}% of the raw client, ${(100 * rate / R).toFixed(0)}% of R=${R}/s`
            + `${aboveR ? ' (half the raw client is above R: out of reach at this level)' : ''}; ${n} transfers` });
        await apps.worker.stop();
        apps.worker = null;
        continue;
      }
      env.figure(results, { scenario: S, name: `latency${L}ms.throughput`, value: rate, unit: 'posted/s',
        baseline: { name: `bound min(C/latency, R) with C=${C}, R=${R}/s`, value: bound, unit: '/s' },
        target: `>= 90% of bound (${(0.9 * bound).toFixed(0)}/s)`, met: rate >= 0.9 * bound,
        note: `${(100 * rate / bound).toFixed(0)}% of bound; raw sandbox at C=${C}: ${raw.toFixed(0)} calls/s; ${n} transfers` });

      // Latency: open-loop POST /v1/transfers at half the bound; request → posted. The target
      // is for a load under the bound: first one rate-limit window (1 s) with nothing to do,
      // so that the backlog's last second does not count against the first requests.
      await new Promise((r) => setTimeout(r, 1500));
      const rps = smoke ? 10 : bound / 2;
      const [{ max: before2 }] = await db.query('SELECT coalesce(max(seq), 0)::bigint AS max FROM transfers');
      const answers = await openLoop({
        baseUrl: apps.baseUrl, ratePerSecond: rps, durationMs: smoke ? 1000 : 8000,
        request: () => ({ method: 'POST', path: '/v1/transfers', headers, body: JSON.stringify({ subaccount: tokens[seq++ % tokens.length], direction: 'add', amount: '0.010' }) }),
      });
      const refused = answers.filter((a) => a.status !== 202);
      if (refused.length) throw new Error(`${refused.length} recordings refused: ${refused[0].status} ${refused[0].text.slice(0, 300)}`);
      await env.waitFor(async () => {
        const [{ left }] = await db.query(`SELECT count(*)::int AS left FROM transfers WHERE seq > $1 AND status NOT IN ('posted', 'failed', 'in_doubt', 'voided')`, [before2]);
        return left === 0;
      }, 60_000, 'the latency transfers to finish', 200);
      const lat = await db.query(`SELECT status, extract(epoch FROM updated_at - created_at)::float8 * 1000 AS ms FROM transfers WHERE seq > $1`, [before2]);
      const s = env.summarize(lat.filter((r) => r.status === 'posted').map((r) => r.ms));
      // Where the time goes, from the journal: recorded → claimed (relay/queue, rate limiter,
      // claim) and claimed → posted (provider call, settlement group).
      const stages = await db.query(
        `SELECT extract(epoch FROM e.recorded_at - t.created_at)::float8 * 1000 AS queued, extract(epoch FROM t.updated_at - e.recorded_at)::float8 * 1000 AS called
           FROM transfers t JOIN LATERAL (SELECT min(j.recorded_at) AS recorded_at FROM journal_entries j
                                            WHERE j.entity_type = 'transfer' AND j.entity_id = t.id::text AND j.action = 'transfer.executing') e ON true
          WHERE t.seq > $1 AND t.status = 'posted'`, [before2]);
      const q = env.summarize(stages.map((r) => r.queued));
      const c = env.summarize(stages.map((r) => r.called));
      env.log(S, `C=${C} ${L} ms: request → claimed p50 ${env.fmt(q.p50)} / p99 ${env.fmt(q.p99)} ms; claimed → posted p50 ${env.fmt(c.p50)} / p99 ${env.fmt(c.p99)} ms`);
      const limit = 2 * L + 100;
      env.figure(results, { scenario: S, name: `latency${L}ms.request_to_posted`, value: s.p99, unit: 'ms p99',
        baseline: { name: 'provider latency', value: L, unit: 'ms' },
        target: `< 2 × latency + 100 ms (${limit} ms)`, met: s.p99 < limit,
        note: `p50 ${env.fmt(s.p50)} ms, max ${env.fmt(s.max)} ms; ${s.n} transfers at ${env.fmt(rps, 0)}/s offered` });
      await apps.worker.stop();
      apps.worker = null;
    }
  } finally {
    if (apps) await apps.stop();
    await sandbox.close();
    await db.close();
    await env.dropDatabase(name);
  }
}

module.exports = { name: S, run };
