import { Money } from '@app/ledger';
import { pipelineFixture, Pipeline } from '../../../test/support/pipeline';
import { ExecuteTransferJobUseCase } from './use-cases/execute-transfer/execute-transfer-job.use-case';
import { ExecuteTransferUseCase } from './use-cases/execute-transfer/execute-transfer.use-case';

const actor = 'token:operator#1/operator';

describe('a job runs the next in line itself (Postgres, sandbox over HTTP, BullMQ)', () => {
  let p: Pipeline;
  beforeAll(async () => { p = await pipelineFixture({ subaccounts: 3, mainBalance: '1000.000' }); });
  afterAll(async () => { await p.close(); });

  /** Four transfers of one sub-account, recorded one after the other: only the first is enqueued. */
  async function line(token: string) {
    const ids: string[] = [];
    for (let i = 1; i <= 4; i++) {
      ids.push((await p.record.execute({ providerAccount: p.providerAccount, subaccount: token, direction: 'add', amount: Money.parse(`${i}`), actor })).transfer.id);
    }
    return ids;
  }
  const queued = async () => (await p.queue.queue.getWaiting()).map((j) => j.data.transferId);
  const statusOf = async (ids: string[]) => Promise.all(ids.map(async (id) => (await p.transfers.get(p.providerAccount, id))!.status));

  it('posts the whole line in recording order from the first transfer\'s job, adding no job', async () => {
    const ids = await line(p.tokens[0]);
    expect(await queued()).toEqual([ids[0]]);
    const before = p.sandboxBalance(p.tokens[0]);
    const r = await new ExecuteTransferJobUseCase(p.execute, p.queue).execute({ transferId: ids[0], attempt: 0 });
    expect(r).toMatchObject({ kind: 'done', transfer: { id: ids[0], status: 'posted' } });
    expect(await statusOf(ids)).toEqual(['posted', 'posted', 'posted', 'posted']);
    expect(p.sandboxBalance(p.tokens[0]).toFixed()).toBe(before.plus(Money.parse('10')).toFixed());
    const posted = await p.db.query<{ entity_id: string }>(
      "SELECT entity_id FROM journal_entries WHERE action = 'transfer.posted' AND entity_id = ANY($1) ORDER BY sequence", [ids]);
    expect(posted.map((e) => e.entity_id)).toEqual(ids);
    expect(await queued()).toEqual([ids[0]]); // nothing added: the chain never went through Redis
  });

  it('a transfer the job went on to that fails is handed to a job of its own; the job keeps its own result', async () => {
    const ids = await line(p.tokens[2]);
    const failing = { execute: async (id: string) => { if (id === ids[1]) throw new Error('database gone'); return p.execute.execute(id); } } as unknown as ExecuteTransferUseCase;
    const r = await new ExecuteTransferJobUseCase(failing, p.queue).execute({ transferId: ids[0], attempt: 0 });
    expect(r).toMatchObject({ kind: 'done', transfer: { id: ids[0], status: 'posted' } });
    expect(await statusOf(ids)).toEqual(['posted', 'pending', 'pending', 'pending']);
    expect((await queued()).filter((id) => ids.includes(id)).sort()).toEqual([ids[0], ids[1]].sort());
  });

  it('stops after maxChain transfers, or once the worker is stopping, and enqueues the next instead', async () => {
    const ids = await line(p.tokens[1]);
    const job = new ExecuteTransferJobUseCase(p.execute, p.queue, 2);
    await job.execute({ transferId: ids[0], attempt: 0 });
    expect(await statusOf(ids)).toEqual(['posted', 'posted', 'pending', 'pending']);
    expect((await queued()).filter((id) => ids.includes(id)).sort()).toEqual([ids[0], ids[2]].sort());
    job.stopChaining();
    await job.execute({ transferId: ids[2], attempt: 0 });
    expect(await statusOf(ids)).toEqual(['posted', 'posted', 'posted', 'pending']);
    expect((await queued()).filter((id) => ids.includes(id)).sort()).toEqual([ids[0], ids[2], ids[3]].sort());
  });
});
