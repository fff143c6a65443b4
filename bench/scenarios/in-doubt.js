'use strict';
// 6. In-doubt transfers in a world that keeps spending (issue 13's measurement). The real
// stack (built api + worker, sandbox in this process) on 12 funded sub-accounts; the sandbox
// spends like the real provider (≈ 0.04 € a second per sub-account and on the main account);
// 20 % of add/remove calls fail in a way that leaves the transfer in doubt, split in three:
// "applied, answer lost" (apply_then_drop), applied then HTTP 500 (apply_then_http_500), and
// not applied (http_500 / drop_before_apply, half each). Transfers of 5–30 € are posted for
// --duration, then the run waits until grace + --wait has passed for the last in-doubt one.
// Reported per variant: in-doubt count, % resolved automatically within --wait after the grace
// (per transfer, from the moment it went in doubt), WRONG resolutions (posted but not in the
// sandbox's applied-credit log, or voided but in it) and transfers applied twice.
// Variants: spending (0.04 €/s), no_spending, undecidable (50 €/s: spending far above the
// amounts; expect 0 wrong, the rest left in doubt).
//
// npm run bench:in-doubt -- [--duration=75s] [--wait=60s] [--grace=30s] [--rate=4] [--faults=20]
//   [--variants=spending,no_spending,undecidable] [--subaccounts=12] [--seed=in-doubt]
//   [--barrier=close|on|off]    IN_DOUBT_BARRIER for the worker (default: the service's default)
//   [--drain=180s]              how long the recorded transfers may take to leave pending/executing
//   [--reconcile-after-grace]   also start one reconciliation run once the grace has passed
//                               for every in-doubt transfer (today's settling path; not "automatic")
const Decimal = require('decimal.js');
const env = require('../lib/env');
const { openLoop } = require('../lib/load');

const S = 'in-doubt';
const VARIANTS = {
  spending: { rate: '0.04', target: { resolvedPct: 99 }, label: 'spending 0.04 €/s per account' },
  no_spending: { rate: null, target: { resolvedPct: 100 }, label: 'no spending' },
  undecidable: { rate: '50', target: {}, label: 'spending 50 €/s per account (far above the amounts)' },
};

function duration(v, what) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(String(v));
  if (!m) throw new Error(`--${what}: expected a duration like 90s or 2m, got ${v}`);
  return Math.round(Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[m[2] ?? 's']);
}

function options(opts) {
  const f = opts.flags ?? {};
  const smoke = opts.smoke;
  const o = {
    durationMs: duration(f.duration ?? (smoke ? '10s' : '75s'), 'duration'),
    waitMs: duration(f.wait ?? (smoke ? '10s' : '60s'), 'wait'),
    graceMs: duration(f.grace ?? (smoke ? '5s' : '30s'), 'grace'),
    rate: Number(f.rate ?? 4),
    faultPct: Number(f.faults ?? 20),
    subaccounts: Number(f.subaccounts ?? 12),
    seed: f.seed ?? 'in-doubt',
    variants: (f.variants ?? Object.keys(VARIANTS).join(',')).split(',').map((v) => v.trim()).filter(Boolean),
    reconcileAfterGrace: f['reconcile-after-grace'] === 'true',
    barrier: f.barrier ?? null,
    drainMs: duration(f.drain ?? '180s', 'drain'),
  };
  if (o.barrier !== null && !['close', 'on', 'off'].includes(o.barrier)) throw new Error('--barrier: close, on or off (default: the service default)');
  if (!(o.rate > 0)) throw new Error('--rate: transfers per second, > 0');
  if (!(o.faultPct >= 0 && o.faultPct < 100)) throw new Error('--faults: a percentage in [0, 100)');
  if (!(Number.isInteger(o.subaccounts) && o.subaccounts > 0)) throw new Error('--subaccounts: a positive integer');
  const bad = o.variants.filter((v) => !VARIANTS[v]);
  if (bad.length || !o.variants.length) throw new Error(`--variants: any of ${Object.keys(VARIANTS).join(', ')}`);
  return o;
}

/**
 * Fault rules for one route: p/3 applied-then-lost, p/3 applied-then-500, p/6 HTTP 500 and p/6
 * dropped before applying. Rules are tried in order and the first that fires wins, so each
 * one's probability is its share of what the earlier ones left.
 */
function faultRules(route, pct, seed) {
  const shares = [['apply_then_drop', 1 / 3], ['apply_then_http_500', 1 / 3], ['http_500', 1 / 6], ['drop_before_apply', 1 / 6]];
  let left = 1;
  return shares.map(([fault, share], i) => {
    const p = (pct / 100) * share;
    const rule = { route, fault, probability: left > 0 ? p / left : 0, seed: `${seed}-${route}-${i}` };
    left -= p;
    return rule;
  });
}

/** 5.000–30.000 €, unique per sub-account and direction (a log entry then names its transfer); integer arithmetic only. */
function amountPicker(rng) {
  const used = new Set();
  return (token, direction) => {
    for (;;) {
      const milli = 5000 + Math.floor(rng.next() * 25001);
      const text = `${Math.floor(milli / 1000)}.${String(milli % 1000).padStart(3, '0')}`;
      const key = `${token}|${direction}|${text}`;
      if (!used.has(key)) { used.add(key); return text; }
    }
  };
}

