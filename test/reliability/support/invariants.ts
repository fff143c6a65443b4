import { Database } from '@app/persistence';
import { checkMoneyTrail } from '../../support/money-trail';
import { Stack, TOKENS, waitFor } from '../../support/processes';

/**
 * What must hold after every reliability scenario, whatever was broken during it:
 * - the ledger: every ledger transaction balanced (≥ 2 postings summing to 0), every balance
 *   row equal to the sum of its postings (pending and posted), the whole ledger summing to 0;
 * - recording was atomic: every transfer has its reservation (a `transfer` ledger transaction
 *   in the state its status implies) and its `transfer.recorded` journal entry, and every
 *   `transfer` ledger transaction belongs to a transfer;
 * - the audit chain verifies (GET /v1/audit/verify);
 * - every transfer is final, or in doubt with the reason it is;
 * - the money is where the sandbox says (checkMoneyTrail: nothing applied twice, nothing
 *   posted that the provider did not apply, balances reconcile).
 * Each check lists offending ids, so a failure says what broke.
 */
export async function checkInvariants(stack: Stack, db: Database = stack.db) {
  const pa = stack.providerAccount;
  const unbalanced = await db.query<{ id: string }>(
    `SELECT t.id FROM ledger_transactions t LEFT JOIN postings p ON p.transaction_id = t.id
      WHERE t.provider_account_id = $1 GROUP BY t.id HAVING count(p.id) < 2 OR coalesce(sum(p.amount), 0) <> 0`,
    [pa],
  );
  const balanceDrift = await db.query<{ code: string }>(
    `SELECT a.code FROM ledger_accounts a JOIN balances b ON b.account_id = a.id
       LEFT JOIN LATERAL (
         SELECT coalesce(sum(greatest(p.amount, 0)) FILTER (WHERE t.state = 'posted'), 0) AS dp,
                coalesce(sum(greatest(-p.amount, 0)) FILTER (WHERE t.state = 'posted'), 0) AS cp,
                coalesce(sum(greatest(p.amount, 0)) FILTER (WHERE t.state = 'pending'), 0) AS dq,
                coalesce(sum(greatest(-p.amount, 0)) FILTER (WHERE t.state = 'pending'), 0) AS cq
           FROM postings p JOIN ledger_transactions t ON t.id = p.transaction_id WHERE p.account_id = a.id) s ON true
      WHERE a.provider_account_id = $1
        AND (b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending) IS DISTINCT FROM (s.dp, s.cp, s.dq, s.cq)`,
    [pa],
  );
  const [{ total }] = await db.query<{ total: string }>(
    `SELECT coalesce(sum(b.debits_posted - b.credits_posted), 0)::text AS total FROM balances b JOIN ledger_accounts a ON a.id = b.account_id WHERE a.provider_account_id = $1`,
    [pa],
  );
  const reservationWrong = await db.query<{ id: string; status: string; state: string | null }>(
    `SELECT tr.id, tr.status, lt.state FROM transfers tr LEFT JOIN ledger_transactions lt ON lt.id = tr.ledger_transaction_id
      WHERE tr.provider_account_id = $1 AND (lt.id IS NULL OR lt.kind <> 'transfer'
        OR lt.state <> CASE WHEN tr.status = 'posted' THEN 'posted' WHEN tr.status IN ('failed', 'voided') THEN 'voided' ELSE 'pending' END)`,
    [pa],
  );
  const orphanReservations = await db.query<{ id: string }>(
    `SELECT lt.id FROM ledger_transactions lt WHERE lt.provider_account_id = $1 AND lt.kind = 'transfer'
        AND NOT EXISTS (SELECT 1 FROM transfers tr WHERE tr.ledger_transaction_id = lt.id)`,
    [pa],
  );
  const unjournaled = await db.query<{ id: string }>(
    `SELECT tr.id FROM transfers tr WHERE tr.provider_account_id = $1
        AND NOT EXISTS (SELECT 1 FROM journal_entries j WHERE j.entity_type = 'transfer' AND j.entity_id = tr.id::text AND j.action = 'transfer.recorded')`,
    [pa],
  );
  const unexplained = await db.query<{ id: string; status: string }>(
    `SELECT id, status FROM transfers WHERE provider_account_id = $1
        AND NOT (status IN ('posted', 'failed', 'voided') OR (status = 'in_doubt' AND failure_reason IS NOT NULL))`,
    [pa],
  );
  // The API may be down (a test that killed it checks the database before restarting it).
  const audit = await stack.call('GET', '/v1/audit/verify', undefined, TOKENS.viewer).catch(() => ({ status: 0, json: undefined }));
  const trail = await checkMoneyTrail(db, stack.sandbox, pa, stack.apiKey);
  return {
    unbalanced: unbalanced.map((r) => r.id),
    balanceDrift: balanceDrift.map((r) => r.code),
    ledgerTotal: total,
    reservationWrong: reservationWrong.map((r) => `${r.id}:${r.status}/${r.state}`),
    orphanReservations: orphanReservations.map((r) => r.id),
    unjournaled: unjournaled.map((r) => r.id),
    unexplained: unexplained.map((r) => `${r.id}:${r.status}`),
    audit: { status: audit.status, ok: audit.json?.ok, brokenAt: audit.json?.brokenAt },
    trail,
  };
}

/** The state every scenario must end in; use as `expect(await checkInvariants(stack)).toMatchObject(HEALTHY)`. */
export const HEALTHY = {
  unbalanced: [], balanceDrift: [], ledgerTotal: '0.000', reservationWrong: [], orphanReservations: [], unjournaled: [], unexplained: [],
  audit: { status: 200, ok: true, brokenAt: null },
  trail: { unmatched: [], appliedTwice: [], postedNotApplied: [], failedButApplied: [], notFinal: [], mismatches: [] },
};

export async function waitSettled(stack: Stack, timeoutMs: number, db: Database = stack.db): Promise<void> {
  await waitFor(async () => {
    const [{ n }] = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM transfers WHERE provider_account_id = $1 AND status IN ('pending', 'executing')`,
      [stack.providerAccount],
    );
    return n === 0;
  }, timeoutMs, 'every transfer to leave pending/executing', 200);
}

/**
 * Runs a reconciliation through the API and waits for it to finish; it resolves the in-doubt
 * transfers the provider's balances settle. Retries while another run is in progress.
 */
export async function reconcile(stack: Stack, timeoutMs = 30_000): Promise<any> {
  let id: string | undefined;
  await waitFor(async () => {
    const r = await stack.call('POST', '/v1/reconciliations', undefined, TOKENS.operator);
    if (r.status === 202) id = r.json.id;
    return r.status === 202;
  }, 20_000, 'a reconciliation run to start', 200);
  let run: any;
  await waitFor(async () => {
    run = (await stack.call('GET', `/v1/reconciliations/${id}`, undefined, TOKENS.viewer)).json;
    return run?.status !== 'running';
  }, timeoutMs, 'the reconciliation run to finish', 100);
  return run;
}

/** Transfers by status for the stack's provider account. */
export async function statusCounts(stack: Stack, db: Database = stack.db): Promise<Record<string, number>> {
  const rows = await db.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM transfers WHERE provider_account_id = $1 GROUP BY status', [stack.providerAccount]);
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}
