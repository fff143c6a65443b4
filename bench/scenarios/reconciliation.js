'use strict';
// 3. Reconciliation. (a) The ledger side of a run over 100,000 sub-accounts that already
// have observations: RunReconciliationUseCase.execute against an in-memory provider (reading
// costs nothing, so the time is the ledger's: start, expected balances, observations, drift,
// findings, items, the completed run returned), beside the same comparison as one set-based
// SQL statement; target: at most twice that floor. (b) End to end
// through the API with the sandbox serving the list 20 per page at 0 ms, 10,000
// sub-accounts, beside the time to page through that list alone.
const env = require('../lib/env');

const S = 'reconciliation';

/** 1% of the accounts drift: the provider shows 1.000 more than the ledger. */
const drifted = (i) => i % 100 === 7;
const balanceOf = (i) => `${(i % 500) + 1}.250`;
const plusOne = (s) => { const [a, b] = s.split('.'); return `${Number(a) + 1}.${b}`; };

function memoryProvider(main, items) {
  const { Money } = env.lib('ledger');
  const pageSize = 1000;
  return {
    async me() {
      return { kind: 'ok', body: { username: 'bench', firstname: 'b', lastname: 'b', balance: Money.parse(main), currency: 'EUR' } };
    },
    async listSubaccounts(page) {
      const slice = items.slice((page - 1) * pageSize, page * pageSize);
      return { kind: 'ok', body: { total: items.length, perPage: pageSize, page, items: slice } };
    },
  };
}

