import { readFileSync } from 'node:fs';
import { Money } from '@app/ledger';
import { SeededRandom } from '@app/sandbox';
import { sleep, startStack, TOKENS } from '../../test/support/processes';
import { checkInvariants, HEALTHY, reconcile, statusCounts, waitSettled } from '../../test/reliability/support/invariants';

/**
 * Soak: mixed traffic (single transfers both ways, idempotent replays, batches, reads,
 * reconciliation runs) against the api + 2 workers while the sandbox injects random faults,
 * for SOAK_DURATION_MS; then the invariants, and the resident memory of each process over
 * time. Run with `node bench/soak/run.js --duration=10m` (see docs/reliability.md).
 */
const DURATION_MS = Number(process.env.SOAK_DURATION_MS ?? 600_000);
const KILL_WORKER_EVERY_MS = Number(process.env.SOAK_KILL_WORKER_EVERY_MS ?? 0);
/** € per second spent by every sub-account and the main account (the sandbox's spending simulation); 0 = none. */
const SPENDING = process.env.SOAK_SPENDING_PER_SECOND ?? '0';
/** The worker settles in-doubt transfers by evidence and books usage (IN_DOUBT_AUTO_SETTLE, USAGE_AUTO_BOOK); off: only reconciliation runs settle. */
const EVIDENCE = (process.env.SOAK_EVIDENCE ?? 'off') === 'on';
const SAMPLE_EVERY_MS = Math.max(5_000, Math.min(30_000, Math.round(DURATION_MS / 20)));
const CLIENTS = 6;
/** Pause between a client's requests: keeps recording below what the workers execute, so the run is a steady state, not a growing backlog. */
const THINK_MS = 150;

const rssMb = (pid: number | undefined) => {
  if (!pid) return NaN;
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    return Math.round(kb / 1024);
  } catch {
    return NaN;
  }
};

