import { Money } from '@app/ledger';
import { pipelineFixture, Pipeline } from '../../../test/support/pipeline';
import { ClaimGroups } from './use-cases/execute-transfer/claim-group';
import { ExecuteTransferUseCase } from './use-cases/execute-transfer/execute-transfer.use-case';

const actor = 'token:operator#1/operator';

describe('claim groups (Postgres, sandbox over HTTP)', () => {
  let p: Pipeline;
  beforeAll(async () => { p = await pipelineFixture({ subaccounts: 8, mainBalance: '1000.000' }); });
  afterAll(async () => { await p.close(); });

  const record = async (subaccount: string, amount = '1.000') =>
    (await p.record.execute({ providerAccount: p.providerAccount, subaccount, direction: 'add', amount: Money.parse(amount), actor })).transfer;
  /** How many of these transfers each claim transaction claimed: the transactions that wrote the rows still executing (xmin). */
  const claimTransactions = async (ids: string[]) => (await p.db.query<{ xmin: string; n: number }>(
    `SELECT xmin::text, count(*)::int AS n FROM transfers WHERE status = 'executing' AND id = ANY($1::uuid[]) GROUP BY 1 ORDER BY 1`, [ids])).map((r) => r.n);
  /** These transfers' journal entries, in journal order: `action/attempt/worker`. */
  const entries = async (ids: string[]) => (await p.db.query<{ entity_id: string; e: string }>(
    `SELECT entity_id, action || '/' || coalesce(data->>'attempt', '') || '/' || coalesce(data->>'worker', '') AS e FROM journal_entries
      WHERE entity_type = 'transfer' AND entity_id = ANY($1::text[]) ORDER BY sequence`, [ids]));

  it('claims concurrent transfers together, durably before any call, and every one is posted once', async () => {
    // No call answers before every transfer has been claimed.
    let calls = 0;
    let open!: () => void;
    const allCalled = new Promise<void>((r) => { open = r; });
    const claimedAtCall: string[][] = [];
    const claimedBy = new Map<string, string>(); // transfer → the transaction that claimed it
    const held = async (token: string, amount: Money) => {
      // The claim is committed: another connection sees the transfer executing with its lease.
      const rows = await p.db.query<{ id: string; status: string; xmin: string }>(`SELECT id, status, xmin::text FROM transfers WHERE subaccount_token = $1 AND provider_account_id = $2 AND status = 'executing' AND lease_expires_at > now()`,
        [token, p.providerAccount]);
      claimedAtCall.push(rows.map((r) => r.status));
      for (const r of rows) claimedBy.set(r.id, r.xmin);
      // No journal entry yet: the attempt's is written when it ends.
      expect(await entries(rows.map((r) => r.id))).toEqual(rows.map((r) => ({ entity_id: r.id, e: 'transfer.recorded//' })));
      const r = await p.client.addCredit(token, amount);
      if (++calls === p.tokens.length) open();
      await allCalled;
      return r;
    };
    const claims = new ClaimGroups(p.db, { providerAccount: p.providerAccount, workerId: 'grouped', leaseMs: 10_000 });
    const execute = new ExecuteTransferUseCase(p.db, p.ledger, p.transfers, p.observations, { addCredit: held, removeCredit: held }, {
      providerAccount: p.providerAccount, leaseMs: 10_000, workerId: 'grouped', maxAttempts: 1, baseDelayMs: 10, maxDelayMs: 10, claims,
    });
    const ids: string[] = [];
    for (const s of p.tokens) ids.push((await record(s, '2.000')).id);
    const results = await Promise.all(ids.map((id) => execute.execute(id)));
    expect(results.map((r) => r.kind === 'done' && r.transfer.status)).toEqual(ids.map(() => 'posted'));
    expect(claimedAtCall).toEqual(ids.map(() => ['executing']));
    // The first claim starts alone (no timer); the others, arriving meanwhile, form one group.
    const byTx = new Map<string, number>();
    for (const id of ids) byTx.set(claimedBy.get(id)!, (byTx.get(claimedBy.get(id)!) ?? 0) + 1);
    const groups = [...byTx.values()];
    expect(groups.reduce((a, b) => a + b, 0)).toBe(ids.length);
    expect(groups.length).toBeLessThan(ids.length);
    expect(Math.max(...groups)).toBeGreaterThan(1);
    const rows = await p.db.query<{ attempts: number; claimed_by: string }>('SELECT attempts, claimed_by FROM transfers WHERE id = ANY($1::uuid[])', [ids]);
    expect(rows).toEqual(ids.map(() => ({ attempts: 1, claimed_by: 'grouped' })));
    for (const s of p.tokens) expect(p.sandboxBalance(s).toFixed()).toBe('2.000');
    // Each attempt journaled once, when it ended, just before its outcome.
    const journal = await entries(ids);
    for (const id of ids) {
      expect(journal.filter((j) => j.entity_id === id).map((j) => j.e)).toEqual(['transfer.recorded//', 'transfer.executing/1/grouped', 'transfer.posted/1/']);
    }
    expect((await p.queries.verifyJournal()).ok).toBe(true);
  });

  it('decides each member of a group as a claim on its own would: not found, not pending, blocked, not due, busy, twice, expired', async () => {
    const claims = new ClaimGroups(p.db, { providerAccount: p.providerAccount, workerId: 'mixed', leaseMs: 10_000 });
    const [a, b, c, d, e, f] = p.tokens;
    const opener = await record(a); // claimed alone: the rest arrive while it is in flight
    const head = await record(b);
    const behind = await record(b); // behind `head`, still pending
    const notDue = await record(c);
    await p.db.query(`UPDATE transfers SET next_attempt_at = now() + interval '1 hour' WHERE id = $1`, [notDue.id]);
    const alreadyPosted = await record(d);
    expect((await p.execute.execute(alreadyPosted.id)).kind).toBe('done');
    const busyRunning = await record(e);
    const busyNext = await record(e);
    await p.db.query(`UPDATE transfers SET status = 'executing', attempts = 1, lease_expires_at = now() + interval '1 hour', claimed_by = 'other' WHERE id = $1`, [busyRunning.id]);
    const expired = await record(f);
    await p.db.query(`UPDATE transfers SET expires_at = now() - interval '1 second' WHERE id = $1`, [expired.id]);
    const missing = '00000000-0000-4000-8000-000000000000';

    const [first, ...rest] = await Promise.all([opener.id, head.id, behind.id, notDue.id, alreadyPosted.id, busyNext.id, expired.id, missing, head.id].map((id) => claims.submit(id)));
    expect(first).toMatchObject({ kind: 'claimed', transfer: { id: opener.id, status: 'executing', attempts: 1 } });
    expect(rest).toEqual([
      expect.objectContaining({ kind: 'claimed', transfer: expect.objectContaining({ id: head.id, status: 'executing' }) }),
      { kind: 'skipped', why: 'blocked' },
      { kind: 'skipped', why: 'not_due', delayMs: expect.any(Number) },
      { kind: 'skipped', why: 'not_pending' },
      { kind: 'skipped', why: 'busy' },
      null, // expired: failed and voided by a claim on its own
      { kind: 'skipped', why: 'not_found' },
      null, // the same transfer twice in one group: the second looks on its own, after the commit
    ]);
    expect((rest[2] as { delayMs: number }).delayMs).toBeGreaterThan(3_500_000);
    const states = Object.fromEntries((await p.db.query<{ id: string; status: string; attempts: number }>('SELECT id, status, attempts FROM transfers WHERE id = ANY($1::uuid[])',
      [[behind.id, notDue.id, busyNext.id, expired.id, head.id]])).map((r) => [r.id, `${r.status}/${r.attempts}`]));
    expect(states).toEqual({ [behind.id]: 'pending/0', [notDue.id]: 'pending/0', [busyNext.id]: 'pending/0', [expired.id]: 'pending/0', [head.id]: 'executing/1' });
    // Each claimed in its own transaction, the others not claimed; no attempt entry while in
    // flight (alreadyPosted's attempt was journaled when it ended).
    expect(await claimTransactions([opener.id, head.id])).toEqual([1, 1]);
    expect(await claimTransactions([behind.id, notDue.id, alreadyPosted.id, busyNext.id, expired.id])).toEqual([]);
    const attempts = (await entries([opener.id, head.id, alreadyPosted.id])).filter((j) => j.e.startsWith('transfer.executing/'));
    expect(attempts).toEqual([{ entity_id: alreadyPosted.id, e: expect.stringMatching(/^transfer\.executing\/1\//) }]);
  });

  it('a group whose transaction fails leaves nothing claimed and answers its members "claim it on your own"', async () => {
    const claims = new ClaimGroups(p.db, { providerAccount: p.providerAccount, workerId: 'failing', leaseMs: 10_000 });
    const [, , , , , , g, h] = p.tokens;
    const one = await record(g);
    const two = await record(h);
    const other = await record(h);
    // Another process claims `other` (same sub-account as `two`) and commits while the group
    // that holds `two` is being written: the one-executing index refuses the group's UPDATE.
    let pending!: Promise<unknown[]>;
    await p.db.transaction(async (tx) => {
      await tx.query(`UPDATE transfers SET status = 'executing', attempts = 1, lease_expires_at = now() + interval '1 hour', claimed_by = 'other' WHERE id = $1`, [other.id]);
      pending = Promise.all([one.id, two.id].map((id) => claims.submit(id)));
      await new Promise((r) => setTimeout(r, 500));
    }); // COMMIT
    const [first, second] = await pending;
    expect(first).toMatchObject({ kind: 'claimed', transfer: { id: one.id } }); // alone, before
    expect(second).toBeNull();
    const [row] = await p.db.query<{ status: string; attempts: number }>('SELECT status, attempts FROM transfers WHERE id = $1', [two.id]);
    expect(row).toEqual({ status: 'pending', attempts: 0 });
    expect(await claimTransactions([two.id])).toEqual([]);
    // Claimed on its own, as the caller then does, it is busy.
    const alone = new ExecuteTransferUseCase(p.db, p.ledger, p.transfers, p.observations, p.client, { providerAccount: p.providerAccount, leaseMs: 10_000, workerId: 'alone', maxAttempts: 1, baseDelayMs: 10 });
    expect(await alone.execute(two.id)).toEqual({ kind: 'skipped', why: 'busy' });
  });
});
