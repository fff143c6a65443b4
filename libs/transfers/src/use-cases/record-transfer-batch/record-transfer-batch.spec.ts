import { Money } from '@app/ledger';
import { pipelineFixture, Pipeline } from '../../../../../test/support/pipeline';
import { RecordTransferBatchUseCase } from './record-transfer-batch.use-case';

const m = Money.parse;
const actor = 'token:operator#1/operator';

/** The batch in chunks (one database transaction each): replays, and the balance walk across chunks. */
describe('RecordTransferBatchUseCase (Postgres)', () => {
  let p: Pipeline;
  let batch: RecordTransferBatchUseCase;
  beforeAll(async () => {
    p = await pipelineFixture({ subaccounts: 4, mainBalance: '1000.000' });
    batch = new RecordTransferBatchUseCase(p.record, 10);
  });
  afterAll(async () => { await p.close(); });

  it('enqueues each chunk\'s runnable transfers (the first of each sub-account) before it answers', async () => {
    const batch3 = new RecordTransferBatchUseCase(p.record, 3);
    const tokens = [0, 1, 2, 3, 0, 1, 2].map((i) => p.tokens[i]);
    const r = await batch3.execute(tokens.map((subaccount, index) => ({ index, command: { providerAccount: p.providerAccount, subaccount, direction: 'add' as const, amount: m('0.1'), actor } })));
    expect(r.map((x) => x.status)).toEqual([202, 202, 202, 202, 202, 202, 202]);
    const queued = (await p.queue.queue.getJobs(['waiting', 'prioritized'])).map((j) => j.data.transferId).sort();
    // the 4th item is in the second chunk; items 5-7 wait behind the first of their sub-account
    expect(queued).toEqual(r.slice(0, 4).map((x) => x.transfer!.id).sort());
  });

  it('replays a whole batch (200, same transfers, nothing more reserved) and refuses a changed body per item', async () => {
    const cmds = [0, 1, 2].map((i) => ({ providerAccount: p.providerAccount, subaccount: p.tokens[i], direction: 'add' as const, amount: m('0.5'), idempotencyKey: `replay-${i}`, actor }));
    const first = await batch.execute(cmds.map((command, index) => ({ index, command })));
    const pendingBefore = (await p.queries.balance(p.providerAccount, 'main')).pending.toFixed();
    const again = await batch.execute([...cmds, { ...cmds[0], amount: m('0.6') }].map((command, index) => ({ index, command })));
    expect(first.map((r) => r.status)).toEqual([202, 202, 202]);
    expect(again.map((r) => r.status)).toEqual([200, 200, 200, 409]);
    expect(again.slice(0, 3).map((r) => r.transfer!.id)).toEqual(first.map((r) => r.transfer!.id));
    expect((await p.queries.balance(p.providerAccount, 'main')).pending.toFixed()).toBe(pendingBefore);
  });

  it('records a key repeated in the next chunk once: the next chunk replays it', async () => {
    const batch2 = new RecordTransferBatchUseCase(p.record, 2);
    const cmd = (i: number, key: string) => ({ providerAccount: p.providerAccount, subaccount: p.tokens[i], direction: 'add' as const, amount: m('0.25'), idempotencyKey: key, actor });
    const pendingBefore = (await p.queries.balance(p.providerAccount, 'main')).pending;
    const r = await batch2.execute([cmd(0, 'across-a'), cmd(1, 'across-b'), cmd(1, 'across-b'), cmd(2, 'across-c')].map((command, index) => ({ index, command })));
    expect(r.map((x) => x.status)).toEqual([202, 202, 200, 202]); // the 3rd (second chunk) is the 2nd's replay
    expect(r[2].transfer!.id).toBe(r[1].transfer!.id);
    expect((await p.queries.balance(p.providerAccount, 'main')).pending.minus(pendingBefore).abs().toFixed()).toBe('0.750'); // three reservations of 0.25
  });

  it('walks the available balance across chunks: the chunk after the one that emptied main is refused', async () => {
    const batch = new RecordTransferBatchUseCase(p.record, 3);
    const available = await p.ledger.counters(p.db, p.providerAccount, 'main');
    const left = available.debitsPosted.minus(available.creditsPosted).minus(available.creditsPending);
    const cmd = (amount: Money) => ({ providerAccount: p.providerAccount, subaccount: p.tokens[3], direction: 'add' as const, amount, actor });
    const r = await batch.execute([cmd(left.minus(m('0.002'))), cmd(m('0.001')), cmd(m('0.001')), cmd(m('0.001'))].map((command, index) => ({ index, command })));
    expect(r.map((x) => x.status)).toEqual([202, 202, 202, 422]); // chunks of 3: the 4th is in the second chunk
    const after = await p.ledger.counters(p.db, p.providerAccount, 'main');
    expect(after.debitsPosted.minus(after.creditsPosted).minus(after.creditsPending).toFixed()).toBe('0.000');
  });
});
