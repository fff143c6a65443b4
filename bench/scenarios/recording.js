'use strict';
// 1. Recording transfers: POST /v1/transfers (with Idempotency-Key) at 16/64/256 clients,
// each level followed at once by pgbench doing the same ledger work as raw SQL on the same
// database; then POST /v1/transfers/batch with 10,000 items beside the same 10,000 as one
// set-based SQL transaction.
const { execFileSync } = require('node:child_process');
const { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const env = require('../lib/env');
const { closedLoop, requestOnce } = require('../lib/load');

const S = 'recording';
const PA = 'bench-rec';

// The ledger work of one recorded transfer, as the service does it in one transaction
// (lock the two balance rows in id order, ledger transaction, two postings whose triggers
// move the hot main account's reservation, the transfer/outbox row), without the reads.
// pgbench takes any ":name" as a variable, even inside a literal: hence chr(58) for ':'.
const PGBENCH_CORE = `
\\set s random(0, :nsubs - 1)
\\set amt random(1, 1000)
BEGIN;
SELECT b.account_id FROM balances b JOIN ledger_accounts a ON a.id = b.account_id WHERE a.provider_account_id = :pa AND a.code IN ('main', 'sub' || chr(58) || 'b' || CAST(:s AS text)) ORDER BY b.account_id FOR UPDATE OF b;
SELECT gen_random_uuid() AS tid, gen_random_uuid() AS xid \\gset
INSERT INTO ledger_transactions (id, provider_account_id, kind, state, actor, reason) VALUES (CAST(:tid AS uuid), :pa, 'transfer', 'pending', 'bench-pgbench', 'add');
INSERT INTO postings (transaction_id, account_id, amount) SELECT CAST(:tid AS uuid), a.id, CASE WHEN a.code = 'main' THEN -(CAST(:amt AS numeric) / 1000) ELSE CAST(:amt AS numeric) / 1000 END FROM ledger_accounts a WHERE a.provider_account_id = :pa AND a.code IN ('main', 'sub' || chr(58) || 'b' || CAST(:s AS text)) ORDER BY a.id;
INSERT INTO transfers (id, provider_account_id, subaccount_token, direction, amount, status, idempotency_key, request_hash, ledger_transaction_id, expires_at, created_by) VALUES (CAST(:xid AS uuid), :pa, 'b' || CAST(:s AS text), 'add', CAST(:amt AS numeric) / 1000, 'pending', CAST(:xid AS text), 'pgbench', CAST(:tid AS uuid), now() + interval '1 day', 'bench-pgbench');
@JOURNAL@
END;
`;
// The service also appends two hash-chained journal entries per transfer.
const JOURNAL = `INSERT INTO journal_entries (sequence, provider_account_id, recorded_at, actor, action, entity_type, entity_id, data, prev_hash, hash) VALUES (0, :pa, now(), 'bench-pgbench', 'ledger_transaction.reserved', 'ledger_transaction', CAST(:tid AS text), '{}', '', '');
INSERT INTO journal_entries (sequence, provider_account_id, recorded_at, actor, action, entity_type, entity_id, data, prev_hash, hash) VALUES (0, :pa, now(), 'bench-pgbench', 'transfer.recorded', 'transfer', CAST(:xid AS text), '{}', '', '');`;

function pgbench(dbUrl, { clients, seconds, journal, nsubs }) {
  const bin = env.pgbenchPath();
  if (!bin) throw new Error('pgbench not found (PATH or /usr/lib/postgresql/*/bin)');
  const dir = mkdtempSync(join(tmpdir(), 'bench-pgbench-'));
  try {
    const script = join(dir, 'transfer.sql');
    writeFileSync(script, PGBENCH_CORE.replace('@JOURNAL@', journal ? JOURNAL : ''));
    const u = new URL(dbUrl);
    const out = execFileSync(bin, ['-n', '-M', 'prepared', '-c', String(clients), '-j', '2', '-T', String(seconds), '-f', script,
      '-D', `pa=${PA}`, '-D', `nsubs=${nsubs}`, '-l', '--log-prefix', join(dir, 'log'),
      '-h', u.hostname, '-p', u.port || '5432', '-U', decodeURIComponent(u.username || 'postgres'), u.pathname.slice(1)],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: (seconds + 60) * 1000 });
    const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(out)?.[1]);
    const failed = Number(/number of failed transactions: (\d+)/.exec(out)?.[1] ?? 0);
    const lat = [];
    for (const f of readdirSync(dir).filter((n) => n.startsWith('log'))) {
      for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
        const cols = line.split(' ');
        if (cols.length > 3 && cols[3] === '0') lat.push(Number(cols[2]) / 1000);
      }
    }
    return { tps, failed, ...env.summarize(lat) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function run(opts, results) {
  const smoke = opts.smoke;
  // --levels=16,64 (or --levels=none: the batch only); --batch=N items (default 10,000).
  const flagLevels = opts.flags?.levels;
  const levels = flagLevels ? flagLevels.split(',').filter((l) => l !== 'none').map(Number) : smoke ? [4] : [16, 64, 256];
  const seconds = smoke ? 1 : 8;
  const nsubs = smoke ? 50 : 1000;
  const batchSize = opts.flags?.batch ? Number(opts.flags.batch) : smoke ? 200 : 10_000;
  const { url, name } = await env.createBenchDatabase(S);
  const db = new env.Database(url, { max: 4 });
  const { sandbox, apiKey } = await env.sandboxWith({ subaccounts: [] });
  let apps;
  try {
    const subs = Array.from({ length: nsubs }, (_, i) => ({ token: `b${i}`, balance: '0' }));
    await env.seedLedger(db, PA, { mainBalance: '1000000000.000', subs });
    // Recording only: the worker is not started, so its provider calls do not compete.
    // BENCH_NODE_OPTIONS is passed to the api (a CPU profile: see bench/lib/cpu-profile.js).
    apps = await env.startApps({ databaseUrl: url, sandbox, apiKey, providerAccount: PA, worker: false,
      env: process.env.BENCH_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS, ...(process.env.CPU_PROFILE_DIR ? { CPU_PROFILE_DIR: process.env.CPU_PROFILE_DIR } : {}) } : {} });
    const headers = { authorization: `Bearer ${env.TOKENS.operator}`, 'content-type': 'application/json' };
    let keySeq = 0;
    const runId = Date.now().toString(36);
    for (const clients of levels) {
      const r = await closedLoop({
        baseUrl: apps.baseUrl, clients, durationMs: seconds * 1000, warmupMs: smoke ? 300 : 1500, maxRequests: 2_000_000,
        request: (i) => {
          const amount = `${(i % 997) + 1}`.padStart(4, '0');
          return { method: 'POST', path: '/v1/transfers', headers: { ...headers, 'idempotency-key': `k-${runId}-${keySeq++}` },
            body: JSON.stringify({ subaccount: `b${i % nsubs}`, direction: 'add', amount: `${amount.slice(0, -3)}.${amount.slice(-3)}` }) };
        },
      });
      const s = env.summarize(r.latencies);
      const ok = r.statuses[202] ?? 0;
      env.log(S, `${clients} clients: ${r.latencies.length} answered in ${r.elapsedS.toFixed(1)} s, statuses ${JSON.stringify(r.statuses)}`);
      if (ok === 0) throw new Error(`no transfer recorded at ${clients} clients: ${JSON.stringify(r.statuses)}\n${apps.api.text().slice(-2000)}`);
      const pgClients = Math.min(clients, 64); // max_connections is 100 on this machine
      const core = pgbench(url, { clients: pgClients, seconds, journal: false, nsubs });
      const full = pgbench(url, { clients: pgClients, seconds, journal: true, nsubs });
      const rate = (ok / r.elapsedS);
      env.figure(results, { scenario: S, name: `c${clients}.throughput`, value: rate, unit: 'transfers/s',
        baseline: { name: `pgbench core SQL, ${pgClients} conns`, value: core.tps, unit: 'tps' },
        target: '>= baseline', met: rate >= core.tps, note: `pgbench incl. 2 journal rows: ${env.fmt(full.tps, 0)} tps; errors ${r.errors}` });
      env.figure(results, { scenario: S, name: `c${clients}.latency`, value: s.p99, unit: 'ms p99',
        baseline: { name: 'pgbench core SQL p99', value: core.p99, unit: 'ms' },
        target: clients === 64 ? '< 50 ms at 64 clients' : undefined, met: clients === 64 ? s.p99 < 50 : undefined,
        note: `p50 ${env.fmt(s.p50)} ms (pgbench p50 ${env.fmt(core.p50, 2)} ms; incl. journal p50 ${env.fmt(full.p50, 2)} / p99 ${env.fmt(full.p99, 2)} ms)` });
    }

    // The batch endpoint: 10,000 items in one request.
    const items = Array.from({ length: batchSize }, (_, i) => ({ subaccount: `b${i % nsubs}`, direction: 'add', amount: '0.010', idempotencyKey: `batch-${runId}-${i}` }));
    const t0 = Date.now();
    const res = await requestOnce(apps.baseUrl, { method: 'POST', path: '/v1/transfers/batch', headers, body: JSON.stringify({ transfers: items }) })
      .catch((err) => { throw new Error(`batch request failed after ${Date.now() - t0} ms: ${err.message}`); });
    const body = JSON.parse(res.text);
    const batchMs = Date.now() - t0;
    const recorded = (body.results ?? []).filter((x) => x.status === 202).length;
    if (res.status !== 207 || recorded !== batchSize) throw new Error(`batch: HTTP ${res.status}, ${recorded}/${batchSize} recorded: ${JSON.stringify(body).slice(0, 500)}`);
    const baseMs = await setBasedBatch(db, batchSize, nsubs);
    const journalMs = await setBasedBatch(db, batchSize, nsubs, { journal: true });
    env.log(S, `batch floor ${baseMs} ms; the same with the two hash-chained journal entries the product keeps per transfer: ${journalMs} ms `
      + `(${(journalMs / baseMs).toFixed(2)}x the floor); the batch: ${batchMs} ms`);
    env.figure(results, { scenario: S, name: `batch${batchSize}`, value: batchMs, unit: 'ms',
      baseline: { name: 'same items as one set-based SQL transaction', value: baseMs, unit: 'ms' },
      target: '<= 1.5x baseline', met: batchMs <= 1.5 * baseMs,
      note: `${(batchMs / baseMs).toFixed(2)}x the baseline; ${(batchSize / (batchMs / 1000)).toFixed(0)} items/s` });
  } finally {
    if (apps) await apps.stop();
    await sandbox.close();
    await db.close();
    await env.dropDatabase(name);
  }
}

