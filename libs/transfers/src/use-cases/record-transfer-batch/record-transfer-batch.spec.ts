import { DomainError, secrets } from '@app/common';
import { adjustmentPostings, Money } from '@app/ledger';
import { pipelineFixture, Pipeline } from '../../../../../test/support/pipeline';
import { TransferBatchRepository } from '../../persistence/transfer-batch.repository';
import { transferJson } from '../../transfer.presenter';
import { RecordTransferCommand } from '../record-transfer/record-transfer.command';
import { RecordTransferBatchUseCase } from './record-transfer-batch.use-case';

const m = Money.parse;
const actor = 'token:operator#1/operator';

/**
 * The set-based batch must write exactly what recording the same items one group at a time
 * (`RecordTransferUseCase.recordMany`, the path of POST /v1/transfers) writes: same per-item
 * answers, same ledger rows, same postings in the same order, same journal entries (reason,
 * data, order in the chain), and a chain that still verifies.
 */
describe('RecordTransferBatchUseCase (set-based, Postgres)', () => {
  let p: Pipeline;
  let batch: RecordTransferBatchUseCase;
  beforeAll(async () => {
    p = await pipelineFixture({ subaccounts: 4, mainBalance: '1000.000' });
    batch = new RecordTransferBatchUseCase(p.db, p.transfers, new TransferBatchRepository(3600), p.record, 10);
    // money on the second sub-account, so that a remove can be recorded
    await p.db.transaction((tx) => p.ledger.record(tx, { providerAccount: p.providerAccount, kind: 'opening_balance', state: 'posted', actor: 'system:test',
      lines: adjustmentPostings('opening_balance', `sub:${p.tokens[1]}`, m('10')) }));
  });
  afterAll(async () => { await p.close(); });

  const commands = (tag: string): RecordTransferCommand[] => {
    const [a, b, c] = p.tokens;
    const cmd = (x: Partial<RecordTransferCommand>): RecordTransferCommand => ({ providerAccount: p.providerAccount, subaccount: a, direction: 'add', amount: m('1'), actor, correlationId: `req-${tag}`, ...x });
    return [
      cmd({ amount: m('1.5'), idempotencyKey: `${tag}-1`, reference: 'invoice 7', metadata: { z: 1, a: { b: [1, 'x'] } } }),
      cmd({ subaccount: 'ghost', idempotencyKey: `${tag}-2` }),
      cmd({ subaccount: b, direction: 'remove', amount: m('0.25') }),
      cmd({ subaccount: c, direction: 'remove', amount: m('100000') }), // more than the sub-account holds
      cmd({ amount: m('1.5'), idempotencyKey: `${tag}-1`, reference: 'invoice 7', metadata: { a: { b: [1, 'x'] }, z: 1 } }), // same key, same body
      cmd({ amount: m('2'), idempotencyKey: `${tag}-1` }), // same key, another body
      cmd({ amount: m('999.5'), reference: 'most of main' }), // main cannot cover it after the first
      cmd({ subaccount: c, amount: m('0.001'), correlationId: null }),
    ];
  };

  const outcomeOf = (o: { transfer: { status: string }; replayed: boolean } | DomainError | { status: number; error?: { code: string }; transfer?: { status: string } }) => {
    if (o instanceof DomainError) return o.code;
    if ('error' in o && o.error) return o.error.code;
    return 'replayed' in o ? (o.replayed ? 'replayed' : o.transfer.status) : (o.status === 200 ? 'replayed' : o.transfer!.status);
  };

  /** What was written for one transfer, with its ids and keys replaced by placeholders. */
  async function written(transferId: string, tag: string) {
    const [t] = await p.db.query<Record<string, unknown>>(
      `SELECT subaccount_token, direction, amount, status, reference, metadata, idempotency_key, request_hash, attempts, created_by, correlation_id, ledger_transaction_id,
              expires_at - created_at AS expiry FROM transfers WHERE id = $1`, [transferId]);
    const ltx = t.ledger_transaction_id as string;
    const [lt] = await p.db.query('SELECT kind, state, actor, reason, correlation_id FROM ledger_transactions WHERE id = $1', [ltx]);
    const postings = await p.db.query('SELECT a.code, p.amount FROM postings p JOIN ledger_accounts a ON a.id = p.account_id WHERE p.transaction_id = $1 ORDER BY p.id', [ltx]);
    const journal = await p.db.query<{ sequence: string; action: string; entity_type: string; entity_id: string; actor: string; reason: string | null; correlation_id: string | null; data: unknown }>(
      `SELECT sequence, action, entity_type, entity_id, actor, reason, correlation_id, data FROM journal_entries
        WHERE (entity_type = 'transfer' AND entity_id = $1) OR (entity_type = 'ledger_transaction' AND entity_id = $2) ORDER BY sequence`, [transferId, ltx]);
    const norm = (v: unknown) => JSON.parse(JSON.stringify(v).split(transferId).join('<transfer>').split(ltx).join('<ltx>').split(`${tag}-`).join('<key>-').split(`req-${tag}`).join('<req>'));
    return norm({ transfer: { ...t, ledger_transaction_id: undefined }, ledgerTransaction: lt, postings, journal: journal.map(({ sequence: _s, ...j }) => j) });
  }

  it('writes what recording the same items through recordMany writes, answer by answer', async () => {
    secrets.add('secret-in-a-reference');
    const single = commands('s');
    single[2] = { ...single[2], reference: 'pay secret-in-a-reference now' };
    const viaSingle = await p.record.recordMany(single);
    const viaBatchCmds = commands('b');
    viaBatchCmds[2] = { ...viaBatchCmds[2], reference: 'pay secret-in-a-reference now' };
    const results = await batch.execute(viaBatchCmds.map((command, index) => ({ index, command })));

    expect(results.map(outcomeOf)).toEqual(viaSingle.map(outcomeOf));
    expect(results.map(outcomeOf)).toEqual(['pending', 'subaccount_not_found', 'pending', 'insufficient_available_balance', 'replayed', 'idempotency_key_reused', 'insufficient_available_balance', 'pending']);
    expect(results.map((r) => r.status)).toEqual([202, 404, 202, 422, 200, 409, 422, 202]);
    expect(results[4].transfer!.id).toBe(results[0].transfer!.id);
    expect(results[6].error).toEqual({ code: 'insufficient_available_balance', message: (viaSingle[6] as DomainError).message, details: (viaSingle[6] as DomainError).details });

    for (const i of [0, 2, 7]) {
      const s = viaSingle[i] as { transfer: { id: string } };
      const b = results[i].transfer!;
      const [mine, theirs] = [await written(b.id, 'b'), await written(s.transfer.id, 's')];
      expect(mine).toEqual(theirs);
      expect(mine.journal.map((j: { action: string }) => j.action)).toEqual(['ledger_transaction.reserved', 'transfer.recorded']);
      // the answer is the row as read back
      expect(transferJson(b)).toEqual(transferJson((await p.transfers.get(p.providerAccount, b.id))!));
    }
    expect(JSON.stringify(await written(results[2].transfer!.id, 'b'))).toContain('pay [redacted] now');
    // the chain order of a chunk: every reservation, then every transfer
    const actions = await p.db.query<{ action: string }>(
      `SELECT action FROM journal_entries WHERE correlation_id = 'req-b' OR entity_id = $1::text OR entity_id = (SELECT ledger_transaction_id::text FROM transfers WHERE id = $1::uuid) ORDER BY sequence`,
      [results[7].transfer!.id]);
    expect(actions.map((a) => a.action)).toEqual(['ledger_transaction.reserved', 'ledger_transaction.reserved', 'ledger_transaction.reserved', 'transfer.recorded', 'transfer.recorded', 'transfer.recorded']);
    const [chain] = await p.db.query<{ n: string }>(
      `SELECT count(*) AS n FROM journal_entries j JOIN journal_entries prev ON prev.sequence = j.sequence - 1 WHERE j.correlation_id = 'req-b' AND j.prev_hash = prev.hash`);
    expect(Number(chain.n)).toBe(4); // every entry of the batch with this correlation id (items 0 and 2) links to the one before it
    expect(await p.queries.verifyJournal()).toMatchObject({ ok: true, brokenAt: null });
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

  it('walks the available balance across chunks: the chunk after the one that emptied main is refused', async () => {
    const batch = new RecordTransferBatchUseCase(p.db, p.transfers, new TransferBatchRepository(3600), p.record, 3);
    const available = await p.ledger.counters(p.db, p.providerAccount, 'main');
    const left = available.debitsPosted.minus(available.creditsPosted).minus(available.creditsPending);
    const cmd = (amount: Money) => ({ providerAccount: p.providerAccount, subaccount: p.tokens[3], direction: 'add' as const, amount, actor });
    const r = await batch.execute([cmd(left.minus(m('0.002'))), cmd(m('0.001')), cmd(m('0.001')), cmd(m('0.001'))].map((command, index) => ({ index, command })));
    expect(r.map((x) => x.status)).toEqual([202, 202, 202, 422]); // chunks of 3: the 4th is in the second chunk
    const after = await p.ledger.counters(p.db, p.providerAccount, 'main');
    expect(after.debitsPosted.minus(after.creditsPosted).minus(after.creditsPending).toFixed()).toBe('0.000');
  });
});