it(`soak: ${Math.round(DURATION_MS / 1000)} s of mixed traffic with random provider faults`, async () => {
  const rng = new SeededRandom(process.env.SOAK_SEED ?? 'soak');
  const stack = await startStack({
    subaccounts: 40, mainBalance: '1000000.000',
    env: {
      WORKER_CONCURRENCY: '8', PROVIDER_RATE_LIMIT_PER_SECOND: '200', PROVIDER_TIMEOUT_MS: '1000', EXECUTION_LEASE_MS: '3000',
      PROVIDER_RETRY_BASE_MS: '50', PROVIDER_MAX_ATTEMPTS: '6', RECONCILE_IN_DOUBT_GRACE_MS: '5000', RECONCILE_CRON: '0 0 1 1 *',
      ...(EVIDENCE ? { IN_DOUBT_AUTO_SETTLE: 'on', USAGE_AUTO_BOOK: 'on' } : {}),
    },
  });
  try {
    await stack.startWorker();
    await stack.call('POST', '/v1/subaccounts/import', undefined, TOKENS.admin);
    const tokens = stack.tokens();
    const spending = Money.parse(SPENDING).isPositive();
    if (spending) {
      // Every sub-account starts with credit to spend (a top-up the ledger records as usual).
      const topups = tokens.map((t) => ({ subaccount: t, direction: 'add', amount: '200.000' }));
      expect((await stack.call('POST', '/v1/transfers/batch', { transfers: topups }, TOKENS.operator)).status).toBe(207);
      await waitSettled(stack, 60_000);
      stack.sandbox.state.spending.configure([{ token: '*', ratePerSecond: SPENDING }, { apiKey: '*', ratePerSecond: SPENDING }]);
    }
    const faults = [
      { fault: 'apply_then_drop', probability: 0.02 }, { fault: 'drop_before_apply', probability: 0.01 }, { fault: 'http_429', probability: 0.03, retryAfterSeconds: 1 },
      { fault: 'http_429', probability: 0.02 }, { fault: 'http_503', probability: 0.01 }, { fault: 'malformed_body', probability: 0.005 },
      { fault: 'html_error', probability: 0.005 }, { fault: 'missing_fields', probability: 0.005 }, { fault: 'apply_then_delay', ms: 1_500, probability: 0.005 },
      { fault: 'latency', ms: 150, probability: 0.1 },
    ] as const;
    for (const [i, f] of faults.entries()) stack.sandbox.faults.add({ route: '*', seed: `${process.env.SOAK_SEED ?? 'soak'}-${i}`, ...f } as never);

    const started = Date.now();
    const deadline = started + DURATION_MS;
    const stats: Record<string, number> = {};
    const count = (k: string) => { stats[k] = (stats[k] ?? 0) + 1; };
    const reconcileMs: number[] = [];
    const samples: Array<{ t: number; api: number; workers: number[]; posted: number; inDoubt: number; pending: number }> = [];
    let seq = 0;
    const amount = (i: number) => Money.parse(((i + 1) / 1000 + 0.25).toFixed(3)).toFixed();
    const keys: string[] = [];

    const client = async () => {
      while (Date.now() < deadline) {
        const roll = rng.next();
        try {
          if (roll < 0.45) {
            const i = seq++;
            const key = `soak-${i}`;
            const r = await stack.call('POST', '/v1/transfers', { subaccount: tokens[i % tokens.length], direction: 'add', amount: amount(i) }, TOKENS.operator, { 'idempotency-key': key });
            count(`add ${r.status}`);
            if (r.status === 202) keys.push(key);
          } else if (roll < 0.55) {
            const i = seq++;
            const r = await stack.call('POST', '/v1/transfers', { subaccount: tokens[i % tokens.length], direction: 'remove', amount: amount(i) }, TOKENS.operator);
            count(`remove ${r.status}`);
          } else if (roll < 0.6 && keys.length) {
            const key = keys[Math.floor(rng.next() * keys.length)];
            const i = Number(key.slice(5));
            const r = await stack.call('POST', '/v1/transfers', { subaccount: tokens[i % tokens.length], direction: 'add', amount: amount(i) }, TOKENS.operator, { 'idempotency-key': key });
            count(`replay ${r.status}`);
          } else if (roll < 0.63) {
            const items = Array.from({ length: 10 }, () => { const i = seq++; return { subaccount: tokens[i % tokens.length], direction: 'add', amount: amount(i) }; });
            const r = await stack.call('POST', '/v1/transfers/batch', { transfers: items }, TOKENS.operator);
            count(`batch ${r.status}`);
          } else {
            const paths = ['/v1/transfers?limit=50', '/v1/accounts', `/v1/subaccounts/${tokens[Math.floor(rng.next() * tokens.length)]}`, '/v1/journal?limit=50', '/v1/transfers?status=in_doubt', '/metrics'];
            const r = await stack.call('GET', paths[Math.floor(rng.next() * paths.length)], undefined, TOKENS.viewer);
            count(`read ${r.status}`);
          }
        } catch (err) {
          count(`error ${(err as Error).message}`);
        }
        await sleep(THINK_MS);
      }
    };
    const reconciler = async () => {
      while (Date.now() < deadline - 20_000) {
        await sleep(30_000);
        const t0 = Date.now();
        const run = await reconcile(stack, 120_000).catch((err: Error) => ({ status: `error: ${err.message}` }));
        count(`reconciliation ${run.status}`);
        reconcileMs.push(Date.now() - t0);
      }
    };
    const sampler = async () => {
      while (Date.now() < deadline) {
        const c = await statusCounts(stack);
        samples.push({ t: Math.round((Date.now() - started) / 1000), api: rssMb(stack.api.pid), workers: stack.workers.filter((w) => w.running).map((w) => rssMb(w.pid)), posted: c.posted ?? 0, inDoubt: c.in_doubt ?? 0, pending: (c.pending ?? 0) + (c.executing ?? 0) });
        await sleep(Math.min(SAMPLE_EVERY_MS, Math.max(0, deadline - Date.now())));
      }
    };
    const chaos = async () => {
      if (!KILL_WORKER_EVERY_MS) return;
      while (Date.now() + KILL_WORKER_EVERY_MS < deadline) {
        await sleep(KILL_WORKER_EVERY_MS);
        const victim = stack.workers.find((w) => w.running)!;
        await victim.stop('SIGKILL');
        count('worker killed');
        await stack.startWorker();
      }
    };
    await Promise.all([...Array.from({ length: CLIENTS }, client), reconciler(), sampler(), chaos()]);

    // Drain: no more faults, every transfer final, reconciliation settles what is in doubt.
    const fired = stack.sandbox.faults.decisions.reduce<Record<string, number>>((a, d) => ({ ...a, [d.fault]: (a[d.fault] ?? 0) + 1 }), {});
    const inDoubtAtEnd = (await statusCounts(stack)).in_doubt ?? 0;
    stack.sandbox.faults.clear();
    // Spending stops with the traffic, so that the final runs read balances that stay put.
    stack.sandbox.state.spending.stop();
    const spentBySms = stack.sandbox.state.spending.log().filter((e) => e.kind === 'usage').reduce((a, e) => a.plus(Money.parse(e.amount)), Money.ZERO);
    const drainStart = Date.now();
    await waitSettled(stack, 120_000);
    await sleep(5_000); // past RECONCILE_IN_DOUBT_GRACE_MS
    await reconcile(stack, 120_000);
    const final = await reconcile(stack, 120_000);
    const [{ resolved, byEvidence }] = await stack.db.query<{ resolved: number; byEvidence: number }>(
      `SELECT count(*) FILTER (WHERE resolution_by = 'system:reconciliation')::int AS resolved, count(*) FILTER (WHERE resolution_by = 'system:evidence')::int AS "byEvidence"
         FROM transfers WHERE provider_account_id = $1`, [stack.providerAccount]);
    // Why the ones left in doubt are left: their stored evidence (the first words of its summary).
    const why = await stack.db.query<{ why: string; n: number }>(
      `SELECT coalesce(substring(e.evidence->>'summary' from '^[^0-9:(]*'), 'no evidence stored') AS why, count(*)::int AS n
         FROM transfers t LEFT JOIN transfer_evidence e ON e.transfer_id = t.id
        WHERE t.provider_account_id = $1 AND t.status = 'in_doubt' GROUP BY 1 ORDER BY 2 DESC`, [stack.providerAccount]);
    const counts = await statusCounts(stack);
    const invariants = await checkInvariants(stack);
    const elapsed = (Date.now() - started - (Date.now() - drainStart)) / 1000;
    samples.push({ t: Math.round((Date.now() - started) / 1000), api: rssMb(stack.api.pid), workers: stack.workers.filter((w) => w.running).map((w) => rssMb(w.pid)), posted: counts.posted ?? 0, inDoubt: counts.in_doubt ?? 0, pending: (counts.pending ?? 0) + (counts.executing ?? 0) });

    const requests = Object.entries(stats).filter(([k]) => /^(add|remove|replay|batch|read) /.test(k)).reduce((a, [, n]) => a + n, 0);
    const report = [
      `SOAK ${Math.round(DURATION_MS / 1000)} s, ${CLIENTS} clients, 1 api + ${stack.workers.length} workers, seed ${process.env.SOAK_SEED ?? 'soak'}${KILL_WORKER_EVERY_MS ? `, a worker SIGKILLed every ${KILL_WORKER_EVERY_MS / 1000} s` : ''}${spending ? `, spending ${SPENDING} €/s per account` : ''}${EVIDENCE ? ', in-doubt evidence and usage booking on' : ''}`,
      ...(spending ? [`spending: ${spentBySms.toFixed()} € of SMS in ${stack.sandbox.state.spending.log().filter((e) => e.kind === 'usage').length} steps; balance mismatches below are the usage the ledger has not booked`] : []),
      `requests: ${requests} in ${elapsed.toFixed(0)} s (${(requests / elapsed).toFixed(1)}/s); drain ${((Date.now() - drainStart) / 1000).toFixed(1)} s`,
      `responses: ${Object.entries(stats).sort().map(([k, n]) => `${k}: ${n}`).join(', ')}`,
      `provider faults fired: ${Object.entries(fired).sort().map(([k, n]) => `${k} ${n}`).join(', ')}`,
      `reconciliation runs during the soak: ${reconcileMs.length}, ${Math.round(Math.min(...reconcileMs))}-${Math.round(Math.max(...reconcileMs))} ms`,
      `transfers: ${JSON.stringify(counts)}; in doubt when traffic stopped ${inDoubtAtEnd}; resolved by reconciliation ${resolved}, by the worker's evidence ${byEvidence}${EVIDENCE ? '' : ' (IN_DOUBT_AUTO_SETTLE off)'}; last run ${final.status}, ${JSON.stringify(final.summary)}`,
      `left in doubt, why: ${why.map((w) => `${w.n} × "${w.why.trim()}"`).join('; ') || 'none'}`,
      `invariants: unbalanced ${invariants.unbalanced.length}, balance rows off ${invariants.balanceDrift.length}, ledger total ${invariants.ledgerTotal}, reservations wrong ${invariants.reservationWrong.length}, orphan reservations ${invariants.orphanReservations.length}, unjournaled ${invariants.unjournaled.length}, unexplained ${invariants.unexplained.length}, audit ${invariants.audit.ok ? 'ok' : 'BROKEN'}`,
      `money trail: ${invariants.trail.transfers} transfers, applied twice ${invariants.trail.appliedTwice.length}, posted not applied ${invariants.trail.postedNotApplied.length}, failed but applied ${invariants.trail.failedButApplied.length}, unmatched ${invariants.trail.unmatched.length}, balance mismatches ${invariants.trail.mismatches.length}`,
      'resident memory (MB) over time:',
      '  t(s)   api  workers        posted  in_doubt  pending',
      ...samples.map((s) => `  ${String(s.t).padStart(4)} ${String(s.api).padStart(5)}  ${s.workers.join('/').padEnd(13)} ${String(s.posted).padStart(7)} ${String(s.inDoubt).padStart(9)} ${String(s.pending).padStart(8)}`),
    ].join('\n');
    process.stdout.write(`\n${report}\n\n`);
    // In doubt left after the drain are explainable (their reason is kept): the provider's
    // balances cannot tell which of several in-doubt transfers were applied when subsets of
    // their amounts have the same sum (docs/reconciliation.md, limits); an operator resolves them.
    // With spending on, the provider's balances also fall by usage: a sandbox-vs-ledger
    // mismatch is then the usage not booked yet (reported above), not a lost or doubled call.
    expect(spending ? { ...invariants, trail: { ...invariants.trail, mismatches: [] } } : invariants).toMatchObject(HEALTHY);
  } finally {
    await stack.close();
  }
});