async function variant(name, o, results) {
  const v = VARIANTS[name];
  const { createSandboxServer, SeededRandom } = env.lib('sandbox');
  const { Money } = env.lib('ledger');
  const PA = `bench-in-doubt-${name}`;
  const seconds = (o.durationMs + o.graceMs + o.waitMs) / 1000 + 120;
  // Funded so that spending never empties an account during the run (50 €/s needs a lot).
  const subBalance = Money.parse(v.rate ? new Decimal(v.rate).times(Math.ceil(seconds)).times(2).ceil().plus(2000) : '2000').toFixed();
  const apiKey = `sk-bench-${name}-${Date.now().toString(36)}`;
  const sandbox = await createSandboxServer({
    port: 0, host: '127.0.0.1', faultSeed: `${o.seed}-faults`,
    seed: { seed: o.seed, accounts: [{ apiKey, balance: '100000000.000', subaccounts: Array.from({ length: o.subaccounts }, (_, i) => ({ email: `d${i}@bench.test`, type: 'simple', balance: subBalance })) }] },
  });
  const subs = sandbox.state.subaccountsOf(apiKey).map((s) => ({ token: s.token, balance: s.balance.toFixed() }));
  const { url, name: dbName } = await env.createBenchDatabase(`in_doubt_${name}`);
  const db = new env.Database(url, { max: 4 });
  let apps;
  try {
    await env.seedLedger(db, PA, { mainBalance: '100000000.000', subs });
    apps = await env.startApps({ databaseUrl: url, sandbox, apiKey, providerAccount: PA,
      env: { RECONCILE_IN_DOUBT_GRACE_MS: String(o.graceMs), PROVIDER_TIMEOUT_MS: '3000', EXECUTION_LEASE_MS: '10000', OUTBOX_POLL_MS: '200', PROVIDER_RETRY_BASE_MS: '50',
        ...(o.barrier ? { IN_DOUBT_BARRIER: o.barrier } : {}) } });
    const headers = { authorization: `Bearer ${env.TOKENS.operator}`, 'content-type': 'application/json' };

    // The world starts living: spending (from now on, after the ledger's opening balances), then faults.
    if (v.rate) sandbox.state.spending.configure([{ token: '*', ratePerSecond: v.rate }, { apiKey: '*', ratePerSecond: v.rate }]);
    for (const route of ['add', 'remove']) for (const r of faultRules(route, o.faultPct, o.seed)) sandbox.faults.add(r);

    // Same seeds in every variant: the same transfers and the same fault draws (as far as the
    // worker's call order allows), so that only the spending differs.
    const rng = new SeededRandom(`${o.seed}-traffic`);
    const pick = amountPicker(rng);
    const t0 = Date.now();
    env.log(S, `${name}: ${v.label}; ${o.subaccounts} sub-accounts at ${subBalance} €; ${o.rate} transfers/s for ${o.durationMs / 1000} s; ${o.faultPct} % of add/remove calls faulty; grace ${o.graceMs / 1000} s`);
    const answers = await openLoop({
      baseUrl: apps.baseUrl, ratePerSecond: o.rate, durationMs: o.durationMs,
      request: () => {
        const token = subs[Math.floor(rng.next() * subs.length)].token;
        const direction = rng.next() < 0.6 ? 'add' : 'remove';
        return { method: 'POST', path: '/v1/transfers', headers, body: JSON.stringify({ subaccount: token, direction, amount: pick(token, direction) }) };
      },
    });
    const refused = answers.filter((a) => a.status !== 202);
    if (refused.length) throw new Error(`${refused.length} transfers refused: ${refused[0].status} ${refused[0].text.slice(0, 300)}`);
    await env.waitFor(async () => {
      const [{ left }] = await db.query(`SELECT count(*)::int AS left FROM transfers WHERE provider_account_id = $1 AND status IN ('pending', 'executing')`, [PA]);
      return left === 0;
    }, o.drainMs, 'every transfer to leave pending/executing (--drain)', 500);
    const fired = sandbox.faults.decisions.reduce((a, d) => ({ ...a, [d.fault]: (a[d.fault] ?? 0) + 1 }), {});
    sandbox.faults.clear(false); // no fault on the calls that evidence gathering may make from now on

    // Wait until grace + wait has passed for the last transfer that went in doubt.
    const lastInDoubt = async () => (await db.query(
      `SELECT extract(epoch FROM max(j.recorded_at))::float8 * 1000 AS at, extract(epoch FROM now())::float8 * 1000 AS now
         FROM journal_entries j JOIN transfers t ON t.id::text = j.entity_id
        WHERE j.provider_account_id = $1 AND j.entity_type = 'transfer' AND j.action = 'transfer.in_doubt'`, [PA]))[0];
    let reconciled = false;
    for (;;) {
      const { at, now } = await lastInDoubt();
      if (!at || now >= at + o.graceMs + o.waitMs) break;
      if (o.reconcileAfterGrace && !reconciled && now >= at + o.graceMs + 1000) {
        const r = await fetch(`${apps.baseUrl}/v1/reconciliations`, { method: 'POST', headers: { authorization: `Bearer ${env.TOKENS.operator}` } });
        env.log(S, `${name}: reconciliation run requested (${r.status})`);
        reconciled = true;
      }
      await env.sleep(1000);
    }

    // Truth: the sandbox's applied-credit log (each amount names one transfer).
    const applied = new Map();
    for (const e of sandbox.state.log) {
      if (e.route === 'create') continue;
      const k = `${e.token}|${e.route}|${e.amount}`;
      applied.set(k, (applied.get(k) ?? 0) + 1);
    }
    const rows = await db.query(
      `SELECT t.id, t.subaccount_token AS token, t.direction, t.amount::text AS amount, t.status, t.resolution_by,
              extract(epoch FROM t.resolution_at)::float8 * 1000 AS resolved_at,
              (SELECT extract(epoch FROM min(j.recorded_at))::float8 * 1000 FROM journal_entries j
                WHERE j.entity_type = 'transfer' AND j.entity_id = t.id::text AND j.action = 'transfer.in_doubt') AS in_doubt_at
         FROM transfers t WHERE t.provider_account_id = $1`, [PA]);
    const truth = (r) => applied.get(`${r.token}|${r.direction}|${Money.parse(r.amount).toFixed()}`) ?? 0;
    const inDoubt = rows.filter((r) => r.in_doubt_at !== null);
    const resolved = inDoubt.filter((r) => r.status === 'posted' || r.status === 'voided' || r.status === 'failed');
    const inTime = resolved.filter((r) => r.resolved_at !== null && r.resolved_at <= r.in_doubt_at + o.graceMs + o.waitMs);
    const wrong = resolved.filter((r) => (r.status === 'posted') !== (truth(r) === 1));
    const twice = rows.filter((r) => truth(r) > 1);
    // Outside the in-doubt ones, the money trail must hold as well.
    const otherWrong = rows.filter((r) => r.in_doubt_at === null && ((r.status === 'posted' && truth(r) !== 1) || (r.status !== 'posted' && truth(r) > 0)));
    const left = inDoubt.filter((r) => r.status === 'in_doubt');
    const leftApplied = left.filter((r) => truth(r) === 1).length;
    const by = resolved.reduce((a, r) => ({ ...a, [r.resolution_by ?? 'late answer']: (a[r.resolution_by ?? 'late answer'] ?? 0) + 1 }), {});
    const spent = sandbox.state.spending.log().filter((e) => e.kind === 'usage').reduce((a, e) => a.plus(Money.parse(e.amount)), Money.ZERO);
    env.log(S, `${name}: ${rows.length} transfers in ${((Date.now() - t0) / 1000).toFixed(0)} s; faults fired ${JSON.stringify(fired)}; spent by SMS ${spent.toFixed()} €`);
    env.log(S, `${name}: in doubt ${inDoubt.length} (truly applied ${inDoubt.filter((r) => truth(r) === 1).length}); resolved ${resolved.length} (${inTime.length} within grace + ${o.waitMs / 1000} s; by ${JSON.stringify(by)}); left in doubt ${left.length} (${leftApplied} applied, ${left.length - leftApplied} not)`);

    const pct = inDoubt.length ? (100 * inTime.length) / inDoubt.length : 100;
    const base = { name: 'in-doubt transfers', value: inDoubt.length, unit: '' };
    const t = v.target.resolvedPct;
    env.figure(results, { scenario: S, name: `${name}.resolved_within_${o.waitMs / 1000}s_after_grace`, value: pct, unit: '%', baseline: base,
      target: t === undefined ? undefined : `>= ${t} %`, met: t === undefined ? undefined : pct >= t && inDoubt.length > 0,
      note: `${inTime.length} of ${inDoubt.length}; ${left.length} left in doubt${inDoubt.length ? '' : '; no transfer went in doubt'}` });
    env.figure(results, { scenario: S, name: `${name}.wrong_resolutions`, value: wrong.length, unit: 'transfers', baseline: { name: 'resolved', value: resolved.length, unit: '' },
      target: '0', met: wrong.length === 0, note: wrong.length ? `e.g. ${wrong.slice(0, 3).map((r) => `${r.id} ${r.status} but applied ${truth(r)}×`).join(', ')}` : `money trail outside in doubt: ${otherWrong.length} wrong` });
    env.figure(results, { scenario: S, name: `${name}.applied_twice`, value: twice.length, unit: 'transfers', baseline: { name: 'transfers', value: rows.length, unit: '' },
      target: '0', met: twice.length === 0 && otherWrong.length === 0, note: otherWrong.length ? `${otherWrong.length} transfers outside in doubt disagree with the log` : undefined });
  } finally {
    if (apps) await apps.stop();
    await sandbox.close();
    await db.close();
    await env.dropDatabase(dbName);
  }
}

async function run(opts, results) {
  const o = options(opts);
  for (const name of o.variants) await variant(name, o, results);
}

module.exports = { name: S, run };
