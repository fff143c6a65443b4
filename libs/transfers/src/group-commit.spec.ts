import { DomainError, GroupCommit } from '@app/common';
import { Money } from '@app/ledger';
import { pipelineFixture, Pipeline } from '../../../test/support/pipeline';
import { RecordTransferCommand } from './use-cases/record-transfer/record-transfer.command';
import { RecordTransferResult } from './use-cases/record-transfer/record-transfer.use-case';

const m = Money.parse;
const actor = 'token:operator#1/operator';

describe('GroupCommit (the coalescing alone)', () => {
  it('writes a lone item at once, then what arrived meanwhile as one group, answering each in order', async () => {
    const groups: number[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const gc = new GroupCommit<number, number>(async (_key, items) => {
      groups.push(items);
      if (groups.length === 1) await gate;
      return items.map((i) => (i === 13 ? new Error('thirteen') : i * 10));
    });
    const first = gc.submit('a', 1);
    const rest = [2, 3, 13, 4].map((i) => gc.submit('a', i).catch((e: Error) => e.message));
    const other = gc.submit('b', 7); // another key is not held up by key a
    expect(await other).toBe(70);
    release();
    expect(await first).toBe(10);
    expect(await Promise.all(rest)).toEqual([20, 30, 'thirteen', 40]);
    expect(groups).toEqual([[1], [7], [2, 3, 13, 4]]);
  });

  it('a group whose write throws rejects each of its items, and the next group is still written', async () => {
    let calls = 0;
    const gc = new GroupCommit<number, number>(async (_key, items) => {
      calls++;
      if (calls === 1) throw new Error('database down');
      return items;
    }, 2);
    const results = await Promise.all([1, 2, 3].map((i) => gc.submit('k', i).catch((e: Error) => e.message)));
    expect(results).toEqual(['database down', 2, 3]);
  });
});

describe('group-committed recording (Postgres)', () => {
  let p: Pipeline;
  beforeAll(async () => { p = await pipelineFixture({ subaccounts: 6, mainBalance: '100.000' }); });
  afterAll(async () => { await p.close(); });

  const cmd = (over: Partial<RecordTransferCommand>): RecordTransferCommand => ({
    providerAccount: p.providerAccount, subaccount: p.tokens[0], direction: 'add', amount: m('1'), actor, ...over,
  });

  it('concurrent requests are recorded in fewer database transactions than requests, each with its own answer', async () => {
    const before = await p.queries.balance(p.providerAccount, 'main');
    const cmds = Array.from({ length: 40 }, (_, i) => cmd({ subaccount: p.tokens[i % 6], amount: m('0.5'), idempotencyKey: `g-${i}` }));
    const results = await Promise.all(cmds.map((c) => p.record.execute(c)));
    expect(results.every((r) => r.transfer.status === 'pending' && !r.replayed)).toBe(true);
    expect(results.map((r) => r.transfer.idempotencyKey)).toEqual(cmds.map((c) => c.idempotencyKey));
    expect(results.map((r) => r.transfer.subaccount)).toEqual(cmds.map((c) => c.subaccount));
    const [{ xacts, n }] = await p.db.query<{ xacts: number; n: number }>(
      "SELECT count(DISTINCT xmin::text)::int AS xacts, count(*)::int AS n FROM transfers WHERE provider_account_id = $1 AND idempotency_key LIKE 'g-%'",
      [p.providerAccount]);
    expect(n).toBe(40);
    expect(xacts).toBeLessThan(40);
    const after = await p.queries.balance(p.providerAccount, 'main');
    expect(before.available.minus(after.available).toFixed()).toBe('20.000');
  });

  it('in one group: a refusal, a key twice (replay), a key reused with another body and an overdraft are each answered alone', async () => {
    const s = p.tokens[1];
    const subAvailable = (await p.queries.balance(p.providerAccount, `sub:${s}`)).available;
    const mainAvailable = (await p.queries.balance(p.providerAccount, 'main')).available;
    const settled = await p.db.transaction((tx) => p.record.recordManyIn(tx, [
      cmd({ subaccount: s, idempotencyKey: 'dup' }),                                 // 0 recorded
      cmd({ subaccount: 'nope' }),                                                   // 1 unknown sub-account
      cmd({ subaccount: s, idempotencyKey: 'dup' }),                                 // 2 replay of 0
      cmd({ subaccount: s, idempotencyKey: 'dup', amount: m('2') }),                 // 3 key reused, other body
      cmd({ subaccount: s, direction: 'remove', amount: subAvailable.plus(m('1')) }), // 4 more than the sub-account has
      cmd({ amount: mainAvailable.minus(m('11.5')) }),                               // 5 leaves 10.5 of main
      cmd({ amount: m('11') }),                                                      // 6 main is short now
      cmd({ amount: m('0.5') }),                                                     // 7 fits: 10 left
    ]));
    const codes = settled.map((r) => (r instanceof DomainError ? r.code : (r as RecordTransferResult).replayed ? 'replayed' : 'recorded'));
    expect(codes).toEqual(['recorded', 'subaccount_not_found', 'replayed', 'idempotency_key_reused', 'insufficient_available_balance',
      'recorded', 'insufficient_available_balance', 'recorded']);
    expect((settled[2] as RecordTransferResult).transfer.id).toBe((settled[0] as RecordTransferResult).transfer.id);
    expect((await p.queries.balance(p.providerAccount, 'main')).available.toFixed()).toBe('10.000');
    expect((await p.queries.balance(p.providerAccount, `sub:${s}`)).available.toFixed()).toBe(subAvailable.toFixed());
    const [{ n }] = await p.db.query<{ n: number }>("SELECT count(*)::int n FROM transfers WHERE provider_account_id = $1 AND idempotency_key = 'dup'", [p.providerAccount]);
    expect(n).toBe(1);
  });

  it('the same key in two database transactions at once: one records, the other is refused by the constraint, retried, and replays', async () => {
    const key = cmd({ subaccount: p.tokens[2], amount: m('0.25'), idempotencyKey: 'race-tx' });
    const [[a], [b]] = await Promise.all([p.record.recordMany([key]), p.record.recordMany([key])]);
    const answers = [a, b] as RecordTransferResult[];
    expect(answers.map((r) => r.replayed).sort()).toEqual([false, true]);
    expect(answers[0].transfer.id).toBe(answers[1].transfer.id);
    const other = await p.record.recordMany([{ ...key, amount: m('0.5') }]);
    expect((other[0] as DomainError).code).toBe('idempotency_key_reused');
  });

  it('groups written by several connections at once keep one unbroken journal chain', async () => {
    const inputs = Array.from({ length: 4 }, (_, g) => Array.from({ length: 25 }, (_, i) => cmd({ subaccount: p.tokens[(g + i) % 6], amount: m('0.001') })));
    const done = await Promise.all(inputs.map((group) => p.db.transaction((tx) => p.record.recordManyIn(tx, group))));
    expect(done.flat().filter((r) => r instanceof DomainError)).toEqual([]);
    const verified = await p.queries.verifyJournal(37);
    expect(verified.ok).toBe(true);
    const [{ gaps }] = await p.db.query<{ gaps: number }>(
      'SELECT count(*)::int AS gaps FROM (SELECT sequence - lag(sequence) OVER (ORDER BY sequence) AS step FROM journal_entries) s WHERE step <> 1');
    expect(gaps).toBe(0);
  });
});