async function ledgerSide(opts, results) {
  const n = opts.smoke ? 500 : 100_000;
  const PA = 'bench-rec-ledger';
  const { url, name } = await env.createBenchDatabase(`${S}_ledger`);
  const db = new env.Database(url, { max: 4 });
  try {
    const { Money } = env.lib('ledger');
    const subs = Array.from({ length: n }, (_, i) => ({ token: `r${i}`, balance: balanceOf(i) }));
    const main = '5000000.000';
    let t = Date.now();
    await env.seedLedger(db, PA, { mainBalance: main, subs });
    // Observations already there (one earlier reading per account).
    await db.query(
      `INSERT INTO observations (provider_account_id, account_id, source, balance, expected, settled)
       SELECT a.provider_account_id, a.id, 'list', b.debits_posted - b.credits_posted, b.debits_posted - b.credits_posted, true
         FROM ledger_accounts a JOIN balances b ON b.account_id = a.id WHERE a.provider_account_id = $1 AND a.kind = 'subaccount'`, [PA]);
    env.log(S, `seeded ${n} sub-accounts with opening balances and observations in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    const items = subs.map((s, i) => ({ token: s.token, email: `${s.token}@bench.test`, type: 'simple', createdAt: '2026-01-01 00:00:00', balance: Money.parse(drifted(i) ? plusOne(s.balance) : s.balance) }));
    const { LedgerRepository } = env.lib('persistence');
    const { ResolveTransferUseCase, TransfersRepository } = env.lib('transfers');
    const { RunReconciliationUseCase } = env.lib('reconciliation');
    const ledger = new LedgerRepository(db);
    const uc = new RunReconciliationUseCase(db, ledger, memoryProvider(main, items), new ResolveTransferUseCase(db, ledger, new TransfersRepository(db)), { tolerance: '0.001', inDoubtGraceMs: 0 });
    t = Date.now();
    const run = await uc.execute({ providerAccount: PA, trigger: 'manual', actor: 'bench:reconciliation' });
    const runMs = Date.now() - t;
    const expectedDrift = subs.filter((_, i) => drifted(i)).length;
    if (run.status !== 'completed' || run.summary.drifted !== expectedDrift || run.summary.matched !== n + 1 - expectedDrift) {
      throw new Error(`unexpected run: ${run.status} ${run.error ?? ''} ${JSON.stringify(run.summary)}`);
    }
    // Baseline: the same comparison (expected from balances vs the reading, drift beyond
    // tolerance) as one set-based statement over the same reading.
    t = Date.now();
    const [cmp] = await db.query(
      `WITH r AS (SELECT * FROM unnest($2::text[], $3::numeric[]) AS r(code, observed))
       SELECT count(*)::int AS accounts, count(*) FILTER (WHERE abs(r.observed - (b.debits_posted - b.credits_posted)) > 0.001)::int AS drifted
         FROM ledger_accounts a JOIN balances b ON b.account_id = a.id JOIN r ON r.code = a.code
        WHERE a.provider_account_id = $1`,
      [PA, items.map((x) => `sub:${x.token}`), items.map((x) => x.balance.toFixed())]);
    const baseMs = Date.now() - t;
    if (cmp.drifted !== expectedDrift) throw new Error(`baseline found ${cmp.drifted} drifts, expected ${expectedDrift}`);
    const evidenceMs = await evidenceWrites(db, PA, items);
    env.log(S, `the run's evidence alone (one observation and one item per account, set-based, rolled back): ${evidenceMs} ms = ${(evidenceMs / baseMs).toFixed(1)}x the floor`);
    env.figure(results, { scenario: S, name: `ledger_side_${n}`, value: runMs, unit: 'ms',
      baseline: { name: 'same comparison as one set-based SQL statement', value: baseMs, unit: 'ms' },
      // Issue 16: the ledger side within twice its one-statement floor of the same run.
      target: n === 100_000 ? `<= 2x the floor (${2 * baseMs} ms)` : undefined, met: n === 100_000 ? runMs <= 2 * baseMs : undefined,
      note: `${run.summary.accounts} accounts, ${run.summary.drifted} findings opened` });
  } finally {
    await db.close();
    await env.dropDatabase(name);
  }
}

/**
 * What the database alone needs to keep a run's evidence: the reading staged from the same
 * arrays as the floor, one observation per account (expected from the balance) and one item
 * per account, as set-based statements in one transaction, rolled back. No JavaScript
 * evaluation, no findings, no journal: the least any run that keeps per-account evidence writes.
 */
async function evidenceWrites(db, PA, items) {
  const t = Date.now();
  await db.transaction(async (tx) => {
    const [{ id: runId }] = await tx.query(
      `INSERT INTO reconciliation_runs (id, provider_account_id, status, trigger, actor, tolerance) VALUES (gen_random_uuid(), $1, 'running', 'manual', 'bench:floor', 0.001) RETURNING id`, [PA]);
    await tx.query(
      `WITH r AS (SELECT * FROM unnest($2::text[], $3::numeric[]) AS r(code, observed)),
            o AS (INSERT INTO observations (provider_account_id, account_id, source, balance, expected, settled, read_started_at)
                  SELECT $1, a.id, 'list', r.observed, b.debits_posted - b.credits_posted, true, clock_timestamp()
                    FROM ledger_accounts a JOIN balances b ON b.account_id = a.id JOIN r ON r.code = a.code
                   WHERE a.provider_account_id = $1
                  RETURNING id, account_id, balance, expected)
       INSERT INTO reconciliation_items (run_id, account_id, account_code, source, observation_id, expected, observed, drift, status)
       SELECT $4, o.account_id, a.code, 'list', o.id, o.expected, o.balance, o.balance - o.expected,
              CASE WHEN abs(o.balance - o.expected) > 0.001 THEN 'drift' ELSE 'matched' END
         FROM o JOIN ledger_accounts a ON a.id = o.account_id`,
      [PA, items.map((x) => `sub:${x.token}`), items.map((x) => x.balance.toFixed()), runId]);
    throw ROLLBACK;
  }).catch((err) => { if (err !== ROLLBACK) throw err; });
  return Date.now() - t;
}
const ROLLBACK = new Error('rollback');

async function endToEnd(opts, results) {
  const n = opts.smoke ? 100 : 10_000;
  const PA = 'bench-rec-e2e';
  const { url, name } = await env.createBenchDatabase(`${S}_e2e`);
  const db = new env.Database(url, { max: 4 });
  const main = '5000000.000';
  const { sandbox, apiKey, subs } = await env.sandboxWith({ subaccounts: n, mainBalance: main, subBalance: balanceOf });
  let apps;
  try {
    // The ledger as an import left it, except 1% of the accounts, 1.000 below the provider.
    await env.seedLedger(db, PA, { mainBalance: main, subs: subs.map((s, i) => ({ token: s.token, balance: drifted(i) ? (Number(s.balance) - 1).toFixed(3) : s.balance })) });
    apps = await env.startApps({ databaseUrl: url, sandbox, apiKey, providerAccount: PA, worker: false, env: { RECONCILE_IN_DOUBT_GRACE_MS: '0', PROVIDER_TIMEOUT_MS: '10000', EXECUTION_LEASE_MS: '25000' } });
    // Baseline: paging through the list alone (what the provider read costs).
    const { SmsPartnerClient, listAllSubaccounts } = env.lib('provider');
    const client = new SmsPartnerClient({ baseUrl: sandbox.providerBaseUrl, apiKey, timeoutMs: 10_000 });
    let t = Date.now();
    const listing = await listAllSubaccounts(client);
    if (listing.kind !== 'ok') throw new Error(`listing sub-accounts: ${listing.problem}`);
    const listed = listing.items;
    const listMs = Date.now() - t;
    if (listed.length !== n) throw new Error(`listed ${listed.length} of ${n}`);
    t = Date.now();
    const res = await fetch(`${apps.baseUrl}/v1/reconciliations`, { method: 'POST', headers: { authorization: `Bearer ${env.TOKENS.operator}` } });
    const started = await res.json();
    if (res.status !== 202) throw new Error(`start: ${res.status} ${JSON.stringify(started)}`);
    let run;
    await env.waitFor(async () => {
      [run] = await db.query('SELECT status, accounts, matched, drifted, error FROM reconciliation_runs WHERE id = $1', [started.id]);
      return run.status !== 'running';
    }, 300_000, 'the reconciliation run', 100);
    const e2eMs = Date.now() - t;
    const expectedDrift = subs.filter((_, i) => drifted(i)).length;
    if (run.status !== 'completed' || run.drifted !== expectedDrift) throw new Error(`run ${run.status}: ${run.error ?? ''} drifted ${run.drifted}/${expectedDrift}`);
    env.figure(results, { scenario: S, name: `end_to_end_${n}`, value: e2eMs, unit: 'ms',
      baseline: { name: `listing ${Math.ceil(n / 20)} pages of 20 from the sandbox alone`, value: listMs, unit: 'ms' },
      target: n === 10_000 ? '< 30000 ms' : undefined, met: n === 10_000 ? e2eMs < 30_000 : undefined,
      note: `${run.accounts} accounts, ${run.drifted} drifted` });
  } finally {
    if (apps) await apps.stop();
    await sandbox.close();
    await db.close();
    await env.dropDatabase(name);
  }
}

async function run(opts, results) {
  await ledgerSide(opts, results);
  await endToEnd(opts, results);
}

module.exports = { name: S, run };