/**
 * The floor for a batch: the same ledger rows, set-based, one transaction (no journal). With
 * `journal`, also the two entries the product appends per transfer (`ledger_transaction.reserved`,
 * `transfer.recorded`) through the journal's chain trigger.
 */
async function setBasedBatch(db, n, nsubs, { journal = false } = {}) {
  const t0 = Date.now();
  await db.transaction(async (tx) => {
    await tx.query(
      `CREATE TEMP TABLE b ON COMMIT DROP AS
         SELECT gen_random_uuid() AS tid, gen_random_uuid() AS xid, 'b' || (g % $2) AS token, 0.010::numeric(20,3) AS amount FROM generate_series(0, $1 - 1) g`,
      [n, nsubs]);
    await tx.query(`SELECT b.account_id FROM balances b JOIN ledger_accounts a ON a.id = b.account_id WHERE a.provider_account_id = $1 ORDER BY b.account_id FOR UPDATE OF b`, [PA]);
    await tx.query(`INSERT INTO ledger_transactions (id, provider_account_id, kind, state, actor) SELECT tid, $1, 'transfer', 'pending', 'bench:set' FROM b`, [PA]);
    await tx.query(
      `INSERT INTO postings (transaction_id, account_id, amount)
       SELECT b.tid, s.id, b.amount FROM b JOIN ledger_accounts s ON s.provider_account_id = $1 AND s.code = 'sub:' || b.token
       UNION ALL SELECT b.tid, m.id, -b.amount FROM b, ledger_accounts m WHERE m.provider_account_id = $1 AND m.code = 'main'`, [PA]);
    await tx.query(
      `INSERT INTO transfers (id, provider_account_id, subaccount_token, direction, amount, status, ledger_transaction_id, expires_at, created_by)
       SELECT xid, $1, token, 'add', amount, 'pending', tid, now() + interval '1 day', 'bench:set' FROM b`, [PA]);
    if (!journal) return;
    await tx.query(
      `INSERT INTO journal_entries (sequence, provider_account_id, recorded_at, actor, action, entity_type, entity_id, data, prev_hash, hash)
       SELECT 0, $1, now(), 'bench:set', e.action, e.entity_type, e.entity_id, e.data, '', ''
         FROM (SELECT 1 AS k, b.tid AS ord, 'ledger_transaction.reserved' AS action, 'ledger_transaction' AS entity_type, b.tid::text AS entity_id,
                      jsonb_build_object('kind', 'transfer', 'postings', jsonb_build_array(jsonb_build_object('account', 'sub:' || b.token, 'amount', b.amount::text),
                                                                                       jsonb_build_object('account', 'main', 'amount', (-b.amount)::text))) AS data FROM b
               UNION ALL
               SELECT 2, b.tid, 'transfer.recorded', 'transfer', b.xid::text,
                      jsonb_build_object('subaccount', b.token, 'direction', 'add', 'amount', b.amount::text, 'ledgerTransactionId', b.tid) FROM b) e
        ORDER BY e.k, e.ord`, [PA]);
  });
  return Date.now() - t0;
}

module.exports = { name: S, run };
