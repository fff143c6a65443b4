import { Money } from '@app/ledger';
import { pipelineFixture, Pipeline } from '../../../test/support/pipeline';
import { ExecuteTransferUseCase } from './use-cases/execute-transfer/execute-transfer.use-case';
import { PostedSettlements } from './use-cases/execute-transfer/posted-settlements';

const actor = 'token:operator#1/operator';

describe('settlement groups (Postgres, sandbox over HTTP)', () => {
  let p: Pipeline;
  beforeAll(async () => { p = await pipelineFixture({ subaccounts: 6, mainBalance: '100.000' }); });
  afterAll(async () => { await p.close(); });

  /**
   * Executes with settlement groups; every call answers only once one call per sub-account
   * has been made, so their outcomes arrive together.
   */
  function groupedExecution(workerId: string): ExecuteTransferUseCase {
    let started = 0;
    let open!: () => void;
    const allStarted = new Promise<void>((r) => { open = r; });
    const held = <A extends unknown[], R>(f: (...a: A) => Promise<R>) => async (...a: A): Promise<R> => {
      const r = await f(...a);
      if (++started === p.tokens.length) open();
      await allStarted;
      return r;
    };
    const provider = { addCredit: held(p.client.addCredit.bind(p.client)), removeCredit: held(p.client.removeCredit.bind(p.client)) };
    return new ExecuteTransferUseCase(p.db, p.ledger, p.transfers, p.observations, provider, {
      providerAccount: p.providerAccount, leaseMs: 10_000, workerId, maxAttempts: 1, baseDelayMs: 10, maxDelayMs: 10,
      settlements: new PostedSettlements(p.db, p.ledger, p.transfers, p.observations, workerId),
    });
  }

  it('settles concurrent confirmed calls together, each observation expecting the posted balance at its own settlement', async () => {
    const execute = groupedExecution('groups');
    const ids: string[] = [];
    for (const s of p.tokens) ids.push((await p.record.execute({ providerAccount: p.providerAccount, subaccount: s, direction: 'add', amount: Money.parse('1.250'), actor })).transfer.id);
    const results = await Promise.all(ids.map((id) => execute.execute(id)));
    expect(results.map((r) => r.kind === 'done' && r.transfer.status)).toEqual(ids.map(() => 'posted'));

    // Fewer database transactions than transfers: xmin is the transaction that wrote the row.
    const [{ txs }] = await p.db.query<{ txs: number }>('SELECT count(DISTINCT xmin::text)::int AS txs FROM transfers WHERE id = ANY($1::uuid[])', [ids]);
    expect(txs).toBeLessThan(ids.length);

    const rows = await p.db.query<{ transfer_id: string; code: string; balance: string; expected: string; settled: boolean; entry_balance: string; provider_credit: string; ledger_state: string }>(
      `SELECT o.transfer_id, a.code, o.balance::text, o.expected::text, o.settled, e.balance_after::text AS entry_balance,
              t.provider_credit::text, l.state AS ledger_state
         FROM observations o JOIN ledger_accounts a ON a.id = o.account_id JOIN transfers t ON t.id = o.transfer_id
         JOIN ledger_transactions l ON l.id = t.ledger_transaction_id
         JOIN postings po ON po.transaction_id = t.ledger_transaction_id AND po.account_id = a.id
         JOIN account_entries e ON e.posting_id = po.id
        WHERE o.transfer_id = ANY($1::uuid[])`,
      [ids],
    );
    expect(rows).toHaveLength(2 * ids.length);
    for (const r of rows) {
      expect(r.ledger_state).toBe('posted');
      expect(r.expected).toBe(r.entry_balance);
      if (r.code === 'main') {
        expect(r.settled).toBe(false); // the calls overlapped: main's figure is not attributable
        expect(r.balance).toBe(r.provider_credit);
      } else {
        expect(r.settled).toBe(true);
        expect(r.expected).toBe('1.250'); // the sub-account's posted balance right after its transfer
        expect(r.balance).toBe('1.250'); // and the provider agrees
      }
    }
    // Main's expected figures are the running balance after each settlement in turn: 100 − 1.25 × k.
    const mains = rows.filter((r) => r.code === 'main').map((r) => r.expected).sort();
    expect(mains).toEqual(['92.500', '93.750', '95.000', '96.250', '97.500', '98.750']);
    const journal = await p.db.query<{ action: string }>(`SELECT action FROM journal_entries WHERE entity_id = ANY($1::text[]) AND action IN ('transfer.posted', 'ledger_transaction.posted')`,
      [[...ids, ...(await p.db.query<{ id: string }>('SELECT ledger_transaction_id AS id FROM transfers WHERE id = ANY($1::uuid[])', [ids])).map((r) => r.id)]]);
    expect(journal.filter((j) => j.action === 'transfer.posted')).toHaveLength(ids.length);
    expect(journal.filter((j) => j.action === 'ledger_transaction.posted')).toHaveLength(ids.length);
    expect((await p.queries.verifyJournal()).ok).toBe(true);

    // One event per status change of the group's statements (the claim to executing writes
    // none), in recording order, each with the transfer as it was settled.
    const events = await p.db.query<{ type: string; entity_id: string; previous: string; status: string; credit: string; seq: string }>(
      `SELECT e.type, e.entity_id, e.payload->>'previousStatus' AS previous, e.payload#>>'{transfer,status}' AS status,
              e.payload#>>'{transfer,provider,subaccountCredit}' AS credit, t.seq::text
         FROM outbox_events e JOIN transfers t ON t.id = e.entity_id WHERE e.entity_id = ANY($1::uuid[]) ORDER BY e.seq`, [ids]);
    expect(events.map((e) => [e.type, e.previous, e.status, e.credit])).toEqual(ids.map(() => ['transfer.posted', 'executing', 'posted', '1.250']));
    const bySettlement = new Map<string, string[]>();
    for (const e of events) {
      const [{ xmin }] = await p.db.query<{ xmin: string }>('SELECT xmin::text FROM transfers WHERE id = $1', [e.entity_id]);
      bySettlement.set(xmin, [...(bySettlement.get(xmin) ?? []), e.seq]);
    }
    for (const seqs of bySettlement.values()) expect(seqs).toEqual([...seqs].sort((a, b) => Number(a) - Number(b)));
    expect(bySettlement.size).toBeLessThan(ids.length);
  });
  it('answers each settled call of a group with the next pending transfer of its sub-account, found after the commit', async () => {
    const execute = groupedExecution('groups-next');
    const rec = async (s: string) => (await p.record.execute({ providerAccount: p.providerAccount, subaccount: s, direction: 'add', amount: Money.parse('0.500'), actor })).transfer.id;
    const first: string[] = [];
    for (const s of p.tokens) first.push(await rec(s));
    // The first half of the sub-accounts have a second transfer waiting behind the first.
    const behind = new Map<string, string>();
    for (const s of p.tokens.slice(0, 3)) behind.set(s, await rec(s));

    const results = await Promise.all(first.map((id) => execute.execute(id)));
    const [{ txs }] = await p.db.query<{ txs: number }>('SELECT count(DISTINCT xmin::text)::int AS txs FROM transfers WHERE id = ANY($1::uuid[])', [first]);
    expect(txs).toBeLessThan(first.length); // settled in groups
    results.forEach((r, i) => {
      if (r.kind !== 'done') throw new Error(`transfer ${first[i]}: ${r.kind}`);
      expect(r.transfer.status).toBe('posted');
      const waiting = behind.get(p.tokens[i]);
      expect(r.next).toEqual(waiting ? [{ transferId: waiting, attempt: 0 }] : []);
    });
  });
});
