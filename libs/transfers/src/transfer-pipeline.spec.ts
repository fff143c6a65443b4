import { DomainError } from '@app/common';
import { Money } from '@app/ledger';
import { pipelineFixture, Pipeline } from '../../../test/support/pipeline';
import { ExecuteTransferUseCase } from './use-cases/execute-transfer/execute-transfer.use-case';
import { SweepTransfersUseCase } from './use-cases/sweep-transfers/sweep-transfers.use-case';
import { TransferSweepsRepository } from './persistence/transfer-sweeps.repository';

const m = Money.parse;
const actor = 'token:operator#1/operator';

describe('transfer pipeline (Postgres, sandbox over HTTP, BullMQ)', () => {
  let p: Pipeline;
  beforeAll(async () => { p = await pipelineFixture({ subaccounts: 12, mainBalance: '1000.000' }); });
  afterAll(async () => { await p.close(); });
  afterEach(() => p.sandbox.faults.clear());
  /** The transfer's own journal entries in order, `action/attempt`: each attempt is journaled once, when it ends, just before its outcome. */
  const journalOf = async (id: string) => (await p.db.query<{ e: string }>(
    `SELECT action || coalesce('/' || (data->>'attempt'), '') AS e FROM journal_entries WHERE entity_type = 'transfer' AND entity_id = $1 ORDER BY sequence`, [id])).map((r) => r.e);

  it('imports the provider account with opening balances, so the ledger starts reconciled', async () => {
    expect(p.imported).toMatchObject({ total: 12, imported: 12, mainOpeningBalance: '1000.000' });
    expect((await p.queries.balance(p.providerAccount, 'main')).posted.toFixed()).toBe(p.sandboxBalance().toFixed());
    for (const t of p.tokens) expect((await p.queries.balance(p.providerAccount, `sub:${t}`)).posted.toFixed()).toBe(p.sandboxBalance(t).toFixed());
  });

  it('records pending with a reservation, then posts on the provider\'s confirmation', async () => {
    const [s] = p.tokens;
    const subBefore = p.sandboxBalance(s);
    const { transfer } = await p.record.execute({ providerAccount: p.providerAccount, subaccount: s, direction: 'add', amount: m('12.5'), actor });
    expect(transfer.status).toBe('pending');
    expect((await p.queries.balance(p.providerAccount, `sub:${s}`)).pending.toFixed()).toBe('12.500');
    const r = await p.execute.execute(transfer.id);
    expect(r.kind).toBe('done');
    const done = (await p.transfers.get(p.providerAccount, transfer.id))!;
    expect(done.status).toBe('posted');
    expect(done.attempts).toBe(1);
    expect(done.provider?.subaccountCredit?.toFixed()).toBe(subBefore.plus(m('12.5')).toFixed());
    expect(p.sandboxBalance(s).toFixed()).toBe(subBefore.plus(m('12.5')).toFixed());
    const obs = await p.db.query<{ source: string; balance: string; expected: string }>('SELECT source, balance, expected FROM observations WHERE transfer_id = $1 ORDER BY id', [transfer.id]);
    expect(obs).toHaveLength(2);
    for (const o of obs) expect(o.balance).toBe(o.expected);
  });

  it('Idempotency-Key: same body returns the original, another body is refused, and nothing more is reserved', async () => {
    const [, s] = p.tokens;
    const cmd = { providerAccount: p.providerAccount, subaccount: s, direction: 'add' as const, amount: m('1'), actor, idempotencyKey: 'k-1', metadata: { b: 1, a: 2 } };
    const first = await p.record.execute(cmd);
    const again = await p.record.execute({ ...cmd, metadata: { a: 2, b: 1 } });
    expect(again).toEqual({ transfer: first.transfer, replayed: true });
    const err = await p.record.execute({ ...cmd, amount: m('2') }).catch((e) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect(err.code).toBe('idempotency_key_reused');
    const race = await Promise.all(Array.from({ length: 10 }, () => p.record.execute({ ...cmd, idempotencyKey: 'k-race' })));
    expect(new Set(race.map((r) => r.transfer.id)).size).toBe(1);
    const [{ n }] = await p.db.query<{ n: number }>("SELECT count(*)::int n FROM transfers WHERE provider_account_id = $1 AND idempotency_key IN ('k-1','k-race')", [p.providerAccount]);
    expect(n).toBe(2);
  });

  it('refuses an unknown sub-account and an amount the available balance cannot cover', async () => {
    await expect(p.record.execute({ providerAccount: p.providerAccount, subaccount: 'nope', direction: 'add', amount: m('1'), actor })).rejects.toMatchObject({ code: 'subaccount_not_found' });
    await expect(p.record.execute({ providerAccount: p.providerAccount, subaccount: p.tokens[2], direction: 'remove', amount: m('999999'), actor })).rejects.toMatchObject({ code: 'insufficient_available_balance' });
  });

  it('the same job delivered twice makes one provider call', async () => {
    const [s] = p.tokens;
    const { transfer } = await p.record.execute({ providerAccount: p.providerAccount, subaccount: s, direction: 'add', amount: m('1'), actor });
    const before = p.sandbox.state.log.length;
    const results = await Promise.all([p.execute.execute(transfer.id), p.execute.execute(transfer.id), p.execute.execute(transfer.id)]);
    expect(results.filter((r) => r.kind === 'done')).toHaveLength(1);
    expect(p.sandbox.state.log.length).toBe(before + 1);
    expect((await p.transfers.get(p.providerAccount, transfer.id))!.status).toBe('posted');
  });

  it('a provider refusal fails the transfer and voids the reservation, keeping code and message', async () => {
    const s = p.tokens[3];
    const funding = await p.record.execute({ providerAccount: p.providerAccount, subaccount: s, direction: 'add', amount: m('5'), actor });
    await p.execute.execute(funding.transfer.id);
    // SMS usage the ledger has not seen yet: the provider has less than the ledger thinks.
    p.sandbox.state.setBalance({ token: s }, '0.500');
    const ledgerBefore = await p.queries.balance(p.providerAccount, `sub:${s}`);
    const { transfer } = await p.record.execute({ providerAccount: p.providerAccount, subaccount: s, direction: 'remove', amount: m('1'), actor });
    await p.execute.execute(transfer.id);
    const t = (await p.transfers.get(p.providerAccount, transfer.id))!;
    expect(t.status).toBe('failed');
    expect(t.provider?.code).toBe(8);
    expect(t.failureReason).toBe('provider_rejected:insufficient_credit');
    expect((await p.queries.balance(p.providerAccount, `sub:${s}`)).available.toFixed()).toBe(ledgerBefore.available.toFixed());
    expect(await journalOf(transfer.id)).toEqual(['transfer.recorded', 'transfer.executing/1', 'transfer.failed/1']);
  });

  it('HTTP 429 (never applied) is retried after Retry-After, then posted', async () => {
    const s = p.tokens[4];
    p.sandbox.faults.add({ route: 'add', fault: 'http_429', count: 1, retryAfterSeconds: 1 });
    const { transfer } = await p.record.execute({ providerAccount: p.providerAccount, subaccount: s, direction: 'add', amount: m('2'), actor });
    const first = await p.execute.execute(transfer.id);
    expect(first).toMatchObject({ kind: 'retry' });
    expect((first as { delayMs: number }).delayMs).toBeGreaterThanOrEqual(1000);
    expect((await p.transfers.get(p.providerAccount, transfer.id))!.status).toBe('pending');
    const early = await p.execute.execute(transfer.id);
    expect(early).toMatchObject({ kind: 'skipped', why: 'not_due' });
    await new Promise((r) => setTimeout(r, (first as { delayMs: number }).delayMs + 20));
    await p.execute.execute(transfer.id);
    const t = (await p.transfers.get(p.providerAccount, transfer.id))!;
    expect(t.status).toBe('posted');
    expect(t.attempts).toBe(2);
    expect(await journalOf(transfer.id)).toEqual(['transfer.recorded', 'transfer.executing/1', 'transfer.retry_scheduled/1', 'transfer.executing/2', 'transfer.posted/2']);
  });

  it('not_sent on every attempt fails the transfer after the configured attempts', async () => {
    const s = p.tokens[4];
    p.sandbox.faults.add({ route: 'add', fault: 'http_429', count: 10 });
    const { transfer } = await p.record.execute({ providerAccount: p.providerAccount, subaccount: s, direction: 'add', amount: m('3'), actor });
    for (let i = 0; i < 3; i++) {
      await p.db.query('UPDATE transfers SET next_attempt_at = now() WHERE id = $1 AND status = $2', [transfer.id, 'pending']);
      await p.execute.execute(transfer.id);
    }
    const t = (await p.transfers.get(p.providerAccount, transfer.id))!;
    expect([t.status, t.attempts, t.failureReason]).toEqual(['failed', 3, 'provider_unreachable']);
  });

  it.each([
    ['apply_then_drop', true, 5],
    ['drop_before_apply', false, 6],
    ['http_503', false, 7],
  ] as const)('%s: the transfer goes in doubt, is never retried, and keeps its reservation', async (fault, applied, index) => {
    const s = p.tokens[index];
    p.sandbox.faults.add({ route: 'add', fault, count: 1 });
    const before = p.sandbox.state.log.length;
    const { transfer } = await p.record.execute({ providerAccount: p.providerAccount, subaccount: s, direction: 'add', amount: m('4'), actor });
    await p.execute.execute(transfer.id);
    await p.execute.execute(transfer.id);
    const t = (await p.transfers.get(p.providerAccount, transfer.id))!;
    expect(t.status).toBe('in_doubt');
    expect(t.attempts).toBe(1);
    expect(await journalOf(transfer.id)).toEqual(['transfer.recorded', 'transfer.executing/1', 'transfer.in_doubt/1']);
    expect(p.sandbox.state.log.length).toBe(before + (applied ? 1 : 0));
    expect((await p.queries.balance(p.providerAccount, `sub:${s}`)).pending.toFixed()).toBe('4.000');
    // An operator resolves it to what the provider really did.
    const resolved = await p.resolve.execute({ providerAccount: p.providerAccount, transferId: t.id, outcome: applied ? 'applied' : 'not_applied', reason: 'checked the provider console', actor });
    expect(resolved.status).toBe(applied ? 'posted' : 'voided');
    expect(resolved.resolution).toMatchObject({ outcome: applied ? 'applied' : 'not_applied', by: actor, reason: 'checked the provider console' });
    expect((await p.queries.balance(p.providerAccount, `sub:${s}`)).posted.toFixed()).toBe(p.sandboxBalance(s).toFixed());
    await expect(p.resolve.execute({ providerAccount: p.providerAccount, transferId: t.id, outcome: 'applied', reason: 'again', actor })).rejects.toMatchObject({ code: 'invalid_state' });
  });

  it('a worker that died mid-call: its lease expires and the transfer goes in doubt, not retried', async () => {
    const s = p.tokens[8];
    const { transfer } = await p.record.execute({ providerAccount: p.providerAccount, subaccount: s, direction: 'add', amount: m('1'), actor });
    // What a claimed-then-killed worker leaves behind.
    await p.db.query(`UPDATE transfers SET status = 'executing', attempts = 1, lease_expires_at = now() - interval '1 second', claimed_by = 'dead' WHERE id = $1`, [transfer.id]);
    const r = await p.sweep.execute();
    expect(r.leasesExpired).toBeGreaterThanOrEqual(1);
    expect((await p.transfers.get(p.providerAccount, transfer.id))!.status).toBe('in_doubt');
    expect(await p.execute.execute(transfer.id)).toMatchObject({ kind: 'skipped', why: 'not_pending' });
    // The sweeper ends the attempt: its entry names the dead worker, then the in-doubt one.
    expect(await journalOf(transfer.id)).toEqual(['transfer.recorded', 'transfer.executing/1', 'transfer.in_doubt/1']);
    const [attempt] = await p.db.query<{ data: { worker: string } }>(`SELECT data FROM journal_entries WHERE entity_id = $1 AND action = 'transfer.executing'`, [transfer.id]);
    expect(attempt.data.worker).toBe('dead');
  });

  it('a transfer not started before its expiry is failed as expired and its reservation voided', async () => {
    const s = p.tokens[9];
    const { transfer } = await p.record.execute({ providerAccount: p.providerAccount, subaccount: s, direction: 'add', amount: m('1'), actor });
    await p.db.query(`UPDATE transfers SET expires_at = now() - interval '1 second' WHERE id = $1`, [transfer.id]);
    await p.execute.execute(transfer.id);
    const t = (await p.transfers.get(p.providerAccount, transfer.id))!;
    expect([t.status, t.failureReason]).toEqual(['failed', 'expired']);
    const [{ state }] = await p.db.query<{ state: string }>('SELECT state FROM ledger_transactions WHERE id = $1', [t.ledgerTransactionId]);
    expect(state).toBe('voided');
  });

  it("a worker never touches another provider account's transfers", async () => {
    const s = p.tokens[11];
    const { transfer } = await p.record.execute({ providerAccount: p.providerAccount, subaccount: s, direction: 'add', amount: m('1'), actor });
    const foreign = new ExecuteTransferUseCase(p.db, p.ledger, p.transfers, p.observations, p.client, { providerAccount: 'someone-else', leaseMs: 10_000, workerId: 'w2', maxAttempts: 1, baseDelayMs: 10 });
    expect(await foreign.execute(transfer.id)).toMatchObject({ kind: 'skipped', why: 'not_found' });
    await p.db.query(`UPDATE transfers SET status = 'executing', attempts = 1, lease_expires_at = now() - interval '1 second' WHERE id = $1`, [transfer.id]);
    const foreignSweep = new SweepTransfersUseCase('someone-else', p.db, p.ledger, new TransferSweepsRepository(p.db), p.queue);
    await foreignSweep.execute();
    expect((await p.transfers.get(p.providerAccount, transfer.id))!.status).toBe('executing');
    await p.sweep.execute();
    expect((await p.transfers.get(p.providerAccount, transfer.id))!.status).toBe('in_doubt');
  });

  it('executes in recording order, one call per sub-account at a time', async () => {
    const s = p.tokens[10];
    const ids: string[] = [];
    for (let i = 1; i <= 3; i++) ids.push((await p.record.execute({ providerAccount: p.providerAccount, subaccount: s, direction: 'add', amount: m(String(i)), actor })).transfer.id);
    // The last one cannot jump the line.
    expect(await p.execute.execute(ids[2])).toMatchObject({ kind: 'skipped', why: 'blocked' });
    const first = await p.execute.execute(ids[0]);
    expect(first).toMatchObject({ kind: 'done', next: [{ transferId: ids[1] }] });
  });

  it('the relay offers each sub-account its first pending transfer only, and nothing of one whose first the in-doubt barrier holds', async () => {
    const [held, free] = [p.tokens[5], p.tokens[6]];
    const record = async (s: string, amount: string) => (await p.record.execute({ providerAccount: p.providerAccount, subaccount: s, direction: 'add', amount: m(amount), actor })).transfer.id;
    // The first call's answer is lost: in doubt.
    p.sandbox.faults.add({ route: 'add', fault: 'http_503', count: 1 });
    const doubt = await record(held, '5');
    await p.execute.execute(doubt);
    expect((await p.transfers.get(p.providerAccount, doubt))!.status).toBe('in_doubt');
    const near = await record(held, '5.5');
    const far = await record(held, '100');
    const [f1, f2] = [await record(free, '1'), await record(free, '2')];
    const heads = async (barrier: { ms: number; within: string | null }) =>
      (await new TransferSweepsRepository(p.db).relayHeads(p.providerAccount, 500, barrier)).map((h) => h.transferId);

    const whileHeld = await heads({ ms: 60_000, within: '2.000' });
    expect(whileHeld).toContain(f1);
    expect(whileHeld).not.toContain(f2);
    // `far` is not held itself, but a claim would find it blocked behind `near`.
    expect(whileHeld).not.toContain(near);
    expect(whileHeld).not.toContain(far);
    // The barrier's time is over: the first goes, alone.
    const after = await heads({ ms: 0, within: '2.000' });
    expect(after).toEqual(expect.arrayContaining([near, f1]));
    expect(after).not.toContain(far);
  });

  it('the relay re-enqueues a transfer whose job was lost, but never duplicates one still queued', async () => {
    const s = p.tokens[7];
    const { transfer } = await p.record.execute({ providerAccount: p.providerAccount, subaccount: s, direction: 'add', amount: m('1'), actor });
    const queuedFor = async () => (await p.queue.queue.getJobs(['waiting', 'delayed', 'prioritized'])).filter((j) => j.data.transferId === transfer.id).length;
    expect(await queuedFor()).toBe(1);
    await p.sweep.execute();
    await p.sweep.execute();
    expect(await queuedFor()).toBe(1);
    // Redis lost the job (flushed, failed over): the next relay pass finds the transfer.
    for (const j of await p.queue.queue.getJobs(['waiting', 'delayed', 'prioritized'])) if (j.data.transferId === transfer.id) await j.remove();
    expect(await queuedFor()).toBe(0);
    expect((await p.sweep.execute()).enqueued).toBeGreaterThanOrEqual(1);
    expect(await queuedFor()).toBe(1);
  });
});
