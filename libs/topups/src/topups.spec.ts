import { DomainError } from '@app/common';
import { Money } from '@app/ledger';
import { RecordTransferUseCase } from '@app/transfers';
import { pipelineFixture, Pipeline } from '../../../test/support/pipeline';
import {
  CreateTopupPolicyUseCase, DeleteTopupPolicyUseCase, PreviewTopupPolicyUseCase, RunDueTopupsUseCase, TopupsRepository, UpdateTopupPolicyUseCase,
} from '.';

const m = Money.parse;
const admin = 'token:admin#1/admin';

interface RunRow { policy_id: string; period_key: string; status: string; amount: string | null; explanation: string; observed_balance: string | null; transfer_id: string | null }

/**
 * Top-ups against real Postgres, the provider sandbox over HTTP and BullMQ, with a fake clock
 * every use case reads. "Instances" are separate use-case objects (own pipeline producers),
 * as separate worker processes would have, ticking at the same time.
 */
describe('automated top-ups (Postgres, sandbox, fake clock)', () => {
  let p: Pipeline;
  let clock: Date;
  const now = () => clock;
  let create: CreateTopupPolicyUseCase;
  let update: UpdateTopupPolicyUseCase;
  let remove: DeleteTopupPolicyUseCase;
  let queries: TopupsRepository;

  const instance = () => new RunDueTopupsUseCase(p.db, queries, p.transfers, new RecordTransferUseCase(p.db, p.ledger, p.transfers, p.subaccounts, p.queue, { expirySeconds: 3600 }), p.client, { now });
  const tickAll = async (instances: RunDueTopupsUseCase[]) => Promise.all(instances.map((i) => i.execute(p.providerAccount)));
  const runs = (policyId: string) => p.db.query<RunRow>('SELECT * FROM topup_runs WHERE policy_id = $1 ORDER BY scheduled_for', [policyId]);
  const topupTransfers = () => p.db.query<{ id: string; subaccount_token: string; amount: string; idempotency_key: string; status: string }>(
    `SELECT id, subaccount_token, amount, idempotency_key, status FROM transfers WHERE provider_account_id = $1 AND idempotency_key LIKE 'topup:%' ORDER BY seq`,
    [p.providerAccount],
  );
  const newPolicy = (cmd: Partial<Parameters<CreateTopupPolicyUseCase['execute']>[0]> & { subaccount: string }) =>
    create.execute({ providerAccount: p.providerAccount, mode: 'fixed', amount: m('25'), actor: admin, ...cmd });

  beforeEach(async () => {
    p = await pipelineFixture({ subaccounts: 6, mainBalance: '10000.000' });
    clock = new Date('2026-11-30T12:00:00Z');
    queries = new TopupsRepository(p.db, p.transfers);
    create = new CreateTopupPolicyUseCase(p.db, queries, p.subaccounts, { now, defaultTimezone: 'Europe/Paris' });
    update = new UpdateTopupPolicyUseCase(p.db, queries, { now });
    remove = new DeleteTopupPolicyUseCase(p.db, queries, { now });
  });
  afterEach(async () => { await p.close(); });

  it('crossing the month boundary in Europe/Paris with three instances ticking: each enabled policy makes exactly one transfer', async () => {
    const [a, b, c, d, e] = p.tokens;
    const fixed = await newPolicy({ subaccount: a, amount: m('25') });
    const target = await newPolicy({ subaccount: b, mode: 'target', amount: undefined, target: m('40') });
    const disabled = await newPolicy({ subaccount: c, enabled: false });
    const deleted = await newPolicy({ subaccount: d });
    await remove.execute({ providerAccount: p.providerAccount, id: deleted.id, actor: admin });
    // Another zone: 06:00 in New York is 11:00Z, later the same day.
    const newYork = await newPolicy({ subaccount: e, amount: m('7'), timezone: 'America/New_York' });
    expect(fixed.schedule).toBe('0 6 1 * *');

    const instances = [instance(), instance(), instance()];
    // 05:59 Paris on 1 December: nothing is due yet.
    clock = new Date('2026-12-01T04:59:00Z');
    expect((await tickAll(instances)).every((r) => r.decided === 0 && r.missed === 0)).toBe(true);
    expect(await topupTransfers()).toHaveLength(0);

    // Each instance ticks every 20 s across the boundary (06:00 Paris = 05:00Z), all at once.
    const results = [];
    for (let t = Date.parse('2026-12-01T04:59:40Z'); t <= Date.parse('2026-12-01T05:03:00Z'); t += 20_000) {
      clock = new Date(t);
      results.push(...(await tickAll(instances)));
    }
    expect(results.reduce((n, r) => n + r.decided, 0)).toBe(2);
    expect(results.reduce((n, r) => n + r.alreadyRun, 0)).toBeGreaterThan(0);

    const period = '2026-12-01T06:00+01:00';
    const [fixedRun] = await runs(fixed.id);
    expect(await runs(fixed.id)).toHaveLength(1);
    expect(fixedRun).toMatchObject({ period_key: period, status: 'decided', amount: '25.000', explanation: 'fixed 25.000' });
    const [targetRun] = await runs(target.id);
    expect(await runs(target.id)).toHaveLength(1);
    expect(targetRun).toMatchObject({ period_key: period, status: 'decided', amount: '40.000', observed_balance: '0.000' });
    expect(await runs(disabled.id)).toHaveLength(0);
    expect(await runs(deleted.id)).toHaveLength(0);
    expect(await runs(newYork.id)).toHaveLength(0);

    const transfers = await topupTransfers();
    expect(transfers.map((t) => [t.subaccount_token, t.amount, t.idempotency_key]).sort()).toEqual([
      [a, '25.000', `topup:${fixed.id}:${period}`], [b, '40.000', `topup:${target.id}:${period}`],
    ].sort());
    expect([fixedRun.transfer_id, targetRun.transfer_id].sort()).toEqual(transfers.map((t) => t.id).sort());

    // The database, not the lock, is the guarantee: a second run row for the period is refused.
    await expect(p.db.query(
      `INSERT INTO topup_runs (id, policy_id, provider_account_id, period_key, scheduled_for, status, mode, explanation, actor)
       VALUES (gen_random_uuid(), $1, $2, $3, now(), 'skipped', 'fixed', 'again', 'test')`,
      [fixed.id, p.providerAccount, period],
    )).rejects.toMatchObject({ constraint: 'topup_runs_one_per_period' });
    // Runs are final.
    await expect(p.db.query(`UPDATE topup_runs SET amount = 26 WHERE policy_id = $1`, [fixed.id])).rejects.toThrow(/is final/);
    await expect(p.db.query(`DELETE FROM topup_runs WHERE policy_id = $1`, [fixed.id])).rejects.toThrow();

    // New York's 06:00 comes later; the transfers execute through the normal pipeline.
    clock = new Date('2026-12-01T11:00:30Z');
    const later = await tickAll(instances);
    expect(later.reduce((n, r) => n + r.decided, 0)).toBe(1);
    expect((await runs(newYork.id)).map((r) => r.period_key)).toEqual(['2026-12-01T06:00-05:00']);
    p.startWorker();
    await p.waitFor(async () => (await topupTransfers()).every((t) => t.status === 'posted'), 20_000, 'top-up transfers posted');
    expect([p.sandboxBalance(a).toFixed(), p.sandboxBalance(b).toFixed(), p.sandboxBalance(e).toFixed(), p.sandboxBalance(c).toFixed()])
      .toEqual(['25.000', '40.000', '7.000', '0.000']);
  });

  it('service down across month boundaries, then started: exactly one catch-up run, older periods listed as missed', async () => {
    const [a] = p.tokens;
    clock = new Date('2026-09-20T10:00:00Z');
    const policy = await newPolicy({ subaccount: a, amount: m('15') });
    // Down from 20 September to 3 December: 1 October, 1 November and 1 December fell due.
    clock = new Date('2026-12-03T08:00:00Z');
    const results = await tickAll([instance(), instance(), instance()]);
    expect(results.reduce((n, r) => n + r.decided, 0)).toBe(1);
    expect(results.reduce((n, r) => n + r.missed, 0)).toBe(2);

    const rows = await runs(policy.id);
    expect(rows.map((r) => [r.period_key, r.status, r.amount])).toEqual([
      ['2026-10-01T06:00+02:00', 'missed', null],
      ['2026-11-01T06:00+01:00', 'missed', null],
      ['2026-12-01T06:00+01:00', 'decided', '15.000'],
    ]);
    expect(rows[0].explanation).toMatch(/not replayed/);
    expect(rows[2].explanation).toBe('caught up at 2026-12-03T08:00:00.000Z: fixed 15.000');
    expect(await topupTransfers()).toHaveLength(1);

    // Started again later in December: nothing more; on 1 January the regular run, no missed.
    clock = new Date('2026-12-20T00:00:00Z');
    expect(await instance().execute(p.providerAccount)).toMatchObject({ decided: 0, missed: 0, alreadyRun: 1 });
    clock = new Date('2027-01-01T05:00:05Z');
    expect(await instance().execute(p.providerAccount)).toMatchObject({ decided: 1, missed: 0 });
    expect((await runs(policy.id)).map((r) => r.status)).toEqual(['missed', 'missed', 'decided', 'decided']);
    expect(await topupTransfers()).toHaveLength(2);

    // The list shows them newest first, with the transfer of each decided run; period filters by prefix.
    const list = await queries.listRuns(p.providerAccount, { limit: 2, policy: policy.id });
    expect(list.data.map((r) => r.period)).toEqual(['2027-01-01T06:00+01:00', '2026-12-01T06:00+01:00']);
    expect(list.data[0].transfer).toMatchObject({ status: 'pending', amount: m('15') });
    const rest = await queries.listRuns(p.providerAccount, { limit: 2, policy: policy.id, cursor: list.nextCursor! });
    expect(rest.data.map((r) => r.status)).toEqual(['missed', 'missed']);
    expect(rest.nextCursor).toBeNull();
    expect((await queries.listRuns(p.providerAccount, { limit: 50, period: '2026-11' })).data.map((r) => r.period)).toEqual(['2026-11-01T06:00+01:00']);
  });

  it('target mode reads the provider just before deciding: SMS usage the ledger has not seen is topped up, the cap and pending transfers are applied', async () => {
    const [a, b, c, d] = p.tokens;
    const setupWorker = p.startWorker();
    // Each sub-account gets 30 through the pipeline, then spends 12.5 in SMS (the ledger still says 30).
    for (const t of [a, b, c, d]) {
      const { transfer } = await p.record.execute({ providerAccount: p.providerAccount, subaccount: t, direction: 'add', amount: m('30'), actor: admin });
      await p.waitFor(async () => (await p.transfers.get(p.providerAccount, transfer.id))!.status === 'posted', 20_000, 'setup transfer');
      p.sandbox.state.usage({ token: t }, '12.5');
    }
    await setupWorker.close();
    expect((await p.queries.balance(p.providerAccount, `sub:${a}`)).posted.toFixed()).toBe('30.000');
    expect(p.sandboxBalance(a).toFixed()).toBe('17.500');

    const plain = await newPolicy({ subaccount: a, mode: 'target', amount: undefined, target: m('100') });
    const capped = await newPolicy({ subaccount: b, mode: 'target', amount: undefined, target: m('100'), cap: m('50') });
    const above = await newPolicy({ subaccount: c, mode: 'target', amount: undefined, target: m('10') });
    const withPending = await newPolicy({ subaccount: d, mode: 'target', amount: undefined, target: m('100') });
    // Recorded and not executed yet (no worker now): the provider's reading does not include it.
    await p.record.execute({ providerAccount: p.providerAccount, subaccount: d, direction: 'add', amount: m('20'), actor: admin });

    const preview = await new PreviewTopupPolicyUseCase(p.db, queries, p.transfers, p.client, { now }).execute(p.providerAccount, plain.id);
    expect(preview).toMatchObject({ nextRunAt: '2026-12-01T05:00:00.000Z', nextPeriod: '2026-12-01T06:00+01:00', amount: '82.500', observedBalance: '17.500', duePeriod: null });

    clock = new Date('2026-12-01T05:00:10Z');
    await tickAll([instance(), instance(), instance()]);
    const [rp] = await runs(plain.id);
    expect(rp).toMatchObject({ status: 'decided', amount: '82.500', observed_balance: '17.500', explanation: 'target 100.000: provider reading 17.500, 82.500 missing' });
    const [rc] = await runs(capped.id);
    expect(rc).toMatchObject({ status: 'decided', amount: '50.000', explanation: 'target 100.000: provider reading 17.500, 82.500 missing, capped at 50.000' });
    const [ra] = await runs(above.id);
    expect(ra).toMatchObject({ status: 'skipped', amount: null, transfer_id: null, explanation: 'target 10.000: provider reading 17.500, already at or above the target' });
    const [rd] = await runs(withPending.id);
    expect(rd).toMatchObject({ status: 'decided', amount: '62.500', explanation: 'target 100.000: provider reading 17.500 (+20.000 pending), 62.500 missing' });

    p.startWorker();
    await p.waitFor(async () => {
      const c = await p.statusCounts();
      return Object.keys(c).length === 1 && c.posted === 8;
    }, 20_000, 'all transfers posted');
    expect([p.sandboxBalance(a), p.sandboxBalance(b), p.sandboxBalance(c), p.sandboxBalance(d)].map((x) => x.toFixed()))
      .toEqual(['100.000', '67.500', '17.500', '100.000']);
    expect((await topupTransfers()).map((t) => t.status)).toEqual(['posted', 'posted', 'posted']);
  });

  it('a disabled or deleted policy never fires; re-enabling does not owe the periods that passed while disabled', async () => {
    const [a, b] = p.tokens;
    const off = await newPolicy({ subaccount: a, enabled: false });
    const gone = await newPolicy({ subaccount: b });
    clock = new Date('2026-12-01T05:00:30Z');
    await tickAll([instance(), instance()]);
    expect((await runs(gone.id)).map((r) => r.status)).toEqual(['decided']);
    expect(await runs(off.id)).toHaveLength(0);

    clock = new Date('2026-12-10T09:00:00Z');
    const deleted = await remove.execute({ providerAccount: p.providerAccount, id: gone.id, actor: admin });
    expect(deleted.deletedAt?.toISOString()).toBe('2026-12-10T09:00:00.000Z');
    const reenabled = await update.execute({ providerAccount: p.providerAccount, id: off.id, patch: { enabled: true }, actor: admin });
    expect(reenabled.effectiveFrom.toISOString()).toBe('2026-12-10T09:00:00.000Z');

    // Down until February: the deleted policy still does not fire; the re-enabled one catches
    // up February and lists January as missed, but not December (it was disabled then).
    clock = new Date('2027-02-01T05:00:30Z');
    await tickAll([instance(), instance()]);
    expect((await runs(gone.id)).map((r) => r.period_key)).toEqual(['2026-12-01T06:00+01:00']);
    expect((await runs(off.id)).map((r) => [r.period_key, r.status])).toEqual([['2027-01-01T06:00+01:00', 'missed'], ['2027-02-01T06:00+01:00', 'decided']]);

    // A deleted policy is frozen, and stays readable with its runs.
    await expect(update.execute({ providerAccount: p.providerAccount, id: gone.id, patch: { amount: m('1') }, actor: admin })).rejects.toMatchObject({ code: 'invalid_state' });
    await expect(p.db.query('UPDATE topup_policies SET enabled = true WHERE id = $1', [gone.id])).rejects.toThrow(/is deleted/);
    await expect(p.db.query('DELETE FROM topup_policies WHERE id = $1', [gone.id])).rejects.toThrow();
    expect((await queries.listPolicies(p.providerAccount, { limit: 50 })).data.map((x) => x.id)).toEqual([off.id]);
    expect((await queries.listPolicies(p.providerAccount, { limit: 50, includeDeleted: true })).data.map((x) => x.id)).toEqual([off.id, gone.id]);
    expect((await queries.listRuns(p.providerAccount, { limit: 50, policy: gone.id })).data).toHaveLength(1);

    const journal = await p.db.query<{ action: string; actor: string }>(
      `SELECT action, actor FROM journal_entries WHERE entity_type = 'topup_policy' AND entity_id IN ($1, $2) ORDER BY sequence`, [off.id, gone.id]);
    expect(journal).toEqual([
      { action: 'topup_policy.created', actor: admin }, { action: 'topup_policy.created', actor: admin },
      { action: 'topup_policy.deleted', actor: admin }, { action: 'topup_policy.updated', actor: admin },
    ]);
  });

  it('a transfer the pipeline refuses makes a failed run with the reason, and the period is not retried', async () => {
    const [a] = p.tokens;
    const policy = await newPolicy({ subaccount: a, amount: m('20000') });
    clock = new Date('2026-12-01T05:00:30Z');
    expect(await instance().execute(p.providerAccount)).toMatchObject({ failed: 1, decided: 0 });
    const [run] = await runs(policy.id);
    expect(run).toMatchObject({ status: 'failed', amount: null, transfer_id: null });
    expect(run.explanation).toMatch(/^fixed 20000\.000; the transfer was refused: .*available balance/);
    expect(await topupTransfers()).toHaveLength(0);
    expect(await instance().execute(p.providerAccount)).toMatchObject({ failed: 0, alreadyRun: 1 });
  });

  it('validates policies, journals changes with the actor, and a schedule change starts afresh', async () => {
    const [a] = p.tokens;
    const invalid = (cmd: Partial<Parameters<CreateTopupPolicyUseCase['execute']>[0]>) => newPolicy({ subaccount: a, ...cmd }).then(() => null, (e: DomainError) => e.code);
    expect(await invalid({ amount: undefined })).toBe('validation_failed');
    expect(await invalid({ mode: 'target', target: m('5') })).toBe('validation_failed');
    expect(await invalid({ schedule: '0 6 31 2 *' })).toBe('validation_failed');
    expect(await invalid({ timezone: 'Europe/Atlantis' })).toBe('validation_failed');
    expect(await invalid({ subaccount: 'no-such-token' })).toBe('subaccount_not_found');

    const policy = await newPolicy({ subaccount: a, amount: m('10') });
    clock = new Date('2026-11-30T13:00:00Z');
    const changed = await update.execute({ providerAccount: p.providerAccount, id: policy.id, patch: { mode: 'target', target: m('80'), schedule: '30  2 * * *' }, actor: 'token:admin#2/admin' });
    expect(changed).toMatchObject({ mode: 'target', amount: null, updatedBy: 'token:admin#2/admin', createdBy: admin, schedule: '30 2 * * *' });
    expect(changed.target?.toFixed()).toBe('80.000');
    expect(changed.effectiveFrom.toISOString()).toBe('2026-11-30T13:00:00.000Z');
    const [entry] = await p.db.query<{ data: { changes: Record<string, unknown> }; actor: string }>(
      `SELECT data, actor FROM journal_entries WHERE entity_id = $1 AND action = 'topup_policy.updated'`, [policy.id]);
    expect(entry.actor).toBe('token:admin#2/admin');
    expect(entry.data.changes).toEqual({
      mode: { from: 'fixed', to: 'target' }, amount: { from: '10.000', to: null }, target: { from: null, to: '80.000' }, schedule: { from: '0 6 1 * *', to: '30 2 * * *' },
    });
    await expect(update.execute({ providerAccount: p.providerAccount, id: policy.id, patch: { amount: m('5') }, actor: admin })).rejects.toMatchObject({ code: 'validation_failed' });
    await expect(update.execute({ providerAccount: p.providerAccount, id: '00000000-0000-4000-8000-000000000000', patch: {}, actor: admin })).rejects.toMatchObject({ code: 'policy_not_found' });
    // The foreign key refuses an unknown sub-account; the refusal (through Prisma Client) keeps its SQLSTATE.
    await expect(update.execute({ providerAccount: p.providerAccount, id: policy.id, patch: { subaccount: 'no-such-token' }, actor: admin })).rejects.toMatchObject({ code: 'subaccount_not_found' });
    await expect(p.db.query(`UPDATE topup_policies SET mode = 'fixed' WHERE id = $1`, [policy.id])).rejects.toMatchObject({ constraint: 'topup_policies_fixed_has_amount' });
  });
});
