'use strict';
// 4. Reads: GET balance and a statement page (the last ~100 entries of the busiest account,
// main) through the API, p99 over sequential requests, with 10,000 and then 1,000,000
// postings in the ledger. Baseline: GET /health/live in the same loop (the HTTP floor).
const http = require('node:http');
const env = require('../lib/env');

const S = 'reads';
const PA = 'bench-reads';

function get(agent, baseUrl, path) {
  const u = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    http.get({ host: u.hostname, port: u.port, path, agent, headers: { authorization: `Bearer ${env.TOKENS.viewer}` } }, (res) => {
      let n = 0;
      res.on('data', (c) => { n += c.length; });
      res.on('end', () => (res.statusCode === 200 ? resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, bytes: n }) : reject(new Error(`${path}: HTTP ${res.statusCode}`))));
    }).on('error', reject);
  });
}

async function measure(db, baseUrl, label, results, requests) {
  const [main] = await db.query(`SELECT id FROM ledger_accounts WHERE provider_account_id = $1 AND code = 'main'`, [PA]);
  const [edge] = await db.query(`SELECT posted_at FROM account_entries WHERE account_id = $1 ORDER BY posted_at DESC, id DESC OFFSET 99 LIMIT 1`, [main.id]);
  const [{ n: postings }] = await db.query('SELECT count(*)::int AS n FROM postings');
  const from = new Date(Math.floor(edge.posted_at.getTime()));
  const paths = {
    health: '/health/live',
    balance: '/v1/accounts/main/balance',
    balanceAt: `/v1/accounts/main/balance?at=${encodeURIComponent(new Date(from.getTime() + 1).toISOString())}`,
    statement: `/v1/accounts/main/statement?from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`,
  };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const lat = { health: [], balance: [], balanceAt: [], statement: [] };
  let bytes = 0;
  for (let i = 0; i < Math.min(50, requests); i++) for (const k of Object.keys(paths)) await get(agent, baseUrl, paths[k]); // warm-up
  for (let i = 0; i < requests; i++) {
    for (const k of Object.keys(paths)) {
      const r = await get(agent, baseUrl, paths[k]);
      lat[k].push(r.ms);
      if (k === 'statement') bytes = r.bytes;
    }
  }
  agent.destroy();
  const [{ lines }] = await db.query(`SELECT count(*)::int AS lines FROM account_entries WHERE account_id = $1 AND posted_at >= $2`, [main.id, from]);
  const h = env.summarize(lat.health);
  for (const k of ['balance', 'balanceAt', 'statement']) {
    const s = env.summarize(lat[k]);
    env.figure(results, { scenario: S, name: `${label}.${k}`, value: s.p99, unit: 'ms p99',
      baseline: { name: 'GET /health/live p99', value: h.p99, unit: 'ms' }, target: '< 5 ms', met: s.p99 < 5,
      note: `p50 ${env.fmt(s.p50, 2)} ms; ${postings} postings in the ledger${k === 'statement' ? `; page of ${lines} lines, ${bytes} bytes` : ''}` });
  }
}

async function run(opts, results) {
  const smoke = opts.smoke;
  const sizes = smoke ? [{ label: '1k', postings: 1_000 }, { label: '5k', postings: 5_000 }] : [{ label: '10k', postings: 10_000 }, { label: '1M', postings: 1_000_000 }];
  const requests = smoke ? 30 : 1000;
  const { url, name } = await env.createBenchDatabase(S);
  const db = new env.Database(url, { max: 4 });
  const { sandbox, apiKey } = await env.sandboxWith({ subaccounts: [] });
  let apps;
  try {
    const subs = Array.from({ length: 1000 }, (_, i) => ({ token: `h${i}`, balance: '0' }));
    await env.seedLedger(db, PA, { mainBalance: '1000000000.000', subs });
    apps = await env.startApps({ databaseUrl: url, sandbox, apiKey, providerAccount: PA, worker: false });
    const tokens = subs.map((s) => s.token);
    let have = 4; // the opening balance of main (2 postings) and the seed
    for (const size of sizes) {
      const need = Math.max(0, size.postings - have);
      const t0 = Date.now();
      // Two streams on disjoint accounts (transfers against main, purchases against funding),
      // so they never wait on each other's row locks.
      const half = Math.floor(need / 4);
      await Promise.all([
        env.generateHistory(db, PA, { transactions: need / 2 - half, tokens: tokens.slice(0, 500), counterparty: 'main' }),
        env.generateHistory(db, PA, { transactions: half, tokens: tokens.slice(500), counterparty: 'funding' }),
      ]);
      have += need;
      env.log(S, `history: +${need} postings in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      await db.query('ANALYZE');
      await measure(db, apps.baseUrl, size.label, results, requests);
    }
  } finally {
    if (apps) await apps.stop();
    await sandbox.close();
    await db.close();
    await env.dropDatabase(name);
  }
}

module.exports = { name: S, run };
